package spool

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"github.com/logspool/logspool/spool/record"
)

func (s *Spool) insertDeadLocked(e deadMeta) {
	i, _ := slices.BinarySearchFunc(s.dead, e.first, func(a deadMeta, f uint64) int { return cmp.Compare(a.first, f) })
	s.dead = slices.Insert(s.dead, i, e)
	s.deadCount += int64(e.count)
	s.deadBytes += e.bytes
}

func (s *Spool) removeDeadLocked(e deadMeta) {
	i, ok := slices.BinarySearchFunc(s.dead, e.first, func(a deadMeta, f uint64) int { return cmp.Compare(a.first, f) })
	if !ok {
		return
	}
	s.dead = slices.Delete(s.dead, i, i+1)
	s.deadCount -= int64(e.count)
	s.deadBytes -= e.bytes
}

// readDead reads and decodes one dead-letter entry.
func (s *Spool) readDead(m deadMeta) ([]deadItem, error) {
	k := deadKey(deadMeta{first: m.first, last: m.last, count: m.count, bytes: m.bytes})
	if m.r.valid() {
		key, v, _, err := s.dlqLog.read(m.r, nil)
		if err == nil && string(key) != string(k) {
			err = &DamageError{File: s.dlqLog.pathOf(m.r.fid), Offset: m.r.off, Reason: fmt.Sprintf("the entry holds key %x, the index says dead letters %d-%d", key, m.first, m.last)}
		}
		if err != nil {
			return nil, fmt.Errorf("spool: reading dead letters %d-%d: %w", m.first, m.last, err)
		}
		return decodeDead(k, v, m)
	}
	var v []byte
	err := s.view(func(txn *badger.Txn) error {
		item, err := txn.Get(k)
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("spool: reading dead letters %d-%d: %w", m.first, m.last, err)
	}
	return decodeDead(k, v, m)
}

// DeadLetters calls fn for each dead letter, oldest first, with its key.
func (s *Spool) DeadLetters(fn func(key uint64, dl DeadLetter) error) error {
	s.mu.Lock()
	entries := slices.Clone(s.dead)
	s.mu.Unlock()
	for _, m := range entries {
		items, err := s.readDead(m)
		if errors.Is(err, badger.ErrKeyNotFound) {
			continue // retried or dropped meanwhile
		}
		if err != nil {
			return err
		}
		for _, it := range items {
			if err := fn(it.key, it.dl); err != nil {
				return err
			}
		}
	}
	return nil
}

// RetryDeadLetters moves the given dead letters (all when keys is empty) back
// into the queue and returns how many moved. Each dead-letter entry moves in
// one transaction (its records become new segments at the tail of the queue
// in the same write that removes them from the dead-letter area). Retried
// records are admitted even when the spool is over its cap.
func (s *Spool) RetryDeadLetters(keys []uint64) (int, error) {
	return s.editDead(keys, true)
}

// DropDeadLetters deletes the given dead letters (all when keys is empty) and
// returns how many were deleted.
func (s *Spool) DropDeadLetters(keys []uint64) (int, error) {
	return s.editDead(keys, false)
}

func (s *Spool) editDead(keys []uint64, retry bool) (int, error) {
	if s.cfg.ReadOnly {
		return 0, errors.New("spool: editing dead letters: opened read-only")
	}
	s.dlMu.Lock()
	defer s.dlMu.Unlock()
	want := make(map[uint64]bool, len(keys))
	for _, k := range keys {
		want[k] = true
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, ErrClosed
	}
	var entries []deadMeta
	for _, m := range s.dead {
		if len(keys) == 0 {
			entries = append(entries, m)
			continue
		}
		for _, k := range keys {
			if k >= m.first && k <= m.last {
				entries = append(entries, m)
				break
			}
		}
	}
	s.mu.Unlock()

	moved := 0
	for _, m := range entries {
		items, err := s.readDead(m)
		if err != nil {
			return moved, err
		}
		var take, keep []deadItem
		for _, it := range items {
			if len(keys) == 0 || want[it.key] {
				take = append(take, it)
			} else {
				keep = append(keep, it)
			}
		}
		if len(take) == 0 {
			continue
		}
		n, err := s.moveDead(m, take, keep, retry)
		moved += n
		if err != nil {
			return moved, err
		}
	}
	return moved, nil
}

// moveDead rewrites entry m as keep and, when retry is set, appends take to
// the queue, as one unit. The new data is synced before the unit is written.
func (s *Spool) moveDead(m deadMeta, take, keep []deadItem, retry bool) (int, error) {
	var recs []record.Record
	var nbytes int64
	if retry {
		recs = make([]record.Record, len(take))
		for i, it := range take {
			recs[i] = it.dl.Record
			nbytes += int64(it.dl.Record.Size())
		}
	}
	plan := planSegments(recs)
	s.mu.Lock()
	first := s.nextSeq
	s.nextSeq += uint64(len(plan))
	s.mu.Unlock()

	segs := make([]segMeta, len(plan))
	offs := make([]int, len(plan))
	buf := encodeAppend(nil, recs, plan, first, nil, segs, offs)
	kept, err := s.commitDeadMove(m, keep, segs, buf, offs)
	if err != nil {
		verb := "dropping"
		if retry {
			verb = "retrying"
		}
		return 0, fmt.Errorf("spool: %s dead letters %d-%d: %w", verb, m.first, m.last, classifyIOError(s.cfg.Dir, err))
	}
	s.mu.Lock()
	s.removeDeadLocked(m)
	for _, e := range kept {
		s.insertDeadLocked(e)
	}
	if retry {
		s.queuedRecords += int64(len(recs))
		s.queuedBytes += nbytes
		s.segments += int64(len(segs))
		s.insertPendingLocked(segs)
		wake(&s.availCh)
	}
	s.updateGaugesLocked()
	s.mu.Unlock()
	s.dirty.Store(true)
	return len(take), nil
}

// commitDeadMove writes the segments of retried dead letters (synced) and
// the dead letters kept of entry m, then commits one unit that deletes m
// and indexes both; it returns the kept entries.
func (s *Spool) commitDeadMove(m deadMeta, keep []deadItem, segs []segMeta, buf []byte, offs []int) (kept []deadMeta, err error) {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	if len(segs) > 0 {
		refs, err := s.segLog.write(buf, offs)
		if err != nil {
			return nil, err
		}
		for i := range segs {
			segs[i].r = refs[i]
		}
		if err := s.segLog.syncFile(refs[0].fid); err != nil {
			for _, r := range refs {
				s.segLog.release(r)
			}
			return nil, err
		}
	}
	if len(keep) > 0 {
		var err error
		if kept, err = s.writeDeadItems(keep); err != nil {
			return nil, err
		}
	}
	u := s.lastUnit + 1
	err = s.update(func(txn *badger.Txn) error {
		if err := txn.Delete(deadKey(m)); err != nil {
			return err
		}
		for _, e := range kept {
			if err := txn.Set(deadKey(e), encodeIndex(e.r, nil)); err != nil {
				return err
			}
		}
		for _, sm := range segs {
			if err := txn.Set(segKey(sm), encodeIndex(sm.r, nil)); err != nil {
				return err
			}
		}
		return txn.Set(unitKey(u), encodeUnit(unitRec{kind: unitDead, delta: int64(len(kept) + len(segs) - 1)}))
	})
	if err != nil {
		for _, sm := range segs {
			s.segLog.release(sm.r)
		}
		for _, e := range kept {
			s.dlqLog.release(e.r)
		}
		return nil, err
	}
	s.lastUnit = u
	s.indexCount += int64(len(kept) + len(segs) - 1)
	if m.r.valid() {
		s.dlqLog.release(m.r)
	}
	return kept, nil
}

// askDeadTrim wakes the background goroutine to enforce MaxDeadLetterBytes.
func (s *Spool) askDeadTrim() {
	select {
	case s.deadTrimCh <- struct{}{}:
	default:
	}
}

// trimDead drops the oldest dead-letter entries while the dead-letter area
// is over MaxDeadLetterBytes.
func (s *Spool) trimDead() {
	s.dlMu.Lock()
	defer s.dlMu.Unlock()
	for {
		s.mu.Lock()
		if s.closed || s.deadBytes <= s.cfg.MaxDeadLetterBytes || len(s.dead) == 0 {
			s.mu.Unlock()
			return
		}
		m := s.dead[0]
		s.mu.Unlock()
		err := func() error {
			if s.isClosed() {
				return ErrClosed
			}
			s.commitMu.Lock()
			defer s.commitMu.Unlock()
			u := s.lastUnit + 1
			if err := s.update(func(txn *badger.Txn) error {
				if err := txn.Delete(deadKey(m)); err != nil {
					return err
				}
				return txn.Set(unitKey(u), encodeUnit(unitRec{kind: unitDead, delta: -1}))
			}); err != nil {
				return err
			}
			s.lastUnit = u
			s.indexCount--
			if m.r.valid() {
				s.dlqLog.release(m.r)
			}
			return nil
		}()
		if err != nil {
			s.log.Error("dropping the oldest dead letters", "err", err)
			return
		}
		s.mu.Lock()
		s.removeDeadLocked(m)
		s.deadDropped += int64(m.count)
		s.updateGaugesLocked()
		s.mu.Unlock()
		s.dirty.Store(true)
		s.log.Warn("dead-letter area over its cap: dropped the oldest dead letters",
			"dropped", m.count, "bytes", m.bytes, "first_key", m.first, "last_key", m.last,
			"max_dead_letter_bytes", s.cfg.MaxDeadLetterBytes)
	}
}

// writeDead writes dead letters numbered from first to the dead-letter data
// files as entries of a few MiB and syncs them.
func (s *Spool) writeDead(dead []DeadLetter, first uint64) ([]deadMeta, error) {
	if len(dead) == 0 {
		return nil, nil
	}
	items := make([]deadItem, len(dead))
	for i := range dead {
		items[i] = deadItem{key: first + uint64(i), dl: dead[i]}
	}
	return s.writeDeadItems(items)
}

// writeDeadItems writes items (numbers increasing) as dead-letter entries
// and syncs them.
func (s *Spool) writeDeadItems(items []deadItem) ([]deadMeta, error) {
	var entries []deadMeta
	var buf []byte
	var offs []int
	lo, size := 0, 0
	flush := func(hi int) {
		m := deadMeta{first: items[lo].key, last: items[hi-1].key, count: uint32(hi - lo)}
		for i := lo; i < hi; i++ {
			m.bytes += deadSize(&items[i].dl)
		}
		offs = append(offs, len(buf))
		buf = appendEntry(buf, deadKey(m), encodeDead(nil, items[lo:hi]))
		entries = append(entries, m)
		lo, size = hi, 0
	}
	for i := range items {
		n := encodedDeadLen(&items[i].dl)
		if i > lo && size+n > 4<<20 {
			flush(i)
		}
		size += n
	}
	flush(len(items))
	refs, err := s.dlqLog.write(buf, offs)
	if err != nil {
		return nil, fmt.Errorf("spool: writing %d dead letters: %w", len(items), classifyIOError(s.cfg.Dir, err))
	}
	for i := range entries {
		entries[i].r = refs[i]
	}
	if err := s.dlqLog.syncFile(refs[0].fid); err != nil {
		for _, r := range refs {
			s.dlqLog.release(r)
		}
		return nil, fmt.Errorf("spool: syncing dead letters: %w", classifyIOError(s.cfg.Dir, err))
	}
	return entries, nil
}
