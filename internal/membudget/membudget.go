// Package membudget is the one memory budget of all input in flight: the
// read buffers, decoded batches and pending partial messages of every file
// reader, and the batches of the journal input, draw from one Budget sized
// from --memory-limit. A reader that cannot get memory waits (its file waits
// on disk); nothing is dropped.
//
// # Rules that keep it free of deadlock
//
//   - Acquire waits in FIFO order: a large request is not starved by small
//     ones behind it, and a reader that gives its memory back and asks
//     again goes to the end of the line.
//   - A request larger than the whole budget is granted once nothing else is
//     held (then the holder has the budget to itself, and more): a single
//     reader can always make progress, whatever the size of its line.
//   - A holder never waits in Acquire while it holds memory: it uses
//     TryAcquire to grow, and when that fails it hands over what it holds
//     (commits its batch, drops what it can read again) and then waits with
//     nothing held. Callers keep this rule; Account helps.
//   - Force takes memory that is already allocated (a document larger than
//     expected) without waiting, even past the capacity; the holder then
//     gives it back as soon as it can. Later Acquires wait until the budget
//     is below its capacity again.
//
// A nil *Budget is unlimited: every call succeeds at once.
//
// ReleaseWhenIdle, beside the budget, gives the heap a burst of input left
// behind back to the operating system once the process has gone quiet.
package membudget

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Budget is a weighted semaphore of bytes. Safe for concurrent use.
type Budget struct {
	capacity int64

	mu      sync.Mutex
	used    int64
	waiters list.List // of *waiter, FIFO
	peak    int64     // the largest used seen
	waits   int64     // Acquires that had to wait
	waited  time.Duration
}

type waiter struct {
	n     int64
	ready chan struct{} // closed when granted
}

// New returns a budget of capacity bytes (at least 1).
func New(capacity int64) *Budget {
	return &Budget{capacity: max(capacity, 1)}
}

// Capacity returns the budget's size in bytes (0 for a nil Budget).
func (b *Budget) Capacity() int64 {
	if b == nil {
		return 0
	}
	return b.capacity
}

// fitsLocked reports whether n bytes can be granted now.
func (b *Budget) fitsLocked(n int64) bool {
	return b.used+n <= b.capacity || (n > b.capacity && b.used == 0)
}

// Acquire waits until n bytes are granted, or ctx is done (then it returns
// ctx's error and holds nothing). The caller must hold nothing of b while
// it waits (see the package doc).
func (b *Budget) Acquire(ctx context.Context, n int64) error {
	if b == nil || n <= 0 {
		return nil
	}
	b.mu.Lock()
	if b.waiters.Len() == 0 && b.fitsLocked(n) {
		b.takeLocked(n)
		b.mu.Unlock()
		return nil
	}
	w := &waiter{n: n, ready: make(chan struct{})}
	e := b.waiters.PushBack(w)
	b.waits++
	b.mu.Unlock()
	start := time.Now()
	select {
	case <-w.ready:
		b.mu.Lock()
		b.waited += time.Since(start)
		b.mu.Unlock()
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		defer b.mu.Unlock()
		b.waited += time.Since(start)
		select {
		case <-w.ready:
			// Granted meanwhile: give it back.
			b.releaseLocked(n)
		default:
			b.waiters.Remove(e)
			b.grantLocked() // the head may have changed
		}
		return ctx.Err()
	}
}

// TryAcquire takes n bytes if that needs no wait: nobody waits before it
// and they fit. It never waits.
func (b *Budget) TryAcquire(n int64) bool {
	if b == nil || n <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.waiters.Len() == 0 && b.used+n <= b.capacity {
		b.takeLocked(n)
		return true
	}
	return false
}

// Force takes n bytes without waiting, past the capacity if need be: for
// memory that is already allocated. Give it back soon.
func (b *Budget) Force(n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.takeLocked(n)
}

// Release gives n bytes back and wakes the waiters that fit now.
func (b *Budget) Release(n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.releaseLocked(n)
}

// Contended reports whether someone waits for memory: a holder that could
// give memory back (an idle reader's buffer) should.
func (b *Budget) Contended() bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.waiters.Len() > 0
}

// Stats is a snapshot of a Budget.
type Stats struct {
	Capacity, Used, Peak int64
	Waiting              int           // Acquires waiting now
	Waits                int64         // Acquires that had to wait, in all
	Waited               time.Duration // time they waited, in all
}

