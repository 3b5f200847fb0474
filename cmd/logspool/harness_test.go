package main

// Process-level test harness: the built binary on a generated
// /var/log/pods + /var/log/containers tree, driven as a user would.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The logspool binary for the process-level tests is built on first use
// (binary), not in TestMain: a run whose tests all skip (-short, -run of unit
// tests) builds nothing.
var (
	buildOnce sync.Once
	binDir    string
	builtBin  string
	buildErr  error
)

// binary returns the path of the logspool binary, building it once.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "logspool-bin-")
		if buildErr != nil {
			return
		}
		builtBin = filepath.Join(binDir, "logspool")
		build := exec.Command("go", "build", "-o", builtBin, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building logspool: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// podTree is a temporary /var/log/pods + /var/log/containers tree.
type podTree struct {
	root, pods, containers string
}

func newPodTree(t testing.TB) *podTree {
	t.Helper()
	root := t.TempDir()
	pt := &podTree{root: root, pods: filepath.Join(root, "pods"), containers: filepath.Join(root, "containers")}
	mustMkdir(t, pt.pods)
	mustMkdir(t, pt.containers)
	return pt
}

func (pt *podTree) glob() string { return filepath.Join(pt.containers, "*.log") }

// podLog is one container's log as kubelet lays it out, written in docker
// json-file format with a sequence number in every line.
type podLog struct {
	t        testing.TB
	id       int
	dir      string // pods/<ns>_<pod>_<uid>/<container>
	f        *os.File
	seq      int
	rotation int
	pad      string
}

func (pt *podTree) newPodLog(t testing.TB, id int) *podLog {
	t.Helper()
	ns, pod, uid, ctr := "default", fmt.Sprintf("app-%d", id), fmt.Sprintf("uid-%04d", id), "main"
	cid := fmt.Sprintf("%064x", id+1)
	dir := filepath.Join(pt.pods, ns+"_"+pod+"_"+uid, ctr)
	mustMkdir(t, dir)
	p := &podLog{t: t, id: id, dir: dir, pad: strings.Repeat("x", 80)}
	p.open()
	link := filepath.Join(pt.containers, fmt.Sprintf("%s_%s_%s-%s.log", pod, ns, ctr, cid))
	if err := os.Symlink(filepath.Join(dir, "0.log"), link); err != nil {
		t.Fatalf("symlinking %s: %v", link, err)
	}
	return p
}

func (p *podLog) open() {
	f, err := os.OpenFile(filepath.Join(p.dir, "0.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatalf("creating log: %v", err)
	}
	p.f = f
}

// write appends n lines.
func (p *podLog) write(n int) {
	var buf bytes.Buffer
	for i := 0; i < n; i++ {
		p.seq++
		fmt.Fprintf(&buf, `{"log":"file=%d seq=%d %s\n","stream":"stdout","time":"%s"}`+"\n",
			p.id, p.seq, p.pad, time.Now().UTC().Format(time.RFC3339Nano))
	}
	if _, err := p.f.Write(buf.Bytes()); err != nil {
		p.t.Errorf("writing log: %v", err)
	}
}

// rotateKubelet renames 0.log to 0.log.<n> and creates a new 0.log, as
// kubelet does; the runtime keeps writing the old file for a moment.
func (p *podLog) rotateKubelet(lateLines int) {
	p.rotation++
	old := filepath.Join(p.dir, "0.log")
	if err := os.Rename(old, fmt.Sprintf("%s.%08d", old, p.rotation)); err != nil {
		p.t.Errorf("rotating: %v", err)
		return
	}
	p.write(lateLines) // the runtime has not reopened yet
	p.f.Close()
	p.open()
}

func (p *podLog) close() { p.f.Close() }

func mustMkdir(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// freeAddr returns a loopback address with a free port.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// agent is one run of the binary.
type agent struct {
	cmd     *exec.Cmd
	metrics string
	stderr  *bytes.Buffer
	done    chan struct{}
}

// startAgent starts `logspool run` with args; stdout goes to out.
func startAgent(t testing.TB, out io.Writer, args ...string) *agent {
	t.Helper()
	return startAgentOwnLevel(t, out, append([]string{"--log-level", "info"}, args...)...)
}

// startAgentOwnLevel is startAgent without --log-level on the command line,
// for a config file to set it.
func startAgentOwnLevel(t testing.TB, out io.Writer, args ...string) *agent {
	t.Helper()
	bin := binary(t)
	return startAgentWith(t, out, func(full []string) *exec.Cmd { return exec.Command(bin, full...) }, args...)
}

// startAgentWith is startAgentOwnLevel with the command made by command
// from the agent's arguments (a wrapper, e.g. into a cgroup).
func startAgentWith(t testing.TB, out io.Writer, command func(args []string) *exec.Cmd, args ...string) *agent {
	t.Helper()
	a := &agent{metrics: freeAddr(t), stderr: new(bytes.Buffer), done: make(chan struct{})}
	full := append([]string{"run", "--metrics-addr", a.metrics}, args...)
	a.cmd = command(full)
	a.cmd.Stdout = out
	a.cmd.Stderr = &lockedWriter{w: a.stderr}
	a.cmd.Env = append(os.Environ(), "NODE_NAME=test-node")
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("starting agent: %v", err)
	}
	go func() { _ = a.cmd.Wait(); close(a.done) }()
	// A test that fails before stopping its agent must not leave it running.
	t.Cleanup(func() {
		select {
		case <-a.done:
		default:
			_ = a.cmd.Process.Kill()
			<-a.done
		}
	})
	return a
}

func (a *agent) kill(t testing.TB) {
	t.Helper()
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
}

// stop sends SIGTERM and waits for a clean exit.
func (a *agent) stop(t testing.TB) {
	t.Helper()
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(60 * time.Second):
		_ = a.cmd.Process.Kill()
		t.Fatalf("agent did not stop on SIGTERM; stderr:\n%s", a.logs())
	}
	if code := a.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("agent exited %d after SIGTERM; stderr:\n%s", code, a.logs())
	}
}

