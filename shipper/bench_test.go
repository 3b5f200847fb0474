package shipper

import (
	"bytes"
	"context"
	"testing"

	"github.com/logspool/logspool/parser/testlogs"
	"github.com/logspool/logspool/parser/testlogs/testdocs"
	"github.com/logspool/logspool/spool/record"
)

// benchRecords returns n records as the spool hands them out: the parser's
// documents of production-like logs of a node (package testlogs; about 900
// bytes each, batches of 500 from one container after another).
func benchRecords(n int) []record.Record {
	return testdocs.Records(1, testlogs.Docker, n, 500)
}

func benchItems(recs []record.Record) ([]*item, int) {
	items := make([]*item, len(recs))
	for i := range recs {
		items[i] = &item{rec: &recs[i]}
	}
	body, _ := encodeShipper(CompressionNone, Config{}).encode(items)
	return items, len(body)
}

// encodeShipper is a Shipper that only encodes, in the given compression
// mode.
func encodeShipper(mode string, cfg Config) *Shipper {
	c, err := compressorFor(mode)
	if err != nil {
		panic(err)
	}
	return &Shipper{cfg: cfg.withDefaults(), comp: c}
}

// BenchmarkEncode measures bulk body encoding without compression; bytes
// are body bytes. Target: at least 300 MB/s per core.
func BenchmarkEncode(b *testing.B) {
	recs := benchRecords(5800) // about 5 MiB, one default batch
	items, size := benchItems(recs)
	s := encodeShipper(CompressionNone, Config{})
	b.SetBytes(int64(size))
	b.ReportAllocs()
	start := testlogs.CPUTime()
	for b.Loop() {
		body, _ := s.encode(items)
		putBuf(body)
	}
	testlogs.ReportMBPerCPUSecond(b, start, int64(size))
}

// BenchmarkCompress is the table of the README's --es-compression choice:
// one default batch (about 5 MiB of realistic documents) encoded and
// compressed per iteration, as sent. It reports the CPU per document of
// encoding plus compression (cpu-ns/doc; encoding alone is the none row) and
// the bytes each document puts on the wire (wire-B/doc, and the ratio).
func BenchmarkCompress(b *testing.B) {
	recs := benchRecords(5800) // about 5 MiB, one default batch
	items, size := benchItems(recs)
	for _, mode := range []string{CompressionNone, CompressionGzipHuffman, CompressionGzipStateless, CompressionGzip, "gzip-2", "gzip-3", "gzip-6", "gzip-9"} {
		b.Run(mode, func(b *testing.B) {
			s := encodeShipper(mode, Config{})
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var wire int
			start := testlogs.CPUTime()
			for b.Loop() {
				body, _ := s.encode(items)
				wire = len(body)
				putBuf(body)
			}
			cpu := testlogs.CPUTime() - start
			docs := float64(len(items) * b.N)
			b.ReportMetric(float64(cpu.Nanoseconds())/docs, "cpu-ns/doc")
			b.ReportMetric(float64(wire)/float64(len(items)), "wire-B/doc")
			b.ReportMetric(float64(size)/float64(wire), "ratio")
		})
	}
}

// BenchmarkEncodeDaily measures encoding with daily index names.
func BenchmarkEncodeDaily(b *testing.B) {
	recs := benchRecords(5800)
	items, size := benchItems(recs)
	s := encodeShipper(CompressionNone, Config{IndexMode: IndexModeDaily})
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		body, _ := s.encode(items)
		putBuf(body)
	}
}

// BenchmarkParseBulkResponse measures reading the filtered response to a
// full default batch: all created (the fast path), and one item refused
// (the full decoder).
func BenchmarkParseBulkResponse(b *testing.B) {
	const n = 8000
	for _, name := range []string{"clean", "one-refused", "resend-all-409"} {
		st := make([]int, n)
		types := make([]string, n)
		for i := range st {
			st[i] = 201
			if name == "resend-all-409" {
				st[i], types[i] = 409, "version_conflict_engine_exception"
			}
		}
		if name == "one-refused" {
			st[17], types[17] = 400, "mapper_parsing_exception"
		}
		body := bulkResponseBody(st, types)
		if name != "one-refused" {
			body = bytes.Replace(body, []byte(`{"took":3,`), []byte(`{`), 1) // as filter_path leaves it
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			start := testlogs.CPUTime()
			for b.Loop() {
				if _, err := parseBulkResponse(body, n); err != nil {
					b.Fatal(err)
				}
			}
			testlogs.ReportMBPerCPUSecond(b, start, int64(len(body)))
		})
	}
}

// BenchmarkShipFake measures end-to-end shipping (lease, encode, gzip,
// HTTP, parse, ack) against the in-package fake cluster; docs/s reported.
func BenchmarkShipFake(b *testing.B) {
	recs := benchRecords(20000)
	t := &testing.T{}
	for b.Loop() {
		b.StopTimer()
		f := newFakeES(t, "es8")
		src := newMemSource(t, recs...)
		s, err := New(Config{URLs: []string{f.URL()}, Logger: discardLogger(), Setup: SetupOff()}, src)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		sum, err := s.Drain(context.Background(), nil)
		if err != nil || sum.Delivered != int64(len(recs)) {
			b.Fatalf("drain: %+v %v", sum, err)
		}
		b.StopTimer()
		f.srv.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(len(recs)*b.N)/b.Elapsed().Seconds(), "docs/s")
}
