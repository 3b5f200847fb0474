package tailer

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestAScannerPanicWhileHoldingTheLockIsRecovered panics inside the scanner's
// locked section (where the nil-map panic of issue 8 happened): the lock is
// released while the panic unwinds, the scanner goes on at its next scan, and
// stopping completes.
func TestAScannerPanicWhileHoldingTheLockIsRecovered(t *testing.T) {
	for _, point := range []string{"applyScan", "globDir"} {
		t.Run(point, func(t *testing.T) {
			e := newEnv(t)
			var panics atomic.Int32
			cfg := e.config()
			tl, err := New(cfg, e.sink)
			if err != nil {
				t.Fatal(err)
			}
			tl.hook = func(p string) {
				if p == point && panics.Load() < 3 {
					panics.Add(1)
					panic("injected scanner fault at " + p)
				}
			}
			r := e.run(tl)
			mustWriteLines(t, filepath.Join(e.containers, "a.log"), seqLines("a", 0, 5)...)
			waitUntilCount(t, e.sink, 5)
			if got := e.inputErrors("panic"); got != 3 {
				t.Errorf("panic errors = %v, want 3", got)
			}
			r.stop(t)
		})
	}
}

// TestStoppingAfterAReaderPanicDoesNotWait checks that Run's deferred cleanup
// completes when a reader died.
func TestStoppingAfterAReaderPanicDoesNotWait(t *testing.T) {
	e := newEnv(t)
	var fired atomic.Bool
	tl, err := New(e.config(), e.sink)
	if err != nil {
		t.Fatal(err)
	}
	tl.hook = func(p string) {
		if p == "read" && fired.CompareAndSwap(false, true) {
			panic("injected reader fault")
		}
	}
	r := e.run(tl)
	mustWriteLines(t, filepath.Join(e.containers, "a.log"), seqLines("a", 0, 5)...)
	waitUntilCount(t, e.sink, 5)
	waitFor(t, 5*time.Second, "the panic to be counted", func() bool { return e.inputErrors("panic") == 1 })
	r.stop(t)
}

func TestStalledReportsAWedgedScanLoop(t *testing.T) {
	e := newEnv(t)
	tl, err := New(e.config(), e.sink)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := tl.Stalled(time.Now()); st {
		t.Fatal("stalled before Run")
	}
	release := make(chan struct{})
	var wedged atomic.Bool
	tl.hook = func(p string) {
		if p == "globDir" && wedged.Load() {
			<-release
		}
	}
	r := e.run(tl)
	t.Cleanup(func() { r.stop(t) })
	defer close(release)
	waitFor(t, 5*time.Second, "a first scan", func() bool { return tl.lastScan.Load() != 0 })
	if st, why := tl.Stalled(time.Now()); st {
		t.Fatalf("stalled while scanning: %s", why)
	}
	wedged.Store(true)
	// Stalled judges by the clock it is given: no sleep needed. An idle
	// scan loop scans every ResyncInterval (1 min), so the limit is that plus
	// 30 s.
	st, why := tl.Stalled(time.Now().Add(2 * time.Minute))
	if !st || !strings.Contains(why, "scan loop") {
		t.Fatalf("Stalled = %v %q, want the scan loop reported", st, why)
	}
	if st, why := tl.Stalled(time.Now().Add(50 * time.Second)); st {
		t.Fatalf("stalled within a resync interval: %s", why)
	}
	st, why = tl.Stalled(time.Now().Add(2 * time.Minute))
	if !st || !strings.Contains(why, "scan loop") {
		t.Fatalf("Stalled = %v %q, want the scan loop reported", st, why)
	}
}

func TestStalledReportsAWedgedReaderButNotAFullSpool(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.StallGrace = time.Minute
	tl, err := New(cfg, e.sink)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var wedged atomic.Bool
	tl.hook = func(p string) {
		if p == "read" && wedged.Load() {
			<-release
		}
	}
	r := e.run(tl)
	t.Cleanup(func() { r.stop(t) })
	defer close(release)
	path := filepath.Join(e.containers, "a.log")
	mustWriteLines(t, path, seqLines("a", 0, 5)...)
	waitUntilCount(t, e.sink, 5)
	waitFor(t, 5*time.Second, "the reader at the end of the file", func() bool {
		f := tl.Files()
		return len(f) == 1 && f[0].Lag == 0
	})
	if st, why := tl.readersStalled(time.Now().Add(2 * time.Minute)); st {
		t.Fatalf("an idle file at its end reported stalled: %s", why)
	}
	// The reader wedges; the file grows; the scanner sees the growth.
	wedged.Store(true)
	time.Sleep(3 * cfg.PollInterval) // let the reader enter the hook (the assertion below does not depend on it)
	mustWriteLines(t, path, seqLines("a", 5, 10)...)
	waitFor(t, 5*time.Second, "the scan to see the growth", func() bool {
		_, unread, _, _ := tl.readerList()[0].stallState()
		return unread > 0
	})
	if st, _ := tl.Stalled(time.Now()); st {
		t.Fatal("stalled before the grace passed")
	}
	st, why := tl.readersStalled(time.Now().Add(2 * time.Minute))
	if !st || !strings.Contains(why, "a.log") {
		t.Fatalf("Stalled = %v %q, want the wedged reader reported", st, why)
	}
}

