package systemd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/logspool/logspool/spool/record"
	"github.com/logspool/logspool/systemd/journalfile"
)

// benchReadEncode reads every entry of the files through a Reader (merge)
// and encodes each document, as the Input does.
func benchReadEncode(b *testing.B, paths ...string) {
	enc := NewEncoder("node-1", 0)
	var buf []byte
	entries, bytes := 0, 0
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := NewReader(ReaderConfig{Files: paths})
		if err != nil {
			b.Fatal(err)
		}
		for {
			e, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			buf, _ = enc.Encode(buf[:0], e)
			entries++
			bytes += len(buf)
		}
		r.Close()
	}
	b.StopTimer()
	b.SetBytes(int64(bytes / b.N))
	reportRates(b, entries, cpu0)
}

// cpuTime is the CPU time (user+system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportRates reports entries per wall second and per CPU second: on a
// shared machine the benchmark gets a fraction of a core, and the CPU rate
// is the figure to compare with the per-core target (run with -cpu 1).
func reportRates(b *testing.B, entries int, cpu0 time.Duration) {
	b.ReportMetric(float64(entries)/b.Elapsed().Seconds(), "entries/s")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(entries)/cpu.Seconds(), "entries/cpu-s")
	}
}

func BenchmarkReadEncodeCompact(b *testing.B) { benchReadEncode(b, files("many.journal")) }

func BenchmarkReadEncodeCompactZstd(b *testing.B) { benchReadEncode(b, files("large-zstd.journal")) }

func BenchmarkReadEncodeMultiboot(b *testing.B) { benchReadEncode(b, files("multiboot.journal")) }

func BenchmarkReadEncodeRotatedDir(b *testing.B) {
	ps, _ := filepath.Glob(filepath.Join(rotatedDir, "*"))
	benchReadEncode(b, ps...)
}

// BenchmarkEncode is the document encoder alone on a typical kubelet entry.
func BenchmarkEncode(b *testing.B) {
	r, err := NewReader(ReaderConfig{Files: []string{files("multiboot.journal")}, Units: []string{"kubelet"}})
	if err != nil {
		b.Fatal(err)
	}
	e, err := r.Next()
	if err != nil {
		b.Fatal(err)
	}
	ent := *e
	ent.Fields = append([]journalfile.Field(nil), e.Fields...)
	r.Close()
	enc := NewEncoder("node-1", 0)
	buf, _ := enc.Encode(nil, &ent)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf, _ = enc.Encode(buf[:0], &ent)
	}
}

type discardSink struct{ n int }

func (d *discardSink) Append(_ context.Context, recs []record.Record, _ ...record.Checkpoint) error {
	d.n += len(recs)
	return nil
}
func (d *discardSink) Checkpoint(string) ([]byte, error) { return nil, nil }

// BenchmarkInput runs the whole Input (scan, merge, encode, batch, checkpoint)
// over a copy of many.journal into a sink that discards.
func BenchmarkInput(b *testing.B) {
	dir := b.TempDir()
	if err := mustCopyFile(files("many.journal"), filepath.Join(dir, "system.journal")); err != nil {
		b.Fatal(err)
	}
	entries := 0
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sink := &discardSink{}
		in, err := NewInput(Config{Dirs: []string{dir}, NodeName: "node-1", PollInterval: time.Hour}, sink)
		if err != nil {
			b.Fatal(err)
		}
		if err := in.start(); err != nil {
			b.Fatal(err)
		}
		in.poll(context.Background())
		in.closeAll()
		if sink.n != 2000 {
			b.Fatalf("shipped %d", sink.n)
		}
		entries += sink.n
	}
	b.StopTimer()
	reportRates(b, entries, cpu0)
}

// BenchmarkMergeManyFiles merges 100 archived files of one writer plus a
// second writer (a node's journal directory on a first start): the cost per
// entry must not grow with the number of files.
func BenchmarkMergeManyFiles(b *testing.B) {
	var files []*fakeJournal
	seq := uint64(1)
	for f := 0; f < 100; f++ {
		var s []uint64
		for k := 0; k < 1000; k++ {
			s = append(s, seq)
			seq++
		}
		files = append(files, fakeFile(fmt.Sprintf("system@%03d.journal", f), 1, journalfile.StateArchived, s...))
	}
	user := make([]uint64, 5000)
	for i := range user {
		user[i] = uint64(i + 1)
	}
	files = append(files, fakeFile("user-1000.journal", 2, journalfile.StateOnline, user...))
	total := 0
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := newMerger(nil)
		for _, f := range files {
			m.add(sourceOf(f))
		}
		for {
			if _, _, _, ok := m.next(); !ok {
				break
			}
			total++
		}
	}
	b.StopTimer()
	if total != b.N*105000 {
		b.Fatalf("merged %d entries, want %d", total, b.N*105000)
	}
	reportRates(b, total, cpu0)
}

// BenchmarkIdleJournal is the cost of following a journal nobody writes
// to: an Input with the default intervals on seven corpus files (a
// machine-id directory of six, one beside it), read to their end, then
// left idle for b.N seconds. It reports this process's CPU per idle second
// (the Input and the Go runtime; nothing else runs) and the polls per idle
// second: 4 when the journal was polled every 250 ms, 0 with inotify.
func BenchmarkIdleJournal(b *testing.B) {
	dir := b.TempDir()
	sub := filepath.Join(dir, filepath.Base(rotatedDir))
	if err := os.Mkdir(sub, 0o755); err != nil {
		b.Fatal(err)
	}
	srcs, _ := filepath.Glob(filepath.Join(rotatedDir, "*"))
	for _, p := range srcs {
		if err := mustCopyFile(p, filepath.Join(sub, filepath.Base(p))); err != nil {
			b.Fatal(err)
		}
	}
	if err := mustCopyFile(files("basic-v254.journal"), filepath.Join(dir, "basic-v254.journal")); err != nil {
		b.Fatal(err)
	}
	want := countEntries(b, dir)
	sink := newMemSink()
	in, err := NewInput(Config{Dirs: []string{dir}, NodeName: "node-1", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, sink)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	waitUntil(b, time.Minute, func() bool { return sink.count() >= want })
	time.Sleep(time.Second) // the last polls after the read
	cpu0, polls0, start := cpuTime(), in.polls.Load(), time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		time.Sleep(time.Second)
	}
	b.StopTimer()
	secs := time.Since(start).Seconds()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/secs, "cpu-ms/idle-s")
	b.ReportMetric(float64(in.polls.Load()-polls0)/secs, "polls/idle-s")
}
