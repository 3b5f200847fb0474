package spool

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// badEntry is an index entry whose data failed its check at Open.
type badEntry struct {
	seg  *segMeta  // a segment, or
	dead *deadMeta // a dead-letter entry
	from []cpEntry // the checkpoints a damaged segment's Append moved from
	unit uint64    // the Append unit above the marker that wrote it, if any
	err  error
}

func (b badEntry) records() int64 {
	if b.seg != nil {
		return int64(b.seg.count)
	}
	return int64(b.dead.count)
}

func (b badEntry) where() (file string, off int64) {
	var de *DamageError
	if errors.As(b.err, &de) {
		return de.File, de.Offset
	}
	return "", 0
}

// loaded is what load read from the index, before it is applied.
type loaded struct {
	marker uint64
	units  map[uint64]unitRec
	segs   []segMeta
	from   map[uint64][]cpEntry // segment seq -> checkpoints its Append moved from
	dead   []deadMeta
	bad    []badEntry
}

// load reads the index, verifies every entry's data, recovers from an
// interrupted write-back (see units.go) and rebuilds the in-memory state.
// With salvage set, damaged entries are left in s.bad instead of refusing.
func (s *Spool) load(id *ident, legacy, salvage bool) error {
	dir := s.cfg.Dir
	ld := loaded{units: make(map[uint64]unitRec), from: make(map[uint64][]cpEntry)}
	version, mid, err := s.readIndex(&ld)
	if err != nil {
		return fmt.Errorf("%w: reading the index: %v: %s", ErrCorrupt, err, salvageAdvice(dir))
	}
	if legacy, err = s.checkIdentity(&ld, id, legacy, version, mid); err != nil {
		return err
	}
	if err := s.openLogs(); err != nil {
		return err
	}
	s.verifyData(&ld)
	above, anomaly, damage := ld.sortDamage()
	if err := ld.checkCounts(dir, id, above, anomaly, damage); err != nil {
		return err
	}
	if len(damage) > 0 && !salvage {
		return damageReport(dir, damage)
	}
	s.bad = damage

	// Roll back.
	var lastUnit uint64 = ld.marker
	if len(above) > 0 {
		lastUnit = above[len(above)-1]
	}
	if anomaly != "" {
		if s.cfg.ReadOnly {
			return fmt.Errorf("%w: the last writes before a crash were written back out of order and must be rolled back; start the agent (or open it read-write) once (%s)", ErrUnclean, anomaly)
		}
		ld.segs, err = s.rollback(&ld, above, anomaly)
		if err != nil {
			return err
		}
		lastUnit = ld.marker // the rollback unit
	}
	s.restore(&ld, id, lastUnit)
	if !s.cfg.ReadOnly && !salvage {
		for _, l := range s.logs {
			l.sealAll()
		}
	}
	return nil
}

// readIndex reads the meta keys, the checkpoints and every unit, segment
// and dead-letter index entry into ld; entries whose index values are
// garbled go to ld.bad.
func (s *Spool) readIndex(ld *loaded) (version, mid []byte, err error) {
	dir := s.cfg.Dir
	err = s.db.View(func(txn *badger.Txn) error {
		get := func(k []byte) ([]byte, error) {
			item, err := txn.Get(k)
			if errors.Is(err, badger.ErrKeyNotFound) {
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
			return item.ValueCopy(nil)
		}
		var err error
		if version, err = get(metaVersionKey); err != nil {
			return fmt.Errorf("reading the layout version: %w", err)
		}
		if mid, err = get(metaIDKey); err != nil {
			return fmt.Errorf("reading the spool id: %w", err)
		}
		mc, err := get(metaCommitKey)
		if err != nil {
			return fmt.Errorf("reading the commit marker: %w", err)
		}
		if len(mc) == 8 {
			ld.marker = binary.BigEndian.Uint64(mc)
		}
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			k := item.Key()
			switch k[0] {
			case prefixCheckpoint:
				v, err := item.ValueCopy(nil)
				if err != nil {
					return fmt.Errorf("reading checkpoint %q: %w", k[1:], err)
				}
				s.cpCur[string(k[1:])] = cpVal{val: v, ok: true}
			case prefixUnit:
				if len(k) != 9 {
					continue
				}
				v, err := item.ValueCopy(nil)
				if err != nil {
					return fmt.Errorf("reading unit %x: %w", k, err)
				}
				u, err := decodeUnit(v)
				if err != nil {
					return &DamageError{File: dir, Reason: fmt.Sprintf("unit record %x is garbled (%v): %s", k, err, salvageAdvice(dir))}
				}
				ld.units[binary.BigEndian.Uint64(k[1:])] = u
			case prefixSegment:
				s.readSegmentEntry(ld, k, item)
			case prefixDead:
				s.readDeadEntry(ld, k, item)
			}
		}
		return nil
	})
	return version, mid, err
}

