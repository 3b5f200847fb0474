package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStatusAndSummaryInStdoutMode: without --es-url, `logspool status`
// says stdout and how much was written (no Elasticsearch metrics, so no
// "UNREACHABLE"), and the agent says at start, and status repeats, what each
// input found: files per glob, journal files per directory, with a warning
// for a glob that matches nothing and a missing or empty directory.
func TestStatusAndSummaryInStdoutMode(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	pt := newPodTree(t)
	p := pt.newPodLog(t, 1)
	p.write(10)
	p.close()
	jdir, empty := t.TempDir(), t.TempDir()
	journal, err := os.ReadFile("../../systemd/testdata/journal/files/basic-compact.journal")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(jdir, "system.journal"), journal, 0o640); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	nothing := filepath.Join(t.TempDir(), "typo", "*.log")
	a := startAgent(t, io.Discard, "--spool-dir", filepath.Join(t.TempDir(), "spool"),
		"--containers-glob", pt.glob(), "--containers-glob", nothing,
		"--journal-dir", jdir, "--journal-dir", empty, "--journal-dir", missing)
	defer a.stop(t)
	a.waitMetric(t, "logspool_output_documents_total", 10+240, 30*time.Second)

	logs := a.logs()
	for _, want := range []string{
		`level=INFO msg="containers: files found" glob=` + pt.glob() + ` files=1`,
		`level=WARN msg="containers: no file matches the glob (yet); check --containers-glob" glob=` + nothing,
		`level=INFO msg="journal: files found" dir=` + jdir + ` files=1`,
		`level=WARN msg="journal: no journal file in the directory (yet)" dir=` + empty,
		`level=WARN msg="journal: the directory does not exist; check --journal-dir" dir=` + missing,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("start-up log lacks %s\n%s", want, logs)
		}
	}

	resp, err := http.Get("http://" + a.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "logspool_shipper_es_up") {
		t.Errorf("logspool_shipper_es_up is served with no Elasticsearch configured")
	}

	out, stderr, code := runCLI(t, "status", "--metrics-addr", a.metrics)
	if code != 0 {
		t.Fatalf("status exit %d: %s", code, stderr)
	}
	for _, want := range []string{"stdout", "250 documents written", pt.glob(), "1 files match", nothing, "NO FILE MATCHES",
		jdir, "1 journal files", empty, "EMPTY", missing, "MISSING"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "UNREACHABLE") {
		t.Errorf("status says UNREACHABLE in stdout mode:\n%s", out)
	}
}
