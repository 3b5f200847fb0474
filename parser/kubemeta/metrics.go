package kubemeta

import "github.com/prometheus/client_golang/prometheus"

// Lookup results: the values of the result label of
// logspool_k8s_metadata_lookups_total.
const (
	LookupFound   = "found"   // the pod was known
	LookupWaited  = "waited"  // the pod arrived while the lookup waited
	LookupMissing = "missing" // not known in time: the file's records are flagged until it is
)

// Metrics are the provider's Prometheus metrics. A nil *Metrics is valid and
// records nothing.
type Metrics struct {
	lookups   *prometheus.CounterVec
	apiErrors *prometheus.CounterVec
	apiUp     prometheus.Gauge
	pods      prometheus.Gauge
	updates   prometheus.Counter
}

// NewMetrics creates the provider's metrics and registers them with reg (nil
// means do not register):
//
//	logspool_k8s_metadata_lookups_total{result="found|waited|missing"}  one per file reader
//	logspool_k8s_metadata_api_errors_total{resource}                  failed list and watch calls, broken watches
//	logspool_k8s_metadata_api_up                                      1 while every list/watch works
//	logspool_k8s_metadata_pods                                        pods cached (deleted ones in their grace period too)
//	logspool_k8s_metadata_updates_total                               new metadata snapshots of pods
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logspool_k8s_metadata_lookups_total",
			Help: "Kubernetes metadata lookups of container log files, by result: found, waited (the pod arrived while waiting), missing (shipped flagged k8s_metadata_missing until the pod is known).",
		}, []string{"result"}),
		apiErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logspool_k8s_metadata_api_errors_total",
			Help: "Failed list and watch calls to the Kubernetes API server and watches that broke, by resource.",
		}, []string{"resource"}),
		apiUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logspool_k8s_metadata_api_up",
			Help: "1 when the last list or watch call of every watched resource succeeded, else 0.",
		}),
		pods: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logspool_k8s_metadata_pods",
			Help: "Pods whose metadata is cached, including deleted ones in their grace period.",
		}),
		updates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logspool_k8s_metadata_updates_total",
			Help: "New Kubernetes metadata snapshots of pods (a pod seen, its labels or owners changed).",
		}),
	}
	for _, r := range []string{LookupFound, LookupWaited, LookupMissing} {
		m.lookups.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.lookups, m.apiErrors, m.apiUp, m.pods, m.updates)
	}
	return m
}

func (m *Metrics) lookup(result string) {
	if m != nil {
		m.lookups.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) apiError(resource string) {
	if m != nil {
		m.apiErrors.WithLabelValues(resource).Inc()
	}
}

func (m *Metrics) setUp(up bool) {
	if m != nil {
		v := 0.0
		if up {
			v = 1
		}
		m.apiUp.Set(v)
	}
}

func (m *Metrics) setPods(n int) {
	if m != nil {
		m.pods.Set(float64(n))
	}
}

func (m *Metrics) update() {
	if m != nil {
		m.updates.Inc()
	}
}
