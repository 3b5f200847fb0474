package journalfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
)

// faultyReaderAt fails every read that touches bytes at or beyond failAt
// with EIO, the way a dying disk does.
type faultyReaderAt struct {
	r      io.ReaderAt
	failAt int64
}

func (f *faultyReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.failAt {
		return 0, &os.PathError{Op: "read", Path: "disk", Err: syscall.EIO}
	}
	return f.r.ReadAt(p, off)
}

// TestIOErrorsAreNotCorruption: an I/O error must surface as such, never
// as a *CorruptionError (which tells callers to skip the entry for good).
func TestIOErrorsAreNotCorruption(t *testing.T) {
	b, err := os.ReadFile(corpusPath("basic-compact.journal"))
	if err != nil {
		t.Fatal(err)
	}
	clean := openBytes(t, b, Config{})
	tests := []struct {
		name   string
		failAt int64
		check  func(t *testing.T, f *File, err error)
	}{
		{
			name:   "a header that cannot be read fails Open with the I/O error",
			failAt: 100,
			check: func(t *testing.T, f *File, err error) {
				if !errors.Is(err, syscall.EIO) {
					t.Fatalf("Open: %v, want EIO", err)
				}
			},
		},
		{
			name:   "entry arrays that cannot be read stop the walk with the I/O error",
			failAt: int64(clean.hdr.EntryArrayOffset) + 8,
			check: func(t *testing.T, f *File, err error) {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				var ce *CorruptionError
				if !errors.Is(f.Err(), syscall.EIO) || errors.As(f.Err(), &ce) {
					t.Fatalf("Err() = %v, want EIO and no CorruptionError", f.Err())
				}
			},
		},
		{
			name:   "a bad sector after an entry does not cost that entry",
			failAt: int64(clean.entries.at(238) + le.Uint64(b[clean.entries.at(238)+8:])),
			check: func(t *testing.T, f *File, err error) {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				f.DropCache()
				if _, err := f.EntryAt(238); err != nil {
					t.Fatalf("EntryAt(238): %v", err)
				}
			},
		},
		{
			name:   "entries that cannot be read fail with the I/O error, not as damage",
			failAt: int64(clean.entries.at(200)),
			check: func(t *testing.T, f *File, err error) {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if f.NumEntries() != 240 {
					// The arrays lie before entry 200 in this file.
					t.Fatalf("NumEntries %d", f.NumEntries())
				}
				f.DropCache()
				_, err = f.EntryAt(239)
				var ce *CorruptionError
				if !errors.Is(err, syscall.EIO) || errors.As(err, &ce) {
					t.Fatalf("EntryAt(239) = %v, want EIO and no CorruptionError", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := &faultyReaderAt{r: bytes.NewReader(b), failAt: tt.failAt}
			f, err := OpenReaderAt(fr, int64(len(b)), "disk", Config{WindowSize: 16 << 10})
			tt.check(t, f, err)
		})
	}
}
