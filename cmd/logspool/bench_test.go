package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/logspool/logspool/internal/estest"
	"github.com/logspool/logspool/parser/testlogs"
)

// benchLines is the number of physical lines of every end-to-end run.
const benchLines = 1_000_000

// benchInput writes the files of one end-to-end run before the agent starts
// and returns their glob and the number of records they make.
type benchInput struct {
	name  string
	write func(b *testing.B, lines int) (glob string, records int64)
}

var (
	dockerInput = benchInput{"docker-realistic", func(b *testing.B, n int) (string, int64) { return writeNodeLogs(b, testlogs.Docker, n) }}
	criInput    = benchInput{"cri-realistic", func(b *testing.B, n int) (string, int64) { return writeNodeLogs(b, testlogs.CRI, n) }}
	bestCase    = benchInput{"repetitive-best-case", writeRepetitiveLogs}
)

// writeNodeLogs writes lines physical lines of production-like logs
// (package testlogs: the 8 containers of testlogs.Node(1, 8), lines/8 each,
// S2 shrinks them 6-7 times) where the kubelet puts them:
// pods/<ns>_<pod>_<uid>/<container>/0.log, linked from
// containers/<pod>_<ns>_<container>-<id>.log.
func writeNodeLogs(b *testing.B, f testlogs.Format, lines int) (string, int64) {
	b.Helper()
	pt := newPodTree(b)
	var records, size int64
	cs := testlogs.Node(1, 8)
	for _, c := range cs {
		dir := filepath.Join(pt.pods, filepath.FromSlash(c.PodDir()))
		mustMkdir(b, dir)
		path := filepath.Join(dir, "0.log")
		out, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		st, err := testlogs.New(c.Workload, testlogs.Options{Seed: 1, Format: f}).WriteLines(out, lines/len(cs))
		if err != nil {
			b.Fatal(err)
		}
		// On disk before the agent starts: else the spool's first fsync
		// waits for the file system to write these hundreds of MiB.
		if err := out.Sync(); err != nil {
			b.Fatal(err)
		}
		if err := out.Close(); err != nil {
			b.Fatal(err)
		}
		if err := os.Symlink(path, filepath.Join(pt.containers, c.LinkName())); err != nil {
			b.Fatal(err)
		}
		records += st.Messages
		size += st.Bytes
	}
	b.Logf("input: %d %s lines in %d files, %d records, %d bytes per line", lines, f, len(cs), records, size/int64(lines))
	return pt.glob(), records
}

// writeRepetitiveLogs writes the best case, the input of the figures before
// the realistic one: docker json-file lines of about 170 bytes that differ
// only in a counter and a timestamp (S2 shrinks them 17 times), spread over
// 8 files.
func writeRepetitiveLogs(b *testing.B, lines int) (string, int64) {
	b.Helper()
	const files = 8
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
		if err := p.f.Sync(); err != nil {
			b.Fatal(err)
		}
		p.close()
	}
	return pt.glob(), int64(lines / files * files)
}

