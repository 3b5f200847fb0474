package shipper

import (
	"bytes"
	"net/http"
	"runtime"
	"strconv"
	"testing"

	"github.com/elastic/go-elasticsearch/v7/esapi"
)

// onlyReader hides bytes.Reader's WriterTo, as an HTTP body does.
type onlyReader struct{ r *bytes.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }
func (onlyReader) Close() error                 { return nil }

// TestBulkResponsesAreReadWithoutGrowing: a _bulk response of a few hundred
// KiB (5,000 items) is read into a pooled buffer of its size, with or
// without a Content-Length: once the free lists hold one, reading the next
// response of that size allocates next to nothing (it allocated 10 times,
// 1 MiB, growing a 64 KiB buffer).
func TestBulkResponsesAreReadWithoutGrowing(t *testing.T) {
	body := bytes.Repeat([]byte(`{"create":{"_id":"AAAAAAAAAAAAAAAAAAAAAAAAAAA","status":201}},`), 5000)
	for _, tc := range []struct {
		name          string
		contentLength bool
	}{
		{"with a Content-Length", true},
		{"chunked, sized like the last response", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Shipper{}
			r := bytes.NewReader(body)
			res := &esapi.Response{StatusCode: 200, Header: http.Header{}, Body: onlyReader{r}}
			if tc.contentLength {
				res.Header.Set("Content-Length", strconv.Itoa(len(body)))
			}
			read := func() {
				r.Reset(body)
				rb, err := s.readResponse(res)
				if err != nil || !bytes.Equal(rb, body) {
					t.Fatalf("read %d bytes, %v; want the %d of the body", len(rb), err, len(body))
				}
				putBuf(rb)
			}
			read()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			const reads = 20
			for range reads {
				read()
			}
			runtime.ReadMemStats(&m1)
			if n := (m1.TotalAlloc - m0.TotalAlloc) / reads; n > 1<<10 {
				t.Fatalf("%d bytes allocated per response read of %d bytes", n, len(body))
			}
		})
	}
}

// TestCompressedBodiesAreBuiltInBuffersOfTheirSize: in every mode, once a
// body was compressed, the next of that kind is built in a buffer large
// enough for it, so that it is not grown (allocated again) while it is
// written. Huffman-only coding shrinks the realistic documents 1.5 times,
// and its bodies were built in a buffer sized for 8 times: 16 MB allocated
// per 5 MiB batch.
func TestCompressedBodiesAreBuiltInBuffersOfTheirSize(t *testing.T) {
	items, size := benchItems(benchRecords(2000))
	for _, mode := range CompressionModes {
		if mode == CompressionNone {
			continue
		}
		t.Run(mode, func(t *testing.T) {
			s := encodeShipper(mode, Config{})
			body, _ := s.encode(items) // learns the ratio
			putBuf(body)
			for range 3 {
				hint := s.comp.sizeHint(size)
				body, _ := s.encode(items)
				if len(body) > hint {
					t.Fatalf("a body of %d bytes (%d before compression) built in a buffer for %d", len(body), size, hint)
				}
				putBuf(body)
			}
		})
	}
}
