package shipper

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/elastic/go-elasticsearch/v7/esapi"
	"github.com/logspool/logspool/internal/freelist"
	"github.com/logspool/logspool/spool/record"
)

// item is one record on its way, or the dead-letter copy of one.
type item struct {
	rec   *record.Record
	batch int
	dlq   []byte // when set, the dead-letter document to index into DeadLetterIndex
}

type batchState struct {
	b    Batch
	left int // items not yet delivered or dead
	dead []record.DeadLetter
	done bool
}

// request is one set of leased batches shipped together.
type request struct {
	s       *Shipper
	batches []batchState
}

// collect lays the request's items out in all (whose capacity holds them
// all, so the pointers stay valid) and appends the ones to send to items; a
// record with an empty document is dead-lettered at once, and an empty batch
// finished.
func (r *request) collect(all []item, items []*item) ([]item, []*item) {
	var empty []*item
	for i := range r.batches {
		recs := r.batches[i].b.Records()
		if len(recs) == 0 {
			r.finish(i)
			continue
		}
		for j := range recs {
			all = append(all, item{rec: &recs[j], batch: i})
			it := &all[len(all)-1]
			if blank(&recs[j]) {
				// An empty line would break the whole request, every time.
				empty = append(empty, it)
				continue
			}
			items = append(items, it)
		}
	}
	if len(empty) > 0 {
		res := make([]bulkItem, len(empty))
		for i := range res {
			res[i] = bulkItem{Status: http.StatusBadRequest, Error: errorJSON("empty_document", "the record has an empty document")}
		}
		r.settleLocal(empty, res)
	}
	return all, items
}

// ship delivers every record of batches: it sends them, retries what can be
// retried with backoff, dead-letters what is refused for good, and finishes
// each batch as soon as its own records are all settled. When stop ends
// first, the batches still open are released. sendCtx bounds the HTTP
// requests themselves (it outlives stop by the shutdown grace time).
func (s *Shipper) ship(stop, sendCtx context.Context, batches []Batch) {
	s.m.inflightAdd(1)
	defer s.m.inflightAdd(-1)
	r := &request{s: s, batches: make([]batchState, len(batches))}
	n := 0
	for i, b := range batches {
		r.batches[i] = batchState{b: b, left: len(b.Records())}
		n += len(b.Records())
	}
	defer r.releaseOpen()
	all := itemPool.get(n) // the request's items, in one piece
	items := itemPtrPool.get(n)
	defer func() {
		itemPool.put(all)
		itemPtrPool.put(items)
	}()
	all, items = r.collect(all, items)

	// queue holds chunks to send in order; a chunk answered 413 is split.
	queue := [][]*item{items}
	attempt := 0
	var retryAfter time.Duration
	for len(queue) > 0 {
		chunk := queue[0]
		if len(chunk) == 0 {
			queue = queue[1:]
			continue
		}
		if attempt > 0 {
			s.retries.Add(1)
			s.m.retry()
			if s.cfg.Clock.Sleep(stop, s.backoff(attempt, retryAfter)) != nil {
				return
			}
		}
		if stop.Err() != nil {
			return
		}
		res := s.send(sendCtx, chunk)
		retryAfter = res.retryAfter
		switch {
		case res.err != nil && res.status == http.StatusRequestEntityTooLarge:
			if len(chunk) > 1 {
				h := len(chunk) / 2
				queue = append([][]*item{chunk[:h:h], chunk[h:]}, queue[1:]...)
				s.log.Warn("shipper: bulk request too large for the server, splitting it", "items", len(chunk))
				attempt = 0
				continue
			}
			// One record too large to ever be accepted.
			s.markSuccess()
			next, _ := r.settle(chunk, []bulkItem{{Status: http.StatusRequestEntityTooLarge, Error: errorJSON("request_entity_too_large", res.err.Error())}})
			queue[0] = next
			attempt = 0
			continue
		case res.err != nil:
			if sendCtx.Err() != nil {
				return
			}
			s.markFailure(res.err)
			attempt++
			s.log.Warn("shipper: bulk request failed, will retry the whole batch", "items", len(chunk), "attempt", attempt, "err", res.err)
			continue
		}
		s.markSuccess()
		next, retried := r.settle(chunk, res.items)
		bulkItemPool.put(res.items)
		switch {
		case retried == 0:
			attempt = 0 // nothing to wait for (dead-letter copies go at once)
		case retried < len(chunk):
			attempt = 1 // progress: retry the rest after the base delay
		default:
			attempt++
		}
		if retried > 0 {
			s.log.Info("shipper: retrying rejected bulk items", "items", retried, "of", len(chunk), "attempt", attempt)
		}
		queue[0] = next
	}
}

// slicePool recycles the per-request slices (items, pointers to them, the
// parsed response) that would otherwise cost an allocation of a few bytes
// per record and request; a few are kept, across garbage collections.
type slicePool[T any] struct{ l *freelist.List[*[]T] }

func newSlicePool[T any]() slicePool[T] { return slicePool[T]{freelist.New[*[]T](4)} }

