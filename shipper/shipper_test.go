package shipper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/logspool/logspool/spool/record"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newTestShipper builds a Shipper on src against url with a fake clock and
// small batches.
func newTestShipper(t *testing.T, url string, src Source, mod func(*Config)) (*Shipper, *fakeClock) {
	t.Helper()
	clk := &fakeClock{}
	cfg := Config{
		URLs:          []string{url},
		BatchBytes:    4 << 10,
		FlushInterval: 20 * time.Millisecond,
		Clock:         clk,
		Logger:        discardLogger(),
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg, src)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, clk
}

// mustDrain drains s with a generous timeout and fails on error.
func mustDrain(t *testing.T, s *Shipper) Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sum, err := s.Drain(ctx, nil)
	if err != nil {
		t.Fatalf("Drain: %v (summary %+v)", err, sum)
	}
	return sum
}

// assertAllAckedOnce checks that the source acknowledged every record
// exactly once and holds nothing.
func assertAllAckedOnce(t *testing.T, src *memSource, recs []record.Record) {
	t.Helper()
	got := src.ackedIDs()
	want := ids(recs)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("acked %d ids, want each of %d exactly once", len(got), len(want))
	}
	if q, l, _ := src.state(); q != 0 || l != 0 {
		t.Errorf("source still has %d queued and %d leased records", q, l)
	}
}

// assertStoredOnce checks that the cluster holds every record exactly once.
func assertStoredOnce(t *testing.T, f *fakeES, index string, recs []record.Record) {
	t.Helper()
	order := f.storedOrder()
	seen := map[string]int{}
	for _, id := range order {
		seen[id]++
	}
	for _, id := range ids(recs) {
		if seen[id] != 1 {
			t.Errorf("id %s stored %d times, want 1", id, seen[id])
		}
	}
	if n := f.count(index); n != len(recs) {
		t.Errorf("index %s holds %d documents, want %d", index, n, len(recs))
	}
}

// failFirst returns an item hook failing the given ids with status on their
// first attempt only.
func failFirst(status int, typ string, failIDs ...string) func(int, string) (int, string) {
	var mu = make(chan struct{}, 1)
	seen := map[string]bool{}
	want := map[string]bool{}
	for _, id := range failIDs {
		want[id] = true
	}
	return func(_ int, id string) (int, string) {
		mu <- struct{}{}
		defer func() { <-mu }()
		if want[id] && !seen[id] {
			seen[id] = true
			return status, typ
		}
		return 0, ""
	}
}

// failRequests returns a bulk hook answering the first n bulk requests
// with answer.
func failRequests(n int, answer func(w http.ResponseWriter)) func(int, *fakeBulk, http.ResponseWriter) bool {
	var count atomic.Int32
	return func(_ int, _ *fakeBulk, w http.ResponseWriter) bool {
		if int(count.Add(1)) > n {
			return false
		}
		answer(w)
		return true
	}
}

