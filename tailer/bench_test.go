package tailer

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hpcloud/tail"

	"github.com/logspool/logspool/parser"
	"github.com/logspool/logspool/parser/testlogs"
	"github.com/logspool/logspool/spool/record"
)

// discardSink counts what it is given and stores nothing.
type discardSink struct{ recs atomic.Int64 }

func (s *discardSink) Append(_ context.Context, recs []record.Record, _ ...record.Checkpoint) error {
	s.recs.Add(int64(len(recs)))
	return nil
}
func (s *discardSink) Checkpoint(string) ([]byte, error)             { return nil, nil }
func (s *discardSink) Checkpoints(string) (map[string][]byte, error) { return nil, nil }

// countDecoder counts lines and makes no records.
type countDecoder struct{ lines int }

func (d *countDecoder) Decode(dst []record.Record, _ parser.Line) []record.Record {
	d.lines++
	return dst
}
func (d *countDecoder) Pending() (int64, bool)                    { return 0, false }
func (d *countDecoder) Flush(dst []record.Record) []record.Record { return dst }

// benchInputs are the files the read benchmarks run on: realistic lines of
// the node mix (package testlogs, CRI format), and the repetitive best case
// of the figures before it.
var benchInputs = []struct {
	name  string
	write func(b *testing.B, path string, size int) (lines, n int)
}{
	{"realistic", writeRealisticFile},
	{"repetitive-best-case", writeRepetitiveFile},
}

// writeRealisticFile writes about size bytes of production-like CRI lines
// (testlogs.Mixed) to path and returns the number of physical lines and
// bytes.
func writeRealisticFile(b *testing.B, path string, size int) (lines, n int) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	g := testlogs.New(testlogs.Mixed, testlogs.Options{Seed: 1, Format: testlogs.CRI})
	w := bufio.NewWriterSize(f, 1<<20)
	var line []byte
	for n < size || !g.AtBoundary() {
		line = g.Next(line[:0])
		w.Write(line)
		n += len(line)
		lines++
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return lines, n
}

// writeRepetitiveFile writes about size bytes of ~170-byte CRI lines that
// differ only in a counter to path and returns the number of lines and bytes.
func writeRepetitiveFile(b *testing.B, path string, size int) (lines, n int) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for n < size {
		l := fmt.Sprintf("2024-05-01T10:00:00.%09dZ stdout F GET /api/v1/items/%08d HTTP/1.1 200 %s\n", lines%1e9, lines, strings.Repeat("q", 90))
		w.WriteString(l)
		n += len(l)
		lines++
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return lines, n
}

// BenchmarkReadThroughput reads the same ~64 MiB file from start to end with
// hpcloud/tail, the tailer's reader loop (with a decoder that only counts
// lines) and a plain bufio.Scanner loop, for each input.
func BenchmarkReadThroughput(b *testing.B) {
	for _, in := range benchInputs {
		b.Run(in.name, func(b *testing.B) { benchReadThroughput(b, in.write) })
	}
}

func benchReadThroughput(b *testing.B, write func(*testing.B, string, int) (int, int)) {
	path := filepath.Join(b.TempDir(), "bench.log")
	wantLines, size := write(b, path, 64<<20)

	b.Run("hpcloud-tail", func(b *testing.B) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		defer testlogs.ReportMBPerCPUSecond(b, testlogs.CPUTime(), int64(size))
		for b.Loop() {
			tf, err := tail.TailFile(path, tail.Config{Logger: tail.DiscardingLogger})
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for range tf.Lines {
				n++
			}
			tf.Cleanup()
			if n != wantLines {
				b.Fatalf("hpcloud/tail read %d lines, want %d", n, wantLines)
			}
		}
	})
	b.Run("logspool-tailer", func(b *testing.B) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		defer testlogs.ReportMBPerCPUSecond(b, testlogs.CPUTime(), int64(size))
		dec := &countDecoder{}
		tl, err := New(Config{Logger: discardLogger(), NewDecoder: func(parser.Source) Decoder { return dec }}, &discardSink{})
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			dec.lines = 0
			if err := readToEOF(tl, path); err != nil {
				b.Fatal(err)
			}
			if dec.lines != wantLines {
				b.Fatalf("tailer read %d lines, want %d", dec.lines, wantLines)
			}
		}
	})
	b.Run("bufio-loop", func(b *testing.B) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		defer testlogs.ReportMBPerCPUSecond(b, testlogs.CPUTime(), int64(size))
		for b.Loop() {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, readSize), 2<<20)
			n := 0
			for sc.Scan() {
				n++
			}
			f.Close()
			if n != wantLines {
				b.Fatalf("bufio read %d lines, want %d", n, wantLines)
			}
		}
	})
}

