// Package freelist keeps reusable buffers between uses: a bounded List per
// kind of buffer (a lease's decode chunks, a parser's document chunks, the
// shipper's body buffers), shared by the goroutines that use it.
//
// It replaces sync.Pool on the hot path because a sync.Pool is emptied by
// every two garbage collections: under a tight --memory-limit the GC runs
// every few MiB allocated, the pools lose their buffers, the buffers are
// allocated again, and the GC runs even more often. A List keeps what was
// put back, up to its bound, whatever the GC does.
//
// What a List keeps is not lost forever to an idle agent: a List that has
// not been used for IdleAfter is emptied at the next garbage collection
// (the runtime forces one at least every two minutes), so memory held for a
// burst is returned once the burst is over.
package freelist

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// IdleAfter is how long a List must go unused before a garbage collection
// empties it.
const IdleAfter = 30 * time.Second

// List holds at most Max values of type T for reuse. The zero value is not
// usable: make one with New.
type List[T any] struct {
	max  int
	mu   sync.Mutex
	free []T
	used time.Time // last Get or Put
}

// New returns a List keeping at most max values.
func New[T any](max int) *List[T] {
	l := &List[T]{max: max}
	lists.mu.Lock()
	lists.all = append(lists.all, l)
	lists.mu.Unlock()
	return l
}

// Get takes a value; ok is false when the list is empty.
func (l *List[T]) Get() (v T, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.used = now()
	n := len(l.free)
	if n == 0 {
		return v, false
	}
	v = l.free[n-1]
	var zero T
	l.free[n-1] = zero
	l.free = l.free[:n-1]
	return v, true
}

// Put gives v back; it reports false (and keeps nothing) when the list is
// full, so that the caller may drop v.
func (l *List[T]) Put(v T) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.used = now()
	if len(l.free) >= l.max {
		return false
	}
	l.free = append(l.free, v)
	return true
}

// Len is the number of values held.
func (l *List[T]) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.free)
}

// trimIdle empties l when it has not been used since before cutoff.
func (l *List[T]) trimIdle(cutoff time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.free) > 0 && l.used.Before(cutoff) {
		clear(l.free)
		l.free = nil
	}
}

// clock, when set, replaces time.Now (a seam for the tests). It is read by
// the cleanup goroutine that trims idle Lists, hence atomic.
var clock atomic.Pointer[func() time.Time]

func now() time.Time {
	if f := clock.Load(); f != nil {
		return (*f)()
	}
	return time.Now()
}

type trimmer interface{ trimIdle(cutoff time.Time) }

var lists struct {
	mu  sync.Mutex
	all []trimmer
}

// trimAll empties every List idle for IdleAfter.
func trimAll() { trimBefore(now().Add(-IdleAfter)) }

// TrimIdle empties every List unused for at least idle, now: what they held
// is garbage for the next collection. An agent gone quiet calls it before
// the collection it forces to give its heap back (membudget.ReleaseWhenIdle),
// which would otherwise only make the Lists idle for IdleAfter garbage for
// the collection after it.
func TrimIdle(idle time.Duration) { trimBefore(now().Add(-idle)) }

// trimBefore empties every List unused since before cutoff.
func trimBefore(cutoff time.Time) {
	lists.mu.Lock()
	all := lists.all
	lists.mu.Unlock()
	for _, l := range all {
		l.trimIdle(cutoff)
	}
}

// gcSentinel is garbage as soon as it is made: its cleanup runs after the
// next garbage collection, trims the idle Lists and arms the next one.
type gcSentinel struct{ _ [16]byte }

func armGCHook() {
	runtime.AddCleanup(new(gcSentinel), func(struct{}) {
		trimAll()
		armGCHook()
	}, struct{}{})
}

func init() { armGCHook() }
