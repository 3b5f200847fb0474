package shipper

import (
	"bytes"
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logspool/logspool/internal/freelist"
	"github.com/logspool/logspool/spool/record"
)

// Bulk body encoding: the hot path. Each item is the action line
//
//	{"create":{"_index":"<index>","_id":"<record.ID.String()>"}}\n
//
// followed by the record's Doc and "\n", appended into pooled buffers.

const (
	actionPrefix = `{"create":{"_index":"`
	actionMiddle = `","_id":"`
	actionSuffix = "\"}}\n"
	// itemOverhead is the size of an action line without the index name.
	itemOverhead = len(actionPrefix) + len(actionMiddle) + record.IDLen + len(actionSuffix) + 1
)

// indexNamer maps a record to its target index. It caches the last daily
// index name, so it is not safe for concurrent use: one per request.
type indexNamer struct {
	daily  bool
	index  string // data stream name, or daily prefix
	now    func() time.Time
	day    int64
	dayIdx string
}

func newIndexNamer(cfg *Config) *indexNamer {
	return &indexNamer{daily: cfg.IndexMode == IndexModeDaily, index: cfg.Index, now: cfg.Clock.Now, day: -1 << 62}
}

const nsPerDay = int64(24 * time.Hour)

// name returns the index for rec.
func (n *indexNamer) name(rec *record.Record) string {
	if !n.daily {
		return n.index
	}
	t := rec.Time
	if t == 0 {
		t = n.now().UnixNano()
	}
	day := t / nsPerDay
	if t < 0 && t%nsPerDay != 0 {
		day--
	}
	if day != n.day {
		n.day = day
		n.dayIdx = n.index + "-" + time.Unix(0, day*nsPerDay).UTC().Format("2006.01.02")
	}
	return n.dayIdx
}

// appendItem appends one create action and its document to dst.
func appendItem(dst []byte, index string, id record.ID, doc []byte) []byte {
	dst = appendAction(dst, index, id)
	dst = appendDocLine(dst, doc)
	return dst
}

func appendAction(dst []byte, index string, id record.ID) []byte {
	dst = append(dst, actionPrefix...)
	dst = append(dst, index...)
	dst = append(dst, actionMiddle...)
	dst = id.AppendString(dst)
	return append(dst, actionSuffix...)
}

// docWriter appends records' documents as NDJSON lines, their Meta spliced
// back in. It remembers the last Meta it checked for line breaks (records
// of a source version share theirs), so that a shared Meta is scanned once,
// not once per record. One per goroutine.
type docWriter struct {
	checked *record.Meta
}

// lineLen is len(w.appendLine(nil, r)), without building the line.
func (w *docWriter) lineLen(r *record.Record) int {
	if r.Meta == nil {
		return docLineLen(r.Doc)
	}
	if r.Meta != w.checked {
		if hasLineBreak(r.Meta.Doc) {
			return docLineLen(r.Document())
		}
		w.checked = r.Meta
	}
	if hasLineBreak(r.Doc) {
		return docLineLen(r.Document())
	}
	return r.DocLen() + 1
}

// appendLine appends r's whole document and a newline to dst, compacted
// when it spreads over lines (see appendDocLine).
func (w *docWriter) appendLine(dst []byte, r *record.Record) []byte {
	if r.Meta == nil {
		return appendDocLine(dst, r.Doc)
	}
	if r.Meta != w.checked {
		if hasLineBreak(r.Meta.Doc) {
			return appendDocLine(dst, r.Document())
		}
		w.checked = r.Meta
	}
	if hasLineBreak(r.Doc) {
		return appendDocLine(dst, r.Document())
	}
	dst = r.AppendDoc(dst)
	return append(dst, '\n')
}

func hasLineBreak(b []byte) bool {
	return bytes.IndexByte(b, '\n') >= 0 || bytes.IndexByte(b, '\r') >= 0
}

// appendRecordItem appends one create action and r's document to dst.
func (w *docWriter) appendItem(dst []byte, index string, r *record.Record) []byte {
	return w.appendLine(appendAction(dst, index, r.ID), r)
}

// docLineLen is len(appendDocLine(nil, doc)); it builds the line only when
// doc has to be compacted.
func docLineLen(doc []byte) int {
	if !hasLineBreak(doc) {
		return len(doc) + 1
	}
	return len(appendDocLine(nil, doc))
}

