package journalfile

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logspool/logspool/internal/testenv"
)

const journalRemote = "/lib/systemd/systemd-journal-remote"

// liveEntry renders entry n in journal export format, with content that
// exercises the printable rule, binary values and zstd compression.
func liveEntry(rng *rand.Rand, n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0123456789abcdef0123456789abcdef\n",
		1730000000000000+int64(n)*1000, 1000000+int64(n)*1000)
	fmt.Fprintf(&b, "MESSAGE=live %d\nSYSLOG_IDENTIFIER=live-test\nPRIORITY=%d\n", n, n%8)
	switch n % 5 {
	case 1: // a binary value: NAME\n<le64 len><bytes>
		v := make([]byte, rng.Intn(40))
		rng.Read(v)
		b.WriteString("BLOB\n")
		var l [8]byte
		le.PutUint64(l[:], uint64(len(v)))
		b.Write(l[:])
		b.Write(v)
		b.WriteByte('\n')
	case 2: // a large value, zstd-compressed by the writer (>= 512 bytes)
		fmt.Fprintf(&b, "ANNOTATION=%s\n", strings.Repeat(fmt.Sprintf("chunk-%d ", rng.Intn(1000)), 100+rng.Intn(200)))
	case 3:
		fmt.Fprintf(&b, "UNICODE=caf\u00e9 \u2603 %d\tTAB\n", n)
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// waitForEntries refreshes f until it holds want entries, failing after a
// timeout. Every entry that becomes visible is read at once: a live file
// must never show a half-written entry.
func waitForEntries(t *testing.T, f *File, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	seen := 0
	for {
		if err := f.Refresh(); err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		if f.Err() != nil {
			t.Fatalf("Err() on a live file: %v", f.Err())
		}
		for ; seen < f.NumEntries(); seen++ {
			e, err := f.EntryAt(seen)
			if err != nil {
				t.Fatalf("entry %d read while live: %v", seen, err)
			}
			if e.Damaged {
				t.Fatalf("entry %d read while live is damaged: %v", seen, e.Problems)
			}
		}
		if f.NumEntries() == want {
			return
		}
		if f.NumEntries() > want || time.Now().After(deadline) {
			t.Fatalf("NumEntries %d, want %d", f.NumEntries(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitForOpen(t *testing.T, path string) *File {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		f, err := Open(path)
		if err == nil {
			t.Cleanup(func() { f.Close() })
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("opening the live file: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLiveWriter runs systemd's own writer (systemd-journal-remote) and
// reads the file while it grows: every batch becomes visible through
// Refresh, the walk never reports damage, and at the end our export equals
// journalctl's byte for byte.
func TestLiveWriter(t *testing.T) {
	if _, err := os.Stat(journalRemote); err != nil {
		testenv.Missing(t, "%s not installed", journalRemote)
	}
	tests := []struct {
		name string
		env  []string
	}{
		{"a compact keyed-hash file as journald 252 writes it", nil},
		{"a regular Jenkins-hash file as older systemd writes it", []string{"SYSTEMD_JOURNAL_COMPACT=0", "SYSTEMD_JOURNAL_KEYED_HASH=0"}},
	}
	for ti, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "live.journal")
			cmd := exec.Command(journalRemote, "-o", path, "-")
			cmd.Env = append(os.Environ(), tt.env...)
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

			rng := rand.New(rand.NewSource(int64(ti)))
			total := 0
			write := func(n int) {
				t.Helper()
				var b bytes.Buffer
				for i := 0; i < n; i++ {
					total++
					b.Write(liveEntry(rng, total))
				}
				if _, err := stdin.Write(b.Bytes()); err != nil {
					t.Fatalf("writing to journal-remote: %v (%s)", err, stderr.String())
				}
			}
			write(1)
			f := waitForOpen(t, path)
			waitForEntries(t, f, 1)
			if f.Header().State != StateOnline {
				t.Errorf("state %d while written, want ONLINE", f.Header().State)
			}
			for _, n := range []int{1, 2, 5, 17, 100, 400, 3000} {
				write(n)
				waitForEntries(t, f, total)
			}
			for i := 0; i < total; i++ {
				e, err := f.EntryAt(i)
				if err != nil {
					t.Fatalf("entry %d: %v", i, err)
				}
				if e.Seqnum != uint64(i+1) || !hasField(e, "MESSAGE", fmt.Sprintf("live %d", i+1)) {
					t.Fatalf("entry %d: seqnum %d, fields %v", i, e.Seqnum, e.Fields)
				}
			}
			if err := stdin.Close(); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("journal-remote: %v (%s)", err, stderr.String())
			}
			if err := f.Refresh(); err != nil {
				t.Fatal(err)
			}
			if f.Header().State != StateOffline || f.NumEntries() != total {
				t.Fatalf("after close: state %d, %d entries; want OFFLINE, %d", f.Header().State, f.NumEntries(), total)
			}
			want, err := exec.Command("journalctl", "--file="+path, "-o", "export").Output()
			if err != nil {
				testenv.Missing(t, "journalctl unavailable for the differential check: %v", err)
			}
			got, _, _ := exportAll(t, f)
			if !bytes.Equal(got, want) {
				t.Fatalf("export differs from journalctl's %s", firstDiff(got, want))
			}
		})
	}
}

func hasField(e *Entry, name, value string) bool {
	for _, f := range e.Fields {
		if f.Name == name && string(f.Value) == value {
			return true
		}
	}
	return false
}
