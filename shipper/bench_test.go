package shipper

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/logspool/logspool/spool/record"
)

// benchRecords returns n records with realistic Kubernetes ECS documents of
// about 650 bytes. Request ids, paths, sizes and latencies vary (from a
// seeded PRNG), so the documents compress about as well as real logs do.
func benchRecords(n int) []record.Record {
	rnd := rand.New(rand.NewPCG(1, 2))
	paths := []string{"/api/v1/items", "/api/v1/cart", "/healthz", "/api/v2/search", "/static/app.js", "/login"}
	agents := []string{"kube-probe/1.31", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36", "curl/8.5.0", "Go-http-client/1.1"}
	codes := []int{200, 200, 200, 201, 204, 301, 404, 500}
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{
			ID:   record.FileID("node-1", "bench", int64(i)*650),
			Time: time.Date(2026, 11, 25, 10, 0, 0, i, time.UTC).UnixNano(),
			Doc: fmt.Appendf(nil, `{"@timestamp":"2026-11-25T10:%02d:%02d.%09dZ","message":"10.%d.%d.%d - - \"GET %s/%d?q=%x HTTP/1.1\" %d %d \"-\" \"%s\" rt=0.%03d req_id=%016x%016x","stream":"stdout","log":{"offset":%d,"file":{"path":"/var/log/containers/web-7c9f8d6b5-x2x7q_shop_web-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.log"}},"kubernetes":{"namespace":"shop","pod":{"name":"web-7c9f8d6b5-x2x7q","uid":"6f1c1c1e-3b7a-4b7e-9d59-1d1f2b3c4d5e"},"container":{"name":"web"},"node":{"name":"node-1"}},"container":{"id":"0123456789abcdef","runtime":"containerd"},"host":{"name":"node-1"}}`,
				i/60000%60, i/1000%60, rnd.IntN(1e9), rnd.IntN(256), rnd.IntN(256), rnd.IntN(256),
				paths[rnd.IntN(len(paths))], rnd.IntN(100000), rnd.Uint32(), codes[rnd.IntN(len(codes))], rnd.IntN(50000),
				agents[rnd.IntN(len(agents))], rnd.IntN(1000), rnd.Uint64(), rnd.Uint64(), int64(i)*650),
		}
	}
	return recs
}

// cpuTime returns the process's user+system CPU time. Benchmarks report
// MB per CPU-second next to the wall-clock MB/s, which on a shared machine
// says more about the per-core speed.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the "MB/cpu-s" metric for size bytes per iteration.
func reportCPU(b *testing.B, start time.Duration, size int) {
	if cpu := (cpuTime() - start).Seconds(); cpu > 0 {
		b.ReportMetric(float64(size)*float64(b.N)/1e6/cpu, "MB/cpu-s")
	}
}

func benchItems(recs []record.Record) ([]*item, int) {
	items := make([]*item, len(recs))
	size := 0
	for i := range recs {
		items[i] = &item{rec: &recs[i]}
	}
	s := &Shipper{cfg: Config{}.withDefaults()}
	size = len(s.encode(items))
	return items, size
}

// BenchmarkEncode measures bulk body encoding without compression; bytes
// are body bytes. Target: at least 300 MB/s per core.
func BenchmarkEncode(b *testing.B) {
	recs := benchRecords(8000) // about 5 MiB, one default batch
	items, size := benchItems(recs)
	s := &Shipper{cfg: Config{}.withDefaults()}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		putBuf(s.encode(items))
	}
	reportCPU(b, start, size)
}

// BenchmarkEncodeGzip measures encoding plus gzip (BestSpeed), as sent;
// bytes are uncompressed body bytes.
func BenchmarkEncodeGzip(b *testing.B) {
	recs := benchRecords(8000)
	items, size := benchItems(recs)
	s := &Shipper{cfg: Config{}.withDefaults()}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var zlen int
	start := cpuTime()
	for b.Loop() {
		raw := s.encode(items)
		z := gzipAppend(getBuf(len(raw)/4+512), raw)
		zlen = len(z)
		putBuf(raw)
		putBuf(z)
	}
	reportCPU(b, start, size)
	b.ReportMetric(float64(size)/float64(zlen), "ratio")
}

// BenchmarkEncodeDaily measures encoding with daily index names.
func BenchmarkEncodeDaily(b *testing.B) {
	recs := benchRecords(8000)
	items, size := benchItems(recs)
	s := &Shipper{cfg: Config{IndexMode: IndexModeDaily}.withDefaults()}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		putBuf(s.encode(items))
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
			start := cpuTime()
			for b.Loop() {
				if _, err := parseBulkResponse(body, n); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, start, len(body))
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
