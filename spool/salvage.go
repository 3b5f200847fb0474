package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// SalvageReport says what Salvage found and did.
type SalvageReport struct {
	Dir string
	// Damaged lists every damaged entry or region, with where its raw bytes
	// were quarantined.
	Damaged []SalvagedDamage
	// RecordsKept is what the queue holds afterwards; RecordsLost the
	// records of damaged entries (read again from their sources when
	// Rewound names them and the lines are still on disk).
	RecordsKept, RecordsLost int64
	// Rewound maps each rewound source checkpoint key to what happened.
	Rewound map[string]string
	// Rebuilt is set when the index itself was damaged and rebuilt from the
	// data files; the old index files were moved to Quarantine.
	Rebuilt bool
	// IndexError is why the index was rebuilt.
	IndexError string
	// Quarantine is the directory holding the damaged bytes, raw.
	Quarantine string
}

// SalvagedDamage is one damaged entry or region.
type SalvagedDamage struct {
	File        string
	Offset      int64
	Bytes       int64
	Records     int64 // 0 when unknown (a damaged region of a data file)
	Reason      string
	Quarantined string
}

// Salvage repairs a damaged spool in place (the agent must be stopped): it
// keeps every intact record, copies the bytes of every damaged entry raw into
// DIR/quarantine, removes them from the queue, and rewinds the checkpoints of
// the sources whose records they held to the positions before them, so that
// the lines still on disk are read again (their _ids are the same, so
// Elasticsearch keeps one copy). When the index itself (Badger's MANIFEST,
// tables or logs) is damaged, its files are quarantined and a new index is
// built from the data files: every intact record is queued again (some may
// be delivered a second time under the same _id) and each source resumes at
// the last position found beside its records.
func Salvage(cfg Config) (*SalvageReport, error) {
	cfg.ReadOnly = false
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	rep := &SalvageReport{Dir: cfg.Dir, Rewound: make(map[string]string),
		Quarantine: filepath.Join(cfg.Dir, quarantineDirName)}
	s, err := open(cfg, true)
	if err == nil {
		return rep, s.salvageEntries(rep)
	}
	switch {
	case errors.Is(err, ErrLocked), errors.Is(err, ErrPermission), errors.Is(err, ErrReadOnlyFS),
		errors.Is(err, ErrNoSpace), errors.Is(err, ErrUnclean), errors.Is(err, ErrNewerLayout):
		return nil, err
	case errors.Is(err, ErrNotSpool) && !hasDataFiles(cfg.Dir):
		return nil, err
	}
	rep.Rebuilt = true
	rep.IndexError = err.Error()
	if err := rebuild(cfg, rep); err != nil {
		return rep, err
	}
	return rep, nil
}

// quarantineDirName is the directory in the spool's where Salvage copies
// damaged bytes.
const quarantineDirName = "quarantine"

func hasDataFiles(dir string) bool {
	segs, _ := listDataFiles(filepath.Join(dir, dataDirName), ".seg")
	dlq, _ := listDataFiles(filepath.Join(dir, dataDirName), ".dlq")
	return len(segs)+len(dlq) > 0
}

// quarantine copies n bytes of path at off (what there is of them) into the
// quarantine directory and returns the copy's path.
func quarantineBytes(qdir, path string, off, n int64) (string, error) {
	if err := os.MkdirAll(qdir, 0o750); err != nil {
		return "", fmt.Errorf("creating %s: %w", qdir, err)
	}
	dst := filepath.Join(qdir, fmt.Sprintf("%s@%d.raw", filepath.Base(path), off))
	in, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("opening %s: %w", path, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return "", fmt.Errorf("creating %s: %w", dst, err)
	}
	if _, err := io.Copy(out, io.NewSectionReader(in, off, n)); err != nil {
		_ = out.Close()
		return "", fmt.Errorf("copying %s to %s: %w", path, dst, err)
	}
	if err := out.Sync(); err != nil {
		_ = out.Close()
		return "", err
	}
	return dst, out.Close()
}

// testHookRepairStep runs after each transaction that salvageEntries
// commits (crash tests).
var testHookRepairStep func()

