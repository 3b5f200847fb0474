package systemd

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// TestInputDamageTorture damages real journal files (written by
// systemd-journal-remote, from the corpus) at random, the way disks, crashes
// and hostile writers do, and runs the Input over each damaged file next to
// an intact one. Every poll must return (no loop without end, no panic), the
// intact file must be shipped whole and once, every document must be valid
// JSON in valid UTF-8, and nothing may be shipped twice. The damage kinds:
// truncation anywhere (inside the header too), a zeroed range, random bytes
// over a range, a header field set to an extreme value (n_entries,
// entry_array_offset, the hash table offsets and sizes, header_size,
// tail_object_offset), and a few bytes patched into an object (its type,
// size, compression flag, an entry array item, a DATA payload). make test
// runs damageSeeds; LOGSPOOL_TORTURE=1 runs damageTortureSeeds;
// LOGSPOOL_SEED=n one.
func TestInputDamageTorture(t *testing.T) {
	const damageSeeds, damageTortureSeeds = 24, 1000
	sources := []string{
		"basic-compact.journal", "basic-regular-jenkins.journal", "basic-v247.journal", "basic-v254.journal",
		"binary.journal", "large-lz4.journal", "large-xz.journal", "large-zstd.journal", "sealed.journal",
		"multiboot.journal",
	}
	good := files("interleave/node-b.journal")
	goodCursors, _ := readAllCursors(t, ReaderConfig{Files: []string{good}})
	for _, seed := range testSeeds(t, damageSeeds, damageTortureSeeds) {
		rng := rand.New(rand.NewPCG(seed, 0xda3a6e))
		src := sources[rng.IntN(len(sources))]
		b, err := os.ReadFile(files(src))
		if err != nil {
			t.Fatal(err)
		}
		what := damage(rng, b)
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "damaged.journal"), b[:len(b)-what.cut], 0o644); err != nil {
			t.Fatal(err)
		}
		if err := mustCopyFile(good, filepath.Join(dir, "good.journal")); err != nil {
			t.Fatal(err)
		}
		if err := checkDamagedInput(t, dir, goodCursors); err != nil {
			t.Fatalf("seed %d (%s, %s): %v\n(rerun alone: LOGSPOOL_SEED=%d go test ./systemd -run TestInputDamageTorture -v)",
				seed, src, what.desc, err, seed)
		}
	}
}

type damageDone struct {
	desc string
	cut  int // bytes cut off the end
}

// damage changes b in place (and says how many bytes to cut off its end).
func damage(rng *rand.Rand, b []byte) damageDone {
	le := binary.LittleEndian
	extreme := []uint64{0, 1, 7, 8, 0xff, 1 << 31, 1<<32 - 1, 1 << 32, 1<<63 - 1, 1 << 63, 1<<64 - 1, uint64(len(b)), uint64(len(b)) + 8}
	switch k := rng.IntN(5); k {
	case 0:
		n := rng.IntN(len(b))
		return damageDone{fmt.Sprintf("truncated to %d bytes", n), len(b) - n}
	case 1:
		off, n := rng.IntN(len(b)), 1+rng.IntN(4096)
		clear(b[off:min(off+n, len(b))])
		return damageDone{desc: fmt.Sprintf("%d bytes zeroed at %d", n, off)}
	case 2:
		off, n := rng.IntN(len(b)), 1+rng.IntN(512)
		for i := off; i < min(off+n, len(b)); i++ {
			b[i] = byte(rng.Uint32())
		}
		return damageDone{desc: fmt.Sprintf("%d random bytes at %d", n, off)}
	case 3:
		// header fields: header_size 88, arena_size 96, data hash table
		// 104/112, field hash table 120/128, tail_object_offset 136,
		// n_objects 144, n_entries 152, tail/head seqnums 160/168,
		// entry_array_offset 176, head/tail realtime 184/192.
		fields := []int{88, 96, 104, 112, 120, 128, 136, 144, 152, 160, 168, 176, 184, 192}
		off := fields[rng.IntN(len(fields))]
		v := extreme[rng.IntN(len(extreme))]
		le.PutUint64(b[off:], v)
		return damageDone{desc: fmt.Sprintf("header field at %d set to %#x", off, v)}
	default:
		// A few bytes into an object: somewhere after the header, 8-aligned
		// (object headers, sizes, items and flags sit there).
		off := 272 + 8*rng.IntN((len(b)-280)/8)
		switch rng.IntN(3) {
		case 0:
			b[off] = byte(rng.IntN(10)) // object type
			b[off+1] = byte(rng.IntN(16))
			return damageDone{desc: fmt.Sprintf("object type/flags at %d", off)}
		case 1:
			v := extreme[rng.IntN(len(extreme))]
			le.PutUint64(b[off:], v)
			return damageDone{desc: fmt.Sprintf("8 bytes at %d set to %#x", off, v)}
		default:
			le.PutUint32(b[off:], uint32(rng.Uint64N(uint64(len(b))+64)))
			return damageDone{desc: fmt.Sprintf("an item-like offset at %d", off)}
		}
	}
}

// checkDamagedInput runs an Input over dir (a damaged file and an intact
// one) until a few polls bring nothing new.
func checkDamagedInput(t *testing.T, dir string, goodCursors []string) error {
	sink := newMemSink()
	cfg := testConfig(dir)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Metrics = NewMetrics(nil)
	in, err := NewInput(cfg, sink)
	if err != nil {
		return err
	}
	if err := in.start(); err != nil {
		return err
	}
	defer in.closeAll()
	// An ONLINE file's unreadable tail is waited for maxStalls polls.
	for quiet, polls := 0, 0; quiet < maxStalls+3; polls++ {
		if polls > 200 {
			return fmt.Errorf("still shipping after %d polls", polls)
		}
		before := sink.count()
		in.poll(context.Background())
		if sink.count() == before {
			quiet++
		} else {
			quiet = 0
		}
	}
	seen := map[string]bool{}
	for i, r := range sink.records() {
		if !utf8.Valid(r.Doc) || !json.Valid(r.Doc) {
			return fmt.Errorf("record %d is not valid JSON in UTF-8: %q", i, r.Doc)
		}
		if err := duplicateKey(r.Doc); err != nil {
			return fmt.Errorf("record %d: %v", i, err)
		}
	}
	for _, c := range cursorsOf(t, sink.records()) {
		if seen[c] {
			return fmt.Errorf("entry %s shipped twice", c)
		}
		seen[c] = true
	}
	for _, c := range goodCursors {
		if !seen[c] {
			return fmt.Errorf("entry %s of the intact file was not shipped", c)
		}
	}
	return nil
}
