package shipper

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/logspool/logspool/parser/testlogs"
	"github.com/logspool/logspool/parser/testlogs/testdocs"
	"github.com/logspool/logspool/spool/record"
)

func TestAppendItem(t *testing.T) {
	id := record.FileID("node", "key", 42)
	got := string(appendItem(nil, "logs-logspool-default", id, []byte(`{"message":"hi"}`)))
	want := `{"create":{"_index":"logs-logspool-default","_id":"` + id.String() + `"}}` + "\n" + `{"message":"hi"}` + "\n"
	if got != want {
		t.Errorf("appendItem = %q, want %q", got, want)
	}
	if len(got)-len(`{"message":"hi"}`)-len("logs-logspool-default") != itemOverhead {
		t.Errorf("itemOverhead %d does not match the encoded overhead", itemOverhead)
	}
}

func TestAppendDocLine(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"a one-line document is copied verbatim", `{"a":"b c"}`, `{"a":"b c"}`},
		{"a document spread over lines is compacted", "{\n  \"a\": 1,\r\n  \"b\": [1, 2]\n}", `{"a":1,"b":[1,2]}`},
		{"escaped newlines inside strings are kept", `{"m":"x\ny"}`, `{"m":"x\ny"}`},
		{"invalid JSON with a newline keeps the framing", "{\"a\":\nbroken", `{"a": broken`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := appendDocLine(nil, []byte(tc.doc))
			if string(got) != tc.want+"\n" {
				t.Errorf("got %q, want %q", got, tc.want+"\n")
			}
		})
	}
}

func TestIndexNamer(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	cfg := Config{IndexMode: IndexModeDaily, Clock: fixedClock{now}}.withDefaults()
	tests := []struct {
		name string
		t    int64
		want string
	}{
		{"a time picks the UTC day", time.Date(2026, 11, 25, 23, 59, 59, 999999999, time.UTC).UnixNano(), "logspool-2026.11.25"},
		{"midnight starts the next day", time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC).UnixNano(), "logspool-2026.11.26"},
		{"a time in another zone is converted to UTC", time.Date(2026, 11, 26, 1, 0, 0, 0, time.FixedZone("CET", 3600)).UnixNano(), "logspool-2026.11.26"},
		{"an unknown time uses the clock's day", 0, "logspool-2026.03.04"},
		{"a time before 1970 is floored to its day", time.Date(1969, 12, 31, 12, 0, 0, 0, time.UTC).UnixNano(), "logspool-1969.12.31"},
	}
	n := newIndexNamer(&cfg)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := n.name(&record.Record{Time: tc.t}); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	ds := Config{}.withDefaults()
	if got := newIndexNamer(&ds).name(&record.Record{Time: 1}); got != DefaultIndex {
		t.Errorf("data stream mode index %s, want %s", got, DefaultIndex)
	}
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time                                   { return c.t }
func (c fixedClock) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

func TestBodyBufferIsReturnedWhenEveryReaderIsClosed(t *testing.T) {
	b := newBody([]byte("payload"))
	r1, r2 := b.reader(), b.reader()
	b.unref()
	if b.buf == nil {
		t.Fatalf("buffer released while readers are open")
	}
	got, _ := io.ReadAll(r1)
	if string(got) != "payload" {
		t.Errorf("reader read %q", got)
	}
	r1.Close()
	r1.Close() // a second Close must not drop another reference
	if b.buf == nil {
		t.Fatalf("buffer released while a reader is open")
	}
	r2.Close()
	if b.buf != nil {
		t.Errorf("buffer not released after every reader closed")
	}
}

