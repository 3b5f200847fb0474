package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/dgraph-io/badger/v4"
)

// The commit protocol; see doc.go ("Durability and the crash window").
//
// Every write transaction is a unit with a number; units commit in number
// order under commitMu and leave a unit key ("u" unit[8]) with what is needed
// to roll them back. A sync round fsyncs everything written so far (the
// barrier) and then writes the marker ("mcommit" = the highest unit before
// the barrier): every unit at or below a durable marker is durable, with its
// data. At Open the units above the marker are checked: numbered without a
// gap and with intact data, they stand; otherwise (a power loss wrote them
// back out of order) every Append above the marker is rolled back and its
// sources rewound to the positions of the last barrier.

// unit kinds
const (
	unitAppend   = 1 // segments + checkpoints
	unitAck      = 2 // segment deletions (+ dead letters); never rolled back
	unitDead     = 3 // dead-letter edits (data synced before the unit); never rolled back
	unitRollback = 4 // Open's rollback
	unitVersion  = 1
)

const prefixUnit = 'u'

func unitKey(u uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixUnit
	binary.BigEndian.PutUint64(k[1:], u)
	return k
}

// cpVal is a checkpoint value; ok is false when the checkpoint is absent.
type cpVal struct {
	val []byte
	ok  bool
}

type cpEntry struct {
	key string
	v   cpVal
}

func appendCp(dst []byte, e cpEntry) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(e.key)))
	dst = append(dst, e.key...)
	if !e.v.ok {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	dst = binary.AppendUvarint(dst, uint64(len(e.v.val)))
	return append(dst, e.v.val...)
}

func readCp(b []byte) (cpEntry, []byte, error) {
	var e cpEntry
	kl, k := binary.Uvarint(b)
	if k <= 0 || kl > uint64(len(b)-k) {
		return e, nil, errors.New("bad checkpoint key length")
	}
	e.key = string(b[k : k+int(kl)])
	b = b[k+int(kl):]
	if len(b) < 1 {
		return e, nil, errors.New("truncated checkpoint")
	}
	flag := b[0]
	b = b[1:]
	if flag == 0 {
		return e, b, nil
	}
	vl, k := binary.Uvarint(b)
	if k <= 0 || vl > uint64(len(b)-k) {
		return e, nil, errors.New("bad checkpoint value length")
	}
	e.v = cpVal{val: slices.Clone(b[k : k+int(vl)]), ok: true}
	return e, b[k+int(vl):], nil
}

// unitRec is a decoded unit value.
type unitRec struct {
	kind  byte
	delta int64     // index entries the unit added minus those it deleted
	base  []cpEntry // checkpoints as of the last barrier (Append units)
	from  []cpEntry // checkpoints just before the unit (Append units)
	segs  []segMeta // segments the unit added (Append units)
}

func encodeUnit(u unitRec) []byte {
	b := []byte{unitVersion, u.kind}
	b = binary.AppendVarint(b, u.delta)
	b = binary.AppendUvarint(b, uint64(len(u.base)))
	for _, e := range u.base {
		b = appendCp(b, e)
	}
	b = binary.AppendUvarint(b, uint64(len(u.from)))
	for _, e := range u.from {
		b = appendCp(b, e)
	}
	b = binary.AppendUvarint(b, uint64(len(u.segs)))
	for _, m := range u.segs {
		b = append(b, segKey(m)...)
	}
	return b
}

