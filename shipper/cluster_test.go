package shipper

// Delivery tests that run against the estest server and, when
// LOGSPOOL_TEST_ES_URL is set, against that real cluster too (plus optional
// LOGSPOOL_TEST_ES_USERNAME, _PASSWORD, _API_KEY, _CA_FILE). Fault injection
// tests need estest and live in estest_test.go.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	elasticsearch "github.com/elastic/go-elasticsearch/v7"
	"github.com/elastic/go-elasticsearch/v7/esapi"

	"github.com/logspool/logspool/internal/estest"
)

// cluster is a target the shared delivery tests run against.
type cluster interface {
	// configure points cfg at the cluster (URLs, credentials, TLS).
	configure(cfg *Config)
	// count returns the number of documents in an index expression.
	count(t *testing.T, index string) int
	// has reports whether the index expression holds id.
	has(t *testing.T, index, id string) bool
	// names returns a data stream name and a daily prefix unique to the test.
	names(t *testing.T) (dataStream, dailyPrefix string)
}

// estestCluster is an estest server.
type estestCluster struct{ srv *estest.Server }

func newEstest(t *testing.T, opts estest.Options) *estest.Server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = discardLogger()
	}
	srv, err := estest.Start(opts)
	if err != nil {
		t.Fatalf("starting estest: %v", err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func (c estestCluster) configure(cfg *Config)                   { cfg.URLs = []string{c.srv.URL()} }
func (c estestCluster) count(t *testing.T, index string) int    { return c.srv.Count(index) }
func (c estestCluster) has(t *testing.T, index, id string) bool { return c.srv.Has(index, id) }
func (c estestCluster) names(t *testing.T) (string, string)     { return DefaultIndex, DefaultDailyPrefix }

// realCluster is the cluster named by LOGSPOOL_TEST_ES_URL.
type realCluster struct {
	urls                   []string
	user, pass, apiKey, ca string
	client                 *elasticsearch.Client
}

func realClusterFromEnv(t *testing.T) *realCluster {
	t.Helper()
	u := os.Getenv("LOGSPOOL_TEST_ES_URL")
	if u == "" {
		return nil
	}
	c := &realCluster{
		urls: strings.Split(u, ","), user: os.Getenv("LOGSPOOL_TEST_ES_USERNAME"), pass: os.Getenv("LOGSPOOL_TEST_ES_PASSWORD"),
		apiKey: os.Getenv("LOGSPOOL_TEST_ES_API_KEY"), ca: os.Getenv("LOGSPOOL_TEST_ES_CA_FILE"),
	}
	// The checking client goes through a Shipper's transport setup, so the
	// same TLS and credentials apply.
	var cfg Config
	c.configure(&cfg)
	cfg = cfg.withDefaults()
	tr, err := buildHTTPTransport(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := newModuleConfig(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := newRawTransport(mc, plainMediaTypes{tr})
	if err != nil {
		t.Fatal(err)
	}
	c.client = &elasticsearch.Client{Transport: raw, API: esapi.New(raw)}
	t.Cleanup(tr.CloseIdleConnections)
	return c
}

func (c *realCluster) configure(cfg *Config) {
	cfg.URLs = c.urls
	cfg.Username, cfg.Password, cfg.APIKey, cfg.CAFile = c.user, c.pass, c.apiKey, c.ca
}

func (c *realCluster) count(t *testing.T, index string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if res, err := c.client.Indices.Refresh(c.client.Indices.Refresh.WithIndex(index), c.client.Indices.Refresh.WithContext(ctx)); err == nil {
		res.Body.Close()
	}
	res, err := c.client.Count(c.client.Count.WithIndex(index), c.client.Count.WithContext(ctx))
	if err != nil {
		t.Fatalf("counting %s: %v", index, err)
	}
	defer res.Body.Close()
	if res.StatusCode == 404 {
		return 0
	}
	var out struct {
		Count int `json:"count"`
	}
	body, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(body, &out); err != nil || res.IsError() {
		t.Fatalf("counting %s: %s %s", index, res.Status(), body)
	}
	return out.Count
}

func (c *realCluster) has(t *testing.T, index, id string) bool {
	t.Helper()
	q := fmt.Sprintf(`{"query":{"ids":{"values":[%q]}}}`, id)
	res, err := c.client.Count(c.client.Count.WithIndex(index), c.client.Count.WithBody(strings.NewReader(q)))
	if err != nil {
		t.Fatalf("looking up %s in %s: %v", id, index, err)
	}
	defer res.Body.Close()
	var out struct {
		Count int `json:"count"`
	}
	_ = json.NewDecoder(res.Body).Decode(&out)
	return out.Count == 1
}

func (c *realCluster) names(t *testing.T) (string, string) {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	ds, daily := "logs-logspooltest-"+suffix, "logspooltest-"+suffix
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, r := range []esapi.Request{
			esapi.IndicesDeleteDataStreamRequest{Name: []string{ds}},
			esapi.IndicesDeleteRequest{Index: []string{daily + "-*"}},
			esapi.IndicesDeleteIndexTemplateRequest{Name: TemplateName(Config{Index: ds})},
			esapi.IndicesDeleteIndexTemplateRequest{Name: TemplateName(Config{Index: daily, IndexMode: IndexModeDaily})},
		} {
			if res, err := r.Do(ctx, c.client.Transport); err == nil {
				res.Body.Close()
			}
		}
	})
	return ds, daily
}

// clusters returns the targets of the shared tests.
func clusters(t *testing.T) map[string]func(t *testing.T) cluster {
	out := map[string]func(t *testing.T) cluster{
		"estest-es8": func(t *testing.T) cluster { return estestCluster{newEstest(t, estest.Options{})} },
		"estest-es7": func(t *testing.T) cluster {
			return estestCluster{newEstest(t, estest.Options{Flavor: estest.Elasticsearch7})}
		},
		"estest-opensearch2": func(t *testing.T) cluster {
			return estestCluster{newEstest(t, estest.Options{Flavor: estest.OpenSearch2})}
		},
	}
	if os.Getenv("LOGSPOOL_TEST_ES_URL") != "" {
		out["real"] = func(t *testing.T) cluster { return realClusterFromEnv(t) }
	}
	return out
}

// mustDrainCtx drains with a deadline and fails on error.
func drainWithin(t *testing.T, s *Shipper, d time.Duration) Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	sum, err := s.Drain(ctx, nil)
	if err != nil {
		t.Fatalf("Drain: %v (summary %+v, health %+v)", err, sum, s.Health())
	}
	return sum
}

func TestDeliveryAgainstClusters(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, c cluster)
	}{
		{"every record is delivered once", func(t *testing.T, c cluster) {
			ds, _ := c.names(t)
			recs := makeRecords(120, "shared-all")
			src := newMemSource(t, recs...)
			s := newClusterShipper(t, c, src, func(cfg *Config) { cfg.Index = ds })
			sum := drainWithin(t, s, 60*time.Second)
			if sum.Delivered != 120 || sum.Duplicates != 0 || sum.DeadLettered != 0 {
				t.Errorf("summary %+v, want 120 delivered", sum)
			}
			if n := c.count(t, ds); n != 120 {
				t.Errorf("cluster holds %d documents, want 120", n)
			}
			assertAllAckedOnce(t, src, recs)
		}},
		{"shipping the same records again creates no second copy", func(t *testing.T, c cluster) {
			ds, _ := c.names(t)
			recs := makeRecords(50, "shared-again")
			s := newClusterShipper(t, c, newMemSource(t, recs...), func(cfg *Config) { cfg.Index = ds })
			drainWithin(t, s, 60*time.Second)
			// A crash after the send but before the ack: the same records
			// come again from the spool.
			src := newMemSource(t, recs...)
			s2 := newClusterShipper(t, c, src, func(cfg *Config) { cfg.Index = ds })
			sum := drainWithin(t, s2, 60*time.Second)
			if sum.Duplicates != 50 || sum.Delivered != 0 {
				t.Errorf("second summary %+v, want 50 duplicates", sum)
			}
			if n := c.count(t, ds); n != 50 {
				t.Errorf("cluster holds %d documents, want 50", n)
			}
			assertAllAckedOnce(t, src, recs)
		}},
		{"a document the mapping refuses is dead-lettered and the rest delivered", func(t *testing.T, c cluster) {
			ds, _ := c.names(t)
			recs := makeRecords(20, "shared-mapping")
			recs[7].Doc = []byte(`{"@timestamp":"2026-11-25T10:00:00Z","message":"bad","log":{"offset":"not a number"}}`)
			src := newMemSource(t, recs...)
			s := newClusterShipper(t, c, src, func(cfg *Config) { cfg.Index = ds })
			sum := drainWithin(t, s, 60*time.Second)
			if sum.DeadLettered != 1 || sum.Delivered != 19 {
				t.Errorf("summary %+v, want 1 dead letter and 19 delivered", sum)
			}
			dead := src.deadLetters()
			if len(dead) != 1 || dead[0].Record.ID != recs[7].ID || !strings.Contains(dead[0].Reason, "parsing_exception") || !strings.Contains(dead[0].Reason, "log.offset") {
				// mapper_parsing_exception up to 8.7, document_parsing_exception after.
				t.Errorf("dead letters %+v, want record 7 with a parsing exception on log.offset", dead)
			}
			if n := c.count(t, ds); n != 19 {
				t.Errorf("cluster holds %d documents, want 19", n)
			}
			assertAllAckedOnce(t, src, recs)
		}},
		{"daily mode writes each record into the index of its UTC day", func(t *testing.T, c cluster) {
			_, prefix := c.names(t)
			recs := makeRecords(6, "shared-daily")
			for i := range recs {
				recs[i].Time = time.Date(2026, 11, 24+i%2, 12, 0, 0, 0, time.UTC).UnixNano()
			}
			s := newClusterShipper(t, c, newMemSource(t, recs...), func(cfg *Config) { cfg.IndexMode, cfg.Index = IndexModeDaily, prefix })
			drainWithin(t, s, 60*time.Second)
			a, b := c.count(t, prefix+"-2026.11.24"), c.count(t, prefix+"-2026.11.25")
			if a != 3 || b != 3 {
				t.Errorf("daily indices hold %d and %d documents, want 3 and 3", a, b)
			}
			if !c.has(t, prefix+"-2026.11.25", recs[1].ID.String()) {
				t.Errorf("record 1 is not in the index of its day")
			}
		}},
	}
	for cname, mk := range clusters(t) {
		t.Run(cname, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, mk(t)) })
			}
		})
	}
}

// newClusterShipper builds a Shipper against c with the real clock.
func newClusterShipper(t *testing.T, c cluster, src Source, mod func(*Config)) *Shipper {
	t.Helper()
	cfg := Config{BatchBytes: 8 << 10, FlushInterval: 20 * time.Millisecond, Logger: discardLogger(),
		BackoffInit: 10 * time.Millisecond, BackoffMax: 200 * time.Millisecond}
	c.configure(&cfg)
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg, src)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}
