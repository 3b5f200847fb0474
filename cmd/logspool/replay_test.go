package main

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeClock is a time source the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestStallWatchGivesUpOnlyWithoutProgress: progress, however slow, keeps
// replay going; the limit of no progress ends it; 0 never does.
func TestStallWatchGivesUpOnlyWithoutProgress(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	w := newStallWatch(time.Minute, clk.now)
	for i := int64(1); i <= 10; i++ { // slow progress: 50s between batches
		clk.add(50 * time.Second)
		if w.stalled() {
			t.Fatalf("stalled after batch %d although it moved within the limit", i)
		}
		w.observe(i * 100)
	}
	clk.add(59 * time.Second)
	w.observe(1000) // no change: not progress
	if w.stalled() {
		t.Fatal("stalled before the limit")
	}
	clk.add(2 * time.Second)
	if !w.stalled() {
		t.Fatal("not stalled 61s after the last progress with a 1m limit")
	}
	if never := newStallWatch(0, clk.now); func() bool { clk.add(time.Hour); return never.stalled() }() {
		t.Fatal("a limit of 0 gave up")
	}

	// run calls back once it is stalled, on the real clock.
	w = newStallWatch(30*time.Millisecond, time.Now)
	fired := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go w.run(ctx, func() { close(fired) })
	select {
	case <-fired:
	case <-ctx.Done():
		t.Fatal("run did not give up within 30s with a 30ms limit and no progress")
	}
}
