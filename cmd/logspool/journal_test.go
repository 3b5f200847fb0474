package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestJournalToStdout: the binary reads a journal directory (real files
// written by systemd, from the corpus) next to container logs, and ships
// every entry once, across a restart.
func TestJournalToStdout(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	src := "../../systemd/testdata/journal/files/basic-compact.journal"
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	jdir := t.TempDir()
	if err := os.WriteFile(filepath.Join(jdir, "system.journal"), b, 0o640); err != nil {
		t.Fatal(err)
	}
	outPath := filepath.Join(t.TempDir(), "out.ndjson")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	args := []string{"--containers-glob", filepath.Join(t.TempDir(), "*.log"), "--spool-dir", filepath.Join(t.TempDir(), "spool"),
		"--journal-dir", jdir}
	count := func() int {
		data, _ := os.ReadFile(outPath)
		return strings.Count(string(data), `"event":{"dataset":"journald"`)
	}
	a := startAgent(t, out, args...)
	waitFor(t, 30*time.Second, "240 journal entries on stdout", func() bool { return count() >= 240 })
	a.stop(t)
	a = startAgent(t, out, args...)
	// An archived file that was read to its end is not opened again, so
	// there is no event to wait for: give a wrong resume a few poll rounds
	// (250 ms each) to ship again.
	a.waitMetric(t, "logspool_spool_max_bytes", 1, 10*time.Second)
	time.Sleep(1500 * time.Millisecond)
	a.stop(t)
	if n := count(); n != 240 {
		t.Fatalf("%d journal documents after a restart, want 240 (no re-reads)", n)
	}
}
