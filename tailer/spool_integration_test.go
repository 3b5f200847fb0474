package tailer

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/logspool/logspool/spool"
)

// These tests run the tailer with the real parser into the real spool.

// drainSpool leases and acks everything queued and returns the messages.
func drainSpool(t *testing.T, sp *spool.Spool) []string {
	t.Helper()
	var out []string
	for {
		l, err := sp.TryLease(1 << 20)
		if err != nil {
			t.Fatal(err)
		}
		if l == nil {
			return out
		}
		for _, r := range l.Records {
			var d ecsDoc
			if err := json.Unmarshal(r.Document(), &d); err != nil {
				t.Fatalf("%v: %s", err, r.Document())
			}
			out = append(out, d.Message)
		}
		if err := l.Done(nil); err != nil {
			t.Fatal(err)
		}
	}
}

func openSpool(t *testing.T, dir string, maxBytes int64) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(spool.Config{Dir: dir, MaxBytes: maxBytes, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func criSeq(prefix string, from, to int) []string {
	out := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, criLine(i, "stdout", "F", seqLine(prefix, i)))
	}
	return out
}

func TestSpoolRestartDeliversEveryLineOnce(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(t.TempDir(), "spool")
	_, target := e.podLog("web", "nginx")
	mustWriteLines(t, target, criSeq("s", 0, 500)...)

	run := func(until int) {
		t.Helper()
		sp := openSpool(t, dir, 0)
		tl, err := New(Config{
			Globs: e.config().Globs, NodeName: "node", PollInterval: 50 * time.Millisecond,
			Logger: discardLogger(),
		}, sp)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- tl.Run(ctx) }()
		waitFor(t, 15*time.Second, "the spool to fill", func() bool { return sp.Stats().QueuedRecords >= int64(until) })
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := sp.Close(); err != nil {
			t.Fatal(err)
		}
	}
	run(500)
	mustWriteLines(t, target, criSeq("s", 500, 800)...)
	run(800)

	sp := openSpool(t, dir, 0)
	defer sp.Close()
	msgs := drainSpool(t, sp)
	checkExactlyOnce(t, msgs, "s", 800)
	if len(msgs) != 800 {
		t.Errorf("%d records in the spool, want 800", len(msgs))
	}
}

func TestFullSpoolPausesTheTailerUntilItDrains(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.containers, "app.log")
	// ~9 MB of hardly compressible records against a 2 MiB cap (the spool
	// caps its directory: S2-compressed data files of 256 KiB and Badger's
	// index).
	const n = 30000
	rng := rand.New(rand.NewPCG(1, 2))
	lines := make([]string, n)
	for i := range lines {
		var b [64]byte
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		lines[i] = criLine(i, "stdout", "F", seqLine("p", i)+" "+hex.EncodeToString(b[:]))
	}
	mustWriteLines(t, path, lines...)
	sp := openSpool(t, filepath.Join(t.TempDir(), "spool"), 2<<20)
	defer sp.Close()
	tl, err := New(Config{Globs: e.config().Globs, NodeName: "node", Logger: discardLogger(), BatchBytes: 16 << 10}, sp)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	waitFor(t, 10*time.Second, "the spool to block", func() bool { return sp.Stats().Blocked })
	// The spool caps its directory (data files of at least 256 KiB), not
	// the record bytes: what matters here is that the tailer stops while
	// the append blocks: nothing more is queued.
	q := sp.Stats().QueuedBytes
	time.Sleep(300 * time.Millisecond) // give a wrong reader time to run ahead
	if st := sp.Stats(); st.QueuedBytes != q || !st.Blocked {
		t.Fatalf("queued bytes went from %d to %d while the spool was full", q, st.QueuedBytes)
	}
	var msgs []string
	var mu sync.Mutex
	waitFor(t, 30*time.Second, "every line through a small spool", func() bool {
		m := drainSpool(t, sp)
		mu.Lock()
		defer mu.Unlock()
		for _, s := range m {
			msgs = append(msgs, s[:min(len(s), len(seqLine("p", 0)))])
		}
		return len(msgs) >= n
	})
	checkExactlyOnce(t, msgs, "p", n)
}