func (a *agent) logs() string {
	return a.cmd.Stderr.(*lockedWriter).String()
}

// metric reads one metric (summed over its series) from the agent.
func (a *agent) metric(name string) (float64, error) {
	resp, err := http.Get("http://" + a.metrics + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, err
	}
	return metricView(fams).value(name), nil
}

// waitMetric polls until the metric reaches want. timeout bounds the time without progress, not the whole wait: while the
// metric keeps rising the wait goes on (up to ten times timeout), so a slow,
// loaded machine passes and a stall still fails.
func (a *agent) waitMetric(t testing.TB, name string, want float64, timeout time.Duration) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	got := -1.0
	for now := start; now.Before(deadline) && now.Sub(start) < 10*timeout; now = time.Now() {
		select {
		case <-a.done:
			t.Fatalf("agent exited while waiting for %s >= %v; stderr:\n%s", name, want, a.logs())
		default:
		}
		if v, err := a.metric(name); err == nil {
			if v >= want {
				return
			}
			if v > got {
				got, deadline = v, now.Add(timeout)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s = %v after %s (no progress for %s), want >= %v; stderr:\n%s",
		name, got, time.Since(start).Round(time.Second), timeout, want, a.logs())
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.w.String()
	if len(s) > 8000 {
		s = "...\n" + s[len(s)-8000:]
	}
	return s
}

var seqRE = regexp.MustCompile(`file=(\d+) seq=(\d+) `)

// seqCount tallies how often each (file, seq) was seen.
type seqCount map[[2]int]int

func (sc seqCount) add(msg string) bool {
	m := seqRE.FindStringSubmatch(msg)
	if m == nil {
		return false
	}
	f, _ := strconv.Atoi(m[1])
	s, _ := strconv.Atoi(m[2])
	sc[[2]int{f, s}]++
	return true
}

// check reports missing sequence numbers (an error) and duplicates.
func (sc seqCount) check(t testing.TB, written map[int]int) (dups int) {
	t.Helper()
	missing := 0
	var examples []string
	for f, n := range written {
		for s := 1; s <= n; s++ {
			c := sc[[2]int{f, s}]
			switch {
			case c == 0:
				missing++
				if len(examples) < 10 {
					examples = append(examples, fmt.Sprintf("file=%d seq=%d", f, s))
				}
			case c > 1:
				dups += c - 1
			}
		}
	}
	if missing > 0 {
		for f, n := range written {
			var rs []string
			start := 0
			for s := 1; s <= n+1; s++ {
				miss := s <= n && sc[[2]int{f, s}] == 0
				if miss && start == 0 {
					start = s
				}
				if !miss && start != 0 {
					rs = append(rs, fmt.Sprintf("%d-%d", start, s-1))
					start = 0
				}
			}
			t.Logf("file %d: %d written, missing ranges %v", f, n, rs)
		}
		t.Errorf("%d lines missing, e.g. %v", missing, examples)
	}
	return dups
}

// readNDJSON tallies the messages in an NDJSON file. Lines that are not JSON
// (a write cut by SIGKILL) are counted, not parsed.
func readNDJSON(t testing.TB, path string) (sc seqCount, broken int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc = seqCount{}
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 64<<20)
	for s.Scan() {
		var doc struct {
			Message string `json:"message"`
		}
		if err := json.Unmarshal(s.Bytes(), &doc); err != nil {
			broken++
			continue
		}
		sc.add(doc.Message)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return sc, broken
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		if cond() {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
