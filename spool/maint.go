package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// background runs the group commit (sync rounds), legacy value-log GC,
// maintenance and the disk metric.
func (s *Spool) background() {
	defer s.wg.Done()
	syncT := time.NewTicker(s.cfg.SyncInterval)
	defer syncT.Stop()
	gcT := time.NewTicker(s.cfg.GCInterval)
	defer gcT.Stop()
	diskT := time.NewTicker(min(diskInterval, s.cfg.GCInterval))
	defer diskT.Stop()
	var notSyncedLogged time.Time
	round := func() {
		if !s.dirty.Swap(false) && !s.hasDying() {
			return
		}
		if err := s.syncRound(); err != nil {
			s.dirty.Store(true)
			var ns *notSyncedError
			switch {
			case errors.Is(err, ErrSyncFailed): // logged once where it failed
			case errors.As(err, &ns):
				if time.Since(notSyncedLogged) >= time.Minute {
					notSyncedLogged = time.Now()
					s.log.Warn("spool: out of file descriptors; retrying the sync every round (raise RLIMIT_NOFILE)", "err", err)
				}
			default:
				s.log.Error("syncing the spool", "err", err)
			}
			return
		}
		s.mu.Lock()
		wake(&s.spaceCh) // dead data files were unlinked
		s.mu.Unlock()
		s.metrics.disk(s.usedBytes(false))
	}
	for {
		select {
		case <-s.closeCh:
			return
		case <-syncT.C:
			round()
		case <-s.roundCh:
			round()
		case <-gcT.C:
			s.RunGC()
		case <-s.deadTrimCh:
			s.trimDead()
		case <-s.maintCh:
			s.maybeCompact()
			s.trim()
		case <-diskT.C:
			s.lsm.kick() // a table flushed after the compactor went quiet
			s.metrics.disk(s.usedBytes(true))
			s.maybeCompact()
			s.trim()
		}
	}
}

// askRound asks the background goroutine for a sync round now (an append
// waits for space that dead data files hold until the next round).
func (s *Spool) askRound() {
	select {
	case s.roundCh <- struct{}{}:
	default:
	}
}

func (s *Spool) hasDying() bool {
	for _, l := range s.logs {
		l.mu.Lock()
		n := len(l.dying)
		l.mu.Unlock()
		if n > 0 {
			return true
		}
	}
	return false
}

// RunGC runs Badger's value-log GC, which only a version 1 spool (records
// in Badger's value log) needs, until it finds nothing to rewrite (or for at
// most gcBudget). It runs on its own every Config.GCInterval and after every
// Compact.
func (s *Spool) RunGC() {
	if s.cfg.ReadOnly {
		return
	}
	if files, _ := filepath.Glob(filepath.Join(s.cfg.Dir, "*.vlog")); len(files) < 2 {
		return // nothing sealed: nothing to collect
	}
	for start := time.Now(); time.Since(start) < gcBudget; {
		if !s.gcOnce() {
			return
		}
	}
}

// gcOnce runs one value-log GC round (one file) and reports whether another
// may find more. It holds opMu exclusively: Badger's GC reads the memtable's
// max version without synchronisation (a data race with commits that the
// race detector reports), so no commit of ours may run beside it.
func (s *Spool) gcOnce() bool {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if s.dbClosed || s.isClosed() {
		return false
	}
	s.metrics.gcRan()
	err := s.db.RunValueLogGC(0.5)
	if err != nil {
		if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
			s.log.Warn("value-log gc", "err", err)
		}
		return false
	}
	return true
}

// trim releases the process's hold on the pages of Badger's mapped files.
func (s *Spool) trim() {
	s.appended.Store(0)
	s.opMu.RLock()
	defer s.opMu.RUnlock()
	if !s.dbClosed && !s.isClosed() {
		trimMappings(s.cfg.Dir)
	}
}

// maybeCompact runs Compact (and value-log GC after it) when the LSM tree and
// the sealed value-log files hold much more than the live data.
func (s *Spool) maybeCompact() {
	s.acked.Store(0)
	if s.syncFailed.Load() != nil {
		return // a flush could hang on a missing directory; nothing is durable anyway
	}
	s.mu.Lock()
	live := int64(s.segments+int64(len(s.dead)))*128 + s.legacyBytes
	s.mu.Unlock()
	stored := sealedVlogBytes(s.cfg.Dir)
	s.opMu.RLock()
	if !s.dbClosed {
		for _, ti := range s.db.Tables() {
			stored += int64(ti.OnDiskSize)
		}
	}
	s.opMu.RUnlock()
	if garbage := stored - live; garbage < compactMinGarbage || garbage < live/2 {
		return
	}
	if err := s.Compact(); err != nil {
		s.log.Warn("compacting the spool", "err", err)
		return
	}
	s.RunGC()
}

