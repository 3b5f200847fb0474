package membudget

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/logspool/logspool/internal/freelist"
)

// Idle release: the Go runtime collects garbage only when the program
// allocates (or every two minutes), and even then keeps the freed heap up
// to its next goal, twice the live heap. An agent that read a burst and then
// went quiet (a node whose containers are idle) would hold the garbage of the
// burst, tens of MiB, for as long as it stays quiet. ReleaseWhenIdle returns
// it to the operating system once, when the process has gone quiet after
// work: one collection, then nothing until the next burst. Goroutines that
// ended (readers of files closed as inactive, a minute after the burst) count
// as work too: their stacks are freed only by a collection. The free lists
// (package freelist) unused while it was quiet are emptied first.

const (
	idleCheck = 10 * time.Second
	// idleQuiet: less allocated than this over idleCheck is quiet (a
	// /metrics scrape allocates some hundreds of KiB; a file read at a line a
	// second far more than that).
	idleQuiet = 4 << 20
	// idleWorth: at least this much allocated since the last release before
	// another one is worth a collection.
	idleWorth = 16 << 20
	// idleGoroutinesWorth: this many goroutines ended since the last
	// release are worth a collection too, with no allocation at all: a
	// goroutine's stack (8 KiB or more) goes back to the heap only when a
	// collection finds it dead. Closing idle files (--close-inactive) ends
	// a reader goroutine per file and allocates next to nothing.
	idleGoroutinesWorth = 256
)

// ReleaseWhenIdle checks the heap's allocations every 10 s until ctx is
// done, and calls debug.FreeOSMemory when the process has gone quiet after
// allocating (see idleReleaser). Its cost while idle is one wake-up every
// 10 s, without a system call.
func ReleaseWhenIdle(ctx context.Context) {
	tick := time.NewTicker(idleCheck)
	defer tick.Stop()
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/sched/goroutines:goroutines"}}
	read := func() (allocs, goroutines uint64) {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			allocs = sample[0].Value.Uint64()
		}
		if sample[1].Value.Kind() == metrics.KindUint64 {
			goroutines = sample[1].Value.Uint64()
		}
		return allocs, goroutines
	}
	r := idleReleaser{quiet: idleQuiet, worth: idleWorth, goroutinesWorth: idleGoroutinesWorth}
	r.step(read())
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if r.step(read()) {
			// The free lists unused while it was quiet go with it (they
			// would wait for another collection, minutes away when idle).
			freelist.TrimIdle(idleCheck)
			debug.FreeOSMemory()
		}
	}
}

// idleReleaser decides from the cumulative bytes allocated and the number
// of goroutines, sampled at a fixed period, when to release: the last period
// allocated less than quiet, and since the last release at least worth was
// allocated or the goroutines fell by goroutinesWorth from their peak.
type idleReleaser struct {
	quiet, worth    uint64
	goroutinesWorth uint64
	last, release   uint64 // allocations at the last sample and at the last release
	peak            uint64 // the most goroutines sampled since the last release
	started         bool
}

func (r *idleReleaser) step(allocs, goroutines uint64) bool {
	if !r.started {
		r.started, r.last, r.release, r.peak = true, allocs, allocs, goroutines
		return false
	}
	delta := allocs - r.last
	r.last = allocs
	r.peak = max(r.peak, goroutines)
	ended := r.peak - goroutines
	if delta >= r.quiet || allocs-r.release < r.worth && (r.goroutinesWorth == 0 || ended < r.goroutinesWorth) {
		return false
	}
	r.release, r.peak = allocs, goroutines
	return true
}
