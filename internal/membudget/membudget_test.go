package membudget

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAcquireAndRelease(t *testing.T) {
	tests := []struct {
		name     string
		capacity int64
		steps    func(t *testing.T, b *Budget)
	}{
		{"what fits is granted at once", 100, func(t *testing.T, b *Budget) {
			mustAcquire(t, b, 60)
			mustAcquire(t, b, 40)
			if b.TryAcquire(1) {
				t.Fatal("TryAcquire(1) on a full budget succeeded")
			}
			b.Release(100)
			if !b.TryAcquire(100) {
				t.Fatal("TryAcquire(100) on an empty budget failed")
			}
		}},
		{"a request larger than the budget is granted when nothing is held", 100, func(t *testing.T, b *Budget) {
			mustAcquire(t, b, 10)
			got := acquireAsync(b, 500)
			expectWaiting(t, got)
			b.Release(10)
			expectGranted(t, got)
			if s := b.Stats(); s.Used != 500 {
				t.Fatalf("used %d, want 500", s.Used)
			}
			if b.TryAcquire(1) {
				t.Fatal("TryAcquire beside an oversized grant succeeded")
			}
		}},
		{"waiters are served in order, a small one does not pass a large one", 100, func(t *testing.T, b *Budget) {
			mustAcquire(t, b, 90)
			large := acquireAsync(b, 50)
			expectWaiting(t, large)
			small := acquireAsync(b, 5) // would fit, but waits behind large
			expectWaiting(t, small)
			if b.TryAcquire(5) {
				t.Fatal("TryAcquire passed a waiter")
			}
			b.Release(90)
			expectGranted(t, large)
			expectGranted(t, small)
		}},
		{"Force goes past the capacity and later requests wait until it is back", 100, func(t *testing.T, b *Budget) {
			mustAcquire(t, b, 80)
			b.Force(70)
			if s := b.Stats(); s.Used != 150 || s.Peak != 150 {
				t.Fatalf("stats %+v, want used and peak 150", s)
			}
			w := acquireAsync(b, 10)
			expectWaiting(t, w)
			b.Release(50)
			expectWaiting(t, w) // 100 + 10 > 100
			b.Release(20)
			expectGranted(t, w)
		}},
		{"a cancelled wait holds nothing and lets the next waiter in", 100, func(t *testing.T, b *Budget) {
			mustAcquire(t, b, 100)
			ctx, cancel := context.WithCancel(context.Background())
			first := make(chan error, 1)
			go func() { first <- b.Acquire(ctx, 100) }()
			waitWaiting(t, b, 1)
			second := acquireAsync(b, 1)
			waitWaiting(t, b, 2)
			cancel()
			if err := <-first; err == nil {
				t.Fatal("a cancelled Acquire returned nil")
			}
			b.Release(1)
			expectGranted(t, second)
			if s := b.Stats(); s.Used != 100 {
				t.Fatalf("used %d, want 100", s.Used)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.steps(t, New(tc.capacity)) })
	}
}

func TestForceReleaseGrantsWaiter(t *testing.T) {
	b := New(100)
	mustAcquire(t, b, 80)
	b.Force(70)
	w := acquireAsync(b, 10)
	expectWaiting(t, w)
	b.Release(70)
	expectGranted(t, w) // 80 + 10 <= 100
}

func TestNilBudgetIsUnlimited(t *testing.T) {
	var b *Budget
	mustAcquire(t, b, 1<<40)
	if !b.TryAcquire(1 << 40) {
		t.Fatal("TryAcquire on nil failed")
	}
	b.Force(5)
	b.Release(5)
	if b.Contended() || b.Capacity() != 0 {
		t.Fatal("a nil budget is contended or has a capacity")
	}
	a := NewAccount(b)
	if !a.Grow(1 << 30) {
		t.Fatal("Grow on a nil budget failed")
	}
	a.Close()
}

func TestAccountWaitWhileHoldingPanics(t *testing.T) {
	a := NewAccount(New(10))
	if !a.Grow(5) {
		t.Fatal("Grow failed")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Wait while holding did not panic")
		}
	}()
	_ = a.Wait(context.Background(), 1)
}

func TestReleasingTooMuchPanics(t *testing.T) {
	b := New(10)
	defer func() {
		if recover() == nil {
			t.Fatal("releasing more than held did not panic")
		}
	}()
	b.Release(1)
}

