package tailer

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testClock is the tailers' Clock in tests: the real clock, which a test can
// move ahead (advance): every wait that would have ended by then ends at once.
type testClock struct {
	offset atomic.Int64 // nanoseconds ahead of the real clock
	mu     sync.Mutex
	timers map[*testTimer]struct{} // pending
}

type testTimer struct {
	at   time.Time // by the test clock
	c    chan time.Time
	real *time.Timer
}

func newTestClock() *testClock { return &testClock{timers: map[*testTimer]struct{}{}} }

func (c *testClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *testClock) NewTimer(d time.Duration) (<-chan time.Time, Timer) {
	tt := &testTimer{at: c.Now().Add(d), c: make(chan time.Time, 1)}
	c.mu.Lock()
	c.timers[tt] = struct{}{}
	tt.real = time.AfterFunc(d, func() { c.fire(tt) })
	c.mu.Unlock()
	return tt.c, stopper{c, tt}
}

// stopper stops a testTimer.
type stopper struct {
	c  *testClock
	tt *testTimer
}

func (s stopper) Stop() bool {
	s.tt.real.Stop()
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	_, pending := s.c.timers[s.tt]
	delete(s.c.timers, s.tt)
	return pending
}

// fire sends on tt's channel once, unless it was stopped.
func (c *testClock) fire(tt *testTimer) {
	c.mu.Lock()
	_, pending := c.timers[tt]
	delete(c.timers, tt)
	c.mu.Unlock()
	if pending {
		tt.c <- c.Now()
	}
}

// advance moves the clock d ahead and fires every timer due by then.
func (c *testClock) advance(d time.Duration) {
	c.offset.Add(int64(d))
	now := c.Now()
	c.mu.Lock()
	var due []*testTimer
	for tt := range c.timers {
		if !tt.at.After(now) {
			due = append(due, tt)
			tt.real.Stop()
		}
	}
	c.mu.Unlock()
	for _, tt := range due {
		c.fire(tt)
	}
}

// settle lets any wrong re-emission show up, without a sleep: twice, it
// moves the tailer's clock past every wait that can end in records (the
// partial-line and rotated-file idle times, the commit gap, the buffer idle
// time, the poll backoff), short of the inactivity that closes files and of
// the time scans remember paths, then waits until the tailer has finished a
// scan after that and every reader, woken as by a notification, has gone
// round its loop and waits again. By then whatever the tailer would read, it
// has read and committed.
func (r *running) settle(t *testing.T, c *testClock) {
	t.Helper()
	cfg := r.cfg
	step := max(cfg.PartialIdle, cfg.RotatedIdle, minCommitGap, bufIdle, maxPoll, cfg.PollInterval) + cfg.PollInterval
	if step >= cfg.CloseInactive || step >= seenTTL {
		t.Fatalf("settle: a step of %s would close files or forget paths (CloseInactive %s)", step, cfg.CloseInactive)
	}
	for range 2 {
		c.advance(step)
		at := c.Now().UnixNano()
		r.requestScan()
		waitFor(t, 10*time.Second, "a scan after the clock moved", func() bool { return r.lastScan.Load() >= at })
		for _, rd := range r.readerList() {
			n := rd.waits.Load()
			rd.poke(false) // as a notification would: look at the file again
			waitFor(t, 10*time.Second, "the reader of "+rd.id.String()+" to wait again", func() bool {
				return rd.waits.Load() > n || !r.isOpen(rd.id)
			})
		}
	}
}

func TestTestClockFiresWhatIsDueWhenAdvanced(t *testing.T) {
	c := newTestClock()
	soon, _ := c.NewTimer(time.Hour)
	later, _ := c.NewTimer(3 * time.Hour)
	stopped, stop := c.NewTimer(time.Hour)
	if !stop.Stop() {
		t.Fatal("stop of a pending timer reported false")
	}
	before := c.Now()
	c.advance(2 * time.Hour)
	if d := c.Now().Sub(before); d < 2*time.Hour {
		t.Fatalf("the clock moved %s, want 2h", d)
	}
	select {
	case <-soon:
	default:
		t.Fatal("a timer due by then did not fire")
	}
	select {
	case <-later:
		t.Fatal("a timer not due fired")
	case <-stopped:
		t.Fatal("a stopped timer fired")
	default:
	}
}
