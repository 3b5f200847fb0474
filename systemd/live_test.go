package systemd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logspool/logspool/internal/testenv"
	"github.com/logspool/logspool/spool/record"
)

// Live tests: systemd-journal-remote (the Debian package
// systemd-journal-remote; .ci/run installs it) writes journal files while an
// Input follows them.

const journalRemote = "/lib/systemd/systemd-journal-remote"

func needJournalRemote(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(journalRemote); err != nil {
		testenv.Missing(t, "live test skipped: %s is missing (apt-get install systemd-journal-remote; .ci/run does)", journalRemote)
	}
}

// remoteWriter feeds journal export format to a journal-remote process.
type remoteWriter struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	next  int // number of the next entry
	mono  uint64
}

func startRemote(t *testing.T, out string, first int) *remoteWriter {
	t.Helper()
	cmd := exec.Command(journalRemote, "-o", out, "-")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting journal-remote: %v", err)
	}
	w := &remoteWriter{t: t, cmd: cmd, stdin: stdin, next: first, mono: uint64(first) * 1000}
	t.Cleanup(func() {
		if w.cmd.ProcessState == nil {
			_ = w.cmd.Process.Kill()
			_ = w.cmd.Wait()
		}
	})
	return w
}

// entries returns n entries "live <i>" padded with pad bytes, in export format.
func (w *remoteWriter) entries(n, pad int) string {
	var b strings.Builder
	padding := strings.Repeat("p", pad)
	for k := 0; k < n; k++ {
		w.mono += 1000
		fmt.Fprintf(&b, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0123456789abcdef0123456789abcdef\n_SYSTEMD_UNIT=live.service\nMESSAGE=live %d %s\n\n",
			time.Now().UnixMicro(), w.mono, w.next, padding)
		w.next++
	}
	return b.String()
}

// write sends n entries "live <i>" padded with pad bytes.
func (w *remoteWriter) write(n, pad int) {
	w.t.Helper()
	if _, err := io.WriteString(w.stdin, w.entries(n, pad)); err != nil {
		w.t.Fatalf("writing to journal-remote: %v", err)
	}
}

