package shipper

import (
	"context"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/logspool/logspool/internal/estest"
)

// TestChaosExactlyOnce ships records that a producer appends to a real spool
// concurrently, through a cluster that rejects items, resets connections
// after storing, answers 503 and truncates bodies at random, while the
// shipper is stopped and restarted with a short grace time (abandoning
// in-flight requests). In the end the cluster must hold every record exactly
// once and the spool must be empty. LOGSPOOL_SOAK=1 runs a much longer
// version.
func TestChaosExactlyOnce(t *testing.T) {
	records, restarts := 10000, 6
	if v := os.Getenv("LOGSPOOL_SOAK"); v != "" {
		records, restarts = 200000, 30
		if n, err := strconv.Atoi(v); err == nil && n > 1 {
			records = n
		}
	}
	srv := newEstest(t, estest.Options{Discard: true, RequestLog: -1, Seed: 7})
	for _, f := range []estest.Fault{
		{Kind: estest.FaultItemStatus, Status: 429, Fraction: 0.05},
		{Kind: estest.FaultResetAfterStore, Fraction: 0.05},
		{Kind: estest.FaultResetBeforeStore, Fraction: 0.03},
		{Kind: estest.FaultStatus, Status: 503, Fraction: 0.05},
		{Kind: estest.FaultTruncatedBody, Fraction: 0.03},
		{Kind: estest.FaultGarbageBody, Fraction: 0.02},
	} {
		srv.InjectFault(f)
	}
	sp := openSpool(t)
	recs := makeRecords(records, "chaos")

	// The producer appends in chunks while the shipper runs.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < len(recs); i += 100 {
			if err := sp.Append(context.Background(), recs[i:min(i+100, len(recs))]); err != nil {
				t.Errorf("append: %v", err)
				return
			}
		}
	}()
	cfg := func(c *Config) {
		c.Clock = nil // real clock, short backoff
		c.BackoffInit, c.BackoffMax = time.Millisecond, 20*time.Millisecond
		c.ShutdownTimeout = time.Millisecond
		c.BatchBytes = 16 << 10
		c.MaxInFlight = 3
	}
	for round := 0; round < restarts; round++ {
		s, _ := estestShipper(t, srv, fromSpool(sp), cfg)
		before := srv.Stats().BulkRequests
		stop := startRun(t, s)
		waitUntil(t, 60*time.Second, "the shipper makes progress", func() bool { return srv.Stats().BulkRequests >= before+5 })
		stop()
		if st := sp.Stats(); st.LeasedRecords != 0 {
			t.Fatalf("round %d: %d records still leased after the shipper stopped", round, st.LeasedRecords)
		}
	}
	wg.Wait()
	srv.ClearFaults()
	s, _ := estestShipper(t, srv, fromSpool(sp), cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if _, err := s.Drain(ctx, nil); err != nil {
		t.Fatalf("final drain: %v", err)
	}
	if st := sp.Stats(); st.QueuedRecords != 0 || st.DeadLetters != 0 {
		t.Errorf("spool after the final drain: %+v, want empty", st)
	}
	if n := srv.Count(DefaultIndex); n != len(recs) {
		t.Errorf("cluster holds %d documents, want %d exactly once", n, len(recs))
	}
	missing := 0
	for i := range recs {
		if !srv.Has(DefaultIndex, recs[i].ID.String()) {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d records missing from the cluster", missing)
	}
	t.Logf("bulk requests %d, duplicates answered %d, resets %d", srv.Stats().BulkRequests, srv.DuplicateCreates(), srv.Stats().Resets)
}
