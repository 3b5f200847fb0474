package shipper

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/logspool/logspool/spool/record"
)

// ---- records ----

// makeRecords returns n records with distinct ids and small ECS documents.
func makeRecords(n int, source string) []record.Record {
	recs := make([]record.Record, n)
	base := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC).UnixNano()
	for i := range recs {
		off := int64(i) * 100
		recs[i] = record.Record{
			ID:   record.FileID("node-1", source, off),
			Time: base + int64(i)*int64(time.Millisecond),
			Doc: fmt.Appendf(nil, `{"@timestamp":"%s","message":"line %d of %s","log":{"offset":%d,"file":{"path":"/var/log/containers/%s.log"}},"stream":"stdout"}`,
				time.Unix(0, base+int64(i)*int64(time.Millisecond)).UTC().Format(time.RFC3339Nano), i, source, off, source),
		}
	}
	return recs
}

func ids(recs []record.Record) []string {
	out := make([]string, len(recs))
	for i := range recs {
		out[i] = recs[i].ID.String()
	}
	return out
}

// ---- memSource: an in-memory Source that checks the lease protocol ----

type memSource struct {
	t      *testing.T
	mu     sync.Mutex
	wake   chan struct{} // closed and replaced when records are queued
	queue  []seqRecord   // unleased, oldest first
	seq    int
	leased map[*memBatch]bool
	// Finished state.
	acked    []string // ids, in ack order
	dead     []record.DeadLetter
	released int   // batches released
	doneErr  error // returned by every Done, which acks all the same
	// failDones is the number of Done calls that fail as the contract says
	// a failing Done does: the batch is released, nothing is acked.
	failDones int
	leaseHist []int // sizes (records) of leases handed out
}

type seqRecord struct {
	seq int
	rec record.Record
}

type memBatch struct {
	src  *memSource
	recs []seqRecord
	out  []record.Record
	fin  int
}

func newMemSource(t *testing.T, recs ...record.Record) *memSource {
	s := &memSource{t: t, wake: make(chan struct{}), leased: map[*memBatch]bool{}}
	s.add(recs...)
	return s
}

func (s *memSource) add(recs ...record.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		s.queue = append(s.queue, seqRecord{s.seq, r})
		s.seq++
	}
	close(s.wake)
	s.wake = make(chan struct{})
}

func (s *memSource) take(maxBytes int) *memBatch {
	if len(s.queue) == 0 {
		return nil
	}
	n, size := 0, 0
	for n < len(s.queue) && (n == 0 || size+s.queue[n].rec.Size() <= maxBytes) {
		size += s.queue[n].rec.Size()
		n++
	}
	b := &memBatch{src: s, recs: slices.Clone(s.queue[:n])}
	for _, r := range b.recs {
		b.out = append(b.out, r.rec)
	}
	s.queue = s.queue[n:]
	s.leased[b] = true
	s.leaseHist = append(s.leaseHist, n)
	return b
}

func (s *memSource) Lease(ctx context.Context, maxBytes int) (Batch, error) {
	for {
		s.mu.Lock()
		if b := s.take(maxBytes); b != nil {
			s.mu.Unlock()
			return b, nil
		}
		wake := s.wake
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wake:
		}
	}
}

func (s *memSource) TryLease(maxBytes int) (Batch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.take(maxBytes); b != nil {
		return b, nil
	}
	return nil, nil
}

func (b *memBatch) Records() []record.Record { return b.out }

func (b *memBatch) Done(dead []record.DeadLetter) error {
	s := b.src
	s.mu.Lock()
	defer s.mu.Unlock()
	b.fin++
	if b.fin > 1 {
		s.t.Errorf("batch finished %d times", b.fin)
		return errFinishedTwice
	}
	if s.failDones > 0 {
		s.failDones--
		s.releaseLocked(b)
		return errAckFailed
	}
	delete(s.leased, b)
	for _, r := range b.recs {
		s.acked = append(s.acked, r.rec.ID.String())
	}
	s.dead = append(s.dead, dead...)
	return s.doneErr
}

func (b *memBatch) Release() {
	s := b.src
	s.mu.Lock()
	defer s.mu.Unlock()
	b.fin++
	if b.fin > 1 {
		s.t.Errorf("batch finished %d times", b.fin)
		return
	}
	s.releaseLocked(b)
}

