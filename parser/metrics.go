package parser

import "github.com/prometheus/client_golang/prometheus"

// Malformed-line reasons: the values of log.flags and of the reason label of
// logspool_parser_malformed_lines_total.
const (
	ReasonInvalidJSON      = "invalid_json"
	ReasonMalformedCRI     = "malformed_cri"
	ReasonInvalidTimestamp = "invalid_timestamp"
	ReasonInvalidUTF8      = "invalid_utf8"
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
}

type reason uint8

const (
	reasonInvalidJSON reason = iota
	reasonMalformedCRI
	reasonInvalidTimestamp
	reasonInvalidUTF8
	numReasons
)

var reasonNames = [numReasons]string{ReasonInvalidJSON, ReasonMalformedCRI, ReasonInvalidTimestamp, ReasonInvalidUTF8}

// NewMetrics creates the parser metrics and registers them with reg (nil
// means do not register):
//
//	logspool_parser_lines_total{format="docker|cri"}   physical lines decoded
//	logspool_parser_records_total                      records emitted
//	logspool_parser_malformed_lines_total{reason}      lines shipped raw (invalid_json, malformed_cri,
//	                                                   invalid_timestamp) and messages with invalid_utf8
//	logspool_parser_truncated_messages_total           messages cut at MaxLineBytes or by the tailer
//	logspool_parser_partial_lines_total                partial physical lines buffered for a join
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
		Help: "Lines shipped with their raw text because they could not be parsed, and messages with invalid UTF-8, by reason.",
	}, []string{"reason"})
	truncated := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "logspool_parser_truncated_messages_total",
		Help: "Messages cut at the maximum message size or shipped from a line the tailer cut.",
	})
	partial := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "logspool_parser_partial_lines_total",
		Help: "Partial physical lines (CRI P, docker lines without a final newline) buffered for joining.",
	})
	m := &Metrics{
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
		reg.MustRegister(lines, records, malformed, truncated, partial)
	}
	return m
}

func (m *Metrics) line(f format) {
	if m == nil {
		return
	}
	if f == formatDocker {
		m.linesDocker.Inc()
	} else {
		m.linesCRI.Inc()
	}
}

func (m *Metrics) record() {
	if m != nil {
		m.records.Inc()
	}
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
