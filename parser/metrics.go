package parser

import "github.com/prometheus/client_golang/prometheus"

// Malformed-line reasons: the values of log.flags and of the reason label of
// logspool_parser_malformed_lines_total.
const (
	ReasonInvalidJSON      = "invalid_json"
	ReasonMalformedCRI     = "malformed_cri"
	ReasonInvalidTimestamp = "invalid_timestamp"
	ReasonInvalidUTF8      = "invalid_utf8"
	// ReasonTimestampRange: a valid timestamp outside @timestamp's range
	// (date_nanos: 1970 to 2262); the line is parsed, @timestamp is the
	// reading time and log.original_time the runtime's text.
	ReasonTimestampRange = "timestamp_out_of_range"
)

// Other log.flags values.
const (
	FlagTruncated = "truncated"
	FlagPartial   = "partial"
)

// Format names: the values of the format label of logspool_parser_lines_total.
const (
	FormatDocker = "docker"
	FormatCRI    = "cri"
)

// Metrics are the parser's Prometheus metrics, shared by all decoders. A nil
// *Metrics is valid and records nothing.
type Metrics struct {
	linesDocker prometheus.Counter
	linesCRI    prometheus.Counter
	records     prometheus.Counter
	malformed   [numReasons]prometheus.Counter
	truncated   prometheus.Counter
	partial     prometheus.Counter
	kubeMissing prometheus.Counter
}

type reason uint8

const (
	reasonInvalidJSON reason = iota
	reasonMalformedCRI
	reasonInvalidTimestamp
	reasonInvalidUTF8
	reasonTimestampRange
	numReasons
)

var reasonNames = [numReasons]string{ReasonInvalidJSON, ReasonMalformedCRI, ReasonInvalidTimestamp, ReasonInvalidUTF8, ReasonTimestampRange}

// NewMetrics creates the parser metrics and registers them with reg (nil
// means do not register):
//
//	logspool_parser_lines_total{format="docker|cri"}   physical lines decoded
//	logspool_parser_records_total                      records emitted
//	logspool_parser_malformed_lines_total{reason}      lines shipped raw (invalid_json, malformed_cri,
//	                                                   invalid_timestamp), messages with invalid_utf8,
//	                                                   and timestamp_out_of_range
//	logspool_parser_truncated_messages_total           messages cut at MaxLineBytes or by the tailer
//	logspool_parser_partial_lines_total                partial physical lines buffered for a join
//	logspool_parser_k8s_metadata_missing_total         records flagged k8s_metadata_missing
func NewMetrics(reg prometheus.Registerer) *Metrics {
	lines := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "logspool_parser_lines_total",
		Help: "Physical container log lines decoded, by format.",
	}, []string{"format"})
	records := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "logspool_parser_records_total",
		Help: "Records emitted by the parser.",
	})
	malformed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "logspool_parser_malformed_lines_total",
		Help: "Lines shipped with their raw text because they could not be parsed, messages with invalid UTF-8, and lines whose timestamp is outside @timestamp's range, by reason.",
	}, []string{"reason"})
	truncated := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "logspool_parser_truncated_messages_total",
		Help: "Messages cut at the maximum message size or shipped from a line the tailer cut.",
	})
	partial := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "logspool_parser_partial_lines_total",
		Help: "Partial physical lines (CRI P, docker lines without a final newline) buffered for joining.",
	})
	kubeMissing := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "logspool_parser_k8s_metadata_missing_total",
		Help: "Records shipped without Kubernetes API metadata (flagged k8s_metadata_missing): their pod was unknown.",
	})
	m := &Metrics{
		kubeMissing: kubeMissing,
		linesDocker: lines.WithLabelValues(FormatDocker),
		linesCRI:    lines.WithLabelValues(FormatCRI),
		records:     records,
		truncated:   truncated,
		partial:     partial,
	}
	for i, name := range reasonNames {
		m.malformed[i] = malformed.WithLabelValues(name)
	}
	if reg != nil {
		reg.MustRegister(lines, records, malformed, truncated, partial, kubeMissing)
	}
	return m
}

// counts are a Decoder's per-line counts. They are added to the shared
// Metrics in bulk (SyncMetrics): one atomic add per counter and batch instead
// of two per line, contended by every reader goroutine.
type counts struct {
	docker, cri, records, kubeMissing uint64
}

// syncEvery bounds how far a Decoder's counts lag behind between syncs.
const syncEvery = 4096

func (c *counts) line(f format) {
	if f == formatDocker {
		c.docker++
	} else {
		c.cri++
	}
}

func (c *counts) pending() uint64 { return c.docker + c.cri }

// SyncMetrics adds the counts of the lines decoded since the last sync to
// Config.Metrics. The tailer calls it after each batch it stores; it also
// runs every few thousand lines and on Flush.
func (d *Decoder) SyncMetrics() {
	c, m := &d.counts, d.cfg.Metrics
	if m != nil {
		if c.docker > 0 {
			m.linesDocker.Add(float64(c.docker))
		}
		if c.cri > 0 {
			m.linesCRI.Add(float64(c.cri))
		}
		if c.records > 0 {
			m.records.Add(float64(c.records))
		}
		if c.kubeMissing > 0 {
			m.kubeMissing.Add(float64(c.kubeMissing))
		}
	}
	*c = counts{}
}

func (m *Metrics) malformedLine(r reason) {
	if m != nil {
		m.malformed[r].Inc()
	}
}

func (m *Metrics) truncatedMessage() {
	if m != nil {
		m.truncated.Inc()
	}
}

func (m *Metrics) partialLine() {
	if m != nil {
		m.partial.Inc()
	}
}
