package journalfile

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func corpusPath(rel string) string { return filepath.Join(corpusDir, "files", rel) }

func mustOpen(t testing.TB, path string) *File {
	t.Helper()
	f, err := Open(path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestOpenRefuses(t *testing.T) {
	tests := []struct {
		name string
		file string
		want error
	}{
		{"a changed signature is not a journal", "corrupt/bad-signature.journal", ErrNotJournal},
		{"an unknown incompatible flag is unsupported", "corrupt/unknown-incompat.journal", ErrUnsupported},
		{"an empty file is a truncated header", "corrupt/empty.journal", ErrTruncatedHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Open(corpusPath(tt.file))
			if err == nil {
				f.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open: %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.file) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestOpenRefusesShortAndForeignInput(t *testing.T) {
	good, err := os.ReadFile(corpusPath("binary.journal"))
	if err != nil {
		t.Fatal(err)
	}
	withHeaderSize := func(n uint64) []byte {
		b := append([]byte(nil), good...)
		le.PutUint64(b[88:], n)
		return b
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"seven bytes are a truncated header", []byte("LPKSHHR"), ErrTruncatedHeader},
		{"a text file is not a journal", []byte("hello, world, this is not a journal file at all"), ErrNotJournal},
		{"a signature alone is a truncated header", []byte(signature), ErrTruncatedHeader},
		{"the first 200 bytes are a truncated header", good[:200], ErrTruncatedHeader},
		{"a header_size below 208 is refused", withHeaderSize(100), ErrTruncatedHeader},
		{"a header_size beyond the file is refused", withHeaderSize(1 << 40), ErrTruncatedHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := OpenReaderAt(strings.NewReader(string(tt.data)), int64(len(tt.data)), "mem", Config{})
			if !errors.Is(err, tt.want) {
				t.Fatalf("OpenReaderAt: %v, want %v", err, tt.want)
			}
		})
	}
}

// readAll reads every entry and sorts the outcomes.
type readOutcome struct {
	ok, damaged, corrupt int
	damagedAt, corruptAt []int
}

func readAllOutcomes(t *testing.T, f *File) readOutcome {
	t.Helper()
	var o readOutcome
	for i := 0; i < f.NumEntries(); i++ {
		e, err := f.EntryAt(i)
		var ce *CorruptionError
		switch {
		case errors.As(err, &ce):
			if ce.Path != f.Path() || ce.Offset == 0 {
				t.Errorf("entry %d: CorruptionError without path or offset: %+v", i, ce)
			}
			o.corrupt++
			o.corruptAt = append(o.corruptAt, i)
		case err != nil:
			t.Fatalf("entry %d: %v", i, err)
		case e.Damaged:
			if len(e.Problems) == 0 {
				t.Errorf("entry %d: Damaged without Problems", i)
			}
			o.damaged++
			o.damagedAt = append(o.damagedAt, i)
		default:
			o.ok++
		}
	}
	return o
}

func TestCorruptFilesAreSalvaged(t *testing.T) {
	tests := []struct {
		name       string
		file       string
		entries    int
		walkErr    bool
		damagedAt  []int
		corruptAt  []int // nil: none; checked by count when corruptN > 0
		corruptN   int
		readableOK int
	}{
		{name: "a truncated file yields the entries that survive the cut", file: "corrupt/truncated.journal", entries: 272, walkErr: true, readableOK: 272},
		{name: "a zeroed tail yields 530 entries, the last one partial", file: "corrupt/zeroed-tail.journal", entries: 571, damagedAt: []int{529}, corruptN: 41, readableOK: 529},
		{name: "an overwritten entry header skips that entry only", file: "corrupt/garbage-entry.journal", entries: 240, corruptAt: []int{120}, corruptN: 1, readableOK: 239},
		{name: "an item past the end drops that field only", file: "corrupt/bad-item-offset.journal", entries: 240, damagedAt: []int{80}, readableOK: 239},
		{name: "a garbled zstd payload drops that field only", file: "corrupt/bad-compressed.journal", entries: 63, damagedAt: []int{34}, readableOK: 62},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustOpen(t, corpusPath(tt.file))
			if f.NumEntries() != tt.entries {
				t.Errorf("NumEntries = %d, want %d", f.NumEntries(), tt.entries)
			}
			var ce *CorruptionError
			if gotErr := errors.As(f.Err(), &ce); gotErr != tt.walkErr {
				t.Errorf("Err() = %v, want a *CorruptionError: %v", f.Err(), tt.walkErr)
			}
			o := readAllOutcomes(t, f)
			if o.ok != tt.readableOK || !reflect.DeepEqual(o.damagedAt, tt.damagedAt) || o.corrupt != tt.corruptN {
				t.Errorf("outcomes ok=%d damaged=%v corrupt=%d; want ok=%d damaged=%v corrupt=%d",
					o.ok, o.damagedAt, o.corrupt, tt.readableOK, tt.damagedAt, tt.corruptN)
			}
			if tt.corruptAt != nil && !reflect.DeepEqual(o.corruptAt, tt.corruptAt) {
				t.Errorf("corrupt entries %v, want %v", o.corruptAt, tt.corruptAt)
			}
		})
	}
}

func TestBadItemOffsetEntryKeepsItsOtherFields(t *testing.T) {
	f := mustOpen(t, corpusPath("corrupt/bad-item-offset.journal"))
	e, err := f.EntryAt(80)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Damaged || len(e.Problems) != 1 || len(e.Fields) != 19 {
		t.Fatalf("Damaged=%v Problems=%v Fields=%d; want true, one problem, 19 fields", e.Damaged, e.Problems, len(e.Fields))
	}
	for _, fl := range e.Fields {
		if fl.Name == "MESSAGE" {
			t.Errorf("MESSAGE present: %q", fl.Value)
		}
	}
}

// TestVerifyDataDropsGarbledPayload garbles an uncompressed MESSAGE: the
// structure is intact, so only the hash check can tell.
func TestVerifyDataDropsGarbledPayload(t *testing.T) {
	b, err := os.ReadFile(corpusPath("basic-compact.journal"))
	if err != nil {
		t.Fatal(err)
	}
	f0, err := OpenReaderAt(strings.NewReader(string(b)), int64(len(b)), "mem", Config{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := f0.EntryAt(7)
	if err != nil {
		t.Fatal(err)
	}
	var msg []byte
	for _, fl := range e.Fields {
		if fl.Name == "MESSAGE" {
			msg = fl.Value
		}
	}
	i := strings.Index(string(b), "MESSAGE="+string(msg))
	if len(msg) < 4 || i < 0 {
		t.Fatalf("MESSAGE of entry 7 not found raw in the file")
	}
	b[i+len("MESSAGE=")+1] ^= 0x20

	for _, verify := range []bool{false, true} {
		f, err := OpenReaderAt(strings.NewReader(string(b)), int64(len(b)), "mem", Config{VerifyData: verify})
		if err != nil {
			t.Fatal(err)
		}
		e, err := f.EntryAt(7)
		if err != nil {
			t.Fatal(err)
		}
		if e.Damaged != verify {
			t.Errorf("VerifyData=%v: Damaged=%v (%v)", verify, e.Damaged, e.Problems)
		}
	}
}

func TestHeaderMatchesFacts(t *testing.T) {
	for _, mf := range loadManifest(t) {
		if mf.Oracles["export"].RC != 0 && mf.Oracles["salvage.export"].Path == "" {
			continue
		}
		t.Run(strings.TrimPrefix(mf.Path, "files/"), func(t *testing.T) {
			var facts map[string]any
			if err := json.Unmarshal(readOracle(t, mf.Facts), &facts); err != nil {
				t.Fatal(err)
			}
			f := mustOpen(t, filepath.Join(corpusDir, mf.Path))
			h := f.Header()
			states := map[uint8]string{StateOffline: "OFFLINE", StateOnline: "ONLINE", StateArchived: "ARCHIVED"}
			got := map[string]any{
				"compatible_flags":           h.CompatibleFlags,
				"incompatible_flags":         h.IncompatibleFlags,
				"state":                      states[h.State],
				"file_id":                    h.FileID.String(),
				"machine_id":                 h.MachineID.String(),
				"tail_entry_boot_id":         h.TailEntryBootID.String(),
				"seqnum_id":                  h.SeqnumID.String(),
				"header_size":                h.HeaderSize,
				"arena_size":                 h.ArenaSize,
				"data_hash_table_offset":     h.DataHashTableOffset,
				"data_hash_table_size":       h.DataHashTableSize,
				"field_hash_table_offset":    h.FieldHashTableOffset,
				"field_hash_table_size":      h.FieldHashTableSize,
				"tail_object_offset":         h.TailObjectOffset,
				"n_objects":                  h.NObjects,
				"n_entries":                  h.NEntries,
				"tail_entry_seqnum":          h.TailEntrySeqnum,
				"head_entry_seqnum":          h.HeadEntrySeqnum,
				"entry_array_offset":         h.EntryArrayOffset,
				"head_entry_realtime":        h.HeadEntryRealtime,
				"tail_entry_realtime":        h.TailEntryRealtime,
				"tail_entry_monotonic":       h.TailEntryMonotonic,
				"n_data":                     h.NData,
				"n_fields":                   h.NFields,
				"n_tags":                     h.NTags,
				"n_entry_arrays":             h.NEntryArrays,
				"data_hash_chain_depth":      h.DataHashChainDepth,
				"field_hash_chain_depth":     h.FieldHashChainDepth,
				"tail_entry_array_offset":    h.TailEntryArrayOffset,
				"tail_entry_array_n_entries": h.TailEntryArrayNEntries,
				"tail_entry_offset":          h.TailEntryOffset,
				"file_size":                  f.Size(),
			}
			checked := 0
			for k, v := range got {
				want, ok := facts[k]
				if !ok {
					continue // not in this header size
				}
				checked++
				var g any
				switch v := v.(type) {
				case string:
					g = v
				default:
					var n float64
					jb, _ := json.Marshal(v)
					_ = json.Unmarshal(jb, &n)
					g = n
				}
				if !reflect.DeepEqual(g, want) {
					t.Errorf("%s = %v, want %v", k, g, want)
				}
			}
			if checked < 25 {
				t.Errorf("only %d header facts compared", checked)
			}
		})
	}
}
