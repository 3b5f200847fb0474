package journalfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// liveSnapshot returns orig as a live writer would have left it just before
// appending entry k: cut at entry k's object, header n_entries = k, and the
// entry array slots and chain links that do not exist yet zeroed.
func liveSnapshot(t *testing.T, orig []byte, offsets []uint64, k int) []byte {
	t.Helper()
	cut := uint64(len(orig))
	if k < len(offsets) {
		cut = offsets[k]
	}
	b := append([]byte(nil), orig[:cut]...)
	le.PutUint64(b[152:], uint64(k))
	compact := le.Uint32(b[12:])&IncompatibleCompact != 0
	itemSize := uint64(8)
	if compact {
		itemSize = 4
	}
	seen := 0
	for a := le.Uint64(b[176:]); a != 0 && a < cut; {
		size := le.Uint64(b[a+8:])
		n := int((size - entryArrayItemsOffset) / itemSize)
		for j := 0; j < n; j++ {
			if seen+j >= k {
				p := a + entryArrayItemsOffset + uint64(j)*itemSize
				if p+itemSize <= cut {
					copy(b[p:p+itemSize], make([]byte, itemSize))
				}
			}
		}
		seen += n
		next := le.Uint64(b[a+16:])
		if next >= cut {
			le.PutUint64(b[a+16:], 0)
		}
		a = next
	}
	return b
}

func mustWriteFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// exportPrefix returns the export text of the first n entries of oracle.
func exportPrefix(t *testing.T, oracle []byte, n int) []byte {
	t.Helper()
	entries := parseExport(t, oracle)
	return formatExport(entries[:n])
}

func TestRefreshSeesAppendedEntries(t *testing.T) {
	orig, err := os.ReadFile(corpusPath("many.journal"))
	if err != nil {
		t.Fatal(err)
	}
	ref := mustOpen(t, corpusPath("many.journal"))
	offsets := make([]uint64, ref.NumEntries())
	for i := range offsets {
		offsets[i] = ref.EntryOffset(i)
	}
	oracle := readOracle(t, "oracle/many.journal.export.gz")

	tests := []struct {
		name   string
		stages []int // entry counts the writer reaches, in order
	}{
		{"an empty live file grows to the full file", []int{0, 2000}},
		{"a file grows one entry at a time across an array boundary", []int{1, 2, 3, 4, 5, 6, 7, 8}},
		{"a file grows in uneven steps through long chains", []int{100, 101, 1023, 1024, 1500, 1999, 2000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "live.journal")
			mustWriteFile(t, path, liveSnapshot(t, orig, offsets, tt.stages[0]))
			f := mustOpen(t, path)
			for si, k := range tt.stages {
				if si > 0 {
					mustWriteFile(t, path, liveSnapshot(t, orig, offsets, k))
					if err := f.Refresh(); err != nil {
						t.Fatalf("Refresh at %d entries: %v", k, err)
					}
				}
				if f.NumEntries() != k || f.Err() != nil {
					t.Fatalf("stage %d: NumEntries %d, Err %v; want %d, nil", si, f.NumEntries(), f.Err(), k)
				}
				got, _, _ := exportAll(t, f)
				if want := exportPrefix(t, oracle, k); !bytes.Equal(got, want) {
					t.Fatalf("stage %d: export of %d entries differs: %s", si, k, firstDiff(got, want))
				}
			}
		})
	}
}

