package main

// The memory and idle-cost benchmarks of issue 10: the built binary on
// many container log files, measured from /proc (peak RSS, CPU, open
// descriptors) and perf (system calls). See README, "Memory and idle cost".

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logspool/logspool/internal/estest"
	"github.com/logspool/logspool/parser/testlogs"
)

// nodeFiles is a tree of n containers' log files written by the
// production-like generator (package testlogs), linked from containers/ as
// the kubelet does; the files stay open for appends.
type nodeFiles struct {
	pt      *podTree
	files   []*os.File
	gens    []*testlogs.Generator
	records atomic.Int64 // complete messages written so far
	bytes   atomic.Int64
}

// writeNodeFiles creates n containers' files holding about bytesEach bytes
// of lines each (whole messages), synced.
func writeNodeFiles(tb testing.TB, n int, bytesEach int64, f testlogs.Format) *nodeFiles {
	tb.Helper()
	nf := &nodeFiles{pt: newPodTree(tb)}
	for i, c := range testlogs.Node(7, n) {
		// Node's names come from a random generator: make them unique.
		c.Pod = fmt.Sprintf("%s-%05d", c.Pod, i)
		dir := filepath.Join(nf.pt.pods, filepath.FromSlash(c.PodDir()))
		mustMkdir(tb, dir)
		path := filepath.Join(dir, "0.log")
		out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { out.Close() })
		g := testlogs.New(c.Workload, testlogs.Options{Seed: uint64(i + 1), Format: f})
		nf.files = append(nf.files, out)
		nf.gens = append(nf.gens, g)
		if err := nf.appendBytes(i, bytesEach); err != nil {
			tb.Fatal(err)
		}
		if err := out.Sync(); err != nil {
			tb.Fatal(err)
		}
		if err := os.Symlink(path, filepath.Join(nf.pt.containers, c.LinkName())); err != nil {
			tb.Fatal(err)
		}
	}
	return nf
}

// appendBytes appends at least n bytes of whole messages to file i.
func (nf *nodeFiles) appendBytes(i int, n int64) error {
	g := nf.gens[i]
	var buf []byte
	st0 := g.Stats()
	for int64(len(buf)) < n || !g.AtBoundary() {
		buf = g.Next(buf)
	}
	if _, err := nf.files[i].Write(buf); err != nil {
		return err
	}
	st := g.Stats()
	nf.records.Add(st.Messages - st0.Messages)
	nf.bytes.Add(st.Bytes - st0.Bytes)
	return nil
}

// keepWriting appends about perSecond bytes a second to every file, spread
// over the files, until stop is closed.
func (nf *nodeFiles) keepWriting(tb testing.TB, perSecond int64, stop <-chan struct{}) (done <-chan struct{}) {
	d := make(chan struct{})
	go func() {
		defer close(d)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		per := max(perSecond/10/int64(len(nf.files)), 1)
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for i := range nf.files {
				if err := nf.appendBytes(i, per); err != nil {
					tb.Error(err)
					return
				}
			}
		}
	}()
	return d
}

// procSample is what /proc says about a process at one moment.
type procSample struct {
	at        time.Time
	cpuTicks  int64 // utime+stime, in clock ticks
	rssKiB    int64 // VmRSS
	hwmKiB    int64 // VmHWM: the peak so far
	anonKiB   int64 // RssAnon: the heap, stacks and runtime, without the binary's and Badger's file pages
	fds       int
	threads   int
	voluntary int64 // voluntary context switches of the main thread
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

func sampleProc(tb testing.TB, pid int) procSample {
	tb.Helper()
	s := procSample{at: time.Now()}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	s.cpuTicks = utime + stime
	s.threads, _ = strconv.Atoi(f[17])
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			s.rssKiB = n
		case "VmHWM":
			s.hwmKiB = n
		case "RssAnon":
			s.anonKiB = n
		case "voluntary_ctxt_switches":
			s.voluntary = n
		}
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		tb.Fatal(err)
	}
	s.fds = len(ents)
	return s
}

