package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHealth(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	grace := 5 * time.Minute
	type step struct {
		at      time.Duration // since t0
		p       progress
		healthy bool
		why     string
	}
	tests := []struct {
		name  string
		fatal error
		steps []step
	}{
		{"an empty spool is healthy", nil, []step{
			{0, progress{}, true, ""},
			{time.Hour, progress{}, true, ""},
		}},
		{"a backlog that moves is healthy", nil, []step{
			{0, progress{Queued: 10, Delivered: 1}, true, ""},
			{4 * time.Minute, progress{Queued: 10, Delivered: 2}, true, ""},
			{8 * time.Minute, progress{Queued: 10, Delivered: 3}, true, ""},
		}},
		{"a backlog that does not move for the grace period is unhealthy", nil, []step{
			{0, progress{Queued: 10, Delivered: 1}, true, ""},
			{4 * time.Minute, progress{Queued: 12, Delivered: 1}, true, ""},
			{6 * time.Minute, progress{Queued: 15, Delivered: 1}, false, "nothing delivered"},
			{7 * time.Minute, progress{Queued: 0, Delivered: 20}, true, ""},
		}},
		{"elasticsearch unreachable within the grace period is healthy", nil, []step{
			{0, progress{Queued: 0, UnreachableSince: t0}, true, ""},
			{4 * time.Minute, progress{Queued: 0, UnreachableSince: t0}, true, ""},
		}},
		{"elasticsearch unreachable past the grace period is unhealthy", nil, []step{
			{6 * time.Minute, progress{Queued: 0, UnreachableSince: t0, LastError: "connection refused"}, false, "connection refused"},
		}},
		{"a failed spool is unhealthy", errors.New("no space left on device"), []step{
			{0, progress{}, false, "no space left"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := t0
			var cur progress
			h := newHealth(grace, func() time.Time { return now }, func() progress { return cur })
			if tc.fatal != nil {
				h.setSpoolErr(tc.fatal)
			}
			for i, s := range tc.steps {
				now, cur = t0.Add(s.at), s.p
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
				healthy := rec.Code == http.StatusOK
				if healthy != s.healthy || !strings.Contains(rec.Body.String(), s.why) {
					t.Fatalf("step %d: code %d body %q; want healthy=%v containing %q", i, rec.Code, rec.Body.String(), s.healthy, s.why)
				}
			}
		})
	}
}
