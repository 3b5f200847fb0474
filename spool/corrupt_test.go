package spool

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logspool/logspool/spool/record"
)

// stoppedSpool is a cleanly closed spool and what it holds.
type stoppedSpool struct {
	dir      string
	appended []uint64        // per source: records appended (checkpoint value)
	acked    map[uint64]bool // delivered and deleted
	dead     map[uint64]bool // dead-lettered
}

// makeStoppedSpool leaves a closed spool in a new directory: three sources'
// records (some incompressible) in several data files, some delivered, some
// dead-lettered, the rest queued.
func makeStoppedSpool(t *testing.T) *stoppedSpool {
	t.Helper()
	sp := &stoppedSpool{dir: t.TempDir(), appended: make([]uint64, crashSources),
		acked: make(map[uint64]bool), dead: make(map[uint64]bool)}
	s := openSpool(t, Config{Dir: sp.dir, MaxBytes: 2 << 20}) // 256 KiB data files
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 40; i++ {
		src := i % crashSources
		n := 20 + rng.IntN(40)
		recs := make([]record.Record, n)
		for j := range recs {
			recs[j] = crashDoc(uint64(src)<<32 | (sp.appended[src] + uint64(j)))
		}
		sp.appended[src] += uint64(n)
		mustAppend(t, s, recs, record.Checkpoint{Key: "src/" + strconv.Itoa(src), Value: crashCpValue(sp.appended[src])})
		if i%10 == 9 {
			l := mustLease(t, s, 64<<10)
			var dead []DeadLetter
			for _, r := range l.Records {
				n := numOf(r.ID)
				if n%7 == 0 {
					dead = append(dead, DeadLetter{Record: r, Reason: "seven", Time: time.Unix(1, 0)})
					sp.dead[n] = true
				} else {
					sp.acked[n] = true
				}
			}
			mustDone(t, l, dead...)
		}
	}
	mustClose(t, s)
	return sp
}

// liveEntry returns a data file and an offset in the middle of a queued
// segment's entry in it.
func liveEntry(t *testing.T, dir string) (string, int64) {
	t.Helper()
	s := openSpool(t, Config{Dir: dir, ReadOnly: true})
	defer s.Close()
	m := s.pending[len(s.pending)/2]
	return s.segLog.pathOf(m.r.fid), m.r.off + m.r.len/2
}

// copyDir copies a directory tree.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o750)
		}
		if d.Name() == "LOCK" {
			return nil
		}
		f, err := readSparse(p)
		if err != nil {
			return err
		}
		writeState(t, dst, map[string]fileSnap{rel: f})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// spoolFiles lists the files of a spool directory (relative paths).
func spoolFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != "LOCK" {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	slices.Sort(out)
	return out
}

// spoolContents is what an opened spool holds.
type spoolContents struct {
	queued, dead map[uint64]bool
	cps          []uint64
}

func readContents(t *testing.T, s *Spool) (spoolContents, error) {
	c := spoolContents{queued: make(map[uint64]bool), dead: make(map[uint64]bool)}
	if err := s.Dump(func(r record.Record) error {
		n := numOf(r.ID)
		if want := crashDoc(n); !bytes.Equal(r.Document(), want.Document()) || (r.Meta == nil) != (want.Meta == nil) || c.queued[n] {
			return fmt.Errorf("record %x is wrong or repeated", n)
		}
		c.queued[n] = true
		return nil
	}); err != nil {
		return c, err
	}
	if err := s.DeadLetters(func(_ uint64, dl DeadLetter) error {
		n := numOf(dl.Record.ID)
		if want := crashDoc(n); !bytes.Equal(dl.Record.Document(), want.Document()) || c.dead[n] {
			return fmt.Errorf("dead letter %x is wrong or repeated", n)
		}
		c.dead[n] = true
		return nil
	}); err != nil {
		return c, err
	}
	for src := 0; src < crashSources; src++ {
		v, err := s.Checkpoint("src/" + strconv.Itoa(src))
		if err != nil {
			return c, err
		}
		var cp uint64
		if len(v) == 8 {
			cp = binary.BigEndian.Uint64(v)
		}
		c.cps = append(c.cps, cp)
	}
	return c, nil
}