// countSyscalls counts the system calls of every thread of pid for d with
// perf's raw_syscalls:sys_enter tracepoint. It returns -1 when perf is not
// installed or cannot trace (say so with the figure).
func countSyscalls(tb testing.TB, pid int, d time.Duration) int64 {
	tb.Helper()
	perf, err := exec.LookPath("perf")
	if err != nil {
		tb.Logf("no perf: system calls not counted")
		time.Sleep(d)
		return -1
	}
	cmd := exec.Command(perf, "stat", "-x,", "-e", "raw_syscalls:sys_enter", "-p", strconv.Itoa(pid),
		"--", "sleep", strconv.FormatFloat(d.Seconds(), 'f', 1, 64))
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Logf("perf stat failed (%v): system calls not counted\n%s", err, out)
		return -1
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Split(line, ","); len(f) > 2 && strings.Contains(line, "raw_syscalls:sys_enter") {
			if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				return n
			}
		}
	}
	tb.Logf("perf stat said nothing usable: system calls not counted\n%s", out)
	return -1
}

// firstLineWriter notes when the first byte arrives and counts newlines.
type firstLineWriter struct {
	first atomic.Int64 // unix ns of the first write
	lines atomic.Int64
}

func (w *firstLineWriter) Write(p []byte) (int, error) {
	if w.first.Load() == 0 {
		w.first.CompareAndSwap(0, time.Now().UnixNano())
	}
	w.lines.Add(int64(bytes.Count(p, []byte{'\n'})))
	return len(p), nil
}

// BenchmarkMemoryOutage (issue 10, a): files being written while
// Elasticsearch is down; the spool (--spool-max-bytes 16MiB) fills and every
// reader blocks; the agent's peak RSS (VmHWM) 30 s after the spool reached its
// cap, for 100, 500 and 1,000 files (the README compares them per file),
// with the heap and the goroutine stacks in use then. The files hold 512 KiB each at the start, more than one batch, so
// that every reader has a full batch when the spool blocks it, and grow by
// 1 MB/s in all.
func BenchmarkMemoryOutage(b *testing.B) {
	for _, n := range []int{100, 500, 1000} {
		b.Run(fmt.Sprintf("files=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				runOutage(b, n)
			}
		})
	}
}

func runOutage(b *testing.B, n int) {
	load0 := loadavg(b)
	nf := writeNodeFiles(b, n, 512<<10, testlogs.Docker)
	es := estest.NewServer(estest.Options{Discard: true, Logger: quietLogger()})
	defer es.Close()
	if err := es.SetOutage(true); err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	writing := nf.keepWriting(b, 1<<20, stop)
	defer func() { close(stop); <-writing }()
	a := startAgent(b, io.Discard, "--containers-glob", nf.pt.glob(), "--spool-dir", filepath.Join(b.TempDir(), "spool"),
		"--spool-max-bytes", "16MiB", "--no-journal", "--es-url", es.URL(), "--log-level", "warn")
	defer a.kill(b)
	pid := a.cmd.Process.Pid
	start := time.Now()
	waitFor(b, 5*time.Minute, "the spool to reach its cap", func() bool {
		v, err := a.metric("logspool_spool_blocked")
		return err == nil && v >= 1
	})
	full := time.Since(start)
	var peak procSample
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(time.Second) {
		peak = sampleProc(b, pid)
	}
	read, _ := a.metric("logspool_tailer_bytes_total")
	// Where the memory is at the end: the heap's spans in use, and the
	// goroutine stacks (one reader goroutine per file).
	heap, errHeap := a.metric("go_memstats_heap_inuse_bytes")
	stacks, errStacks := a.metric("go_memstats_stack_inuse_bytes")
	if err := errors.Join(errHeap, errStacks); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(heap/(1<<20), "heap-inuse-MiB")
	b.ReportMetric(stacks/(1<<20), "stacks-MiB")
	b.ReportMetric(float64(peak.hwmKiB)/1024, "peak-RSS-MiB")
	b.ReportMetric(float64(peak.rssKiB)/1024, "RSS-MiB")
	b.ReportMetric(full.Seconds(), "s-to-full")
	b.ReportMetric(read/float64(1<<20), "MiB-read")
	b.ReportMetric(float64(n), "files")
	load1 := loadavg(b)
	b.ReportMetric(load0[0], "load1-start")
	b.ReportMetric(load1[0], "load1-end")
	b.Logf("%d files: spool full after %s, peak RSS %d KiB, heap in use %.1f MiB, stacks %.1f MiB, %d fds, %.0f MiB of %d MiB written read; load %v -> %v",
		n, full.Round(100*time.Millisecond), peak.hwmKiB, heap/(1<<20), stacks/(1<<20), peak.fds, read/float64(1<<20), nf.bytes.Load()>>20, load0, load1)
}

