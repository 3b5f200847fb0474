package journalfile

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"unicode/utf8"
)

// fuzzSeeds are small corpus files covering every layout and compression.
var fuzzSeeds = []string{
	"binary.journal",
	"basic-v247.journal",
	"large-lz4.journal",
	"large-xz.journal",
	"large-zstd.journal",
	"sealed.journal",
	"interleave/node-a-user.journal",
}

// fuzzConfig keeps a fuzzed file from costing much memory.
var fuzzConfig = Config{MaxFieldSize: 1 << 20, WindowSize: 16 << 10, VerifyData: true}

// readEverything opens b and reads every entry, checking the invariants
// that must hold for any input.
func readEverything(t *testing.T, b []byte) {
	f, err := OpenReaderAt(bytes.NewReader(b), int64(len(b)), "fuzz", fuzzConfig)
	if err != nil {
		if !errors.Is(err, ErrNotJournal) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTruncatedHeader) {
			t.Fatalf("Open: unexpected error kind: %v", err)
		}
		return
	}
	defer f.Close()
	if err := f.Refresh(); err != nil {
		t.Fatalf("Refresh of an unchanged input: %v", err)
	}
	if f.NumEntries() > len(b)/8 {
		t.Fatalf("%d entries in %d bytes", f.NumEntries(), len(b))
	}
	var out []byte
	var e Entry
	for i := 0; i < f.NumEntries(); i++ {
		if _, err := f.EntryMeta(i); err != nil {
			var ce *CorruptionError
			if !errors.As(err, &ce) {
				t.Fatalf("EntryMeta(%d): %v", i, err)
			}
		}
		if err := f.ReadEntry(i, &e); err != nil {
			var ce *CorruptionError
			if !errors.As(err, &ce) {
				t.Fatalf("ReadEntry(%d): %v", i, err)
			}
			continue
		}
		out = AppendExport(out[:0], &e)
	}
}

// FuzzFile mutates journal files: header, objects and entry decoding. The
// seeds are cut to 96 KiB (the fuzzer slows down a lot on large inputs);
// a cut file is a salvage case in itself. Run it with -fuzzminimizetime 2s:
// minimizing a large input at the default 60s stalls the fuzzer.
func FuzzFile(f *testing.F) {
	for _, s := range fuzzSeeds {
		b, err := os.ReadFile(corpusPath(s))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 96<<10)])
	}
	f.Add([]byte(signature))
	f.Fuzz(func(t *testing.T, b []byte) { readEverything(t, b) })
}

// FuzzObjectPatch overwrites a few bytes of a real file at a chosen offset,
// which reaches deep into object decoding far more often than mutating a
// whole file does.
func FuzzObjectPatch(f *testing.F) {
	var files [][]byte
	for _, s := range fuzzSeeds {
		b, err := os.ReadFile(corpusPath(s))
		if err != nil {
			f.Fatal(err)
		}
		files = append(files, b)
	}
	f.Add(uint8(0), uint32(152), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}) // n_entries
	f.Add(uint8(1), uint32(176), []byte{1})                                              // entry_array_offset
	f.Add(uint8(2), uint32(70000), []byte{0xde, 0xad, 0xbe, 0xef})
	f.Add(uint8(4), uint32(60000), []byte{1, 4, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Add(uint8(3), uint32(9000), bytes.Repeat([]byte{0}, 64))
	f.Fuzz(func(t *testing.T, which uint8, off uint32, patch []byte) {
		b := append([]byte(nil), files[int(which)%len(files)]...)
		if len(b) == 0 {
			return
		}
		o := int(off) % len(b)
		copy(b[o:], patch)
		readEverything(t, b)
	})
}

// FuzzHeader decodes arbitrary headers.
func FuzzHeader(f *testing.F) {
	b, err := os.ReadFile(corpusPath("basic-v254.journal"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[:headerSizeMax])
	f.Add(b[:headerSizeMin])
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Header
		err := decodeHeader(b, &h)
		if err == nil && (len(b) < headerSizeMin || h.IncompatibleFlags&^IncompatibleKnown != 0) {
			t.Fatalf("accepted a short or unsupported header: %d bytes, flags 0x%x", len(b), h.IncompatibleFlags)
		}
	})
}

// printableReference is a plain statement of systemd's rule, for the
// differential fuzz of printable.
func printableReference(b []byte) bool {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			return false
		}
		switch {
		case r < ' ' && r != '\t', r >= 0x7f && r <= 0x9f:
			return false
		case r >= 0xfdd0 && r <= 0xfdef, r&0xfffe == 0xfffe:
			return false
		}
		b = b[n:]
	}
	return true
}

func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"", "hello\tworld", "a\nb", "\x1b[31mred", "caf\xc3\xa9", "\xc2\x85", "\xef\xb7\x90",
		"\xef\xbf\xbe", "\xed\xa0\x80", "\xc0\x80", "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80", "\xef\xbf\xbd", "\x7f"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := printable(b), printableReference(b); got != want {
			t.Fatalf("printable(%q) = %v, want %v", b, got, want)
		}
		if printable(b) != printable(string(b)) {
			t.Fatalf("printable differs between string and []byte for %q", b)
		}
	})
}