// flushKey is written and dropped by Compact to make Badger flush its
// memtable (DropPrefix is Badger's only public way to do that).
var flushKey = []byte("zflush")

// Compact makes Badger forget deleted index entries now: it flushes the
// memtable (where recent deletions wait) and flattens the LSM tree into one
// level. Appends and acks wait while the memtable is flushed.
func (s *Spool) Compact() error {
	if s.cfg.ReadOnly {
		return errors.New("spool: compact: opened read-only")
	}
	err := func() error {
		s.opMu.Lock()
		defer s.opMu.Unlock()
		if s.dbClosed || s.isClosed() {
			return ErrClosed
		}
		// The marker is written before compactMu is taken: a write may
		// wait for the compactor to drain level 0.
		if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(flushKey, nil) }); err != nil {
			return fmt.Errorf("spool: writing the flush marker: %w", err)
		}
		// DropPrefix writes nothing of its own and flushes the memtables
		// past a full level 0 (Badger stops its flusher first).
		s.compactMu.Lock()
		defer s.compactMu.Unlock()
		if err := s.db.DropPrefix(flushKey); err != nil {
			return fmt.Errorf("spool: flushing the memtable: %w", err)
		}
		return nil
	}()
	if err != nil {
		return err
	}
	s.opMu.RLock()
	defer s.opMu.RUnlock()
	if s.dbClosed || s.isClosed() {
		return ErrClosed
	}
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	if err := s.db.Flatten(1); err != nil {
		s.metrics.compactionFailed()
		return fmt.Errorf("spool: flattening the lsm tree: %w", err)
	}
	s.metrics.compacted()
	return nil
}

// Stats returns a snapshot of the spool's counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	st := s.statsLocked()
	s.mu.Unlock()
	st.DiskBytes = s.usedBytes(false)
	return st
}

// diskBytes is the disk space of the spool directory.
func (s *Spool) diskBytes() int64 { return s.usedBytes(false) }

// usedBytes is the disk space of the spool directory: the data files
// (accounted exactly) plus Badger's files (measured at most once a second,
// or every 100 ms when fresh is set).
func (s *Spool) usedBytes(fresh bool) int64 {
	var n int64
	for _, l := range s.logs {
		n += l.allocated()
	}
	s.diskMu.Lock()
	defer s.diskMu.Unlock()
	age := time.Second
	if fresh {
		age = 100 * time.Millisecond
	}
	if time.Since(s.badgerAt) >= age {
		s.badgerSz, s.badgerAt = indexSize(s.cfg.Dir), time.Now()
	}
	return n + s.badgerSz
}

// indexSize is the disk space of the files directly in dir (Badger's).
func indexSize(dir string) int64 {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range ents {
		if !e.IsDir() {
			n += fileBlocks(filepath.Join(dir, e.Name()))
		}
	}
	return n
}

func (s *Spool) statsLocked() Stats {
	return Stats{
		QueuedRecords:      s.queuedRecords,
		QueuedBytes:        s.queuedBytes,
		LeasedRecords:      s.leasedRecords,
		Segments:           s.segments,
		DeadLetters:        s.deadCount,
		DeadLetterBytes:    s.deadBytes,
		DeadLettersDropped: s.deadDropped,
		MaxBytes:           s.cfg.MaxBytes,
		Blocked:            s.blocked > 0,
	}
}

func (s *Spool) updateGaugesLocked() {
	if s.metrics != nil {
		s.metrics.gauges(s.statsLocked())
	}
}

// wake closes *ch (waking its waiters) and replaces it.
func wake(ch *chan struct{}) {
	close(*ch)
	*ch = make(chan struct{})
}

// askMaintenance wakes the background goroutine's maintenance unless it is
// already asked.
func (s *Spool) askMaintenance() {
	select {
	case s.maintCh <- struct{}{}:
	default:
	}
}
