package systemd

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logspool/logspool/systemd/journalfile"
)

const corpus = "testdata/journal"

// files returns the path of a corpus file under files/.
func files(rel string) string { return filepath.Join(corpus, "files", rel) }

// rotatedDir is the rotated machine-id directory of the corpus.
var rotatedDir = files("rotated/921f4efa65fa4e412a22b9bf57dca122")

// mustReadOracle reads oracle/rel, or rel.gz when only that exists.
func mustReadOracle(t testing.TB, rel string) []byte {
	t.Helper()
	p := filepath.Join(corpus, "oracle", rel)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		f, err2 := os.Open(p + ".gz")
		if err2 != nil {
			t.Fatalf("reading oracle %s: %v", rel, err2)
		}
		defer f.Close()
		zr, err2 := gzip.NewReader(f)
		if err2 != nil {
			t.Fatalf("reading oracle %s.gz: %v", rel, err2)
		}
		b, err = io.ReadAll(zr)
	}
	if err != nil {
		t.Fatalf("reading oracle %s: %v", rel, err)
	}
	return b
}

// oracleCursors reads a .cursors oracle (one cursor a line).
func oracleCursors(t testing.TB, rel string) []string {
	t.Helper()
	return lines(mustReadOracle(t, rel))
}

// exportCursors extracts the __CURSOR values of an export oracle.
func exportCursors(t testing.TB, rel string) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(mustReadOracle(t, rel)))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if c, ok := strings.CutPrefix(sc.Text(), "__CURSOR="); ok {
			out = append(out, c)
		}
	}
	return out
}

func lines(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// readAllCursors runs a Reader to the end and returns the cursors it read.
func readAllCursors(t testing.TB, cfg ReaderConfig) ([]string, []error) {
	t.Helper()
	r, err := NewReader(cfg)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	defer r.Close()
	var out []string
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, e.Cursor())
	}
	return out, r.Problems()
}

// assertSameList fails with the first difference between got and want.
func assertSameList(t testing.TB, got, want []string) {
	t.Helper()
	n := min(len(got), len(want))
	for i := 0; i < n; i++ {
		if got[i] != want[i] {
			t.Fatalf("entry %d differs:\n got %s\nwant %s\n(%d got, %d want)", i, got[i], want[i], len(got), len(want))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
}

// fakeJournal is an in-memory journal for merge and follow tests.
type fakeJournal struct {
	path    string
	hdr     journalfile.Header
	entries []journalfile.Entry
	visible int           // entries visible after the last Refresh
	bad     map[int]error // entry index -> read error
	closed  bool
	err     error
	refErr  error // returned by Refresh while set
	// beforeRefresh, when set, runs (once) at the start of the next Refresh
	// through a lockedJournal, without the lock held: a writer acting while
	// the reader refreshes its files one after another.
	beforeRefresh func()
	// readErr makes ReadEntry of an entry fail with the error, readErrTimes
	// times (then it reads).
	readErr      map[int]error
	readErrTimes int
}

func (f *fakeJournal) Path() string               { return f.path }
func (f *fakeJournal) Header() journalfile.Header { return f.hdr }
func (f *fakeJournal) Refresh() error {
	if f.refErr != nil {
		return f.refErr
	}
	f.visible = len(f.entries)
	return nil
}
func (f *fakeJournal) NumEntries() int { return f.visible }
func (f *fakeJournal) Err() error      { return f.err }
func (f *fakeJournal) Close() error    { f.closed = true; return nil }
func (f *fakeJournal) EntryMeta(i int) (journalfile.EntryMeta, error) {
	if err := f.bad[i]; err != nil {
		return journalfile.EntryMeta{}, err
	}
	return f.entries[i].EntryMeta, nil
}
func (f *fakeJournal) ReadEntry(i int, e *journalfile.Entry) error {
	if err := f.bad[i]; err != nil {
		return err
	}
	if err := f.readErr[i]; err != nil && f.readErrTimes > 0 {
		f.readErrTimes--
		return err
	}
	*e = f.entries[i]
	return nil
}
