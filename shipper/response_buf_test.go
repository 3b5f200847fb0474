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
