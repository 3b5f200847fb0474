package parser

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/logspool/logspool/parser/testlogs"
	"github.com/logspool/logspool/spool/record"
)

// The repetitive best case: one ~170-byte line of each format, decoded again
// and again (the input of the figures before the realistic one).
var (
	benchDocker = []byte(`{"log":"10.244.1.17 - - [01/May/2024:10:00:00 +0000] \"GET /api/v1/items?id=42 HTTP/1.1\" 200 1532 \"-\" \"curl/8.5\"\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}`)
	benchCRI    = []byte(`2024-05-01T10:00:00.123456789Z stdout F 10.244.1.17 - - [01/May/2024:10:00:00 +0000] "GET /api/v1/items?id=42&page=3 HTTP/1.1" 200 1532 "-" "curl/8.5.0 (x86_64)"`)
)

// benchDecode decodes lines in a loop, one line per iteration; bytes are the
// lines' mean size.
func benchDecode(b *testing.B, lines [][]byte) {
	b.Helper()
	cfg := testConfig()
	cfg.Metrics = NewMetrics(prometheus.NewRegistry())
	d := NewDecoder(cfg, testSource())
	recs := make([]recordT, 0, 256)
	total := 0
	for _, l := range lines {
		total += len(l)
	}
	b.SetBytes(int64(total / len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	start := testlogs.CPUTime()
	var off int64
	for i := 0; i < b.N; i++ {
		line := lines[i%len(lines)]
		if len(recs) == cap(recs) {
			recs = recs[:0]
		}
		recs = d.Decode(recs, Line{Bytes: line, Start: off, End: off + int64(len(line)) + 1})
		off += int64(len(line)) + 1
	}
	cpu := testlogs.CPUTime() - start
	if len(recs) == 0 {
		b.Fatalf("no records")
	}
	// CPU time of the process: on a shared machine a steadier figure than
	// ns/op, which counts the time other tenants ran.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/line")
	b.ReportMetric(float64(total)/float64(len(lines))*float64(b.N)/cpu.Seconds()/1e6, "MB/cpu-s")
}

// realisticLines are 20,000 physical lines of the node mix (package
// testlogs: production-like, S2 shrinks them about 6-7 times), decoded in a
// loop; the 16 KiB partial lines of payload dumps are among them now and then.
func realisticLines(f testlogs.Format) [][]byte {
	lines, _ := testlogs.New(testlogs.Mixed, testlogs.Options{Seed: 1, Format: f}).Lines(20_000)
	return lines
}

// BenchmarkDecodeDocker and BenchmarkDecodeCRI decode one physical line per
// iteration: realistic lines, and the repetitive best case.
func BenchmarkDecodeDocker(b *testing.B) {
	b.Run("realistic", func(b *testing.B) { benchDecode(b, realisticLines(testlogs.Docker)) })
	b.Run("repetitive-best-case", func(b *testing.B) { benchDecode(b, [][]byte{benchDocker}) })
}

func BenchmarkDecodeCRI(b *testing.B) {
	b.Run("realistic", func(b *testing.B) { benchDecode(b, realisticLines(testlogs.CRI)) })
	b.Run("repetitive-best-case", func(b *testing.B) { benchDecode(b, [][]byte{benchCRI}) })
}

// BenchmarkDecodePartialJoin decodes a 64 KiB message split by the runtime
// into four 16 KiB CRI P/F lines.
func BenchmarkDecodePartialJoin(b *testing.B) {
	for _, f := range []string{FormatCRI, FormatDocker} {
		b.Run(f, func(b *testing.B) {
			chunk := strings.Repeat("abcdefghijklmnop", 1024)
			var in [][]byte
			for i := range 4 {
				last := i == 3
				if f == FormatCRI {
					tag := "P"
					if last {
						tag = "F"
					}
					in = append(in, []byte("2024-05-01T10:00:00.123456789Z stdout "+tag+" "+chunk))
				} else {
					nl := ""
					if last {
						nl = `\n`
					}
					in = append(in, []byte(fmt.Sprintf(`{"log":"%s%s","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}`, chunk, nl)))
				}
			}
			total := 0
			for _, l := range in {
				total += len(l)
			}
			d := NewDecoder(testConfig(), testSource())
			recs := make([]recordT, 0, 4)
			b.SetBytes(int64(total))
			b.ReportAllocs()
			b.ResetTimer()
			var off int64
			for i := 0; i < b.N; i++ {
				recs = recs[:0]
				for _, l := range in {
					recs = d.Decode(recs, Line{Bytes: l, Start: off, End: off + int64(len(l)) + 1})
					off += int64(len(l)) + 1
				}
			}
			if len(recs) != 1 {
				b.Fatalf("got %d records, want 1", len(recs))
			}
		})
	}
}

func BenchmarkAppendEscaped(b *testing.B) {
	msg := benchCRI[39:]
	buf := make([]byte, 0, 1024)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf, _ = record.AppendEscaped(buf[:0], msg)
	}
}

func BenchmarkParseTimestamp(b *testing.B) {
	ts := []byte("2024-05-01T10:00:00.123456789+02:00")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, ok := parseTimestamp(ts); !ok {
			b.Fatal("parse failed")
		}
	}
}
