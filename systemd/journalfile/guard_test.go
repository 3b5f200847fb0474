package journalfile

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

// dataOffsets returns the DATA object offsets of entry i.
func dataOffsets(t *testing.T, f *File, i int) []uint64 {
	t.Helper()
	b, err := f.entryObject(f.entries.at(i))
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for j := entryItemsOffset; j < len(b); {
		if f.compact {
			out = append(out, uint64(le.Uint32(b[j:])))
			j += 4
		} else {
			out = append(out, le.Uint64(b[j:]))
			j += 16
		}
	}
	return out
}

// firstCompressed finds a compressed DATA object of f: (entry, offset).
func firstCompressed(t *testing.T, f *File, flag uint8) (int, uint64) {
	t.Helper()
	for i := 0; i < f.NumEntries(); i++ {
		for _, p := range dataOffsets(t, f, i) {
			hb, err := f.r.slice(p, objectHeaderSize)
			if err != nil {
				t.Fatal(err)
			}
			if hb[1]&flag != 0 {
				return i, p
			}
		}
	}
	t.Fatalf("no DATA object with flag %d", flag)
	return 0, 0
}

func openBytes(t *testing.T, b []byte, cfg Config) *File {
	t.Helper()
	f, err := OpenReaderAt(bytes.NewReader(b), int64(len(b)), "mem.journal", cfg)
	if err != nil {
		t.Fatalf("OpenReaderAt: %v", err)
	}
	return f
}