// readToEOF runs one reader over path from offset 0 to its end.
func readToEOF(tl *Tailer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	r := tl.newReader(f, fileID{}, path, "", true)
	if fi, err := f.Stat(); err == nil {
		r.lastSize = fi.Size()
	}
	r.begin(position{}, nil)
	defer func() {
		r.putBuf()
		r.acct.Close()
		f.Close()
	}()
	ctx := context.Background()
	for {
		n, err := r.read(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return r.commit(ctx)
		}
		if err := r.process(ctx); err != nil {
			return err
		}
	}
}

// BenchmarkTailerEndToEnd runs a whole Tailer with the real parser over a
// ~32 MiB file until every record is appended to a sink that discards, for
// each input.
func BenchmarkTailerEndToEnd(b *testing.B) {
	for _, in := range benchInputs {
		b.Run(in.name, func(b *testing.B) { benchTailerEndToEnd(b, in.write) })
	}
}

func benchTailerEndToEnd(b *testing.B, write func(*testing.B, string, int) (int, int)) {
	dir := b.TempDir()
	path := filepath.Join(dir, "web_default_nginx-"+strings.Repeat("ab", 32)+".log")
	_, size := write(b, path, 32<<20)
	wantRecs := countRecords(b, path)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var elapsed time.Duration
	start := testlogs.CPUTime()
	for b.Loop() {
		sink := &discardSink{}
		tl, err := New(Config{Globs: []string{filepath.Join(dir, "*.log")}, NodeName: "node", Logger: discardLogger()}, sink)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- tl.Run(ctx) }()
		for sink.recs.Load() < int64(wantRecs) {
			time.Sleep(time.Millisecond)
		}
		elapsed += time.Since(start)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(wantRecs)*float64(b.N)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(wantRecs)*float64(b.N)/(testlogs.CPUTime()-start).Seconds(), "records/cpu-s")
}

// countRecords is the number of records the parser makes of a file: its
// lines, partial lines joined.
func countRecords(b *testing.B, path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	d := parser.NewDecoder(parser.Config{Logger: discardLogger()}, parser.Source{Path: path})
	var recs []record.Record
	var off int64
	n := 0
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		recs = d.Decode(recs[:0], parser.Line{Bytes: data[:i], Start: off, End: off + int64(i) + 1})
		n += len(recs)
		off += int64(i) + 1
		data = data[i+1:]
	}
	return n
}

var _ io.Reader = (*os.File)(nil)

// BenchmarkGlobSymlinks is the glob+stat pass of one scan (the safety net
// that runs once a ResyncInterval while notifications work) over 2,000
// files reached through kubelet-style symlinks
// (containers/<name>.log -> pods/<pod>/<container>/0.log).
func BenchmarkGlobSymlinks(b *testing.B) {
	const n = 2000
	root := b.TempDir()
	containers := filepath.Join(root, "containers")
	if err := os.Mkdir(containers, 0o755); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		dir := filepath.Join(root, "pods", fmt.Sprintf("ns_pod-%d_uid", i), "app")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		target := filepath.Join(dir, "0.log")
		if err := os.WriteFile(target, []byte("line\n"), 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(containers, fmt.Sprintf("pod-%d_ns_app-%d.log", i, i))); err != nil {
			b.Fatal(err)
		}
	}
	tl, err := New(Config{Globs: []string{filepath.Join(containers, "*.log")}}, &discardSink{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		m := tl.glob(time.Now())
		tl.forgetLinks()
		tl.scans++
		if len(m.files) != n {
			b.Fatalf("matched %d files, want %d", len(m.files), n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/n, "us/file")
}
