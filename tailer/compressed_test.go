package tailer

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// mustGzip compresses path to path.gz like kubelet does and removes path.
func mustGzip(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".gz.tmp", z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRename(t, path+".gz.tmp", path+".gz")
	mustRemove(t, path)
}

// readThirtyOfAHundredAndStop writes 100 lines to a kubelet 0.log, lets the
// tailer ship 30 of them (then the spool is "full") and stops it. It returns
// the 0.log and the length of a line.
func readThirtyOfAHundredAndStop(t *testing.T, e *env) (target string, lineLen int) {
	t.Helper()
	_, target = e.podLog("web", "app")
	lines := seqLines("z", 0, 100)
	lineLen = len(lines[0]) + 1
	mustWriteLines(t, target, lines...)
	e.sink.gate = make(chan struct{}, 1)
	e.sink.gate <- struct{}{} // one batch, then the spool is "full"
	tl := e.start(func(c *Config) { c.BatchBytes = 30 * lineLen })
	waitUntilCount(t, e.sink, 30)
	tl.stop(t)
	e.sink.gate = nil
	return target, lineLen
}

func TestAFileRotatedAndGzippedWhileStoppedIsReadOnFromTheGz(t *testing.T) {
	e := newEnv(t)
	target, _ := readThirtyOfAHundredAndStop(t, e)
	// While stopped: more lines, a kubelet rotation, and the rotated file
	// gzipped before the agent is back; the new file gets lines too.
	mustWriteLines(t, target, seqLines("z", 100, 150)...)
	rotated := target + ".20240101-120000"
	mustRename(t, target, rotated)
	mustGzip(t, rotated)
	mustWriteLines(t, target, seqLines("z", 150, 160)...)
	tl := e.start()
	waitUntilCount(t, e.sink, 160)
	tl.settle(t, e.clock) // let a wrong repeat show up (no sleep: see settle)
	checkExactlyOnce(t, e.sink.messages(), "z", 160)
	if n := e.sink.count(); n != 160 {
		t.Errorf("%d records, want 160", n)
	}
	for _, r := range []string{LostDeletedUnread, LostRotatedUnread} {
		if got := e.lost(r); got != 0 {
			t.Errorf("%s = %v, want 0: nothing was lost", r, got)
		}
	}
	waitFor(t, 5*time.Second, "the drained file's checkpoint to be deleted", func() bool { return e.sink.checkpointCount() == 1 })
}

func TestAFileGoneWhileStoppedWithoutACopyIsCountedAndNamed(t *testing.T) {
	e := newEnv(t)
	target, lineLen := readThirtyOfAHundredAndStop(t, e)
	// A gz that is not this file's (another container's) does not count.
	other := filepath.Join(filepath.Dir(target), "0.log.20230101-000000")
	mustWriteLines(t, other, seqLines("other", 0, 5)...)
	mustGzip(t, other)
	mustRemove(t, target)
	mustWriteLines(t, target, seqLines("n", 0, 3)...)
	e.start()
	waitUntilCount(t, e.sink, 33)
	waitFor(t, 5*time.Second, "the loss to be counted", func() bool {
		return e.lost(LostRotatedUnread)+e.lost(LostDeletedUnread) == float64(70*lineLen)
	})
}

func TestADamagedGzCopyIsReadUpToTheDamageAndTheRestCounted(t *testing.T) {
	e := newEnv(t)
	target, lineLen := readThirtyOfAHundredAndStop(t, e)
	rotated := target + ".20240101-120000"
	mustRename(t, target, rotated)
	mustGzip(t, rotated)
	// Cut the copy: the gzip stream ends early (no trailer).
	gz := rotated + ".gz"
	b, err := os.ReadFile(gz)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gz, b[:len(b)*2/3], 0o644); err != nil {
		t.Fatal(err)
	}
	mustWriteLines(t, target, seqLines("n", 0, 3)...)
	e.start()
	waitUntilCount(t, e.sink, 33)
	waitFor(t, 5*time.Second, "the checkpoint of the damaged file to be deleted", func() bool { return e.sink.checkpointCount() == 1 })
	// What was read from the copy is shipped once; the rest is counted.
	seen := map[string]bool{}
	z := 0
	for _, m := range e.sink.messages() {
		if len(m) > 2 && m[:2] == "z-" {
			if seen[m] {
				t.Errorf("%q shipped twice", m)
			}
			seen[m] = true
			z++
		}
	}
	if z <= 30 || z >= 100 {
		t.Errorf("%d of 100 lines shipped, want some from the copy and not all", z)
	}
	if got, want := e.lost(LostRotatedUnread), float64((100-z)*lineLen); got < want-float64(lineLen) || got > want {
		t.Errorf("rotated_unread = %v, want about %v (%d of 100 lines shipped)", got, want, z)
	}
}

