package spool

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/logspool/logspool/parser/testlogs"
	"github.com/logspool/logspool/parser/testlogs/testdocs"
	"github.com/logspool/logspool/spool/record"
)

// Batches as the tailer appends them: 500 records of one container.
//   - realistic: the parser's documents of production-like logs (package
//     testlogs; about 900-byte documents, S2 shrinks a batch about 13 times:
//     the metadata repeats in every document);
//   - repetitive-docs: 170-byte documents that differ in a counter (the best
//     case, the input of the figures before the realistic one);
//   - random-docs: 170-byte documents of random base64, which S2 cannot
//     shrink (the worst case).
type batchSet struct {
	name    string
	batches func() [][]record.Record
}

var batchSets = []batchSet{
	{"realistic", realisticBatches},
	{"repetitive-docs", func() [][]record.Record { return [][]record.Record{makeRecords(0, 500, 170)} }},
	{"random-docs", func() [][]record.Record { return [][]record.Record{makeNoisyRecords(0, 500, 170)} }},
}

// realisticBatches are 16 batches, two of each container of the node.
func realisticBatches() [][]record.Record {
	recs := testdocs.Records(1, testlogs.Docker, 16*500, 500)
	var out [][]record.Record
	for len(recs) > 0 {
		out = append(out, recs[:500:500])
		recs = recs[500:]
	}
	return out
}

func sized(recs []record.Record) ([]record.Record, int64) { return recs, testdocs.Size(recs) }

// meanSize is the mean total size of the batches.
func meanSize(batches [][]record.Record) int64 {
	var n int64
	for _, b := range batches {
		n += testdocs.Size(b)
	}
	return n / int64(len(batches))
}

func BenchmarkAppend(b *testing.B) {
	for _, set := range batchSets {
		b.Run(set.name, func(b *testing.B) {
			s := openSpool(b, Config{MaxBytes: 1 << 40})
			batches := set.batches()
			n := meanSize(batches)
			ctx := context.Background()
			b.SetBytes(n)
			b.ReportAllocs()
			b.ResetTimer()
			start := testlogs.CPUTime()
			for i := 0; i < b.N; i++ {
				if err := s.Append(ctx, batches[i%len(batches)], record.Checkpoint{Key: "f/bench", Value: []byte("12345678")}); err != nil {
					b.Fatal(err)
				}
			}
			testlogs.ReportMBPerCPUSecond(b, start, n)
		})
	}
}

// BenchmarkAppendLeaseDone is the spool's steady state: batches in, 5 MiB
// leases out and acked.
func BenchmarkAppendLeaseDone(b *testing.B) {
	for _, set := range batchSets {
		b.Run(set.name, func(b *testing.B) { benchAppendLeaseDone(b, set.batches()) })
	}
}

func benchAppendLeaseDone(b *testing.B, batches [][]record.Record) {
	s := openSpool(b, Config{})
	n := meanSize(batches)
	ctx := context.Background()
	b.SetBytes(n)
	b.ReportAllocs()
	b.ResetTimer()
	start := testlogs.CPUTime()
	recs := 0
	defer func() {
		testlogs.ReportMBPerCPUSecond(b, start, n)
		// The spool's whole share of a record's cost end to end (S2 both
		// ways, data file writes and reads, Badger, sync rounds): the
		// stage floor README "Performance" adds up.
		if cpu := testlogs.CPUTime() - start; recs > 0 {
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(recs), "cpu-ns/record")
		}
	}()
	for i := 0; i < b.N; i++ {
		recs += len(batches[i%len(batches)])
		if err := s.Append(ctx, batches[i%len(batches)], record.Checkpoint{Key: "f/bench", Value: []byte("12345678")}); err != nil {
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
	for _, set := range batchSets {
		b.Run(set.name, func(b *testing.B) {
			recs, n := sized(set.batches()[0])
			v := encodeSegment(nil, recs)
			key := segKey(segMeta{seq: 1, count: uint32(len(recs))})
			out := make([]record.Record, 0, len(recs))
			b.SetBytes(n)
			b.ReportAllocs()
			b.ReportMetric(float64(n)/float64(len(v)), "ratio")
			for i := 0; i < b.N; i++ {
				var err error
				if out, err = decodeSegment(out[:0], key, v, uint32(len(recs)), nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodeSegment(b *testing.B) {
	for _, set := range batchSets {
		b.Run(set.name, func(b *testing.B) {
			recs, n := sized(set.batches()[0])
			buf := make([]byte, 0, 256<<10)
			b.SetBytes(n)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				buf = encodeSegment(buf[:0], recs)
			}
		})
	}
}

// BenchmarkOpenVerify is the check at every start: Open reads every queued
// record's entry and verifies its checksum (warm page cache), then Close.
// The bytes are the data files' size.
func BenchmarkOpenVerify(b *testing.B) {
	dir := b.TempDir()
	s := openSpool(b, Config{Dir: dir})
	recs, n := sized(makeNoisyRecords(0, 500, 170))
	for queued := int64(0); queued < 128<<20; queued += n {
		if err := s.Append(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
	}
	mustClose(b, s)
	b.SetBytes(dirSize(filepath.Join(dir, dataDirName)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := Open(Config{Dir: dir, Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