func (sp slicePool[T]) get(n int) []T {
	if p, ok := sp.l.Get(); ok && cap(*p) >= n {
		return (*p)[:0]
	}
	return make([]T, 0, n)
}

func (sp slicePool[T]) put(b []T) {
	if cap(b) == 0 || cap(b) > 1<<20 {
		return
	}
	clear(b[:cap(b)])
	b = b[:0]
	sp.l.Put(&b)
}

var (
	itemPool     = newSlicePool[item]()
	itemPtrPool  = newSlicePool[*item]()
	bulkItemPool = newSlicePool[bulkItem]()
)

// blank reports whether r's document is empty or white space.
func blank(r *record.Record) bool {
	return len(bytes.TrimSpace(r.Doc)) == 0 && (r.Meta == nil || len(bytes.TrimSpace(r.Meta.Doc)) == 0)
}

func errorJSON(typ, reason string) json.RawMessage {
	b, _ := json.Marshal(esError{Type: typ, Reason: reason})
	return b
}

// settle applies the per-item outcomes of chunk and returns the items to
// send again (retries and new dead-letter copies) and how many of them are
// retries.
func (r *request) settle(chunk []*item, results []bulkItem) (next []*item, retried int) {
	s := r.s
	now := s.cfg.Clock.Now()
	var delivered, duplicate, dead int
	var firstDead string
	next = chunk[:0:0]
	for i, it := range chunk {
		res := &results[i]
		switch classify(res) {
		case outDelivered, outDuplicate:
			if it.dlq == nil {
				if res.Status == http.StatusConflict {
					duplicate++
				} else {
					delivered++
				}
			}
			r.resolve(it)
		case outRetry:
			retried++
			next = append(next, it)
		case outDead:
			reason := itemReason(res)
			if it.dlq != nil {
				// The dead-letter index refused the copy too; the spool's
				// dead-letter area has the record.
				s.log.Warn("shipper: dead-letter index refused a document", "index", s.cfg.DeadLetterIndex, "id", it.rec.ID.String(), "reason", reason)
				r.resolve(it)
				continue
			}
			dead++
			if firstDead == "" {
				firstDead = reason
			}
			st := &r.batches[it.batch]
			st.dead = append(st.dead, record.DeadLetter{Record: *it.rec, Reason: reason, Time: now})
			if s.cfg.DeadLetterIndex != "" {
				it.dlq = s.deadLetterDoc(it.rec, reason, now)
				next = append(next, it)
				continue
			}
			r.resolve(it)
		}
	}
	s.delivered.Add(int64(delivered))
	s.duplicates.Add(int64(duplicate))
	s.dead.Add(int64(dead))
	s.m.itemsDone(delivered, duplicate, retried, dead)
	if dead > 0 {
		s.log.Warn("shipper: records refused by the cluster, dead-lettered", "count", dead, "first_reason", firstDead)
	}
	return next, retried
}

// settleLocal dead-letters items refused before sending, without a copy in
// the dead-letter index.
func (r *request) settleLocal(chunk []*item, results []bulkItem) {
	now := r.s.cfg.Clock.Now()
	for i, it := range chunk {
		reason := itemReason(&results[i])
		st := &r.batches[it.batch]
		st.dead = append(st.dead, record.DeadLetter{Record: *it.rec, Reason: reason, Time: now})
		r.resolve(it)
	}
	r.s.dead.Add(int64(len(chunk)))
	r.s.m.itemsDone(0, 0, 0, len(chunk))
	r.s.log.Warn("shipper: records with an empty document dead-lettered", "count", len(chunk))
}

// resolve settles one item and finishes its batch when it was the last.
func (r *request) resolve(it *item) {
	st := &r.batches[it.batch]
	r.s.bytes.Add(int64(it.rec.Size()))
	st.left--
	if st.left == 0 {
		r.finish(it.batch)
	}
}

func (r *request) finish(i int) {
	st := &r.batches[i]
	if st.done {
		return
	}
	st.done = true
	n := len(st.b.Records())
	if err := st.b.Done(st.dead); err != nil {
		// The source released the batch: its records are sent again after
		// a backoff and answered 409. Nothing is lost.
		r.s.ackFailures.Add(1)
		r.s.log.Error("shipper: acknowledging a delivered batch failed", "records", n, "err", err)
		return
	}
	r.s.ackFailures.Store(0)
}

func (r *request) releaseOpen() {
	for i := range r.batches {
		st := &r.batches[i]
		if !st.done {
			st.done = true
			st.b.Release()
		}
	}
}

