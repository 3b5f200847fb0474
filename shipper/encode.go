package shipper

import (
	"bytes"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

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
	dst = append(dst, actionPrefix...)
	dst = append(dst, index...)
	dst = append(dst, actionMiddle...)
	dst = id.AppendString(dst)
	dst = append(dst, actionSuffix...)
	dst = appendDocLine(dst, doc)
	return dst
}

// appendDocLine appends doc and a newline. A document spread over several
// lines (valid JSON, but it would break the NDJSON framing) is compacted.
func appendDocLine(dst []byte, doc []byte) []byte {
	if bytes.IndexByte(doc, '\n') >= 0 || bytes.IndexByte(doc, '\r') >= 0 {
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

// bufPool holds body buffers. Buffers far larger than a typical request are
// not pooled, so one huge batch does not pin its memory forever.
var bufPool sync.Pool

const maxPooledBuf = 64 << 20

func getBuf(capHint int) []byte {
	if p, ok := bufPool.Get().(*[]byte); ok && cap(*p) >= capHint {
		return (*p)[:0]
	} else if ok {
		bufPool.Put(p)
	}
	return make([]byte, 0, capHint)
}

func putBuf(b []byte) {
	if cap(b) == 0 || cap(b) > maxPooledBuf {
		return
	}
	b = b[:0]
	bufPool.Put(&b)
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