func (s *memSource) releaseLocked(b *memBatch) {
	delete(s.leased, b)
	s.released++
	s.queue = append(s.queue, b.recs...)
	slices.SortFunc(s.queue, func(a, b seqRecord) int { return a.seq - b.seq })
	close(s.wake)
	s.wake = make(chan struct{})
}

var (
	errFinishedTwice = errors.New("memSource: batch finished twice")
	errAckFailed     = errors.New("memSource: storing the ack failed")
)

// state returns the queued, leased and acked counts.
func (s *memSource) state() (queued, leased, acked int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for b := range s.leased {
		leased += len(b.recs)
	}
	return len(s.queue), leased, len(s.acked)
}

func (s *memSource) ackedIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.acked)
}

func (s *memSource) deadLetters() []record.DeadLetter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.dead)
}

// ---- fake clock: sleeps return at once and are recorded ----

type fakeClock struct {
	mu     sync.Mutex
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time { return time.Now() }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	// Yield a little so that retry loops do not spin a core flat out.
	t := time.NewTimer(time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *fakeClock) slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sleeps)
}

// ---- waiting ----

// waitUntil polls cond until it holds or the timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting until %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// startRun runs s.Run in the background; the returned stop cancels it and
// waits for it to return, failing the test if it returns an error.
func startRun(t *testing.T, s *Shipper) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("Run did not return within 30s of cancellation")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// ---- fakeES: a minimal Elasticsearch for unit tests ----

// fakeES stores documents by index and id and lets a test answer requests
// itself through hooks.
type fakeES struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	flavor    string                       // "es8" (default), "es7", "os2"
	docs      map[string]map[string][]byte // index -> id -> doc
	order     []string                     // ids in the order first stored
	templates map[string][]byte
	requests  []fakeRequest
	// bulkHook, when set, may answer a bulk request itself (handled true).
	bulkHook func(n int, req *fakeBulk, w http.ResponseWriter) (handled bool)
	// itemHook, when set, may fail an item with a status (0: normal).
	itemHook func(n int, id string) (status int, errType string)
	// templateStatus, when set, answers template PUTs.
	templateStatus int
}

type fakeRequest struct {
	Method, Path string
	Header       http.Header
	Items        int
}

type fakeBulk struct {
	actions []fakeAction
}

type fakeAction struct {
	Op, Index, ID string
	Doc           []byte
}