func decodeUnit(v []byte) (unitRec, error) {
	var u unitRec
	if len(v) < 2 || v[0] != unitVersion {
		return u, errors.New("bad unit version")
	}
	u.kind = v[1]
	b := v[2:]
	d, k := binary.Varint(b)
	if k <= 0 {
		return u, errors.New("bad delta")
	}
	u.delta = d
	b = b[k:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return u, errors.New("bad checkpoint count")
	}
	b = b[k:]
	for i := uint64(0); i < n; i++ {
		var e cpEntry
		var err error
		if e, b, err = readCp(b); err != nil {
			return u, err
		}
		u.base = append(u.base, e)
	}
	n, k = binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return u, errors.New("bad checkpoint count")
	}
	b = b[k:]
	for i := uint64(0); i < n; i++ {
		var e cpEntry
		var err error
		if e, b, err = readCp(b); err != nil {
			return u, err
		}
		u.from = append(u.from, e)
	}
	n, k = binary.Uvarint(b)
	if k <= 0 || n*segKeyLen != uint64(len(b)-k) {
		return u, errors.New("bad segment list")
	}
	b = b[k:]
	for i := uint64(0); i < n; i++ {
		m, ok := parseSegKey(b[:segKeyLen])
		if !ok {
			return u, errors.New("bad segment key")
		}
		u.segs = append(u.segs, m)
		b = b[segKeyLen:]
	}
	return u, nil
}

// encodeIndex is the index value of an entry in a data file: where it lives
// and (segments) the checkpoints its Append moved from, so that salvage can
// rewind those sources when the entry is damaged.
func encodeIndex(r ref, from []cpEntry) []byte {
	b := []byte{valueVersionRef}
	b = binary.AppendUvarint(b, r.fid)
	b = binary.AppendUvarint(b, uint64(r.off))
	b = binary.AppendUvarint(b, uint64(r.len))
	b = binary.AppendUvarint(b, uint64(len(from)))
	for _, e := range from {
		b = appendCp(b, e)
	}
	return b
}

// decodeIndex decodes an index value; ok is false for a version 1 value (the
// entry itself, stored in Badger).
func decodeIndex(v []byte) (r ref, from []cpEntry, ok bool, err error) {
	if len(v) == 0 || v[0] != valueVersionRef {
		return ref{}, nil, false, nil
	}
	b := v[1:]
	var vals [4]uint64
	for i := range vals {
		x, k := binary.Uvarint(b)
		if k <= 0 {
			return ref{}, nil, true, errors.New("bad index value")
		}
		vals[i] = x
		b = b[k:]
	}
	r = ref{fid: vals[0], off: int64(vals[1]), len: int64(vals[2])}
	for i := uint64(0); i < vals[3]; i++ {
		var e cpEntry
		if e, b, err = readCp(b); err != nil {
			return r, nil, true, err
		}
		from = append(from, e)
	}
	return r, from, true, nil
}

