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

// damageDataFiles flips one byte in every 4 KiB of the spool's data files
// past their headers: every queued segment there fails its checksum.
func damageDataFiles(t *testing.T, spoolDir string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(spoolDir, "data", "*.seg"))
	if len(files) == 0 {
		t.Fatalf("no data files in %s", spoolDir)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i := 4096; i < len(b); i += 4096 {
			b[i] ^= 0x5a
		}
		if err := os.WriteFile(p, b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDamagedSpoolIsRefusedThenSalvaged: an agent on a damaged spool stays
// up without reading, /healthz says why and points at salvage; salvage
// quarantines the damage and rewinds the file, and the next agent delivers
// every line (the damaged ones read again from the file).
func TestDamagedSpoolIsRefusedThenSalvaged(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	pt := newPodTree(t)
	p := pt.newPodLog(t, 1)
	p.write(3000)
	p.close()
	spoolDir := filepath.Join(t.TempDir(), "spool")
	a := startAgent(t, io.Discard, "--containers-glob", pt.glob(), "--spool-dir", spoolDir, "--no-journal",
		"--es-url", "http://"+freeAddr(t)) // nothing listens there
	a.waitMetric(t, "logspool_spool_records", 3000, 30*time.Second)
	a.stop(t)
	damageDataFiles(t, spoolDir)

	outPath := filepath.Join(t.TempDir(), "out.ndjson")
	out, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	args := []string{"--containers-glob", pt.glob(), "--spool-dir", spoolDir, "--no-journal"}
	refused := startAgent(t, out, args...)
	var body string
	waitFor(t, 30*time.Second, "/healthz to report the damaged spool", func() bool {
		resp, err := http.Get("http://" + refused.metrics + "/healthz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(body, "salvage")
	})
	if !strings.Contains(body, ".seg is damaged at offset") || !strings.Contains(body, "records affected") {
		t.Fatalf("/healthz says %q; want the file, the offset and the records affected", body)
	}
	refused.stop(t)

	stdout, stderr, code := runCLI(t, "spool", "salvage", "--spool-dir", spoolDir)
	if code != 0 || !strings.Contains(stdout, "quarantined to") || !strings.Contains(stdout, "read again") {
		t.Fatalf("salvage: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	t.Logf("salvage said:\n%s", stdout)

	final := startAgent(t, out, args...)
	written := map[int]int{1: 3000}
	waitFor(t, 60*time.Second, "every line on stdout", func() bool {
		got, _ := readNDJSON(t, outPath)
		return len(got) >= 3000
	})
	final.stop(t)
	got, _ := readNDJSON(t, outPath)
	got.check(t, written)
}
