package tailer

import (
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logspool/logspool/internal/membudget"
)

// fullSink is a blockingSink that says it is full (Full) until it is
// opened, as a spool at its cap does.
type fullSink struct{ *blockingSink }

func (s fullSink) Full() bool {
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
// run in four; the split lines were found in the middle of files that were
// being written to at 1 MB/s). A reader read a full buffer that ended in the
// middle of a line, then waited longer than PartialIdle: for the spool
// (full) and for memory, having dropped its state (dropState: its decoder
// held a partial message, so it went back to the message's start). Reading
// again from there with the same buffer size ended exactly where the first
// read had ended, so the reader saw nothing new and took "not read for 5 s"
// for "the file produced nothing for 5 s": it flushed the head of the line
// (and the pending message) as records flagged partial, and the rest of the
// line, which was on disk all along, became a record of its own.
//
// Here: a file whose first read fills a 256 KiB buffer that ends in the
// middle of a line, with a partial message pending from the file's start;
// the spool blocks the reader's commit past PartialIdle, then the memory
// budget makes it drop its state and wait. Every line must arrive once,
// whole, and the partial message joined.
func TestALineIsNotSplitWhenABlockedReaderReadsItAgain(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.containers, "blocked.log")
	const first, total = 1650, 4000
	mustAppend(t, path, "P:head\n"+strings.Join(seqLines("b", 0, first), "\n")+"\n")
	rest := strings.Join(seqLines("b", first, total), "\n") + "\nF:end\n"
	// The first read ends at readSize: in the middle of a line.
	if at := int64(readSize) - int64(len("P:head\n")); at%int64(len(seqLine("b", 0))+1) == 0 {
		t.Fatalf("the first read ends at a line's end: change the lines")
	}

	budget := membudget.New(4 << 20) // buffers of 256 KiB (an eighth of the budget at most)
	sink := fullSink{&blockingSink{memSink: e.sink, open: make(chan struct{})}}
	cfg := e.config()
	cfg.Budget = budget
	cfg.BatchBytes = 64 << 10
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

	// The outage lasts longer than PartialIdle; meanwhile the budget is
	// taken by others, so that the reader waits for memory next.
	held := budget.Capacity()
	budget.Force(held)
	e.clock.advance(tl.cfg.PartialIdle + time.Second)
	close(sink.open)
	rd := func() *reader {
		for _, rd := range r.readerList() {
			return rd
		}
		return nil
	}()
	if rd == nil {
		t.Fatal("no reader")
	}
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