// checkExact fails unless the spool holds exactly what sp put in it.
func (sp *stoppedSpool) checkExact(t *testing.T, c spoolContents, what string) {
	t.Helper()
	for src := 0; src < crashSources; src++ {
		if c.cps[src] != sp.appended[src] {
			t.Fatalf("%s: opened, but source %d's checkpoint is %d, want %d: damage went unnoticed", what, src, c.cps[src], sp.appended[src])
		}
		for i := uint64(0); i < sp.appended[src]; i++ {
			n := uint64(src)<<32 | i
			switch {
			case sp.dead[n] && !c.dead[n]:
				t.Fatalf("%s: opened, but dead letter %x is gone: damage went unnoticed", what, n)
			case !sp.acked[n] && !sp.dead[n] && !c.queued[n]:
				t.Fatalf("%s: opened, but record %x is gone: damage went unnoticed", what, n)
			}
		}
	}
}

// checkSalvaged fails unless every record is queued, delivered, dead, or at
// or past its source's checkpoint (read again).
func (sp *stoppedSpool) checkSalvaged(t *testing.T, c spoolContents, rep *SalvageReport, what string) {
	t.Helper()
	lostDead := false
	for _, d := range rep.Damaged {
		lostDead = lostDead || strings.HasSuffix(d.File, ".dlq") || rep.Rebuilt
	}
	for src := 0; src < crashSources; src++ {
		for i := uint64(0); i < sp.appended[src]; i++ {
			n := uint64(src)<<32 | i
			switch {
			case c.queued[n] || sp.acked[n] || c.dead[n] || i >= c.cps[src]:
			case sp.dead[n] && lostDead:
			default:
				t.Fatalf("%s: after salvage record %x (source %d, checkpoint %d) is neither kept nor read again\nreport %+v", what, n, src, c.cps[src], rep)
			}
		}
	}
}

// damage is one way to damage a file.
type damage struct {
	name string
	do   func(t *testing.T, p string)
}

func flipAt(off int64) damage {
	return damage{fmt.Sprintf("flip@%d", off), func(t *testing.T, p string) {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, off); err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0x5a
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}}
}

func truncateAt(off int64) damage {
	return damage{fmt.Sprintf("truncate@%d", off), func(t *testing.T, p string) {
		if err := os.Truncate(p, off); err != nil {
			t.Fatal(err)
		}
	}}
}

func removeFile() damage {
	return damage{"remove", func(t *testing.T, p string) {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}}
}

// damagesFor picks the damages of a file: a few in the fast mode, many under
// LOGSPOOL_TORTURE=1.
func damagesFor(rng *rand.Rand, size int64) []damage {
	n := int64(3)
	if os.Getenv("LOGSPOOL_TORTURE") != "" {
		n = 48
	}
	var offs []int64
	for i := int64(0); i < n && size > 0; i++ {
		offs = append(offs, size*i/n)
	}
	if size > 0 {
		offs = append(offs, size-1, rng.Int64N(size))
	}
	var out []damage
	for _, o := range offs {
		out = append(out, flipAt(o), truncateAt(o))
	}
	return append(out, removeFile())
}

