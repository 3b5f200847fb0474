package shipper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
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

// TestModelPlainBodyReads drives the readers of random bodies (realistic
// records and random documents: spread over lines or not, valid JSON or
// not, with a Meta spliced in anywhere, dead-letter copies; both index
// modes) with random read sizes, several readers at once (the transport's
// retries through GetBody) and the request's end at a random moment. The
// model: before the end every reader has read a prefix of the body encoded
// whole, one read to its end has read all of it and the computed length;
// after the end every read fails. Fixed seeds in make test; LOGSPOOL_TORTURE=1
// runs 1000; LOGSPOOL_SEED=n reruns one.
func TestModelPlainBodyReads(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5, 6, 7, 8}
	if os.Getenv("LOGSPOOL_TORTURE") == "1" {
		seeds = nil
		for i := range 1000 {
			seeds = append(seeds, uint64(i)+100)
		}
	}
	if s := os.Getenv("LOGSPOOL_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seeds = []uint64{n}
	}
	realistic := testdocs.Records(9, testlogs.CRI, 400, 50)
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			runPlainBodyModel(t, seed, realistic)
		})
	}
}

func runPlainBodyModel(t *testing.T, seed uint64, realistic []record.Record) {
	rng := rand.New(rand.NewPCG(seed, 14))
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d: %s (rerun: LOGSPOOL_SEED=%d go test ./shipper -run TestModelPlainBodyReads)", seed, fmt.Sprintf(format, args...), seed)
	}
	randDoc := func() []byte {
		const alphabet = `abc {}":,[]\n` + "\n\r\t é"
		r := []rune(alphabet)
		b := []byte(`{"m":"`)
		for range rng.IntN(300) {
			b = append(b, string(r[rng.IntN(len(r))])...)
		}
		if rng.IntN(2) == 0 {
			b = append(b, `"}`...)
		}
		return b
	}
	metas := []*record.Meta{
		{Doc: []byte(`,"host":{"name":"n"}`)},
		{Doc: []byte(",\"host\":\n{\"name\":\"n\"}")},
		{Doc: []byte(`,"kubernetes":{"pod":{"name":"p"},"labels":{"a":"b\nc"}}`)},
	}
	n := 1 + rng.IntN(600)
	recs := make([]record.Record, n)
	items := make([]*item, n)
	for i := range recs {
		switch rng.IntN(4) {
		case 0:
			recs[i] = realistic[rng.IntN(len(realistic))]
		case 1:
			recs[i] = record.Record{Doc: randDoc()}
		case 2:
			// Valid JSON, over lines or not, a Meta (over lines or not)
			// spliced in before its end: compacted when a part spreads
			// over lines, so shorter than its parts.
			sep := []string{"", "\n", "\r\n"}[rng.IntN(3)]
			d := []byte("{\"m\":" + sep + strconv.Quote(string(randDoc())) + sep + "}")
			recs[i] = record.Record{Doc: d}
			if rng.IntN(2) == 0 {
				recs[i].Meta, recs[i].At = metas[rng.IntN(2)], len(d)-1
			}
		default:
			d := randDoc()
			recs[i] = record.Record{Doc: d, Meta: metas[rng.IntN(len(metas))], At: rng.IntN(len(d) + 1)}
		}
		recs[i].ID = record.FileID("n", "model", int64(i))
		if rng.IntN(4) == 0 {
			recs[i].Time = 0 // named by the clock in daily mode
		} else {
			recs[i].Time = rng.Int64N(4e18)
		}
		items[i] = &item{rec: &recs[i]}
		if rng.IntN(20) == 0 {
			items[i].dlq = randDoc()
		}
	}
	mode := []string{IndexModeDataStream, IndexModeDaily}[rng.IntN(2)]
	s := encodeShipper(CompressionNone, Config{IndexMode: mode, DeadLetterIndex: "logspool-dead"})
	want, _ := s.encode(items)
	b := s.newPlainBody(items)
	if b.length != len(want) {
		fail("length %d, the body encoded whole has %d bytes", b.length, len(want))
	}
	type reader struct {
		r    *plainReader
		got  []byte
		done bool
	}
	var rs []*reader
	detached := false
	for step := 0; step < 400; step++ {
		switch op := rng.IntN(20); {
		case op == 0 && !detached && rng.IntN(4) == 0:
			b.detach()
			detached = true
		case op < 3 || len(rs) == 0:
			rs = append(rs, &reader{r: b.reader()})
		case op == 3:
			x := rs[rng.IntN(len(rs))]
			if err := x.r.Close(); err != nil {
				fail("Close: %v", err)
			}
			x.done = true
		default:
			x := rs[rng.IntN(len(rs))]
			p := make([]byte, 1+rng.IntN([]int{16, 4 << 10, 64 << 10}[rng.IntN(3)]))
			k, err := x.r.Read(p)
			switch {
			case detached:
				if k != 0 || !errors.Is(err, errBodyDetached) {
					fail("a read after the request's end: %d bytes, %v", k, err)
				}
			case x.done:
				if k != 0 || err != io.EOF {
					fail("a read of a reader at its end or closed: %d bytes, %v", k, err)
				}
			case err == io.EOF:
				if k != 0 || !bytes.Equal(x.got, want) {
					fail("EOF after %d bytes (and %d more), the body has %d", len(x.got), k, len(want))
				}
				x.done = true
			case err != nil:
				fail("read: %v", err)
			default:
				x.got = append(x.got, p[:k]...)
				if !bytes.HasPrefix(want, x.got) {
					fail("a reader's %d bytes are not a prefix of the body", len(x.got))
				}
			}
		}
	}
	// Whatever was not ended reads to its end, unless the request is over.
	if !detached {
		r := b.reader()
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, want) {
			fail("a last reader read %d bytes (%v), the body has %d", len(got), err, len(want))
		}
	}
}
