package tailer

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/logspool/logspool/parser"
	"github.com/logspool/logspool/spool/record"
)

func TestMain(m *testing.M) {
	if os.Getenv(hpcloudChildEnv) != "" {
		os.Exit(hpcloudChild())
	}
	if os.Getenv(killChildEnv) != "" {
		os.Exit(killChild())
	}
	goleak.VerifyTestMain(m,
		// hpcloud/tail (benchmarked for comparison only) starts a global
		// inotify tracker that never stops.
		goleak.IgnoreTopFunction("github.com/hpcloud/tail/watch.(*InotifyTracker).run"),
		goleak.IgnoreAnyFunction("gopkg.in/fsnotify%2ev1.(*Watcher).readEvents"),
	)
}

// memSink is an in-memory Sink. Its Append can be gated to simulate a full
// spool, or made to fail.
type memSink struct {
	mu      sync.Mutex
	recs    []record.Record
	cps     map[string][]byte
	appends int
	gate    chan struct{} // when non-nil, each Append takes a token first
	failN   int           // the next failN Appends fail
}

func newMemSink() *memSink { return &memSink{cps: make(map[string][]byte)} }

func (s *memSink) Append(ctx context.Context, recs []record.Record, cps ...record.Checkpoint) error {
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failN > 0 {
		s.failN--
		return fmt.Errorf("memsink: injected failure")
	}
	s.appends++
	for _, r := range recs {
		r = r.Whole()
		r.Doc = bytes.Clone(r.Doc)
		s.recs = append(s.recs, r)
	}
	for _, cp := range cps {
		if cp.Value == nil {
			delete(s.cps, cp.Key)
		} else {
			s.cps[cp.Key] = bytes.Clone(cp.Value)
		}
	}
	return nil
}

func (s *memSink) Checkpoint(key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.cps[key]), nil
}

func (s *memSink) Checkpoints(prefix string) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]byte)
	for k, v := range s.cps {
		if strings.HasPrefix(k, prefix) {
			out[k] = bytes.Clone(v)
		}
	}
	return out, nil
}

func (s *memSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs)
}

// messages returns the documents of the stored records, in append order.
func (s *memSink) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.recs))
	for i, r := range s.recs {
		out[i] = string(r.Doc)
	}
	return out
}

func (s *memSink) checkpointCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.cps)
}

// lineDecoder is the test decoder: one record per line whose Doc is the line,
// except that lines starting with "P:" are held as a pending partial and
// joined (without the prefix) to the next line starting with "F:", like CRI.
// Other lines are emitted even while a partial is pending (the other stream).
type lineDecoder struct {
	src          parser.Source
	pending      []byte
	pendingStart int64
	hasPending   bool
	decoded      *atomic.Int64
}

func (d *lineDecoder) Decode(dst []record.Record, ln parser.Line) []record.Record {
	if d.decoded != nil {
		d.decoded.Add(1)
	}
	b := ln.Bytes
	switch {
	case bytes.HasPrefix(b, []byte("P:")):
		if !d.hasPending {
			d.hasPending, d.pendingStart = true, ln.Start
		}
		d.pending = append(d.pending, b[2:]...)
		return dst
	case bytes.HasPrefix(b, []byte("F:")) && d.hasPending:
		doc := append(bytes.Clone(d.pending), b[2:]...)
		dst = append(dst, record.Record{ID: record.FileID("node", d.src.FileKey, d.pendingStart), Doc: doc})
		d.pending, d.hasPending = nil, false
		return dst
	}
	doc := bytes.Clone(b)
	if ln.Truncated {
		doc = append([]byte("TRUNCATED:"), doc...)
	}
	if ln.Partial {
		doc = append([]byte("PARTIAL-LINE:"), doc...)
	}
	return append(dst, record.Record{ID: record.FileID("node", d.src.FileKey, ln.Start), Doc: doc})
}

func (d *lineDecoder) Pending() (int64, bool) { return d.pendingStart, d.hasPending }

func (d *lineDecoder) Flush(dst []record.Record) []record.Record {
	if !d.hasPending {
		return dst
	}
	dst = append(dst, record.Record{ID: record.FileID("node", d.src.FileKey, d.pendingStart), Doc: append([]byte("PARTIAL:"), d.pending...)})
	d.pending, d.hasPending = nil, false
	return dst
}

// env is a temporary /var/log/pods + /var/log/containers tree with a sink.
type env struct {
	t          *testing.T
	root       string
	pods       string
	containers string
	sink       *memSink
	reg        *prometheus.Registry
	metrics    *Metrics
	decoded    atomic.Int64
	sources    sync.Map   // FileKey -> parser.Source
	clock      *testClock // the tailers' Clock (config)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	root := t.TempDir()
	e := &env{
		t:          t,
		root:       root,
		pods:       filepath.Join(root, "pods"),
		containers: filepath.Join(root, "containers"),
		sink:       newMemSink(),
		reg:        prometheus.NewRegistry(),
		clock:      newTestClock(),
	}
	e.metrics = NewMetrics(e.reg)
	mustMkdir(t, e.pods)
	mustMkdir(t, e.containers)
	return e
}