func TestRefreshResumesAfterTruncationIsRepaired(t *testing.T) {
	orig, err := os.ReadFile(corpusPath("multiboot.journal"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cut.journal")
	mustWriteFile(t, path, orig[:217830])
	f := mustOpen(t, path)
	if f.NumEntries() != 272 || f.Err() == nil {
		t.Fatalf("cut file: NumEntries %d, Err %v; want 272 and an error", f.NumEntries(), f.Err())
	}
	mustWriteFile(t, path, orig)
	if err := f.Refresh(); err != nil {
		t.Fatal(err)
	}
	if f.NumEntries() != 571 || f.Err() != nil {
		t.Fatalf("after repair: NumEntries %d, Err %v; want 571, nil", f.NumEntries(), f.Err())
	}
}

func TestRefreshRefusesAReplacedFile(t *testing.T) {
	a, err := os.ReadFile(corpusPath("basic-compact.journal"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(corpusPath("binary.journal"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "x.journal")
	mustWriteFile(t, path, a)
	f := mustOpen(t, path)
	mustWriteFile(t, path, b)
	if err := f.Refresh(); err == nil {
		t.Fatal("Refresh accepted a file with another file id")
	}
	// Truncated below its header, or closed: errors, no panic.
	mustWriteFile(t, path, nil)
	if err := f.Refresh(); !errors.Is(err, ErrTruncatedHeader) {
		t.Fatalf("Refresh of an emptied file: %v", err)
	}
	f.Close()
	if err := f.Refresh(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Refresh after Close: %v", err)
	}
}

func TestReadsAreFewAndCachedAcrossIdleRefreshes(t *testing.T) {
	f := mustOpen(t, corpusPath("many.journal"))
	walk := f.r.preads
	if limit := uint64(f.Size()/int64(f.cfg.WindowSize)) + 8; walk > limit {
		t.Errorf("Open made %d reads of a %d-byte file, want at most %d", walk, f.Size(), limit)
	}
	for i := 0; i < f.NumEntries(); i++ {
		if _, err := f.EntryAt(i); err != nil {
			t.Fatal(err)
		}
	}
	if reads := f.r.preads - walk; reads > uint64(f.NumEntries()/20) {
		t.Errorf("reading %d entries made %d reads, want at most %d", f.NumEntries(), reads, f.NumEntries()/20)
	}
	last := f.NumEntries() - 1
	before := f.r.preads
	for range 3 {
		if err := f.Refresh(); err != nil {
			t.Fatal(err)
		}
		if _, err := f.EntryAt(last); err != nil {
			t.Fatal(err)
		}
	}
	if f.r.preads != before {
		t.Errorf("idle Refresh dropped the cache: %d more reads", f.r.preads-before)
	}
}

func TestDropCacheKeepsTheFileReadable(t *testing.T) {
	f := mustOpen(t, corpusPath("large-zstd.journal"))
	want, _, _ := exportAll(t, f)
	f.DropCache()
	got, _, _ := exportAll(t, f)
	if !bytes.Equal(got, want) {
		t.Fatalf("export after DropCache differs: %s", firstDiff(got, want))
	}
}

// TestTruncationToTheTailObjectUnderAReader: journald (252+) archives a file
// by truncating it to the end of its last object while readers hold it
// open. Nothing readable may be lost, before or after Refresh.
func TestTruncationToTheTailObjectUnderAReader(t *testing.T) {
	orig, err := os.ReadFile(corpusPath("basic-v247.journal")) // archived by 247, not truncated
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "archived.journal")
	mustWriteFile(t, path, orig)
	f := mustOpen(t, path)
	want, _, _ := exportAll(t, f)

	tail := f.Header().TailObjectOffset
	end := tail + le.Uint64(orig[tail+8:])
	end = (end + 7) &^ 7
	if end >= uint64(len(orig)) {
		t.Fatalf("tail object ends at %d of %d: nothing to truncate", end, len(orig))
	}
	if err := os.Truncate(path, int64(end)); err != nil {
		t.Fatal(err)
	}
	f.DropCache() // force fresh reads against the shorter file
	got, _, _ := exportAll(t, f)
	if !bytes.Equal(got, want) {
		t.Fatalf("before Refresh: export differs: %s", firstDiff(got, want))
	}
	if err := f.Refresh(); err != nil {
		t.Fatal(err)
	}
	if f.Size() != int64(end) || f.Err() != nil {
		t.Fatalf("after Refresh: size %d, Err %v; want %d, nil", f.Size(), f.Err(), end)
	}
	got, _, _ = exportAll(t, f)
	if !bytes.Equal(got, want) {
		t.Fatalf("after Refresh: export differs: %s", firstDiff(got, want))
	}
}

func TestRepeatedCompressedValuesAreDecompressedOnce(t *testing.T) {
	f := mustOpen(t, corpusPath("large-zstd.journal"))
	first, _, _ := exportAll(t, f)
	last := -1 // the last entry with a compressed field
	for i := 0; i < f.NumEntries(); i++ {
		for _, p := range dataOffsets(t, f, i) {
			if hb, err := f.r.slice(p, objectHeaderSize); err == nil && hb[1]&objectCompressedMask != 0 {
				last = i
			}
		}
	}
	if last < 0 {
		t.Fatal("no compressed field in large-zstd.journal")
	}
	hits := f.unz.hits
	e, err := f.EntryAt(last)
	if err != nil {
		t.Fatal(err)
	}
	if f.unz.hits == hits {
		t.Fatalf("re-reading entry %d did not hit the cache", last)
	}
	want := formatExport(parseExport(t, first)[last : last+1])
	if got := AppendExport(nil, e); !bytes.Equal(got, want) {
		t.Fatalf("cached value differs: %s", firstDiff(got, want))
	}
}
