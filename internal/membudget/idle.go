package membudget

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Idle release: the Go runtime collects garbage only when the program
// allocates (or every two minutes), and even then keeps the freed heap up
// to its next goal, twice the live heap. An agent that read a burst and then
// went quiet (a node whose containers are idle) would hold the garbage of the
// burst, tens of MiB, for as long as it stays quiet. ReleaseWhenIdle returns
// it to the operating system once, when the process has gone quiet after
// work: one collection, then nothing until the next burst.

const (
	idleCheck = 10 * time.Second
	// idleQuiet: less allocated than this over idleCheck is quiet (a
	// /metrics scrape allocates some hundreds of KiB; a file read at a line a
	// second far more than that).
	idleQuiet = 4 << 20
	// idleWorth: at least this much allocated since the last release before
	// another one is worth a collection.
	idleWorth = 16 << 20
)

// ReleaseWhenIdle checks the heap's allocations every 10 s until ctx is
// done, and calls debug.FreeOSMemory when the process has gone quiet after
// allocating (see idleReleaser). Its cost while idle is one wake-up every
// 10 s, without a system call.
func ReleaseWhenIdle(ctx context.Context) {
	tick := time.NewTicker(idleCheck)
	defer tick.Stop()
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return sample[0].Value.Uint64()
	}
	r := idleReleaser{quiet: idleQuiet, worth: idleWorth}
	r.step(read())
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if r.step(read()) {
			debug.FreeOSMemory()
		}
	}
}

// idleReleaser decides from the cumulative bytes allocated, sampled at a
// fixed period, when to release: the last period allocated less than quiet,
// and at least worth was allocated since the last release.
type idleReleaser struct {
	quiet, worth  uint64
	last, release uint64 // allocations at the last sample and at the last release
	started       bool
}

func (r *idleReleaser) step(allocs uint64) bool {
	if !r.started {
		r.started, r.last, r.release = true, allocs, allocs
		return false
	}
	delta := allocs - r.last
	r.last = allocs
	if delta >= r.quiet || allocs-r.release < r.worth {
		return false
	}
	r.release = allocs
	return true
}
