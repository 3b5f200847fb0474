package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logspool/logspool/internal/estest"
	"github.com/logspool/logspool/internal/testenv"
)

// TestFullDiskPausesReading: the spool's file system fills up while
// Elasticsearch is away. The agent must not die (Badger would take a SIGBUS
// on a full disk), must say so on /healthz, and must ship every line once the
// cluster is back.
func TestFullDiskPausesReading(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	spoolFS := t.TempDir()
	if err := syscall.Mount("tmpfs", spoolFS, "tmpfs", 0, "size=96m"); err != nil {
		testenv.Missing(t, "cannot mount a small tmpfs for the spool (needs root): %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(spoolFS, syscall.MNT_DETACH) })

	// About 60 MiB of lines that S2 cannot shrink: more than the 32 MiB the
	// spool may use on a 96 MiB file system that keeps 64 MiB free.
	pt := newPodTree(t)
	const lines = 240_000
	p := pt.newPodLog(t, 1)
	w := bufio.NewWriterSize(p.f, 1<<20)
	rnd := make([]byte, 150)
	for i := 1; i <= lines; i++ {
		_, _ = rand.Read(rnd)
		fmt.Fprintf(w, `{"log":"file=1 seq=%d %s\n","stream":"stdout","time":"2026-11-25T10:00:00.000000001Z"}`+"\n", i, base64.RawStdEncoding.EncodeToString(rnd))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	p.seq = lines
	p.close()

	es := estest.NewServer(estest.Options{Discard: true, Logger: quietLogger()})
	defer es.Close()
	if err := es.SetOutage(true); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, io.Discard, "--containers-glob", pt.glob(), "--spool-dir", filepath.Join(spoolFS, "spool"),
		"--no-journal", "--es-url", es.URL())
	defer a.kill(t)
	var health string
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(health, "disk full") {
		if time.Now().After(deadline) {
			var st syscall.Statfs_t
			_ = syscall.Statfs(spoolFS, &st)
			read, _ := a.metric("logspool_tailer_lines_total")
			queued, _ := a.metric("logspool_spool_bytes")
			t.Fatalf("no full disk after 60s: /healthz %q, %v lines read, %v bytes queued, %d MiB free; log:\n%s",
				health, read, queued, int64(st.Bavail)*int64(st.Bsize)>>20, a.logs())
		}
		if resp, err := http.Get("http://" + a.metrics + "/healthz"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			health = string(b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if read, _ := a.metric("logspool_tailer_lines_total"); read >= lines {
		t.Fatalf("all %v lines were read although the disk is full", read)
	}
	if err := es.SetOutage(false); err != nil {
		t.Fatal(err)
	}
	a.waitMetric(t, "logspool_shipper_items_total", lines, 120*time.Second)
	if got := es.Count("logs-logspool-default"); got != lines {
		t.Fatalf("server holds %d documents, want %d", got, lines)
	}
	a.stop(t)
}
