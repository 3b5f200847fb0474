package shipper

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// failingWriter fails every write after the first n bytes.
type failingWriter struct {
	mu sync.Mutex
	n  int
	b  bytes.Buffer
}

var errDiskFull = errors.New("no space left on device")

func (w *failingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len()+len(p) > w.n {
		return 0, errDiskFull
	}
	return w.b.Write(p)
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestStdoutDrainWritesNDJSON(t *testing.T) {
	recs := makeRecords(50, "stdout")
	recs[3].Doc = []byte("{\n  \"message\": \"pretty\"\n}")
	src := newMemSource(t, recs...)
	var out bytes.Buffer
	o, err := NewStdout(&out, src, StdoutConfig{BatchBytes: 2 << 10, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	var progress int
	sum, err := o.Drain(context.Background(), func(Progress) { progress++ })
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(recs) {
		t.Fatalf("%d lines, want %d", len(lines), len(recs))
	}
	for i, l := range lines {
		want := string(recs[i].Doc)
		if i == 3 {
			want = `{"message":"pretty"}`
		}
		if l != want {
			t.Errorf("line %d = %q, want %q", i, l, want)
		}
	}
	if sum.Delivered != 50 || progress < 2 {
		t.Errorf("summary %+v after %d progress calls", sum, progress)
	}
	assertAllAckedOnce(t, src, recs)
}

func TestStdoutRunAcksAfterFlushAndStops(t *testing.T) {
	recs := makeRecords(10, "stdout-run")
	src := newMemSource(t, recs[:5]...)
	var out lockedBuffer
	o, err := NewStdout(&out, src, StdoutConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	waitUntil(t, 10*time.Second, "the first records are acked", func() bool { _, _, a := src.state(); return a == 5 })
	if got := strings.Count(out.String(), "\n"); got != 5 {
		t.Errorf("%d lines flushed when 5 records were acked", got)
	}
	src.add(recs[5:]...)
	waitUntil(t, 10*time.Second, "the rest is acked", func() bool { _, _, a := src.state(); return a == 10 })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v after cancellation", err)
	}
	assertAllAckedOnce(t, src, recs)
}

func TestStdoutWriteErrorReleasesBatch(t *testing.T) {
	recs := makeRecords(20, "stdout-fail")
	src := newMemSource(t, recs...)
	w := &failingWriter{n: 10}
	o, err := NewStdout(w, src, StdoutConfig{BufferBytes: 16})
	if err != nil {
		t.Fatal(err)
	}
	err = o.Run(context.Background())
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("Run error %v, want the write error", err)
	}
	q, l, a := src.state()
	if q != len(recs) || l != 0 || a != 0 {
		t.Errorf("after the write error: %d queued, %d leased, %d acked; want all queued", q, l, a)
	}
	// The output can be run again once the writer works.
	w.mu.Lock()
	w.n = 1 << 20
	w.mu.Unlock()
	sum, err := o.Drain(context.Background(), nil)
	if err != nil || sum.Delivered != int64(len(recs)) {
		t.Errorf("Drain after recovery: %+v, %v", sum, err)
	}
	if got := strings.Count(w.b.String(), "\n"); got != len(recs) {
		t.Errorf("%d lines written, want %d (no half-written line kept)", got, len(recs))
	}
}

// TestStdoutAckErrorStopsAndReleases: a batch whose ack failed is released
// by the source (the lease contract), so the output stops as after a write
// error instead of writing the same lines again at full speed.
func TestStdoutAckErrorStopsAndReleases(t *testing.T) {
	recs := makeRecords(20, "stdout-ack")
	src := newMemSource(t, recs...)
	src.failDones = 1
	var out bytes.Buffer
	o, err := NewStdout(&out, src, StdoutConfig{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Drain(context.Background(), nil); !errors.Is(err, errAckFailed) {
		t.Fatalf("Drain returned %v, want the ack error", err)
	}
	if q, l, a := src.state(); q != len(recs) || l != 0 || a != 0 {
		t.Errorf("after the ack error: %d queued, %d leased, %d acked; want all queued", q, l, a)
	}
	sum, err := o.Drain(context.Background(), nil)
	if err != nil || sum.Delivered != int64(len(recs)) {
		t.Errorf("Drain after recovery: %+v, %v", sum, err)
	}
	assertAllAckedOnce(t, src, recs)
}

func TestStdoutConfigValidate(t *testing.T) {
	if _, err := NewStdout(&bytes.Buffer{}, newMemSource(t), StdoutConfig{BatchBytes: -1}); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "BatchBytes") {
		t.Errorf("negative BatchBytes: %v", err)
	}
	if _, err := NewStdout(nil, newMemSource(t), StdoutConfig{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("nil writer: %v", err)
	}
}

func BenchmarkStdout(b *testing.B) {
	recs := benchRecords(8000)
	var n int
	for i := range recs {
		n += recs[i].DocLen() + 1
	}
	t := &testing.T{}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		src := newMemSource(t, recs...)
		o, _ := NewStdout(discardWriter{}, src, StdoutConfig{})
		if _, err := o.Drain(context.Background(), nil); err != nil {
			b.Fatal(err)
		}
	}
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
