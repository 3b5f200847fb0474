package tailer

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/logspool/logspool/spool/record"
)

// These tests run the tailer with the real parser (Config.NewDecoder nil).

func criLine(i int, stream, tag, msg string) string {
	return fmt.Sprintf("2024-05-01T10:00:%02d.%09dZ %s %s %s", i/1e9%60, i%1e9, stream, tag, msg)
}

type ecsDoc struct {
	Message    string `json:"message"`
	Stream     string `json:"stream"`
	Kubernetes struct {
		Namespace string `json:"namespace"`
		Pod       struct {
			Name string `json:"name"`
		} `json:"pod"`
		Container struct {
			Name string `json:"name"`
		} `json:"container"`
	} `json:"kubernetes"`
	Log struct {
		Offset int64    `json:"offset"`
		Flags  []string `json:"flags"`
	} `json:"log"`
}

func decodeDocs(t *testing.T, recs []record.Record) []ecsDoc {
	t.Helper()
	out := make([]ecsDoc, len(recs))
	for i, r := range recs {
		if err := json.Unmarshal(r.Doc, &out[i]); err != nil {
			t.Fatalf("record %d: %v: %s", i, err, r.Doc)
		}
	}
	return out
}

func (s *memSink) records() []record.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]record.Record(nil), s.recs...)
}

func TestRealParserJoinsAPartialAcrossARestartWithoutRepeats(t *testing.T) {
	e := newEnv(t)
	_, target := e.podLog("web", "nginx")
	mustWriteLines(t, target,
		criLine(1, "stdout", "F", "one"),
		criLine(2, "stdout", "P", "hel"),
		criLine(3, "stderr", "F", "two"),
	)
	noDecoder := func(c *Config) { c.NewDecoder = nil }
	tl := e.start(noDecoder)
	waitUntilCount(t, e.sink, 2)
	waitFor(t, 5*time.Second, "the checkpoint at the partial's start", func() bool {
		f := tl.Files()
		return len(f) == 1 && f[0].Offset == int64(len(criLine(1, "stdout", "F", "one"))+1)
	})
	tl.stop(t)
	mustWriteLines(t, target, criLine(4, "stdout", "F", "lo"), criLine(5, "stdout", "F", "three"))
	e.start(noDecoder)
	waitUntilCount(t, e.sink, 4)
	docs := decodeDocs(t, e.sink.records())
	var msgs []string
	for _, d := range docs {
		msgs = append(msgs, d.Message)
		if d.Kubernetes.Namespace != "default" || d.Kubernetes.Pod.Name != "web" || d.Kubernetes.Container.Name != "nginx" {
			t.Errorf("kubernetes metadata = %+v, want default/web/nginx", d.Kubernetes)
		}
	}
	if got := strings.Join(msgs, ","); got != "one,two,hello,three" {
		t.Fatalf("messages = %s, want one,two,hello,three", got)
	}
	seen := map[record.ID]bool{}
	for _, r := range e.sink.records() {
		if seen[r.ID] {
			t.Errorf("duplicate ID %s", r.ID)
		}
		seen[r.ID] = true
	}
}

func TestRealParserCountsCutBytesInTheSharedCounter(t *testing.T) {
	e := newEnv(t)
	path := e.containers + "/app_default_c-" + strings.Repeat("cd", 32) + ".log"
	msg := strings.Repeat("m", 3000)
	mustWriteLines(t, path, criLine(1, "stdout", "F", msg), criLine(2, "stdout", "F", "after"))
	e.start(func(c *Config) { c.NewDecoder = nil; c.MaxLineBytes = 1000 })
	waitUntilCount(t, e.sink, 2)
	docs := decodeDocs(t, e.sink.records())
	if len(docs[0].Message) != 1000 || !strings.Contains(strings.Join(docs[0].Log.Flags, ","), "truncated") {
		t.Errorf("first message has %d bytes and flags %v, want 1000 and truncated", len(docs[0].Message), docs[0].Log.Flags)
	}
	if got := e.lost(LostLineCut); got != 2000 {
		t.Errorf("line_cut = %v, want 2000 (counted by the parser through Config.Parser.CutBytes)", got)
	}
}

// TestRealParserKeepsTheStreamAndTimeOfACutDockerLine is issue 8, defect 8:
// docker writes "log" first, so a line cut at MaxLineBytes has its "stream"
// and "time" only in the part skipped; the reader hands the line's last bytes
// to the parser (parser.Line.Tail), which keeps them. One line is cut by the
// parser alone, one lies whole in the read buffer, one is longer than the
// buffer and is cut across reads.
func TestRealParserKeepsTheStreamAndTimeOfACutDockerLine(t *testing.T) {
	e := newEnv(t)
	path := e.containers + "/app_default_c-" + strings.Repeat("ef", 32) + ".log"
	line := func(n int, stream, ts string) string {
		return `{"log":"` + strings.Repeat("m", n) + `\n","stream":"` + stream + `","time":"` + ts + `"}`
	}
	mustWriteLines(t, path,
		line(3000, "stderr", "2024-05-01T10:00:01.000000001Z"),
		line(100<<10, "stdout", "2024-05-01T10:00:02.000000002Z"),
		line(600<<10, "stderr", "2024-05-01T10:00:03.000000003Z"),
		line(10, "stdout", "2024-05-01T10:00:04.000000004Z"))
	e.start(func(c *Config) { c.NewDecoder = nil; c.MaxLineBytes = 1000 })
	waitUntilCount(t, e.sink, 4)
	type doc struct {
		Timestamp string `json:"@timestamp"`
		Stream    string `json:"stream"`
		Log       struct {
			Flags []string `json:"flags"`
		} `json:"log"`
	}
	var docs []doc
	for _, r := range e.sink.records() {
		var d doc
		if err := json.Unmarshal(r.Doc, &d); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
	want := []struct{ ts, stream string }{
		{"2024-05-01T10:00:01.000000001Z", "stderr"},
		{"2024-05-01T10:00:02.000000002Z", "stdout"},
		{"2024-05-01T10:00:03.000000003Z", "stderr"},
		{"2024-05-01T10:00:04.000000004Z", "stdout"},
	}
	for i, w := range want {
		if docs[i].Timestamp != w.ts || docs[i].Stream != w.stream {
			t.Errorf("record %d: @timestamp %s stream %q, want %s %q (flags %v)", i, docs[i].Timestamp, docs[i].Stream, w.ts, w.stream, docs[i].Log.Flags)
		}
	}
}
