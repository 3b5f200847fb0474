package systemd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/logspool/logspool/spool/record"
	"github.com/logspool/logspool/systemd/journalfile"
)

// testClock is a clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Unix(1_700_000_000, 0)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer is a bytes.Buffer safe for a logger and a test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// panicSink panics in the Append with the given number (1-based), once.
type panicSink struct {
	*memSink
	at    int
	calls atomic.Int64
}

func (s *panicSink) Append(ctx context.Context, recs []record.Record, cps ...record.Checkpoint) error {
	if int(s.calls.Add(1)) == s.at {
		panic("a bug below the journal input")
	}
	return s.memSink.Append(ctx, recs, cps...)
}

func TestInputRecoversFromAPanicAndResumesFromItsPosition(t *testing.T) {
	dir := t.TempDir()
	if err := mustCopyFile(files("basic-compact.journal"), filepath.Join(dir, "a.journal")); err != nil {
		t.Fatal(err)
	}
	sink := &panicSink{memSink: newMemSink(), at: 3}
	logs := &syncBuffer{}
	cfg := testConfig(dir)
	cfg.BatchSize = 50
	cfg.Metrics = NewMetrics(nil)
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	in, _ := NewInput(cfg, sink)
	want := oracleCursors(t, "basic-compact.journal.cursors")
	runInput(t, in, 10*time.Second, func() bool { return sink.count() >= len(want) })
	assertSameList(t, cursorsOf(t, sink.records()), want)
	if got := metricValue(t, cfg.Metrics.panics); got != 1 {
		t.Errorf("panics_total = %v, want 1", got)
	}
	if !strings.Contains(logs.String(), "a bug below the journal input") || !strings.Contains(logs.String(), "supervise_test.go") {
		t.Errorf("the panic and its stack were not logged:\n%s", logs.String())
	}
}