func TestParseBulkResponse(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		n       int
		wantErr string
		want    []int
	}{
		{name: "a clean response is parsed", body: `{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":409,"error":{"type":"version_conflict_engine_exception"}}}]}`, n: 2, want: []int{201, 409}},
		{name: "an index op is read too", body: `{"items":[{"index":{"status":200}}]}`, n: 1, want: []int{200}},
		{name: "HTML from a proxy is refused", body: `<html>bad gateway</html>`, n: 1, wantErr: "decoding"},
		{name: "a truncated body is refused", body: `{"errors":false,"items":[{"create":{"status":201}},{"crea`, n: 2, wantErr: "decoding"},
		{name: "fewer items than sent are refused", body: `{"errors":false,"items":[{"create":{"status":201}}]}`, n: 2, wantErr: "1 items for 2"},
		{name: "a filtered-away item list is refused", body: `{"errors":false}`, n: 3, wantErr: "0 items for 3"},
		{name: "an item without status is refused", body: `{"items":[{"create":{"_id":"x"}}]}`, n: 1, wantErr: "status 0"},
		{name: "an item with two ops is refused", body: `{"items":[{"create":{"status":201},"index":{"status":201}}]}`, n: 1, wantErr: "2 operations"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseBulkResponse([]byte(tc.body), tc.n)
			if tc.wantErr != "" {
				var bre *BadResponseError
				if !errors.As(err, &bre) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want a BadResponseError containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tc.want {
				if r.Items[i].Status != s {
					t.Errorf("item %d status %d, want %d", i, r.Items[i].Status, s)
				}
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		status int
		err    string
		want   outcome
	}{
		{"201 created is delivered", 201, "", outDelivered},
		{"200 is delivered", 200, "", outDelivered},
		{"409 is a duplicate", 409, `{"type":"version_conflict_engine_exception"}`, outDuplicate},
		{"429 is retried", 429, `{"type":"es_rejected_execution_exception"}`, outRetry},
		{"500 is retried", 500, `{"type":"x"}`, outRetry},
		{"503 is retried", 503, `{"type":"unavailable_shards_exception"}`, outRetry},
		{"a rejected execution under another status is retried", 400, `{"type":"es_rejected_execution_exception"}`, outRetry},
		{"400 mapper_parsing_exception is dead", 400, `{"type":"mapper_parsing_exception"}`, outDead},
		{"404 index_not_found is dead", 404, `{"type":"index_not_found_exception"}`, outDead},
		{"403 is dead", 403, `{"type":"security_exception"}`, outDead},
		{"400 with a string error is dead", 400, `"bad"`, outDead},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(&bulkItem{Status: tc.status, Error: json.RawMessage(tc.err)}); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestItemReason(t *testing.T) {
	it := &bulkItem{Status: 400, Error: json.RawMessage(`{"type":"mapper_parsing_exception","reason":"failed to parse field [a]","caused_by":{"type":"illegal_argument_exception","reason":"For input string: \"x\""}}`)}
	want := `400 mapper_parsing_exception: failed to parse field [a]; caused by illegal_argument_exception: For input string: "x"`
	if got := itemReason(it); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := itemReason(&bulkItem{Status: 400, Error: json.RawMessage(`"plain"`)}); got != `400: "plain"` {
		t.Errorf("string error: %q", got)
	}
	if got := itemReason(&bulkItem{Status: 404}); !strings.Contains(got, "404") {
		t.Errorf("no error: %q", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name, v string
		want    time.Duration
	}{
		{"no header means no wait", "", 0},
		{"seconds are read", "7", 7 * time.Second},
		{"an HTTP date is read", now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{"a date in the past means no wait", now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"a huge value is capped", "999999", maxRetryAfter},
		{"garbage is ignored", "soon", 0},
		{"a negative value is ignored", "-5", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.v != "" {
				h.Set("Retry-After", tc.v)
			}
			if got := parseRetryAfter(h, now); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{URLs: []string{"http://localhost:9200"}}
	tests := []struct {
		name  string
		mod   func(*Config)
		field string // "" means valid
	}{
		{"a single URL is enough", func(*Config) {}, ""},
		{"daily mode with a prefix is valid", func(c *Config) { c.IndexMode = IndexModeDaily; c.Index = "k8s" }, ""},
		{"no URL is refused", func(c *Config) { c.URLs = nil }, "URLs"},
		{"a URL without scheme is refused", func(c *Config) { c.URLs = []string{"localhost:9200"} }, "URLs[0]"},
		{"a second bad URL is named", func(c *Config) { c.URLs = append(c.URLs, "ftp://x") }, "URLs[1]"},
		{"an unknown index mode is refused", func(c *Config) { c.IndexMode = "weekly" }, "IndexMode"},
		{"an upper-case index is refused", func(c *Config) { c.Index = "Logs" }, "Index"},
		{"an index with a quote is refused", func(c *Config) { c.Index = `a"b` }, "Index"},
		{"an index starting with _ is refused", func(c *Config) { c.Index = "_x" }, "Index"},
		{"a bad dead-letter index is refused", func(c *Config) { c.DeadLetterIndex = "a b" }, "DeadLetterIndex"},
		{"a cert without key is refused", func(c *Config) { c.CertFile = "c.pem" }, "CertFile"},
		{"a password without user is refused", func(c *Config) { c.Password = "p" }, "Password"},
		{"negative batch bytes are refused", func(c *Config) { c.BatchBytes = -1 }, "BatchBytes"},
		{"a negative flush interval is refused", func(c *Config) { c.FlushInterval = -1 }, "FlushInterval"},
		{"negative in-flight is refused", func(c *Config) { c.MaxInFlight = -1 }, "MaxInFlight"},
		{"a backoff cap below the start is refused", func(c *Config) { c.BackoffInit = time.Minute; c.BackoffMax = time.Second }, "BackoffMax"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			c.URLs = append([]string(nil), ok.URLs...)
			tc.mod(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), ": "+tc.field+": ") {
				t.Errorf("err %v, want ErrInvalidConfig naming %s", err, tc.field)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.Index != DefaultIndex || c.IndexMode != IndexModeDataStream || c.BatchBytes != 5<<20 || c.FlushInterval != time.Second ||
		c.MaxInFlight != 2 || !c.setup() || c.BackoffInit != time.Second || c.BackoffMax != time.Minute {
		t.Errorf("defaults %+v", c)
	}
	if d := (Config{IndexMode: IndexModeDaily}).withDefaults(); d.Index != "logspool" {
		t.Errorf("daily default prefix %q", d.Index)
	}
	if TemplateName(Config{}) != "logspool" || TemplateName(Config{Index: "logs-app-prod"}) != "logspool-logs-app-prod" {
		t.Errorf("template names %q %q", TemplateName(Config{}), TemplateName(Config{Index: "logs-app-prod"}))
	}
}

func TestBackoffBounds(t *testing.T) {
	s := &Shipper{cfg: Config{}.withDefaults()}
	for attempt := 1; attempt <= 12; attempt++ {
		base := min(time.Second<<(attempt-1), time.Minute)
		for range 50 {
			d := s.backoff(attempt, 0)
			if d < base/2 || d > base {
				t.Fatalf("attempt %d: backoff %s outside [%s, %s]", attempt, d, base/2, base)
			}
		}
	}
	if d := s.backoff(1, 42*time.Second); d != 42*time.Second {
		t.Errorf("Retry-After 42s gave %s", d)
	}
}

func TestPlainMediaTypesForOpenSearch(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	rt := plainMediaTypes{tr}
	req, _ := http.NewRequest("POST", srv.URL+"/_bulk", strings.NewReader("{}\n{}\n"))
	req.Header.Set("Content-Type", "application/vnd.elasticsearch+json;compatible-with=7")
	req.Header.Set("Accept", "application/vnd.elasticsearch+json;compatible-with=7")
	res, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got.Get("Content-Type") != "application/x-ndjson" || got.Get("Accept") != "application/json" {
		t.Errorf("headers sent %v", got)
	}
	if req.Header.Get("Accept") != "application/vnd.elasticsearch+json;compatible-with=7" {
		t.Errorf("the caller's request was modified")
	}
}

func FuzzParseBulkResponse(f *testing.F) {
	f.Add([]byte(`{"errors":false,"items":[{"create":{"status":201}}]}`), 1)
	f.Add([]byte(`{"errors":true,"items":[{"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"x","caused_by":{"type":"y"}}}}]}`), 1)
	f.Add([]byte(`{"items":[{"index":{"status":409}},{"create":{"status":429}}]}`), 2)
	f.Add([]byte(`<html>`), 0)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		if n < 0 || n > 1000 {
			return
		}
		r, err := parseBulkResponse(body, n)
		if err != nil {
			return
		}
		if len(r.Items) != n {
			t.Fatalf("accepted %d items for %d", len(r.Items), n)
		}
		for i := range r.Items {
			if r.Items[i].Status < 100 || r.Items[i].Status > 599 {
				t.Fatalf("accepted status %d", r.Items[i].Status)
			}
			_ = classify(&r.Items[i])
			_ = itemReason(&r.Items[i])
		}
	})
}

func FuzzAppendDocLine(f *testing.F) {
	f.Add([]byte(`{"a":1}`))
	f.Add([]byte("{\n\"a\":\r\n1}"))
	f.Add([]byte("not json\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		out := appendDocLine(nil, doc)
		if len(out) == 0 || out[len(out)-1] != '\n' {
			t.Fatalf("no trailing newline")
		}
		line := out[:len(out)-1]
		if bytes.ContainsAny(line, "\r\n") {
			t.Fatalf("line %q still breaks the framing", line)
		}
		if json.Valid(doc) {
			var want bytes.Buffer
			_ = json.Compact(&want, doc)
			if bytes.ContainsAny(doc, "\r\n") && !bytes.Equal(line, want.Bytes()) {
				t.Fatalf("valid JSON %q became %q, want %q", doc, line, want.Bytes())
			}
			if !json.Valid(line) {
				t.Fatalf("valid JSON %q became invalid %q", doc, line)
			}
		}
	})
}

func TestFlavorCompatibility(t *testing.T) {
	tests := []struct {
		name         string
		f            Flavor
		compat, flat bool
	}{
		{"Elasticsearch 7 needs no compatibility mode", Flavor{DistElasticsearch, "7.17.25", 7}, false, false},
		{"Elasticsearch 8 gets compatible-with=7", Flavor{DistElasticsearch, "8.15.3", 8}, true, false},
		{"Elasticsearch 9 refuses compatible-with=7 and gets plain JSON", Flavor{DistElasticsearch, "9.1.0", 9}, false, true},
		{"OpenSearch gets plain JSON", Flavor{DistOpenSearch, "2.17.1", 2}, false, true},
		{"an unknown product gets plain JSON", Flavor{Distribution: DistUnknown}, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.f.compat() != tc.compat || tc.f.plainOnly() != tc.flat {
				t.Errorf("compat %t plainOnly %t, want %t %t", tc.f.compat(), tc.f.plainOnly(), tc.compat, tc.flat)
			}
		})
	}
}

func TestCleanBulkResponseFastPath(t *testing.T) {
	tests := []struct {
		name string
		body string
		n    int
		ok   bool
	}{
		{"a clean filtered response is taken", `{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":200}}]}`, 2, true},
		{"a trailing newline is fine", "{\"errors\":false,\"items\":[{\"create\":{\"status\":201}}]}\n", 1, true},
		{"errors true goes to the decoder", `{"errors":true,"items":[{"create":{"status":201}}]}`, 1, false},
		{"a 409 goes to the decoder", `{"errors":false,"items":[{"create":{"status":409}}]}`, 1, false},
		{"unfiltered fields go to the decoder", `{"took":3,"errors":false,"items":[{"create":{"status":201}}]}`, 1, false},
		{"too few items go to the decoder", `{"errors":false,"items":[{"create":{"status":201}}]}`, 2, false},
		{"too many items go to the decoder", `{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201}}]}`, 1, false},
		{"a truncated body goes to the decoder", `{"errors":false,"items":[{"create":{"status":201}},{"create":{"sta`, 2, false},
		{"an index op goes to the decoder", `{"errors":false,"items":[{"index":{"status":201}}]}`, 1, false},
		{"a four-digit status goes to the decoder", `{"errors":false,"items":[{"create":{"status":2010}}]}`, 1, false},
		{"a 409 with its error is taken as a duplicate", `{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"[x]: version conflict, \"document\" already exists {}"}}}]}`, 2, true},
		{"a 409 with errors false goes to the decoder", `{"errors":false,"items":[{"create":{"status":409,"error":{"type":"x"}}}]}`, 1, false},
		{"a 400 goes to the decoder", `{"errors":true,"items":[{"create":{"status":400,"error":{"type":"mapper_parsing_exception"}}}]}`, 1, false},
		{"a malformed error object goes to the decoder", `{"errors":true,"items":[{"create":{"status":409,"error":{"type":}}}]}`, 1, false},
		{"an unclosed error object goes to the decoder", `{"errors":true,"items":[{"create":{"status":409,"error":{"type":"x"}]}`, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			items, ok := parseCleanBulkResponse([]byte(tc.body), tc.n)
			if ok != tc.ok {
				t.Fatalf("fast path ok %t, want %t", ok, tc.ok)
			}
			if ok && len(items) != tc.n {
				t.Errorf("%d items, want %d", len(items), tc.n)
			}
		})
	}
}

// FuzzCleanBulkResponse checks that the fast path never accepts a body the
// full decoder would read differently.
func FuzzCleanBulkResponse(f *testing.F) {
	f.Add([]byte(`{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":200}}]}`), 2)
	f.Add([]byte(`{"errors":false,"items":[{"create":{"status":201}}]}`+"\n"), 1)
	f.Add([]byte(`{"errors":true,"items":[{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"a \"b\" {c}"}}},{"create":{"status":201}}]}`), 2)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		fast, ok := parseCleanBulkResponse(body, n)
		if !ok {
			return
		}
		full, err := decodeBulkResponse(body, n)
		if err != nil {
			t.Fatalf("fast path accepted %q, the decoder refuses it: %v", body, err)
		}
		for i := range fast {
			if fast[i].Status != full.Items[i].Status || classify(&fast[i]) != classify(&full.Items[i]) ||
				(classify(&fast[i]) != outDelivered && classify(&fast[i]) != outDuplicate) {
				t.Fatalf("item %d: fast %+v, full %+v", i, fast[i], full.Items[i])
			}
		}
	})
}

func TestDocWriterSplicesTheMetaBackIn(t *testing.T) {
	tail := &record.Meta{Doc: []byte(`,"file":{"path":"/a"}}}`)}
	mid := &record.Meta{Doc: []byte(`,"host":{"name":"n"}`)}
	broken := &record.Meta{Doc: []byte(",\"host\":\n{\"name\":\"n\"}")}
	tests := []struct {
		name string
		recs []record.Record
		want string
	}{
		{"a Meta at the end", []record.Record{{Doc: []byte(`{"m":"a","log":{"offset":1`), Meta: tail, At: 26}}, `{"m":"a","log":{"offset":1,"file":{"path":"/a"}}}`},
		{"a Meta in the middle", []record.Record{{Doc: []byte(`{"m":"a","x":1}`), Meta: mid, At: 8}}, `{"m":"a","host":{"name":"n"},"x":1}`},
		{"a shared Meta is spliced into every record", []record.Record{{Doc: []byte(`{"m":"a"`), Meta: mid, At: 8}, {Doc: []byte(`{"m":"b"}`), Meta: mid, At: 8}},
			`{"m":"a","host":{"name":"n"}` + "\n" + `{"m":"b","host":{"name":"n"}}`},
		{"a Meta over two lines is compacted with its record", []record.Record{{Doc: []byte(`{"m":"a"}`), Meta: mid, At: 8}, {Doc: []byte(`{"m":"b"}`), Meta: broken, At: 8}},
			`{"m":"a","host":{"name":"n"}}` + "\n" + `{"m":"b","host":{"name":"n"}}`},
		{"an own part over two lines is compacted with the Meta", []record.Record{{Doc: []byte("{\"m\":\n\"a\"}"), Meta: mid, At: 9}},
			`{"m":"a","host":{"name":"n"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var w docWriter
			var got []byte
			for i := range tc.recs {
				got = w.appendLine(got, &tc.recs[i])
			}
			if string(got) != tc.want+"\n" {
				t.Errorf("got %q, want %q", got, tc.want+"\n")
			}
		})
	}
}

// TestACompressedBodyIsTheEncodedBody: a body compressed as it is encoded,
// in parts, decompresses to the uncompressed encoding, byte for byte.
func TestACompressedBodyIsTheEncodedBody(t *testing.T) {
	recs := testdocs.Records(3, testlogs.Docker, 3000, 300) // several streamParts
	items := make([]*item, len(recs))
	for i := range recs {
		items[i] = &item{rec: &recs[i]}
	}
	items[7].dlq = []byte(`{"message":"a dead-letter copy"}`)
	plain, enc := encodeShipper(CompressionNone, Config{}).encode(items)
	if enc != "" || len(plain) < 3*streamPart {
		t.Fatalf("plain body: %d bytes, encoding %q", len(plain), enc)
	}
	for _, mode := range []string{CompressionGzip, CompressionGzipHuffman, CompressionGzipStateless, "gzip-6"} {
		z, enc := encodeShipper(mode, Config{}).encode(items)
		zr, err := gzip.NewReader(bytes.NewReader(z))
		if err != nil || enc != "gzip" {
			t.Fatalf("%s: %v, encoding %q", mode, err, enc)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%s: the body decompresses to %d bytes (%v), want the %d of the plain encoding", mode, len(got), err, len(plain))
		}
	}
}

// TestBuffersComeBackInTheirClass: a pooled buffer always holds what it was
// asked for, whatever size it came back with.
func TestBuffersComeBackInTheirClass(t *testing.T) {
	for _, n := range []int{0, 1, 4095, 4096, 4097, 100 << 10, 1 << 20, bigBuf, bigBuf + 1, 5 << 20} {
		b := getBuf(n)
		if cap(b) < n || len(b) != 0 {
			t.Fatalf("getBuf(%d): len %d cap %d", n, len(b), cap(b))
		}
		b = append(b, make([]byte, n+n/3)...) // grown by append: an odd capacity
		putBuf(b)
		for _, m := range []int{n, n / 2, n + 1} {
			if c := getBuf(m); cap(c) < m {
				t.Fatalf("after putting back %d bytes, getBuf(%d) has cap %d", cap(b), m, cap(c))
			}
		}
	}
}

// TestABufferOneClassUpIsReused: a request whose class has no free buffer
// takes one of the class above (at most twice its size) before it allocates.
// The first compressed bodies of a run are sized before the ratio is known,
// a class above the later ones: their buffers stayed in the free list while
// every later body allocated buffers of its own class.
func TestABufferOneClassUpIsReused(t *testing.T) {
	empty := func() {
		for _, l := range classLists {
			for {
				if _, ok := l.Get(); !ok {
					break
				}
			}
		}
	}
	empty()
	defer empty()
	big := getBuf(1 << 20)
	putBuf(big)
	got := getBuf(400 << 10)
	if cap(got) != cap(big) || &got[:1][0] != &big[:1][0] {
		t.Fatalf("getBuf(400 KiB) allocated a buffer of %d bytes while one of %d was free", cap(got), cap(big))
	}
	putBuf(got)
	if small := getBuf(100 << 10); cap(small) == cap(big) {
		t.Errorf("getBuf(100 KiB) took the free buffer of %d bytes, more than twice its size", cap(big))
	}
}
