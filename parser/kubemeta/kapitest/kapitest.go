// Package kapitest runs a real kube-apiserver (with a real etcd) for tests,
// through the repository's .ci/kapi.sh. It is imported by tests only.
//
// The binaries are built once with `.ci/kapi.sh build` (cold: 6-9 minutes on
// 2 cores; cached under $KAPI_HOME, default ~/.cache/kapi). Where they are
// missing, Start skips the test with a message saying so; under LOGSPOOL_CI=1
// (set by .ci/run, which builds them) it fails instead: CI never skips these
// tests.
//
// The server has no controllers and no kubelet: tests create ReplicaSets,
// Jobs and Pods themselves, with ownerReferences and spec.nodeName, and delete
// pods with gracePeriodSeconds=0.
package kapitest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Server is one running kube-apiserver + etcd.
type Server struct {
	URL        string // https://127.0.0.1:PORT
	Token      string // a system:masters bearer token
	CAFile     string // the serving certificate
	Kubeconfig string // a kubeconfig with the admin token
	Admin      *kubernetes.Clientset

	t      testing.TB
	script string
	name   string
	mu     sync.Mutex
	down   bool
}

var seq atomic.Int64

// Script returns the path of .ci/kapi.sh, found by walking up from the
// working directory to the module root.
func Script() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".ci", "kapi.sh"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// home is where kapi.sh caches the binaries.
func home() string {
	if h := os.Getenv("KAPI_HOME"); h != "" {
		return h
	}
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(x, "kapi")
	}
	h, _ := os.UserHomeDir()
	return filepath.Join(h, ".cache", "kapi")
}

// Available reports whether the binaries are built, and if not, why.
func Available() (bool, string) {
	bin := filepath.Join(home(), "bin")
	etcd := os.Getenv("KAPI_ETCD")
	if etcd == "" {
		etcd = filepath.Join(bin, "etcd")
	}
	for _, p := range []string{filepath.Join(bin, "kube-apiserver"), etcd} {
		if _, err := os.Stat(p); err != nil {
			return false, fmt.Sprintf("no %s: build the test API server with `.ci/kapi.sh build` (6-9 min once; .ci/run does it)", p)
		}
	}
	return true, ""
}

// Start starts a server for t and stops it when t ends. It skips t when the
// binaries are missing, unless LOGSPOOL_CI=1.
func Start(t testing.TB) *Server {
	t.Helper()
	if ok, why := Available(); !ok {
		if os.Getenv("LOGSPOOL_CI") == "1" {
			t.Fatalf("LOGSPOOL_CI=1 and the test API server is missing: %s", why)
		}
		t.Skipf("SKIP (no real API server): %s", why)
	}
	script, err := Script()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, script: script, name: fmt.Sprintf("logspool-%d-%d", os.Getpid(), seq.Add(1))}
	out, err := s.run("start")
	if err != nil {
		t.Fatalf("starting the API server: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := s.run("stop"); err != nil {
			t.Errorf("stopping the API server: %v\n%s", err, out)
		}
	})
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "KUBE_URL":
			s.URL = v
		case "KUBE_TOKEN":
			s.Token = v
		case "KUBE_CA_FILE":
			s.CAFile = v
		case "KUBECONFIG":
			s.Kubeconfig = v
		}
	}
	if s.URL == "" || s.Token == "" || s.Kubeconfig == "" {
		t.Fatalf("kapi.sh start printed no server:\n%s", out)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 500, 1000 // tests create objects in bulk
	if s.Admin, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *Server) run(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{s.script}, append(args, s.name)...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return append(out, stderr.Bytes()...), err
	}
	return out, nil
}

// Config returns a client config for the admin token.
func (s *Server) Config() *rest.Config {
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		s.t.Fatal(err)
	}
	return cfg
}

// StopAPIServer stops kube-apiserver; etcd keeps the data.
func (s *Server) StopAPIServer() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if out, err := s.run("stop-apiserver"); err != nil {
		s.t.Fatalf("stopping kube-apiserver: %v\n%s", err, out)
	}
	s.down = true
}

// StartAPIServer starts kube-apiserver again on the same port.
func (s *Server) StartAPIServer() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if out, err := s.run("start-apiserver"); err != nil {
		s.t.Fatalf("restarting kube-apiserver: %v\n%s", err, out)
	}
	s.down = false
}

// KubeconfigFor writes a kubeconfig that authenticates with token.
func (s *Server) KubeconfigFor(t testing.TB, token string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	body := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: kapi, cluster: {server: %q, certificate-authority: %q}}]
users: [{name: u, user: {token: %q}}]
contexts: [{name: kapi, context: {cluster: kapi, user: u}}]
current-context: kapi
`, s.URL, s.CAFile, token)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Ctx returns a context for one API call.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Zero is DeleteOptions that remove a pod at once (no kubelet confirms a
// graceful deletion here).
func Zero() metav1.DeleteOptions {
	var g int64
	return metav1.DeleteOptions{GracePeriodSeconds: &g}
}
