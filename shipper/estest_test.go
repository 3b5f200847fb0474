package shipper

// Tests against the estest server: faults, flavours, TLS, authentication,
// setup, and the real spool.

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logspool/logspool/internal/estest"
	"github.com/logspool/logspool/parser/testlogs"
	"github.com/logspool/logspool/spool"
	"github.com/logspool/logspool/spool/record"
)

// estestShipper builds a Shipper with a fake clock against srv.
func estestShipper(t *testing.T, srv *estest.Server, src Source, mod func(*Config)) (*Shipper, *fakeClock) {
	t.Helper()
	return newTestShipper(t, srv.URL(), src, mod)
}

func TestFaultsAgainstEstest(t *testing.T) {
	recs := makeRecords(60, "faults")
	tests := []struct {
		name   string
		opts   estest.Options
		faults []estest.Fault
		mod    func(*Config)
		check  func(t *testing.T, srv *estest.Server, sum Summary, clk *fakeClock)
	}{
		{
			name:   "items answered 429 are sent again alone and then delivered",
			faults: []estest.Fault{{Kind: estest.FaultItemStatus, Status: 429, Count: 5}},
			check: func(t *testing.T, srv *estest.Server, sum Summary, clk *fakeClock) {
				st := srv.Stats()
				if st.ItemStatuses[429] != 5 {
					t.Errorf("server answered %d items with 429, want 5", st.ItemStatuses[429])
				}
				if st.BulkItems != len(recs)+5 {
					t.Errorf("server parsed %d bulk items, want %d: only the rejected ones are re-sent", st.BulkItems, len(recs)+5)
				}
				if sum.Retries == 0 {
					t.Errorf("summary %+v: want a retry", sum)
				}
			},
		},
		{
			name:   "items answered 503 are retried",
			faults: []estest.Fault{{Kind: estest.FaultItemStatus, Status: 503, Count: 3}},
		},
		{
			name:   "a whole-request 429 with Retry-After is retried no sooner than asked",
			faults: []estest.Fault{{Kind: estest.FaultStatus, Status: 429, RetryAfter: 9 * time.Second, Count: 1}},
			check: func(t *testing.T, srv *estest.Server, sum Summary, clk *fakeClock) {
				if !slices.ContainsFunc(clk.slept(), func(d time.Duration) bool { return d >= 9*time.Second }) {
					t.Errorf("sleeps %v: none honours Retry-After 9s", clk.slept())
				}
			},
		},
		{name: "whole-request 500s are retried", faults: []estest.Fault{{Kind: estest.FaultStatus, Status: 500, Count: 3}}},
		{name: "whole-request 503s are retried", faults: []estest.Fault{{Kind: estest.FaultStatus, Status: 503, Count: 3}}},
		{name: "whole-request 502s from a proxy are retried", faults: []estest.Fault{{Kind: estest.FaultStatus, Status: 502, Count: 2}}},
		{name: "a garbage body is retried", faults: []estest.Fault{{Kind: estest.FaultGarbageBody, Count: 2}}},
		{
			name:   "a truncated body after storing is retried and answered with duplicates",
			faults: []estest.Fault{{Kind: estest.FaultTruncatedBody, Count: 1}},
			check: func(t *testing.T, srv *estest.Server, sum Summary, _ *fakeClock) {
				if sum.Duplicates == 0 || srv.DuplicateCreates() == 0 {
					t.Errorf("summary %+v, server duplicates %d: want the re-send answered 409", sum, srv.DuplicateCreates())
				}
			},
		},
		{name: "a reset before storing is retried", faults: []estest.Fault{{Kind: estest.FaultResetBeforeStore, Count: 2}}},
		{
			name:   "a reset after storing makes the re-send answer 409s, counted as delivered",
			faults: []estest.Fault{{Kind: estest.FaultResetAfterStore, Count: 1}},
			check: func(t *testing.T, srv *estest.Server, sum Summary, _ *fakeClock) {
				if srv.Stats().Resets != 1 {
					t.Errorf("server reset %d connections, want 1", srv.Stats().Resets)
				}
				if sum.Duplicates == 0 || sum.Delivered+sum.Duplicates != int64(len(recs)) {
					t.Errorf("summary %+v: want duplicates and everything accounted for", sum)
				}
			},
		},
		{
			name:   "slow responses within the timeout are waited for",
			faults: []estest.Fault{{Kind: estest.FaultLatency, Latency: 50 * time.Millisecond, Count: 2}},
		},
		{
			name:   "a timed-out request is retried and answered with duplicates",
			faults: []estest.Fault{{Kind: estest.FaultLatency, Latency: 2 * time.Second, Count: 1}},
			mod:    func(c *Config) { c.RequestTimeout = 300 * time.Millisecond },
		},
		{
			name: "a body over the server's limit is split until it fits",
			opts: estest.Options{MaxBodyBytes: 3000},
			mod:  func(c *Config) { c.Compression = CompressionNone },
			check: func(t *testing.T, srv *estest.Server, sum Summary, _ *fakeClock) {
				if srv.Stats().Statuses[413] == 0 {
					t.Errorf("server never answered 413; the test does not test splitting")
				}
				if sum.DeadLettered != 0 {
					t.Errorf("summary %+v: nothing should be dead", sum)
				}
			},
		},
		{
			name:   "a fraction of items rejected at random is delivered in the end",
			faults: []estest.Fault{{Kind: estest.FaultItemStatus, Status: 429, Fraction: 0.3, Count: 40}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newEstest(t, tc.opts)
			for _, f := range tc.faults {
				srv.InjectFault(f)
			}
			src := newMemSource(t, recs...)
			s, clk := estestShipper(t, srv, src, tc.mod)
			sum := mustDrain(t, s)
			assertAllAckedOnce(t, src, recs)
			if n := srv.Count(DefaultIndex); n != len(recs) {
				t.Errorf("server holds %d documents, want %d", n, len(recs))
			}
			if got := srv.IDs(DefaultIndex); !slices.Equal(got, sortedIDs(recs)) {
				t.Errorf("server ids differ from the record ids (%d vs %d)", len(got), len(recs))
			}
			if tc.check != nil {
				tc.check(t, srv, sum, clk)
			}
		})
	}
}

