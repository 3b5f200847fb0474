package shipper

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/logspool/logspool/parser/testlogs"
	"github.com/logspool/logspool/parser/testlogs/testdocs"
	"github.com/logspool/logspool/spool/record"
)

// plainItems is a body's worth of items of every shape: realistic records
// with a shared Meta, documents spread over lines (with and without a
// Meta, the Meta itself over lines), records without a time (named by the
// clock in daily mode) and a dead-letter copy.
func plainItems() []*item {
	recs := testdocs.Records(5, testlogs.Docker, 3000, 300) // several plainParts
	mid := &record.Meta{Doc: []byte(`,"host":{"name":"n"}`)}
	broken := &record.Meta{Doc: []byte(",\"host\":\n{\"name\":\"n\"}")}
	recs = append(recs,
		record.Record{ID: record.FileID("n", "k", 1), Doc: []byte("{\n  \"a\": 1,\r\n  \"b\": [1, 2]\n}")},
		record.Record{ID: record.FileID("n", "k", 2), Doc: []byte("{\"m\":\n\"a\"}"), Meta: mid, At: 9},
		record.Record{ID: record.FileID("n", "k", 3), Doc: []byte(`{"m":"b"}`), Meta: broken, At: 8},
		record.Record{ID: record.FileID("n", "k", 4), Doc: []byte("not json\nat all")},
		record.Record{ID: record.FileID("n", "k", 5), Doc: []byte(`{"m":"no time"}`)},
	)
	items := make([]*item, len(recs))
	for i := range recs {
		items[i] = &item{rec: &recs[i]}
	}
	items[7].dlq = []byte(`{"message":"a dead-letter copy"}`)
	items[8].dlq = []byte("{\"message\":\n\"a dead-letter copy over lines\"}")
	return items
}

// TestAPlainBodyIsTheEncodedBody: an uncompressed body read from the
// records as the transport reads it is, byte for byte, the body encoded
// whole, in every index mode and whatever the reads' sizes, also when read
// again (a retry through GetBody); its length is known before it is read.
func TestAPlainBodyIsTheEncodedBody(t *testing.T) {
	items := plainItems()
	for _, mode := range []string{IndexModeDataStream, IndexModeDaily} {
		t.Run(mode, func(t *testing.T) {
			s := encodeShipper(CompressionNone, Config{IndexMode: mode, DeadLetterIndex: "logspool-dead"})
			want, _ := s.encode(items)
			if len(want) < 3*plainPart {
				t.Fatalf("the body is %d bytes: too small to take several parts", len(want))
			}
			b := s.newPlainBody(items)
			if b.length != len(want) {
				t.Fatalf("length %d, the encoded body has %d bytes", b.length, len(want))
			}
			for _, size := range []int{1, 7, 4096, plainPart + 1, 1 << 20} {
				r := b.reader()
				var got []byte
				p := make([]byte, size)
				for {
					n, err := r.Read(p)
					got = append(got, p[:n]...)
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("reads of %d: %v", size, err)
					}
				}
				r.Close()
				if !bytes.Equal(got, want) {
					t.Fatalf("reads of %d bytes: %d bytes that differ from the %d encoded", size, len(got), len(want))
				}
			}
		})
	}
}

// TestAPlainBodyIsNotReadAfterItsRequest: once the request is over (detach),
// no reader, open or new, reads the records again: they may already hold
// the next lease's records.
func TestAPlainBodyIsNotReadAfterItsRequest(t *testing.T) {
	s := encodeShipper(CompressionNone, Config{})
	b := s.newPlainBody(plainItems())
	open := b.reader()
	if _, err := open.Read(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	b.detach()
	for name, r := range map[string]*plainReader{"an open reader": open, "a new reader": b.reader()} {
		if n, err := r.Read(make([]byte, 100)); n != 0 || !errors.Is(err, errBodyDetached) {
			t.Errorf("%s read %d bytes, %v after the request ended", name, n, err)
		}
	}
	if err := open.Close(); err != nil {
		t.Error(err)
	}
}

// TestUncompressedBodiesAreNotHeldWhole: with --es-compression none, two
// requests of 5 MiB batches in flight (the server has not read them yet)
// add little to the heap besides the leased records themselves. The bodies
// used to be built whole: about 11 MiB more for the two.
func TestUncompressedBodiesAreNotHeldWhole(t *testing.T) {
	recs := benchRecords(12000) // about 11 MiB: two full batches and a rest
	f := &fakeES{t: t, docs: map[string]map[string][]byte{}, templates: map[string][]byte{}}
	arrived := make(chan struct{}, 8)
	release := make(chan struct{})
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/_bulk") {
			arrived <- struct{}{}
			<-release
		}
		f.serve(w, r)
	}))
	t.Cleanup(f.srv.Close)
	src := newMemSource(t, recs...)
	s, _ := newTestShipper(t, f.URL(), src, func(c *Config) {
		c.BatchBytes = DefaultBatchBytes
		c.MaxInFlight = 2
		c.Compression = CompressionNone
		c.Setup = SetupOff()
	})
	bigMu.Lock()
	bigFree = nil // what earlier tests left in the pool is not this one's
	bigMu.Unlock()
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := s.Drain(ctx, nil)
		done <- err
	}()
	for range 2 {
		select {
		case <-arrived:
		case <-ctx.Done():
			t.Fatal("two requests did not arrive within 60s")
		}
	}
	during := heap()
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if _, _, got := src.state(); got != len(recs) {
		t.Fatalf("%d of %d records acknowledged", got, len(recs))
	}
	const limit = 5 << 20
	if during > before && during-before > limit {
		t.Errorf("two uncompressed requests in flight added %.1f MiB to the heap (limit %d MiB)", float64(during-before)/(1<<20), limit>>20)
	}
	t.Logf("heap %.1f MiB before, %.1f MiB with two requests in flight", float64(before)/(1<<20), float64(during)/(1<<20))
}
