package spool

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/dgraph-io/badger/v4"
)

// Sentinel errors of Open, besides ErrLocked and ErrCorrupt.
var (
	// ErrPermission: the agent may not read or write the spool directory.
	ErrPermission = errors.New("spool: permission denied")
	// ErrReadOnlyFS: the spool directory is on a read-only file system.
	ErrReadOnlyFS = errors.New("spool: read-only file system")
	// ErrNoSpace: the spool's file system is full.
	ErrNoSpace = errors.New("spool: no space left on the file system")
	// ErrNotSpool: the directory holds files that are not a logspool spool.
	ErrNotSpool = errors.New("spool: not a logspool spool directory")
	// ErrNewerLayout (wrapped with ErrNotSpool): a newer logspool wrote the
	// spool; nothing is wrong with it, and Salvage leaves it alone.
	ErrNewerLayout = errors.New("a newer logspool wrote it")
)

// OpenError reports a spool directory that cannot be opened: unreadable,
// damaged, not a spool, or not a directory. Its message says what to do.
type OpenError struct {
	Dir string
	Err error
}

func (e *OpenError) Error() string {
	return fmt.Sprintf("spool: opening %s: %v", e.Dir, e.Err)
}

func (e *OpenError) Unwrap() error { return e.Err }

// salvageAdvice is appended to every report of damage.
func salvageAdvice(dir string) string {
	return fmt.Sprintf("the agent will not start on a damaged spool: run `logspool spool salvage --spool-dir %s` (with the agent stopped) to keep every intact record, quarantine the damaged bytes and rewind the affected sources; do not delete or move the directory, it holds undelivered logs", dir)
}

// Open opens (creating if needed) the spool in cfg.Dir. It fails with an
// error wrapping ErrLocked when another process holds the directory,
// ErrPermission, ErrReadOnlyFS or ErrNoSpace when the file system is in the
// way, ErrNotSpool for a directory that is not a spool, and ErrCorrupt (a
// *DamageError inside an *OpenError) when a file is damaged: the message
// names the file, the offset and the records affected, and points at
// `logspool spool salvage`.
func Open(cfg Config) (*Spool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s, err := open(cfg, false)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func newSpool(cfg Config) *Spool {
	return &Spool{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "spool"),
		metrics:    cfg.Metrics,
		nextSeq:    1,
		nextDead:   1,
		spaceCh:    make(chan struct{}),
		availCh:    make(chan struct{}),
		leases:     make(map[*Lease]struct{}),
		closeCh:    make(chan struct{}),
		maintCh:    make(chan struct{}, 1),
		roundCh:    make(chan struct{}, 1),
		deadTrimCh: make(chan struct{}, 1),
		cpCur:      make(map[string]cpVal),
		cpBase:     make(map[string]cpVal),
		cpChanged:  make(map[string]cpVal),
	}
}

// identify reads the directory's identity file; without one it tells an
// empty directory (refused read-only) from a version 1 spool (legacy).
func identify(cfg Config) (id *ident, legacy bool, err error) {
	dir := cfg.Dir
	id, err = readIdent(dir)
	if err != nil {
		return nil, false, err
	}
	if id != nil {
		if _, err := os.Stat(filepath.Join(dir, badger.ManifestFilename)); err != nil {
			return nil, false, &DamageError{File: filepath.Join(dir, badger.ManifestFilename), Reason: "the index's MANIFEST is missing: " + salvageAdvice(dir)}
		}
		return id, false, nil
	}
	kind, err := classifyDir(dir)
	if err != nil {
		return nil, false, err
	}
	switch kind {
	case dirEmpty:
		if cfg.ReadOnly {
			return nil, false, fmt.Errorf("%w: the directory is empty (nothing to inspect)", ErrNotSpool)
		}
	case dirLegacy:
		legacy = true
	}
	return nil, legacy, nil
}