func sortedIDs(recs []record.Record) []string {
	out := ids(recs)
	slices.Sort(out)
	return out
}

func TestOutageThenRecoveryAgainstEstest(t *testing.T) {
	srv := newEstest(t, estest.Options{})
	recs := makeRecords(300, "estest-outage")
	src := newMemSource(t, recs[:100]...)
	s, clk := estestShipper(t, srv, src, func(c *Config) { c.MaxInFlight = 1 })
	stop := startRun(t, s)
	waitUntil(t, 10*time.Second, "the first records are acked", func() bool { _, _, a := src.state(); return a == 100 })
	if err := srv.SetOutage(true); err != nil {
		t.Fatal(err)
	}
	src.add(recs[100:]...)
	n := len(clk.slept())
	waitUntil(t, 10*time.Second, "the shipper backs off during the outage", func() bool { return len(clk.slept()) >= n+5 })
	if h := s.Health(); h.Reachable || h.UnreachableSince.IsZero() {
		t.Errorf("health during the outage: %+v", h)
	}
	if _, _, acked := src.state(); acked != 100 {
		t.Errorf("%d records acked during the outage, want 100", acked)
	}
	if err := srv.SetOutage(false); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "the backlog is delivered", func() bool { return srv.Count(DefaultIndex) == len(recs) })
	waitUntil(t, 10*time.Second, "the backlog is acked", func() bool { _, _, a := src.state(); return a == len(recs) })
	stop()
	assertAllAckedOnce(t, src, recs)
	var got []string
	for _, d := range srv.Docs(DefaultIndex) {
		got = append(got, d.ID)
	}
	if !slices.Equal(got, ids(recs)) {
		t.Errorf("documents were not indexed oldest first")
	}
	if !s.Health().Reachable {
		t.Errorf("health after recovery: %+v", s.Health())
	}
}

