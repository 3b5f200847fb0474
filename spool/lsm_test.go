package spool

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logspool/logspool/spool/record"
)

// TestIndexCompactionKeepsWritesFlowing: Badger runs no compactors of its
// own (NumCompactors 0); the spool's compactor must keep level 0 below the
// stall, or the memtable flush waits for ever and every Append with it.
// Small memtables and large checkpoints flush a table every few dozen
// appends: dozens of tables pass through level 0, far more than the stall.
func TestIndexCompactionKeepsWritesFlowing(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, Config{Dir: dir, memTableSize: 2 << 20})
	const appends, sources = 4000, 50
	cpVal := func(i int) []byte { return fmt.Appendf(bytes.Repeat([]byte{'p'}, 8<<10), "%d", i) }
	var done atomic.Int64
	var maxL0 atomic.Int64
	seenL0 := make(map[uint64]bool) // the level-0 tables seen (watched)
	watch := make(chan struct{})
	watched := make(chan struct{})
	go func() { // level 0 while the appends run
		defer close(watched)
		for {
			if n := int64(tablesPerLevel(s.db.Levels())[0]); n > maxL0.Load() {
				maxL0.Store(n)
			}
			for _, ti := range s.db.Tables() {
				if ti.Level == 0 {
					seenL0[ti.ID] = true
				}
			}
			select {
			case <-watch:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	errc := make(chan error, 1)
	go func() {
		for i := range appends {
			cp := record.Checkpoint{Key: fmt.Sprintf("src%02d", i%sources), Value: cpVal(i)}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			err := s.Append(ctx, makeRecords(uint64(i+1), 1, 64), cp)
			cancel()
			if err != nil {
				errc <- fmt.Errorf("append %d: %w", i, err)
				return
			}
			done.Add(1)
		}
		errc <- nil
	}()
	// A stalled write never returns: give up (and fail) when the appends
	// stop making progress for a minute, a long time even on a busy machine.
	last, lastAt := int64(-1), time.Now()
	for finished := false; !finished; {
		select {
		case err := <-errc:
			if err != nil {
				t.Fatal(err)
			}
			finished = true
		case <-time.After(100 * time.Millisecond):
			if n := done.Load(); n != last {
				last, lastAt = n, time.Now()
			} else if time.Since(lastAt) > time.Minute {
				close(watch)
				<-watched
				t.Fatalf("the appends stalled after %d of %d: level 0 holds %d tables (stall at %d), %d Flattens ran",
					n, appends, tablesPerLevel(s.db.Levels())[0], l0Stall, s.lsm.flattens.Load())
			}
		}
	}
	close(watch)
	<-watched
	t.Logf("%d tables passed through level 0 (at most %d at once), %d Flattens", len(seenL0), maxL0.Load(), s.lsm.flattens.Load())
	if len(seenL0) < 2*l0Stall {
		t.Fatalf("only %d tables passed through level 0: too few to mean anything (the stall is at %d)", len(seenL0), l0Stall)
	}
	if m := maxL0.Load(); m >= l0Stall {
		t.Errorf("level 0 reached %d tables (the stall is at %d)", m, l0Stall)
	}
	// Quiet now: the compactor leaves one level (and at most one table
	// waiting in level 0).
	waitUntil(t, time.Minute, "the index is compacted into one level", func() bool {
		s.lsm.kick()
		return !needsFlatten(tablesPerLevel(s.db.Levels()))
	})
	if f := s.lsm.failures.Load(); f != 0 {
		t.Errorf("%d Flattens failed", f)
	}
	got := dumpNums(t, s)
	if !equalNums(got, seqNums(1, appends)) {
		t.Fatalf("the spool holds %d records, want 1..%d", len(got), appends)
	}
	mustClose(t, s)

	// Reopened read-write and read-only, every checkpoint is the last one
	// written, and Compact still works.
	for _, ro := range []bool{false, true} {
		s := openSpool(t, Config{Dir: dir, ReadOnly: ro, memTableSize: 2 << 20})
		for src := range sources {
			last := appends - sources + src
			v, err := s.Checkpoint(fmt.Sprintf("src%02d", src))
			if err != nil || !bytes.Equal(v, cpVal(last)) {
				t.Fatalf("read-only %v: checkpoint of src%02d: %.20q, %v; want the value of append %d", ro, src, v, err, last)
			}
		}
		if !ro {
			if err := s.Compact(); err != nil {
				t.Fatalf("Compact: %v", err)
			}
		}
		mustClose(t, s)
	}
}

func TestNeedsFlatten(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tables []int
		want   bool
	}{
		{"an empty tree", []int{0, 0, 0, 0, 0, 0, 0}, false},
		{"one table in level 0 alone", []int{1, 0, 0, 0, 0, 0, 0}, false},
		{"two tables in level 0", []int{2, 0, 0, 0, 0, 0, 0}, true},
		{"one level", []int{0, 0, 0, 0, 0, 0, 9}, false},
		{"a table in level 0 over a level", []int{1, 0, 0, 0, 0, 0, 9}, true},
		{"two levels", []int{0, 0, 0, 0, 0, 2, 9}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := needsFlatten(tc.tables); got != tc.want {
				t.Errorf("needsFlatten(%v) = %v, want %v", tc.tables, got, tc.want)
			}
		})
	}
}