// appendDocLine appends doc and a newline. A document spread over several
// lines (valid JSON, but it would break the NDJSON framing) is compacted.
func appendDocLine(dst []byte, doc []byte) []byte {
	if hasLineBreak(doc) {
		var b bytes.Buffer
		if err := json.Compact(&b, doc); err == nil {
			doc = b.Bytes()
		} else {
			// Not JSON at all: keep the framing; Elasticsearch rejects the
			// item with a parse error and it is dead-lettered.
			doc = bytes.ReplaceAll(bytes.ReplaceAll(doc, []byte{'\r'}, []byte{' '}), []byte{'\n'}, []byte{' '})
		}
	}
	dst = append(dst, doc...)
	return append(dst, '\n')
}

// Request bodies, their parts and responses are built in buffers kept in
// free lists (package freelist: unlike a sync.Pool's, they survive garbage
// collections, which a tight --memory-limit makes frequent). Small ones
// (compressed bodies, parts, responses) are kept by size class (a power of
// two from 4 KiB), so that a buffer too small for a request is never taken.
// Big ones (uncompressed bodies, which only --es-compression none sends) go
// to bigFree, at most maxBigFree of them. Buffers far larger than a typical
// request are not kept, so that one huge batch does not pin its memory.
var (
	classLists = func() (l [numClasses]*freelist.List[*[]byte]) {
		for i := range l {
			l[i] = freelist.New[*[]byte](4)
		}
		return l
	}()
	bigMu   sync.Mutex
	bigFree [][]byte
)

const (
	minClass     = 12 // 4 KiB
	numClasses   = 10 // up to 2 MiB
	bigBuf       = 1 << (minClass + numClasses - 1)
	maxPooledBuf = 64 << 20
	maxBigFree   = 2
)

// classOf returns the smallest class whose buffers hold n bytes.
func classOf(n int) int {
	c := 0
	for 1<<(minClass+c) < n {
		c++
	}
	return c
}

func getBuf(capHint int) []byte {
	if capHint > bigBuf {
		bigMu.Lock()
		for i := len(bigFree) - 1; i >= 0; i-- {
			if b := bigFree[i]; cap(b) >= capHint {
				bigFree = append(bigFree[:i], bigFree[i+1:]...)
				bigMu.Unlock()
				return b[:0]
			}
		}
		bigMu.Unlock()
		return make([]byte, 0, capHint)
	}
	// Its own class first, then the one above (at most twice the size), so
	// that the buffers of the first compressed bodies, sized before the
	// ratio was known, serve the later ones.
	c := classOf(capHint)
	for k := c; k < min(c+2, numClasses); k++ {
		if p, ok := classLists[k].Get(); ok {
			return (*p)[:0]
		}
	}
	return make([]byte, 0, 1<<(minClass+c))
}

func putBuf(b []byte) {
	if cap(b) < 1<<minClass || cap(b) > maxPooledBuf {
		return
	}
	b = b[:0]
	if cap(b) > bigBuf {
		bigMu.Lock()
		if len(bigFree) < maxBigFree {
			bigFree = append(bigFree, b)
		} else if i := slices.IndexFunc(bigFree, func(x []byte) bool { return cap(x) < cap(b) }); i >= 0 {
			bigFree[i] = b // keep the bigger one
		}
		bigMu.Unlock()
		return
	}
	// The largest class whose size the buffer holds (a buffer grown by
	// append has a capacity between two).
	classLists[classOf(cap(b)+1)-1].Put(&b)
}

// body is a request body over a pooled buffer. The buffer goes back to the
// pool only when the sender and every reader the HTTP transport made (one
// per attempt, through GetBody) are done with it: a transport may still be
// writing a body after the response has arrived.
type body struct {
	buf  []byte
	refs atomic.Int32
}

func newBody(buf []byte) *body {
	b := &body{buf: buf}
	b.refs.Store(1) // the sender's reference
	return b
}

func (b *body) unref() {
	if b.refs.Add(-1) == 0 {
		putBuf(b.buf)
		b.buf = nil
	}
}

// reader returns a new reader over the body holding a reference.
func (b *body) reader() *bodyReader {
	b.refs.Add(1)
	r := &bodyReader{b: b}
	r.r.Reset(b.buf)
	return r
}

type bodyReader struct {
	b      *body
	r      bytes.Reader
	closed atomic.Bool
}

func (r *bodyReader) Read(p []byte) (int, error) { return r.r.Read(p) }

func (r *bodyReader) Close() error {
	if r.closed.CompareAndSwap(false, true) {
		r.r.Reset(nil)
		r.b.unref()
	}
	return nil
}