// config is the test configuration: fast polls, the test decoder, logs to t.
func (e *env) config() Config {
	return Config{
		Globs:        []string{filepath.Join(e.containers, "*.log")},
		NodeName:     "node",
		PollInterval: 50 * time.Millisecond,
		RotatedIdle:  300 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(e.t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:      e.metrics,
		Clock:        e.clock,
		NewDecoder: func(src parser.Source) Decoder {
			e.sources.Store(src.FileKey, src)
			return &lineDecoder{src: src, decoded: &e.decoded}
		},
	}
}

// running is a started Tailer.
type running struct {
	*Tailer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// start runs a tailer with cfg (modified by the options) until stop or the
// end of the test.
func (e *env) start(opts ...func(*Config)) *running {
	e.t.Helper()
	cfg := e.config()
	for _, o := range opts {
		o(&cfg)
	}
	tl, err := New(cfg, e.sink)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	return e.run(tl)
}

// run runs tl until stop or the end of the test.
func (e *env) run(tl *Tailer) *running {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Tailer: tl, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- tl.Run(ctx) }()
	e.t.Cleanup(func() { r.stop(e.t) })
	return r
}

// stop cancels the tailer and waits for Run to return (idempotent).
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Run did not return within 10s of cancel")
		}
	})
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// mustWriteLines appends the lines, each with a '\n', to path (creating it).
func mustWriteLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	if _, err := f.WriteString(b.String()); err != nil {
		t.Fatal(err)
	}
}

// mustAppend appends raw bytes to path.
func mustAppend(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func mustRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func mustRemove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond every 10ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitUntilCount waits until the sink holds at least n records.
func waitUntilCount(t *testing.T, s *memSink, n int) {
	t.Helper()
	waitFor(t, 15*time.Second, fmt.Sprintf("%d records", n), func() bool { return s.count() >= n })
}

// seqLines returns lines "<prefix>-<i>" padded to about 100 bytes, for i in [from, to).
func seqLines(prefix string, from, to int) []string {
	out := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, seqLine(prefix, i))
	}
	return out
}

func seqLine(prefix string, i int) string {
	return fmt.Sprintf("%s-%07d %s", prefix, i, strings.Repeat("x", 80))
}

// checkExactlyOnce checks that msgs hold lines prefix-0 .. prefix-(n-1) each
// exactly once and nothing else with that prefix.
func checkExactlyOnce(t *testing.T, msgs []string, prefix string, n int) {
	t.Helper()
	seen := make(map[int]int)
	for _, m := range msgs {
		if !strings.HasPrefix(m, prefix+"-") {
			continue
		}
		if len(m) != len(seqLine(prefix, 0)) {
			t.Errorf("half-written or corrupt line %q", m)
			continue
		}
		i, err := strconv.Atoi(m[len(prefix)+1 : len(prefix)+8])
		if err != nil {
			t.Errorf("bad line %q", m)
			continue
		}
		seen[i]++
	}
	var missing, dup []int
	for i := 0; i < n; i++ {
		switch seen[i] {
		case 0:
			missing = append(missing, i)
		case 1:
		default:
			dup = append(dup, i)
		}
	}
	if len(missing) > 0 || len(dup) > 0 {
		t.Fatalf("%s: %d lines missing (first %v), %d duplicated (first %v)", prefix, len(missing), head(missing), len(dup), head(dup))
	}
}

func head(xs []int) []int { return xs[:min(len(xs), 10)] }

// lost returns logspool_input_lost_bytes_total{reason}.
func (e *env) lost(reason string) float64 {
	return counterValue(e.t, e.metrics.lost.WithLabelValues(reason))
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func (e *env) rotations(kind string) float64 {
	return counterValue(e.t, e.metrics.rotations.WithLabelValues(kind))
}

// podLog creates pods/<ns>_<pod>_<uid>/<ctr>/ and the containers symlink
// <pod>_<ns>_<ctr>-<id>.log pointing at its 0.log; it returns (link, target).
func (e *env) podLog(pod, ctr string) (string, string) {
	e.t.Helper()
	dir := filepath.Join(e.pods, "default_"+pod+"_uid-"+pod, ctr)
	mustMkdir(e.t, dir)
	target := filepath.Join(dir, "0.log")
	link := filepath.Join(e.containers, pod+"_default_"+ctr+"-"+strings.Repeat("ab", 32)+".log")
	mustWriteLines(e.t, target) // create empty
	mustSymlink(e.t, target, link)
	return link, target
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func sorted(xs []string) []string {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return xs
}
