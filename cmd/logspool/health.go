package main

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
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
	spoolErr  error // the last spool write failed (cleared by a good one)
	delivered int64
	movedAt   time.Time // last time Delivered changed or the backlog was empty
}

func newHealth(grace time.Duration, now func() time.Time, sample func() progress) *health {
	return &health{grace: grace, now: now, sample: sample, movedAt: now()}
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
	p := h.sample()
	now := h.now()
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