// syncRound is the group commit: it makes every unit committed so far
// durable (the barrier), then writes the marker that says so. It runs every
// SyncInterval when something was written, and at Close.
func (s *Spool) syncRound() error {
	s.roundMu.Lock()
	defer s.roundMu.Unlock()
	s.commitMu.Lock()
	h := s.lastUnit
	count := s.indexCount
	changed := s.cpChanged
	s.cpChanged = make(map[string]cpVal)
	s.commitMu.Unlock()

	if err := s.syncFailed.Load(); err != nil {
		return *err
	}
	if hook := s.testRoundStart; hook != nil {
		hook() // crash-state tests: an append racing the barrier
	}
	dying, err := s.barrier()
	var notSynced *notSyncedError
	if errors.As(err, &notSynced) {
		// Out of descriptors: no sync failed, nothing is durable yet;
		// the next round tries again.
		s.restoreChanged(changed)
		return fmt.Errorf("spool: sync round postponed (out of file descriptors): %w", err)
	}
	if err != nil {
		// After a failed fsync the kernel may have dropped the dirty pages
		// and report the next fsync as a success: never claim durability
		// again in this process. Appends refuse; the next Open verifies
		// everything above the last marker and rolls back what was lost.
		ferr := fmt.Errorf("%w: %v; restart the agent: the next start verifies and recovers the spool", ErrSyncFailed, err)
		if errors.Is(err, errDirGone) {
			ferr = fmt.Errorf("%w: %v; nothing more is stored (what was queued is still shipped from the open files); restart the agent: it starts a new, empty spool in %s and reads its sources as at a first start", ErrSyncFailed, err, s.cfg.Dir)
		}
		s.syncFailed.CompareAndSwap(nil, &ferr)
		s.log.Error("spool: a sync failed; appends are refused until a restart", "err", err)
		s.restoreChanged(changed)
		return ferr
	}
	// Units up to h are durable, and so are the checkpoints they set.
	if hook := s.testHookBarrier; hook != nil {
		hook()
	}
	s.commitMu.Lock()
	for k, v := range changed {
		s.cpBase[k] = v
	}
	s.commitMu.Unlock()
	var errs []error
	for i, fids := range dying {
		if err := s.logs[i].unlink(fids); err != nil {
			errs = append(errs, err)
		}
	}
	// The previous round's marker is durable now: record it, with the
	// number of index entries it stands for, in the identity file, which
	// Open compares with the index after an unclean stop.
	if s.marker > s.mirrorMarker || s.mirrorMarker == 0 {
		if err := writeIdent(s.cfg.Dir, ident{id: s.id, marker: s.marker, count: uint64(s.countAtMarker)}); err != nil {
			errs = append(errs, err)
		} else {
			s.mirrorMarker = s.marker
		}
	}
	if h != s.marker {
		if err := s.writeMarker(h, count); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// writeMarker deletes the unit keys the previous durable marker covers and
// writes the commit marker h, which the barrier just made true; count is the
// number of index entries at h.
func (s *Spool) writeMarker(h uint64, count int64) error {
	prev := min(s.marker, s.mirrorMarker)
	// Unit keys at or below the previous marker are no longer needed
	// (that marker is durable, and the identity file has it). Deleting
	// them is safe in any order.
	var err error
	for from := s.unitKeysFrom; from <= prev && err == nil; from += 4096 {
		to := min(prev, from+4095)
		err = s.update(func(txn *badger.Txn) error {
			for u := from; u <= to; u++ {
				if err := txn.Delete(unitKey(u)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err == nil {
		err = s.update(func(txn *badger.Txn) error {
			return txn.Set(metaCommitKey, binary.BigEndian.AppendUint64(nil, h))
		})
	}
	if err != nil {
		return fmt.Errorf("writing the commit marker: %w", err)
	}
	s.marker = h
	s.countAtMarker = count
	if prev >= s.unitKeysFrom {
		s.unitKeysFrom = prev + 1
	}
	return nil
}

// restoreChanged puts back the checkpoints a failed round took from
// cpChanged (unless set again since), for the next round.
func (s *Spool) restoreChanged(changed map[string]cpVal) {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	for k, v := range changed {
		if _, newer := s.cpChanged[k]; !newer {
			s.cpChanged[k] = v
		}
	}
}

// barrier fsyncs every file that may hold unsynced writes: the data files
// written since the last barrier, Badger's memtable logs (all of them: one
// that Badger has just retired may not be flushed yet) and value log, and
// the directories. It returns the data files that were dead when it started,
// which may be unlinked now.
func (s *Spool) barrier() ([][]uint64, error) {
	dying := make([][]uint64, len(s.logs))
	var files []*os.File
	var dirs []string
	for i, l := range s.logs {
		fs, dir, d := l.syncPrepare()
		files = append(files, fs...)
		if dir {
			dirs = append(dirs, l.dir)
		}
		dying[i] = d
	}
	var errs []error
	if err := s.checkDirs(); err != nil {
		errs = append(errs, err)
	}
	for _, f := range files {
		if err := syncFile(f); err != nil {
			errs = append(errs, fmt.Errorf("syncing %s: %w", f.Name(), err))
		}
	}
	s.opMu.RLock()
	if !s.dbClosed {
		if err := s.db.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("syncing the index: %w", err))
		}
	}
	s.opMu.RUnlock()
	for _, pat := range []string{"*.mem", "*.vlog"} {
		names, _ := filepath.Glob(filepath.Join(s.cfg.Dir, pat))
		for _, n := range names {
			if err := fsyncPath(n); err != nil {
				errs = append(errs, err)
			}
		}
	}
	dirs = append(dirs, s.cfg.Dir)
	for _, d := range dirs {
		if err := fsyncPath(d); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		if onlyNotSynced(errs) {
			err = &notSyncedError{err}
		}
		// Keep the dead files for the next barrier; their data files were
		// taken off the dirty list, so sync everything next time.
		for i, l := range s.logs {
			l.mu.Lock()
			l.dying = append(l.dying, dying[i]...)
			for _, df := range l.files {
				l.dirty[df.fid] = df
			}
			l.newDir = true
			l.mu.Unlock()
		}
		return nil, err
	}
	return dying, nil
}

// dirAt is a directory of the spool and what it was at Open.
type dirAt struct {
	path string
	fi   os.FileInfo
}

// errDirGone: a directory of the spool was removed or replaced under the
// running spool (an rm -rf, a lost mount). Writes would go to unlinked files
// or to a directory that is not the spool, so nothing can be made durable.
var errDirGone = errors.New("the spool directory was removed or replaced while the agent ran")

// noteDirs records the spool's directories as opened, for checkDirs. The
// data directory is made with the first data file: it is noted when first
// seen.
func (s *Spool) noteDirs() error {
	fi, err := os.Stat(s.cfg.Dir)
	if err != nil {
		return classifyIOError(s.cfg.Dir, fmt.Errorf("reading %s: %w", s.cfg.Dir, err))
	}
	s.dirs = []dirAt{{s.cfg.Dir, fi}, {s.segLog.dir, nil}}
	return nil
}

// checkDirs reports errDirGone when a directory of the spool is no longer
// the one Open found (or first saw) at its path. Only sync rounds call it.
func (s *Spool) checkDirs() error {
	for i, d := range s.dirs {
		fi, err := os.Stat(d.path)
		switch {
		case d.fi == nil && err == nil:
			s.dirs[i].fi = fi
		case d.fi == nil && errors.Is(err, fs.ErrNotExist):
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("%w: %s is gone", errDirGone, d.path)
		case err != nil:
			return fmt.Errorf("checking %s: %w", d.path, err)
		case !os.SameFile(d.fi, fi):
			return fmt.Errorf("%w: %s is another directory now", errDirGone, d.path)
		}
	}
	return nil
}

// notSyncedError is a barrier that could not sync a file because it could
// not open it for want of a descriptor (EMFILE, ENFILE): nothing was lost,
// the round is retried (see syncRound).
type notSyncedError struct{ err error }

func (e *notSyncedError) Error() string { return e.err.Error() }
func (e *notSyncedError) Unwrap() error { return e.err }

// onlyNotSynced reports whether every error in errs is a notSyncedError.
func onlyNotSynced(errs []error) bool {
	for _, err := range errs {
		var ns *notSyncedError
		if !errors.As(err, &ns) {
			return false
		}
	}
	return len(errs) > 0
}

// fsyncPath fsyncs a file or directory by name; a file that vanished (a
// memtable log Badger flushed and deleted meanwhile) is fine.
func fsyncPath(p string) error {
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
		return &notSyncedError{fmt.Errorf("opening %s to sync it: %w", p, err)}
	}
	if err != nil {
		return fmt.Errorf("opening %s to sync it: %w", p, err)
	}
	defer f.Close()
	if err := syncFile(f); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("syncing %s: %w", p, err)
	}
	return nil
}

// setSyncHooks installs the crash-state tests' hooks: barrier runs after
// every barrier, file after a data file was synced on its own.
func (s *Spool) setSyncHooks(barrier func(), file func(path string)) {
	s.testHookBarrier = barrier
	for _, l := range s.logs {
		l.testHookSynced = file
	}
}

// syncFile is (*os.File).Sync; the crash-state tests, which model
// durability with snapshots, turn it off while they check their states.
var syncFile = (*os.File).Sync
