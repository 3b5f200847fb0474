package shipper

import (
	"errors"
	"io"
	"sync"
)

// Uncompressed bodies (--es-compression none) are not built whole: a 5 MiB
// batch makes a body of about 5.5 MiB, and with MaxInFlight requests out and
// the pooled buffers they were 20-27 MiB of the agent's heap, next to the
// leased records they repeat. A plainBody is encoded from the records as
// the HTTP transport reads it, in parts of plainPart bytes; its length is
// computed beforehand, so the request carries the same Content-Length and
// the same bytes as a body built whole.

// bodyEncoder appends the items of one body: action lines and documents. It
// keeps the index namer's and the docWriter's caches, so it is not safe for
// concurrent use: one per body and reader.
type bodyEncoder struct {
	s     *Shipper
	namer *indexNamer
	dw    docWriter
}

func (s *Shipper) newBodyEncoder() bodyEncoder {
	return bodyEncoder{s: s, namer: newIndexNamer(&s.cfg)}
}

// add appends it's action line and document to buf.
func (e *bodyEncoder) add(buf []byte, it *item) []byte {
	if it.dlq != nil {
		return appendItem(buf, e.s.cfg.DeadLetterIndex, it.rec.ID, it.dlq)
	}
	return e.dw.appendItem(buf, e.namer.name(it.rec), it.rec)
}

// size is len(e.add(nil, it)), computed without encoding (a document that
// has to be compacted is compacted to know its length). An index name is
// the same length on every day (the daily suffix is a date), so a record
// without a time, named by the clock, has the same size at any moment.
func (e *bodyEncoder) size(it *item) int {
	if it.dlq != nil {
		return itemOverhead - 1 + len(e.s.cfg.DeadLetterIndex) + docLineLen(it.dlq)
	}
	return itemOverhead - 1 + len(e.namer.name(it.rec)) + e.dw.lineLen(it.rec)
}

// plainBody is an uncompressed _bulk body read straight from its items'
// records. Its readers read under mu; detach ends them all, so that once it
// returns no reader touches the records again (they live in leased memory
// that the batches' Done hands to the next lease), whatever the transport
// still does with the body.
type plainBody struct {
	s      *Shipper
	chunk  []*item
	length int

	mu       sync.Mutex
	detached bool
}

// plainPart is how much of a plainBody a reader encodes at a time.
const plainPart = 32 << 10

// errBodyDetached is what a reader returns once its request is over.
var errBodyDetached = errors.New("shipper: request body read after its request ended")

func (s *Shipper) newPlainBody(chunk []*item) *plainBody {
	e := s.newBodyEncoder()
	n := 0
	for _, it := range chunk {
		n += e.size(it)
	}
	return &plainBody{s: s, chunk: chunk, length: n}
}

// reader returns a new reader of the whole body.
func (b *plainBody) reader() *plainReader {
	return &plainReader{b: b, e: b.s.newBodyEncoder()}
}

// detach ends every reader of b, present and future: they return
// errBodyDetached.
func (b *plainBody) detach() {
	b.mu.Lock()
	b.detached = true
	b.mu.Unlock()
}

type plainReader struct {
	b    *plainBody
	e    bodyEncoder
	next int    // the next item to encode
	buf  []byte // encoded part; buf[off:] is not read yet
	off  int
}

func (r *plainReader) Read(p []byte) (int, error) {
	r.b.mu.Lock()
	defer r.b.mu.Unlock()
	if r.b.detached {
		r.release()
		return 0, errBodyDetached
	}
	n := 0
	for n < len(p) {
		if r.off == len(r.buf) {
			if r.next == len(r.b.chunk) {
				break
			}
			if r.buf == nil {
				r.buf = getBuf(plainPart + 16<<10)
			}
			r.buf, r.off = r.buf[:0], 0
			for r.next < len(r.b.chunk) && len(r.buf) < plainPart {
				r.buf = r.e.add(r.buf, r.b.chunk[r.next])
				r.next++
			}
		}
		c := copy(p[n:], r.buf[r.off:])
		n += c
		r.off += c
	}
	if n == 0 && len(p) > 0 {
		r.release()
		return 0, io.EOF
	}
	return n, nil
}

// Close gives the reader's buffer back.
func (r *plainReader) Close() error {
	r.b.mu.Lock()
	r.release()
	r.b.mu.Unlock()
	return nil
}

// release gives the buffer back and makes r read to its end: called with
// r.b.mu held.
func (r *plainReader) release() {
	if r.buf != nil {
		putBuf(r.buf)
		r.buf, r.off = nil, 0
	}
	r.next = len(r.b.chunk)
}