// TestDamageIsRefusedOrRecoveredExactly damages every file of a stopped
// spool (bytes flipped and the file cut at many offsets, or removed) and
// opens it: it must open with exactly its contents, or refuse with an error
// that names a file and points at salvage; after a refusal, salvage must
// keep every intact record and rewind the sources of the others.
func TestDamageIsRefusedOrRecoveredExactly(t *testing.T) {
	sp := makeStoppedSpool(t)
	rng := rand.New(rand.NewPCG(7, 8))
	salvaged := make(map[string]int)
	var opened, refused int
	for _, rel := range spoolFiles(t, sp.dir) {
		fi, err := os.Stat(filepath.Join(sp.dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		size := fi.Size()
		if f, err := readSparse(filepath.Join(sp.dir, rel)); err == nil && filepath.Ext(rel) != ".sst" {
			size = min(size, int64(len(f.data))+1) // damage where the data is, not in the sparse tail
		}
		for _, d := range damagesFor(rng, size) {
			what := rel + " " + d.name
			dir := copyDir(t, sp.dir)
			d.do(t, filepath.Join(dir, rel))
			s, err := Open(Config{Dir: dir, Logger: quietLogger(), MaxBytes: 2 << 20})
			if err == nil {
				c, rerr := readContents(t, s)
				_ = s.Close()
				if rerr != nil {
					t.Fatalf("%s: opened, then reading failed: %v", what, rerr)
				}
				sp.checkExact(t, c, what)
				opened++
				continue
			}
			refused++
			msg := err.Error()
			if !(errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNotSpool)) || !strings.Contains(msg, dir) || !strings.Contains(msg, "salvage") {
				t.Fatalf("%s: Open = %v; want a damage error naming the file and pointing at salvage", what, err)
			}
			if salvaged[rel] >= 2 && os.Getenv("LOGSPOOL_TORTURE") == "" {
				continue
			}
			salvaged[rel]++
			rep, err := Salvage(Config{Dir: dir, Logger: quietLogger(), MaxBytes: 2 << 20})
			if err != nil {
				t.Fatalf("%s: Salvage after %q: %v", what, msg, err)
			}
			s, err = Open(Config{Dir: dir, Logger: quietLogger(), MaxBytes: 2 << 20})
			if err != nil {
				t.Fatalf("%s: Open after salvage: %v (report %+v)", what, err, rep)
			}
			c, rerr := readContents(t, s)
			_ = s.Close()
			if rerr != nil {
				t.Fatalf("%s: reading after salvage: %v", what, rerr)
			}
			sp.checkSalvaged(t, c, rep, what)
		}
	}
	t.Logf("%d damaged spools opened exactly, %d refused (and salvaged)", opened, refused)
}

func TestOpenReportsADamagedSpool(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string) string // returns the directory to open
		want   string                                // in the error message
	}{
		{"a garbled MANIFEST is reported", func(t *testing.T, dir string) string {
			flipAt(3).do(t, filepath.Join(dir, "MANIFEST"))
			return dir
		}, "MANIFEST"},
		{"a truncated MANIFEST is reported, not opened as an empty spool", func(t *testing.T, dir string) string {
			truncateAt(8).do(t, filepath.Join(dir, "MANIFEST"))
			return dir
		}, "MANIFEST"},
		{"a missing MANIFEST is reported", func(t *testing.T, dir string) string {
			removeFile().do(t, filepath.Join(dir, "MANIFEST"))
			return dir
		}, "MANIFEST"},
		{"a missing SST file is reported", func(t *testing.T, dir string) string {
			files, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
			removeFile().do(t, files[0])
			return dir
		}, ".sst"},
		{"a damaged data file is reported with the offset and the records", func(t *testing.T, dir string) string {
			p, off := liveEntry(t, dir)
			flipAt(off).do(t, p)
			return dir
		}, ".seg is damaged at offset"},
		{"a missing data file is reported", func(t *testing.T, dir string) string {
			p, _ := liveEntry(t, dir)
			removeFile().do(t, p)
			return dir
		}, "missing"},
		{"a garbled identity file is reported", func(t *testing.T, dir string) string {
			flipAt(12).do(t, filepath.Join(dir, identName))
			return dir
		}, identName},
	}
	sp := makeStoppedSpool(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.damage(t, copyDir(t, sp.dir))
			s, err := Open(Config{Dir: dir, Logger: quietLogger()})
			if err == nil {
				_ = s.Close()
				t.Fatal("Open of a damaged spool succeeded")
			}
			var oe *OpenError
			if !errors.As(err, &oe) || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), dir) ||
				!strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "logspool spool salvage --spool-dir "+dir) {
				t.Fatalf("Open = %v, want an *OpenError naming %s, saying %q and pointing at salvage", err, dir, tt.want)
			}
			t.Log(err)
		})
	}
}

func TestOpenRefusesWhatIsNotASpool(t *testing.T) {
	t.Run("a directory of other files", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Open(Config{Dir: dir, Logger: quietLogger()})
		if !errors.Is(err, ErrNotSpool) || !strings.Contains(err.Error(), "notes.txt") {
			t.Fatalf("Open = %v, want ErrNotSpool naming notes.txt", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); err == nil {
			t.Fatal("Open wrote into a foreign directory")
		}
	})
	t.Run("a file where the directory should be", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "spool")
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(Config{Dir: p, Logger: quietLogger()}); err == nil || !strings.Contains(err.Error(), "not a directory") {
			t.Fatalf("Open = %v, want not a directory", err)
		}
	})
}