// readSegmentEntry adds the segment index entry k to ld.
func (s *Spool) readSegmentEntry(ld *loaded, k []byte, item *badger.Item) {
	dir := s.cfg.Dir
	m, ok := parseSegKey(k)
	if !ok {
		s.log.Warn("ignoring a malformed segment key", "key", fmt.Sprintf("%x", k))
		return
	}
	if err := item.Value(func(v []byte) error {
		r, from, isRef, err := decodeIndex(v)
		if err != nil {
			ld.bad = append(ld.bad, badEntry{seg: &m, err: &DamageError{File: dir, Reason: fmt.Sprintf("index entry of segment %d is garbled: %v", m.seq, err)}})
			return nil
		}
		if isRef {
			m.r = r
			if len(from) > 0 {
				ld.from[m.seq] = from
			}
		} else if _, err := checkValue(k, v); err != nil {
			ld.bad = append(ld.bad, badEntry{seg: &m, err: err})
			return nil
		}
		ld.segs = append(ld.segs, m)
		return nil
	}); err != nil {
		mm := m
		ld.bad = append(ld.bad, badEntry{seg: &mm, err: &DamageError{File: dir, Reason: fmt.Sprintf("reading segment %d from the value log: %v", m.seq, err)}})
	}
}

// readDeadEntry adds the dead-letter index entry k to ld.
func (s *Spool) readDeadEntry(ld *loaded, k []byte, item *badger.Item) {
	dir := s.cfg.Dir
	m, ok := parseDeadKey(k)
	if !ok {
		s.log.Warn("ignoring a malformed dead-letter key", "key", fmt.Sprintf("%x", k))
		return
	}
	if err := item.Value(func(v []byte) error {
		r, _, isRef, err := decodeIndex(v)
		if err == nil && isRef {
			m.r = r
		} else if err == nil {
			_, err = checkValue(k, v)
		}
		if err != nil {
			ld.bad = append(ld.bad, badEntry{dead: &m, err: err})
			return nil
		}
		ld.dead = append(ld.dead, m)
		return nil
	}); err != nil {
		mm := m
		ld.bad = append(ld.bad, badEntry{dead: &mm, err: &DamageError{File: dir, Reason: fmt.Sprintf("reading dead letters %d-%d from the value log: %v", m.first, m.last, err)}})
	}
}

// checkIdentity checks the layout version and the spool id the index holds
// against the identity file, and sets s.id; it returns whether the spool is
// a version 1 (legacy) one after all.
func (s *Spool) checkIdentity(ld *loaded, id *ident, legacy bool, version, mid []byte) (bool, error) {
	dir := s.cfg.Dir
	switch {
	case len(version) == 0 && (id != nil || legacy):
		return legacy, &DamageError{File: dir, Reason: "the index is empty (its MANIFEST or tables were lost) but the directory is a spool: " + salvageAdvice(dir)}
	case len(version) == 0:
	case len(version) != 1 || version[0] > layoutVersion || version[0] < minLayoutVersion:
		return legacy, fmt.Errorf("%w: the spool has layout version %v; this build reads versions %d to %d (%w)", ErrNotSpool, version, minLayoutVersion, layoutVersion, ErrNewerLayout)
	case legacy && version[0] != 1 && (len(ld.segs)+len(ld.dead)+len(ld.bad)+len(ld.units) > 0 || len(s.cpCur) > 0):
		return legacy, &DamageError{File: dir + "/" + identName, Reason: "the spool identity file is missing: " + salvageAdvice(dir)}
	case legacy && version[0] != 1:
		legacy = false // a new spool that stopped before its identity file was written
	}
	if id != nil && !bytes.Equal(mid, id.id[:]) {
		return legacy, &DamageError{File: dir, Reason: fmt.Sprintf("the index belongs to another spool (id %x, the identity file says %x): %s", mid, id.id, salvageAdvice(dir))}
	}
	if legacy && len(mid) == 16 {
		copy(s.id[:], mid)
	}
	if len(mid) == 16 && id == nil && !legacy {
		copy(s.id[:], mid)
	}
	return legacy, nil
}

