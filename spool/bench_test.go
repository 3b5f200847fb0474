package spool

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/logspool/logspool/spool/record"
)

// benchBatch is a realistic Append: 500 records of ~170-byte documents.
// benchBatch is 500 records of 170 bytes. Their messages are repetitive;
// noisyBatch's are random, which S2 cannot shrink (the worst case; real logs
// compress several times).
func benchBatch() ([]record.Record, int64) { return sized(makeRecords(0, 500, 170)) }

func noisyBatch() ([]record.Record, int64) { return sized(makeNoisyRecords(0, 500, 170)) }

func sized(recs []record.Record) ([]record.Record, int64) {
	var n int64
	for i := range recs {
		n += int64(recs[i].Size())
	}
	return recs, n
}

func BenchmarkAppend(b *testing.B) {
	s := openSpool(b, Config{MaxBytes: 1 << 40})
	recs, n := benchBatch()
	ctx := context.Background()
	b.SetBytes(n)
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for i := 0; i < b.N; i++ {
		if err := s.Append(ctx, recs, record.Checkpoint{Key: "f/bench", Value: []byte("12345678")}); err != nil {
			b.Fatal(err)
		}
	}
	reportPerCore(b, start, n)
}

// cpuTime is the user+system CPU time of this process so far (background
// goroutines of Badger included).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportPerCore adds MB per CPU-second: throughput per core, whatever the
// other tenants of the machine do to wall-clock time.
func reportPerCore(b *testing.B, start time.Duration, bytesPerOp int64) {
	if cpu := (cpuTime() - start).Seconds(); cpu > 0 {
		b.ReportMetric(float64(bytesPerOp)*float64(b.N)/cpu/1e6, "MB/cpu-s")
	}
}

// BenchmarkAppendLeaseDone is the spool's steady state: batches in, 5 MiB
// leases out and acked.
func BenchmarkAppendLeaseDone(b *testing.B) {
	b.Run("repetitive-docs", func(b *testing.B) { benchAppendLeaseDone(b, benchBatch) })
	b.Run("random-docs", func(b *testing.B) { benchAppendLeaseDone(b, noisyBatch) })
}

func benchAppendLeaseDone(b *testing.B, batch func() ([]record.Record, int64)) {
	s := openSpool(b, Config{})
	recs, n := batch()
	ctx := context.Background()
	b.SetBytes(n)
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	defer func() { reportPerCore(b, start, n) }()
	for i := 0; i < b.N; i++ {
		if err := s.Append(ctx, recs, record.Checkpoint{Key: "f/bench", Value: []byte("12345678")}); err != nil {
			b.Fatal(err)
		}
		for s.Stats().QueuedBytes >= 5<<20 {
			l, err := s.Lease(ctx, 5<<20)
			if err != nil {
				b.Fatal(err)
			}
			if err := l.Done(nil); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkDecodeSegment(b *testing.B) {
	recs, n := benchBatch()
	v := encodeSegment(nil, recs)
	key := segKey(segMeta{seq: 1, count: uint32(len(recs))})
	out := make([]record.Record, 0, len(recs))
	b.SetBytes(n)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var err error
		if out, err = decodeSegment(out[:0], key, v, uint32(len(recs))); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeSegment(b *testing.B) {
	recs, n := benchBatch()
	buf := make([]byte, 0, 256<<10)
	b.SetBytes(n)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = encodeSegment(buf[:0], recs)
	}
}
