package estest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/logspool/logspool/parser/testlogs"
	"github.com/logspool/logspool/parser/testlogs/testdocs"
)

// benchBody builds a bulk body of n create actions with the parser's
// documents of production-like logs (package testlogs; about 900 bytes each)
// and returns it with the offsets of the 16-digit id counters, so each
// iteration can renumber ids in place.
func benchBody(n int) ([]byte, []int) {
	var buf bytes.Buffer
	var offs []int
	for i, r := range testdocs.Records(1, testlogs.Docker, n, 125) {
		buf.WriteString(`{"create":{"_index":"logs-bench-default","_id":"`)
		offs = append(offs, buf.Len())
		fmt.Fprintf(&buf, "%016d", i)
		buf.WriteString("\"}}\n")
		buf.Write(r.Document()) // whole: metadata spliced in, as the shipper sends it
		buf.WriteByte('\n')
	}
	return buf.Bytes(), offs
}

// renumber writes base+i into the id slots.
func renumber(body []byte, offs []int, base int) {
	for i, off := range offs {
		b := strconv.AppendInt(make([]byte, 0, 16), int64(base+i), 10)
		copy(body[off:off+16], "0000000000000000")
		copy(body[off+16-len(b):off+16], b)
	}
}

// BenchmarkBulkDiscardHTTP measures end-to-end ingest over loopback HTTP in
// Discard mode, 1000 documents per request: the server must stay well
// ahead of the shipper in the 1,000,000-line benchmark.
func BenchmarkBulkDiscardHTTP(b *testing.B) {
	s := startServer(b, Options{Discard: true, RequestLog: -1})
	body, offs := benchBody(1000)
	tr := &http.Transport{}
	b.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}
	url := s.URL() + "/_bulk"
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		renumber(body, offs, i*len(offs))
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-ndjson")
		res, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("status %d", res.StatusCode)
		}
	}
	b.StopTimer()
	if got := s.Count("logs-bench-default"); got != b.N*len(offs) {
		b.Fatalf("count = %d, want %d", got, b.N*len(offs))
	}
}

// BenchmarkBulkHandler measures the server's own cost per bulk request
// (parsing, applying, answering) without the network, in both modes.
func BenchmarkBulkHandler(b *testing.B) {
	for _, discard := range []bool{true, false} {
		b.Run(fmt.Sprintf("discard=%v", discard), func(b *testing.B) {
			s := startServer(b, Options{Discard: discard, RequestLog: -1})
			body, offs := benchBody(1000)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				renumber(body, offs, i*len(offs))
				req := httptest.NewRequest("POST", "/_bulk", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/x-ndjson")
				w := httptest.NewRecorder()
				s.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}

// BenchmarkBulkHandlerGzip is BenchmarkBulkHandler with a gzip body, as the
// shipper sends it by default.
func BenchmarkBulkHandlerGzip(b *testing.B) {
	s := startServer(b, Options{Discard: true, RequestLog: -1})
	body, offs := benchBody(1000)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		renumber(body, offs, i*len(offs))
		var zbuf bytes.Buffer
		zw := newGzipWriter(&zbuf)
		_, _ = zw.Write(body)
		_ = zw.Close()
		b.StartTimer()
		req := httptest.NewRequest("POST", "/_bulk", &zbuf)
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.Header.Set("Content-Encoding", "gzip")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}