// quarantineEntry copies the bytes of the damaged entry b into the
// quarantine directory qdir and describes the damage.
func (s *Spool) quarantineEntry(b badEntry, qdir string) (SalvagedDamage, error) {
	d := SalvagedDamage{Records: b.records(), Reason: b.err.Error()}
	r, l := ref{}, s.dlqLog
	if b.seg != nil {
		r, l = b.seg.r, s.segLog
	} else {
		r = b.dead.r
	}
	if r.valid() {
		d.File, d.Offset, d.Bytes = l.pathOf(r.fid), r.off, r.len
		if q, err := quarantineBytes(qdir, d.File, r.off, r.len); err == nil {
			d.Quarantined = q
		} else if !errors.Is(err, os.ErrNotExist) {
			return d, err
		}
	} else if b.seg != nil {
		raw := s.rawBytes(*b.seg)
		d.File, d.Bytes = s.cfg.Dir+" (index value of segment "+fmt.Sprint(b.seg.seq)+")", int64(len(raw))
		if len(raw) > 0 {
			if err := os.MkdirAll(qdir, 0o750); err != nil {
				return d, err
			}
			q := filepath.Join(qdir, fmt.Sprintf("segment-%d.raw", b.seg.seq))
			if err := os.WriteFile(q, raw, 0o640); err != nil {
				return d, fmt.Errorf("writing %s: %w", q, err)
			}
			d.Quarantined = q
		}
	}
	return d, nil
}

// salvageEntries handles damaged entries under an intact index.
func (s *Spool) salvageEntries(rep *SalvageReport) (err error) {
	defer func() {
		if cerr := s.Close(); cerr != nil && err == nil {
			err = cerr
		}
		rep.RecordsKept = s.queuedRecords
	}()
	for _, l := range s.logs {
		rep.Damaged = append(rep.Damaged, l.repaired...)
	}
	bad := slices.Clone(s.bad)
	sort.Slice(bad, func(i, j int) bool {
		a, b := bad[i], bad[j]
		if (a.seg != nil) != (b.seg != nil) {
			return a.seg != nil
		}
		if a.seg != nil {
			return a.seg.seq < b.seg.seq
		}
		return a.dead.first < b.dead.first
	})
	restore := make(map[string]cpVal)
	var keys [][]byte
	for _, b := range bad {
		if b.seg != nil {
			keys = append(keys, segKey(*b.seg))
			rep.RecordsLost += int64(b.seg.count)
			for _, e := range b.from {
				if _, ok := restore[e.key]; !ok {
					restore[e.key] = e.v
				}
			}
		} else {
			keys = append(keys, deadKey(*b.dead))
		}
		d, err := s.quarantineEntry(b, rep.Quarantine)
		if err != nil {
			return err
		}
		rep.Damaged = append(rep.Damaged, d)
	}
	if len(bad) == 0 {
		return nil
	}
	return s.removeDamaged(keys, restore, rep)
}

// removeDamaged rewinds the sources of damaged segments to restore and
// deletes the damaged entries' keys.
func (s *Spool) removeDamaged(keys [][]byte, restore map[string]cpVal, rep *SalvageReport) error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	// Rewind first, then delete the damaged entries newest first, each
	// chunk in a unit of its own: a crash in between leaves the oldest
	// damaged entry of every source in the index (and the count of entries
	// consistent), so that a second salvage rewinds to the same positions.
	commit := func(what string, fn func(txn *badger.Txn) error, delta int64) error {
		u := s.lastUnit + 1
		if err := s.update(func(txn *badger.Txn) error {
			if err := fn(txn); err != nil {
				return err
			}
			return txn.Set(unitKey(u), encodeUnit(unitRec{kind: unitRollback, delta: delta}))
		}); err != nil {
			return fmt.Errorf("%s: %w", what, classifyIOError(s.cfg.Dir, err))
		}
		s.lastUnit = u
		s.indexCount += delta
		if testHookRepairStep != nil {
			testHookRepairStep()
		}
		return nil
	}
	if err := commit("rewinding sources", func(txn *badger.Txn) error { return putCheckpoints(txn, restore) }, 0); err != nil {
		return err
	}
	slices.Reverse(keys)
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), deleteChunk)]
		keys = keys[len(chunk):]
		if err := commit("removing damaged entries", func(txn *badger.Txn) error {
			for _, k := range chunk {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		}, -int64(len(chunk))); err != nil {
			return err
		}
	}
	for k, v := range restore {
		s.cpCur[k] = v
		s.cpChanged[k] = v
		if v.ok {
			rep.Rewound[k] = fmt.Sprintf("rewound to %q", v.val)
		} else {
			rep.Rewound[k] = "rewound to its start (no position before the damaged records)"
		}
	}
	s.bad = nil
	s.dirty.Store(true)
	return nil
}

// rebuild quarantines a damaged index and builds a new one from the data
// files.
func rebuild(cfg Config, rep *SalvageReport) error {
	dir := cfg.Dir
	id, _ := readIdent(dir)
	var sid [16]byte
	if id != nil {
		sid = id.id
	} else if got, ok := dataFileID(dir); ok {
		sid = got
	}
	if err := quarantineIndex(dir, rep); err != nil {
		return err
	}
	segs, dead, cps, err := scanForIndex(dir, sid, rep)
	if err != nil {
		return err
	}
	if err := writeNewIndex(cfg, sid, segs, dead, cps, rep); err != nil {
		return err
	}
	if err := writeIdent(dir, ident{id: sid}); err != nil {
		return classifyIOError(dir, err)
	}
	// Open and close it once: verified, synced, marked clean.
	s, err := open(cfg, false)
	if err != nil {
		return fmt.Errorf("opening the rebuilt spool: %w", err)
	}
	rep.RecordsKept = s.queuedRecords
	return s.Close()
}

