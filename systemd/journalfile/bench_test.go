package journalfile

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time: on a shared, loaded
// machine entries per CPU-second says more about per-core speed than
// entries per wall-second.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchEntries reads every entry of file b.N times over, with EntryAt
// (fresh allocation per entry) or ReadEntry (reused Entry), and reports
// entries/s. SetBytes counts the field bytes decoded per entry.
func benchEntries(b *testing.B, file string, reuse bool, cfgs ...Config) {
	var cfg Config
	if len(cfgs) > 0 {
		cfg = cfgs[0]
	}
	f, err := OpenConfig(corpusPath(file), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	n := f.NumEntries()
	var payload int64
	for i := 0; i < n; i++ {
		e, err := f.EntryAt(i)
		if err != nil {
			b.Fatal(err)
		}
		for _, fl := range e.Fields {
			payload += int64(len(fl.Name) + 1 + len(fl.Value))
		}
	}
	b.SetBytes(payload / int64(n))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	var e Entry
	for i := 0; i < b.N; i++ {
		j := i % n
		if reuse {
			if err := f.ReadEntry(j, &e); err != nil {
				b.Fatal(err)
			}
		} else {
			if _, err := f.EntryAt(j); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "entries/cpu-s")
	}
}

func BenchmarkEntryAt(b *testing.B) {
	for _, file := range []string{"many.journal", "large-zstd.journal", "large-lz4.journal", "large-xz.journal", "basic-regular-jenkins.journal"} {
		b.Run(file, func(b *testing.B) { benchEntries(b, file, false) })
	}
}

func BenchmarkReadEntry(b *testing.B) {
	for _, file := range []string{"many.journal", "large-zstd.journal"} {
		b.Run(file, func(b *testing.B) { benchEntries(b, file, true) })
	}
}

// BenchmarkReadEntryVerify is ReadEntry with every DATA hash recomputed.
func BenchmarkReadEntryVerify(b *testing.B) {
	for _, file := range []string{"many.journal", "basic-regular-jenkins.journal"} {
		b.Run(file, func(b *testing.B) { benchEntries(b, file, true, Config{VerifyData: true}) })
	}
}

func BenchmarkEntryMeta(b *testing.B) {
	f := mustOpen(b, corpusPath("many.journal"))
	n := f.NumEntries()
	b.ReportAllocs()
	b.SetBytes(entryItemsOffset)
	for i := 0; i < b.N; i++ {
		if _, err := f.EntryMeta(i % n); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkOpen measures Open plus the entry array walk of a 2000-entry file.
func BenchmarkOpen(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		f, err := Open(corpusPath("many.journal"))
		if err != nil {
			b.Fatal(err)
		}
		if f.NumEntries() != 2000 {
			b.Fatalf("NumEntries %d", f.NumEntries())
		}
		f.Close()
	}
}

func BenchmarkAppendExport(b *testing.B) {
	f := mustOpen(b, corpusPath("binary.journal"))
	var entries []*Entry
	var size int
	for i := 0; i < f.NumEntries(); i++ {
		e, err := f.EntryAt(i)
		if err != nil {
			b.Fatal(err)
		}
		entries = append(entries, e)
		size += len(AppendExport(nil, e))
	}
	b.SetBytes(int64(size / len(entries)))
	b.ReportAllocs()
	var buf []byte
	for i := 0; i < b.N; i++ {
		buf = AppendExport(buf[:0], entries[i%len(entries)])
	}
}