// TestModelBudget runs holders that follow the package's rules (grow
// without waiting; when that fails, give everything back and wait; now and
// then force memory past the capacity; sometimes need more than the whole
// budget) against a model of what each holds, and checks after every step
// that the budget's count equals the model's sum, that it is within the
// capacity except for forced memory and a lone oversized grant, and that
// every holder finishes (no deadlock). LOGSPOOL_TORTURE=1 runs 1,000 seeds;
// LOGSPOOL_SEED=n reruns one.
func TestModelBudget(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5, 6, 7, 8}
	if os.Getenv("LOGSPOOL_TORTURE") == "1" {
		seeds = seeds[:0]
		for s := uint64(1); s <= 1000; s++ {
			seeds = append(seeds, s)
		}
	}
	if s := os.Getenv("LOGSPOOL_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("LOGSPOOL_SEED=%q: %v", s, err)
		}
		seeds = []uint64{n}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runBudgetModel(t, seed) })
	}
}

func runBudgetModel(t *testing.T, seed uint64) {
	const capacity = 1000
	b := New(capacity)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e37))
	holders := 2 + rng.IntN(8)
	steps := 200 + rng.IntN(300)
	// The model: what each holder holds, what it waits for, and the bytes
	// taken by Force and not yet given back. Every operation but a wait
	// changes the budget and the model under mu, together.
	var (
		mu      sync.Mutex
		held    = make([]int64, holders)
		waiting = make([]int64, holders)
		forced  = make([]int64, holders)
	)
	check := func(where string) {
		mu.Lock()
		defer mu.Unlock()
		var sum, pending, force int64
		lone := false
		for h := range held {
			sum += held[h]
			pending += waiting[h]
			force += forced[h]
			lone = lone || held[h] > capacity || waiting[h] > capacity
		}
		s := b.Stats()
		// A wait granted but not yet seen by its holder is counted by the
		// budget only.
		if s.Used < sum || s.Used > sum+pending {
			t.Errorf("seed %d, %s: budget says %d used, holders hold %d and wait for %d", seed, where, s.Used, sum, pending)
		}
		if over := s.Used - capacity; over > 0 && over > force+pending && !lone {
			t.Errorf("seed %d, %s: %d used, over the capacity by more than the %d forced", seed, where, s.Used, force)
		}
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	for h := 0; h < holders; h++ {
		r := rand.New(rand.NewPCG(seed, uint64(h)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := NewAccount(b)
			for i := 0; i < steps; i++ {
				switch op := r.IntN(10); {
				case op < 5: // grow, or give everything back and wait
					want := int64(1 + r.IntN(300))
					if r.IntN(40) == 0 {
						want = capacity + int64(r.IntN(500)) // a huge line
					}
					mu.Lock()
					ok := a.Grow(a.Held() + want)
					if !ok {
						a.Close()
						forced[h] = 0
						waiting[h] = want
					}
					held[h] = a.Held()
					mu.Unlock()
					if ok {
						continue
					}
					if err := a.Wait(context.Background(), want); err != nil {
						t.Errorf("Wait: %v", err)
						return
					}
					mu.Lock()
					held[h], waiting[h] = a.Held(), 0
					mu.Unlock()
				case op < 7: // give some back
					mu.Lock()
					a.Shrink(a.Held() / 2)
					held[h] = a.Held()
					forced[h] = min(forced[h], a.Held())
					mu.Unlock()
				case op < 8: // a document larger than expected
					n := int64(1 + r.IntN(200))
					mu.Lock()
					a.Force(a.Held() + n)
					held[h] = a.Held()
					forced[h] += n
					mu.Unlock()
				default:
					check(fmt.Sprintf("holder %d step %d", h, i))
				}
			}
			mu.Lock()
			a.Close()
			held[h], forced[h] = 0, 0
			mu.Unlock()
		}()
	}
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("seed %d: holders did not finish in 60 s (deadlock?); stats %+v", seed, b.Stats())
	}
	check("end")
	if s := b.Stats(); s.Used != 0 {
		t.Fatalf("seed %d: %d bytes still used at the end", seed, s.Used)
	}
}

func mustAcquire(t *testing.T, b *Budget, n int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Acquire(ctx, n); err != nil {
		t.Fatalf("Acquire(%d): %v", n, err)
	}
}

