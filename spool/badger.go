package spool

// The index: Badger options, opening and verifying its files, and the
// transactions the spool runs on it.

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
)

// update runs fn in a write transaction unless the index is closed.
func (s *Spool) update(fn func(txn *badger.Txn) error) error {
	s.opMu.RLock()
	defer s.opMu.RUnlock()
	if s.dbClosed {
		return ErrClosed
	}
	err := s.db.Update(fn)
	s.lsm.kick() // the commit may have filled a memtable: a table for level 0
	return err
}

// view runs fn in a read transaction unless the spool is closed.
func (s *Spool) view(fn func(txn *badger.Txn) error) error {
	s.opMu.RLock()
	defer s.opMu.RUnlock()
	if s.dbClosed || s.isClosed() {
		return ErrClosed
	}
	return s.db.View(fn)
}

func badgerOptions(cfg Config) badger.Options {
	return badger.DefaultOptions(cfg.Dir).
		WithLogger(badgerLogger{cfg.Logger}).
		WithReadOnly(cfg.ReadOnly).
		WithSyncWrites(false).
		WithDetectConflicts(false).
		WithNumVersionsToKeep(1).
		WithMemTableSize(cmp.Or(cfg.memTableSize, memTableSize)).
		WithNumMemtables(2).
		WithNumLevelZeroTables(1).
		WithNumLevelZeroTablesStall(l0Stall).
		WithBaseTableSize(4 << 20).
		WithBaseLevelSize(32 << 20).
		WithValueThreshold(valueThreshold).
		WithValueLogFileSize(valueLogFileSize).
		WithNumCompactors(0). // the spool compacts (lsm.go): Badger's compactors poll every 50 ms
		WithNumGoroutines(2).
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithIndexCacheSize(0).
		WithBlockSize(16 << 10).
		WithMetricsEnabled(false).
		WithChecksumVerificationMode(options.NoVerification). // checkTables verifies at Open
		WithCompactL0OnClose(false)
}

// openBadger opens the database and turns Badger's failures (errors and
// panics on garbage) into the errors of Open.
func openBadger(cfg Config) (db *badger.DB, err error) {
	dir := cfg.Dir
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, &OpenError{Dir: dir, Err: fmt.Errorf("%w: the index is damaged (badger panicked: %v): %s", ErrCorrupt, r, salvageAdvice(dir))}
		}
	}()
	db, err = badger.Open(badgerOptions(cfg))
	if err == nil {
		return db, nil
	}
	msg := err.Error()
	switch {
	case errors.Is(err, syscall.EWOULDBLOCK) || strings.Contains(msg, "Another process is using this Badger database"):
		return nil, fmt.Errorf("opening spool %s: a running logspool agent (another process) holds it; stop it, or use `logspool status` to read a running one: %w (%v)", dir, ErrLocked, err)
	case errors.Is(err, badger.ErrTruncateNeeded) || strings.Contains(msg, badger.ErrTruncateNeeded.Error()):
		return nil, &OpenError{Dir: dir, Err: fmt.Errorf("%w (the agent crashed or was killed) and cannot be read read-only; start the agent (or open it read-write) once to replay its log (%v)", ErrUnclean, err)}
	case errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return nil, &OpenError{Dir: dir, Err: classifyIOError(dir, err)}
	default:
		return nil, &OpenError{Dir: dir, Err: fmt.Errorf("%w: the index is unreadable or damaged: %v: %s", ErrCorrupt, err, salvageAdvice(dir))}
	}
}