// TestSalvageKeepsIntactRecordsAndRewinds damages one segment in the middle
// of a data file: salvage quarantines its bytes raw, keeps every other
// record and rewinds its source to just before it.
func TestSalvageKeepsIntactRecordsAndRewinds(t *testing.T) {
	sp := makeStoppedSpool(t)
	dir := copyDir(t, sp.dir)
	p, off := liveEntry(t, dir)
	flipAt(off).do(t, p)
	_, err := Open(Config{Dir: dir, Logger: quietLogger()})
	var de *DamageError
	if !errors.As(err, &de) || de.Records == 0 || de.File != p || de.Offset == 0 {
		t.Fatalf("Open = %v, want a *DamageError naming %s, the offset and the records affected", err, p)
	}
	rep, err := Salvage(Config{Dir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Damaged) != 1 || rep.Damaged[0].Quarantined == "" || rep.RecordsLost == 0 || len(rep.Rewound) != 1 {
		t.Fatalf("report %+v: want one damaged segment quarantined, its records lost and its source rewound", rep)
	}
	raw, err := os.ReadFile(rep.Damaged[0].Quarantined)
	if err != nil || int64(len(raw)) != rep.Damaged[0].Bytes || len(raw) == 0 {
		t.Fatalf("quarantined %d bytes (%v), want the %d raw bytes of the entry", len(raw), err, rep.Damaged[0].Bytes)
	}
	s := openSpool(t, Config{Dir: dir})
	c, err := readContents(t, s)
	if err != nil {
		t.Fatal(err)
	}
	sp.checkSalvaged(t, c, rep, "one damaged segment")
	if int64(len(c.queued)) != rep.RecordsKept {
		t.Fatalf("%d records queued, the report says %d kept", len(c.queued), rep.RecordsKept)
	}
	t.Logf("report: %+v", rep)
}

// TestSalvageRepairsDamagedDataFileHeaders damages each field of a data
// file's header (magic, version, spool id, file number), alone and together
// with a lost index: the entries after the header are intact, so salvage
// must keep every record exactly (not drop the file's records and lean on
// sources that may be gone) and leave a spool that opens.
func TestSalvageRepairsDamagedDataFileHeaders(t *testing.T) {
	sp := makeStoppedSpool(t)
	fields := []struct {
		name string
		off  int64
	}{{"magic", 2}, {"version", 8}, {"spool id", 12}, {"file number", 28}}
	for _, f := range fields {
		for _, lostIndex := range []bool{false, true} {
			name := "the " + f.name
			if lostIndex {
				name += " and the MANIFEST"
			}
			t.Run(name, func(t *testing.T) {
				dir := copyDir(t, sp.dir)
				p, _ := liveEntry(t, dir)
				flipAt(f.off).do(t, p)
				if lostIndex {
					removeFile().do(t, filepath.Join(dir, "MANIFEST"))
				}
				if s, err := Open(Config{Dir: dir, Logger: quietLogger(), MaxBytes: 2 << 20}); err == nil {
					_ = s.Close()
					t.Fatal("Open of a spool with a damaged data file header succeeded")
				} else if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "salvage") {
					t.Fatalf("Open = %v, want a damage error pointing at salvage", err)
				}
				rep, err := Salvage(Config{Dir: dir, Logger: quietLogger(), MaxBytes: 2 << 20})
				if err != nil {
					t.Fatalf("Salvage: %v", err)
				}
				headerKept := false
				for _, d := range rep.Damaged {
					if d.File == p && d.Offset == 0 && d.Quarantined != "" {
						raw, err := os.ReadFile(d.Quarantined)
						headerKept = err == nil && len(raw) == dataHeaderLen
					}
				}
				if !headerKept {
					t.Errorf("report %+v: want the damaged header of %s quarantined raw", rep.Damaged, p)
				}
				s, err := Open(Config{Dir: dir, Logger: quietLogger(), MaxBytes: 2 << 20})
				if err != nil {
					t.Fatalf("Open after salvage: %v (report %+v)", err, rep)
				}
				c, err := readContents(t, s)
				_ = s.Close()
				if err != nil {
					t.Fatal(err)
				}
				if lostIndex {
					sp.checkSalvaged(t, c, rep, name)
				} else {
					sp.checkExact(t, c, name)
				}
				for src := 0; src < crashSources; src++ {
					for i := uint64(0); i < sp.appended[src]; i++ {
						if n := uint64(src)<<32 | i; !sp.acked[n] && !sp.dead[n] && !c.queued[n] && !lostIndex {
							t.Fatalf("record %x of an intact entry was dropped", n)
						} else if !sp.acked[n] && !sp.dead[n] && !c.queued[n] && !c.dead[n] {
							t.Fatalf("record %x of an intact entry was dropped from the rebuilt index", n)
						}
					}
				}
			})
		}
	}
}