// openLogs opens the data logs.
func (s *Spool) openLogs() error {
	dir := s.cfg.Dir
	for _, l := range s.logs {
		l.id = s.id
		if err := l.open(!s.cfg.ReadOnly); err != nil {
			var de *DamageError
			if errors.As(err, &de) {
				de.Reason += ": " + salvageAdvice(dir)
				return de
			}
			return classifyIOError(dir, err)
		}
	}
	return nil
}

// verifyData reads every entry's data and moves the entries whose data is
// damaged, or holds another key than the index says, from ld to ld.bad.
func (s *Spool) verifyData(ld *loaded) {
	var buf []byte
	keep := ld.segs[:0]
	for _, m := range ld.segs {
		if !m.r.valid() {
			keep = append(keep, m)
			continue
		}
		var key []byte
		var err error
		key, _, buf, err = s.segLog.read(m.r, buf)
		if err == nil && !bytes.Equal(key, segKey(m)) {
			err = &DamageError{File: s.segLog.pathOf(m.r.fid), Offset: m.r.off, Reason: fmt.Sprintf("the entry holds key %x, the index says segment %d", key, m.seq)}
		}
		if err != nil {
			mm := m
			ld.bad = append(ld.bad, badEntry{seg: &mm, from: ld.from[m.seq], err: err})
			continue
		}
		keep = append(keep, m)
	}
	ld.segs = keep
	keepD := ld.dead[:0]
	for _, m := range ld.dead {
		if !m.r.valid() {
			keepD = append(keepD, m)
			continue
		}
		key, _, b, err := s.dlqLog.read(m.r, buf)
		buf = b
		if err == nil && !bytes.Equal(key, deadKey(deadMeta{first: m.first, last: m.last, count: m.count, bytes: m.bytes})) {
			err = &DamageError{File: s.dlqLog.pathOf(m.r.fid), Offset: m.r.off, Reason: fmt.Sprintf("the entry holds key %x, the index says dead letters %d-%d", key, m.first, m.last)}
		}
		if err != nil {
			mm := m
			ld.bad = append(ld.bad, badEntry{dead: &mm, err: err})
			continue
		}
		keepD = append(keepD, m)
	}
	ld.dead = keepD

}

// sortDamage lists the units above the marker and the anomaly that makes
// them roll back (a missing unit, or damage to a segment one of them
// wrote), and returns the damaged entries no such unit explains.
func (ld *loaded) sortDamage() (above []uint64, anomaly string, damage []badEntry) {
	for u := range ld.units {
		if u > ld.marker {
			above = append(above, u)
		}
	}
	slices.Sort(above)
	segUnit := make(map[uint64]uint64)
	for i, u := range above {
		if u != ld.marker+uint64(i)+1 && anomaly == "" {
			anomaly = fmt.Sprintf("unit %d is missing while unit %d is present", ld.marker+uint64(i)+1, u)
		}
		if ld.units[u].kind == unitAppend {
			for _, m := range ld.units[u].segs {
				segUnit[m.seq] = u
			}
		}
	}
	for i := range ld.bad {
		b := &ld.bad[i]
		if b.seg != nil {
			if u, ok := segUnit[b.seg.seq]; ok {
				b.unit = u
				if anomaly == "" {
					anomaly = fmt.Sprintf("segment %d of unit %d: %v", b.seg.seq, u, b.err)
				}
				continue
			}
		}
		damage = append(damage, *b)
	}
	return above, anomaly, damage
}

