package tailer

// Issue 10: the tailer's memory is bounded in total, not per file, and idle
// files cost nothing. Each of the first four tests was seen failing on the
// code before the memory budget (the figure is in its comment).

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/logspool/logspool/internal/membudget"
	"github.com/logspool/logspool/spool/record"
)

// heapInUse returns the live heap after two collections (the second one
// also empties the pools' victim caches).
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

// blockingSink is a Sink whose Appends with records wait until it is opened
// (a full spool), counting the appenders that wait.
type blockingSink struct {
	*memSink
	open    chan struct{}
	waiting atomic.Int64
	maxDocs atomic.Int64 // the most document bytes of one Append
}

func newBlockingSink() *blockingSink {
	return &blockingSink{memSink: newMemSink(), open: make(chan struct{})}
}

func (s *blockingSink) Append(ctx context.Context, recs []record.Record, cps ...record.Checkpoint) error {
	var docs int64
	for i := range recs {
		docs += int64(len(recs[i].Doc))
	}
	for old := s.maxDocs.Load(); docs > old && !s.maxDocs.CompareAndSwap(old, docs); old = s.maxDocs.Load() {
	}
	if len(recs) > 0 {
		s.waiting.Add(1)
		select {
		case <-s.open:
		case <-ctx.Done():
			s.waiting.Add(-1)
			return ctx.Err()
		}
		s.waiting.Add(-1)
	}
	return s.memSink.Append(ctx, recs, cps...)
}