// checkManifestAndTables checks the index before Badger opens it (Badger
// panics on some garbage, skips tables whose checksums fail, truncates a
// damaged MANIFEST and deletes the tables it no longer lists): the MANIFEST
// replays to its end (a torn last record is allowed after an unclean stop),
// every table it lists exists and passes its checksums, and no table on disk
// is missing from it except the newest outputs of a compaction that a crash
// interrupted.
func checkManifestAndTables(cfg Config, id *ident) error {
	dir := cfg.Dir
	mpath := filepath.Join(dir, badger.ManifestFilename)
	fp, err := os.Open(mpath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // a new spool
	}
	if err != nil {
		return classifyIOError(dir, fmt.Errorf("opening %s: %w", mpath, err))
	}
	defer fp.Close()
	fi, err := fp.Stat()
	if err != nil {
		return classifyIOError(dir, err)
	}
	mf, trunc, err := badger.ReplayManifestFile(fp, 0, badgerOptions(cfg))
	if err != nil {
		return &DamageError{File: mpath, Reason: fmt.Sprintf("the index's MANIFEST is unreadable (%v): %s", err, salvageAdvice(dir))}
	}
	clean := id != nil && id.clean
	if trunc < fi.Size() && clean {
		return &DamageError{File: mpath, Offset: trunc, Reason: fmt.Sprintf("the MANIFEST of a cleanly closed spool ends in %d bytes of garbage: %s", fi.Size()-trunc, salvageAdvice(dir))}
	}
	ids := make([]uint64, 0, len(mf.Tables))
	var maxID uint64
	for tid := range mf.Tables {
		ids = append(ids, tid)
		maxID = max(maxID, tid)
	}
	slices.Sort(ids)
	onDisk, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	for _, f := range onDisk {
		var tid uint64
		if _, err := fmt.Sscanf(filepath.Base(f), "%d.sst", &tid); err != nil {
			continue
		}
		if _, ok := mf.Tables[tid]; ok {
			continue
		}
		// After an unclean stop, tables that a compaction was writing are
		// not listed yet (Badger deletes them); the identity file's count
		// catches a MANIFEST that lost tables then (load).
		if clean {
			return &DamageError{File: mpath, Offset: trunc, Reason: fmt.Sprintf("the MANIFEST does not list table %s (it lost records: truncated or damaged): %s", filepath.Base(f), salvageAdvice(dir))}
		}
	}
	for _, tid := range ids {
		opts := table.Options{
			ChkMode:            options.OnTableRead,
			Compression:        mf.Tables[tid].Compression,
			BlockSize:          16 << 10,
			BloomFalsePositive: 0.01,
		}
		f := table.NewFilename(tid, dir)
		if _, err := os.Stat(f); errors.Is(err, fs.ErrNotExist) {
			return &DamageError{File: f, Reason: "the table is missing (the MANIFEST lists it): " + salvageAdvice(dir)}
		}
		if err := checkTable(f, opts); err != nil {
			if e := classifyIOError(dir, err); e != err {
				return e
			}
			return &DamageError{File: f, Reason: fmt.Sprintf("the table is damaged (%v): %s", err, salvageAdvice(dir))}
		}
	}
	return nil
}

func checkTable(path string, opts table.Options) (err error) {
	mf, err := z.OpenMmapFile(path, os.O_RDONLY, 0)
	if err != nil && !errors.Is(err, z.NewFile) {
		return err
	}
	var t *table.Table
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("unreadable: %v", r)
		}
		if t != nil {
			_ = t.MmapFile.Close(-1)
		} else {
			_ = mf.Close(-1)
		}
	}()
	if len(mf.Data) < 8 {
		return fmt.Errorf("only %d bytes long", len(mf.Data))
	}
	t, err = table.OpenTable(mf, opts)
	return err
}

// sealedVlogBytes is the disk space of the value-log files but the newest
// (which value-log GC never rewrites).
func sealedVlogBytes(dir string) int64 {
	files, _ := filepath.Glob(filepath.Join(dir, "*.vlog"))
	slices.Sort(files) // zero-padded numbers: lexical order is numeric order
	var n int64
	for i, f := range files {
		if i == len(files)-1 {
			break
		}
		n += fileBlocks(f)
	}
	return n
}

// fileBlocks is the disk space (allocated blocks) of path.
func fileBlocks(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}

// dirSize is the disk space (allocated blocks) used by the files in dir and
// its subdirectories.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		} else {
			n += fi.Size()
		}
		return nil
	})
	return n
}
