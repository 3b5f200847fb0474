package spool

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the spool's Prometheus metrics. A nil *Metrics is a no-op.
type Metrics struct {
	bytes              prometheus.Gauge
	records            prometheus.Gauge
	maxBytes           prometheus.Gauge
	leasedRecords      prometheus.Gauge
	deadLetters        prometheus.Gauge
	diskBytes          prometheus.Gauge
	appendedRecords    prometheus.Counter
	appendedBytes      prometheus.Counter
	ackedRecords       prometheus.Counter
	deadLetteredRecord prometheus.Counter
	blocked            prometheus.Gauge
	blockedSeconds     prometheus.Counter
	gcRuns             prometheus.Counter
	diskFull           prometheus.Gauge
	compactions        prometheus.Counter
	compactionFailures prometheus.Counter
}

// NewMetrics creates the spool metrics and registers them with reg (when reg
// is not nil). It panics if a metric is already registered, like
// prometheus.MustRegister.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m := &Metrics{
		bytes:              g("logspool_spool_bytes", "Bytes of queued records (record size, uncompressed)."),
		records:            g("logspool_spool_records", "Queued records, leased ones included."),
		maxBytes:           g("logspool_spool_max_bytes", "Cap on logspool_spool_disk_bytes (--spool-max-bytes); appends block at or above it."),
		leasedRecords:      g("logspool_spool_leased_records", "Records currently leased to the shipper."),
		deadLetters:        g("logspool_spool_dead_letters", "Records in the dead-letter area."),
		diskBytes:          g("logspool_spool_disk_bytes", "Disk space (allocated blocks) of the spool directory: data files and index."),
		appendedRecords:    c("logspool_spool_appended_records_total", "Records appended to the spool."),
		appendedBytes:      c("logspool_spool_appended_bytes_total", "Bytes (record size) appended to the spool."),
		ackedRecords:       c("logspool_spool_acked_records_total", "Records deleted from the queue by a finished lease (delivered or dead-lettered)."),
		deadLetteredRecord: c("logspool_spool_dead_lettered_records_total", "Records moved to the dead-letter area."),
		blocked:            g("logspool_spool_blocked", "1 while an append waits for space, else 0."),
		blockedSeconds:     c("logspool_spool_blocked_seconds_total", "Time appends spent waiting for space."),
		gcRuns:             c("logspool_spool_gc_runs_total", "Value-log garbage collection runs."),
		diskFull:           g("logspool_spool_disk_full", "1 while appends are refused because the spool's file system is below its free-space reserve, else 0."),
		compactions:        c("logspool_spool_compactions_total", "Compactions of the spool's index (Badger Flatten runs, by the spool's own compactor or a Compact)."),
		compactionFailures: c("logspool_spool_compaction_failures_total", "Compactions of the spool's index that failed (retried; appends stop once the index's level 0 is full)."),
	}
	if reg != nil {
		reg.MustRegister(m.bytes, m.records, m.maxBytes, m.leasedRecords, m.deadLetters, m.diskBytes,
			m.appendedRecords, m.appendedBytes, m.ackedRecords, m.deadLetteredRecord,
			m.blocked, m.blockedSeconds, m.gcRuns, m.diskFull, m.compactions, m.compactionFailures)
	}
	return m
}

// gauges sets the level gauges from st.
func (m *Metrics) gauges(st Stats) {
	if m == nil {
		return
	}
	m.bytes.Set(float64(st.QueuedBytes))
	m.records.Set(float64(st.QueuedRecords))
	m.maxBytes.Set(float64(st.MaxBytes))
	m.leasedRecords.Set(float64(st.LeasedRecords))
	m.deadLetters.Set(float64(st.DeadLetters))
	if st.Blocked {
		m.blocked.Set(1)
	} else {
		m.blocked.Set(0)
	}
}

func (m *Metrics) appended(records, bytes int) {
	if m == nil {
		return
	}
	m.appendedRecords.Add(float64(records))
	m.appendedBytes.Add(float64(bytes))
}

func (m *Metrics) acked(records, dead int) {
	if m == nil {
		return
	}
	m.ackedRecords.Add(float64(records))
	m.deadLetteredRecord.Add(float64(dead))
}

func (m *Metrics) blockedFor(d time.Duration) {
	if m == nil {
		return
	}
	m.blockedSeconds.Add(d.Seconds())
}

func (m *Metrics) gcRan() {
	if m == nil {
		return
	}
	m.gcRuns.Inc()
}

func (m *Metrics) compacted() {
	if m == nil {
		return
	}
	m.compactions.Inc()
}

func (m *Metrics) compactionFailed() {
	if m == nil {
		return
	}
	m.compactionFailures.Inc()
}

func (m *Metrics) disk(n int64) {
	if m == nil {
		return
	}
	m.diskBytes.Set(float64(n))
}

func (m *Metrics) setDiskFull(full bool) {
	if m == nil {
		return
	}
	v := 0.0
	if full {
		v = 1
	}
	m.diskFull.Set(v)
}
