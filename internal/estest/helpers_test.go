package estest

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v7"
	"github.com/elastic/go-elasticsearch/v7/esapi"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startServer starts a server closed at the end of the test.
func startServer(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("starting server: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// httpClient returns a client without keep-alives leaking past the test.
func httpClient(t testing.TB) *http.Client {
	t.Helper()
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// newESClient returns a real go-elasticsearch v7 client pointed at s.
func newESClient(t testing.TB, s *Server, cfg elasticsearch.Config) *elasticsearch.Client {
	t.Helper()
	cfg.Addresses = []string{s.URL()}
	if cfg.Transport == nil {
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		cfg.Transport = tr
	}
	c, err := elasticsearch.NewClient(cfg)
	if err != nil {
		t.Fatalf("creating client: %v", err)
	}
	return c
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response %d is not JSON: %v: %q", r.status, err, r.body)
	}
	return m
}

// do sends one request; hdr are "Key: value" pairs.
func do(t testing.TB, c *http.Client, s *Server, method, path, body string, hdr ...string) response {
	t.Helper()
	res, err := tryDo(c, s, method, path, body, hdr...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return res
}

func tryDo(c *http.Client, s *Server, method, path, body string, hdr ...string) (response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL()+path, rd)
	if err != nil {
		return response{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-ndjson")
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	res, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: res.StatusCode, header: res.Header, body: b}, nil
}

// bulkResponse is the decoded _bulk answer.
type bulkResponse struct {
	Took   int                         `json:"took"`
	Errors bool                        `json:"errors"`
	Items  []map[string]bulkItemResult `json:"items"`
}

type bulkItemResult struct {
	Index   string          `json:"_index"`
	Type    *string         `json:"_type"`
	ID      string          `json:"_id"`
	Version int64           `json:"_version"`
	Result  string          `json:"result"`
	Status  int             `json:"status"`
	SeqNo   int64           `json:"_seq_no"`
	Error   *itemError      `json:"error"`
	Shards  json.RawMessage `json:"_shards"`
}

type itemError struct {
	Type     string     `json:"type"`
	Reason   string     `json:"reason"`
	CausedBy *itemError `json:"caused_by"`
}

// item returns the single action result of an item.
func (r bulkResponse) item(t testing.TB, i int) (string, bulkItemResult) {
	t.Helper()
	if i >= len(r.Items) {
		t.Fatalf("bulk response has %d items, want more than %d", len(r.Items), i)
	}
	for k, v := range r.Items[i] {
		return k, v
	}
	t.Fatalf("bulk item %d is empty", i)
	return "", bulkItemResult{}
}

// mustBulk sends body to /_bulk with the real client and decodes the answer.
func mustBulk(t testing.TB, c *elasticsearch.Client, body string) bulkResponse {
	t.Helper()
	res, err := c.Bulk(strings.NewReader(body), c.Bulk.WithContext(context.Background()))
	if err != nil {
		t.Fatalf("bulk: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("bulk: status %d: %s", res.StatusCode, b)
	}
	var br bulkResponse
	if err := json.NewDecoder(res.Body).Decode(&br); err != nil {
		t.Fatalf("decoding bulk response: %v", err)
	}
	return br
}

// bulkLines builds an NDJSON body of create actions for ids into index.
func createLines(index string, ids ...string) string {
	var sb strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&sb, "{\"create\":{\"_index\":%q,\"_id\":%q}}\n{\"@timestamp\":\"2024-05-01T10:00:00Z\",\"message\":\"line %s\"}\n", index, id, id)
	}
	return sb.String()
}

func decodeES(t testing.TB, res *esapi.Response) map[string]any {
	t.Helper()
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		t.Fatalf("decoding %s: %v", res.Status(), err)
	}
	return m
}

// waitUntil polls cond until it holds or the timeout passes.
func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// errorType returns error.type of a request-level error body.
func errorType(t testing.TB, body []byte) string {
	t.Helper()
	var m struct {
		Error struct {
			Type string `json:"type"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("error body is not JSON: %v: %q", err, body)
	}
	return m.Error.Type
}

// bulkRaw posts body to /_bulk with a plain HTTP client.
func bulkRaw(t testing.TB, hc *http.Client, s *Server, body string) bulkResponse {
	t.Helper()
	res := do(t, hc, s, "POST", "/_bulk", body)
	if res.status != http.StatusOK {
		t.Fatalf("bulk: status %d: %s", res.status, res.body)
	}
	var br bulkResponse
	if err := json.Unmarshal(res.body, &br); err != nil {
		t.Fatalf("decoding bulk response: %v", err)
	}
	return br
}

func newGzipWriter(w io.Writer) *gzip.Writer { return gzip.NewWriter(w) }

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