// BenchmarkMemoryTinyLines (issue 10, b): one file of 1,000,000 empty lines,
// one of 1,000,000 one-byte lines; each line becomes a document of about 400
// bytes (flagged invalid_json). Peak RSS of the agent from its start until
// every document is written to stdout (/dev/null).
func BenchmarkMemoryTinyLines(b *testing.B) {
	for _, tc := range []struct{ name, line string }{{"empty", "\n"}, {"one-byte", "x\n"}} {
		b.Run(tc.name, func(b *testing.B) {
			pt := newPodTree(b)
			p := pt.newPodLog(b, 1)
			w := bufio.NewWriterSize(p.f, 1<<20)
			for i := 0; i < 1_000_000; i++ {
				_, _ = w.WriteString(tc.line)
			}
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
			if err := p.f.Sync(); err != nil {
				b.Fatal(err)
			}
			p.close()
			for i := 0; i < b.N; i++ {
				load0 := loadavg(b)
				out := &firstLineWriter{}
				start := time.Now()
				a := startAgent(b, out, "--containers-glob", pt.glob(), "--spool-dir", filepath.Join(b.TempDir(), "spool"),
					"--no-journal", "--log-level", "warn")
				waitFor(b, 10*time.Minute, "1,000,000 documents", func() bool { return out.lines.Load() >= 1_000_000 })
				wall := time.Since(start)
				s := sampleProc(b, a.cmd.Process.Pid)
				a.stop(b)
				b.ReportMetric(float64(s.hwmKiB)/1024, "peak-RSS-MiB")
				b.ReportMetric(wall.Seconds(), "wall-s")
				b.ReportMetric(load0[0], "load1-start")
			}
		})
	}
}

