package shipper

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/logspool/logspool/internal/estest"
	"github.com/logspool/logspool/spool/record"
)

// TestTemplateAcceptsTheInputsDocuments ships the documents the parser and
// the systemd input produce (their golden files) into one data stream under
// the installed template: no mapping may refuse any of them, also not where
// container and journal documents meet in the same index.
func TestTemplateAcceptsTheInputsDocuments(t *testing.T) {
	var recs []record.Record
	files, _ := filepath.Glob("../parser/testdata/golden/*.ndjson")
	for _, f := range files {
		recs = append(recs, readGoldenRecords(t, f, true)...)
	}
	files, _ = filepath.Glob("../systemd/golden/*.ndjson")
	for _, f := range files {
		recs = append(recs, readGoldenRecords(t, f, false)...)
	}
	if len(recs) < 100 {
		t.Skipf("only %d golden documents found next to this package; the inputs' golden files moved", len(recs))
	}
	for _, mode := range []string{IndexModeDataStream, IndexModeDaily} {
		t.Run(mode, func(t *testing.T) {
			srv := newEstest(t, estest.Options{})
			src := newMemSource(t, recs...)
			s, _ := estestShipper(t, srv, src, func(c *Config) { c.IndexMode = mode; c.BatchBytes = 64 << 10 })
			sum := mustDrain(t, s)
			for _, d := range src.deadLetters() {
				t.Errorf("refused %s: %s", d.Record.Doc, d.Reason)
			}
			if sum.Delivered != int64(len(recs)) {
				t.Errorf("summary %+v, want %d delivered", sum, len(recs))
			}
		})
	}
}

// readGoldenRecords reads NDJSON golden files: the parser's wrap each
// document as {"_id","time","doc"}, the systemd input's are bare documents.
func readGoldenRecords(t *testing.T, path string, wrapped bool) []record.Record {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []record.Record
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 16<<20)
	for i := 0; sc.Scan(); i++ {
		line := bytes.Clone(sc.Bytes())
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		r := record.Record{ID: record.FileID("golden", path, int64(i)), Doc: line}
		if wrapped {
			var w struct {
				Time int64           `json:"time"`
				Doc  json.RawMessage `json:"doc"`
			}
			if err := json.Unmarshal(line, &w); err != nil {
				t.Fatalf("%s:%d: %v", path, i+1, err)
			}
			r.Time, r.Doc = w.Time, w.Doc
		}
		out = append(out, r)
	}
	return out
}