// runEndToEnd starts the agent on pre-written files, waits until every
// record was delivered, stops it, and reports from the agent's own rusage,
// /proc status and /metrics:
//
//	cpu-us/line    user+system CPU of the agent per physical line
//	lines/s, wall-s
//	peak-RSS-MiB   VmHWM of the agent's process
//	file-RSS-MiB   RssFile at the end: resident pages of mapped files (the
//	               binary's code and data, Badger's memtable logs)
//	allocs/line, B-alloc/line   go_memstats_mallocs_total and
//	               go_memstats_alloc_bytes_total at the end, per line (they
//	               include the agent's start and the benchmark's scrapes of
//	               /metrics, every 250 ms)
//	gc-cycles      go_gc_duration_seconds_count
//	wire-B/line    logspool_shipper_bulk_bytes_total per line (Elasticsearch)
//	load1-start, load1-end   the machine's 1-minute load average before the
//	               input is written and after the agent stopped (the machine
//	               is shared: CPU per line is the figure to compare)
func runEndToEnd(b *testing.B, in benchInput, extra ...string) {
	load0 := loadavg(b)
	glob, records := in.write(b, benchLines)
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devnull.Close()
	if os.Getenv("LOGSPOOL_BENCH_PROFILE") != "" {
		b.Setenv("LOGSPOOL_PPROF", "1") // the agent serves /debug/pprof
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		spoolDir := filepath.Join(b.TempDir(), "spool")
		args := append([]string{"--containers-glob", glob, "--spool-dir", spoolDir, "--no-journal", "--log-level", "warn"}, extra...)
		start := time.Now()
		a := startAgent(b, devnull, args...)
		stopProfile := profileAgent(b, a)
		deadline := time.Now().Add(10 * time.Minute)
		for {
			v, err := a.metric("logspool_shipper_items_total")
			if err == nil && v >= float64(records) {
				break
			}
			if time.Now().After(deadline) {
				a.kill(b)
				b.Fatalf("only %v of %d records delivered after 10m; stderr:\n%s", v, records, a.logs())
			}
			time.Sleep(250 * time.Millisecond)
		}
		wall := time.Since(start)
		stopProfile()
		// The peak RSS of the agent's own address space. Not the rusage's
		// maxrss: Linux carries the parent's RSS into it across the
		// vfork+exec that starts the child.
		hwm, err := procStatus(a.cmd.Process.Pid, "VmHWM")
		if err != nil {
			b.Fatal(err)
		}
		rssFile, err := procStatus(a.cmd.Process.Pid, "RssFile")
		if err != nil {
			b.Fatal(err)
		}
		mallocs, errM := a.metric("go_memstats_mallocs_total")
		allocBytes, errB := a.metric("go_memstats_alloc_bytes_total")
		gcs, errG := gcCycles(a)
		wire, errW := a.metric("logspool_shipper_bulk_bytes_total")
		if err := firstErr(errM, errB, errG, errW); err != nil {
			b.Fatalf("reading the agent's metrics: %v", err)
		}
		if mallocs == 0 || allocBytes == 0 {
			b.Fatalf("the agent's /metrics has no go_memstats_mallocs_total or go_memstats_alloc_bytes_total")
		}
		a.stop(b)
		ps := a.cmd.ProcessState
		cpu := ps.UserTime() + ps.SystemTime()
		lines := float64(benchLines)
		b.ReportMetric(float64(cpu.Microseconds())/lines, "cpu-us/line")
		b.ReportMetric(lines/wall.Seconds(), "lines/s")
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(float64(hwm)/1024, "peak-RSS-MiB") // KiB -> MiB
		b.ReportMetric(float64(rssFile)/1024, "file-RSS-MiB")
		b.ReportMetric(mallocs/lines, "allocs/line")
		b.ReportMetric(allocBytes/lines, "B-alloc/line")
		b.ReportMetric(gcs, "gc-cycles")
		if wire > 0 {
			b.ReportMetric(wire/lines, "wire-B/line")
		}
	}
	b.StopTimer()
	load1 := loadavg(b)
	b.ReportMetric(load0[0], "load1-start")
	b.ReportMetric(load1[0], "load1-end")
	b.Logf("loadavg at start %v, at end %v (1, 5, 15 minutes)", load0, load1)
}

// BenchmarkEndToEnd: 1,000,000 physical lines in 8 files, written before
// the start, read from the head by the built binary, through the spool, to
// /dev/null (stdout) or to the test server in discard mode (default
// compression): production-like docker json-file and CRI logs, and the old
// repetitive lines as the best case.
func BenchmarkEndToEnd(b *testing.B) {
	for _, in := range []benchInput{dockerInput, criInput, bestCase} {
		b.Run(in.name, func(b *testing.B) {
			b.Run("files-spool-stdout", func(b *testing.B) { runEndToEnd(b, in) })
			b.Run("files-spool-elasticsearch", func(b *testing.B) {
				es := estest.NewServer(estest.Options{Discard: true, Logger: quietLogger()})
				defer es.Close()
				runEndToEnd(b, in, "--es-url", es.URL())
			})
			if in.name == bestCase.name {
				return
			}
			// Issue 14's other bar: compression off.
			b.Run("files-spool-elasticsearch-none", func(b *testing.B) {
				es := estest.NewServer(estest.Options{Discard: true, Logger: quietLogger()})
				defer es.Close()
				runEndToEnd(b, in, "--es-url", es.URL(), "--es-compression", "none")
			})
		})
	}
}