func statusAnswer(status int, retryAfter string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"type":"test_exception","reason":"status %d"},"status":%d}`, status, status)
	}
}

func TestDeliveryOutcomes(t *testing.T) {
	const index = DefaultIndex
	recs := makeRecords(40, "outcomes")
	tests := []struct {
		name  string
		setup func(f *fakeES)
		mod   func(*Config)
		check func(t *testing.T, f *fakeES, src *memSource, sum Summary, clk *fakeClock)
	}{
		{
			name: "every record is delivered and acknowledged once",
			check: func(t *testing.T, f *fakeES, src *memSource, sum Summary, _ *fakeClock) {
				if sum.Delivered != int64(len(recs)) || sum.Duplicates != 0 || sum.DeadLettered != 0 || sum.Retries != 0 {
					t.Errorf("summary %+v, want %d delivered and nothing else", sum, len(recs))
				}
			},
		},
		{
			name: "items answered 429 are sent again alone and then delivered",
			setup: func(f *fakeES) {
				f.setItemHook(failFirst(429, "es_rejected_execution_exception", recs[3].ID.String(), recs[4].ID.String(), recs[30].ID.String()))
			},
			check: func(t *testing.T, f *fakeES, src *memSource, sum Summary, clk *fakeClock) {
				if sum.Retries == 0 {
					t.Errorf("summary %+v: want retries", sum)
				}
				retried := 0
				for _, r := range f.requestLog() {
					if r.Items > 0 && r.Items <= 2 {
						retried += r.Items
					}
				}
				if retried != 3 {
					t.Errorf("%d items were sent in small retry requests, want exactly the 3 rejected ones", retried)
				}
				if len(clk.slept()) == 0 {
					t.Errorf("no backoff before the retry")
				}
			},
		},
		{
			name: "items answered 503 or es_rejected_execution_exception with 400 are retried",
			setup: func(f *fakeES) {
				a := failFirst(503, "unavailable_shards_exception", recs[1].ID.String())
				b := failFirst(400, "es_rejected_execution_exception", recs[2].ID.String())
				f.setItemHook(func(n int, id string) (int, string) {
					if s, typ := a(n, id); s != 0 {
						return s, typ
					}
					return b(n, id)
				})
			},
			check: func(t *testing.T, f *fakeES, src *memSource, sum Summary, _ *fakeClock) {
				if sum.DeadLettered != 0 || sum.Delivered != int64(len(recs)) {
					t.Errorf("summary %+v, want everything delivered", sum)
				}
			},
		},
		{
			name: "items refused with mapper_parsing_exception are dead-lettered with the error and the rest delivered",
			setup: func(f *fakeES) {
				bad := map[string]bool{recs[5].ID.String(): true, recs[17].ID.String(): true}
				f.setItemHook(func(_ int, id string) (int, string) {
					if bad[id] {
						return 400, "mapper_parsing_exception"
					}
					return 0, ""
				})
			},
			check: func(t *testing.T, f *fakeES, src *memSource, sum Summary, _ *fakeClock) {
				if sum.DeadLettered != 2 || sum.Delivered != int64(len(recs)-2) || sum.Retries != 0 {
					t.Errorf("summary %+v, want 2 dead letters, %d delivered, no retries", sum, len(recs)-2)
				}
				dead := src.deadLetters()
				if len(dead) != 2 {
					t.Fatalf("source got %d dead letters, want 2", len(dead))
				}
				for _, d := range dead {
					if !strings.Contains(d.Reason, "400") || !strings.Contains(d.Reason, "mapper_parsing_exception") || !strings.Contains(d.Reason, "caused by") {
						t.Errorf("dead letter reason %q lacks the status, the error type or its cause", d.Reason)
					}
					if d.Record.ID != recs[5].ID && d.Record.ID != recs[17].ID {
						t.Errorf("dead letter for unexpected record %s", d.Record.ID)
					}
					if d.Time.IsZero() {
						t.Errorf("dead letter without time")
					}
				}
			},
		},
		{
			name: "a whole-request 429 with Retry-After is retried no sooner than asked",
			setup: func(f *fakeES) {
				f.setBulkHook(failRequests(1, statusAnswer(429, "7")))
			},
			check: func(t *testing.T, f *fakeES, src *memSource, sum Summary, clk *fakeClock) {
				if !slices.ContainsFunc(clk.slept(), func(d time.Duration) bool { return d >= 7*time.Second }) {
					t.Errorf("sleeps %v: none honours Retry-After 7s", clk.slept())
				}
				if sum.Retries < 1 {
					t.Errorf("summary %+v: want a retry", sum)
				}
			},
		},
		{
			name:  "whole-request 500s are retried until delivered",
			setup: func(f *fakeES) { f.setBulkHook(failRequests(3, statusAnswer(500, ""))) },
		},
		{
			name:  "whole-request 503s are retried until delivered",
			setup: func(f *fakeES) { f.setBulkHook(failRequests(2, statusAnswer(503, ""))) },
		},
		{
			name:  "401 on bulk is retried, not dropped",
			setup: func(f *fakeES) { f.setBulkHook(failRequests(2, statusAnswer(401, ""))) },
		},
		{
			name: "a garbage body is retried",
			setup: func(f *fakeES) {
				f.setBulkHook(failRequests(2, func(w http.ResponseWriter) {
					w.Header().Set("Content-Type", "text/html")
					fmt.Fprint(w, "<html><body>502 Bad Gateway</body></html>")
				}))
			},
		},
		{
			name: "a truncated body after storing is retried and answered with duplicates",
			setup: func(f *fakeES) {
				var fired atomic.Bool
				f.setBulkHook(func(n int, b *fakeBulk, w http.ResponseWriter) bool {
					if fired.Swap(true) {
						return false
					}
					st, types := f.store(n, b, nil)
					body := bulkResponseBody(st, types)
					w.Write(body[:len(body)/2])
					return true
				})
			},
			check: func(t *testing.T, f *fakeES, src *memSource, sum Summary, _ *fakeClock) {
				if sum.Duplicates == 0 || sum.Delivered+sum.Duplicates < int64(len(recs)) {
					t.Errorf("summary %+v: want the re-sent first request answered with duplicates", sum)
				}
			},
		},
		{
			name: "a response whose items do not match the request is retried",
			setup: func(f *fakeES) {
				f.setBulkHook(failRequests(1, func(w http.ResponseWriter) {
					fmt.Fprint(w, `{"errors":false,"items":[{"create":{"status":201}}]}`)
				}))
			},
		},
		{
			name: "a connection reset after storing makes the re-send answer 409s, counted as delivered",
			setup: func(f *fakeES) {
				var fired atomic.Bool
				f.setBulkHook(func(n int, b *fakeBulk, w http.ResponseWriter) bool {
					if fired.Swap(true) {
						return false
					}
					f.store(n, b, nil)
					hijackAndReset(w)
					return true
				})
			},
			check: func(t *testing.T, f *fakeES, src *memSource, sum Summary, _ *fakeClock) {
				if sum.Duplicates == 0 {
					t.Errorf("summary %+v: want duplicates from the re-send", sum)
				}
				if sum.Delivered+sum.Duplicates != int64(len(recs)) {
					t.Errorf("summary %+v: delivered+duplicates != %d", sum, len(recs))
				}
			},
		},
		{
			name: "a 413 splits the request until the parts fit",
			setup: func(f *fakeES) {
				f.setBulkHook(func(n int, b *fakeBulk, w http.ResponseWriter) bool {
					if len(b.actions) > 4 {
						statusAnswer(413, "")(w)
						return true
					}
					return false
				})
			},
			check: func(t *testing.T, f *fakeES, src *memSource, sum Summary, _ *fakeClock) {
				if sum.DeadLettered != 0 {
					t.Errorf("summary %+v: nothing should be dead", sum)
				}
			},
		},
		{
			name: "a single record answered 413 is dead-lettered",
			setup: func(f *fakeES) {
				big := recs[9].ID.String()
				f.setBulkHook(func(n int, b *fakeBulk, w http.ResponseWriter) bool {
					if slices.ContainsFunc(b.actions, func(a fakeAction) bool { return a.ID == big }) {
						statusAnswer(413, "")(w)
						return true
					}
					return false
				})
			},
			check: func(t *testing.T, f *fakeES, src *memSource, sum Summary, _ *fakeClock) {
				dead := src.deadLetters()
				if len(dead) != 1 || dead[0].Record.ID != recs[9].ID || !strings.Contains(dead[0].Reason, "413") {
					t.Errorf("dead letters %+v, want only record 9 with a 413 reason", dead)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeES(t, "es8")
			if tc.setup != nil {
				tc.setup(f)
			}
			src := newMemSource(t, recs...)
			s, clk := newTestShipper(t, f.URL(), src, tc.mod)
			sum := mustDrain(t, s)
			assertAllAckedOnce(t, src, recs)
			dead := map[string]bool{}
			for _, d := range src.deadLetters() {
				dead[d.Record.ID.String()] = true
			}
			var live []record.Record
			for _, r := range recs {
				if !dead[r.ID.String()] {
					live = append(live, r)
				}
			}
			assertStoredOnce(t, f, index, live)
			if got := sum.Delivered + sum.Duplicates + sum.DeadLettered; got < int64(len(recs)) {
				t.Errorf("summary %+v accounts for %d records, want %d", sum, got, len(recs))
			}
			if tc.check != nil {
				tc.check(t, f, src, sum, clk)
			}
		})
	}
}

func hijackAndReset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("not a hijacker")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(interface{ SetLinger(int) error }); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}

func TestOutageThenRecoveryDrainsOldestFirst(t *testing.T) {
	recs := makeRecords(60, "outage")
	f := newFakeES(t, "es8")
	f.setBulkHook(failRequests(8, statusAnswer(503, "")))
	src := newMemSource(t, recs...)
	s, clk := newTestShipper(t, f.URL(), src, func(c *Config) { c.MaxInFlight = 1 })
	sum := mustDrain(t, s)
	assertAllAckedOnce(t, src, recs)
	assertStoredOnce(t, f, DefaultIndex, recs)
	if got := f.storedOrder(); !slices.Equal(got, ids(recs)) {
		t.Errorf("stored order differs from the record order")
	}
	if sum.Retries < 8 {
		t.Errorf("summary %+v: want at least 8 retries", sum)
	}
	// Backoff grows while the outage lasts (equal jitter: attempt n waits
	// between half and all of 2^(n-1) seconds, capped at 60s).
	sl := clk.slept()
	if len(sl) < 8 || sl[len(sl)-1] < 30*time.Second {
		t.Errorf("sleeps %v: want growing backoff", sl)
	}
}

func TestDeadLetterIndexGetsACopy(t *testing.T) {
	recs := makeRecords(10, "dlq")
	f := newFakeES(t, "es8")
	bad := recs[4].ID.String()
	// Record 4 is refused in the data stream; its copy in the dead-letter
	// index is accepted.
	f.setBulkHook(func(n int, b *fakeBulk, w http.ResponseWriter) bool {
		var st []int
		var types []string
		for _, a := range b.actions {
			if a.ID == bad && a.Index == DefaultIndex {
				st, types = append(st, 400), append(types, "mapper_parsing_exception")
				continue
			}
			s1, t1 := f.store(n, &fakeBulk{actions: []fakeAction{a}}, nil)
			st, types = append(st, s1...), append(types, t1...)
		}
		w.Write(bulkResponseBody(st, types))
		return true
	})
	src := newMemSource(t, recs...)
	s, clk := newTestShipper(t, f.URL(), src, func(c *Config) { c.DeadLetterIndex = "logspool-dead-letters"; c.NodeName = "node-1" })
	sum := mustDrain(t, s)
	if sum.DeadLettered != 1 || sum.Delivered != 9 {
		t.Errorf("summary %+v, want 1 dead letter and 9 delivered", sum)
	}
	if sl := clk.slept(); len(sl) != 0 {
		t.Errorf("backoff %v before sending the dead-letter copy; it needs none", sl)
	}
	assertAllAckedOnce(t, src, recs)
	f.mu.Lock()
	dl := f.docs["logspool-dead-letters"]
	f.mu.Unlock()
	if len(dl) != 1 {
		t.Fatalf("dead-letter index holds %d documents, want 1", len(dl))
	}
	var doc struct {
		Timestamp string `json:"@timestamp"`
		Message   string `json:"message"`
		Error     struct {
			Message string `json:"message"`
		} `json:"error"`
		Logspool struct {
			ID, Index, Node string
		} `json:"logspool"`
	}
	if err := json.Unmarshal(dl[bad], &doc); err != nil {
		t.Fatalf("dead-letter document %s: %v", dl[bad], err)
	}
	if doc.Message != string(recs[4].Doc) || !strings.Contains(doc.Error.Message, "mapper_parsing_exception") ||
		doc.Timestamp == "" || doc.Logspool.ID != bad || doc.Logspool.Index != DefaultIndex || doc.Logspool.Node != "node-1" {
		t.Errorf("dead-letter document %+v does not hold the original, the error, the time and the origin", doc)
	}
	if dead := src.deadLetters(); len(dead) != 1 || dead[0].Record.ID.String() != bad {
		t.Errorf("source dead letters %+v, want record 4", dead)
	}
}

func TestDailyIndexMode(t *testing.T) {
	day1 := time.Date(2026, 11, 24, 23, 59, 59, 0, time.UTC).UnixNano()
	day2 := time.Date(2026, 11, 25, 0, 0, 0, 1, time.UTC).UnixNano()
	recs := makeRecords(4, "daily")
	recs[0].Time, recs[1].Time, recs[2].Time, recs[3].Time = day1, day2, day1, day2
	f := newFakeES(t, "es8")
	src := newMemSource(t, recs...)
	s, _ := newTestShipper(t, f.URL(), src, func(c *Config) { c.IndexMode = IndexModeDaily })
	mustDrain(t, s)
	if a, b := f.count("logspool-2026.11.24"), f.count("logspool-2026.11.25"); a != 2 || b != 2 {
		t.Errorf("daily indices hold %d and %d documents, want 2 and 2", a, b)
	}
	f.mu.Lock()
	tpl := f.templates["logspool"]
	f.mu.Unlock()
	if !strings.Contains(string(tpl), `"index_patterns":["logspool-*"]`) || strings.Contains(string(tpl), "data_stream") {
		t.Errorf("daily template %s: want pattern logspool-* and no data stream", tpl)
	}
}

func TestSetupInstallsTemplate(t *testing.T) {
	f := newFakeES(t, "es8")
	recs := makeRecords(3, "setup")
	src := newMemSource(t, recs...)
	s, _ := newTestShipper(t, f.URL(), src, nil)
	mustDrain(t, s)
	f.mu.Lock()
	body := f.templates["logspool"]
	f.mu.Unlock()
	var tpl struct {
		IndexPatterns []string        `json:"index_patterns"`
		Priority      int             `json:"priority"`
		DataStream    json.RawMessage `json:"data_stream"`
		Template      struct {
			Mappings struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(body, &tpl); err != nil {
		t.Fatalf("template %q: %v", body, err)
	}
	if !slices.Equal(tpl.IndexPatterns, []string{DefaultIndex}) || tpl.Priority != 200 || string(tpl.DataStream) != "{}" {
		t.Errorf("template patterns %v priority %d data_stream %s", tpl.IndexPatterns, tpl.Priority, tpl.DataStream)
	}
	for field, want := range map[string]string{"@timestamp": "date_nanos", "message": "text"} {
		if !strings.Contains(string(tpl.Template.Mappings.Properties[field]), want) {
			t.Errorf("field %s mapped as %s, want %s", field, tpl.Template.Mappings.Properties[field], want)
		}
	}
	for _, frag := range []string{`"offset":{"type":"long"}`, `"namespace":{"ignore_above":1024,"type":"keyword"}`, `"path":{"ignore_above":1024,"type":"keyword"}`} {
		if !strings.Contains(string(body), frag) {
			t.Errorf("template lacks %s", frag)
		}
	}
}

func TestSetupForbiddenWarnsAndShips(t *testing.T) {
	f := newFakeES(t, "es8")
	f.templateStatus = 403
	recs := makeRecords(5, "setup403")
	src := newMemSource(t, recs...)
	s, _ := newTestShipper(t, f.URL(), src, nil)
	sum := mustDrain(t, s)
	if sum.Delivered != 5 {
		t.Errorf("summary %+v: want 5 delivered despite the refused template", sum)
	}
}

func TestSetupOffSendsNoTemplate(t *testing.T) {
	f := newFakeES(t, "es8")
	src := newMemSource(t, makeRecords(2, "nosetup")...)
	s, _ := newTestShipper(t, f.URL(), src, func(c *Config) { c.Setup = SetupOff() })
	mustDrain(t, s)
	for _, r := range f.requestLog() {
		if strings.Contains(r.Path, "_index_template") {
			t.Errorf("template request %s %s with Setup off", r.Method, r.Path)
		}
	}
}

func TestFlavorsAndHeaders(t *testing.T) {
	tests := []struct {
		name       string
		flavor     string
		mod        func(*Config)
		wantDist   string
		wantCompat bool
		wantAuth   string
	}{
		{name: "Elasticsearch 8 is spoken to in compatibility mode", flavor: "es8", wantDist: DistElasticsearch, wantCompat: true},
		{name: "Elasticsearch 7 gets plain media types", flavor: "es7", wantDist: DistElasticsearch},
		{name: "OpenSearch works through the raw transport", flavor: "os2", wantDist: DistOpenSearch},
		{name: "basic auth is sent", flavor: "es8", wantDist: DistElasticsearch, wantCompat: true,
			mod: func(c *Config) { c.Username, c.Password = "elastic", "changeme" }, wantAuth: "Basic ZWxhc3RpYzpjaGFuZ2VtZQ=="},
		{name: "an id:key API key is encoded and sent", flavor: "es8", wantDist: DistElasticsearch, wantCompat: true,
			mod: func(c *Config) { c.APIKey = "id1:secret" }, wantAuth: "ApiKey aWQxOnNlY3JldA=="},
		{name: "an encoded API key is sent as is and wins over basic auth", flavor: "os2", wantDist: DistOpenSearch,
			mod: func(c *Config) { c.APIKey = "aWQxOnNlY3JldA=="; c.Username = "u" }, wantAuth: "ApiKey aWQxOnNlY3JldA=="},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeES(t, tc.flavor)
			recs := makeRecords(5, tc.name)
			src := newMemSource(t, recs...)
			s, _ := newTestShipper(t, f.URL(), src, tc.mod)
			mustDrain(t, s)
			assertAllAckedOnce(t, src, recs)
			if got := s.Flavor().Distribution; got != tc.wantDist {
				t.Errorf("flavor %v, want %s", s.Flavor(), tc.wantDist)
			}
			var bulks int
			for _, r := range f.requestLog() {
				if tc.wantAuth != "" && r.Header.Get("Authorization") != tc.wantAuth {
					t.Errorf("%s %s: Authorization %q, want %q", r.Method, r.Path, r.Header.Get("Authorization"), tc.wantAuth)
				}
				if !strings.HasSuffix(r.Path, "/_bulk") {
					continue
				}
				bulks++
				ct, acc := r.Header.Get("Content-Type"), r.Header.Get("Accept")
				compat := strings.Contains(ct, "compatible-with=7") && strings.Contains(acc, "compatible-with=7")
				if compat != tc.wantCompat {
					t.Errorf("bulk Content-Type %q Accept %q, want compatibility mode %t", ct, acc, tc.wantCompat)
				}
				if r.Header.Get("Content-Encoding") != "gzip" {
					t.Errorf("bulk request not gzip-compressed")
				}
			}
			if bulks == 0 {
				t.Errorf("no bulk request seen")
			}
		})
	}
}

func TestRunWaitsForClusterThenShips(t *testing.T) {
	f := newFakeES(t, "es8")
	var down atomic.Bool
	down.Store(true)
	// While down, every request (GET / included) gets 503.
	inner := f.srv.Config.Handler
	f.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			statusAnswer(503, "")(w)
			return
		}
		inner.ServeHTTP(w, r)
	})
	recs := makeRecords(20, "late")
	src := newMemSource(t, recs...)
	s, clk := newTestShipper(t, f.URL(), src, nil)
	stop := startRun(t, s)
	waitUntil(t, 10*time.Second, "detection has been retried", func() bool { return len(clk.slept()) >= 3 })
	h := s.Health()
	if h.Reachable || h.UnreachableSince.IsZero() || !strings.Contains(h.LastError, "503") || s.Flavor().Distribution != "" {
		t.Errorf("health while down: %+v, flavor %v", h, s.Flavor())
	}
	down.Store(false)
	waitUntil(t, 10*time.Second, "every record is acknowledged", func() bool { _, _, a := src.state(); return a == len(recs) })
	h = s.Health()
	if !h.Reachable || h.LastSuccess.IsZero() || !h.UnreachableSince.IsZero() || h.Flavor.Distribution != DistElasticsearch {
		t.Errorf("health after recovery: %+v", h)
	}
	stop()
	assertAllAckedOnce(t, src, recs)
}

func TestShutdownMidRetryReleasesLease(t *testing.T) {
	f := newFakeES(t, "es8")
	f.setBulkHook(func(_ int, _ *fakeBulk, w http.ResponseWriter) bool { statusAnswer(503, "")(w); return true })
	recs := makeRecords(30, "shutdown")
	src := newMemSource(t, recs...)
	s, clk := newTestShipper(t, f.URL(), src, nil)
	stop := startRun(t, s)
	waitUntil(t, 10*time.Second, "bulk requests are being retried", func() bool { return len(clk.slept()) >= 3 })
	stop()
	q, l, a := src.state()
	if q != len(recs) || l != 0 || a != 0 {
		t.Errorf("after shutdown: %d queued, %d leased, %d acked; want all %d queued", q, l, a, len(recs))
	}
	if src.released == 0 {
		t.Errorf("no lease was released")
	}
}

func TestShutdownWaitsForInFlightRequest(t *testing.T) {
	f := newFakeES(t, "es8")
	entered := make(chan struct{})
	var once atomic.Bool
	f.setBulkHook(func(n int, b *fakeBulk, w http.ResponseWriter) bool {
		if !once.Swap(true) {
			close(entered)
			time.Sleep(200 * time.Millisecond) // a slow cluster, answering within the grace time
		}
		return false
	})
	recs := makeRecords(3, "grace")
	src := newMemSource(t, recs...)
	s, _ := newTestShipper(t, f.URL(), src, func(c *Config) { c.ShutdownTimeout = 20 * time.Second })
	stop := startRun(t, s)
	<-entered
	stop()
	assertAllAckedOnce(t, src, recs)
}

func TestSmallLeasesAreCombinedWithinFlushInterval(t *testing.T) {
	f := newFakeES(t, "es8")
	recs := makeRecords(2, "combine")
	src := newMemSource(t, recs[0])
	s, _ := newTestShipper(t, f.URL(), src, func(c *Config) {
		c.BatchBytes = recs[0].Size() + recs[1].Size()
		c.FlushInterval = time.Minute
	})
	startRun(t, s)
	waitUntil(t, 10*time.Second, "the first record is leased", func() bool { _, l, _ := src.state(); return l == 1 })
	src.add(recs[1])
	waitUntil(t, 10*time.Second, "both records are acknowledged", func() bool { _, _, a := src.state(); return a == 2 })
	var sizes []int
	for _, r := range f.requestLog() {
		if strings.HasSuffix(r.Path, "_bulk") {
			sizes = append(sizes, r.Items)
		}
	}
	if !slices.Equal(sizes, []int{2}) {
		t.Errorf("bulk request sizes %v, want one request of 2 items", sizes)
	}
}

func TestDrainInterruptedWhileDown(t *testing.T) {
	f := newFakeES(t, "es8")
	f.setBulkHook(func(_ int, _ *fakeBulk, w http.ResponseWriter) bool { statusAnswer(503, "")(w); return true })
	recs := makeRecords(10, "interrupted")
	src := newMemSource(t, recs...)
	s, clk := newTestShipper(t, f.URL(), src, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		waitUntil(t, 10*time.Second, "retries have started", func() bool { return len(clk.slept()) >= 2 })
		cancel()
	}()
	sum, err := s.Drain(ctx, nil)
	if !errors.Is(err, ErrDrainIncomplete) || !errors.Is(err, context.Canceled) {
		t.Errorf("Drain error %v, want ErrDrainIncomplete wrapping context.Canceled", err)
	}
	if sum.Delivered != 0 {
		t.Errorf("summary %+v: nothing can have been delivered", sum)
	}
	if q, l, _ := src.state(); q != len(recs) || l != 0 {
		t.Errorf("%d queued, %d leased after the interrupted drain; want all queued", q, l)
	}
}

func TestDrainReportsProgress(t *testing.T) {
	f := newFakeES(t, "os2")
	recs := makeRecords(200, "progress")
	src := newMemSource(t, recs...)
	s, _ := newTestShipper(t, f.URL(), src, func(c *Config) { c.BatchBytes = 8 << 10 })
	var calls []Progress
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sum, err := s.Drain(ctx, func(p Progress) { calls = append(calls, p) })
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) < 2 {
		t.Errorf("%d progress calls, want several", len(calls))
	}
	var bytes int64
	for _, r := range recs {
		bytes += int64(r.Size())
	}
	if sum.Delivered != 200 || sum.Bytes != bytes || sum.Elapsed <= 0 {
		t.Errorf("summary %+v, want 200 delivered and %d bytes", sum, bytes)
	}
	// A second Drain on an empty source returns at once with nothing done.
	sum2, err := s.Drain(ctx, nil)
	if err != nil || sum2.Delivered != 0 {
		t.Errorf("second Drain: %+v, %v", sum2, err)
	}
}

func TestMetricsCountOutcomes(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	recs := makeRecords(10, "metrics")
	f := newFakeES(t, "es8")
	f.setItemHook(func() func(int, string) (int, string) {
		retry := failFirst(429, "es_rejected_execution_exception", recs[0].ID.String())
		return func(n int, id string) (int, string) {
			if id == recs[1].ID.String() {
				return 400, "mapper_parsing_exception"
			}
			return retry(n, id)
		}
	}())
	src := newMemSource(t, recs...)
	s, _ := newTestShipper(t, f.URL(), src, func(c *Config) { c.Metrics = m })
	mustDrain(t, s)
	for outcome, want := range map[string]float64{"delivered": 9, "retried": 1, "dead_letter": 1, "duplicate": 0} {
		if got := metricValue(t, m.items.WithLabelValues(outcome)); got != want {
			t.Errorf("items_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
	if got := metricValue(t, m.requestsOK); got < 2 {
		t.Errorf("bulk_requests_total{result=ok} = %v, want >= 2", got)
	}
	if metricValue(t, m.up) != 1 || metricValue(t, m.lastSuccess) == 0 || metricValue(t, m.bytes) == 0 || metricValue(t, m.retries) < 1 {
		t.Errorf("es_up, last_success, bytes or retries not set")
	}
	if metricValue(t, m.inflight) != 0 {
		t.Errorf("inflight_requests %v after drain, want 0", metricValue(t, m.inflight))
	}
	if mfs, err := reg.Gather(); err != nil || len(mfs) != 8 {
		t.Errorf("gathered %d metric families (%v), want 8", len(mfs), err)
	}
	var nilM *Metrics
	nilM.itemsDone(1, 1, 1, 1)
	nilM.request(true, time.Second, 1)
	nilM.setUp(true, time.Now())
	nilM.retry()
	nilM.inflightAdd(1)
}

// metricValue reads a counter or gauge.
func metricValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		t.Fatalf("reading metric: %v", err)
	}
	switch {
	case pb.Counter != nil:
		return pb.Counter.GetValue()
	case pb.Gauge != nil:
		return pb.Gauge.GetValue()
	}
	t.Fatalf("metric is neither counter nor gauge")
	return 0
}

func TestEmptyDocumentIsDeadLetteredWithoutSending(t *testing.T) {
	recs := makeRecords(5, "empty")
	recs[2].Doc = nil
	recs[3].Doc = []byte("  ")
	f := newFakeES(t, "es8")
	src := newMemSource(t, recs...)
	s, _ := newTestShipper(t, f.URL(), src, nil)
	sum := mustDrain(t, s)
	if sum.DeadLettered != 2 || sum.Delivered != 3 {
		t.Errorf("summary %+v, want 2 dead and 3 delivered", sum)
	}
	for _, d := range src.deadLetters() {
		if !strings.Contains(d.Reason, "empty") {
			t.Errorf("dead letter reason %q", d.Reason)
		}
	}
	assertAllAckedOnce(t, src, recs)
	if n := f.count(DefaultIndex); n != 3 {
		t.Errorf("cluster holds %d documents, want 3", n)
	}
}

// flakySource fails Lease and TryLease with err for the first n calls.
type flakySource struct {
	*memSource
	n   atomic.Int32
	err error
}

func (f *flakySource) Lease(ctx context.Context, maxBytes int) (Batch, error) {
	if f.n.Add(-1) >= 0 {
		return nil, f.err
	}
	return f.memSource.Lease(ctx, maxBytes)
}

func (f *flakySource) TryLease(maxBytes int) (Batch, error) {
	if f.n.Add(-1) >= 0 {
		return nil, f.err
	}
	return f.memSource.TryLease(maxBytes)
}

func TestSourceErrors(t *testing.T) {
	errIO := errors.New("reading segment: input/output error")
	t.Run("a transient lease error is retried by Run", func(t *testing.T) {
		f := newFakeES(t, "es8")
		recs := makeRecords(10, "flaky")
		src := &flakySource{memSource: newMemSource(t, recs...), err: errIO}
		src.n.Store(2)
		s, clk := newTestShipper(t, f.URL(), src, nil)
		stop := startRun(t, s)
		waitUntil(t, 10*time.Second, "every record is acked", func() bool { _, _, a := src.state(); return a == 10 })
		stop()
		if len(clk.slept()) < 2 {
			t.Errorf("sleeps %v: want a backoff per lease error", clk.slept())
		}
	})
	t.Run("a closed spool ends Run with an error", func(t *testing.T) {
		f := newFakeES(t, "es8")
		src := &flakySource{memSource: newMemSource(t), err: fmt.Errorf("leasing: %w", ErrSourceClosed)}
		src.n.Store(1)
		s, _ := newTestShipper(t, f.URL(), src, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Run(ctx); !errors.Is(err, ErrSourceClosed) {
			t.Errorf("Run returned %v, want an error wrapping ErrSourceClosed", err)
		}
	})
	t.Run("a lease error ends Drain with the error", func(t *testing.T) {
		f := newFakeES(t, "es8")
		src := &flakySource{memSource: newMemSource(t, makeRecords(3, "flaky-drain")...), err: errIO}
		src.n.Store(1)
		s, _ := newTestShipper(t, f.URL(), src, nil)
		if _, err := s.Drain(context.Background(), nil); !errors.Is(err, errIO) {
			t.Errorf("Drain returned %v, want the lease error", err)
		}
	})
	t.Run("a second Run while one is running is refused", func(t *testing.T) {
		f := newFakeES(t, "es8")
		src := newMemSource(t)
		s, _ := newTestShipper(t, f.URL(), src, nil)
		startRun(t, s)
		waitUntil(t, 10*time.Second, "the shipper is connected", func() bool { return s.Health().Reachable })
		if err := s.Run(context.Background()); !errors.Is(err, ErrRunning) {
			t.Errorf("second Run returned %v, want ErrRunning", err)
		}
		if _, err := s.Drain(context.Background(), nil); !errors.Is(err, ErrRunning) {
			t.Errorf("Drain during Run returned %v, want ErrRunning", err)
		}
	})
	t.Run("a batch whose ack failed is sent again after a backoff", func(t *testing.T) {
		f := newFakeES(t, "es8")
		recs := makeRecords(10, "ackretry")
		src := newMemSource(t, recs...)
		src.failDones = 1
		s, clk := newTestShipper(t, f.URL(), src, nil)
		stop := startRun(t, s)
		waitUntil(t, 10*time.Second, "every record is acked", func() bool { _, _, a := src.state(); return a == 10 })
		stop()
		assertAllAckedOnce(t, src, recs)
		if len(clk.slept()) == 0 {
			t.Errorf("no backoff before the released batch was leased again")
		}
	})
	t.Run("a failing ack is logged and the rest goes on", func(t *testing.T) {
		f := newFakeES(t, "es8")
		recs := makeRecords(10, "ackfail")
		src := newMemSource(t, recs...)
		src.doneErr = errIO
		s, _ := newTestShipper(t, f.URL(), src, nil)
		sum := mustDrain(t, s)
		if sum.Delivered != 10 {
			t.Errorf("summary %+v", sum)
		}
	})
}

func TestNewRefusesBadInput(t *testing.T) {
	if _, err := New(Config{}, newMemSource(t)); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("empty config: %v", err)
	}
	if _, err := New(Config{URLs: []string{"http://x:9200"}}, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("nil source: %v", err)
	}
	if _, err := New(Config{URLs: []string{"http://x:9200"}, CAFile: "/nonexistent/ca.pem"}, newMemSource(t)); err == nil || !strings.Contains(err.Error(), "CA file") {
		t.Errorf("missing CA file: %v", err)
	}
	bad := t.TempDir() + "/ca.pem"
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{URLs: []string{"http://x:9200"}, CAFile: bad}, newMemSource(t)); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("bad CA file: %v", err)
	}
	if _, err := New(Config{URLs: []string{"http://x:9200"}, CertFile: bad, KeyFile: bad}, newMemSource(t)); err == nil || !strings.Contains(err.Error(), "client certificate") {
		t.Errorf("bad client certificate: %v", err)
	}
}
