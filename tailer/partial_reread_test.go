package tailer

import (
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logspool/logspool/internal/membudget"
)

// cappedSink is a blockingSink that says it is full (Full) until it is
// opened, as a spool at its cap does.
type cappedSink struct{ *blockingSink }

func (s cappedSink) Full() bool {
	select {
	case <-s.open:
		return false
	default:
		return true
	}
}

// TestALineIsNotSplitWhenABlockedReaderReadsItAgain: the agent in a memory
// cgroup through an Elasticsearch outage shipped one line in two documents,
// both flagged partial (TestAgentInAMemoryCgroupSurvivesAnOutage, about one
// run in four; the split lines were in the middle of files being written at
// 1 MB/s). A reader read a full buffer that ended in the middle of a line,
// then waited longer than PartialIdle: for the spool (full), then for memory,
// having dropped its state (dropState: its decoder held a partial message,
// so it went back to the message's start). Reading again from there with a
// buffer of the same size ended exactly where the first read had ended, so
// the reader saw nothing new and took "not read for 5 s" for "the file
// produced nothing for 5 s": it flushed the head of the line (and the
// pending message) as records flagged partial, and the rest of the line, on
// disk all along, became a record of its own.
//
// Here: a partial message pending from the file's start; the first read
// fills a 16 KiB buffer (a small budget) that ends in the middle of a line;
// the batch is committed at the last complete line, and the spool blocks
// the commit past PartialIdle; then the budget makes the reader drop its
// state and wait. Every line must arrive once, whole, and the partial
// message joined.
func TestALineIsNotSplitWhenABlockedReaderReadsItAgain(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.containers, "blocked.log")
	const header = "P:head\n"
	const first, total = 100, 400
	lineLen := len(seqLine("b", 0)) + 1
	mustAppend(t, path, header+strings.Join(seqLines("b", 0, first), "\n")+"\n")
	rest := strings.Join(seqLines("b", first, total), "\n") + "\nF:end\n"
	// The first read ends at bufClasses[0], in the middle of a line; the
	// batch is committed at the end of the line before.
	buf := bufClasses[0]
	if (buf-len(header))%lineLen == 0 || len(header)+first*lineLen >= buf {
		t.Fatalf("the first read must end in the middle of a line, past what the file holds at the start: change the lines")
	}
	batch := len(header) + (buf-len(header))/lineLen*lineLen

	budget := membudget.New(8 * int64(buf)) // read buffers of bufClasses[0]
	sink := cappedSink{&blockingSink{memSink: e.sink, open: make(chan struct{})}}
	cfg := e.config()
	cfg.Budget = budget
	cfg.BatchBytes = batch
	// After a commit the reader keeps memory for BatchDocBytes of documents
	// (more than its batch here, less than that and a read buffer).
	cfg.BatchDocBytes = 3 * buf / 2
	cfg.Logger = discardLogger()
	tl, err := New(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	var appended atomic.Bool
	tl.hook = func(p string) {
		// The file grows after the reader opened it (and took its size),
		// before its first read: that read fills its buffer.
		if p == "read" && appended.CompareAndSwap(false, true) {
			mustAppend(t, path, rest)
		}
	}
	r := e.run(tl)
	waitFor(t, 30*time.Second, "the reader to wait for the full spool", func() bool { return sink.waiting.Load() > 0 })

	// The outage lasts longer than PartialIdle; meanwhile others take the
	// budget, so that the reader drops its state and waits for memory next.
	held := budget.Capacity()
	budget.Force(held)
	e.clock.advance(tl.cfg.PartialIdle + time.Second)
	close(sink.open)
	readers := r.readerList()
	if len(readers) != 1 {
		t.Fatalf("%d readers, want 1", len(readers))
	}
	rd := readers[0]
	waitFor(t, 30*time.Second, "the reader to wait for memory", func() bool {
		rd.mu.Lock()
		defer rd.mu.Unlock()
		return rd.waitingMem
	})
	budget.Release(held)

	waitUntilCount(t, e.sink, total+1)
	r.settle(t, e.clock)
	r.stop(t)
	msgs := e.sink.messages()
	for _, m := range msgs {
		if strings.HasPrefix(m, "PARTIAL") {
			t.Errorf("a record flagged partial: %.60q", m)
		}
	}
	if n := strings.Count(strings.Join(msgs, "\n"), "headend"); n != 1 {
		t.Errorf("the partial message joined %d times, want once", n)
	}
	if len(msgs) != total+1 {
		t.Errorf("%d records, want %d", len(msgs), total+1)
	}
	checkExactlyOnce(t, msgs, "b", total)
}
