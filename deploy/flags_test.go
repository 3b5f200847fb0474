package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// contractFlags are the flags of `logspool run` that cmd/logspool promises
// (each also LOGSPOOL_<NAME> and a key of the --config file).
var contractFlags = setOf(
	"config",
	"containers-glob", "spool-dir", "spool-max-bytes", "node-name", "metrics-addr",
	"max-line-bytes", "read-from", "max-open-files", "close-inactive",
	"no-journal", "journal-dir", "journal-unit", "journal-exclude-unit", "journal-since",
	"es-url", "es-index", "es-index-mode", "es-username", "es-password-file",
	"es-api-key-file", "es-ca-file", "es-cert-file", "es-key-file",
	"es-insecure-skip-verify", "es-setup", "es-dead-letter-index",
	"health-es-grace", "shutdown-timeout", "memory-limit", "log-level", "log-format",
	// Added by cmd/logspool beyond the first contract.
	"es-batch-bytes", "es-flush-interval", "es-max-in-flight", "es-compression",
	// Kubernetes API metadata (issue 11).
	"k8s-metadata", "kubeconfig", "k8s-labels-include", "k8s-labels-exclude",
	"k8s-annotations-include", "k8s-annotations-exclude", "k8s-namespace-labels",
)

func setOf(xs ...string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

func sortedKeys(m map[string]bool) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// keyLine matches "key:" or "# key:" at the start of a line of the example
// config: a set key or a documented one.
var keyLine = regexp.MustCompile(`^(?:# )?([a-z][a-z0-9-]*):(?:\s|$)`)

// documentedKeys returns the keys the example config sets or shows
// commented out.
func documentedKeys(t *testing.T, path string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if m := keyLine.FindStringSubmatch(sc.Text()); m != nil {
			keys[m[1]] = true
		}
	}
	return keys
}

func TestExampleConfigDocumentsEveryFlag(t *testing.T) {
	const path = "systemd/logspool.yaml"
	keys := documentedKeys(t, path)
	for _, k := range sortedKeys(contractFlags) {
		if k != "config" && !keys[k] {
			t.Errorf("%s does not document %q", path, k)
		}
	}
	for _, k := range sortedKeys(keys) {
		if !contractFlags[k] {
			t.Errorf("%s documents %q, which is not a logspool flag", path, k)
		}
	}
	// What is set (not commented out) must parse, and the journal exclusion
	// of logspool's own unit must be active (stdout -> journal -> logspool).
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := unmarshalStrict(data, &cfg); err != nil {
		t.Fatalf("%s is not valid YAML: %v", path, err)
	}
	excl, _ := cfg["journal-exclude-unit"].([]any)
	if len(excl) == 0 || excl[0] != "logspool.service" {
		t.Errorf("journal-exclude-unit = %v, want logspool.service excluded", cfg["journal-exclude-unit"])
	}
}

// flagsUsed returns every --flag named in the given texts.
var flagToken = regexp.MustCompile(`(?:^|[\s"'\[])--([a-z][a-z0-9-]*)`)

func flagsUsed(texts ...string) map[string]bool {
	used := map[string]bool{}
	for _, s := range texts {
		for _, m := range flagToken.FindAllStringSubmatch(s, -1) {
			used[m[1]] = true
		}
	}
	return used
}

func TestDeployFilesUseOnlyRealFlags(t *testing.T) {
	_, c, _ := mustRenderedDaemonSet(t)
	qs := mustContainer(t, &find[*appsv1.DaemonSet](t, mustRender(t, "quickstart"), "DaemonSet", "logspool").Spec.Template.Spec, "logspool")
	unit := mustParseUnit(t, "systemd/logspool.service")
	texts := []string{strings.Join(c.Args, " "), strings.Join(qs.Args, " ")}
	for _, v := range unit.values("Service", "ExecStart") {
		texts = append(texts, v)
	}
	used := flagsUsed(texts...)
	if len(used) < 4 {
		t.Fatalf("found only %v; the flag scan is broken", sortedKeys(used))
	}
	for _, f := range sortedKeys(used) {
		if !contractFlags[f] {
			t.Errorf("--%s is used but is not a logspool flag", f)
		}
	}
}

