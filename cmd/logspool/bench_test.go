package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logspool/logspool/shipper/estest"
)

// writeBenchLogs writes lines docker json-file lines of about 170 bytes,
// spread over files container logs in a pod tree, and returns the glob.
func writeBenchLogs(b *testing.B, lines, files int) string {
	b.Helper()
	pt := newPodTree(b)
	pad := strings.Repeat("lorem ipsum dolor sit amet ", 3)[:52]
	ts := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for f := 0; f < files; f++ {
		p := pt.newPodLog(b, f)
		w := bufio.NewWriterSize(p.f, 1<<20)
		for i := 0; i < lines/files; i++ {
			fmt.Fprintf(w, `{"log":"I1125 10:00:00.000000 1 handler.go:42] file=%d seq=%07d %s\n","stream":"stdout","time":"%s"}`+"\n",
				f, i, pad, ts.Add(time.Duration(i)*time.Microsecond).Format(time.RFC3339Nano))
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		p.close()
	}
	return pt.glob()
}

// runEndToEnd starts the agent on pre-written files, waits until every line
// was delivered, stops it, and reports the agent's CPU per line, wall time
// and peak RSS (from the child's rusage).
func runEndToEnd(b *testing.B, lines int, extra ...string) {
	glob := writeBenchLogs(b, lines, 8)
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devnull.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		spoolDir := filepath.Join(b.TempDir(), "spool")
		args := append([]string{"--containers-glob", glob, "--spool-dir", spoolDir, "--no-journal", "--log-level", "warn"}, extra...)
		start := time.Now()
		a := startAgent(b, devnull, args...)
		deadline := time.Now().Add(10 * time.Minute)
		for {
			v, err := a.metric("logspool_shipper_items_total")
			if err == nil && v >= float64(lines) {
				break
			}
			if time.Now().After(deadline) {
				a.kill(b)
				b.Fatalf("only %v of %d lines delivered after 10m; stderr:\n%s", v, lines, a.logs())
			}
			time.Sleep(100 * time.Millisecond)
		}
		wall := time.Since(start)
		// The peak RSS of the agent's own address space. Not the rusage's
		// maxrss: Linux carries the parent's RSS into it across the
		// vfork+exec that starts the child.
		hwm, err := vmHWM(a.cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		a.stop(b)
		ps := a.cmd.ProcessState
		cpu := ps.UserTime() + ps.SystemTime()
		rss := float64(hwm) / 1024 // KiB -> MiB
		b.ReportMetric(float64(cpu.Microseconds())/float64(lines), "cpu-us/line")
		b.ReportMetric(float64(lines)/wall.Seconds(), "lines/s")
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(rss, "peak-RSS-MiB")
	}
}

// BenchmarkEndToEnd: 1,000,000 docker json-file lines (~170 B) in 8 files,
// written before the start, read from the head by the built binary, through
// the spool, to /dev/null (stdout) or to the test server in discard mode.
func BenchmarkEndToEnd(b *testing.B) {
	const lines = 1_000_000
	b.Run("files-spool-stdout", func(b *testing.B) { runEndToEnd(b, lines) })
	b.Run("files-spool-elasticsearch", func(b *testing.B) {
		es := estest.NewServer(estest.Options{Discard: true, Logger: quietLogger()})
		defer es.Close()
		runEndToEnd(b, lines, "--es-url", es.URL())
	})
}

// vmHWM reads the peak resident set size (KiB) of a running process.
func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
