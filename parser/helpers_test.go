package parser

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/logspool/logspool/spool/record"
)

// fixedNow is the reading time used by tests for lines without a timestamp.
var fixedNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

const (
	testNode    = "node-1"
	testFileKey = "fk-1"
	testID      = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	testPath    = "/var/log/containers/web-7d9f.x_default_nginx-" + testID + ".log"
	testRes     = "/var/log/pods/default_web-7d9f.x_11111111-2222-3333-4444-555555555555/nginx/2.log"
)

func testConfig() Config {
	return Config{
		NodeName: testNode,
		Now:      func() time.Time { return fixedNow },
		Logger:   slog.New(slog.DiscardHandler),
	}
}

func testSource() Source {
	return Source{Path: testPath, Resolved: testRes, FileKey: testFileKey}
}

// lines turns text lines into Lines with consecutive offsets, as a tailer
// reading a file with those lines would.
func lines(text ...string) []Line {
	var out []Line
	var off int64
	for _, s := range text {
		out = append(out, Line{Bytes: []byte(s), Start: off, End: off + int64(len(s)) + 1})
		off += int64(len(s)) + 1
	}
	return out
}

// decodeAll feeds every line to d, copying each line into a buffer that is
// scribbled over afterwards (like the tailer's reused buffer), and checks the
// Pending invariants after each line.
func decodeAll(t testing.TB, d *Decoder, in []Line) []record.Record {
	t.Helper()
	var out []record.Record
	buf := make([]byte, 0, 256)
	for _, ln := range in {
		buf = append(buf[:0], ln.Bytes...)
		ln.Bytes = buf
		out = d.Decode(out, ln)
		for i := range buf {
			buf[i] = 'X'
		}
		if start, ok := d.Pending(); ok && (start > ln.Start || start < 0) {
			t.Fatalf("after line at %d: Pending() = %d, past the line just read", ln.Start, start)
		}
	}
	return out
}

// doc is a decoded document with the fields tests look at.
type doc struct {
	Timestamp string `json:"@timestamp"`
	Message   string `json:"message"`
	Stream    string `json:"stream"`
	Log       struct {
		Offset         int64    `json:"offset"`
		Flags          []string `json:"flags"`
		OriginalBase64 string   `json:"original_base64"`
		OriginalTime   string   `json:"original_time"`
		File           struct {
			Path string `json:"path"`
		} `json:"file"`
	} `json:"log"`
	Kubernetes struct {
		Namespace string `json:"namespace"`
		Pod       struct {
			Name string `json:"name"`
			UID  string `json:"uid"`
		} `json:"pod"`
		Container struct {
			Name         string `json:"name"`
			RestartCount *int   `json:"restart_count"`
		} `json:"container"`
	} `json:"kubernetes"`
	Container struct {
		ID      string `json:"id"`
		Runtime string `json:"runtime"`
	} `json:"container"`
	Host struct {
		Name string `json:"name"`
	} `json:"host"`
	Event struct {
		Dataset string `json:"dataset"`
	} `json:"event"`
	Docker struct {
		Attrs map[string]string `json:"attrs"`
	} `json:"docker"`
}

// mustDoc checks that r is a well-formed record and decodes its document.
func mustDoc(t testing.TB, r record.Record) doc {
	t.Helper()
	if cap(r.Doc) != len(r.Doc) {
		t.Fatalf("document capacity %d exceeds its length %d", cap(r.Doc), len(r.Doc))
	}
	if r.Meta == nil || r.At != len(r.Doc) {
		t.Fatalf("the record's Meta is %v at %d, want the document's tail at its end (%d)", r.Meta, r.At, len(r.Doc))
	}
	whole := r.Document()
	if !utf8.Valid(whole) {
		t.Fatalf("document is not valid UTF-8: %q", whole)
	}
	if !json.Valid(whole) {
		t.Fatalf("document is not valid JSON: %s", whole)
	}
	if bytes.HasSuffix(whole, []byte("\n")) {
		t.Fatalf("document ends in a newline")
	}
	var d doc
	dec := json.NewDecoder(bytes.NewReader(whole))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("decoding document %s: %v", whole, err)
	}
	ts, err := time.Parse(time.RFC3339Nano, d.Timestamp)
	if err != nil || len(d.Timestamp) != tsLen || !strings.HasSuffix(d.Timestamp, "Z") {
		t.Fatalf("@timestamp %q is not canonical RFC 3339 UTC with 9 digits (%v)", d.Timestamp, err)
	}
	if ts.UnixNano() != r.Time {
		t.Fatalf("Record.Time %d differs from @timestamp %s (%d)", r.Time, d.Timestamp, ts.UnixNano())
	}
	if want := record.FileID(testNode, testFileKey, d.Log.Offset); r.ID != want {
		t.Fatalf("record ID is not FileID(node, key, log.offset=%d)", d.Log.Offset)
	}
	return d
}

type recordT = record.Record