// TestContractFlagsExistInTheBinary builds cmd/logspool, when it has a main
// package, and checks that `logspool run --help` knows every contract flag
// (so every key the deploy files set, see TestDeployFilesUseOnlyRealFlags)
// and that the example config documents every flag the binary has. It
// catches drift between cmd/logspool and these files.
func TestContractFlagsExistInTheBinary(t *testing.T) {
	bin := mustBuildLogspool(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	help := exec.CommandContext(ctx, bin, "run", "--help")
	out, err := help.CombinedOutput()
	if err != nil && len(out) == 0 {
		t.Fatalf("logspool run --help: %v", err)
	}
	have := flagsUsed(string(out))
	if !have["config"] {
		t.Fatalf("logspool run --help lists no --config; cannot read its flags from:\n%s", out)
	}
	for _, f := range sortedKeys(contractFlags) {
		if !have[f] {
			t.Errorf("logspool run --help does not list --%s (the deploy files rely on it)", f)
		}
	}
	documented := documentedKeys(t, "systemd/logspool.yaml")
	for _, f := range sortedKeys(have) {
		if f != "help" && f != "config" && !documented[f] {
			t.Errorf("--%s is a flag of logspool run but systemd/logspool.yaml does not document it", f)
		}
	}
	if t.Failed() {
		t.Logf("logspool run --help:\n%s", out)
	}
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildSkip string
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	// The tests start goroutines (waiting on logspool processes) and
	// kustomize may too: none may outlive the tests.
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// mustBuildLogspool builds cmd/logspool once per test binary and returns its
// path. It skips when cmd/logspool has no main package yet, or with -short.
func mustBuildLogspool(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds cmd/logspool; skipped with -short")
	}
	buildOnce.Do(func() {
		mains, _ := filepath.Glob("../cmd/logspool/*.go")
		hasMain := false
		for _, f := range mains {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			data, err := os.ReadFile(f)
			if err == nil && bytes.Contains(data, []byte("\nfunc main()")) {
				hasMain = true
			}
		}
		if !hasMain {
			buildSkip = "cmd/logspool has no main package yet; nothing to run the deploy files against"
			return
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			buildSkip = fmt.Sprintf("no go command on PATH to build cmd/logspool: %v", err)
			return
		}
		buildDir, err = os.MkdirTemp("", "deploy-test-")
		if err != nil {
			buildErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		bin := filepath.Join(buildDir, "logspool")
		build := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./cmd/logspool")
		build.Dir = ".."
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building cmd/logspool: %w\n%s", err, out)
			return
		}
		builtBin = bin
	})
	if buildSkip != "" {
		t.Skip(buildSkip)
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// freeLoopbackAddr returns a loopback TCP address nobody listens on.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// waitForHTTP polls url until it answers with any status, or fails.
func waitForHTTP(t *testing.T, url string, exited <-chan error, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("logspool exited before serving %s: %v", url, err)
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			return resp.StatusCode
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer within %s", url, timeout)
	return 0
}

// TestDeployConfigsStartTheBinary runs `logspool run` on each config file the
// deploy files ship (the systemd example and the Kubernetes ConfigMap's),
// with inputs pointed at empty temp dirs and Elasticsearch at a closed
// loopback port: logspool must accept the file, serve /healthz, and exit 0
// on SIGTERM within its shutdown timeout.
func TestDeployConfigsStartTheBinary(t *testing.T) {
	bin := mustBuildLogspool(t)
	objs := mustRender(t, "kubernetes")
	cm := find[*corev1.ConfigMap](t, objs, "ConfigMap", "logspool-config")
	example, err := os.ReadFile("systemd/logspool.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		config string
		extra  []string
	}{
		{name: "the systemd example config is accepted", config: string(example)},
		{name: "the Kubernetes ConfigMap's config is accepted", config: cm.Data["logspool.yaml"],
			// Overrides the in-cluster es-url: never send to a real name here.
			extra: []string{"--es-url=http://" + freeLoopbackAddr(t)}},
		{name: "a misspelled key is refused", config: "es-urls: [http://127.0.0.1:1]\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "logspool.yaml")
			if err := os.WriteFile(cfg, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			addr := freeLoopbackAddr(t)
			args := append([]string{"run",
				"--config=" + cfg,
				"--spool-dir=" + filepath.Join(dir, "spool"),
				"--containers-glob=" + filepath.Join(dir, "containers", "*.log"),
				"--journal-dir=" + filepath.Join(dir, "journal"),
				"--metrics-addr=" + addr,
				"--shutdown-timeout=5s",
			}, tc.extra...)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = io.Discard, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			if strings.HasPrefix(tc.name, "a misspelled key") {
				select {
				case err := <-exited:
					if err == nil || !strings.Contains(stderr.String(), "es-urls") {
						t.Fatalf("exit %v, stderr %q: want a refusal naming es-urls", err, stderr.String())
					}
				case <-time.After(30 * time.Second):
					cmd.Process.Kill()
					<-exited
					t.Fatal("logspool kept running with a misspelled config key")
				}
				return
			}
			waitForHTTP(t, "http://"+addr+"/healthz", exited, 30*time.Second)
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
				}
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-exited
				t.Fatalf("no exit within 20s of SIGTERM (shutdown-timeout 5s)\n%s", stderr.String())
			}
		})
	}
}