// quarantineIndex moves the damaged index's files aside, into a directory
// of their own under the quarantine.
func quarantineIndex(dir string, rep *SalvageReport) error {
	qdir := filepath.Join(rep.Quarantine, "index-"+time.Now().UTC().Format("20060102T150405"))
	ents, err := os.ReadDir(dir)
	if err != nil {
		return classifyIOError(dir, err)
	}
	for _, e := range ents {
		if e.IsDir() || e.Name() == "LOCK" {
			continue
		}
		if err := os.MkdirAll(qdir, 0o750); err != nil {
			return classifyIOError(dir, err)
		}
		if err := os.Rename(filepath.Join(dir, e.Name()), filepath.Join(qdir, e.Name())); err != nil {
			return classifyIOError(dir, fmt.Errorf("moving the damaged index aside: %w", err))
		}
	}
	rep.Damaged = append(rep.Damaged, SalvagedDamage{File: dir, Reason: "the index: " + rep.IndexError, Quarantined: qdir})
	return nil
}

// foundEntry is an entry a salvage found in a data file.
type foundEntry struct {
	key []byte
	r   ref
}

// scanForIndex reads every data file for the entries of a new index: the
// segments, the dead-letter entries and the checkpoints written beside
// them; damaged regions are quarantined and their sources rewound to the
// last position before the first damage.
func scanForIndex(dir string, sid [16]byte, rep *SalvageReport) (segs, dead []foundEntry, cps map[string]cpVal, err error) {
	cps = make(map[string]cpVal)
	cpBefore := make(map[string]cpVal) // the last position of each source before the first damage
	damaged := false
	for _, fam := range []string{".seg", ".dlq"} {
		ddir := filepath.Join(dir, dataDirName)
		fids, err := listDataFiles(ddir, fam)
		if err != nil {
			return nil, nil, nil, classifyIOError(dir, err)
		}
		for _, fid := range fids {
			p := filepath.Join(ddir, fmt.Sprintf("%08d%s", fid, fam))
			if err := repairHeaderOf(p, sid, fid, rep); err != nil {
				return nil, nil, nil, err
			}
			err := scanDataFile(p, sid, fid, func(key, value []byte, r ref) {
				switch {
				case len(key) > 0 && key[0] == prefixSegment:
					segs = append(segs, foundEntry{slices.Clone(key), r})
				case len(key) > 0 && key[0] == prefixDead:
					dead = append(dead, foundEntry{slices.Clone(key), r})
				case len(key) > 0 && key[0] == prefixCheckpoint && len(value) > 0:
					v := cpVal{ok: value[0] == 1, val: slices.Clone(value[1:])}
					cps[string(key[1:])] = v
					if !damaged {
						cpBefore[string(key[1:])] = v
					}
				}
			}, func(off, n int64, why string) {
				damaged = true
				d := SalvagedDamage{File: p, Offset: off, Bytes: n, Reason: why}
				if q, err := quarantineBytes(rep.Quarantine, p, off, n); err == nil {
					d.Quarantined = q
				}
				rep.Damaged = append(rep.Damaged, d)
			})
			if err != nil {
				return nil, nil, nil, err
			}
		}
	}
	if damaged {
		// Records of the damaged regions belong to sources whose position
		// moved after the damage: read them again from before it.
		for k, v := range cpBefore {
			if cur := cps[k]; !cur.ok || string(cur.val) != string(v.val) {
				cps[k] = v
				rep.Rewound[k] = fmt.Sprintf("rewound to %q (the last position before the damage)", v.val)
			}
		}
	}
	return segs, dead, cps, nil
}