func TestFlavorsAgainstEstest(t *testing.T) {
	tests := []struct {
		name       string
		flavor     estest.Flavor
		version    string
		wantDist   string
		wantMajor  int
		wantCompat bool
	}{
		{"Elasticsearch 8 is spoken to in compatibility mode", estest.Elasticsearch8, "", DistElasticsearch, 8, true},
		{"Elasticsearch 9 gets plain media types (it refuses compatible-with=7)", estest.Elasticsearch8, "9.1.0", DistElasticsearch, 9, false},
		{"Elasticsearch 7.17 gets plain media types", estest.Elasticsearch7, "", DistElasticsearch, 7, false},
		{"OpenSearch 2 works without the product check", estest.OpenSearch2, "", DistOpenSearch, 2, false},
		{"OpenSearch 1 works without the product check", estest.OpenSearch1, "", DistOpenSearch, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newEstest(t, estest.Options{Flavor: tc.flavor, Version: tc.version})
			recs := makeRecords(30, tc.name)
			src := newMemSource(t, recs...)
			s, _ := estestShipper(t, srv, src, nil)
			sum := mustDrain(t, s)
			if sum.Delivered != 30 {
				t.Errorf("summary %+v", sum)
			}
			if f := s.Flavor(); f.Distribution != tc.wantDist || f.Major != tc.wantMajor {
				t.Errorf("flavor %+v, want %s %d", f, tc.wantDist, tc.wantMajor)
			}
			bulks := 0
			for _, r := range srv.Requests() {
				if !strings.HasSuffix(r.Path, "_bulk") {
					continue
				}
				bulks++
				compat := strings.Contains(r.Header.Get("Accept"), "compatible-with=7") && strings.Contains(r.Header.Get("Content-Type"), "compatible-with=7")
				if compat != tc.wantCompat {
					t.Errorf("bulk Accept %q Content-Type %q, want compatibility mode %t", r.Header.Get("Accept"), r.Header.Get("Content-Type"), tc.wantCompat)
				}
				if !r.Gzip || !strings.Contains(r.RawQuery, "filter_path") {
					t.Errorf("bulk request gzip %t query %q: want gzip and filter_path", r.Gzip, r.RawQuery)
				}
			}
			if bulks == 0 {
				t.Errorf("no bulk request logged")
			}
			if n := srv.Count(DefaultIndex); n != 30 {
				t.Errorf("server holds %d documents", n)
			}
		})
	}
}