func TestStalledIsFalseWhileTheSpoolIsFull(t *testing.T) {
	e := newEnv(t)
	e.sink.gate = make(chan struct{})
	tl := e.start(func(c *Config) { c.StallGrace = time.Minute })
	defer close(e.sink.gate)
	mustWriteLines(t, filepath.Join(e.containers, "a.log"), seqLines("a", 0, 5)...)
	waitFor(t, 5*time.Second, "the reader to block in Append", func() bool {
		rs := tl.readerList()
		if len(rs) != 1 {
			return false
		}
		_, _, appending, _ := rs[0].stallState()
		return appending
	})
	if st, why := tl.readersStalled(time.Now().Add(time.Hour)); st {
		t.Fatalf("a reader waiting for a full spool reported stalled: %s", why)
	}
}

// TestAFileThatFailsToReadIsAFaultNotAStall: EIO on one file is counted and
// retried, the other file goes on, Stalled stays false, and the file is read
// once the error goes away.
func TestAFileThatFailsToReadIsAFaultNotAStall(t *testing.T) {
	e := newEnv(t)
	tl, err := New(e.config(), e.sink)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(e.containers, "bad.log")
	var failing atomic.Bool
	failing.Store(true)
	tl.readFault = func(path string) error {
		if path == bad && failing.Load() {
			return &os.PathError{Op: "read", Path: path, Err: syscall.EIO}
		}
		return nil
	}
	r := e.run(tl)
	t.Cleanup(func() { r.stop(t) })
	mustWriteLines(t, bad, seqLines("b", 0, 5)...)
	mustWriteLines(t, filepath.Join(e.containers, "good.log"), seqLines("g", 0, 5)...)
	waitUntilCount(t, e.sink, 5)
	waitFor(t, 5*time.Second, "the EIO to be counted", func() bool { return e.inputErrors("eio") >= 1 })
	if st, why := tl.readersStalled(time.Now().Add(time.Hour)); st {
		t.Fatalf("a file failing with EIO made the tailer stalled: %s", why)
	}
	failing.Store(false)
	waitUntilCount(t, e.sink, 10)
	checkExactlyOnce(t, e.sink.messages(), "b", 5)
	checkExactlyOnce(t, e.sink.messages(), "g", 5)
}

// TestAFileRotatedWhileItsReaderIsDownIsReadOnFromItsCheckpoint: a reader
// panics (its file is opened again after a backoff, as after a restart) and
// the file is rotated meanwhile. The sweep of rotated names passed over the
// rotated file because its checkpoint describes it, though nothing followed
// it any more (no reader, not parked, waiting or retired): its lines past
// the checkpoint were never read (torture seed 252, with a file that could
// not be opened (EACCES) instead of a panic).
func TestAFileRotatedWhileItsReaderIsDownIsReadOnFromItsCheckpoint(t *testing.T) {
	e := newEnv(t)
	a := filepath.Join(e.containers, "a.log")
	mustWriteLines(t, a, seqLines("a", 0, 5)...)
	tl, err := New(e.config(), e.sink)
	if err != nil {
		t.Fatal(err)
	}
	var armed, fired atomic.Bool
	tl.hook = func(p string) {
		if p == "read" && armed.Load() && fired.CompareAndSwap(false, true) {
			panic("injected reader fault")
		}
	}
	r := e.run(tl)
	waitUntilCount(t, e.sink, 5)
	armed.Store(true)
	mustWriteLines(t, a, seqLines("a", 5, 10)...)
	waitFor(t, 5*time.Second, "the panic to be counted", func() bool { return e.inputErrors("panic") == 1 })
	mustRename(t, a, a+".1")
	mustWriteLines(t, a, seqLines("b", 0, 3)...)
	waitUntilCount(t, e.sink, 13)
	r.stop(t)
	msgs := e.sink.messages()
	checkExactlyOnce(t, msgs, "a", 10)
	checkExactlyOnce(t, msgs, "b", 3)
}