func acquireAsync(b *Budget, n int64) chan error {
	ch := make(chan error, 1)
	go func() { ch <- b.Acquire(context.Background(), n) }()
	return ch
}

func expectWaiting(t *testing.T, ch chan error) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("Acquire returned (%v), want it waiting", err)
	case <-time.After(50 * time.Millisecond):
	}
}

func expectGranted(t *testing.T, ch chan error) {
	t.Helper()
	select {
	case err := <-ch:
		if err != nil {
			t.Fatalf("Acquire: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Acquire still waits after 10 s")
	}
}

func waitWaiting(t *testing.T, b *Budget, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.Stats().Waiting < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters after 10 s, want %d", b.Stats().Waiting, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCollectorReportsTheBudget(t *testing.T) {
	b := New(1000)
	b.Force(300)
	reg := prometheus.NewRegistry()
	reg.MustRegister(b.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		if g := m.GetGauge(); g != nil {
			got[mf.GetName()] = g.GetValue()
		} else {
			got[mf.GetName()] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"logspool_input_memory_bytes": 300, "logspool_input_memory_limit_bytes": 1000, "logspool_input_memory_waiting": 0,
		"logspool_input_memory_waits_total": 0, "logspool_input_memory_wait_seconds_total": 0,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("metrics %v, want %v", got, want)
	}
}

// TestIdleReleaserFreesOnceAfterWork: the heap is given back when the
// process goes quiet after allocating, once per burst; never while it
// works, and not for the little a quiet process allocates.
func TestIdleReleaserFreesOnceAfterWork(t *testing.T) {
	const MiB = 1 << 20
	steps := []struct {
		allocs uint64 // cumulative, at each sample
		want   bool
	}{
		{10 * MiB, false},  // first sample: nothing to compare
		{11 * MiB, false},  // quiet, but only 1 MiB allocated since the start
		{60 * MiB, false},  // a burst: busy
		{200 * MiB, false}, // still busy
		{201 * MiB, true},  // quiet after the burst: release
		{202 * MiB, false}, // quiet again: already released
		{205 * MiB, false}, // scrapes now and then: not worth a collection
		{250 * MiB, false}, // the next burst
		{251 * MiB, true},  // quiet again: release
	}
	r := idleReleaser{quiet: 4 * MiB, worth: 16 * MiB}
	for i, s := range steps {
		if got := r.step(s.allocs, 10); got != s.want {
			t.Errorf("sample %d (%d MiB allocated): release = %v, want %v", i, s.allocs/MiB, got, s.want)
		}
	}
}

// TestIdleReleaserFreesAfterGoroutinesEnd: goroutines that ended (readers
// of files closed as inactive) hold their stacks until a collection, and
// closing files allocates next to nothing: a quiet process whose goroutines
// fell by goroutinesWorth from their peak since the last release releases,
// once.
func TestIdleReleaserFreesAfterGoroutinesEnd(t *testing.T) {
	const MiB = 1 << 20
	steps := []struct {
		name               string
		allocs, goroutines uint64
		want               bool
	}{
		{"the first sample", 100 * MiB, 2000, false},
		{"quiet, nothing ended", 101 * MiB, 2000, false},
		{"quiet, a few ended", 102 * MiB, 1800, false},
		{"busy while most end", 107 * MiB, 500, false},
		{"quiet after they ended (8 MiB allocated)", 108 * MiB, 40, true},
		{"quiet, already released", 109 * MiB, 40, false},
		{"files opened again", 110 * MiB, 1040, false},
		{"and closed again", 111 * MiB, 50, true},
	}
	r := idleReleaser{quiet: 4 * MiB, worth: 16 * MiB, goroutinesWorth: 256}
	for _, s := range steps {
		if got := r.step(s.allocs, s.goroutines); got != s.want {
			t.Errorf("%s (%d MiB allocated, %d goroutines): release = %v, want %v", s.name, s.allocs/MiB, s.goroutines, got, s.want)
		}
	}
}

// TestReleaseWhenIdleStopsWithItsContext: the goroutine ends with ctx
// (goleak checks the package).
func TestReleaseWhenIdleStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ReleaseWhenIdle(ctx); close(done) }()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("ReleaseWhenIdle did not return after its context was cancelled")
	}
}