// Stats returns a snapshot.
func (b *Budget) Stats() Stats {
	if b == nil {
		return Stats{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return Stats{Capacity: b.capacity, Used: b.used, Peak: b.peak, Waiting: b.waiters.Len(), Waits: b.waits, Waited: b.waited}
}

func (b *Budget) takeLocked(n int64) {
	b.used += n
	b.peak = max(b.peak, b.used)
}

func (b *Budget) releaseLocked(n int64) {
	b.used -= n
	if b.used < 0 {
		panic("membudget: released more than was acquired")
	}
	b.grantLocked()
}

// grantLocked grants the waiters at the head of the line that fit, in order.
func (b *Budget) grantLocked() {
	for e := b.waiters.Front(); e != nil; e = b.waiters.Front() {
		w := e.Value.(*waiter)
		if !b.fitsLocked(w.n) {
			return
		}
		b.takeLocked(w.n)
		b.waiters.Remove(e)
		close(w.ready)
	}
}

// Account is one holder's share of a Budget: what it holds, grown without
// waiting and given back in part or whole. Not safe for concurrent use (one
// reader owns it).
type Account struct {
	b    *Budget
	held int64
}

// NewAccount returns an empty account of b.
func NewAccount(b *Budget) *Account { return &Account{b: b} }

// Held returns the bytes the account holds.
func (a *Account) Held() int64 { return a.held }

// Budget returns the account's budget.
func (a *Account) Budget() *Budget { return a.b }

// Grow makes the account hold at least n bytes without waiting; it reports
// false (holding what it held) when the budget cannot give them now.
func (a *Account) Grow(n int64) bool {
	if n <= a.held {
		return true
	}
	if !a.b.TryAcquire(n - a.held) {
		return false
	}
	a.held = n
	return true
}

// Wait makes an empty account hold n bytes, waiting for them. It panics when
// the account holds anything: waiting while holding could deadlock.
func (a *Account) Wait(ctx context.Context, n int64) error {
	if a.held != 0 {
		panic("membudget: Account.Wait while holding memory")
	}
	if err := a.b.Acquire(ctx, n); err != nil {
		return err
	}
	a.held = n
	return nil
}

// Force makes the account hold at least n bytes at once (memory already
// allocated), past the capacity if need be.
func (a *Account) Force(n int64) {
	if n > a.held {
		a.b.Force(n - a.held)
		a.held = n
	}
}

// Shrink gives back what the account holds above n.
func (a *Account) Shrink(n int64) {
	if n < a.held {
		a.b.Release(a.held - max(n, 0))
		a.held = max(n, 0)
	}
}

// Close gives back everything.
func (a *Account) Close() { a.Shrink(0) }

// Collector returns the budget's metrics for Prometheus:
//
//	logspool_input_memory_bytes           memory of input in flight now
//	logspool_input_memory_limit_bytes     the budget's size
//	logspool_input_memory_waiting         readers waiting for memory now
//	logspool_input_memory_waits_total     waits for memory, in all
//	logspool_input_memory_wait_seconds_total  time spent waiting, in all
func (b *Budget) Collector() prometheus.Collector { return collector{b} }

type collector struct{ b *Budget }

var (
	descUsed     = prometheus.NewDesc("logspool_input_memory_bytes", "Memory of input in flight (read buffers, decoded batches, pending partial messages of every reader, the journal's batch), counted against the budget derived from --memory-limit.", nil, nil)
	descCapacity = prometheus.NewDesc("logspool_input_memory_limit_bytes", "Size of the input memory budget (a quarter of --memory-limit).", nil, nil)
	descWaiting  = prometheus.NewDesc("logspool_input_memory_waiting", "Readers waiting for memory now (their files wait on disk).", nil, nil)
	descWaits    = prometheus.NewDesc("logspool_input_memory_waits_total", "Times a reader had to wait for memory.", nil, nil)
	descWaited   = prometheus.NewDesc("logspool_input_memory_wait_seconds_total", "Time readers spent waiting for memory.", nil, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descUsed
	ch <- descCapacity
	ch <- descWaiting
	ch <- descWaits
	ch <- descWaited
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.b.Stats()
	ch <- prometheus.MustNewConstMetric(descUsed, prometheus.GaugeValue, float64(s.Used))
	ch <- prometheus.MustNewConstMetric(descCapacity, prometheus.GaugeValue, float64(s.Capacity))
	ch <- prometheus.MustNewConstMetric(descWaiting, prometheus.GaugeValue, float64(s.Waiting))
	ch <- prometheus.MustNewConstMetric(descWaits, prometheus.CounterValue, float64(s.Waits))
	ch <- prometheus.MustNewConstMetric(descWaited, prometheus.CounterValue, s.Waited.Seconds())
}
