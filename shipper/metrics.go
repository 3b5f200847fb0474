package shipper

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the shipper's Prometheus metrics. A nil *Metrics is a no-op.
type Metrics struct {
	items       *prometheus.CounterVec
	delivered   prometheus.Counter
	duplicate   prometheus.Counter
	retried     prometheus.Counter
	deadLetter  prometheus.Counter
	requests    *prometheus.CounterVec
	requestsOK  prometheus.Counter
	requestsErr prometheus.Counter
	duration    prometheus.Histogram
	bytes       prometheus.Counter
	retries     prometheus.Counter
	up          prometheus.Gauge
	lastSuccess prometheus.Gauge
	inflight    prometheus.Gauge
}

// NewMetrics creates the shipper's metrics and registers them with reg
// (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logspool_shipper_items_total",
			Help: "Bulk items by outcome: delivered (created), duplicate (409, already there), retried (429/5xx, sent again), dead_letter (refused for good).",
		}, []string{"outcome"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logspool_shipper_bulk_requests_total",
			Help: "_bulk requests by result: ok (a valid item-level response) or error (transport error, error status, bad body).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "logspool_shipper_bulk_duration_seconds",
			Help:    "Duration of _bulk requests, including failed ones.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logspool_shipper_bulk_bytes_total",
			Help: "Bytes of _bulk request bodies sent, as on the wire (compressed when compression is on).",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logspool_shipper_retries_total",
			Help: "Retry rounds: a whole request sent again, or the retryable items of a response sent again.",
		}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logspool_shipper_es_up",
			Help: "1 when the last request to Elasticsearch succeeded, else 0.",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logspool_shipper_last_success_timestamp_seconds",
			Help: "Unix time of the last successful request to Elasticsearch.",
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logspool_shipper_inflight_requests",
			Help: "Bulk requests being sent or waiting to be retried.",
		}),
	}
	m.delivered = m.items.WithLabelValues("delivered")
	m.duplicate = m.items.WithLabelValues("duplicate")
	m.retried = m.items.WithLabelValues("retried")
	m.deadLetter = m.items.WithLabelValues("dead_letter")
	m.requestsOK = m.requests.WithLabelValues("ok")
	m.requestsErr = m.requests.WithLabelValues("error")
	if reg != nil {
		reg.MustRegister(m.items, m.requests, m.duration, m.bytes, m.retries, m.up, m.lastSuccess, m.inflight)
	}
	return m
}

func (m *Metrics) itemsDone(delivered, duplicate, retried, dead int) {
	if m == nil {
		return
	}
	m.delivered.Add(float64(delivered))
	m.duplicate.Add(float64(duplicate))
	m.retried.Add(float64(retried))
	m.deadLetter.Add(float64(dead))
}

func (m *Metrics) request(ok bool, d time.Duration, bodyBytes int) {
	if m == nil {
		return
	}
	if ok {
		m.requestsOK.Inc()
	} else {
		m.requestsErr.Inc()
	}
	m.duration.Observe(d.Seconds())
	m.bytes.Add(float64(bodyBytes))
}

func (m *Metrics) retry() {
	if m == nil {
		return
	}
	m.retries.Inc()
}

func (m *Metrics) setUp(up bool, now time.Time) {
	if m == nil {
		return
	}
	if up {
		m.up.Set(1)
		m.lastSuccess.Set(float64(now.UnixNano()) / 1e9)
	} else {
		m.up.Set(0)
	}
}

func (m *Metrics) inflightAdd(d int) {
	if m == nil {
		return
	}
	m.inflight.Add(float64(d))
}
