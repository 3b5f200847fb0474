package tailer

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/logspool/logspool/internal/testenv"
	"github.com/logspool/logspool/parser"
	"github.com/logspool/logspool/spool/record"
)

// inputErrors returns logspool_input_errors_total{input="containers",reason}
// read from the registry by name.
func (e *env) inputErrors(reason string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "logspool_input_errors_total" {
			continue
		}
		var sum float64
		for _, m := range mf.GetMetric() {
			var input, r string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "input":
					input = l.GetValue()
				case "reason":
					r = l.GetValue()
				}
			}
			if input == "containers" && r == reason {
				sum += m.GetCounter().GetValue()
			}
		}
		return sum
	}
	return 0
}

func TestASymlinkLoopMatchingTheGlobStaysLocal(t *testing.T) {
	e := newEnv(t)
	loop := filepath.Join(e.containers, "loop.log")
	mustSymlink(t, loop, loop)
	mustSymlink(t, filepath.Join(e.containers, "b.log"), filepath.Join(e.containers, "a.log"))
	mustSymlink(t, filepath.Join(e.containers, "a.log"), filepath.Join(e.containers, "b.log"))
	good := filepath.Join(e.containers, "good.log")
	mustWriteLines(t, good, seqLines("g", 0, 10)...)
	e.start()
	waitUntilCount(t, e.sink, 10)
	waitFor(t, 5*time.Second, "the loops to be counted", func() bool { return e.inputErrors("eloop") >= 3 })
	mustWriteLines(t, good, seqLines("g", 10, 20)...)
	waitUntilCount(t, e.sink, 20)
	checkExactlyOnce(t, e.sink.messages(), "g", 20)
}

func TestAFIFOAndADirectoryMatchingTheGlobAreCountedNeverOpened(t *testing.T) {
	e := newEnv(t)
	if err := syscall.Mkfifo(filepath.Join(e.containers, "pipe.log"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustMkdir(t, filepath.Join(e.containers, "dir.log"))
	mustWriteLines(t, filepath.Join(e.containers, "good.log"), seqLines("g", 0, 5)...)
	tl := e.start()
	waitUntilCount(t, e.sink, 5)
	waitFor(t, 5*time.Second, "both to be counted", func() bool { return e.inputErrors("not_regular") >= 2 })
	// Counted again only when retried after a backoff, not at every scan.
	before := e.inputErrors("not_regular")
	time.Sleep(10 * e.config().PollInterval)
	if got := e.inputErrors("not_regular"); got > before+2 {
		t.Errorf("not_regular went from %v to %v in 10 scans: no backoff", before, got)
	}
	if n := len(tl.Files()); n != 1 {
		t.Errorf("%d files open, want 1", n)
	}
}

func TestANameTooLongAndANotADirectoryStayLocal(t *testing.T) {
	e := newEnv(t)
	// A glob whose directory part is a file: ENOTDIR for that glob only.
	notDir := filepath.Join(e.root, "file")
	mustWriteLines(t, notDir, "x")
	mustWriteLines(t, filepath.Join(e.containers, "good.log"), seqLines("g", 0, 5)...)
	e.start(func(c *Config) {
		c.Globs = append(c.Globs, filepath.Join(notDir, "*.log"))
	})
	// A symlink whose target has a name longer than NAME_MAX: ENAMETOOLONG.
	mustSymlink(t, filepath.Join(e.root, strings.Repeat("n", 300)), filepath.Join(e.containers, "long.log"))
	waitUntilCount(t, e.sink, 5)
	waitFor(t, 5*time.Second, "ENOTDIR to be counted", func() bool { return e.inputErrors("enotdir") >= 1 })
	waitFor(t, 5*time.Second, "ENAMETOOLONG to be counted", func() bool { return e.inputErrors("enametoolong") >= 1 })
}

// panicDecoder panics on the first line containing "boom" it sees, once per
// test (the flag is shared), and decodes like lineDecoder otherwise.
type panicDecoder struct {
	lineDecoder
	fired *atomic.Bool
}

func (d *panicDecoder) Decode(dst []record.Record, ln parser.Line) []record.Record {
	if strings.Contains(string(ln.Bytes), "boom") && d.fired.CompareAndSwap(false, true) {
		panic("decoder bug")
	}
	return d.lineDecoder.Decode(dst, ln)
}

func TestAReaderPanicIsRecoveredAndTheFileReadOnFromItsCheckpoint(t *testing.T) {
	e := newEnv(t)
	var fired atomic.Bool
	path := filepath.Join(e.containers, "app.log")
	other := filepath.Join(e.containers, "other.log")
	mustWriteLines(t, path, seqLines("p", 0, 10)...)
	tl := e.start(func(c *Config) {
		c.NewDecoder = func(src parser.Source) Decoder {
			return &panicDecoder{lineDecoder: lineDecoder{src: src}, fired: &fired}
		}
	})
	waitUntilCount(t, e.sink, 10)
	mustWriteLines(t, path, "boom")
	mustWriteLines(t, path, seqLines("p", 10, 20)...)
	mustWriteLines(t, other, seqLines("o", 0, 5)...)
	waitUntilCount(t, e.sink, 26)
	checkExactlyOnce(t, e.sink.messages(), "p", 20)
	checkExactlyOnce(t, e.sink.messages(), "o", 5)
	if !fired.Load() {
		t.Fatal("the decoder never panicked")
	}
	if got := e.inputErrors("panic"); got != 1 {
		t.Errorf("panic errors = %v, want 1", got)
	}
	tl.stop(t)
}

// childTailer is the tailer running in a child process (see killChild) over
// dir/containers, with its store and log in state.
type childTailer struct {
	t          *testing.T
	dir, state string
	cmd        *exec.Cmd
}

// startChildTailer starts the child; uid > 0 runs it as that user (without
// any capability, so file permissions apply), nofile > 0 sets its
// RLIMIT_NOFILE.
func startChildTailer(t *testing.T, dir, state string, uid uint32, nofile int) *childTailer {
	t.Helper()
	return startChildTailerBin(t, "", dir, state, uid, nofile)
}

// startChildTailerBin is startChildTailer running bin ("": the test binary,
// or a copy of it in dir when uid > 0).
func startChildTailerBin(t *testing.T, bin, dir, state string, uid uint32, nofile int, env ...string) *childTailer {
	t.Helper()
	if bin == "" {
		bin = os.Args[0]
	}
	if uid > 0 && bin == os.Args[0] {
		// The test binary's directory is private to root: run a copy.
		bin = filepath.Join(dir, "tailer.test")
		b, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+dir, "LOGSPOOL_TAILER_CHILD_STATE="+state)
	if nofile > 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("LOGSPOOL_TAILER_CHILD_NOFILE=%d", nofile))
	}
	cmd.Env = append(cmd.Env, env...)
	if uid > 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childTailer{t: t, dir: dir, state: state, cmd: cmd}
	t.Cleanup(func() {
		if c.cmd != nil {
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(state, "child.log"))
			t.Logf("child log:\n%s", b)
		}
	})
	return c
}