func TestSecurityAgainstEstest(t *testing.T) {
	dir := t.TempDir()
	certs, err := estest.GenerateCerts(dir)
	if err != nil {
		t.Fatal(err)
	}
	tlsOpts := func(mtls bool) estest.Options {
		cfg, err := certs.ServerTLSConfig(mtls)
		if err != nil {
			t.Fatal(err)
		}
		return estest.Options{TLS: cfg, RequireClientCert: mtls}
	}
	tests := []struct {
		name    string
		opts    func() estest.Options
		mod     func(*Config)
		wantErr string // non-empty: shipping must fail with this in the health
	}{
		{"TLS with the CA file is trusted", func() estest.Options { return tlsOpts(false) },
			func(c *Config) { c.CAFile = certs.CAFile }, ""},
		{"TLS without the CA is refused", func() estest.Options { return tlsOpts(false) },
			nil, "certificate"},
		{"TLS verification can be switched off", func() estest.Options { return tlsOpts(false) },
			func(c *Config) { c.InsecureSkipVerify = true }, ""},
		{"mTLS with a client certificate works", func() estest.Options { return tlsOpts(true) },
			func(c *Config) { c.CAFile, c.CertFile, c.KeyFile = certs.CAFile, certs.ClientCert, certs.ClientKey }, ""},
		{"mTLS without a client certificate is refused", func() estest.Options { return tlsOpts(true) },
			func(c *Config) { c.CAFile = certs.CAFile }, "certificate"},
		{"basic auth works", func() estest.Options { return estest.Options{Username: "elastic", Password: "s3cret"} },
			func(c *Config) { c.Username, c.Password = "elastic", "s3cret" }, ""},
		{"a wrong password is reported", func() estest.Options { return estest.Options{Username: "elastic", Password: "s3cret"} },
			func(c *Config) { c.Username, c.Password = "elastic", "wrong" }, "401"},
		{"an id:key API key works", func() estest.Options { return estest.Options{APIKey: "kid:kval"} },
			func(c *Config) { c.APIKey = "kid:kval" }, ""},
		{"an encoded API key works", func() estest.Options { return estest.Options{APIKey: "kid:kval"} },
			func(c *Config) { c.APIKey = "a2lkOmt2YWw=" }, ""},
		{"a wrong API key is reported", func() estest.Options { return estest.Options{APIKey: "kid:kval"} },
			func(c *Config) { c.APIKey = "kid:nope" }, "401"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newEstest(t, tc.opts())
			recs := makeRecords(10, tc.name)
			src := newMemSource(t, recs...)
			s, clk := estestShipper(t, srv, src, tc.mod)
			if tc.wantErr == "" {
				sum := mustDrain(t, s)
				if sum.Delivered != 10 || srv.Count(DefaultIndex) != 10 {
					t.Errorf("summary %+v, server holds %d", sum, srv.Count(DefaultIndex))
				}
				return
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				waitUntil(t, 10*time.Second, "connecting is retried", func() bool { return len(clk.slept()) >= 2 })
				cancel()
			}()
			_, err := s.Drain(ctx, nil)
			if !errors.Is(err, ErrDrainIncomplete) {
				t.Errorf("Drain error %v, want ErrDrainIncomplete", err)
			}
			if h := s.Health(); h.Reachable || !strings.Contains(h.LastError, tc.wantErr) {
				t.Errorf("health %+v, want an error mentioning %q", h, tc.wantErr)
			}
			if q, _, _ := src.state(); q != len(recs) {
				t.Errorf("%d records queued after the failure, want all %d", q, len(recs))
			}
		})
	}
}

func TestSetupAgainstEstest(t *testing.T) {
	tests := []struct {
		name      string
		fault     *estest.Fault
		mod       func(*Config)
		wantTpl   string
		wantIndex string
	}{
		{name: "the template is installed and the data stream created from it", wantTpl: "logspool", wantIndex: DefaultIndex},
		{name: "a custom data stream gets its own template", mod: func(c *Config) { c.Index = "logs-app-prod" },
			wantTpl: "logspool-logs-app-prod", wantIndex: "logs-app-prod"},
		{name: "daily mode installs a template without data stream", mod: func(c *Config) { c.IndexMode = IndexModeDaily },
			wantTpl: "logspool", wantIndex: "logspool-2026.11.25"},
		{name: "a forbidden template install warns and ships", fault: &estest.Fault{Kind: estest.FaultForbidden},
			wantIndex: DefaultIndex},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newEstest(t, estest.Options{})
			if tc.fault != nil {
				srv.InjectFault(*tc.fault)
			}
			recs := makeRecords(10, tc.name)
			s, _ := estestShipper(t, srv, newMemSource(t, recs...), tc.mod)
			sum := mustDrain(t, s)
			if sum.Delivered != 10 || srv.Count(tc.wantIndex) != 10 {
				t.Errorf("summary %+v, %s holds %d", sum, tc.wantIndex, srv.Count(tc.wantIndex))
			}
			var found *estest.Template
			for _, tpl := range srv.Templates() {
				if !tpl.Builtin && strings.HasPrefix(tpl.Name, "logspool") {
					found = &tpl
				}
			}
			if tc.wantTpl == "" {
				if found != nil {
					t.Errorf("template %s installed despite the refusal", found.Name)
				}
				return
			}
			if found == nil || found.Name != tc.wantTpl || found.Priority != 200 {
				t.Fatalf("templates %+v, want %s with priority 200", srv.Templates(), tc.wantTpl)
			}
			daily := tc.mod != nil && strings.Contains(tc.name, "daily")
			if found.DataStream == daily {
				t.Errorf("template data_stream %t in %s mode", found.DataStream, map[bool]string{true: "daily", false: "datastream"}[daily])
			}
			if !daily {
				ok := false
				for _, ds := range srv.DataStreams() {
					ok = ok || (ds.Name == tc.wantIndex && ds.Template == tc.wantTpl)
				}
				if !ok {
					t.Errorf("data streams %+v: want %s from template %s", srv.DataStreams(), tc.wantIndex, tc.wantTpl)
				}
			}
		})
	}
}

