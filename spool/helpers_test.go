package spool

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/logspool/logspool/spool/record"
)

// childEnv selects a child-process role when the test binary is re-executed.
const childEnv = "LOGSPOOL_SPOOL_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
	case "hold":
		childHold(os.Getenv("LOGSPOOL_SPOOL_TEST_DIR"))
		return
	case "append":
		childAppend(os.Getenv("LOGSPOOL_SPOOL_TEST_DIR"))
		return
	case "appendack":
		childAppendAck(os.Getenv("LOGSPOOL_SPOOL_TEST_DIR"))
		return
	case "open":
		childOpen(os.Getenv("LOGSPOOL_SPOOL_TEST_DIR"))
		return
	default:
		fmt.Fprintln(os.Stderr, "unknown child role")
		os.Exit(2)
	}
	goleak.VerifyTestMain(m,
		// Badger leaks these when its Open fails half-way (a corrupt
		// directory, a read-only open of a crashed spool); nothing of ours.
		goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2/z.(*AllocatorPool).freeupAllocators"),
		goleak.IgnoreTopFunction("github.com/dgraph-io/badger/v4.(*DB).monitorCache"),
		goleak.IgnoreTopFunction("github.com/dgraph-io/badger/v4/y.(*WaterMark).process"),
		goleak.IgnoreTopFunction("github.com/dgraph-io/badger/v4.(*DB).updateSize"),
	)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openSpool opens a spool in a fresh (or the given) directory and closes it at
// the end of the test.
func openSpool(t testing.TB, cfg Config) *Spool {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", cfg.Dir, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// mustClose closes s and fails the test on error.
func mustClose(t testing.TB, s *Spool) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// idOf is the ID of the n-th test record.
func idOf(n uint64) record.ID {
	var id record.ID
	binary.BigEndian.PutUint64(id[8:], n)
	return id
}

func numOf(id record.ID) uint64 { return binary.BigEndian.Uint64(id[8:]) }

// makeRecords returns records numbered from first with docs of about docSize bytes.
func makeRecords(first uint64, n, docSize int) []record.Record {
	recs := make([]record.Record, n)
	for i := range recs {
		num := first + uint64(i)
		doc := fmt.Appendf(nil, `{"n":%d,"message":"`, num)
		for len(doc) < docSize-2 {
			doc = append(doc, 'x')
		}
		doc = append(doc, `"}`...)
		recs[i] = record.Record{ID: idOf(num), Time: int64(num) * 1e9, Doc: doc}
	}
	return recs
}

// makeNoisyRecords is makeRecords with random (base64) messages: S2 cannot
// shrink them, so every byte reaches Badger, as the worst real logs do.
func makeNoisyRecords(first uint64, n, docSize int) []record.Record {
	recs := makeRecords(first, n, docSize)
	rnd := make([]byte, docSize)
	for i := range recs {
		doc := recs[i].Doc
		at := bytes.Index(doc, []byte(`"message":"`)) + len(`"message":"`)
		body := doc[at : len(doc)-2] // the x run of the message
		_, _ = crand.Read(rnd)
		copy(body, base64.StdEncoding.EncodeToString(rnd))
	}
	return recs
}

func mustAppend(t testing.TB, s *Spool, recs []record.Record, cps ...record.Checkpoint) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Append(ctx, recs, cps...); err != nil {
		t.Fatalf("Append(%d records): %v", len(recs), err)
	}
}

func mustLease(t testing.TB, s *Spool, maxBytes int) *Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := s.Lease(ctx, maxBytes)
	if err != nil {
		t.Fatalf("Lease(%d): %v", maxBytes, err)
	}
	return l
}

func mustDone(t testing.TB, l *Lease, dead ...DeadLetter) {
	t.Helper()
	if err := l.Done(dead); err != nil {
		t.Fatalf("Done: %v", err)
	}
}

// leaseNums returns the record numbers of l.
func leaseNums(l *Lease) []uint64 {
	out := make([]uint64, len(l.Records))
	for i, r := range l.Records {
		out[i] = numOf(r.ID)
	}
	return out
}

// seqNums returns first, first+1, ..., first+n-1.
func seqNums(first uint64, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = first + uint64(i)
	}
	return out
}

// dumpNums returns the numbers of every queued record, oldest first.
func dumpNums(t testing.TB, s *Spool) []uint64 {
	t.Helper()
	var out []uint64
	if err := s.Dump(func(r record.Record) error {
		out = append(out, numOf(r.ID))
		return nil
	}); err != nil {
		t.Fatalf("Dump: %v", err)
	}
	return out
}

// checkRecords verifies that recs are exactly the test records numbered nums.
func checkRecords(t testing.TB, recs []record.Record, docSize int, nums []uint64) {
	t.Helper()
	if len(recs) != len(nums) {
		t.Fatalf("got %d records, want %d", len(recs), len(nums))
	}
	for i, r := range recs {
		want := makeRecords(nums[i], 1, docSize)[0]
		if r.ID != want.ID || r.Time != want.Time || !bytes.Equal(r.Doc, want.Doc) {
			t.Fatalf("record %d: got id %d time %d doc %q, want number %d", i, numOf(r.ID), r.Time, r.Doc, nums[i])
		}
	}
}

// waitUntil polls cond every few milliseconds until it holds or timeout passes.
func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting until %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func equalNums(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