func (c *childTailer) messages() []string {
	entries, _, err := loadStore(filepath.Join(c.state, "store"))
	if err != nil {
		c.t.Fatal(err)
	}
	var msgs []string
	for _, e := range entries {
		msgs = append(msgs, e.Recs...)
	}
	return msgs
}

func (c *childTailer) waitCount(n int, timeout time.Duration) {
	c.t.Helper()
	waitFor(c.t, timeout, fmt.Sprintf("%d records in the child's store", n), func() bool { return len(c.messages()) >= n })
}

func (c *childTailer) log() string {
	b, _ := os.ReadFile(filepath.Join(c.state, "child.log"))
	return string(b)
}

// waitMark waits until the child has created its mark file what (see
// childMark).
func (c *childTailer) waitMark(what, desc string) {
	c.t.Helper()
	mark := childMark(c.state, what, c.cmd.Process.Pid)
	waitFor(c.t, 30*time.Second, desc, func() bool {
		_, err := os.Stat(mark)
		return err == nil
	})
}

// waitGlobbed waits until the child's first scan has matched the globs.
func (c *childTailer) waitGlobbed() {
	c.t.Helper()
	c.waitMark("globbed", "the child's first scan")
}

// stop sends SIGTERM, once the child has installed its handler, and fails
// the test when the child does not exit within 10 s (a wedged tailer never
// completes its shutdown).
func (c *childTailer) stop() {
	c.t.Helper()
	c.waitMark("ready", "the child to handle SIGTERM")
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		c.cmd = nil
		if err != nil {
			c.t.Errorf("child exited with %v", err)
		}
	case <-time.After(10 * time.Second):
		c.t.Errorf("child did not stop within 10s of SIGTERM")
	}
}

// TestAChildStoppedRightAfterItStartsExitsCleanly: the model stops a child
// it has just started (check restarts it and, when every line is already in
// the store, stops it 400 ms later). Under load a SIGTERM sent before the
// child had installed its handler killed it ("child exited with signal:
// terminated", model seed 74): stop waits for the child to say it is ready.
func TestAChildStoppedRightAfterItStartsExitsCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test skipped in -short mode")
	}
	dir := t.TempDir()
	mustMkdir(t, filepath.Join(dir, "containers"))
	for i := 0; i < 3; i++ {
		startChildTailer(t, dir, dir, 0, 0).stop()
	}
}

// unprivilegedTree makes dir/containers and a state directory that uid 65534
// can use, and the path to dir traversable.
func unprivilegedTree(t *testing.T) (dir, state string) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "needs root to run a child as another user")
	}
	dir = t.TempDir()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mustMkdir(t, filepath.Join(dir, "containers"))
	state = filepath.Join(dir, "state")
	mustMkdir(t, state)
	if err := os.Chown(state, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	return dir, state
}

