package spool

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestDiskSpaceIsReclaimed pushes data through append + lease + ack and
// checks that the directory returns close to its empty size: Badger must not
// keep the deleted segments (see doc.go, "Space reclamation").
func TestDiskSpaceIsReclaimed(t *testing.T) {
	total := int64(1 << 30)
	if os.Getenv("LOGSPOOL_LONG_TESTS") != "" {
		total = 4 << 30
	}
	tests := []struct {
		name    string
		backlog int64 // bytes kept queued while streaming
		docSize int
		batch   int
	}{
		{"a spool that keeps up returns to its empty size", 0, 170, 500},
		{"a spool that carries a backlog returns to its empty size once drained", 64 << 20, 170, 500},
		{"a spool of big batches that go to the value log returns to its empty size", 0, 2000, 1500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openSpool(t, Config{Dir: dir, GCInterval: 200 * time.Millisecond})
			empty := dirSize(dir)
			start := time.Now()
			var n uint64
			var written, peak, peakAnon, peakFile int64
			recs := makeNoisyRecords(0, tt.batch, tt.docSize) // incompressible: every byte reaches Badger
			for written < total {
				for i := range recs {
					recs[i].ID = idOf(n)
					n++
				}
				mustAppend(t, s, recs)
				written += int64(tt.batch * (tt.docSize + 24))
				for s.Stats().QueuedBytes > tt.backlog {
					mustDone(t, mustLease(t, s, 5<<20))
				}
				if d := dirSize(dir); d > peak {
					peak = d
				}
				if os.Getenv("DEBUG_RSS") != "" {
					a, f := rssParts()
					peakAnon, peakFile = max(peakAnon, a), max(peakFile, f)
				}
			}
			for {
				l, err := s.TryLease(5 << 20)
				if err != nil {
					t.Fatal(err)
				}
				if l == nil {
					break
				}
				mustDone(t, l)
			}
			elapsed := time.Since(start)
			limit := empty + 20<<20 // the live memtable's log and the newest value-log file
			waitUntil(t, 60*time.Second, fmt.Sprintf("the directory shrinks to %d bytes (empty %d)", limit, empty), func() bool {
				return dirSize(dir) <= limit
			})
			t.Logf("%d MiB through in %s; empty %.1f MiB, peak %.1f MiB, after %.1f MiB; process peak RSS %s",
				written>>20, elapsed.Round(time.Millisecond), mib(empty), mib(peak), mib(dirSize(dir)), peakRSS())
			if os.Getenv("DEBUG_RSS") != "" {
				t.Logf("peak anon %d kB, peak file %d kB", peakAnon, peakFile)
			}
			mustClose(t, s)
			t.Logf("after close %.1f MiB", mib(dirSize(dir)))
		})
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// peakRSS is the VmHWM line of /proc/self/status (peak resident set size).
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func rssParts() (anon, file int64) {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		var v int64
		if _, err := fmt.Sscanf(line, "RssAnon: %d kB", &v); err == nil {
			anon = v
		}
		if _, err := fmt.Sscanf(line, "RssFile: %d kB", &v); err == nil {
			file = v
		}
	}
	return anon, file
}
