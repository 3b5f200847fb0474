package spool

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"
)

// tortureVolume is the volume a space test pushes: small in make test,
// large under LOGSPOOL_TORTURE=1.
func tortureVolume(fast, torture int64) int64 {
	if os.Getenv("LOGSPOOL_TORTURE") != "" {
		return torture
	}
	return fast
}

// TestDiskSpaceIsReclaimedTorture pushes incompressible data through append
// + lease + ack and checks that the directory returns close to its empty
// size: acked records' data files are deleted (see doc.go, "Space").
func TestDiskSpaceIsReclaimedTorture(t *testing.T) {
	total := tortureVolume(96<<20, 4<<30)
	tests := []struct {
		name    string
		backlog int64 // bytes kept queued while streaming
		docSize int
		batch   int
	}{
		{"a spool that keeps up returns to its empty size", 0, 170, 500},
		{"a spool that carries a backlog returns to its empty size once drained", 64 << 20, 170, 500},
		{"a spool of big batches returns to its empty size", 0, 2000, 1500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openSpool(t, Config{Dir: dir, SyncInterval: 50 * time.Millisecond})
			empty := dirSize(dir)
			start := time.Now()
			var n uint64
			var written, peak int64
			recs := makeNoisyRecords(0, tt.batch, tt.docSize) // incompressible: every byte reaches the disk
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
				peak = max(peak, dirSize(dir))
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
			// The current data file (rotated once it is all acked and an eighth
			// full) and the memtable log.
			limit := empty + dataFileSize/8 + memTableSize + 1<<20
			waitUntil(t, 30*time.Second, fmt.Sprintf("the directory shrinks to %d bytes (empty %d)", limit, empty), func() bool {
				return dirSize(dir) <= limit
			})
			t.Logf("%d MiB through in %s; empty %.1f MiB, peak %.1f MiB, after %.1f MiB; process peak RSS %s",
				written>>20, elapsed.Round(time.Millisecond), mib(empty), mib(peak), mib(dirSize(dir)), peakRSS())
			mustClose(t, s)
		})
	}
}

// TestCapBoundsTheDirectoryTorture is issue 9's cap proof: with
// incompressible records, an outage long enough to fill the spool many
// times over (the shipper acks nothing for long stretches, then acks out of
// order, leaving files partly dead), the directory's allocated size never
// exceeds --spool-max-bytes by more than 10%, and reading pauses at the cap.
func TestCapBoundsTheDirectoryTorture(t *testing.T) {
	const capBytes = 32 << 20
	total := tortureVolume(96<<20, 4<<30)
	dir := t.TempDir()
	s := openSpool(t, Config{Dir: dir, MaxBytes: capBytes, SyncInterval: 50 * time.Millisecond})
	rng := rand.New(rand.NewPCG(11, 12))
	var written, peak int64
	var n uint64
	var blockedTimes int
	var leases []*Lease
	for written < total {
		recs := makeNoisyRecords(n, 64+rng.IntN(512), 200+rng.IntN(1800))
		n += uint64(len(recs))
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err := s.Append(ctx, recs)
		cancel()
		if err != nil {
			// At the cap: the outage ends for a while, out of order.
			blockedTimes++
			if !s.Stats().Blocked && !strings.Contains(err.Error(), "waiting for space") {
				t.Fatalf("Append: %v", err)
			}
			for i := 0; i < 1+rng.IntN(40); i++ {
				l, err := s.TryLease(1 + rng.IntN(2<<20))
				if err != nil {
					t.Fatal(err)
				}
				if l != nil {
					leases = append(leases, l)
				}
			}
			rng.Shuffle(len(leases), func(i, j int) { leases[i], leases[j] = leases[j], leases[i] })
			for len(leases) > 0 && rng.IntN(4) != 0 {
				mustDone(t, leases[len(leases)-1])
				leases = leases[:len(leases)-1]
			}
			n -= uint64(len(recs))
			continue
		}
		for _, r := range recs {
			written += int64(r.Size())
		}
		d := dirSize(dir)
		peak = max(peak, d)
		if d > capBytes*11/10 {
			t.Fatalf("the directory holds %.1f MiB, over the %d MiB cap by more than 10%% (%d MiB written)", mib(d), capBytes>>20, written>>20)
		}
	}
	if blockedTimes == 0 {
		t.Fatal("reading never paused at the cap")
	}
	t.Logf("%d MiB written through a %d MiB cap; reading paused %d times; peak directory %.1f MiB (%.1f%% of the cap)",
		written>>20, capBytes>>20, blockedTimes, mib(peak), 100*float64(peak)/capBytes)
	for _, l := range leases {
		l.Release()
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