func TestAnUnreadableFileStaysLocalAndIsReadOnceReadable(t *testing.T) {
	dir, state := unprivilegedTree(t)
	secret := filepath.Join(dir, "containers", "secret.log")
	mustWriteLines(t, secret, seqLines("s", 0, 10)...)
	if err := os.Chmod(secret, 0o600); err != nil { // root-owned, unreadable for uid 65534
		t.Fatal(err)
	}
	var good []string
	for i := 0; i < 3; i++ {
		p := filepath.Join(dir, "containers", fmt.Sprintf("good%d.log", i))
		mustWriteLines(t, p, seqLines(fmt.Sprintf("g%d", i), 0, 10)...)
		good = append(good, p)
	}
	c := startChildTailer(t, dir, state, 65534, 0)
	c.waitCount(30, 15*time.Second)
	// The others go on being read while the bad one fails.
	for i, p := range good {
		mustWriteLines(t, p, seqLines(fmt.Sprintf("g%d", i), 10, 20)...)
	}
	c.waitCount(60, 15*time.Second)
	// Readable now: picked up without a restart.
	if err := os.Chmod(secret, 0o644); err != nil {
		t.Fatal(err)
	}
	c.waitCount(70, 15*time.Second)
	c.stop()
	msgs := c.messages()
	for i := range good {
		checkExactlyOnce(t, msgs, fmt.Sprintf("g%d", i), 20)
	}
	checkExactlyOnce(t, msgs, "s", 10)
	if n := strings.Count(c.log(), "reason=eacces"); n != 1 {
		t.Errorf("the EACCES was logged %d times, want once", n)
	}
}

func TestALowDescriptorLimitSlowsReadingButEveryFileIsRead(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test skipped in -short mode")
	}
	dir := t.TempDir()
	mustMkdir(t, filepath.Join(dir, "containers"))
	const files = 150
	for i := 0; i < files; i++ {
		mustWriteLines(t, filepath.Join(dir, "containers", fmt.Sprintf("f%03d.log", i)), seqLines(fmt.Sprintf("f%03d", i), 0, 5)...)
	}
	// More open files allowed than descriptors: the tailer runs out
	// (MaxOpenFiles, below the limit by default, would keep it from it).
	c := startChildTailerBin(t, "", dir, dir, 0, 64, "LOGSPOOL_TAILER_CHILD_MAXOPEN=1000")
	c.waitCount(files*5, 60*time.Second)
	// Files keep growing: every one is read again, by turns.
	for i := 0; i < files; i++ {
		mustWriteLines(t, filepath.Join(dir, "containers", fmt.Sprintf("f%03d.log", i)), seqLines(fmt.Sprintf("f%03d", i), 5, 10)...)
	}
	c.waitCount(files*10, 60*time.Second)
	c.stop()
	msgs := c.messages()
	for i := 0; i < files; i++ {
		checkExactlyOnce(t, msgs, fmt.Sprintf("f%03d", i), 10)
	}
	if !strings.Contains(c.log(), "out of file descriptors") {
		t.Error("the child never ran out of descriptors: the test proves nothing")
	}
}

// TestAFileUnreadableAtARestartKeepsItsCheckpoint: a file that cannot be
// opened when the tailer starts again is not taken for gone (which would
// delete its checkpoint and read it again from 0 once readable).
func TestAFileUnreadableAtARestartKeepsItsCheckpoint(t *testing.T) {
	dir, state := unprivilegedTree(t)
	// A rotated file (not matched by the glob) is found by its checkpoint.
	pod := filepath.Join(dir, "pods", "ns_web_uid", "app")
	mustMkdir(t, pod)
	for d := pod; d != dir; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	target := filepath.Join(pod, "0.log")
	mustWriteLines(t, target, seqLines("a", 0, 10)...)
	mustSymlink(t, target, filepath.Join(dir, "containers", "web_ns_app-1.log"))
	c := startChildTailer(t, dir, state, 65534, 0)
	c.waitCount(10, 15*time.Second)
	c.stop()
	mustWriteLines(t, target, seqLines("a", 10, 15)...)
	mustRename(t, target, target+".1")
	mustWriteLines(t, target, seqLines("b", 0, 5)...)
	for _, p := range []string{target, target + ".1"} {
		if err := os.Chmod(p, 0); err != nil {
			t.Fatal(err)
		}
	}
	c = startChildTailer(t, dir, state, 65534, 0)
	time.Sleep(time.Second) // several scans with both files unreadable
	for _, p := range []string{target, target + ".1"} {
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c.waitCount(20, 60*time.Second)
	time.Sleep(500 * time.Millisecond) // let a wrong repeat show up
	c.stop()
	checkExactlyOnce(t, c.messages(), "a", 15)
	checkExactlyOnce(t, c.messages(), "b", 5)
}