// TestInputRetriesAFileItCannotOpenWithBackoff: a file that cannot be opened
// (EMFILE here; EACCES, EIO alike) is reported once, counted once, retried
// only when its backoff has passed, and read once it opens.
func TestInputRetriesAFileItCannotOpenWithBackoff(t *testing.T) {
	dir := t.TempDir()
	if err := mustCopyFile(files("basic-compact.journal"), filepath.Join(dir, "a.journal")); err != nil {
		t.Fatal(err)
	}
	sink := newMemSink()
	logs := &syncBuffer{}
	cfg := testConfig(dir)
	cfg.Metrics = NewMetrics(nil)
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	in, _ := NewInput(cfg, sink)
	clock := newTestClock()
	in.now = clock.Now
	var attempts atomic.Int64
	in.open = func(p string) (journal, error) {
		if attempts.Add(1) <= 3 {
			return nil, &fs.PathError{Op: "open", Path: p, Err: syscall.EMFILE}
		}
		return openJournalFile(p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()

	for try := int64(1); try <= 3; try++ {
		waitUntil(t, 5*time.Second, func() bool { return attempts.Load() == try })
		polls := in.polls.Load()
		waitUntil(t, 5*time.Second, func() bool { return in.polls.Load() > polls+5 })
		if n := attempts.Load(); n != try {
			t.Fatalf("%d open attempts while the clock stood still, want %d (backoff)", n, try)
		}
		clock.Add(time.Minute) // past any backoff
	}
	waitUntil(t, 5*time.Second, func() bool { return sink.count() == 240 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := metricValue(t, cfg.Metrics.inputErrors.WithLabelValues("journal", "emfile")); got != 1 {
		t.Errorf("input_errors_total{emfile} = %v, want 1", got)
	}
	if n := strings.Count(logs.String(), "cannot use a path"); n != 1 {
		t.Errorf("the failure was logged %d times, want once:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "usable again") {
		t.Errorf("the recovery was not logged:\n%s", logs.String())
	}
}

// blockingSink blocks every Append until released.
type blockingSink struct {
	*memSink
	release chan struct{}
}

func (s *blockingSink) Append(ctx context.Context, recs []record.Record, cps ...record.Checkpoint) error {
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.memSink.Append(ctx, recs, cps...)
}

func TestInputStalledWhenItsLoopMakesNoProgress(t *testing.T) {
	dir := t.TempDir()
	if err := mustCopyFile(files("basic-compact.journal"), filepath.Join(dir, "a.journal")); err != nil {
		t.Fatal(err)
	}
	sink := &blockingSink{memSink: newMemSink(), release: make(chan struct{})}
	in, _ := NewInput(testConfig(dir), sink)
	clock := newTestClock()
	in.now = clock.Now
	if stalled, _ := in.Stalled(clock.Now().Add(time.Hour)); stalled {
		t.Fatal("an Input not started yet is stalled")
	}
	hang := make(chan struct{})
	var hung atomic.Bool
	in.open = func(p string) (journal, error) {
		if filepath.Base(p) == "hang.journal" {
			hung.Store(true)
			<-hang // a file system that does not answer
		}
		return openJournalFile(p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()

	// Waiting for the spool is not a stall: the spool reports itself.
	waitUntil(t, 5*time.Second, func() bool { return in.appending.Load() })
	if stalled, why := in.Stalled(clock.Now().Add(time.Hour)); stalled {
		t.Fatalf("stalled while waiting for the spool: %s", why)
	}
	close(sink.release)
	waitUntil(t, 5*time.Second, func() bool { return sink.count() == 240 })
	if stalled, why := in.Stalled(clock.Now()); stalled {
		t.Fatalf("stalled while polling: %s", why)
	}

	// A poll that hangs (here in open) is a stall once it lasts.
	if err := mustCopyFile(files("basic-v254.journal"), filepath.Join(dir, "hang.journal")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, hung.Load)
	if stalled, why := in.Stalled(clock.Now().Add(time.Second)); stalled {
		t.Fatalf("stalled after a second: %s", why)
	}
	stalled, why := in.Stalled(clock.Now().Add(2 * minStall))
	if !stalled || !strings.Contains(why, "no progress") {
		t.Fatalf("Stalled = %v, %q; want stalled, no progress", stalled, why)
	}
	close(hang)
	polls := in.polls.Load()
	waitUntil(t, 5*time.Second, func() bool { return in.polls.Load() > polls })
	if stalled, why := in.Stalled(clock.Now()); stalled {
		t.Fatalf("still stalled after the poll went on: %s", why)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestInputRetriesAnEntryItCannotReadForAnIOError: an I/O error (EIO from a
// flaky disk or network file system) is not damage: the entry is read again
// after a backoff, in its place in the writer's order, and the failure is
// logged once and counted once; an entry that stays unreadable is skipped
// after maxIORetries, and the rest of the file is read.
func TestInputRetriesAnEntryItCannotReadForAnIOError(t *testing.T) {
	eio := &fs.PathError{Op: "read", Path: "system.journal", Err: syscall.EIO}
	tests := []struct {
		name     string
		failures int // how many reads of entry 2 fail
		want     []uint64
	}{
		{"a transient error: the entry is shipped in its place", 3, []uint64{1, 2, 3, 4}},
		{"a lasting error: the entry is skipped, the rest shipped", 1000, []uint64{1, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newFakeDir(t)
			f := d.create("system.journal", 7, journalfile.StateArchived)
			d.append(f, 1, 2, 3, 4)
			d.mu.Lock()
			f.readErr = map[int]error{1: eio}
			f.readErrTimes = tt.failures
			d.mu.Unlock()
			sink := newMemSink()
			logs := &syncBuffer{}
			cfg := testConfig(d.dir)
			cfg.Metrics = NewMetrics(nil)
			cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
			in, err := NewInput(cfg, sink)
			if err != nil {
				t.Fatal(err)
			}
			in.open = d.open
			clock := newTestClock()
			in.now = clock.Now
			in.running.Store(true)
			if err := in.start(); err != nil {
				t.Fatal(err)
			}
			defer in.closeAll()
			for i := 0; i < 3*maxIORetries+10; i++ {
				in.poll(context.Background())
				clock.Add(time.Minute) // past any backoff
			}
			if got := seqnumsOf(t, sink.records()); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("shipped %v, want %v", got, tt.want)
			}
			if got := metricValue(t, cfg.Metrics.inputErrors.WithLabelValues("journal", "eio")); got != 1 {
				t.Errorf("input_errors_total{eio} = %v, want 1", got)
			}
			if n := strings.Count(logs.String(), "cannot use a path"); n != 1 {
				t.Errorf("logged %d times, want once:\n%s", n, logs.String())
			}
		})
	}
}

// cpFailSink fails Checkpoint the first n times.
type cpFailSink struct {
	*memSink
	n atomic.Int64
}

func (s *cpFailSink) Checkpoint(key string) ([]byte, error) {
	if s.n.Add(-1) >= 0 {
		return nil, errors.New("spool: read error")
	}
	return s.memSink.Checkpoint(key)
}

func TestInputRetriesACheckpointItCannotLoad(t *testing.T) {
	dir := t.TempDir()
	if err := mustCopyFile(files("basic-compact.journal"), filepath.Join(dir, "a.journal")); err != nil {
		t.Fatal(err)
	}
	sink := &cpFailSink{memSink: newMemSink()}
	sink.n.Store(2)
	cfg := testConfig(dir)
	cfg.Metrics = NewMetrics(nil)
	in, _ := NewInput(cfg, sink)
	runInput(t, in, 10*time.Second, func() bool { return sink.count() == 240 })
	if got := metricValue(t, cfg.Metrics.errors.WithLabelValues(reasonCheckpoint)); got != 2 {
		t.Errorf("checkpoint errors = %v, want 2", got)
	}
}
