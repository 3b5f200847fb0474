package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
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

func TestHealthReportsAStalledInput(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := newHealth(time.Minute, func() time.Time { return now }, func() progress { return progress{} })
	var stalled bool
	h.watchInput("containers", func(time.Time) (bool, string) { return stalled, "reader of /x has not moved" })
	h.watchInput("journal", func(time.Time) (bool, string) { return false, "" })
	serve := func() (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := serve(); code != http.StatusOK {
		t.Fatalf("healthy inputs: %d %q", code, body)
	}
	stalled = true
	code, body := serve()
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "input containers stalled: reader of /x") {
		t.Fatalf("a stalled input: %d %q, want 503 naming it", code, body)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(h)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	if got["containers"] != 1 || got["journal"] != 0 {
		t.Errorf("logspool_input_stalled = %v, want containers 1, journal 0", got)
	}
}

func TestStatusSaysWhenAnInputIsStalledOrFailing(t *testing.T) {
	text := `# TYPE logspool_input_stalled gauge
logspool_input_stalled{input="containers"} 1
logspool_input_stalled{input="journal"} 0
# TYPE logspool_input_errors_total counter
logspool_input_errors_total{input="containers",reason="eacces"} 2
logspool_input_errors_total{input="containers",reason="eloop"} 1
`
	out := statusOf(t, text, false, "unhealthy: input containers stalled: x")
	for _, want := range []string{"STALLED", "errors eacces=2 eloop=1"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "STALLED") != 1 {
		t.Errorf("STALLED shown for more than the stalled input:\n%s", out)
	}
}

func TestStatusSaysWhenTheJournalIsPolled(t *testing.T) {
	for _, tc := range []struct {
		gauge string
		want  string
	}{
		{"0", ""},
		{"-1", ", POLLING: inotify unavailable"},
		{"2", ", POLLING 2 dirs: no inotify"},
	} {
		text := "# TYPE logspool_journal_unwatched_dirs gauge\nlogspool_journal_unwatched_dirs " + tc.gauge + "\n"
		line := ""
		for _, l := range strings.Split(statusOf(t, text, true, ""), "\n") {
			if strings.HasPrefix(l, "journal") {
				line = l
			}
		}
		if got := strings.Contains(line, "POLLING"); got != (tc.want != "") || tc.want != "" && !strings.HasSuffix(line, tc.want) {
			t.Errorf("unwatched_dirs %s: journal line %q, want it to end in %q", tc.gauge, line, tc.want)
		}
	}
}

// statusOf is what `logspool status` prints for the metrics in text
// (Prometheus text format).
func statusOf(t *testing.T, text string, healthy bool, why string) string {
	t.Helper()
	tp := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := tp.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := printStatus(&b, fams, healthy, why); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
