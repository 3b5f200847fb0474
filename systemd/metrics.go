package systemd

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/logspool/logspool/internal/inputerr"
)

// Error reasons counted by logspool_journal_errors_total.
const (
	reasonOpen       = "open"          // a file could not be opened (refused, unreadable)
	reasonScan       = "scan"          // a directory could not be listed
	reasonRefresh    = "refresh"       // a file could not be refreshed
	reasonRead       = "read"          // an entry could not be read for an I/O error (retried)
	reasonEntry      = "corrupt_entry" // an entry could not be read and was skipped
	reasonAppend     = "append"        // the sink refused a batch (retried)
	reasonCheckpoint = "checkpoint"    // the stored checkpoint could not be decoded
)

// Metrics are the journal input's Prometheus metrics. A nil *Metrics is a
// valid no-op.
type Metrics struct {
	files   prometheus.Gauge
	entries prometheus.Counter
	bytes   prometheus.Counter
	corrupt prometheus.Counter
	errors  *prometheus.CounterVec
	lag     prometheus.Gauge
	// inputErrors is logspool_input_errors_total{input,reason}, shared with
	// the container input (package inputerr).
	inputErrors *prometheus.CounterVec
	panics      prometheus.Counter
	badNames    prometheus.Counter
	unwatched   prometheus.Gauge
}

// NewMetrics creates the metrics and registers them with reg (when not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		files: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logspool_journal_files",
			Help: "Journal files currently open.",
		}),
		entries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logspool_journal_entries_total",
			Help: "Journal entries stored in the spool as records.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logspool_journal_bytes_total",
			Help: "Bytes of documents stored in the spool from the journal.",
		}),
		corrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logspool_journal_corrupt_files_total",
			Help: "Journal files found damaged (read up to the damage).",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logspool_journal_errors_total",
			Help: "Journal input errors by reason.",
		}, []string{"reason"}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logspool_journal_lag_seconds",
			Help: "Now minus the realtime of the last journal entry stored in the spool.",
		}),
		inputErrors: inputerr.NewCounter(),
		badNames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logspool_journal_invalid_field_names_total",
			Help: "Journal fields whose name systemd would refuse (damage), shipped as base64 in journald.invalid_fields.",
		}),
		unwatched: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logspool_journal_unwatched_dirs",
			Help: "Journal directories without inotify (watch limit, network file system, errors), polled every poll interval; -1: inotify unavailable, the whole journal is polled.",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logspool_journal_panics_total",
			Help: "Panics of the journal input recovered; the input restarted from its last stored position.",
		}),
	}
	for _, r := range []string{reasonOpen, reasonScan, reasonRefresh, reasonRead, reasonEntry, reasonAppend, reasonCheckpoint} {
		m.errors.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.files, m.entries, m.bytes, m.corrupt, m.errors, m.lag, m.panics, m.badNames, m.unwatched)
		m.inputErrors = inputerr.Register(reg, m.inputErrors)
	}
	return m
}

// inputErr counts one failure of a journal file or directory by reason.
func (m *Metrics) inputErr(reason string) {
	if m != nil {
		m.inputErrors.WithLabelValues("journal", reason).Inc()
	}
}

func (m *Metrics) invalidNames(n int) {
	if m != nil {
		m.badNames.Add(float64(n))
	}
}

func (m *Metrics) panicked() {
	if m != nil {
		m.panics.Inc()
	}
}

func (m *Metrics) setUnwatched(n int) {
	if m != nil {
		m.unwatched.Set(float64(n))
	}
}

func (m *Metrics) setFiles(n int) {
	if m != nil {
		m.files.Set(float64(n))
	}
}

func (m *Metrics) stored(entries, bytes int, lagSeconds float64) {
	if m != nil {
		m.entries.Add(float64(entries))
		m.bytes.Add(float64(bytes))
		m.lag.Set(lagSeconds)
	}
}

func (m *Metrics) corruptFile() {
	if m != nil {
		m.corrupt.Inc()
	}
}

func (m *Metrics) err(reason string) {
	if m != nil {
		m.errors.WithLabelValues(reason).Inc()
	}
}