// open opens the spool; salvage (Salvage's open) keeps damaged entries out
// of the queue instead of refusing.
func open(cfg Config, salvage bool) (*Spool, error) {
	dir := cfg.Dir
	if err := prepareDir(dir, cfg.ReadOnly); err != nil {
		return nil, err
	}
	id, legacy, err := identify(cfg)
	if err != nil {
		return nil, &OpenError{Dir: dir, Err: err}
	}
	if err := checkManifestAndTables(cfg, id); err != nil {
		return nil, &OpenError{Dir: dir, Err: err}
	}
	db, err := openBadger(cfg)
	if err != nil {
		return nil, err
	}
	s := newSpool(cfg)
	s.db = db
	if !cfg.ReadOnly {
		// Before anything writes: replaying the log may flush memtables
		// into level 0, and a previous run may have left tables there.
		s.lsm = startLSMCompactor(db, s.log, s.metrics, &s.compactMu)
	}
	if id != nil {
		s.id = id.id
	} else if !legacy {
		if _, err := rand.Read(s.id[:]); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("spool: making a spool id: %w", err)
		}
	}
	dataDir := filepath.Join(dir, dataDirName)
	// Data files of at most an eighth of the cap, so that the space of acked
	// records comes back in pieces small against it.
	fileSize := min(max(cfg.MaxBytes/8, 256<<10), dataFileSize)
	s.segLog = newDataLog(dataDir, ".seg", s.id, fileSize)
	s.dlqLog = newDataLog(dataDir, ".dlq", s.id, fileSize)
	s.logs = []*dataLog{s.segLog, s.dlqLog}
	if salvage {
		for _, l := range s.logs {
			l.quarantine = filepath.Join(dir, quarantineDirName)
		}
	}
	fail := func(err error) (*Spool, error) {
		for _, l := range s.logs {
			l.close()
		}
		s.lsm.stop()
		_ = db.Close()
		var oe *OpenError
		if errors.As(err, &oe) {
			return nil, err
		}
		return nil, &OpenError{Dir: dir, Err: err}
	}
	if err := s.load(id, legacy, salvage); err != nil {
		return fail(err)
	}
	if !cfg.ReadOnly {
		if err := s.finishOpen(legacy); err != nil {
			return fail(err)
		}
	}
	s.mu.Lock()
	s.updateGaugesLocked()
	s.mu.Unlock()
	s.metrics.disk(s.diskBytes())
	s.log.Info("spool opened", "dir", dir, "records", s.queuedRecords, "bytes", s.queuedBytes,
		"segments", s.segments, "dead_letters", s.deadCount, "read_only", cfg.ReadOnly)
	if !cfg.ReadOnly {
		if err := s.noteDirs(); err != nil {
			return fail(err)
		}
		s.wg.Add(1)
		go s.background()
		if s.deadBytes > cfg.MaxDeadLetterBytes {
			s.askDeadTrim()
		}
	}
	return s, nil
}

// finishOpen makes a read-write spool ready: the layout version and id are
// written, everything replayed is made durable (a barrier and a marker), and
// the identity file says the spool is in use (not closed cleanly).
func (s *Spool) finishOpen(legacy bool) error {
	if err := s.update(func(txn *badger.Txn) error {
		if err := txn.Set(metaVersionKey, []byte{layoutVersion}); err != nil {
			return err
		}
		return txn.Set(metaIDKey, s.id[:])
	}); err != nil {
		return fmt.Errorf("writing the layout version: %w", classifyIOError(s.cfg.Dir, err))
	}
	if legacy {
		s.log.Info("spool: upgrading a version 1 spool: new records go to data files, the old ones are read where they are", "dir", s.cfg.Dir)
	}
	if err := s.syncRound(); err != nil {
		return classifyIOError(s.cfg.Dir, err)
	}
	if err := s.syncRound(); err != nil { // the marker itself durable
		return classifyIOError(s.cfg.Dir, err)
	}
	// In use from now on: not clean until Close says so. Written only now,
	// when the marker it records is durable (a crash while recovering must
	// not leave an identity file ahead of the index).
	if err := writeIdent(s.cfg.Dir, ident{id: s.id, marker: s.marker, count: uint64(s.countAtMarker)}); err != nil {
		return classifyIOError(s.cfg.Dir, err)
	}
	s.mirrorMarker = s.marker
	return nil
}

const (
	dirEmpty dirKind = iota
	dirLegacy
)

// classifyIOError gives a file-system error its own sentinel and advice.
func classifyIOError(dir string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("%w: %s is on a read-only file system; mount it read-write or point --spool-dir at a writable directory (`logspool spool stats` and `dump` can still read it): %v", ErrReadOnlyFS, dir, err)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("%w: the agent (uid %d) may not read and write %s and the files in it; give it the directory (chown/chmod) or run it as the owner: %v", ErrPermission, os.Geteuid(), dir, err)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%w: the file system of %s is full; free space there (the spool's contents are intact): %v", ErrNoSpace, dir, err)
	}
	return err
}

func (s *Spool) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close commits and syncs everything and closes the spool. Outstanding
// leases are released: their records are delivered again after the next
// Open.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closeCh)
	for l := range s.leases {
		l.state = leaseReleased
	}
	s.leases = nil
	s.mu.Unlock()
	s.wg.Wait()

	var errs []error
	if !s.cfg.ReadOnly {
		// Two rounds: the second makes the first one's marker durable, so
		// that the identity file can say what a clean spool holds.
		err := s.syncRound()
		if err == nil {
			err = s.syncRound()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("syncing spool %s: %w", s.cfg.Dir, err))
		} else {
			s.commitMu.Lock()
			count := uint64(s.indexCount)
			s.commitMu.Unlock()
			if err := writeIdent(s.cfg.Dir, ident{id: s.id, clean: true, marker: s.marker, count: count}); err != nil {
				errs = append(errs, fmt.Errorf("marking spool %s closed: %w", s.cfg.Dir, err))
			}
		}
	}
	s.lsm.stop() // no Flatten under Badger's Close
	s.opMu.Lock()
	s.dbClosed = true
	if err := s.checkDirs(); errors.Is(err, errDirGone) {
		// Badger would flush its memtable into the missing directory,
		// retrying forever, or into the one that replaced it: leave it.
		errs = append(errs, fmt.Errorf("closing spool %s: the index is left unclosed: %w", s.cfg.Dir, err))
	} else if err := s.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing spool %s: %w", s.cfg.Dir, err))
	}
	s.opMu.Unlock()
	for _, l := range s.logs {
		l.close()
	}
	return errors.Join(errs...)
}