// BenchmarkEndToEndCompression is the files -> spool -> _bulk run on the
// realistic docker json-file input with each --es-compression: the CPU per
// line against the bytes per line on the wire (the README's table).
func BenchmarkEndToEndCompression(b *testing.B) {
	for _, mode := range []string{"none", "gzip-huffman", "gzip-stateless", "gzip", "gzip-6"} {
		b.Run(mode, func(b *testing.B) {
			es := estest.NewServer(estest.Options{Discard: true, Logger: quietLogger()})
			defer es.Close()
			runEndToEnd(b, dockerInput, "--es-url", es.URL(), "--es-compression", mode)
		})
	}
}

// BenchmarkEndToEndMemoryLimit is the files -> spool -> _bulk run on the
// realistic docker json-file input under several --memory-limit values, with
// gzip and without compression (whose bodies in flight are 12 times larger):
// the CPU a lower limit costs (the GC runs more often) against the peak RSS.
func BenchmarkEndToEndMemoryLimit(b *testing.B) {
	for _, mode := range []string{"gzip", "none"} {
		for _, limit := range []string{"32MiB", "48MiB", "72MiB"} {
			b.Run(mode+"/limit="+limit, func(b *testing.B) {
				es := estest.NewServer(estest.Options{Discard: true, Logger: quietLogger()})
				defer es.Close()
				runEndToEnd(b, dockerInput, "--es-url", es.URL(), "--es-compression", mode, "--memory-limit", limit)
			})
		}
	}
}

// profileAgent, when LOGSPOOL_BENCH_PROFILE names a directory, takes CPU
// profiles of the agent back to back (5 s each, from its /debug/pprof,
// which runEndToEnd turns on with LOGSPOOL_PPROF=1) until
// the returned function is called, which then also takes the allocation
// profile (every allocation since the start, sampled), and a heap profile
// (what is live) after each CPU profile. The files are
// <benchmark>-cpu-<n>.pb.gz, <benchmark>-heap-<n>.pb.gz and
// <benchmark>-allocs.pb.gz; merge the CPU profiles with
// `go tool pprof -proto <files> > cpu.pb.gz`.
func profileAgent(b *testing.B, a *agent) (stop func()) {
	dir := os.Getenv("LOGSPOOL_BENCH_PROFILE")
	if dir == "" {
		return func() {}
	}
	name := filepath.Join(dir, strings.NewReplacer("/", "_", "=", "-").Replace(b.Name()))
	fetch := func(path, file string) {
		if err := saveProfile(a, path, file); err != nil { // not listening yet, or gone
			time.Sleep(20 * time.Millisecond)
		}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for n := 0; ; n++ {
			select {
			case <-done:
				return
			default:
			}
			fetch("/debug/pprof/profile?seconds=5", fmt.Sprintf("%s-cpu-%03d.pb.gz", name, n))
			fetch("/debug/pprof/heap", fmt.Sprintf("%s-heap-%03d.pb.gz", name, n))
		}
	}()
	return func() {
		close(done)
		<-finished
		fetch("/debug/pprof/allocs", name+"-allocs.pb.gz")
	}
}

// saveProfile saves the agent's profile at path (/debug/pprof/..., which
// LOGSPOOL_PPROF=1 turns on) to file.
func saveProfile(a *agent, path, file string) error {
	resp, err := http.Get("http://" + a.metrics + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile %s: %s", path, resp.Status)
	}
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		out.Close()
		return fmt.Errorf("profile %s: %w", path, err)
	}
	return out.Close()
}

// loadavg returns the machine's 1, 5 and 15 minute load averages.
func loadavg(b *testing.B) [3]float64 {
	b.Helper()
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		b.Fatal(err)
	}
	var l [3]float64
	f := strings.Fields(string(data))
	for i := range l {
		if l[i], err = strconv.ParseFloat(f[i], 64); err != nil {
			b.Fatalf("parsing /proc/loadavg %q: %v", data, err)
		}
	}
	return l
}

// gcCycles reads the number of completed GC cycles from the agent's
// go_gc_duration_seconds summary.
func gcCycles(a *agent) (float64, error) {
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
	f := fams["go_gc_duration_seconds"]
	if f == nil || len(f.Metric) == 0 || f.Metric[0].Summary == nil {
		return 0, fmt.Errorf("no go_gc_duration_seconds summary in /metrics")
	}
	return float64(f.Metric[0].Summary.GetSampleCount()), nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// procStatus reads a size field (KiB) of a running process's
// /proc/<pid>/status: VmHWM (its peak resident set), RssFile (the resident
// pages of mapped files: mostly the binary's own).
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}
