package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logspool/logspool/internal/estest"
)

// runCLI runs the binary to completion and returns stdout, stderr and the
// exit code.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "NODE_NAME=test-node")
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// fillSpool runs the agent with Elasticsearch unreachable until n lines are
// spooled, then kills it: a spool left behind by a dead node.
func fillSpool(t *testing.T, n int) (spoolDir string) {
	t.Helper()
	pt := newPodTree(t)
	p := pt.newPodLog(t, 1)
	p.write(n)
	p.close()
	spoolDir = filepath.Join(t.TempDir(), "spool")
	a := startAgent(t, io.Discard, "--containers-glob", pt.glob(), "--spool-dir", spoolDir, "--no-journal",
		"--es-url", "http://"+freeAddr(t)) // nothing listens there
	a.waitMetric(t, "logspool_spool_records", float64(n), 30*time.Second)
	a.kill(t)
	return spoolDir
}

func TestReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	spoolDir := fillSpool(t, 500)

	t.Run("a spool held by a running agent is refused", func(t *testing.T) {
		a := startAgent(t, io.Discard, "--containers-glob", filepath.Join(t.TempDir(), "*.log"), "--spool-dir", spoolDir,
			"--no-journal", "--es-url", "http://"+freeAddr(t))
		a.waitMetric(t, "logspool_spool_max_bytes", 1, 10*time.Second)
		_, stderr, code := runCLI(t, "replay", "--spool-dir", spoolDir)
		a.kill(t)
		if code == 0 || !strings.Contains(stderr, "running logspool agent") {
			t.Fatalf("exit %d, stderr %q; want a refusal naming the running agent", code, stderr)
		}
	})

	t.Run("stats show what is queued", func(t *testing.T) {
		out, stderr, code := runCLI(t, "spool", "stats", "--spool-dir", spoolDir)
		if code != 0 || !strings.Contains(out, "queued records  500") {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, stderr)
		}
	})

	t.Run("an unreachable cluster with a timeout exits non-zero and keeps the records", func(t *testing.T) {
		_, stderr, code := runCLI(t, "replay", "--spool-dir", spoolDir, "--es-url", "http://"+freeAddr(t), "--timeout", "2s")
		if code != exitGaveUp || !strings.Contains(stderr, "500 records remain") || !strings.Contains(stderr, "--timeout 2s") {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
	})

	t.Run("an unreachable cluster makes it give up after --give-up-after with exit code 3", func(t *testing.T) {
		_, stderr, code := runCLI(t, "replay", "--spool-dir", spoolDir, "--es-url", "http://"+freeAddr(t), "--give-up-after", "2s")
		for _, want := range []string{"gave up", "nothing delivered for --give-up-after 2s", "0 delivered", "500 records not delivered",
			"connection refused", "run it again to resume"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
		}
		if code != exitGaveUp {
			t.Fatalf("exit %d, want %d; stderr %q", code, exitGaveUp, stderr)
		}
		if n := strings.Count(stderr, "component=spool component=spool"); n > 0 {
			t.Errorf("component=spool twice on %d log lines:\n%s", n, stderr)
		}
	})

	t.Run("the spool drains into elasticsearch and the command exits 0", func(t *testing.T) {
		es := estest.NewServer(estest.Options{Logger: quietLogger()})
		defer es.Close()
		es.InjectFault(estest.Fault{Kind: estest.FaultItemStatus, Status: 429, Count: 20})
		_, stderr, code := runCLI(t, "replay", "--spool-dir", spoolDir, "--es-url", es.URL())
		if code != 0 {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		if got := es.Count("logs-logspool-default"); got != 500 {
			t.Fatalf("server holds %d documents, want 500; stderr %q", got, stderr)
		}
		if !strings.Contains(stderr, "500 delivered") {
			t.Errorf("summary missing: %q", stderr)
		}
		out, _, _ := runCLI(t, "spool", "stats", "--spool-dir", spoolDir)
		if !strings.Contains(out, "queued records  0") {
			t.Errorf("spool not empty after replay: %q", out)
		}
	})
}

func TestReplayToStdout(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	spoolDir := fillSpool(t, 300)
	out, stderr, code := runCLI(t, "replay", "--spool-dir", spoolDir)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	sc := seqCount{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		sc.add(line)
	}
	if dups := sc.check(t, map[int]int{1: 300}); dups != 0 {
		t.Errorf("%d duplicates", dups)
	}
}

func TestStatusAndHealth(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	pt := newPodTree(t)
	p := pt.newPodLog(t, 1)
	p.write(100)
	p.close()
	a := startAgent(t, io.Discard, "--containers-glob", pt.glob(), "--spool-dir", filepath.Join(t.TempDir(), "spool"),
		"--no-journal", "--es-url", "http://"+freeAddr(t), "--health-es-grace", "2s")
	defer a.kill(t)
	a.waitMetric(t, "logspool_spool_records", 100, 30*time.Second)

	out, stderr, code := runCLI(t, "status", "--metrics-addr", a.metrics)
	if code != 0 {
		t.Fatalf("status exit %d: %s", code, stderr)
	}
	for _, want := range []string{"containers", "1 files", "spool", "100 records", "UNREACHABLE"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	waitFor(t, 20*time.Second, "/healthz to fail with elasticsearch unreachable past the grace period", func() bool {
		resp, err := http.Get("http://" + a.metrics + "/healthz")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(b), "unreachable")
	})
}

func TestVersionAndUsageErrors(t *testing.T) {
	out, _, code := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "logspool ") {
		t.Fatalf("version: exit %d %q", code, out)
	}
	_, stderr, code := runCLI(t, "run", "--read-from", "middle", "--spool-dir", t.TempDir())
	if code != 2 || !strings.Contains(stderr, "--read-from") {
		t.Fatalf("bad --read-from: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = runCLI(t, "run", "--spool-max-bytes", "lots", "--spool-dir", t.TempDir())
	if code != 2 || !strings.Contains(stderr, "spool-max-bytes") {
		t.Fatalf("bad --spool-max-bytes: exit %d, stderr %q", code, stderr)
	}
}

// TestSIGHUPReloadsTheConfigFile: SIGHUP re-reads the config file, applies
// the log level at once, says which changed keys need a restart, and keeps
// running.
func TestSIGHUPReloadsTheConfigFile(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "logspool.yaml")
	write := func(level, spool string) {
		t.Helper()
		body := "no-journal: yes\ncontainers-glob: " + filepath.Join(dir, "*.log") + "\nspool-dir: " + filepath.Join(dir, spool) + "\nlog-level: " + level + "\n"
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("info", "spool")
	ag := startAgentOwnLevel(t, io.Discard, "--config", cfg)
	defer ag.stop(t)
	ag.waitMetric(t, "logspool_spool_max_bytes", 1, 10*time.Second)
	write("debug", "spool")
	if err := ag.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the new log level to be applied", func() bool {
		return strings.Contains(ag.logs(), "log level changed") && strings.Contains(ag.logs(), "level=DEBUG")
	})
	if strings.Contains(ag.logs(), "needs a restart") {
		t.Errorf("unchanged settings reported as changed:\n%s", ag.logs())
	}
	write("debug", "other-spool")
	if err := ag.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a changed spool-dir to be reported as needing a restart", func() bool {
		return strings.Contains(ag.logs(), "needs a restart") && strings.Contains(ag.logs(), "key=spool-dir")
	})
}