// checkCounts checks that the index holds what the identity file says it
// held at a clean close, or at its last marker after an unclean stop.
func (ld *loaded) checkCounts(dir string, id *ident, above []uint64, anomaly string, damage []badEntry) error {
	if id != nil && id.clean && len(damage) == 0 {
		count := uint64(len(ld.segs) + len(ld.dead) + len(ld.bad))
		if len(above) > 0 || ld.marker != id.marker || count != id.count {
			return &DamageError{File: dir, Reason: fmt.Sprintf("the index does not hold what the spool held when it was closed (commit marker %d and %d entries, expected %d and %d): its MANIFEST or a table was damaged or replaced: %s",
				ld.marker, count, id.marker, id.count, salvageAdvice(dir))}
		}
	}
	countNow := int64(len(ld.segs) + len(ld.dead) + len(ld.bad))
	if id != nil && !id.clean && anomaly == "" && len(damage) == 0 && id.marker > 0 {
		// After an unclean stop: the index must hold what the identity file
		// says it held at its marker, give or take the units since.
		if ld.marker < id.marker {
			return &DamageError{File: dir, Reason: fmt.Sprintf("the index's commit marker %d is behind the %d it reached (its write-ahead log or tables were lost): %s", ld.marker, id.marker, salvageAdvice(dir))}
		}
		at := countNow
		for u, rec := range ld.units {
			if u > id.marker {
				at -= rec.delta
			}
		}
		if at != int64(id.count) {
			return &DamageError{File: dir, Reason: fmt.Sprintf("the index holds %d entries where it held %d at its last sync (a MANIFEST that lost tables, or a table or log that was removed): %s", at, id.count, salvageAdvice(dir))}
		}
	}
	return nil
}

// restore rebuilds the in-memory queue, dead-letter list and counters from ld.
func (s *Spool) restore(ld *loaded, id *ident, lastUnit uint64) {
	s.indexCount = int64(len(ld.segs) + len(ld.dead) + len(s.bad))
	s.countAtMarker = s.indexCount
	for u, rec := range ld.units {
		if u > ld.marker {
			s.countAtMarker -= rec.delta
		}
	}
	if id != nil {
		s.mirrorMarker = id.marker
	}
	s.lastUnit = lastUnit
	s.marker = ld.marker
	s.unitKeysFrom = ld.marker + 1
	for u := range ld.units {
		s.unitKeysFrom = min(s.unitKeysFrom, u)
	}
	if s.unitKeysFrom == 0 {
		s.unitKeysFrom = 1
	}
	for k, v := range s.cpCur {
		s.cpBase[k] = v
	}
	slices.SortFunc(ld.segs, func(a, b segMeta) int { return cmp.Compare(a.seq, b.seq) })
	for _, m := range ld.segs {
		s.pending = append(s.pending, m)
		s.queuedBytes += m.bytes
		s.queuedRecords += int64(m.count)
		s.segments++
		s.nextSeq = max(s.nextSeq, m.seq+1)
		if m.r.valid() {
			s.segLog.retain(m.r)
		} else {
			s.legacyBytes += m.bytes
		}
	}
	for _, u := range ld.units {
		for _, m := range u.segs {
			s.nextSeq = max(s.nextSeq, m.seq+1)
		}
	}
	for _, b := range s.bad {
		if b.seg != nil {
			s.nextSeq = max(s.nextSeq, b.seg.seq+1)
		}
		if b.dead != nil {
			s.nextDead = max(s.nextDead, b.dead.last+1)
		}
	}
	slices.SortFunc(ld.dead, func(a, b deadMeta) int { return cmp.Compare(a.first, b.first) })
	for _, m := range ld.dead {
		s.dead = append(s.dead, m)
		s.deadCount += int64(m.count)
		s.deadBytes += m.bytes
		s.nextDead = max(s.nextDead, m.last+1)
		if m.r.valid() {
			s.dlqLog.retain(m.r)
		}
	}
}

// damageReport is the error of an Open that found damaged entries.
func damageReport(dir string, damage []badEntry) error {
	var records int64
	files := map[string]bool{}
	for _, b := range damage {
		records += b.records()
		if f, _ := b.where(); f != "" {
			files[f] = true
		}
	}
	first := damage[0]
	file, off := first.where()
	if file == "" {
		file = dir
	}
	reason := first.err.Error()
	var de *DamageError
	if errors.As(first.err, &de) {
		reason = de.Reason
	}
	more := ""
	if len(damage) > 1 {
		more = fmt.Sprintf("; %d damaged entries in %d files in all", len(damage), max(1, len(files)))
	}
	return &DamageError{File: file, Offset: off, Records: records,
		Reason: fmt.Sprintf("%s%s: %s", reason, more, salvageAdvice(dir))}
}

