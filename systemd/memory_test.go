package systemd

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logspool/logspool/internal/membudget"
	"github.com/logspool/logspool/spool/record"
)

// sizeSink records the largest document bytes of one Append.
type sizeSink struct {
	*memSink
	most atomic.Int64
}

func (s *sizeSink) Append(ctx context.Context, recs []record.Record, cps ...record.Checkpoint) error {
	var n int64
	for i := range recs {
		n += int64(recs[i].DocLen())
	}
	if n > s.most.Load() {
		s.most.Store(n)
	}
	return s.memSink.Append(ctx, recs, cps...)
}

// TestInputWaitsForMemoryAndIsNotStalled: while the shared memory budget is
// held by others (file readers waiting for a full spool), the journal reads
// nothing, waits (on disk: nothing is lost) and is not stalled; once memory
// frees it ships every entry, in batches within its grant.
func TestInputWaitsForMemoryAndIsNotStalled(t *testing.T) {
	dir := mustCopyTree(t, rotatedDir)
	want := oracleCursors(t, "rotated.dir.cursors")
	budget := membudget.New(1 << 20)
	budget.Force(1 << 20)
	sink := &sizeSink{memSink: newMemSink()}
	cfg := testConfig(dir)
	cfg.Budget = budget
	in, err := NewInput(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	waitUntil(t, 10*time.Second, func() bool { return in.waitingMem.Load() })
	if st, why := in.Stalled(time.Now().Add(time.Hour)); st {
		t.Errorf("stalled while waiting for memory: %s", why)
	}
	if n := sink.count(); n != 0 {
		t.Errorf("%d records stored while no memory was free", n)
	}
	budget.Release(1 << 20)
	waitUntil(t, 20*time.Second, func() bool { return sink.count() >= len(want) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	assertSameList(t, cursorsOf(t, sink.records()), want)
	grant := in.grant()
	if most := sink.most.Load(); most > grant {
		t.Errorf("one batch carried %d document bytes, more than the %d-byte grant", most, grant)
	}
	if s := budget.Stats(); s.Used != 0 {
		t.Errorf("the stopped input holds %d bytes of the budget", s.Used)
	}
}