// writeNewIndex writes a new index of what the scan found (the latest entry
// of a key wins: a number reused after a rollback was written again later).
func writeNewIndex(cfg Config, sid [16]byte, segs, dead []foundEntry, cps map[string]cpVal, rep *SalvageReport) error {
	dir := cfg.Dir
	db, err := openBadger(cfg)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	lsm := startLSMCompactor(db, cfg.Logger, nil, &mu)
	closeDB := func() error {
		lsm.stop()
		return db.Close()
	}
	latest := func(fs []foundEntry) map[string]ref {
		m := make(map[string]ref)
		for _, f := range fs {
			m[string(f.key)] = f.r
		}
		return m
	}
	var batch []func(txn *badger.Txn) error
	put := func(k, v []byte) {
		batch = append(batch, func(txn *badger.Txn) error { return txn.Set(k, v) })
	}
	for k, r := range latest(segs) {
		if m, ok := parseSegKey([]byte(k)); ok {
			rep.RecordsKept += int64(m.count)
		}
		put([]byte(k), encodeIndex(r, nil))
	}
	for k, r := range latest(dead) {
		put([]byte(k), encodeIndex(r, nil))
	}
	for k, v := range cps {
		if v.ok {
			put(checkpointKey(k), v.val)
		}
	}
	put(metaVersionKey, []byte{layoutVersion})
	put(metaIDKey, sid[:])
	for i := 0; i < len(batch); i += 1000 {
		chunk := batch[i:min(len(batch), i+1000)]
		if err := db.Update(func(txn *badger.Txn) error {
			for _, f := range chunk {
				if err := f(txn); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			_ = closeDB()
			return fmt.Errorf("writing the new index: %w", classifyIOError(dir, err))
		}
		lsm.kick()
	}
	if err := closeDB(); err != nil {
		return fmt.Errorf("closing the new index: %w", err)
	}
	return nil
}

// repairHeaderOf rewrites the header of data file p when it is damaged
// (rebuild), reporting it.
func repairHeaderOf(p string, sid [16]byte, fid uint64, rep *SalvageReport) error {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return classifyIOError(rep.Dir, fmt.Errorf("opening %s: %w", p, err))
	}
	defer f.Close()
	why := checkDataHeader(f, sid, fid)
	if why == nil {
		return nil
	}
	d, err := repairDataHeader(f, p, sid, fid, rep.Quarantine, why)
	if err != nil {
		return classifyIOError(rep.Dir, err)
	}
	rep.Damaged = append(rep.Damaged, d)
	return nil
}

// dataFileID reads the spool id from the data files' headers: the id most
// of them carry (one damaged header must not name the spool).
func dataFileID(dir string) ([16]byte, bool) {
	ddir := filepath.Join(dir, dataDirName)
	votes := make(map[[16]byte]int)
	var best [16]byte
	for _, fam := range []string{".seg", ".dlq"} {
		fids, _ := listDataFiles(ddir, fam)
		for _, fid := range fids {
			b := make([]byte, dataHeaderLen)
			f, err := os.Open(filepath.Join(ddir, fmt.Sprintf("%08d%s", fid, fam)))
			if err != nil {
				continue
			}
			_, err = f.ReadAt(b, 0)
			_ = f.Close()
			if err == nil && string(b[:8]) == dataFileMagic {
				id := [16]byte(b[10:26])
				votes[id]++
				if votes[id] > votes[best] {
					best = id
				}
			}
		}
	}
	return best, len(votes) > 0
}

// scanDataFile reads every intact entry of a data file, skipping over
// damaged regions (reported with their extent).
func scanDataFile(p string, id [16]byte, fid uint64, entry func(key, value []byte, r ref), bad func(off, n int64, why string)) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	end := int64(len(trimZeros(b)))
	off := int64(dataHeaderLen)
	if len(b) < dataHeaderLen || string(b[:8]) != dataFileMagic || [16]byte(b[10:26]) != id {
		bad(0, min(end, dataHeaderLen), "bad file header")
	}
	badStart := int64(-1)
	for off < end {
		n, ok := entryAt(b, off)
		if !ok {
			if badStart < 0 {
				badStart = off
			}
			off++
			continue
		}
		if badStart >= 0 {
			bad(badStart, off-badStart, "entries fail their checksums")
			badStart = -1
		}
		body := b[off+entryHeaderLen : off+n]
		kl, k := binary.Uvarint(body)
		entry(body[k:k+int(kl)], body[k+int(kl):], ref{fid: fid, off: off, len: n})
		off += n
	}
	if badStart >= 0 {
		bad(badStart, end-badStart, "entries fail their checksums (a torn or damaged end)")
	}
	return nil
}

// entryAt reports whether a valid entry starts at off, and its length.
func entryAt(b []byte, off int64) (int64, bool) {
	if off+entryHeaderLen+2 > int64(len(b)) {
		return 0, false
	}
	n := int64(binary.LittleEndian.Uint32(b[off+4:]))
	if n < entryHeaderLen+2 || off+n > int64(len(b)) {
		return 0, false
	}
	body := b[off+entryHeaderLen : off+n]
	kl, k := binary.Uvarint(body)
	// Keys start with a lower-case kind letter (unknown kinds are kept for
	// the caller to skip); the check spares most garbage offsets a checksum.
	if k <= 0 || kl == 0 || kl > 4096 || kl > uint64(len(body)-k) || body[k] < 'a' || body[k] > 'z' {
		return 0, false
	}
	if crc32.Checksum(b[off+4:off+n], castagnoli) != binary.LittleEndian.Uint32(b[off:]) {
		return 0, false
	}
	return n, true
}

func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}