// BenchmarkIdleFiles (issue 10, c): 2,000 files, 400 of them ending in a
// partial line (no '\n' yet), read to their end and then left alone. Over 60
// s of idleness: the agent's CPU share of one core, its system calls per
// second (perf stat -e raw_syscalls:sys_enter on every thread), RSS at the
// end, peak RSS, and open descriptors.
func BenchmarkIdleFiles(b *testing.B) {
	const n, partial = 2000, 400
	nf := writeNodeFiles(b, n, 4<<10, testlogs.Docker)
	for i := 0; i < partial; i++ {
		// A docker line without its '\n': the runtime is in the middle of it.
		if _, err := fmt.Fprintf(nf.files[i], `{"log":"half a line %d`, i); err != nil {
			b.Fatal(err)
		}
	}
	records := nf.records.Load()
	profDir := os.Getenv("LOGSPOOL_BENCH_PROFILE")
	if profDir != "" {
		b.Setenv("LOGSPOOL_PPROF", "1") // the agent serves /debug/pprof
	}
	for i := 0; i < b.N; i++ {
		load0 := loadavg(b)
		out := &firstLineWriter{}
		a := startAgent(b, out, "--containers-glob", nf.pt.glob(), "--spool-dir", filepath.Join(b.TempDir(), "spool"),
			"--no-journal", "--log-level", "warn")
		waitFor(b, 5*time.Minute, "every document", func() bool { return out.lines.Load() >= records })
		// The partial lines are flushed after 5 s (PartialIdle); idle after.
		time.Sleep(10 * time.Second)
		pid := a.cmd.Process.Pid
		s0 := sampleProc(b, pid)
		gc0, err0 := gcCycles(a)
		const idle = 60 * time.Second
		profiled := make(chan struct{})
		go func() { // with LOGSPOOL_BENCH_PROFILE: a CPU profile of most of the window
			defer close(profiled)
			if profDir != "" {
				if err := saveProfile(a, "/debug/pprof/profile?seconds=55", filepath.Join(profDir, "idle-cpu.pb.gz")); err != nil {
					b.Log(err)
				}
			}
		}()
		calls := countSyscalls(b, pid, idle)
		<-profiled
		s1 := sampleProc(b, pid)
		gc1, err1 := gcCycles(a)
		heap, errHeap := a.metric("go_memstats_heap_inuse_bytes")
		stacks, errStacks := a.metric("go_memstats_stack_inuse_bytes")
		if profDir != "" { // what is live at the end of the window (after the samples: it collects)
			for _, p := range []string{"heap?gc=1", "goroutine"} {
				file := filepath.Join(profDir, "idle-"+strings.TrimSuffix(p, "?gc=1")+".pb.gz")
				if err := saveProfile(a, "/debug/pprof/"+p, file); err != nil {
					b.Log(err)
				}
			}
		}
		el := s1.at.Sub(s0.at).Seconds()
		cpu := float64(s1.cpuTicks-s0.cpuTicks) / clockTicks / el
		a.stop(b)
		if err := errors.Join(err0, err1, errHeap, errStacks); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(100*cpu, "cpu-%")
		if calls >= 0 {
			b.ReportMetric(float64(calls)/el, "syscalls/s")
		}
		b.ReportMetric(float64(s1.rssKiB)/1024, "RSS-MiB")
		b.ReportMetric(float64(s1.anonKiB)/1024, "anon-RSS-MiB")
		b.ReportMetric(float64(s1.hwmKiB)/1024, "peak-RSS-MiB")
		b.ReportMetric(heap/(1<<20), "heap-inuse-MiB")
		b.ReportMetric(stacks/(1<<20), "stack-inuse-MiB")
		b.ReportMetric((gc1-gc0)/el, "GCs/s")
		b.ReportMetric(float64(s1.fds), "fds")
		b.ReportMetric(float64(s1.threads), "threads")
		b.ReportMetric(load0[0], "load1-start")
		b.Logf("%d idle files over %.0f s: %.2f%% of a core, %d syscalls, %.0f GCs, RSS %d KiB (anonymous %d, peak %d), heap in use %.1f MiB, stacks %.1f MiB, %d fds, %d threads",
			n, el, 100*cpu, calls, gc1-gc0, s1.rssKiB, s1.anonKiB, s1.hwmKiB, heap/(1<<20), stacks/(1<<20), s1.fds, s1.threads)
	}
}

// BenchmarkManyFilesAtStart (issue 10, d): 10,000 files present when the agent
// starts (4 KiB of lines each): time from the start to the first document on
// stdout, to the last, and the peak RSS meanwhile.
func BenchmarkManyFilesAtStart(b *testing.B) {
	const n = 10_000
	nf := writeNodeFiles(b, n, 4<<10, testlogs.Docker)
	records := nf.records.Load()
	for i := 0; i < b.N; i++ {
		load0 := loadavg(b)
		out := &firstLineWriter{}
		start := time.Now()
		a := startAgent(b, out, "--containers-glob", nf.pt.glob(), "--spool-dir", filepath.Join(b.TempDir(), "spool"),
			"--no-journal", "--log-level", "warn")
		var peakFDs int
		var mu sync.Mutex
		waitFor(b, 10*time.Minute, "every document", func() bool {
			if s, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", a.cmd.Process.Pid)); err == nil {
				mu.Lock()
				peakFDs = max(peakFDs, len(s))
				mu.Unlock()
			}
			return out.lines.Load() >= records
		})
		all := time.Since(start)
		s := sampleProc(b, a.cmd.Process.Pid)
		a.stop(b)
		first := time.Unix(0, out.first.Load()).Sub(start)
		b.ReportMetric(first.Seconds(), "s-to-first-doc")
		b.ReportMetric(all.Seconds(), "s-to-all")
		b.ReportMetric(float64(s.hwmKiB)/1024, "peak-RSS-MiB")
		b.ReportMetric(float64(peakFDs), "peak-fds")
		b.ReportMetric(load0[0], "load1-start")
	}
}