// TestGuards damages real files in specific ways (a table of corruptions,
// as etcd's repair tests do) and checks the reader's answer: an error that
// names the damage, the entries before it intact, no panic, no hang.
func TestGuards(t *testing.T) {
	type outcome struct {
		entries   int  // NumEntries
		walkErr   bool // Err() != nil
		badEntry  int  // index whose EntryAt must fail (-1: none)
		damaged   int  // index whose EntryAt must be Damaged (-1: none)
		reasonHas string
		// shared: the damaged DATA object (or the limit) may hit other
		// entries too; only the target's outcome is checked.
		shared bool
	}
	tests := []struct {
		name   string
		file   string
		cfg    Config
		damage func(t *testing.T, f *File, b []byte) int // the entry it targets, or -1
		want   outcome
	}{
		{
			name: "an entry array chain pointing back to its start stops the walk instead of looping",
			file: "many.journal",
			damage: func(t *testing.T, f *File, b []byte) int {
				first := le.Uint64(b[176:])
				next := le.Uint64(b[first+16:])
				le.PutUint64(b[next+16:], first) // the second array links back to the first
				return -1
			},
			want: outcome{entries: -1, walkErr: true, badEntry: -1, damaged: -1, reasonHas: "backwards"},
		},
		{
			name: "an unaligned entry_array_offset yields no entries and an error",
			file: "basic-compact.journal",
			damage: func(t *testing.T, f *File, b []byte) int {
				le.PutUint64(b[176:], le.Uint64(b[176:])+4)
				return -1
			},
			want: outcome{entries: 0, walkErr: true, badEntry: -1, damaged: -1, reasonHas: "aligned"},
		},
		{
			name: "an n_entries beyond the items salvages every linked entry",
			file: "basic-regular-keyed.journal",
			damage: func(t *testing.T, f *File, b []byte) int {
				le.PutUint64(b[152:], 1<<62)
				return -1
			},
			want: outcome{entries: 240, walkErr: true, badEntry: -1, damaged: -1},
		},
		{
			name: "entry items that do not ascend stop the walk there",
			file: "basic-compact.journal",
			damage: func(t *testing.T, f *File, b []byte) int {
				a := le.Uint64(b[176:])
				le.PutUint32(b[a+entryArrayItemsOffset+4*2:], uint32(f.entries.at(0)))
				return -1
			},
			want: outcome{entries: 2, walkErr: true, badEntry: -1, damaged: -1, reasonHas: "ascend"},
		},
		{
			name: "an ENTRY object claiming 2^64-1 bytes is a bad entry",
			file: "basic-compact.journal",
			damage: func(t *testing.T, f *File, b []byte) int {
				le.PutUint64(b[f.entries.at(5)+8:], ^uint64(0))
				return -1
			},
			want: outcome{entries: 240, badEntry: 5, damaged: -1, reasonHas: "past the end"},
		},
		{
			name: "an ENTRY object smaller than its fixed part is a bad entry",
			file: "basic-regular-jenkins.journal",
			damage: func(t *testing.T, f *File, b []byte) int {
				le.PutUint64(b[f.entries.at(7)+8:], 20)
				return -1
			},
			want: outcome{entries: 240, badEntry: 7, damaged: -1, reasonHas: "below the minimum"},
		},
		{
			name: "an ENTRY with seqnum 0 is a bad entry",
			file: "basic-compact.journal",
			damage: func(t *testing.T, f *File, b []byte) int {
				le.PutUint64(b[f.entries.at(9)+16:], 0)
				return -1
			},
			want: outcome{entries: 240, badEntry: 9, damaged: -1, reasonHas: "seqnum 0"},
		},
		{
			name: "a DATA object too small for a payload drops that field",
			file: "basic-compact.journal",
			damage: func(t *testing.T, f *File, b []byte) int {
				p := dataOffsets(t, f, 11)[0]
				le.PutUint64(b[p+8:], dataPayloadCompact)
				return -1
			},
			want: outcome{entries: 240, badEntry: -1, damaged: 11, reasonHas: "no payload", shared: true},
		},
		{
			name: "an unaligned item offset drops that field",
			file: "basic-regular-keyed.journal",
			damage: func(t *testing.T, f *File, b []byte) int {
				p := f.entries.at(12) + entryItemsOffset
				le.PutUint64(b[p:], le.Uint64(b[p:])+3)
				return -1
			},
			want: outcome{entries: 240, badEntry: -1, damaged: 12, reasonHas: "aligned"},
		},
		{
			name: "an item pointing at an ENTRY instead of DATA drops that field",
			file: "basic-compact.journal",
			damage: func(t *testing.T, f *File, b []byte) int {
				le.PutUint32(b[f.entries.at(13)+entryItemsOffset:], uint32(f.entries.at(13)))
				return -1
			},
			want: outcome{entries: 240, badEntry: -1, damaged: 13, reasonHas: "found ENTRY"},
		},
		{
			name: "an LZ4 object claiming a 1 TiB value is refused, not allocated",
			file: "large-lz4.journal",
			damage: func(t *testing.T, f *File, b []byte) int {
				i, p := firstCompressed(t, f, objectCompressedLZ4)
				le.PutUint64(b[p+dataPayloadRegular:], 1<<40)
				return i
			},
			want: outcome{entries: -1, badEntry: -1, damaged: -2, reasonHas: "exceeds the limit"},
		},
		{
			name: "a zstd value above MaxFieldSize is refused and reported",
			file: "large-zstd.journal",
			cfg:  Config{MaxFieldSize: 1000},
			damage: func(t *testing.T, f *File, b []byte) int {
				i, _ := firstCompressed(t, f, objectCompressedZSTD)
				return i
			},
			want: outcome{entries: -1, badEntry: -1, damaged: -2, reasonHas: "limit", shared: true},
		},
		{
			name: "an uncompressed value above MaxFieldSize is refused and reported",
			file: "large-lz4.journal",
			cfg:  Config{MaxFieldSize: 5000},
			damage: func(t *testing.T, f *File, b []byte) int {
				for i := 0; i < f.NumEntries(); i++ {
					for _, p := range dataOffsets(t, f, i) {
						hb, _ := f.r.slice(p, objectHeaderSize)
						if hb[1] == 0 && le.Uint64(hb[8:]) > 5000+dataPayloadRegular {
							return i
						}
					}
				}
				t.Fatal("no raw value over 5000 bytes in large-lz4.journal")
				return -1
			},
			want: outcome{entries: -1, badEntry: -1, damaged: -2, reasonHas: "-byte limit", shared: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig, err := os.ReadFile(corpusPath(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			b := append([]byte(nil), orig...)
			clean := openBytes(t, orig, Config{})
			// damaged: -2 means "the entry the damage func picked".
			target := tt.damage(t, clean, b)
			f := openBytes(t, b, tt.cfg)
			defer f.Close()
			if tt.want.entries >= 0 && f.NumEntries() != tt.want.entries {
				t.Errorf("NumEntries %d, want %d", f.NumEntries(), tt.want.entries)
			}
			if tt.want.entries < 0 && (f.NumEntries() == 0 || f.NumEntries() > clean.NumEntries() && tt.want.damaged != -2) {
				t.Errorf("NumEntries %d", f.NumEntries())
			}
			var ce *CorruptionError
			if got := errors.As(f.Err(), &ce); got != tt.want.walkErr {
				t.Fatalf("Err() = %v, want an error: %v", f.Err(), tt.want.walkErr)
			}
			reasons := []string{}
			if ce != nil {
				reasons = append(reasons, ce.Reason)
			}
			damagedAt := tt.want.damaged
			if damagedAt == -2 {
				damagedAt = target
			}
			for i := 0; i < f.NumEntries(); i++ {
				e, err := f.EntryAt(i)
				switch {
				case i == tt.want.badEntry:
					if !errors.As(err, &ce) {
						t.Fatalf("entry %d: %v, want a *CorruptionError", i, err)
					}
					reasons = append(reasons, ce.Reason)
				case err != nil:
					t.Fatalf("entry %d: %v", i, err)
				case i == damagedAt:
					if !e.Damaged || len(e.Problems) != 1 {
						t.Fatalf("entry %d: Damaged=%v Problems=%v, want one problem", i, e.Damaged, e.Problems)
					}
					reasons = append(reasons, e.Problems[0].Reason)
				case e.Damaged && !tt.want.shared:
					t.Fatalf("entry %d unexpectedly damaged: %v", i, e.Problems)
				}
			}
			if tt.want.reasonHas != "" && !strings.Contains(strings.Join(reasons, "|"), tt.want.reasonHas) {
				t.Errorf("reasons %q do not mention %q", reasons, tt.want.reasonHas)
			}
		})
	}
}

func TestOffsetListKeepsEveryOffsetAcrossTheFourGiBMark(t *testing.T) {
	want := []uint64{64, 4096, 1<<32 - 8, 1 << 32, 1<<40 + 8, 1<<40 + 16}
	var l offsetList
	for i, p := range want {
		l.add(p)
		if l.len() != i+1 {
			t.Fatalf("len %d after %d adds", l.len(), i+1)
		}
		for j := 0; j <= i; j++ {
			if l.at(j) != want[j] {
				t.Fatalf("after adding %d: at(%d) = %d, want %d", p, j, l.at(j), want[j])
			}
		}
	}
	if l.small != nil {
		t.Errorf("32-bit list kept after promotion")
	}
}

// TestXZDictionaryIsSizedToTheValue: systemd's xz objects state their
// uncompressed size, so a declared 4 GiB dictionary costs nothing; without
// the size it is refused rather than allocated.
func TestXZDictionaryIsSizedToTheValue(t *testing.T) {
	orig, err := os.ReadFile(corpusPath("large-xz.journal"))
	if err != nil {
		t.Fatal(err)
	}
	clean := openBytes(t, orig, Config{})
	i, p := firstCompressed(t, clean, objectCompressedXZ)
	want, err := clean.EntryAt(i)
	if err != nil || want.Damaged {
		t.Fatalf("clean entry %d: %v %v", i, err, want)
	}
	size := le.Uint64(orig[p+8:])
	payload := orig[p+dataPayloadRegular : p+size]
	bh, ok := parseXZBlockHeader(payload)
	if !ok || !bh.hasSize {
		t.Fatalf("systemd's xz block header not understood (ok=%v, size stated=%v)", ok, bh.hasSize)
	}
	if got := xzDictCodeFor(bh.size); got >= bh.dictCode {
		t.Fatalf("dictionary code %d for %d bytes is not below the declared %d", got, bh.size, bh.dictCode)
	}

	tests := []struct {
		name    string
		patch   func(b []byte, h xzBlockHeader)
		damaged bool
	}{
		{"a declared 4 GiB dictionary is shrunk to the value and decodes", func(b []byte, h xzBlockHeader) { h.setDictCode(b, 40) }, false},
		{"a 4 GiB dictionary without a stated size is refused", func(b []byte, h xzBlockHeader) {
			// Clear the "uncompressed size present" flag; the varint stays
			// as padding-like garbage, which the size check rejects first.
			b[h.start+1] &^= 0x80
			h.setDictCode(b, 40)
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := append([]byte(nil), orig...)
			tt.patch(b[p+dataPayloadRegular:p+size], bh)
			f := openBytes(t, b, Config{})
			e, err := f.EntryAt(i)
			if err != nil {
				t.Fatal(err)
			}
			if e.Damaged != tt.damaged {
				t.Fatalf("Damaged=%v (%v), want %v", e.Damaged, e.Problems, tt.damaged)
			}
			if !tt.damaged && !bytes.Equal(AppendExport(nil, e), AppendExport(nil, want)) {
				t.Fatalf("decoded entry differs from the clean one")
			}
		})
	}
}
