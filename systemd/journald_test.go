package systemd

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logspool/logspool/internal/testenv"
)

// TestLiveRealJournald runs systemd-journald itself in a private mount
// namespace (tmpfs over /run and /var/log/journal, 512 KiB files) and
// follows it while it rotates (journalctl --rotate and size), is killed with
// SIGKILL and restarted (it then disposes the dirty file as *.journal~), and
// writes a second writer's file (user-1000.journal). Every entry our process
// sent that journald stored is shipped exactly once.
func TestLiveRealJournald(t *testing.T) {
	const journald = "/lib/systemd/systemd-journald"
	if _, err := os.Stat(journald); err != nil {
		testenv.Missing(t, "live journald test skipped: %s is missing", journald)
	}
	if _, err := exec.LookPath("journalctl"); err != nil {
		testenv.Missing(t, "live journald test skipped: journalctl is missing (it flushes, rotates and syncs journald)")
	}
	if os.Getenv("LOGSPOOL_JOURNALD_INNER") == "" {
		if os.Geteuid() != 0 {
			testenv.Missing(t, "live journald test skipped: needs root for unshare -m and tmpfs mounts")
		}
		for _, p := range []string{"/var/log/journal", "/etc/systemd/journald.conf", "/etc/machine-id"} {
			if _, err := os.Stat(p); err != nil {
				testenv.Missing(t, "live journald test skipped: %s is missing", p)
			}
		}
		unshare, err := exec.LookPath("unshare")
		if err != nil {
			testenv.Missing(t, "live journald test skipped: unshare is missing")
		}
		cmd := exec.Command(unshare, "-m", "--propagation", "private", os.Args[0],
			"-test.run", "^TestLiveRealJournald$", "-test.count", "1", "-test.v")
		cmd.Env = append(os.Environ(), "LOGSPOOL_JOURNALD_INNER=1")
		out, err := cmd.CombinedOutput()
		t.Logf("inner run:\n%s", out)
		if err != nil {
			t.Fatalf("inner run failed: %v", err)
		}
		if !strings.Contains(string(out), "--- PASS: TestLiveRealJournald") {
			t.Fatal("inner run did not pass")
		}
		return
	}

	// Inside the private mount namespace.
	for _, m := range []string{"/run", "/var/log/journal"} {
		if err := syscall.Mount("tmpfs", m, "tmpfs", 0, "size=64m"); err != nil {
			t.Fatalf("mounting a tmpfs on %s: %v", m, err)
		}
	}
	conf := filepath.Join(t.TempDir(), "journald.conf")
	if err := os.WriteFile(conf, []byte("[Journal]\nStorage=persistent\nReadKMsg=no\nAudit=no\nSystemMaxFileSize=512K\nSyncIntervalSec=1s\nRateLimitIntervalSec=0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount(conf, "/etc/systemd/journald.conf", "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind-mounting journald.conf: %v", err)
	}
	if err := os.MkdirAll("/run/systemd/journal", 0o755); err != nil {
		t.Fatal(err)
	}
	const socket = "/run/systemd/journal/socket"
	var jd *exec.Cmd
	startJournald := func() {
		t.Helper()
		_ = os.Remove(socket)
		jd = exec.Command(journald)
		if err := jd.Start(); err != nil {
			t.Fatalf("starting journald: %v", err)
		}
		waitUntil(t, 10*time.Second, func() bool { _, err := os.Stat(socket); return err == nil })
	}
	startJournald()
	defer func() {
		if jd.ProcessState == nil {
			_ = jd.Process.Kill()
			_ = jd.Wait()
		}
	}()
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run("journalctl", "--flush")

	sink := newMemSink()
	cfg := eventConfig("/var/log/journal", "/run/log/journal") // followed through events: the safety-net poll is an hour away
	stop := startInput(t, cfg, sink)

	// An unconnected datagram socket: every write goes to whatever journald
	// is bound at the path now, across restarts.
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "sender.sock"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	addr := &net.UnixAddr{Name: socket, Net: "unixgram"}
	pad := strings.Repeat("x", 400)
	next := 0
	send := func(n int) {
		t.Helper()
		for k := 0; k < n; k++ {
			msg := fmt.Sprintf("MESSAGE=live-jd %d %s\nSYSLOG_IDENTIFIER=logspool-test\nPRIORITY=6\n", next, pad)
			if _, err := conn.WriteToUnix([]byte(msg), addr); err != nil {
				t.Fatalf("sending to journald: %v", err)
			}
			next++
		}
	}
	shippedOurs := func() int {
		n := 0
		for _, r := range sink.records() {
			if strings.Contains(string(r.Doc), `"message":"live-jd `) {
				n++
			}
		}
		return n
	}

	send(500)
	waitUntil(t, 20*time.Second, func() bool { return shippedOurs() >= 500 })
	run("journalctl", "--rotate")
	send(1500) // about 750 KB: also rotates on size
	waitUntil(t, 20*time.Second, func() bool { return shippedOurs() >= 2000 })

	// A second writer: uid 1000 gets its own user-1000.journal (own seqnum_id).
	if out, err := exec.Command("setpriv", "--reuid=1000", "--regid=1000", "--clear-groups",
		"systemd-cat", "-t", "podman", "echo", "from uid 1000").CombinedOutput(); err != nil {
		t.Logf("uid 1000 sender unavailable (%v: %s); skipping that part", err, out)
	}

	// Under load: a sender that never stops while journald is killed with
	// SIGKILL and restarted three times, and our Input is restarted twice.
	done := make(chan struct{})
	loaded := make(chan int)
	go func() {
		n := 0
		defer func() { loaded <- n }()
		for {
			select {
			case <-done:
				return
			default:
			}
			msg := fmt.Sprintf("MESSAGE=live-jd-load %d %s\nSYSLOG_IDENTIFIER=logspool-test\n", n, pad)
			_, _ = conn.WriteToUnix([]byte(msg), addr) // fails while journald is down
			n++
			if n%50 == 0 {
				time.Sleep(time.Millisecond) // pace the load; not a synchronisation
			}
		}
	}()
	for cycle := 0; cycle < 3; cycle++ {
		send(300)
		_ = jd.Process.Signal(syscall.SIGKILL)
		_ = jd.Wait()
		startJournald()
		if cycle < 2 {
			stop()
			send(100)
			stop = startInput(t, cfg, sink)
		}
	}
	send(300)
	close(done)
	loadSent := <-loaded
	run("journalctl", "--sync")

	// What journald stored is what a one-shot read of the directory finds.
	stored := func() map[string]bool {
		r, err := NewReader(ReaderConfig{Dirs: []string{"/var/log/journal", "/run/log/journal"}})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		m := map[string]bool{}
		for {
			e, err := r.Next()
			if err != nil {
				return m
			}
			m[e.Cursor()] = true
		}
	}
	var want map[string]bool
	waitUntil(t, 30*time.Second, func() bool {
		want = stored()
		return sink.count() >= len(want)
	})
	stop()
	_ = jd.Process.Signal(syscall.SIGTERM)
	_ = jd.Wait()

	got := cursorsOf(t, sink.records())
	seen := map[string]bool{}
	for _, c := range got {
		if seen[c] {
			t.Fatalf("entry %s shipped twice", c)
		}
		seen[c] = true
	}
	for c := range want {
		if !seen[c] {
			t.Errorf("stored entry %s was not shipped", c)
		}
	}
	names, _ := filepath.Glob("/var/log/journal/*/*")
	t.Logf("sent %d + %d under load, journald stored %d entries, %d shipped, files: %v",
		next, loadSent, len(want), len(got), baseNames(names))
	if shippedOurs() < 2000 {
		t.Errorf("only %d of our messages shipped", shippedOurs())
	}
}