func newFakeES(t *testing.T, flavor string) *fakeES {
	f := &fakeES{t: t, flavor: flavor, docs: map[string]map[string][]byte{}, templates: map[string][]byte{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeES) URL() string { return f.srv.URL }

func (f *fakeES) serve(w http.ResponseWriter, r *http.Request) {
	var body []byte
	var err error
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, zerr := gzip.NewReader(r.Body)
		if zerr != nil {
			http.Error(w, zerr.Error(), 400)
			return
		}
		body, err = io.ReadAll(zr)
	} else {
		body, err = io.ReadAll(r.Body)
	}
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	if f.flavor != "os2" {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
	}
	w.Header().Set("Content-Type", "application/json")
	f.mu.Lock()
	req := fakeRequest{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()}
	n := len(f.requests)
	f.requests = append(f.requests, req)
	f.mu.Unlock()

	switch {
	case r.URL.Path == "/" && r.Method == http.MethodGet:
		switch f.flavor {
		case "os2":
			fmt.Fprint(w, `{"name":"n","version":{"distribution":"opensearch","number":"2.17.1"},"tagline":"The OpenSearch Project: https://opensearch.org/"}`)
		case "es7":
			fmt.Fprint(w, `{"name":"n","version":{"number":"7.17.25","build_flavor":"default"},"tagline":"You Know, for Search"}`)
		default:
			fmt.Fprint(w, `{"name":"n","version":{"number":"8.15.3","build_flavor":"default"},"tagline":"You Know, for Search"}`)
		}
	case strings.HasPrefix(r.URL.Path, "/_index_template/"):
		f.mu.Lock()
		st := f.templateStatus
		if st == 0 {
			f.templates[strings.TrimPrefix(r.URL.Path, "/_index_template/")] = body
		}
		f.mu.Unlock()
		if st != 0 {
			w.WriteHeader(st)
			fmt.Fprintf(w, `{"error":{"type":"security_exception","reason":"action [indices:admin/index_template/put] is unauthorized"},"status":%d}`, st)
			return
		}
		fmt.Fprint(w, `{"acknowledged":true}`)
	case strings.HasSuffix(r.URL.Path, "/_bulk"):
		bulk, err := parseFakeBulk(body)
		if err != nil {
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"error":{"type":"illegal_argument_exception","reason":%q},"status":400}`, err.Error())
			return
		}
		f.mu.Lock()
		f.requests[n].Items = len(bulk.actions)
		hook, itemHook := f.bulkHook, f.itemHook
		f.mu.Unlock()
		if hook != nil && hook(n, bulk, w) {
			return
		}
		f.answerBulk(w, n, bulk, itemHook)
	default:
		w.WriteHeader(404)
		fmt.Fprint(w, `{"error":"no handler","status":404}`)
	}
}

// store indexes the actions and returns the per-item statuses.
func (f *fakeES) store(n int, bulk *fakeBulk, itemHook func(int, string) (int, string)) (statuses []int, types []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range bulk.actions {
		if itemHook != nil {
			if st, typ := itemHook(n, a.ID); st != 0 {
				statuses, types = append(statuses, st), append(types, typ)
				continue
			}
		}
		if !json.Valid(a.Doc) || a.Op != "create" {
			statuses, types = append(statuses, 400), append(types, "mapper_parsing_exception")
			continue
		}
		ix := f.docs[a.Index]
		if ix == nil {
			ix = map[string][]byte{}
			f.docs[a.Index] = ix
		}
		if _, ok := ix[a.ID]; ok {
			statuses, types = append(statuses, 409), append(types, "version_conflict_engine_exception")
			continue
		}
		ix[a.ID] = a.Doc
		f.order = append(f.order, a.ID)
		statuses, types = append(statuses, 201), append(types, "")
	}
	return statuses, types
}

func (f *fakeES) answerBulk(w http.ResponseWriter, n int, bulk *fakeBulk, itemHook func(int, string) (int, string)) {
	statuses, types := f.store(n, bulk, itemHook)
	w.Write(bulkResponseBody(statuses, types))
}

func bulkResponseBody(statuses []int, types []string) []byte {
	var b bytes.Buffer
	errs := false
	for _, s := range statuses {
		if s >= 300 {
			errs = true
		}
	}
	fmt.Fprintf(&b, `{"took":3,"errors":%t,"items":[`, errs)
	for i, s := range statuses {
		if i > 0 {
			b.WriteByte(',')
		}
		if s >= 300 {
			fmt.Fprintf(&b, `{"create":{"status":%d,"error":{"type":%q,"reason":"failed: %s","caused_by":{"type":"cause","reason":"deeper"}}}}`, s, types[i], types[i])
		} else {
			fmt.Fprintf(&b, `{"create":{"status":%d}}`, s)
		}
	}
	b.WriteString("]}")
	return b.Bytes()
}

func parseFakeBulk(body []byte) (*fakeBulk, error) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 64<<20)
	var out fakeBulk
	for sc.Scan() {
		var act map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &act); err != nil {
			return nil, fmt.Errorf("malformed action line %q: %v", sc.Bytes(), err)
		}
		if len(act) != 1 {
			return nil, fmt.Errorf("action line with %d ops", len(act))
		}
		if !sc.Scan() {
			return nil, fmt.Errorf("action without document")
		}
		for op, m := range act {
			out.actions = append(out.actions, fakeAction{Op: op, Index: m.Index, ID: m.ID, Doc: bytes.Clone(sc.Bytes())})
		}
	}
	return &out, sc.Err()
}

func (f *fakeES) count(index string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.docs[index])
}

func (f *fakeES) storedOrder() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.order)
}

func (f *fakeES) requestLog() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func (f *fakeES) setBulkHook(h func(n int, req *fakeBulk, w http.ResponseWriter) bool) {
	f.mu.Lock()
	f.bulkHook = h
	f.mu.Unlock()
}

func (f *fakeES) setItemHook(h func(n int, id string) (int, string)) {
	f.mu.Lock()
	f.itemHook = h
	f.mu.Unlock()
}

func discardLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