func TestDeadLetterIndexAgainstEstest(t *testing.T) {
	srv := newEstest(t, estest.Options{})
	recs := makeRecords(10, "estest-dlq")
	recs[2].Doc = []byte(`{"@timestamp":"2026-11-25T10:00:00Z","message":"bad","log":{"offset":"x"}}`)
	src := newMemSource(t, recs...)
	s, _ := estestShipper(t, srv, src, func(c *Config) { c.DeadLetterIndex = "logspool-dead-letters" })
	sum := mustDrain(t, s)
	if sum.DeadLettered != 1 || sum.Delivered != 9 {
		t.Errorf("summary %+v", sum)
	}
	docs := srv.Docs("logspool-dead-letters")
	if len(docs) != 1 || docs[0].ID != recs[2].ID.String() {
		t.Fatalf("dead-letter index holds %+v, want record 2", docs)
	}
	if !strings.Contains(string(docs[0].Source), `log.offset`) || !strings.Contains(string(docs[0].Source), `\"offset\":\"x\"`) {
		t.Errorf("dead-letter document %s lacks the error or the original", docs[0].Source)
	}
	if len(src.deadLetters()) != 1 {
		t.Errorf("spool dead letters %d, want 1", len(src.deadLetters()))
	}
}

// fromSpool is the real spool as a Source, for the proofs that run the
// shipper on it; cmd/logspool's spoolSource is the production adapter.
func fromSpool(sp *spool.Spool) Source { return realSpool{sp} }

type realSpool struct{ sp *spool.Spool }

func (s realSpool) Lease(ctx context.Context, maxBytes int) (Batch, error) {
	return asBatch(s.sp.Lease(ctx, maxBytes))
}

func (s realSpool) TryLease(maxBytes int) (Batch, error) { return asBatch(s.sp.TryLease(maxBytes)) }

func asBatch(l *spool.Lease, err error) (Batch, error) {
	if l == nil {
		return nil, err
	}
	return realLease{l}, err
}

type realLease struct{ *spool.Lease }

func (l realLease) Records() []record.Record { return l.Lease.Records }

// openSpool opens a real spool in a temporary directory.
func openSpool(t *testing.T) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(spool.Config{Dir: t.TempDir(), Logger: discardLogger()})
	if err != nil {
		t.Fatalf("opening spool: %v", err)
	}
	t.Cleanup(func() { _ = sp.Close() })
	return sp
}

