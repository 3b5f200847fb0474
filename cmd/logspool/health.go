package main

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// progress is what /healthz samples: how much is queued, how much has been
// delivered so far, and (when shipping to Elasticsearch) since when it has
// been unreachable.
type progress struct {
	Queued           int64     // records waiting in the spool
	Delivered        int64     // records acked so far (monotonic)
	UnreachableSince time.Time // zero while Elasticsearch answers (or no Elasticsearch)
	LastError        string
}

// health decides /healthz: it fails when the spool is unusable, when
// Elasticsearch has been unreachable for longer than grace, or when a backlog
// exists and nothing has been delivered for that long. Never a process that
// looks healthy while shipping nothing.
type health struct {
	grace  time.Duration
	now    func() time.Time
	sample func() progress

	mu        sync.Mutex
	inputs    []liveInput
	spoolErr  error // the last spool write failed (cleared by a good one)
	delivered int64
	movedAt   time.Time // last time Delivered changed or the backlog was empty
}

func newHealth(grace time.Duration, now func() time.Time, sample func() progress) *health {
	return &health{grace: grace, now: now, sample: sample, movedAt: now()}
}

// liveInput is an input whose liveness /healthz, `status` and the
// logspool_input_stalled gauge report: each input exports
// Stalled(now) (stalled bool, why string).
type liveInput struct {
	name    string
	stalled func(now time.Time) (bool, string)
}

// watchInput adds an input to the liveness checks: one line per input.
func (h *health) watchInput(name string, stalled func(now time.Time) (bool, string)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.inputs = append(h.inputs, liveInput{name, stalled})
}

// stalledDesc describes logspool_input_stalled, which health collects.
var stalledDesc = prometheus.NewDesc("logspool_input_stalled",
	"1 while an input is stalled (its scan loop or a reader makes no progress; see /healthz for why), else 0.",
	[]string{"input"}, nil)

// Describe and Collect make health the collector of logspool_input_stalled.
func (h *health) Describe(ch chan<- *prometheus.Desc) { ch <- stalledDesc }

func (h *health) Collect(ch chan<- prometheus.Metric) {
	h.mu.Lock()
	inputs := append([]liveInput(nil), h.inputs...)
	h.mu.Unlock()
	now := h.now()
	for _, in := range inputs {
		v := 0.0
		if st, _ := in.stalled(now); st {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(stalledDesc, prometheus.GaugeValue, v, in.name)
	}
}

// setSample sets the progress sampler once the agent runs; until then
// /healthz says it is starting (or why the spool refuses).
func (h *health) setSample(sample func() progress) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sample = sample
	h.movedAt = h.now()
}

// setSpoolErr records the outcome of the last spool write: an error (a full
// disk, an I/O error) makes the agent unhealthy until a write succeeds again.
func (h *health) setSpoolErr(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.spoolErr = err
}

// check returns nil when healthy, else why not.
func (h *health) check() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.spoolErr != nil {
		return fmt.Errorf("spool unusable: %w", h.spoolErr)
	}
	if h.sample == nil {
		return errors.New("starting")
	}
	now := h.now()
	for _, in := range h.inputs {
		if st, why := in.stalled(now); st {
			return fmt.Errorf("input %s stalled: %s", in.name, why)
		}
	}
	p := h.sample()
	if p.Delivered != h.delivered || p.Queued == 0 {
		h.delivered = p.Delivered
		h.movedAt = now
	}
	if !p.UnreachableSince.IsZero() && now.Sub(p.UnreachableSince) > h.grace {
		return fmt.Errorf("elasticsearch unreachable for %s: %s", now.Sub(p.UnreachableSince).Round(time.Second), p.LastError)
	}
	if p.Queued > 0 && now.Sub(h.movedAt) > h.grace {
		return fmt.Errorf("%d records queued and nothing delivered for %s", p.Queued, now.Sub(h.movedAt).Round(time.Second))
	}
	return nil
}

func (h *health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := h.check(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "unhealthy:", err)
		return
	}
	fmt.Fprintln(w, "ok")
}