// settle waits until cond's value has not changed for 2 s (and is above 0),
// within timeout.
func settle(t *testing.T, timeout time.Duration, what string, value func() int64) int64 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last, since := int64(-1), time.Now()
	for {
		v := value()
		if v != last {
			last, since = v, time.Now()
		}
		if v > 0 && time.Since(since) >= 2*time.Second {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s to settle (now %d)", timeout, what, v)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBlockedFilesHoldBoundedMemory: 120 files with more than a batch each,
// and a spool that accepts nothing. Before the budget every reader held its
// 256 KiB buffer and a full batch while it waited (67 MiB more heap with
// these files); now what all of them hold is bounded by the budget (16 MiB
// by default), and the rest of their bytes wait on disk. Then the spool
// opens and every line arrives once.
func TestBlockedFilesHoldBoundedMemory(t *testing.T) {
	e := newEnv(t)
	const files, lines = 120, 4000 // 400 KiB each
	for i := 0; i < files; i++ {
		mustWriteLines(t, filepath.Join(e.containers, fmt.Sprintf("f%03d.log", i)), seqLines(fmt.Sprintf("f%03d", i), 0, lines)...)
	}
	sink := newBlockingSink()
	base := heapInUse()
	cfg := e.config()
	cfg.Logger = discardLogger()
	tl, err := New(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	r := e.run(tl)
	blocked := settle(t, 60*time.Second, "the readers waiting for the spool", sink.waiting.Load)
	held := heapInUse() - base
	t.Logf("%d readers wait for the spool; the heap holds %.1f MiB more than before the start", blocked, float64(held)/(1<<20))
	if held > 32<<20 {
		t.Errorf("%d files blocked on a full spool hold %.1f MiB of heap, want at most 32 MiB (the budget is 16 MiB)", files, float64(held)/(1<<20))
	}
	close(sink.open)
	waitFor(t, 60*time.Second, "every line", func() bool { return sink.count() >= files*lines })
	r.stop(t)
	msgs := sink.messages()
	for i := 0; i < files; i++ {
		checkExactlyOnce(t, msgs, fmt.Sprintf("f%03d", i), lines)
	}
}

// TestEmptyLinesAreBatchedByDocumentBytes: 200,000 empty lines make 200,000
// documents of a few hundred bytes from 200 KB of input. Before, a batch was
// bounded by input bytes only (256 KiB: this whole file, 43 MB of documents
// in one Append); now it is bounded by BatchDocBytes (1 MiB) as well.
func TestEmptyLinesAreBatchedByDocumentBytes(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.containers, "web_default_nginx-"+strings.Repeat("ab", 32)+".log")
	if err := os.WriteFile(path, bytes.Repeat([]byte{'\n'}, 200_000), 0o644); err != nil {
		t.Fatal(err)
	}
	sink := newBlockingSink()
	close(sink.open)
	cfg := e.config()
	cfg.NewDecoder = nil // the real parser: every empty line a document flagged malformed_cri
	cfg.Logger = discardLogger()
	tl, err := New(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	r := e.run(tl)
	waitFor(t, 60*time.Second, "200,000 documents", func() bool { return sink.count() >= 200_000 })
	r.stop(t)
	if max := sink.maxDocs.Load(); max > DefaultBatchDocBytes+4<<10 {
		t.Errorf("one append carried %.1f MiB of documents, want at most the 1 MiB of BatchDocBytes (plus a document)", float64(max)/(1<<20))
	}
	if n := sink.count(); n != 200_000 {
		t.Errorf("%d documents, want 200,000", n)
	}
}

// TestIdleFilesEndingInAPartialLineHoldNoBuffers: 300 files each end in a
// line without its '\n' (the runtime is in the middle of it) and then stay
// quiet. Before, each reader kept its 256 KiB buffer with the partial line
// in it (300 files: 77 MiB of heap); now the buffer goes back and the line is
// read again when it is completed. Completing the lines then ships each
// once, whole.
func TestIdleFilesEndingInAPartialLineHoldNoBuffers(t *testing.T) {
	e := newEnv(t)
	const files = 300
	paths := make([]string, files)
	for i := range paths {
		paths[i] = filepath.Join(e.containers, fmt.Sprintf("p%03d.log", i))
		mustWriteLines(t, paths[i], seqLines(fmt.Sprintf("p%03d", i), 0, 3)...)
		mustAppend(t, paths[i], seqLine(fmt.Sprintf("p%03d", i), 3)[:40])
	}
	base := heapInUse()
	tl := e.start(func(c *Config) {
		c.PartialIdle = time.Hour // not flushed as partial during the test
		c.Logger = discardLogger()
	})
	waitUntilCount(t, e.sink, files*3)
	settle(t, 30*time.Second, "the committed lines", func() int64 { return int64(e.sink.count()) })
	held := heapInUse() - base
	t.Logf("%d idle files ending in a partial line: %.1f MiB more heap", files, float64(held)/(1<<20))
	if held > 16<<20 {
		t.Errorf("%d idle files hold %.1f MiB of heap, want at most 16 MiB", files, float64(held)/(1<<20))
	}
	for i, p := range paths {
		mustAppend(t, p, seqLine(fmt.Sprintf("p%03d", i), 3)[40:]+"\n")
	}
	waitUntilCount(t, e.sink, files*4)
	tl.stop(t)
	msgs := e.sink.messages()
	for i := range paths {
		checkExactlyOnce(t, msgs, fmt.Sprintf("p%03d", i), 4)
	}
}

// TestIdleReadersDoNotWakeUp: 200 files read to their end and left alone.
// Before, every reader polled its file (fstat and more, at most every 250
// ms: 1,632 reader wake-ups in 2 s); now a reader waits for a notification
// and does not run at all while its file is quiet.
func TestIdleReadersDoNotWakeUp(t *testing.T) {
	e := newEnv(t)
	const files = 200
	for i := 0; i < files; i++ {
		mustWriteLines(t, filepath.Join(e.containers, fmt.Sprintf("i%03d.log", i)), seqLines(fmt.Sprintf("i%03d", i), 0, 5)...)
	}
	cfg := e.config()
	cfg.Logger = discardLogger()
	tl, err := New(cfg, e.sink)
	if err != nil {
		t.Fatal(err)
	}
	var wakeups atomic.Int64
	tl.hook = func(p string) {
		if p == "read" {
			wakeups.Add(1)
		}
	}
	r := e.run(tl)
	waitUntilCount(t, e.sink, files*5)
	time.Sleep(500 * time.Millisecond) // the last commits
	before := wakeups.Load()
	time.Sleep(2 * time.Second)
	n := wakeups.Load() - before
	t.Logf("%d reader wake-ups in 2 s of %d idle files", n, files)
	if n > 20 {
		t.Errorf("%d reader wake-ups in 2 s of %d idle files, want none", n, files)
	}
	// A write still wakes its reader at once.
	mustWriteLines(t, filepath.Join(e.containers, "i007.log"), seqLines("i007", 5, 6)...)
	waitUntilCount(t, e.sink, files*5+1)
	r.stop(t)
}

// TestMaxOpenFilesTakesTurns: 60 files and room for 5 open ones: every file
// is read, never more than 5 are open at once, and files written again are
// read again, by turns.
func TestMaxOpenFilesTakesTurns(t *testing.T) {
	e := newEnv(t)
	const files, limit = 60, 5
	for i := 0; i < files; i++ {
		mustWriteLines(t, filepath.Join(e.containers, fmt.Sprintf("m%03d.log", i)), seqLines(fmt.Sprintf("m%03d", i), 0, 10)...)
	}
	cfg := e.config()
	cfg.MaxOpenFiles = limit
	cfg.Logger = discardLogger()
	tl, err := New(cfg, e.sink)
	if err != nil {
		t.Fatal(err)
	}
	var most atomic.Int64
	tl.hook = func(p string) {
		if n := tl.nOpen.Load(); p == "read" && n > most.Load() {
			most.Store(n)
		}
	}
	r := e.run(tl)
	waitUntilCount(t, e.sink, files*10)
	for i := 0; i < files; i++ {
		mustWriteLines(t, filepath.Join(e.containers, fmt.Sprintf("m%03d.log", i)), seqLines(fmt.Sprintf("m%03d", i), 10, 20)...)
	}
	waitUntilCount(t, e.sink, files*20)
	r.stop(t)
	msgs := e.sink.messages()
	for i := 0; i < files; i++ {
		checkExactlyOnce(t, msgs, fmt.Sprintf("m%03d", i), 20)
	}
	if m := most.Load(); m > limit {
		t.Errorf("%d files open at once, want at most %d", m, limit)
	}
}

// TestCopytruncateWhileWaitingForTheSpoolWithOneSlotCountsTheLoss: one
// descriptor slot, another file waiting for it, and a reader blocked on a
// full spool while its file grows and is then copytruncated. When the spool
// takes the batch, the reader must look at its file before it gives its slot
// away (parks): parked, it kept only the size it had read to, and the file
// opened again from its checkpoint counted none of the bytes a scan had seen
// past it (model seed 125: 1,252 bytes lost, 0 counted).
func TestCopytruncateWhileWaitingForTheSpoolWithOneSlotCountsTheLoss(t *testing.T) {
	e := newEnv(t)
	a := filepath.Join(e.containers, "a.log")
	b := filepath.Join(e.containers, "b.log")
	const readN, unreadN = 50, 30
	mustWriteLines(t, a, seqLines("a", 0, readN)...)
	lineLen := int64(len(seqLine("a", 0)) + 1)
	e.sink.gate = make(chan struct{}) // the spool is full
	cfg := e.config()
	cfg.MaxOpenFiles = 1
	tl, err := New(cfg, e.sink)
	if err != nil {
		t.Fatal(err)
	}
	var aID atomic.Value
	var seen atomic.Int64
	tl.onObserve = func(id fileID, size int64) {
		if want, _ := aID.Load().(fileID); id == want && size > seen.Load() {
			seen.Store(size)
		}
	}
	if fi, err := os.Stat(a); err != nil {
		t.Fatal(err)
	} else if id, _, err := statOf(fi); err != nil {
		t.Fatal(err)
	} else {
		aID.Store(id)
	}
	r := e.run(tl)
	waitFor(t, 10*time.Second, "a's lines to be decoded", func() bool { return e.decoded.Load() >= readN })
	mustWriteLines(t, b, seqLines("b", 0, 10)...)
	waitFor(t, 10*time.Second, "b to wait for the slot", tl.slotWanted)
	mustWriteLines(t, a, seqLines("a", readN, readN+unreadN)...)
	waitFor(t, 10*time.Second, "a scan to see a grown", func() bool { return seen.Load() == (readN+unreadN)*lineLen })
	if err := os.Truncate(a, 0); err != nil {
		t.Fatal(err)
	}
	close(e.sink.gate) // room again
	waitUntilCount(t, e.sink, readN+10)
	want := float64(unreadN * lineLen)
	e.waitLost(LostTruncated, want)
	r.stop(t)
	if got := e.lost(LostTruncated); got != want {
		t.Errorf("truncated = %v bytes, want %v: the %d lines a scan saw and the reader never read", got, want, unreadN)
	}
	msgs := e.sink.messages()
	checkExactlyOnce(t, msgs, "a", readN)
	checkExactlyOnce(t, msgs, "b", 10)
}

// TestAFileWaitingForTheOneSlotGetsItFromAnIdleReader: with one descriptor
// slot taken by a file read to its end and quiet, a new file is read at
// once: the idle reader is told that a file waits and gives the slot back.
// It used to learn it only at its next write or after CloseInactive (1 min;
// model seed 125: 14 lines stored a minute late).
func TestAFileWaitingForTheOneSlotGetsItFromAnIdleReader(t *testing.T) {
	e := newEnv(t)
	a := filepath.Join(e.containers, "a.log")
	b := filepath.Join(e.containers, "b.log")
	mustWriteLines(t, a, seqLines("a", 0, 10)...)
	r := e.start(func(c *Config) { c.MaxOpenFiles = 1 })
	waitUntilCount(t, e.sink, 10)
	mustWriteLines(t, b, seqLines("b", 0, 10)...)
	waitUntilCount(t, e.sink, 20)
	r.stop(t)
	msgs := e.sink.messages()
	checkExactlyOnce(t, msgs, "a", 10)
	checkExactlyOnce(t, msgs, "b", 10)
}

// TestAFileOpenedWhenTheOneSlotFreesIsWatched: with one descriptor slot
// held by another file, a kubelet file (its symlink in the glob directory,
// its target in a pod directory) waits, and is opened when the slot frees,
// outside a scan. Its directory was watched only from the next scan on, and
// with notifications working nothing scanned before the minute's resync: the
// file's later lines, a rotation of it, waited that long, unseen (model seed
// 194: a generation rotated twice meanwhile was never read).
func TestAFileOpenedWhenTheOneSlotFreesIsWatched(t *testing.T) {
	e := newEnv(t)
	a := filepath.Join(e.containers, "a.log")
	mustWriteLines(t, a, seqLines("a", 0, 10)...)
	r := e.start(func(c *Config) { c.MaxOpenFiles = 1 })
	waitUntilCount(t, e.sink, 10) // a is open and holds the slot
	dir := filepath.Join(e.pods, "ns_p_uid", "app")
	mustMkdir(t, dir)
	target := filepath.Join(dir, "0.log")
	mustWriteLines(t, target, seqLines("p", 0, 5)...)
	mustSymlink(t, target, filepath.Join(e.containers, "p_ns_app-"+strings.Repeat("ab", 32)+".log"))
	waitUntilCount(t, e.sink, 15)
	mustWriteLines(t, target, seqLines("p", 5, 10)...)
	waitUntilCount(t, e.sink, 20)
	r.stop(t)
	msgs := e.sink.messages()
	checkExactlyOnce(t, msgs, "a", 10)
	checkExactlyOnce(t, msgs, "p", 10)
}

// TestALineWrittenAsItsReaderParksIsRead: a reader closes its file
// (CloseInactive) after its last look at it; a line written between that
// look and the close notifies the reader, which is stopping, not the parked
// file, and the file was opened again only at the next resync, a minute
// later (TestMaxOpenFilesTakesTurns timed out once under load that way).
func TestALineWrittenAsItsReaderParksIsRead(t *testing.T) {
	e := newEnv(t)
	a := filepath.Join(e.containers, "a.log")
	mustWriteLines(t, a, seqLines("a", 0, 5)...)
	cfg := e.config()
	cfg.CloseInactive = 100 * time.Millisecond
	tl, err := New(cfg, e.sink)
	if err != nil {
		t.Fatal(err)
	}
	var wrote atomic.Bool
	tl.hook = func(p string) {
		if p != "park" || !wrote.CompareAndSwap(false, true) {
			return
		}
		// On the reader's goroutine, between its last look and the close:
		// write, and let the notification reach the reader.
		r := tl.readerByPath(a)
		select {
		case <-r.wake:
		default:
		}
		mustWriteLines(t, a, seqLines("a", 5, 6)...)
		waitFor(t, 10*time.Second, "the write's notification", func() bool { return len(r.wake) > 0 })
	}
	run := e.run(tl)
	waitUntilCount(t, e.sink, 6)
	run.stop(t)
	if !wrote.Load() {
		t.Fatal("the reader never parked: the test proves nothing")
	}
	checkExactlyOnce(t, e.sink.messages(), "a", 6)
}

// TestAFileCutBeforeItsReaderReadAByteCountsTheLoss: a reader that has not
// read a byte yet (waiting for memory, for its goroutine) while a scan sees
// its file grow and then shrink (copytruncate): the bytes the scan saw are
// lost and counted, and the new content is read once. The reader at offset
// 0 with no first line yet could not tell the cut itself.
func TestAFileCutBeforeItsReaderReadAByteCountsTheLoss(t *testing.T) {
	e := newEnv(t)
	a := filepath.Join(e.containers, "a.log")
	mustWriteLines(t, a)
	cfg := e.config()
	tl, err := New(cfg, e.sink)
	if err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	var held atomic.Bool
	tl.hook = func(p string) {
		if p == "read" && held.CompareAndSwap(false, true) {
			<-hold // the reader's first read waits
		}
	}
	reader := func() *reader {
		tl.mu.Lock()
		defer tl.mu.Unlock()
		for _, r := range tl.readers {
			return r
		}
		return nil
	}
	run := e.run(tl)
	waitFor(t, 10*time.Second, "the reader to start", held.Load)
	const oldN = 10
	lineLen := int64(len(seqLine("old", 0)) + 1)
	mustWriteLines(t, a, seqLines("old", 0, oldN)...)
	waitFor(t, 10*time.Second, "a scan to see the lines", func() bool {
		tl.requestScan()
		r := reader()
		if r == nil {
			return false
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.seenSize == oldN*lineLen
	})
	if err := os.Truncate(a, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a scan to see the cut", func() bool {
		tl.requestScan()
		r := reader()
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.seenFrozen
	})
	mustWriteLines(t, a, seqLines("new", 0, 5)...)
	close(hold)
	waitUntilCount(t, e.sink, 5)
	want := float64(oldN * lineLen)
	e.waitLost(LostTruncated, want)
	run.settle(t, e.clock)
	run.stop(t)
	if got := e.lost(LostTruncated); got != want {
		t.Errorf("truncated = %v bytes, want %v: the %d lines a scan saw before the cut", got, want, oldN)
	}
	msgs := e.sink.messages()
	checkExactlyOnce(t, msgs, "new", 5)
	if len(msgs) != 5 {
		t.Errorf("%d records, want 5: %q", len(msgs), msgs)
	}
}

// TestAFileCutAfterItsReaderSawItGrowCountsTheLoss: a reader that saw its
// file grow (its size) but did not read a byte yet (waiting for memory
// while the spool is full) when the file is cut: the file is shorter than
// the size seen, though not than the read offset. What it saw is lost and
// counted, and the new content is read once (model seed 189: 291 bytes
// lost, 0 counted).
func TestAFileCutAfterItsReaderSawItGrowCountsTheLoss(t *testing.T) {
	for _, newN := range []int{0, 5} {
		t.Run(fmt.Sprintf("new=%d", newN), func(t *testing.T) {
			e := newEnv(t)
			a := filepath.Join(e.containers, "a.log")
			mustWriteLines(t, a)
			tl, err := New(e.config(), e.sink)
			if err != nil {
				t.Fatal(err)
			}
			hold := make(chan struct{})
			var reads atomic.Int64
			tl.hook = func(p string) {
				if p == "read" && reads.Add(1) == 2 {
					<-hold // the read after the reader saw the file grow waits
				}
			}
			run := e.run(tl)
			waitFor(t, 10*time.Second, "the reader to wait at the end of the empty file", func() bool {
				tl.mu.Lock()
				defer tl.mu.Unlock()
				for _, r := range tl.readers {
					return r.waits.Load() > 0
				}
				return false
			})
			const oldN = 10
			lineLen := int64(len(seqLine("old", 0)) + 1)
			mustWriteLines(t, a, seqLines("old", 0, oldN)...)
			waitFor(t, 10*time.Second, "the reader to see the lines", func() bool { return reads.Load() >= 2 })
			if err := os.Truncate(a, 0); err != nil {
				t.Fatal(err)
			}
			mustWriteLines(t, a, seqLines("new", 0, newN)...)
			close(hold)
			waitUntilCount(t, e.sink, newN)
			want := float64(oldN * lineLen)
			e.waitLost(LostTruncated, want)
			run.settle(t, e.clock)
			run.stop(t)
			if got := e.lost(LostTruncated); got != want {
				t.Errorf("truncated = %v bytes, want %v: the %d lines the reader saw before the cut", got, want, oldN)
			}
			msgs := e.sink.messages()
			checkExactlyOnce(t, msgs, "new", newN)
			if len(msgs) != newN {
				t.Errorf("%d records, want %d: %q", len(msgs), newN, msgs)
			}
		})
	}
}

// waitLost waits (at most 10 s) until lost_bytes{reason} reaches want; the
// caller checks the value.
func (e *env) waitLost(reason string, want float64) {
	deadline := time.Now().Add(10 * time.Second)
	for e.lost(reason) < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCloseInactiveClosesAndReopensByIdentity: a file quiet for
// CloseInactive is closed with its position kept; a write opens it again
// and reading goes on at the position. A file replaced while closed (same
// path, new content) is read from 0 as a new file, and one cut and
// rewritten while closed (copytruncate) too, its loss counted.
func TestCloseInactiveClosesAndReopensByIdentity(t *testing.T) {
	e := newEnv(t)
	grow := filepath.Join(e.containers, "grow.log")
	repl := filepath.Join(e.containers, "repl.log")
	cut := filepath.Join(e.containers, "cut.log")
	mustWriteLines(t, grow, seqLines("g", 0, 5)...)
	mustWriteLines(t, repl, seqLines("r", 0, 5)...)
	mustWriteLines(t, cut, seqLines("c", 0, 5)...)
	tl := e.start(func(c *Config) { c.CloseInactive = 200 * time.Millisecond })
	waitUntilCount(t, e.sink, 15)
	closed := func() bool {
		tl.mu.Lock()
		defer tl.mu.Unlock()
		return len(tl.readers) == 0 && len(tl.parked) == 3
	}
	waitFor(t, 10*time.Second, "the three files to be closed", closed)

	mustWriteLines(t, grow, seqLines("g", 5, 10)...)
	waitUntilCount(t, e.sink, 20)
	waitFor(t, 10*time.Second, "the three files to be closed again", closed)

	mustRemove(t, repl)
	mustWriteLines(t, repl, seqLines("s", 0, 3)...)
	if err := os.Truncate(cut, 0); err != nil {
		t.Fatal(err)
	}
	mustWriteLines(t, cut, seqLines("d", 0, 2)...)
	waitUntilCount(t, e.sink, 25)
	tl.stop(t)
	msgs := e.sink.messages()
	checkExactlyOnce(t, msgs, "g", 10)
	checkExactlyOnce(t, msgs, "r", 5)
	checkExactlyOnce(t, msgs, "s", 3)
	checkExactlyOnce(t, msgs, "c", 5)
	checkExactlyOnce(t, msgs, "d", 2)
}

// TestAHugeLineGetsThroughASmallBudget: a 3 MiB line with a 256 KiB budget
// shared by 20 busy files: a reader that needs more than the whole budget
// gets it once nothing else is held, so every line arrives, the long one
// whole.
func TestAHugeLineGetsThroughASmallBudget(t *testing.T) {
	e := newEnv(t)
	huge := strings.Repeat("y", 3<<20)
	path := filepath.Join(e.containers, "huge.log")
	mustWriteLines(t, path, append(append(seqLines("h", 0, 50), huge), seqLines("h", 50, 100)...)...)
	for i := 0; i < 20; i++ {
		mustWriteLines(t, filepath.Join(e.containers, fmt.Sprintf("o%02d.log", i)), seqLines(fmt.Sprintf("o%02d", i), 0, 3000)...)
	}
	budget := newTestBudget(256 << 10)
	tl := e.start(func(c *Config) {
		c.MaxLineBytes = 4 << 20
		c.Budget = budget
		c.Logger = discardLogger()
	})
	waitUntilCount(t, e.sink, 101+20*3000)
	tl.stop(t)
	msgs := e.sink.messages()
	checkExactlyOnce(t, msgs, "h", 100)
	for i := 0; i < 20; i++ {
		checkExactlyOnce(t, msgs, fmt.Sprintf("o%02d", i), 3000)
	}
	n := 0
	for _, m := range msgs {
		if m == huge {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the 3 MiB line arrived %d times whole, want once", n)
	}
	if s := budget.Stats(); s.Used != 0 || s.Waits == 0 {
		t.Errorf("budget stats %+v: want nothing held after the stop, and readers that waited", s)
	}
}

// TestAWatchLimitFallsBackToPolling: when a directory cannot be watched
// (the inotify watch limit: ENOSPC), it is counted once, the tailer polls
// (a batched glob+stat every PollInterval) and every line is read all the
// same.
func TestAWatchLimitFallsBackToPolling(t *testing.T) {
	e := newEnv(t)
	_, pod := e.podLog("web", "nginx")
	mustWriteLines(t, pod, seqLines("w", 0, 5)...)
	cfg := e.config()
	tl, err := New(cfg, e.sink)
	if err != nil {
		t.Fatal(err)
	}
	tl.watchFault = func(dir string) error { return os.NewSyscallError("inotify_add_watch", syscall.ENOSPC) }
	r := e.run(tl)
	waitUntilCount(t, e.sink, 5)
	mustWriteLines(t, pod, seqLines("w", 5, 10)...)
	waitUntilCount(t, e.sink, 10)
	r.stop(t)
	checkExactlyOnce(t, e.sink.messages(), "w", 10)
	if n := counterValue(t, e.metrics.errors.WithLabelValues(InputName, "enospc")); n < 1 {
		t.Errorf("the failed watches were counted %v times, want at least once", n)
	}
	if v := gaugeValue(t, e.metrics.unwatched); v < 1 {
		t.Errorf("logspool_tailer_unwatched_dirs = %v, want at least 1", v)
	}
}

// TestAReaderWaitingForMemoryIsNotStalled: a budget held elsewhere makes the
// readers wait; that is not a stall (the budget's holder, a full spool, is).
func TestAReaderWaitingForMemoryIsNotStalled(t *testing.T) {
	e := newEnv(t)
	budget := newTestBudget(64 << 10)
	budget.Force(64 << 10) // someone else holds it all
	path := filepath.Join(e.containers, "a.log")
	mustWriteLines(t, path, seqLines("a", 0, 10)...)
	tl := e.start(func(c *Config) { c.Budget = budget; c.StallGrace = time.Second })
	waitFor(t, 10*time.Second, "a reader waiting for memory", func() bool { return budget.Stats().Waiting > 0 })
	if st, why := tl.Stalled(time.Now().Add(time.Minute)); st {
		t.Errorf("stalled while waiting for memory: %s", why)
	}
	budget.Release(64 << 10)
	waitUntilCount(t, e.sink, 10)
	tl.stop(t)
	checkExactlyOnce(t, e.sink.messages(), "a", 10)
}

// TestReadersShareTheBudgetWithoutDeadlock: many files, partial messages
// pending in their decoders (CRI-like P: lines) and a budget far smaller
// than what they would hold together: readers give back what they can read
// again and wait with nothing held, so all of it arrives, joined.
func TestReadersShareTheBudgetWithoutDeadlock(t *testing.T) {
	e := newEnv(t)
	const files, msgs = 40, 200
	head := strings.Repeat("z", 2000)
	for i := 0; i < files; i++ {
		p := filepath.Join(e.containers, fmt.Sprintf("s%02d.log", i))
		var lines []string
		for j := 0; j < msgs; j++ {
			lines = append(lines, "P:"+head, "F:"+seqLine(fmt.Sprintf("s%02d", i), j))
		}
		mustWriteLines(t, p, lines...)
	}
	budget := newTestBudget(96 << 10)
	tl := e.start(func(c *Config) { c.Budget = budget; c.Logger = discardLogger() })
	waitUntilCount(t, e.sink, files*msgs)
	tl.stop(t)
	var joined []string
	for _, m := range e.sink.messages() {
		rest, ok := strings.CutPrefix(m, head)
		if !ok {
			t.Fatalf("a message was not joined: %.60q", m)
		}
		joined = append(joined, rest)
	}
	for i := 0; i < files; i++ {
		checkExactlyOnce(t, joined, fmt.Sprintf("s%02d", i), msgs)
	}
	if s := budget.Stats(); s.Used != 0 {
		t.Errorf("%d bytes of the budget still held after the stop", s.Used)
	}
}

func newTestBudget(n int64) *membudget.Budget { return membudget.New(n) }

func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

// fullSink is a memSink that says it is full: a reader about to append drops
// its read buffer first (the bytes past its batch are read again).
type fullSink struct{ *memSink }

func (fullSink) Full() bool { return true }

// TestLinesDroppedWhileTheSpoolIsFullAreReadAgain: a commit in the middle of
// a read buffer, while the spool says it is full, drops the buffer with the
// complete lines after the batch in it, to be read again. They were not: the
// reader took itself for at the end of the file (nothing new past what it
// had read), so a matched file's lines waited for the file to grow, and a
// rotated file was released with all of them glued into one record flagged
// partial (589 lines in one document in a trial with Elasticsearch down).
func TestLinesDroppedWhileTheSpoolIsFullAreReadAgain(t *testing.T) {
	for _, rotate := range []bool{false, true} {
		t.Run(fmt.Sprintf("rotated %v", rotate), func(t *testing.T) {
			e := newEnv(t)
			path := filepath.Join(e.containers, "app.log")
			lines := seqLines("f", 0, 200)
			mustWriteLines(t, path, lines...)
			if rotate {
				// Rotated before the tailer starts reading it: the
				// generation is drained and released.
				mustWriteLines(t, filepath.Join(e.containers, "other.log"), seqLines("o", 0, 1)...)
			}
			cfg := e.config()
			cfg.BatchBytes = 10 * (len(lines[0]) + 1)
			tl, err := New(cfg, fullSink{e.sink})
			if err != nil {
				t.Fatal(err)
			}
			run := e.run(tl)
			if rotate {
				waitFor(t, 10*time.Second, "a first batch", func() bool { return e.sink.count() > 0 })
				mustRename(t, path, path+".1")
			}
			waitFor(t, 20*time.Second, "every line", func() bool {
				n := 0
				for _, m := range e.sink.messages() {
					if strings.HasPrefix(m, "f-") {
						n++
					}
				}
				return n >= 200
			})
			run.settle(t, e.clock) // let a glued or repeated line show up
			var fs []string
			for _, m := range e.sink.messages() {
				if strings.Contains(m, "\n") {
					t.Fatalf("a record holds several lines: %.80q", m)
				}
				if strings.HasPrefix(m, "f-") {
					fs = append(fs, m)
				}
			}
			checkExactlyOnce(t, fs, "f", 200)
		})
	}
}

// TestAFileRotatedWhileWaitingForTheOneSlotIsReadOnFromItsCheckpoint: at a
// restart two files with checkpoints and new lines, one descriptor slot, and
// a full spool: one file is open (its reader waits for the spool), the other
// waits for the slot and is rotated meanwhile. It was dropped from the
// waiting files ("gone before its turn"), and the sweep of rotated names
// passed over it because its checkpoint describes it (a known file is not
// read from its start): its new lines were never read (model seed 561, 23
// lines). Now it is kept like a released rotated file (retired), and read on
// from its checkpoint.
func TestAFileRotatedWhileWaitingForTheOneSlotIsReadOnFromItsCheckpoint(t *testing.T) {
	e := newEnv(t)
	paths := []string{filepath.Join(e.containers, "x.log"), filepath.Join(e.containers, "y.log")}
	for _, p := range paths {
		mustWriteLines(t, p, seqLines(strings.TrimSuffix(filepath.Base(p), ".log"), 0, 5)...)
	}
	first := e.start()
	waitUntilCount(t, e.sink, 10)
	first.stop(t)
	for _, p := range paths {
		mustWriteLines(t, p, seqLines(strings.TrimSuffix(filepath.Base(p), ".log"), 5, 10)...)
	}

	e.sink.gate = make(chan struct{}) // the spool is full
	cfg := e.config()
	cfg.MaxOpenFiles = 1
	tl, err := New(cfg, e.sink)
	if err != nil {
		t.Fatal(err)
	}
	r := e.run(tl)
	waitFor(t, 10*time.Second, "a file to wait for the slot", tl.slotWanted)
	tl.mu.Lock()
	var waiting string
	var id fileID
	for wid, w := range tl.waiting {
		waiting, id = w.f.path, wid
	}
	tl.mu.Unlock()
	mustRename(t, waiting, waiting+".1")
	mustWriteLines(t, waiting)
	waitFor(t, 10*time.Second, "a scan to see the rotation", func() bool {
		tl.requestScan()
		tl.mu.Lock()
		defer tl.mu.Unlock()
		_, still := tl.waiting[id]
		return !still
	})
	close(e.sink.gate) // room again
	waitUntilCount(t, e.sink, 20)
	r.stop(t)
	msgs := e.sink.messages()
	checkExactlyOnce(t, msgs, "x", 10)
	checkExactlyOnce(t, msgs, "y", 10)
}

// TestMaxOpenFilesBoundsTheDescriptors: --max-open-files bounds the
// descriptors the tailer holds, not only its readers. A reader that gives its
// slot away (parks, is released or dies) closes its file only when its
// goroutine returns; a file opened into the slot before that held one
// descriptor more than the cap (a 10,000-file start peaked at 1,807 with a
// cap of 1,024). The hook widens that window as a busy machine does.
func TestMaxOpenFilesBoundsTheDescriptors(t *testing.T) {
	e := newEnv(t)
	const files, limit = 40, 4
	for i := 0; i < files; i++ {
		mustWriteLines(t, filepath.Join(e.containers, fmt.Sprintf("d%03d.log", i)), seqLines(fmt.Sprintf("d%03d", i), 0, 10)...)
	}
	cfg := e.config()
	cfg.MaxOpenFiles = limit
	cfg.Logger = discardLogger()
	tl, err := New(cfg, e.sink)
	if err != nil {
		t.Fatal(err)
	}
	var most atomic.Int64
	sample := func() {
		if n := int64(openUnder(t, e.containers)); n > most.Load() {
			most.Store(n)
		}
	}
	tl.hook = func(p string) {
		switch p {
		case "read":
			sample()
		case "close":
			time.Sleep(20 * time.Millisecond) // a reader late to close its file
			sample()
		}
	}
	r := e.run(tl)
	waitUntilCount(t, e.sink, files*10)
	r.stop(t)
	checkExactlyOnce(t, e.sink.messages(), "d000", 10)
	// The scanner reads a file's first bytes for its identity, one file at a
	// time: one descriptor beyond the readers'.
	if m := most.Load(); m > limit+1 {
		t.Errorf("%d descriptors of container logs open at once, want at most %d (--max-open-files %d, and the scanner's one)", m, limit+1, limit)
	}
}

// openUnder counts the process's descriptors open on files under dir.
func openUnder(t *testing.T, dir string) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, dir+"/") {
			n++
		}
	}
	return n
}
