package tailer

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/logspool/logspool/internal/inputerr"
)

// Reasons of logspool_input_lost_bytes_total used by the tailer.
const (
	LostLineCut       = "line_cut"       // tail of an over-long physical line, skipped
	LostRotatedUnread = "rotated_unread" // a rotated file vanished before it was read to its end
	LostTruncated     = "truncated"      // bytes past the read offset when a file was truncated
	LostDeletedUnread = "deleted_unread" // a deleted file vanished before it was read to its end
)

// Metrics are the tailer's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	filesWatched prometheus.Gauge
	filesParked  prometheus.Gauge
	filesWaiting prometheus.Gauge
	unwatched    prometheus.Gauge
	bytes        prometheus.Counter
	lines        prometheus.Counter
	lag          *prometheus.GaugeVec
	rotations    *prometheus.CounterVec
	lost         *prometheus.CounterVec
	errors       *prometheus.CounterVec

	// onLost, when set (tests), sees every addition to lost.
	onLost func(reason string, n int64)
}

// InputName is the input label of the tailer's series in
// logspool_input_errors_total.
const InputName = "containers"

// NewInputErrors returns logspool_input_errors_total{input,reason}, shared by
// every input: each must create it with exactly these options (Prometheus
// refuses one name with two help texts).
func NewInputErrors() *prometheus.CounterVec { return inputerr.NewCounter() }

// NewMetrics creates the tailer's metrics and registers them with reg (nil:
// not registered). A collector that reg already holds under the same name and
// labels (logspool_input_lost_bytes_total is shared with other inputs) is
// reused instead of failing.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		filesWatched: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logspool_tailer_files_watched",
			Help: "Files the tailer currently holds open.",
		}),
		filesParked: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logspool_tailer_files_parked",
			Help: "Matched files read to their end and closed (inactive for --close-inactive, or others waited for a descriptor); opened again when written to.",
		}),
		filesWaiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logspool_tailer_files_waiting",
			Help: "Files with bytes to read that wait for a descriptor slot (--max-open-files, or descriptors ran out).",
		}),
		unwatched: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logspool_tailer_unwatched_dirs",
			Help: "Directories the tailer polls because they have no filesystem notifications (inotify watch limit, errors); -1: notifications unavailable.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logspool_tailer_bytes_total",
			Help: "Bytes of complete lines read from container log files.",
		}),
		lines: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logspool_tailer_lines_total",
			Help: "Complete physical lines read from container log files.",
		}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "logspool_tailer_lag_bytes",
			Help: "File size minus the committed offset, per open file.",
		}, []string{"path"}),
		rotations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logspool_tailer_rotations_total",
			Help: "File rotations seen, by kind (rename or truncate).",
		}, []string{"kind"}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logspool_input_lost_bytes_total",
			Help: "Input bytes that could not be read or were cut, by reason.",
		}, []string{"reason"}),
		errors: NewInputErrors(),
	}
	if reg != nil {
		m.filesWatched = register(reg, m.filesWatched)
		m.filesParked = register(reg, m.filesParked)
		m.filesWaiting = register(reg, m.filesWaiting)
		m.unwatched = register(reg, m.unwatched)
		m.bytes = register(reg, m.bytes)
		m.lines = register(reg, m.lines)
		m.lag = register(reg, m.lag)
		m.rotations = register(reg, m.rotations)
		m.lost = register(reg, m.lost)
		m.errors = register(reg, m.errors)
	}
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

// LineCut returns the counter of logspool_input_lost_bytes_total{reason="line_cut"}
// (for parser.Config), or nil for a nil *Metrics.
func (m *Metrics) LineCut() prometheus.Counter {
	if m == nil {
		return nil
	}
	return m.lost.WithLabelValues(LostLineCut)
}

func (m *Metrics) setFiles(n int) {
	if m != nil {
		m.filesWatched.Set(float64(n))
	}
}

func (m *Metrics) setParked(n int) {
	if m != nil {
		m.filesParked.Set(float64(n))
	}
}

func (m *Metrics) setWaiting(n int) {
	if m != nil {
		m.filesWaiting.Set(float64(n))
	}
}

func (m *Metrics) setUnwatched(n int) {
	if m != nil {
		m.unwatched.Set(float64(n))
	}
}

func (m *Metrics) read(bytes int64, lines int) {
	if m != nil {
		m.bytes.Add(float64(bytes))
		m.lines.Add(float64(lines))
	}
}

func (m *Metrics) setLag(path string, lag int64) {
	if m != nil {
		m.lag.WithLabelValues(labelPath(path)).Set(float64(lag))
	}
}

func (m *Metrics) deleteLag(path string) {
	if m != nil {
		m.lag.DeleteLabelValues(labelPath(path))
	}
}

// labelPath is path as a label value, which must be UTF-8 (Prometheus
// panics otherwise): a file name is bytes, so each byte that is not part of
// a valid UTF-8 sequence is written \xNN.
func labelPath(path string) string {
	if utf8.ValidString(path) {
		return path
	}
	var b strings.Builder
	for i := 0; i < len(path); {
		r, n := utf8.DecodeRuneInString(path[i:])
		if r == utf8.RuneError && n == 1 {
			fmt.Fprintf(&b, `\x%02x`, path[i])
		} else {
			b.WriteString(path[i : i+n])
		}
		i += n
	}
	return b.String()
}

func (m *Metrics) rotation(kind string) {
	if m != nil {
		m.rotations.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) lostBytes(reason string, n int64) {
	if m != nil && n > 0 {
		if m.onLost != nil {
			m.onLost(reason, n)
		}
		m.lost.WithLabelValues(reason).Add(float64(n))
	}
}

func (m *Metrics) inputError(reason string) {
	if m != nil {
		m.errors.WithLabelValues(InputName, reason).Inc()
	}
}
