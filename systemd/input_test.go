package systemd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/logspool/logspool/spool/record"
	"github.com/logspool/logspool/systemd/journalfile"
)

// memSink is an in-memory Sink that stores records and checkpoints atomically.
type memSink struct {
	mu      sync.Mutex
	recs    []record.Record
	cps     map[string][]byte
	appends int
	failAt  map[int]error // append number (1-based) -> error to return
	stopAt  int           // appends after this many block until ctx is done (a "crash")
}

func newMemSink() *memSink { return &memSink{cps: map[string][]byte{}, failAt: map[int]error{}} }

func (s *memSink) Append(ctx context.Context, recs []record.Record, cps ...record.Checkpoint) error {
	s.mu.Lock()
	s.appends++
	n := s.appends
	if err := s.failAt[n]; err != nil {
		s.mu.Unlock()
		return err
	}
	if s.stopAt > 0 && n > s.stopAt {
		s.mu.Unlock()
		<-ctx.Done()
		return ctx.Err()
	}
	defer s.mu.Unlock()
	for _, r := range recs {
		r = r.Whole()
		r.Doc = append([]byte(nil), r.Doc...)
		s.recs = append(s.recs, r)
	}
	for _, c := range cps {
		s.cps[c.Key] = append([]byte(nil), c.Value...)
	}
	return nil
}

func (s *memSink) Checkpoint(key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cps[key], nil
}

func (s *memSink) records() []record.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]record.Record(nil), s.recs...)
}

func (s *memSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs)
}

// cursorsOf returns journald.cursor of every record's document.
func cursorsOf(t testing.TB, recs []record.Record) []string {
	t.Helper()
	out := make([]string, len(recs))
	for i, r := range recs {
		var d struct {
			Journald struct {
				Cursor string `json:"cursor"`
			} `json:"journald"`
		}
		if err := json.Unmarshal(r.Doc, &d); err != nil {
			t.Fatalf("record %d: invalid JSON: %v\n%s", i, err, r.Doc)
		}
		out[i] = d.Journald.Cursor
	}
	return out
}

// runInput runs in until cond holds (polled) or the timeout passes, then
// stops it and waits for Run to return.
func runInput(t *testing.T, in *Input, timeout time.Duration, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	waitUntil(t, timeout, cond)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// waitUntil polls cond every 10ms until it holds, failing after timeout.
func waitUntil(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mustCopyTree copies the corpus directory src into a new temp dir.
func mustCopyTree(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		return mustCopyFile(p, target)
	})
	if err != nil {
		t.Fatalf("copying %s: %v", src, err)
	}
	return dst
}

func mustCopyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// testConfig polls every 20 ms whether or not inotify reports a change
// (ResyncInterval = PollInterval): most tests change journals in memory
// (fakeJournal), which makes no event. The tests of the notifications set a
// long ResyncInterval (eventConfig).
func testConfig(dirs ...string) Config {
	return Config{Dirs: dirs, NodeName: "node-1", PollInterval: 20 * time.Millisecond, ResyncInterval: 20 * time.Millisecond,
		BatchSize: 64, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func TestInputShipsTheRotatedDirectoryInOrder(t *testing.T) {
	dir := mustCopyTree(t, rotatedDir)
	sink := newMemSink()
	reg := prometheus.NewRegistry()
	cfg := testConfig(dir)
	cfg.Metrics = NewMetrics(reg)
	in, err := NewInput(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	want := oracleCursors(t, "rotated.dir.cursors")
	runInput(t, in, 20*time.Second, func() bool { return sink.count() >= len(want) })
	recs := sink.records()
	assertSameList(t, cursorsOf(t, recs), want)
	ids := map[record.ID]bool{}
	for _, r := range recs {
		if ids[r.ID] {
			t.Fatalf("duplicate id %s", r.ID)
		}
		ids[r.ID] = true
	}
	if got := metricValue(t, cfg.Metrics.entries); got != float64(len(want)) {
		t.Errorf("entries_total = %v, want %d", got, len(want))
	}
	if sink.cps["j/journal"] == nil {
		t.Error("no checkpoint stored")
	}
}

func TestInputResumesAfterARestartWithoutLossOrDuplicates(t *testing.T) {
	dir := mustCopyTree(t, rotatedDir)
	want := oracleCursors(t, "rotated.dir.cursors")
	sink := newMemSink()
	var got []string
	// Each run stores a few batches and then "crashes" (appends hang until
	// the context ends), like a kill -9 between two commits.
	for run := 0; run < 100 && len(got) < len(want); run++ {
		sink.mu.Lock()
		sink.appends = 0
		sink.stopAt = 3
		sink.mu.Unlock()
		cfg := testConfig(dir)
		cfg.BatchSize = 17
		in, err := NewInput(cfg, sink)
		if err != nil {
			t.Fatal(err)
		}
		before := sink.count()
		runInput(t, in, 10*time.Second, func() bool {
			sink.mu.Lock()
			defer sink.mu.Unlock()
			return sink.appends > 3 || len(sink.recs) == len(want)
		})
		if sink.count() == before {
			t.Fatalf("run %d stored nothing", run)
		}
		got = cursorsOf(t, sink.records())
	}
	assertSameList(t, got, want)
}

func TestInputResumesAfterTheCheckpointFileWasDeleted(t *testing.T) {
	dir := mustCopyTree(t, rotatedDir)
	sink := newMemSink()
	in, _ := NewInput(testConfig(dir), sink)
	runInput(t, in, 10*time.Second, func() bool { return sink.count() >= 1053 })
	// Vacuum the oldest archived file and the .journal~ file, then restart:
	// nothing may be shipped again.
	matches, _ := filepath.Glob(filepath.Join(dir, "system@*-0000000000000001-*.journal"))
	tilde, _ := filepath.Glob(filepath.Join(dir, "*.journal~"))
	for _, p := range append(matches, tilde...) {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	in2, _ := NewInput(testConfig(dir), sink)
	var opened []string
	in2.open = func(p string) (journal, error) {
		opened = append(opened, filepath.Base(p))
		return openJournalFile(p)
	}
	runInput(t, in2, 5*time.Second, func() bool { return in2.polls.Load() > 5 })
	if n := sink.count(); n != 1053 {
		t.Fatalf("after restart %d records, want 1053 (nothing new)", n)
	}
	// The archived files already shipped are not even opened.
	for _, name := range opened {
		if strings.HasPrefix(name, "system@") {
			t.Errorf("opened the shipped archived file %s", name)
		}
	}
	if len(opened) != 2 {
		t.Errorf("opened %v, want system.journal and user-1000.journal", opened)
	}
}

func TestInputFiltersUnitsAndHonoursSince(t *testing.T) {
	dir := t.TempDir()
	if err := mustCopyFile(files("multiboot.journal"), filepath.Join(dir, "system.journal")); err != nil {
		t.Fatal(err)
	}
	want := exportCursors(t, "multiboot.journal.u-kubelet.export")
	sink := newMemSink()
	cfg := testConfig(dir)
	cfg.Units = []string{"kubelet"}
	in, _ := NewInput(cfg, sink)
	runInput(t, in, 10*time.Second, func() bool { return sink.count() >= len(want) })
	assertSameList(t, cursorsOf(t, sink.records()), want)

	// Since: only entries at or after the realtime of the 100th kubelet entry.
	c, err := ParseCursor(want[100])
	if err != nil {
		t.Fatal(err)
	}
	var wantSince []string
	for _, w := range want {
		wc, _ := ParseCursor(w)
		if wc.Realtime >= c.Realtime {
			wantSince = append(wantSince, w)
		}
	}
	sink2 := newMemSink()
	cfg.Since = time.UnixMicro(int64(c.Realtime))
	in2, _ := NewInput(cfg, sink2)
	runInput(t, in2, 10*time.Second, func() bool { return sink2.count() >= len(wantSince) })
	assertSameList(t, cursorsOf(t, sink2.records()), wantSince)
}

func TestInputRetriesAFailedAppendWithoutLosingTheBatch(t *testing.T) {
	dir := t.TempDir()
	if err := mustCopyFile(files("basic-compact.journal"), filepath.Join(dir, "a.journal")); err != nil {
		t.Fatal(err)
	}
	sink := newMemSink()
	sink.failAt[1] = errors.New("disk on fire")
	sink.failAt[2] = errors.New("disk still on fire")
	cfg := testConfig(dir)
	cfg.Metrics = NewMetrics(nil)
	in, _ := NewInput(cfg, sink)
	want := oracleCursors(t, "basic-compact.journal.cursors")
	runInput(t, in, 10*time.Second, func() bool { return sink.count() >= len(want) })
	assertSameList(t, cursorsOf(t, sink.records()), want)
	if got := metricValue(t, cfg.Metrics.errors.WithLabelValues(reasonAppend)); got != 2 {
		t.Errorf("append errors = %v, want 2", got)
	}
}

func TestInputReadsDamagedFilesAndKeepsGoing(t *testing.T) {
	dir := mustCopyTree(t, files("corrupt"))
	if err := mustCopyFile(files("basic-v254.journal"), filepath.Join(dir, "good.journal")); err != nil {
		t.Fatal(err)
	}
	sink := newMemSink()
	reg := prometheus.NewRegistry()
	cfg := testConfig(dir)
	cfg.Metrics = NewMetrics(reg)
	in, _ := NewInput(cfg, sink)
	// Every entry a Reader salvages from each file on its own, once: the
	// truncated and zeroed-tail copies of multiboot share a seqnum_id, so
	// their common entries are shipped once.
	want := map[string]bool{}
	for _, n := range []string{"truncated", "zeroed-tail", "garbage-entry", "bad-item-offset", "bad-compressed"} {
		one, _ := readAllCursors(t, ReaderConfig{Files: []string{files("corrupt/" + n + ".journal")}})
		for _, c := range one {
			want[c] = true
		}
	}
	good, _ := readAllCursors(t, ReaderConfig{Files: []string{files("basic-v254.journal")}})
	for _, c := range good {
		want[c] = true
	}
	runInput(t, in, 20*time.Second, func() bool { return sink.count() >= len(want) && in.polls.Load() > 20 })
	recs := sink.records()
	got := cursorsOf(t, recs)
	seen := map[string]bool{}
	for i, c := range got {
		if seen[c] {
			t.Fatalf("entry %s shipped twice", c)
		}
		seen[c] = true
		if !want[c] {
			t.Fatalf("entry %s is in no file", c)
		}
		if !json.Valid(recs[i].Doc) {
			t.Fatalf("invalid JSON document: %s", recs[i].Doc)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	// Refused files (bad signature, unknown flag, empty) are reported once
	// each, however often the directory is polled.
	if got := metricValue(t, cfg.Metrics.errors.WithLabelValues(reasonOpen)); got != 3 {
		t.Errorf("open errors = %v, want 3 (one per refused file)", got)
	}
	// truncated, zeroed-tail, garbage-entry, bad-item-offset and
	// bad-compressed (the zstd decoder catches the garbled frame).
	if got := metricValue(t, cfg.Metrics.corrupt); got != 5 {
		t.Errorf("corrupt files = %v, want 5", got)
	}
}

func TestInputRetriesARefusedFileWhenItChanges(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "system.journal")
	if err := os.WriteFile(p, nil, 0o644); err != nil { // journald's 0-byte file
		t.Fatal(err)
	}
	sink := newMemSink()
	cfg := testConfig(dir)
	cfg.Metrics = NewMetrics(nil)
	in, _ := NewInput(cfg, sink)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	waitUntil(t, 5*time.Second, func() bool {
		return metricValue(t, cfg.Metrics.errors.WithLabelValues(reasonOpen)) == 1
	})
	// Write the real content through a temp file + rename (a new inode and size).
	if err := mustCopyFile(files("basic-compact.journal"), p+".tmp"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, func() bool { return sink.count() == 240 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// fakeDir is a directory of placeholder files whose content the fake opener
// serves from in-memory journals, so tests can append, rotate and delete.
type fakeDir struct {
	t    testing.TB
	dir  string
	mu   sync.Mutex
	byFn map[string]*fakeJournal // placeholder path at open time -> journal
}

func newFakeDir(t testing.TB) *fakeDir {
	return &fakeDir{t: t, dir: t.TempDir(), byFn: map[string]*fakeJournal{}}
}

func (d *fakeDir) create(name string, sid byte, state uint8) *fakeJournal {
	d.t.Helper()
	p := filepath.Join(d.dir, name)
	if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
		d.t.Fatal(err)
	}
	f := &fakeJournal{path: p, hdr: journalfile.Header{State: state}}
	f.hdr.SeqnumID[0] = sid
	d.mu.Lock()
	d.byFn[p] = f
	d.mu.Unlock()
	return f
}

// runInput starts an Input with cfg that reads d's fake journals; stop ends
// it and checks that Run returned nil.
func (d *fakeDir) runInput(t *testing.T, cfg Config, sink Sink) (in *Input, stop func()) {
	t.Helper()
	in, err := NewInput(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	in.open = d.open
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	return in, func() {
		t.Helper()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func (d *fakeDir) open(p string) (journal, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f, ok := d.byFn[p]
	if !ok {
		return nil, journalfile.ErrNotJournal
	}
	f.Refresh()
	return &lockedJournal{f: f, mu: &d.mu}, nil
}

// append adds entries with the given seqnums to f (visible after Refresh).
func (d *fakeDir) append(f *fakeJournal, seqnums ...uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range seqnums {
		e := journalfile.Entry{EntryMeta: journalfile.EntryMeta{
			Seqnum: s, SeqnumID: f.hdr.SeqnumID, Realtime: 1_700_000_000_000_000 + s*1000, Monotonic: s * 1000, XorHash: s,
		}}
		e.BootID[0] = 1
		e.Fields = []journalfile.Field{{Name: "MESSAGE", Value: []byte("entry")}, {Name: "_SYSTEMD_UNIT", Value: []byte("kubelet.service")}}
		f.entries = append(f.entries, e)
		if f.hdr.HeadEntrySeqnum == 0 {
			f.hdr.HeadEntrySeqnum = s
		}
		f.hdr.TailEntrySeqnum = s
	}
}

func (d *fakeDir) setState(f *fakeJournal, state uint8) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f.hdr.State = state
}

// lockedJournal guards a fakeJournal shared between the test and the Input.
type lockedJournal struct {
	f  *fakeJournal
	mu *sync.Mutex
}

func (l *lockedJournal) Path() string { return l.f.path }
func (l *lockedJournal) Header() journalfile.Header {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.hdr
}
func (l *lockedJournal) Refresh() error {
	l.mu.Lock()
	hook := l.f.beforeRefresh
	l.f.beforeRefresh = nil
	l.mu.Unlock()
	if hook != nil {
		hook()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Refresh()
}
func (l *lockedJournal) NumEntries() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.NumEntries()
}
func (l *lockedJournal) Err() error   { return nil }
func (l *lockedJournal) Close() error { l.mu.Lock(); defer l.mu.Unlock(); return l.f.Close() }
func (l *lockedJournal) EntryMeta(i int) (journalfile.EntryMeta, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.EntryMeta(i)
}
func (l *lockedJournal) ReadEntry(i int, e *journalfile.Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.ReadEntry(i, e)
}

func seqnumsOf(t testing.TB, recs []record.Record) []uint64 {
	t.Helper()
	out := make([]uint64, len(recs))
	for i, c := range cursorsOf(t, recs) {
		pc, err := ParseCursor(c)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = pc.Seqnum
	}
	return out
}

func TestInputFollowsAppendsRotationAndDeletion(t *testing.T) {
	d := newFakeDir(t)
	active := d.create("system.journal", 7, journalfile.StateOnline)
	d.append(active, 1, 2, 3)
	sink := newMemSink()
	_, stop := d.runInput(t, testConfig(d.dir), sink)
	waitUntil(t, 5*time.Second, func() bool { return sink.count() == 3 })

	// Appended entries arrive within a second.
	start := time.Now()
	d.append(active, 4, 5)
	waitUntil(t, time.Second, func() bool { return sink.count() == 5 })
	t.Logf("appended entries arrived after %v", time.Since(start))

	// Rotation: the last entries go to the old file, which is archived and
	// renamed; a new active file continues the seqnums.
	d.append(active, 6, 7)
	d.setState(active, journalfile.StateArchived)
	if err := os.Rename(active.path, filepath.Join(d.dir, "system@0007-0000000000000001-0000000000000001.journal")); err != nil {
		t.Fatal(err)
	}
	next := d.create("system.journal", 7, journalfile.StateOnline)
	d.append(next, 8, 9)
	waitUntil(t, 2*time.Second, func() bool { return sink.count() == 9 })

	// Deletion: entries appended just before the file is deleted are still read.
	d.append(next, 10)
	if err := os.Remove(next.path); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Second, func() bool { return sink.count() == 10 })
	waitUntil(t, 2*time.Second, func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return next.closed && active.closed
	})
	stop()
	got := seqnumsOf(t, sink.records())
	for i, s := range got {
		if s != uint64(i+1) {
			t.Fatalf("seqnums %v, want 1..10 in order", got)
		}
	}
}

func TestInputWaitsForAHalfWrittenTailEntry(t *testing.T) {
	d := newFakeDir(t)
	active := d.create("system.journal", 7, journalfile.StateOnline)
	d.append(active, 1, 2)
	d.mu.Lock()
	active.bad = map[int]error{1: &journalfile.CorruptionError{Path: active.path, Reason: "half written"}}
	d.mu.Unlock()
	sink := newMemSink()
	_, stop := d.runInput(t, testConfig(d.dir), sink)
	waitUntil(t, 5*time.Second, func() bool { return sink.count() == 1 })
	d.mu.Lock()
	active.bad = nil // the writer finished the entry
	d.mu.Unlock()
	waitUntil(t, 5*time.Second, func() bool { return sink.count() == 2 })
	stop()
}

func TestConfigValidateNamesTheBadField(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"an empty directory is refused", Config{Dirs: []string{""}}, "Dirs[0]"},
		{"an empty unit is refused", Config{Units: []string{" "}}, "Units[0]"},
		{"a bad exclude glob is refused", Config{ExcludeUnits: []string{"a["}}, "ExcludeUnits[0]"},
		{"a negative poll interval is refused", Config{PollInterval: -1}, "PollInterval"},
		{"a negative batch size is refused", Config{BatchSize: -1}, "BatchSize"},
		{"a name with a slash is refused", Config{Name: "a/b"}, "Name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if err == nil || !contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.want)
			}
		})
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero Config: %v", err)
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || len(s) >= len(sub) && (s == sub || indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// metricValue reads the value of a gauge or counter.
func metricValue(t testing.TB, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

func TestInputResumesWhenTheLastShippedEntrysFileIsGone(t *testing.T) {
	dir := mustCopyTree(t, rotatedDir)
	want := oracleCursors(t, "rotated.dir.cursors")
	// Find where the .journal~ file's entries (seqnums 270..330) sit in the
	// merged order and stop the first run in the middle of them.
	tilde, _ := filepath.Glob(filepath.Join(dir, "*.journal~"))
	oldest, _ := filepath.Glob(filepath.Join(dir, "system@*-0000000000000001-*.journal"))
	if len(tilde) != 1 || len(oldest) != 1 {
		t.Fatalf("corpus layout changed: %v %v", tilde, oldest)
	}
	inTilde, _ := readAllCursors(t, ReaderConfig{Files: tilde})
	inOldest, _ := readAllCursors(t, ReaderConfig{Files: oldest})
	gone := map[string]bool{}
	for _, c := range append(inTilde, inOldest...) {
		gone[c] = true
	}
	stopAfter := 0
	for i, c := range want {
		if c == inTilde[len(inTilde)/2] {
			stopAfter = i + 1
		}
	}
	sink := newMemSink()
	cfg := testConfig(dir)
	cfg.BatchSize = stopAfter
	sink.stopAt = 1 // one batch, then "crash"
	in, _ := NewInput(cfg, sink)
	runInput(t, in, 10*time.Second, func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return sink.appends > 1
	})
	if sink.count() != stopAfter {
		t.Fatalf("first run stored %d, want %d", sink.count(), stopAfter)
	}
	// The files holding the last shipped entry and everything before it are
	// vacuumed while the agent is down.
	for _, p := range append(tilde, oldest...) {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	sink.mu.Lock()
	sink.stopAt = 0
	sink.mu.Unlock()
	in2, _ := NewInput(testConfig(dir), sink)
	var expect []string
	expect = append(expect, want[:stopAfter]...)
	for _, c := range want[stopAfter:] {
		if !gone[c] {
			expect = append(expect, c)
		}
	}
	runInput(t, in2, 10*time.Second, func() bool { return sink.count() >= len(expect) && in2.polls.Load() > 3 })
	assertSameList(t, cursorsOf(t, sink.records()), expect)
}

func TestPositionSurvivesItsCheckpointEncoding(t *testing.T) {
	p := newPosition()
	for i := 0; i < maxSeqnumIDs+10; i++ {
		m := journalfile.EntryMeta{Seqnum: uint64(i + 1), Realtime: uint64(1000 + i), Monotonic: 7}
		m.SeqnumID[0], m.SeqnumID[1] = byte(i), byte(i>>8)
		p.advance(&m)
	}
	b := p.marshal()
	q, err := parsePosition(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(q.seqnums) != maxSeqnumIDs || !q.trimmed {
		t.Fatalf("kept %d marks (trimmed=%v), want %d and trimmed", len(q.seqnums), q.trimmed, maxSeqnumIDs)
	}
	if q.cursor != p.cursor || !q.hasCursor {
		t.Fatalf("cursor %v, want %v", q.cursor, p.cursor)
	}
	last := p.cursor.SeqnumID
	if _, ok := q.seqnums[last]; !ok {
		t.Fatal("the mark of the last entry's writer was forgotten")
	}
	for _, bad := range []string{"", "{", `{"v":2}`, `{"v":1,"cursor":"zz"}`, `{"v":1,"seqnums":{"xyz":[1,2]}}`} {
		if _, err := parsePosition([]byte(bad)); err == nil {
			t.Errorf("parsePosition(%q) accepted a bad checkpoint", bad)
		}
	}
}

func TestInputStartsOverFromAnUnreadableCheckpoint(t *testing.T) {
	dir := t.TempDir()
	if err := mustCopyFile(files("basic-compact.journal"), filepath.Join(dir, "a.journal")); err != nil {
		t.Fatal(err)
	}
	sink := newMemSink()
	sink.cps["j/journal"] = []byte("garbage")
	cfg := testConfig(dir)
	cfg.Metrics = NewMetrics(nil)
	in, _ := NewInput(cfg, sink)
	runInput(t, in, 10*time.Second, func() bool { return sink.count() >= 240 })
	if got := metricValue(t, cfg.Metrics.errors.WithLabelValues(reasonCheckpoint)); got != 1 {
		t.Errorf("checkpoint errors = %v, want 1", got)
	}
}

func TestInputShipsEveryEntryWhenClocksDisagree(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"interleave/node-a.journal", "interleave/node-b.journal", "interleave/node-a-copy.journal", "interleave-skew/node-a-user-skew.journal"} {
		if err := mustCopyFile(files(f), filepath.Join(dir, filepath.Base(f))); err != nil {
			t.Fatal(err)
		}
	}
	sink := newMemSink()
	cfg := testConfig(dir)
	cfg.BatchSize = 7
	in, _ := NewInput(cfg, sink)
	runInput(t, in, 10*time.Second, func() bool { return sink.count() >= 135 && in.polls.Load() > 3 })
	got := cursorsOf(t, sink.records())
	seen := map[string]bool{}
	for _, c := range got {
		if seen[c] {
			t.Fatalf("entry %s shipped twice", c)
		}
		seen[c] = true
	}
	if len(got) != 135 {
		t.Fatalf("shipped %d entries, want 135 (60 node-a, 60 node-b, 15 skewed; the copy once)", len(got))
	}
}

func TestInputReopensAFileWhoseHeaderCannotBeRead(t *testing.T) {
	d := newFakeDir(t)
	active := d.create("system.journal", 7, journalfile.StateOnline)
	d.append(active, 1, 2, 3)
	sink := newMemSink()
	cfg := testConfig(d.dir)
	cfg.Metrics = NewMetrics(nil)
	_, stop := d.runInput(t, cfg, sink)
	waitUntil(t, 5*time.Second, func() bool { return sink.count() == 3 })
	d.mu.Lock()
	active.refErr = errors.New("the file was replaced")
	d.mu.Unlock()
	waitUntil(t, 5*time.Second, func() bool {
		return metricValue(t, cfg.Metrics.errors.WithLabelValues(reasonRefresh)) >= 1
	})
	d.append(active, 4, 5)
	d.mu.Lock()
	active.refErr = nil
	d.mu.Unlock()
	waitUntil(t, 5*time.Second, func() bool { return sink.count() >= 5 })
	stop()
	got := seqnumsOf(t, sink.records())
	for i, s := range got {
		if s != uint64(i+1) {
			t.Fatalf("seqnums %v, want 1..5 once each", got)
		}
	}
}

// metaSink keeps records as the Input hands them over: their own part
// copied, their Meta shared.
type metaSink struct {
	memSink
}

func (s *metaSink) Append(ctx context.Context, recs []record.Record, cps ...record.Checkpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		r.Doc = bytes.Clone(r.Doc)
		s.recs = append(s.recs, r)
	}
	for _, c := range cps {
		s.cps[c.Key] = bytes.Clone(c.Value)
	}
	return nil
}

// TestInputSharesTheBootsMembersInOneMeta: the records of a boot share one
// Meta (event and host), a new boot gets a new one, and the documents with
// their Meta spliced back are the encoder's, byte for byte.
func TestInputSharesTheBootsMembersInOneMeta(t *testing.T) {
	dir := t.TempDir()
	if err := mustCopyFile(files("multiboot.journal"), filepath.Join(dir, "system.journal")); err != nil {
		t.Fatal(err)
	}
	golden, err := os.ReadFile(filepath.Join("golden", "multiboot.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	want := lines(golden)
	sink := &metaSink{memSink: *newMemSink()}
	cfg := testConfig(dir)
	cfg.MaxFieldBytes = 4096 // as the golden file was encoded
	in, err := NewInput(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	runInput(t, in, 20*time.Second, func() bool { return sink.count() >= len(want) })
	recs := sink.records()
	got := make([]string, len(recs))
	metas := map[*record.Meta]bool{}
	boots := map[string]bool{}
	for i, r := range recs {
		if r.Meta == nil || r.At <= 0 || r.At > len(r.Doc) || !bytes.HasPrefix(r.Meta.Doc, []byte(`,"event":{"dataset":"journald"`)) {
			t.Fatalf("record %d: Meta %v at %d of %s", i, r.Meta, r.At, r.Doc)
		}
		metas[r.Meta] = true
		got[i] = string(r.Document())
		var d struct {
			Host struct {
				Boot struct{ ID string } `json:"boot"`
			} `json:"host"`
		}
		if err := json.Unmarshal(r.Document(), &d); err != nil {
			t.Fatal(err)
		}
		boots[d.Host.Boot.ID] = true
	}
	assertSameList(t, got, want)
	if len(boots) < 2 || len(metas) != len(boots) {
		t.Errorf("%d Metas for %d boots, want one each", len(metas), len(boots))
	}
}