// TestGenerationsRotatedWhileNothingCouldBeCommittedAreReadAfterARestart:
// the spool was full (nothing committed) while a new file was written and
// rotated twice; the tailer stops; at the next start (not the first: another
// file has a checkpoint) the rotated generations are found by name, newer
// than the newest checkpoint, and read.
func TestGenerationsRotatedWhileNothingCouldBeCommittedAreReadAfterARestart(t *testing.T) {
	e := newEnv(t)
	mustWriteLines(t, filepath.Join(e.containers, "other.log"), seqLines("o", 0, 3)...)
	tl := e.start()
	waitUntilCount(t, e.sink, 3)
	waitFor(t, 5*time.Second, "the checkpoint", func() bool { return e.sink.checkpointCount() == 1 })
	time.Sleep(50 * time.Millisecond) // the rotated files are newer than the checkpoint
	e.sink.mu.Lock()
	e.sink.gate = make(chan struct{}) // full from now on
	e.sink.mu.Unlock()
	_, target := e.podLog("web", "app")
	mustWriteLines(t, target, seqLines("r", 0, 10)...)
	time.Sleep(300 * time.Millisecond) // the tailer opens it and cannot commit
	mustRename(t, target, target+".1")
	mustWriteLines(t, target, seqLines("r", 10, 20)...)
	time.Sleep(300 * time.Millisecond)
	mustRename(t, target, target+".2")
	mustWriteLines(t, target, seqLines("r", 20, 30)...)
	time.Sleep(300 * time.Millisecond)
	tl.stop(t)
	e.sink.gate = nil
	tl2 := e.start()
	waitUntilCount(t, e.sink, 33)
	tl2.settle(t, e.clock) // let a wrong repeat show up (no sleep: see settle)
	checkExactlyOnce(t, e.sink.messages(), "r", 30)
}

// TestCopytruncateAndCompressWhileStoppedReadsTheRestFromTheGz: logrotate's
// copytruncate with compress ran while the agent was down: the lines written
// since the stop are only in app.log.1.gz. They are read from it (past the
// checkpoint's offset), and the truncated file's new content, whose first
// line may be the old one's, is read from 0 under IDs of its own.
func TestCopytruncateAndCompressWhileStoppedReadsTheRestFromTheGz(t *testing.T) {
	for _, sameFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("same first line %v", sameFirst), func(t *testing.T) {
			e := newEnv(t)
			path := filepath.Join(e.containers, "app.log")
			mustWriteLines(t, path, seqLines("c", 0, 10)...)
			tl := e.start()
			waitUntilCount(t, e.sink, 10)
			tl.stop(t)
			mustWriteLines(t, path, seqLines("c", 10, 15)...)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path+".1", b, 0o644); err != nil {
				t.Fatal(err)
			}
			mustGzip(t, path+".1")
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			var fresh []string
			if sameFirst {
				fresh = append(fresh, seqLine("c", 0))
			}
			fresh = append(fresh, seqLines("n", 0, 5)...)
			mustWriteLines(t, path, fresh...)
			tl2 := e.start()
			want := 15 + len(fresh)
			waitUntilCount(t, e.sink, want)
			tl2.settle(t, e.clock) // let a wrong repeat show up (no sleep: see settle)
			if n := e.sink.count(); n != want {
				t.Errorf("%d records, want %d", n, want)
			}
			seen := map[string]int{}
			for _, m := range e.sink.messages() {
				seen[m]++
			}
			for i := 0; i < 15; i++ {
				if want := 1 + boolInt(sameFirst && i == 0); seen[seqLine("c", i)] != want {
					t.Errorf("%q stored %d times, want %d", seqLine("c", i), seen[seqLine("c", i)], want)
				}
			}
			for i := 0; i < 5; i++ {
				if seen[seqLine("n", i)] != 1 {
					t.Errorf("%q stored %d times, want once", seqLine("n", i), seen[seqLine("n", i)])
				}
			}
			ids := map[string]bool{}
			e.sink.mu.Lock()
			for _, r := range e.sink.recs {
				if ids[string(r.ID[:])] {
					t.Errorf("record %q shares its ID with an earlier one", r.Doc)
				}
				ids[string(r.ID[:])] = true
			}
			e.sink.mu.Unlock()
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