// rollbackPlan returns what rolling back the units above the marker does:
// the positions the sources go back to (see rollback), the segments dropped,
// and how many records they hold.
func (ld *loaded) rollbackPlan(above []uint64) (restore map[string]cpVal, drop map[uint64]bool, records int64) {
	restore = make(map[string]cpVal)
	drop = make(map[uint64]bool)
	gap := false
	for i, u := range above {
		if u != ld.marker+uint64(i)+1 {
			gap = true
		}
		rec := ld.units[u]
		if rec.kind != unitAppend {
			continue
		}
		for j, e := range rec.base {
			if _, ok := restore[e.key]; ok {
				continue
			}
			restore[e.key] = e.v
			if !gap && j < len(rec.from) && rec.from[j].key == e.key {
				restore[e.key] = rec.from[j].v
			}
		}
		for _, m := range rec.segs {
			drop[m.seq] = true
			records += int64(m.count)
		}
	}
	return restore, drop, records
}

// rollback undoes every Append unit above the marker after an interrupted
// write-back: their segments are deleted and the checkpoints they moved are
// put back to where they were at the last barrier, so the readers read those
// lines again. Acks and dead-letter edits above the marker stand (each is
// one transaction whose data was synced first). It returns the segments
// that stay.
func (s *Spool) rollback(ld *loaded, above []uint64, why string) ([]segMeta, error) {
	// Each source goes back to its position at the marker: the position
	// just before its first unit above the marker, as long as no unit is
	// missing before that one (a lost unit may have moved it); after a gap,
	// its position at the barrier before the unit, which is durable with
	// everything before it (and at worst earlier than the marker's: lines
	// read twice, never lost).
	restore, drop, records := ld.rollbackPlan(above)
	var keys [][]byte
	keep := ld.segs[:0]
	for _, m := range ld.segs {
		if drop[m.seq] {
			keys = append(keys, segKey(m))
			continue
		}
		keep = append(keep, m)
	}
	for i := range ld.bad {
		if b := ld.bad[i]; b.seg != nil && drop[b.seg.seq] {
			keys = append(keys, segKey(*b.seg))
		}
	}
	if err := s.deleteKeys(keys); err != nil {
		return nil, fmt.Errorf("rolling back: %w", classifyIOError(s.cfg.Dir, err))
	}
	// The deletions durable before the checkpoints move back and the
	// marker moves past the rolled-back units (one small transaction): a
	// crash in between repeats the same rollback.
	if _, err := s.barrier(); err != nil {
		return nil, fmt.Errorf("rolling back: %w", classifyIOError(s.cfg.Dir, err))
	}
	var sources []string
	next := above[len(above)-1] + 1
	err := s.update(func(txn *badger.Txn) error {
		if err := putCheckpoints(txn, restore); err != nil {
			return err
		}
		if err := txn.Set(metaCommitKey, binary.BigEndian.AppendUint64(nil, next)); err != nil {
			return err
		}
		return txn.Set(unitKey(next), encodeUnit(unitRec{kind: unitRollback, delta: -int64(len(keys))}))
	})
	if err != nil {
		return nil, fmt.Errorf("rolling back: %w", classifyIOError(s.cfg.Dir, err))
	}
	ld.marker = next
	for k, v := range restore {
		if v.ok {
			s.cpCur[k] = v
		} else {
			delete(s.cpCur, k)
		}
		sources = append(sources, k)
	}
	slices.Sort(sources)
	ld.units[next] = unitRec{kind: unitRollback, delta: -int64(len(keys))}
	s.log.Warn("spool: the last writes before a crash reached the disk out of order (a power loss): rolled back the appends since the last sync; their sources are read again from there",
		"units", len(above), "records", records, "sources", strings.Join(sources, ","), "why", why)
	return keep, nil
}

// deleteChunk is how many keys deleteKeys deletes per transaction (a
// variable for the tests).
var deleteChunk = maxUnitKeys

// deleteKeys deletes keys in transactions of at most deleteChunk (each
// deletion is safe on its own).
func (s *Spool) deleteKeys(keys [][]byte) error {
	for i := 0; i < len(keys); i += deleteChunk {
		chunk := keys[i:min(len(keys), i+deleteChunk)]
		if err := s.update(func(txn *badger.Txn) error {
			for _, k := range chunk {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// putCheckpoints sets (or deletes) checkpoints in txn.
func putCheckpoints(txn *badger.Txn, cps map[string]cpVal) error {
	for k, v := range cps {
		var err error
		if v.ok {
			err = txn.Set(checkpointKey(k), v.val)
		} else {
			err = txn.Delete(checkpointKey(k))
		}
		if err != nil {
			return err
		}
	}
	return nil
}