// deadLetterDoc is the document indexed into DeadLetterIndex for rec.
func (s *Shipper) deadLetterDoc(rec *record.Record, reason string, now time.Time) []byte {
	namer := newIndexNamer(&s.cfg)
	doc := struct {
		Timestamp string `json:"@timestamp"`
		Message   string `json:"message"`
		Error     struct {
			Message string `json:"message"`
		} `json:"error"`
		Logspool struct {
			ID    string `json:"id"`
			Index string `json:"index"`
			Node  string `json:"node,omitempty"`
		} `json:"logspool"`
	}{Timestamp: now.UTC().Format(time.RFC3339Nano), Message: string(rec.Document())}
	doc.Error.Message = reason
	doc.Logspool.ID = rec.ID.String()
	doc.Logspool.Index = namer.name(rec)
	doc.Logspool.Node = s.cfg.NodeName
	b, err := json.Marshal(doc)
	if err != nil {
		return []byte(`{}`) // cannot happen: strings only
	}
	return b
}

// sendResult is the outcome of one _bulk request.
type sendResult struct {
	items      []bulkItem // per-item results when err is nil
	err        error      // whole-request failure: retry it all
	status     int
	retryAfter time.Duration
}

const maxBulkResponse = 256 << 20

// send encodes chunk and performs one _bulk request.
func (s *Shipper) send(ctx context.Context, chunk []*item) sendResult {
	s.mu.Lock()
	api := s.api
	s.mu.Unlock()

	hdr := http.Header{"Content-Type": {"application/x-ndjson"}}
	var rd io.Reader
	var sent int
	if s.comp.encoding == "" {
		// Read from the records as the transport sends it; no reader
		// touches them after send returns (the batches' Done frees them).
		pb := s.newPlainBody(chunk)
		defer pb.detach()
		rd, sent = pb.reader(), pb.length
	} else {
		buf, enc := s.encode(chunk)
		hdr.Set("Content-Encoding", enc)
		b := newBody(buf)
		defer b.unref()
		rd, sent = b.reader(), len(buf)
	}

	rctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	start := time.Now()
	res, err := esapi.BulkRequest{Body: rd, FilterPath: bulkFilterPath, Header: hdr}.Do(rctx, api)
	if err != nil {
		s.m.request(false, time.Since(start), sent)
		return sendResult{err: fmt.Errorf("shipper: sending bulk request: %w", err)}
	}
	defer res.Body.Close()
	rb, err := s.readResponse(res)
	defer putBuf(rb)
	elapsed := time.Since(start)
	out := sendResult{status: res.StatusCode, retryAfter: parseRetryAfter(res.Header, s.cfg.Clock.Now())}
	switch {
	case err != nil:
		out.err = fmt.Errorf("shipper: reading bulk response (status %d): %w", res.StatusCode, err)
	case res.StatusCode < 200 || res.StatusCode > 299:
		out.err = &StatusError{Op: "bulk", Status: res.StatusCode, Text: requestErrorText(res.StatusCode, rb)}
	default:
		parsed, perr := parseBulkResponse(rb, len(chunk))
		if perr != nil {
			out.err = perr
		} else {
			out.items = parsed.Items
		}
	}
	s.m.request(out.err == nil, elapsed, sent)
	return out
}

// encode writes the bulk body for chunk into a pooled buffer and returns
// it with its Content-Encoding. A compressed body is compressed as it is
// encoded, in parts of streamPart bytes: the uncompressed body is never
// held whole. send does not use it for uncompressed bodies: those are
// streamed (plainBody).
func (s *Shipper) encode(chunk []*item) ([]byte, string) {
	size := 0
	for _, it := range chunk {
		size += itemOverhead + len(s.cfg.Index) + 16 + it.rec.DocLen()
	}
	e := s.newBodyEncoder()
	if s.comp.encoding == "" {
		buf := getBuf(size)
		for _, it := range chunk {
			buf = e.add(buf, it)
		}
		return buf, ""
	}
	z := s.comp.stream(getBuf(s.comp.sizeHint(size)))
	part := getBuf(streamPart + 64<<10)
	for _, it := range chunk {
		if part = e.add(part, it); len(part) >= streamPart {
			z.write(part)
			part = part[:0]
		}
	}
	z.write(part)
	putBuf(part)
	out := z.close()
	s.comp.observe(size, len(out))
	return out, s.comp.encoding
}

// streamPart is how much of a body is encoded before it is handed to the
// compressor.
const streamPart = 128 << 10

// readResponse reads the body of a _bulk response into a pooled buffer
// (putBuf it) as large as the response: its Content-Length, else the size of
// the last one (the responses to batches of one size are alike), at least 64
// KiB, and one byte more, so that reading up to io.EOF does not grow it.
// Grown from 64 KiB every time, the response buffers were a third of the
// bytes the agent allocated (issue 14).
func (s *Shipper) readResponse(res *esapi.Response) ([]byte, error) {
	n := s.respSize.Load()
	if v := res.Header.Get("Content-Length"); v != "" {
		if cl, err := strconv.ParseInt(v, 10, 64); err == nil && cl > 0 && cl < maxBulkResponse {
			n = cl
		}
	}
	rb, err := readAll(getBuf(max(int(n)+1, 64<<10)), io.LimitReader(res.Body, maxBulkResponse))
	s.respSize.Store(int64(len(rb)))
	return rb, err
}

// readAll appends r's content to b.
func readAll(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if errors.Is(err, io.EOF) {
				return b, nil
			}
			return b, err
		}
	}
}