// TestSalvageRefusesASpoolOfANewerLayout: a spool a newer logspool wrote is
// not damaged; salvage must refuse it and leave every file where it is
// (rebuilding it would throw its index away).
func TestSalvageRefusesASpoolOfANewerLayout(t *testing.T) {
	sp := makeStoppedSpool(t)
	dir := copyDir(t, sp.dir)
	p := filepath.Join(dir, identName)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint16(b[8:], layoutVersion+1)
	binary.LittleEndian.PutUint32(b[60:], crc32.Checksum(b[:60], castagnoli))
	if err := os.WriteFile(p, b, 0o640); err != nil {
		t.Fatal(err)
	}
	before := spoolFiles(t, dir)
	if _, err := Open(Config{Dir: dir, Logger: quietLogger()}); !errors.Is(err, ErrNotSpool) || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open = %v, want ErrNotSpool saying a newer logspool wrote it", err)
	}
	rep, err := Salvage(Config{Dir: dir, Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Salvage = %+v, %v; want a refusal saying a newer logspool wrote the spool", rep, err)
	}
	if after := spoolFiles(t, dir); !slices.Equal(before, after) {
		t.Fatalf("Salvage of a newer spool changed its files:\nbefore %v\nafter  %v", before, after)
	}
}

// TestSalvageCrashAtEveryStepLosesNothing damages several segments of
// different sources and takes a copy of the directory after every
// transaction Salvage commits, as a kill -9 at that moment leaves it (the
// page cache survives): salvaging and opening each copy must keep every
// record or rewind its source to before it, as an uninterrupted salvage
// does.
func TestSalvageCrashAtEveryStepLosesNothing(t *testing.T) {
	sp := makeStoppedSpool(t)
	dir := copyDir(t, sp.dir)
	s := openSpool(t, Config{Dir: dir, ReadOnly: true})
	type spot struct {
		p   string
		off int64
	}
	var spots []spot
	for _, i := range []int{len(s.pending) / 5, len(s.pending) / 3, len(s.pending) / 2, len(s.pending) * 4 / 5} {
		m := s.pending[i]
		spots = append(spots, spot{s.segLog.pathOf(m.r.fid), m.r.off + m.r.len/2})
	}
	_ = s.Close()
	for _, sp := range spots {
		flipAt(sp.off).do(t, sp.p)
	}
	defer func(n int) { deleteChunk = n }(deleteChunk)
	deleteChunk = 1 // a transaction per deleted entry: more places to crash
	var snaps []string
	testHookRepairStep = func() { snaps = append(snaps, copyDir(t, dir)) }
	defer func() { testHookRepairStep = nil }()
	rep, err := Salvage(Config{Dir: dir, Logger: quietLogger()})
	testHookRepairStep = nil
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) < 5 {
		t.Fatalf("%d steps seen, want one per transaction", len(snaps))
	}
	check := func(what, d string, rep *SalvageReport) {
		t.Helper()
		s, err := Open(Config{Dir: d, Logger: quietLogger()})
		if err != nil {
			t.Fatalf("%s: Open: %v (report %+v)", what, err, rep)
		}
		c, err := readContents(t, s)
		_ = s.Close()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		sp.checkSalvaged(t, c, rep, what)
	}
	check("uninterrupted", dir, rep)
	for i, snap := range snaps {
		what := fmt.Sprintf("killed after step %d of %d", i+1, len(snaps))
		// The agent started on it must refuse or hold what salvage kept.
		if s, err := Open(Config{Dir: snap, Logger: quietLogger()}); err == nil {
			c, err := readContents(t, s)
			_ = s.Close()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			sp.checkSalvaged(t, c, &SalvageReport{}, what+", then started")
			continue
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: Open = %v, want it opened or refused as damaged", what, err)
		}
		rep, err := Salvage(Config{Dir: snap, Logger: quietLogger()})
		if err != nil {
			t.Fatalf("%s: Salvage again: %v", what, err)
		}
		check(what, snap, rep)
	}
}