// countEntries counts the entries a Reader finds in dir now.
func countEntries(t testing.TB, dir string) int {
	t.Helper()
	r, err := NewReader(ReaderConfig{Dirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 0
	for {
		if _, err := r.Next(); err != nil {
			return n
		}
		n++
	}
}

// close ends the input; journal-remote closes its file cleanly (OFFLINE).
func (w *remoteWriter) close() {
	w.t.Helper()
	_ = w.stdin.Close()
	if err := w.cmd.Wait(); err != nil {
		w.t.Fatalf("journal-remote: %v", err)
	}
}

// kill9 kills journal-remote with SIGKILL: the file stays ONLINE.
func (w *remoteWriter) kill9() {
	w.t.Helper()
	_ = w.cmd.Process.Signal(syscall.SIGKILL)
	_ = w.cmd.Wait()
	_ = w.stdin.Close()
}

// liveNumbers returns the <i> of every "live <i>" record, in order.
func liveNumbers(t testing.TB, recs []record.Record) []int {
	t.Helper()
	out := make([]int, 0, len(recs))
	for _, r := range recs {
		var d struct {
			Message string `json:"message"`
		}
		if err := json.Unmarshal(r.Doc, &d); err != nil {
			t.Fatalf("invalid document: %v", err)
		}
		f := strings.Fields(d.Message)
		if len(f) < 2 || f[0] != "live" {
			t.Fatalf("unexpected message %q", d.Message)
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// assertExactlyOnce checks that got holds 0..n-1 once each, in order.
func assertExactlyOnce(t testing.TB, got []int, n int) {
	t.Helper()
	for i, v := range got {
		if v != i {
			t.Fatalf("record %d is entry %d (want every entry once, in order; got %d records)", i, v, len(got))
		}
	}
	if len(got) != n {
		t.Fatalf("got %d entries, want %d", len(got), n)
	}
}

// startInput runs an Input in the background; stop cancels it and waits.
func startInput(t *testing.T, cfg Config, sink Sink) (stop func()) {
	t.Helper()
	in, err := NewInput(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func TestLiveFollowsAJournalRemoteWriter(t *testing.T) {
	needJournalRemote(t)
	dir := t.TempDir()
	sink := newMemSink()
	stop := startInput(t, eventConfig(dir), sink)
	w := startRemote(t, filepath.Join(dir, "live.journal"), 0)

	// Entries are shipped soon after they are written.
	var worst time.Duration
	for round := 0; round < 5; round++ {
		start := time.Now()
		w.write(10, 50)
		want := (round + 1) * 10
		waitUntil(t, 10*time.Second, func() bool { return sink.count() >= want })
		worst = max(worst, time.Since(start))
	}
	t.Logf("slowest round: entries stored %v after they were written (target: within 1 s)", worst)

	// A restart of the Input in the middle of writing loses and repeats nothing.
	stop()
	w.write(30, 50)
	stop2 := startInput(t, eventConfig(dir), sink)
	w.write(20, 50)
	w.close()
	waitUntil(t, 10*time.Second, func() bool { return sink.count() >= 100 })
	stop2()
	assertExactlyOnce(t, liveNumbers(t, sink.records()), 100)
}

func TestLiveSurvivesAWriterKilledMidWrite(t *testing.T) {
	needJournalRemote(t)
	dir := t.TempDir()
	sink := newMemSink()
	startInput(t, eventConfig(dir), sink)
	w := startRemote(t, filepath.Join(dir, "a.journal"), 0)
	w.write(200, 200)
	// Kill it while it is busy with a large write: once the file holds more
	// than the first 200 entries, the second write is under way.
	big := w.entries(5000, 200)
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		_, _ = io.WriteString(w.stdin, big) // fails once the process is killed
	}()
	waitUntil(t, 10*time.Second, func() bool { return countEntries(t, dir) > 300 })
	w.kill9()
	<-wrote

	// Whatever made it into the file is shipped, once, in order.
	inFile := countEntries(t, dir)
	t.Logf("the killed writer left %d complete entries", inFile)
	if inFile < 300 {
		t.Fatalf("only %d entries in the killed writer's file", inFile)
	}
	waitUntil(t, 10*time.Second, func() bool { return sink.count() >= inFile })

	// A new writer (new file, as journald starts one after a crash) continues.
	w2 := startRemote(t, filepath.Join(dir, "b.journal"), inFile)
	w2.write(50, 50)
	w2.close()
	waitUntil(t, 10*time.Second, func() bool { return sink.count() >= inFile+50 })
	got := liveNumbers(t, sink.records())
	assertExactlyOnce(t, got, inFile+50)
}

// TestLiveRotationUnderASmallTmpfs re-runs itself in a private mount
// namespace with a 16 MiB tmpfs, where journal-remote's files are 512 KiB
// and rotate (archived, renamed) while the Input follows them.
func TestLiveRotationUnderASmallTmpfs(t *testing.T) {
	needJournalRemote(t)
	if os.Getenv("LOGSPOOL_LIVE_INNER") == "" {
		if os.Geteuid() != 0 {
			testenv.Missing(t, "live rotation test skipped: needs root for unshare -m and a tmpfs mount")
		}
		unshare, err := exec.LookPath("unshare")
		if err != nil {
			testenv.Missing(t, "live rotation test skipped: unshare is missing")
		}
		cmd := exec.Command(unshare, "-m", "--propagation", "private", os.Args[0],
			"-test.run", "^TestLiveRotationUnderASmallTmpfs$", "-test.count", "1", "-test.v")
		cmd.Env = append(os.Environ(), "LOGSPOOL_LIVE_INNER=1")
		out, err := cmd.CombinedOutput()
		t.Logf("inner run:\n%s", out)
		if err != nil {
			t.Fatalf("inner run failed: %v", err)
		}
		if !strings.Contains(string(out), "--- PASS: TestLiveRotationUnderASmallTmpfs") {
			t.Fatal("inner run did not pass")
		}
		return
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=16m"); err != nil {
		t.Fatalf("mounting a tmpfs: %v", err)
	}
	defer syscall.Unmount(dir, 0)
	sink := newMemSink()
	stop := startInput(t, eventConfig(dir), sink)
	w := startRemote(t, filepath.Join(dir, "live.journal"), 0)
	const total = 6000 // about 2.5 MB: several 512 KiB files
	for w.next < total {
		w.write(100, 300)
		want := w.next
		waitUntil(t, 20*time.Second, func() bool { return sink.count() >= want })
	}
	w.close()
	stop()
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	t.Logf("files: %v", baseNames(names))
	if len(names) < 3 {
		t.Fatalf("expected rotation into several files, got %v", names)
	}
	assertExactlyOnce(t, liveNumbers(t, sink.records()), total)
}
