package spool

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logspool/logspool/spool/record"
)

// makeStoppedSpool leaves a closed spool in a new directory with SST files
// (inline segments), a value-log file (one big batch) and queued records.
func makeStoppedSpool(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s := openSpool(t, Config{Dir: dir})
	var n uint64
	for i := 0; i < 40; i++ { // ~20 MiB inline: several SSTs
		mustAppend(t, s, makeRecords(n, 500, 1000))
		n += 500
	}
	mustAppend(t, s, makeRecords(n, 2000, 1000)) // 2 MiB: value log
	mustAppend(t, s, nil, record.Checkpoint{Key: "f/x", Value: []byte("1")})
	mustClose(t, s)
	return dir
}

// garble overwrites n bytes at the middle of the first file matching pattern
// in dir (n <= 0: the whole file).
func garble(t *testing.T, dir, pattern string, n int) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, pattern))
	if len(files) == 0 {
		t.Fatalf("no %s in %s", pattern, dir)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := 0, len(b)
	if n > 0 && n < len(b) {
		lo = len(b)/2 - n/2
		hi = lo + n
	}
	for i := lo; i < hi; i++ {
		b[i] = byte(i*7) ^ 0xa5
	}
	if err := os.WriteFile(files[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestOpenReportsACorruptDirectory(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string) string // returns the directory to open
		want   string                                // in the error message
	}{
		{"a garbled MANIFEST is reported", func(t *testing.T, dir string) string {
			garble(t, dir, "MANIFEST", 0)
			return dir
		}, "corrupt"},
		{"a garbled SST file is reported", func(t *testing.T, dir string) string {
			garble(t, dir, "*.sst", 4096)
			return dir
		}, "corrupt"},
		{"a truncated SST file is reported", func(t *testing.T, dir string) string {
			files, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
			if err := os.Truncate(files[0], 100); err != nil {
				t.Fatal(err)
			}
			return dir
		}, "corrupt"},
		{"a missing SST file is reported", func(t *testing.T, dir string) string {
			files, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
			if err := os.Remove(files[0]); err != nil {
				t.Fatal(err)
			}
			return dir
		}, "corrupt"},
		{"a file where the directory should be is reported", func(t *testing.T, dir string) string {
			p := filepath.Join(t.TempDir(), "spool")
			if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}, "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.damage(t, makeStoppedSpool(t))
			s, err := Open(Config{Dir: dir, Logger: quietLogger()})
			if err == nil {
				_ = s.Close()
				t.Fatal("Open of a damaged spool succeeded")
			}
			var oe *OpenError
			if !errors.As(err, &oe) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open = %v, want an *OpenError naming %s and saying %q", err, dir, tt.want)
			}
			t.Log(err)
		})
	}
}

// A value-log file is only read when a segment in it is leased: the damage is
// caught by the segment checksum and the segment is dead-lettered, not
// mis-decoded.
func TestGarbledValueLogIsCaughtByTheSegmentChecksum(t *testing.T) {
	dir := makeStoppedSpool(t)
	garble(t, dir, "*.vlog", 4096)
	s, err := Open(Config{Dir: dir, Logger: quietLogger()})
	if err != nil {
		var oe *OpenError
		if !errors.As(err, &oe) || !strings.Contains(err.Error(), dir) {
			t.Fatalf("Open = %v, want an *OpenError naming %s", err, dir)
		}
		t.Log("caught at open:", err)
		return
	}
	defer s.Close()
	var delivered, last uint64
	for {
		l, err := s.TryLease(64 << 20)
		if err != nil {
			t.Fatalf("TryLease: %v", err)
		}
		if l == nil {
			break
		}
		for _, r := range l.Records {
			num := numOf(r.ID)
			if delivered > 0 && num <= last {
				t.Fatalf("record %d after %d: out of order or repeated", num, last)
			}
			checkRecords(t, []record.Record{r}, 1000, []uint64{num})
			last = num
			delivered++
		}
		mustDone(t, l)
	}
	var lost uint64
	var reasons []string
	_ = s.DeadLetters(func(_ uint64, dl DeadLetter) error {
		var doc struct {
			Records uint64 `json:"logspool.records"`
		}
		if err := json.Unmarshal(dl.Record.Doc, &doc); err != nil {
			t.Errorf("dead letter doc %q: %v", dl.Record.Doc, err)
		}
		lost += doc.Records
		reasons = append(reasons, dl.Reason)
		return nil
	})
	if len(reasons) == 0 || delivered+lost != 22000 {
		t.Fatalf("delivered %d and dead-lettered %d records in %q; want the damaged segments dead-lettered and the rest delivered", delivered, lost, reasons)
	}
	t.Log(reasons)
}