func TestRealSpoolDrainsAndKeepsDeadLetters(t *testing.T) {
	srv := newEstest(t, estest.Options{})
	srv.InjectFault(estest.Fault{Kind: estest.FaultItemStatus, Status: 429, Count: 10})
	sp := openSpool(t)
	recs := makeRecords(500, "real-spool")
	recs[123].Doc = []byte(`{"@timestamp":"2026-11-25T10:00:00Z","log":{"offset":"x"}}`)
	for i := 0; i < len(recs); i += 50 {
		if err := sp.Append(context.Background(), recs[i:i+50], record.Checkpoint{Key: "f/test", Value: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := estestShipper(t, srv, fromSpool(sp), nil)
	sum := mustDrain(t, s)
	if sum.Delivered != 499 || sum.DeadLettered != 1 {
		t.Errorf("summary %+v, want 499 delivered and 1 dead", sum)
	}
	st := sp.Stats()
	if st.QueuedRecords != 0 || st.LeasedRecords != 0 || st.DeadLetters != 1 {
		t.Errorf("spool stats %+v, want empty queue and 1 dead letter", st)
	}
	var reasons []string
	_ = sp.DeadLetters(func(_ uint64, dl spool.DeadLetter) error {
		if dl.Record.ID != recs[123].ID {
			t.Errorf("dead letter for record %s, want record 123", dl.Record.ID)
		}
		reasons = append(reasons, dl.Reason)
		return nil
	})
	if len(reasons) != 1 || !strings.Contains(reasons[0], "log.offset") {
		t.Errorf("dead letter reasons %q", reasons)
	}
	if n := srv.Count(DefaultIndex); n != 499 {
		t.Errorf("server holds %d documents, want 499", n)
	}
}

func TestRealSpoolShutdownMidRetryReleasesLease(t *testing.T) {
	srv := newEstest(t, estest.Options{})
	srv.InjectFault(estest.Fault{Kind: estest.FaultStatus, Status: 503})
	sp := openSpool(t)
	recs := makeRecords(40, "real-spool-shutdown")
	if err := sp.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	s, clk := estestShipper(t, srv, fromSpool(sp), nil)
	stop := startRun(t, s)
	waitUntil(t, 10*time.Second, "bulk requests are retried", func() bool { return len(clk.slept()) >= 3 })
	if st := sp.Stats(); st.LeasedRecords != 40 {
		t.Errorf("spool has %d leased records during retries, want 40", st.LeasedRecords)
	}
	stop()
	st := sp.Stats()
	if st.QueuedRecords != 40 || st.LeasedRecords != 0 {
		t.Fatalf("spool stats after shutdown %+v, want 40 queued and none leased", st)
	}
	// The next run (after restart) delivers them.
	srv.ClearFaults()
	s2, _ := estestShipper(t, srv, fromSpool(sp), nil)
	sum := mustDrain(t, s2)
	if sum.Delivered != 40 || srv.Count(DefaultIndex) != 40 {
		t.Errorf("after restart: summary %+v, server holds %d", sum, srv.Count(DefaultIndex))
	}
}

// BenchmarkShipEstest measures end-to-end shipping from a memory source to
// estest in Discard mode: lease, encode, gzip, HTTP, bulk parsing on the
// server, response parsing, ack. Reports docs/s.
func BenchmarkShipEstest(b *testing.B) {
	recs := benchRecords(40000)
	t := &testing.T{}
	srv, err := estest.Start(estest.Options{Discard: true, Logger: discardLogger(), RequestLog: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	var bytes int
	for i := range recs {
		bytes += recs[i].DocLen()
	}
	b.SetBytes(int64(bytes))
	b.ReportAllocs()
	start := testlogs.CPUTime()
	for b.Loop() {
		b.StopTimer()
		srv.Reset()
		src := newMemSource(t, recs...)
		s, err := New(Config{URLs: []string{srv.URL()}, Logger: discardLogger(), Setup: SetupOff()}, src)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		sum, err := s.Drain(context.Background(), nil)
		if err != nil || sum.Delivered != int64(len(recs)) {
			b.Fatalf("drain: %+v %v", sum, err)
		}
	}
	b.ReportMetric(float64(len(recs)*b.N)/b.Elapsed().Seconds(), "docs/s")
	// CPU of shipper and server together (one process): a lower bound of
	// the shipper's own docs per CPU-second.
	if cpu := (testlogs.CPUTime() - start).Seconds(); cpu > 0 {
		b.ReportMetric(float64(len(recs)*b.N)/cpu, "docs/cpu-s")
	}
}

func TestSeveralNodesBalanceAndFailOver(t *testing.T) {
	a, b := newEstest(t, estest.Options{}), newEstest(t, estest.Options{})
	bulks := func(srv *estest.Server) int { return srv.Stats().BulkRequests }
	recs := makeRecords(400, "nodes")
	src := newMemSource(t, recs[:200]...)
	s, _ := newTestShipper(t, a.URL(), src, func(c *Config) {
		c.URLs = []string{a.URL(), b.URL()}
		c.BatchBytes = 2 << 10
	})
	stop := startRun(t, s)
	waitUntil(t, 10*time.Second, "the first half is acked", func() bool { _, _, n := src.state(); return n == 200 })
	if bulks(a) == 0 || bulks(b) == 0 {
		t.Errorf("bulk requests per node %d and %d: want both used", bulks(a), bulks(b))
	}
	if err := b.SetOutage(true); err != nil {
		t.Fatal(err)
	}
	src.add(recs[200:]...)
	waitUntil(t, 10*time.Second, "the second half is acked with one node down", func() bool { _, _, n := src.state(); return n == 400 })
	stop()
	assertAllAckedOnce(t, src, recs)
	if got := a.Count(DefaultIndex) + b.Count(DefaultIndex); got != 400 {
		t.Errorf("the nodes hold %d documents together, want 400", got)
	}
}

func TestRunStartsWhileClusterIsDown(t *testing.T) {
	srv := newEstest(t, estest.Options{Flavor: estest.OpenSearch2})
	if err := srv.SetOutage(true); err != nil {
		t.Fatal(err)
	}
	recs := makeRecords(50, "down-at-start")
	src := newMemSource(t, recs...)
	s, clk := estestShipper(t, srv, src, nil)
	stop := startRun(t, s)
	waitUntil(t, 10*time.Second, "detection is retried", func() bool { return len(clk.slept()) >= 4 })
	if h := s.Health(); h.Reachable || h.LastError == "" || s.Flavor().Distribution != "" {
		t.Errorf("health while down: %+v", h)
	}
	if q, l, _ := src.state(); q != len(recs) || l != 0 {
		t.Errorf("%d queued and %d leased while the cluster is down; nothing should be leased before detection", q, l)
	}
	if err := srv.SetOutage(false); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "everything is acked", func() bool { _, _, a := src.state(); return a == len(recs) })
	stop()
	if s.Flavor().Distribution != DistOpenSearch || srv.Count(DefaultIndex) != len(recs) {
		t.Errorf("flavor %v, server holds %d", s.Flavor(), srv.Count(DefaultIndex))
	}
}

func TestShutdownAbandonsRequestAfterGraceTime(t *testing.T) {
	srv := newEstest(t, estest.Options{})
	id := srv.InjectFault(estest.Fault{Kind: estest.FaultLatency, Latency: 20 * time.Second})
	recs := makeRecords(20, "grace-over")
	src := newMemSource(t, recs...)
	s, _ := estestShipper(t, srv, src, func(c *Config) { c.ShutdownTimeout = 300 * time.Millisecond })
	stop := startRun(t, s)
	waitUntil(t, 10*time.Second, "a slow bulk request is in flight", func() bool { return srv.Fired(id) >= 1 })
	start := time.Now()
	stop()
	d := time.Since(start)
	if d < 250*time.Millisecond {
		t.Errorf("Run returned %s after cancellation; it should have waited the 300ms grace time for the request", d)
	}
	if d > 5*time.Second {
		t.Errorf("Run took %s to return after cancellation with a 50ms grace time", d)
	}
	if q, l, a := src.state(); q != len(recs) || l != 0 || a != 0 {
		t.Errorf("after shutdown: %d queued, %d leased, %d acked; want all queued again", q, l, a)
	}
}
