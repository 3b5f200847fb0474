package tailer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/logspool/logspool/internal/appendretry"
	"github.com/logspool/logspool/spool/record"
)

// open opens the file at path (found by the globs as f) and decides where to start reading it: at
// its checkpoint when that still describes this file, at the last line end when this is the
// very first start and ReadFrom is "tail", else at 0. It returns nil, nil when
// the file changed between the glob and the open.
func (t *Tailer) open(id fileID, path string, f found, matched bool) (*reader, error) {
	fd, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	fi, err := fd.Stat()
	if err != nil {
		fd.Close()
		return nil, fmt.Errorf("stating opened file: %w", err)
	}
	gotID, _, err := statOf(fi)
	if err != nil || gotID != id {
		fd.Close()
		return nil, err // replaced between glob and open: the next scan sees the new one
	}
	r := t.newReader(fd, id, f.path, f.resolved, matched)
	r.lastSize = fi.Size()
	r.ident = fsIdentityOf(fd)

	start, tail, err := t.startPosition(r, fi.Size())
	if err != nil {
		fd.Close()
		return nil, err
	}
	r.begin(start, tail)
	return r, nil
}

// startPosition computes where r starts (see open) and returns the bytes
// just before that offset as checked.
func (t *Tailer) startPosition(r *reader, size int64) (position, []byte, error) {
	key := r.id.checkpointKey()
	delete(t.retired, r.id) // back in the globs: the checkpoint is live again
	val, err := t.sink.Checkpoint(key)
	if err != nil {
		return position{}, nil, fmt.Errorf("reading checkpoint %s: %w", key, err)
	}
	if val != nil {
		p, err := decodePosition(val)
		if err != nil {
			t.log.Warn("ignoring malformed checkpoint; reading file from the start", "path", r.path, "key", key, "err", err)
			return position{}, nil, nil
		}
		p, tail, ok, err := t.validate(r, p, size)
		if err != nil {
			return position{}, nil, err
		}
		if ok {
			return p, tail, nil
		}
		return position{Gen: p.Gen + 1}, nil, nil
	}
	if !r.matched {
		if p, tail, ok := t.copyPosition(r, size); ok {
			return p, tail, nil
		}
	}
	if t.initial && t.firstStart && t.cfg.ReadFrom == "tail" {
		off, err := lastLineEnd(r.f, size)
		if err != nil {
			return position{}, nil, fmt.Errorf("finding the last line of %s: %w", r.path, err)
		}
		tail, err := readTail(r.f, off, tailLen)
		if err != nil {
			return position{}, nil, fmt.Errorf("reading %s: %w", r.path, err)
		}
		return position{Resume: off, Consumed: off}, tail, nil
	}
	return position{}, nil, nil
}

// copyPosition finds where a rotated sibling r without a checkpoint of its
// own (about to be swept from its start) starts when it is a copy of a file
// the tailer had read: a checkpoint of a file next to it, as Run started,
// whose fingerprint r starts with and whose bytes before the offset r holds
// at the same offset. That is logrotate's copytruncate while the tailer was
// down: what precedes the offset was shipped (from the original, under its
// _ids), so r is read on from there, under its own key (what follows was
// never shipped).
func (t *Tailer) copyPosition(r *reader, size int64) (position, []byte, bool) {
	dir, name := filepath.Split(r.f.Name())
	var best position
	var bestTail []byte
	for _, q := range t.atStart {
		last := lastPath(q)
		if q.ID == r.id || len(q.FP) == 0 || q.Tail.N == 0 || q.Resume <= best.Resume ||
			filepath.Dir(last) != filepath.Clean(dir) || !rotatedName(name, filepath.Base(last)) {
			continue
		}
		q.Ident = fsIdentity{} // another inode: only the contents can match
		v, _, tail, err := matchPosition(r.f, r.ident, q, size)
		if err != nil || v != sameFile {
			continue
		}
		best = position{Resume: q.Resume, Consumed: q.Consumed, FP: q.FP, Tail: q.Tail}
		bestTail = tail
	}
	if best.Resume == 0 {
		return position{}, nil, false
	}
	t.log.Info("a rotated file is a copy of a file read before the restart (copytruncate while stopped); reading it on from the offset reached",
		"path", r.f.Name(), "glob_path", r.path, "offset", best.Resume)
	return best, bestTail, true
}

// validate checks that the stored position p belongs to the file r has open
// (see matchPosition). When it does not, the bytes the old file held past p
// are counted as lost and ok is false (the returned position keeps p's
// generation). An error reading the file decides nothing: the caller retries
// later.
func (t *Tailer) validate(r *reader, p position, size int64) (position, []byte, bool, error) {
	v, why, tail, err := matchPosition(r.f, r.ident, p, size)
	if err != nil {
		return position{}, nil, false, fmt.Errorf("checking the identity of %s: %w", r.path, err)
	}
	switch v {
	case sameFile:
		return p, tail, true, nil
	case truncated:
		if len(compressedCandidates(p)) > 0 {
			// logrotate's copytruncate with compress while the file was
			// not followed: what it held past p may be in a compressed
			// copy beside it. That is read first, under the file's key;
			// this content waits (on disk), then starts at the next
			// generation (its first line may be the old one's).
			t.m.rotation("truncate")
			next := position{ID: p.ID, Gen: p.Gen + 1, Path: p.Path, Resolved: p.Resolved, Nonce: p.Nonce, Ident: p.Ident}
			t.goRecoverGoneLocked(r.key, p, p.Size, &next)
			return position{}, nil, false, errRecovering
		}
		lost := max(p.Size, p.Consumed) - p.Consumed
		t.m.rotation("truncate")
		t.m.lostBytes(LostTruncated, lost)
		t.log.Warn("file was truncated while not followed; reading it from the start",
			"path", r.path, "offset", p.Resume, "size", size, "why", why, "lost_bytes", lost)
	default:
		if len(compressedCandidates(p)) > 0 {
			// The earlier file may live on compressed: read its rest
			// first; this file waits (on disk) until that is done.
			t.goRecoverGoneLocked(r.key, p, p.Size, nil)
			return position{}, nil, false, errRecovering
		}
		lost := max(p.Size-p.Consumed, 0)
		t.m.lostBytes(LostDeletedUnread, lost)
		level := slog.LevelInfo
		if lost > 0 {
			level = slog.LevelWarn
		}
		t.log.Log(context.Background(), level, "checkpoint belongs to an earlier file with the same inode; reading the new file from the start under a new key",
			"path", r.path, "old_path", p.Path, "why", why, "lost_bytes", lost)
	}
	return position{Gen: p.Gen}, nil, false, nil
}

// recoverOrphans handles the checkpoints of files that the first scan did not
// find: a file rotated while the tailer was down is looked up by device and
// inode next to its last known path and drained; a file that is gone is
// reported (its unread bytes counted as lost) and its checkpoint deleted.
func (t *Tailer) recoverOrphans(ctx context.Context, cps map[string][]byte, start func(*reader)) {
	if t.hook != nil {
		t.hook("recoverOrphans")
	}
	// The files the first scan found are the scanner's: opened from their
	// checkpoint as it is then, or waiting for a descriptor slot. One may
	// already be read, committed and closed again (parked) by now, and its
	// checkpoint in cps is as Run started: taken for an orphan, its lines
	// past that were read and stored again under the same IDs.
	found := make(map[fileID]bool, len(t.firstFound))
	for _, f := range t.firstFound {
		if id, _, err := statOf(f.fi); err == nil {
			found[id] = true
		}
	}
	for key, val := range cps {
		if ctx.Err() != nil {
			return
		}
		p, err := decodePosition(val)
		if err != nil {
			t.log.Warn("deleting malformed checkpoint", "key", key, "err", err)
			t.deleteCheckpoint(ctx, key)
			continue
		}
		open := found[p.ID] || t.isOpen(p.ID)
		if key != p.ID.checkpointKey() {
			t.log.Warn("deleting checkpoint stored under a foreign key", "key", key, "path", p.Path)
			t.deleteCheckpoint(ctx, key)
			continue
		}
		if open {
			continue
		}
		r, mtime, err := t.openOrphan(p)
		if err != nil {
			// Not gone: it could not be opened (EACCES, EMFILE, ...).
			// Retired with its checkpoint, it is tried again by gcRetired
			// (or by the scan, if the globs match it).
			t.noteFDs(err)
			t.faults.fail(lastPath(p), "opening rotated file", err, t.clock.Now())
			t.retire(key, p)
			continue
		}
		if r != nil {
			// A retired file that is read to its end and idle needs no
			// reader: it stays retired.
			idle := r.lastSize == p.Consumed && p.Resume == p.Consumed && time.Since(mtime) > t.cfg.RotatedIdle
			if !idle {
				t.log.Info("draining file rotated while stopped", "path", r.path, "resolved", r.resolved, "offset", p.Resume, "size", r.lastSize)
			}
			t.adoptOrphan(r, p, key, mtime, idle, start)
			continue
		}
		t.goRecoverGone(key, p, p.Size)
	}
}

// errRecovering reports a file whose device and inode held an earlier file
// that is being read on from a compressed copy: it is opened after that.
var errRecovering = errors.New("tailer: an earlier file at this inode is being recovered")

// goRecoverGone runs recoverGone for the checkpoint key of p on its own
// goroutine; no file is opened at p's device and inode meanwhile.
func (t *Tailer) goRecoverGone(key string, p position, knownSize int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.goRecoverGoneLocked(key, p, knownSize, nil)
}

func (t *Tailer) goRecoverGoneLocked(key string, p position, knownSize int64, then *position) {
	if t.draining[p.ID] {
		return // already being recovered
	}
	t.draining[p.ID] = true
	t.spawn("recovering a file that is gone", func(ctx context.Context) {
		defer t.doneDraining(p.ID)
		t.recoverGone(ctx, key, p, knownSize, then)
	})
}

func (t *Tailer) doneDraining(id fileID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.draining, id)
	select {
	case t.scanNow <- struct{}{}: // a file waiting for this inode is opened now
	default:
	}
}

// sweepAtStart drains the rotated siblings of every matched file that have no
// checkpoint describing them and were modified after the newest checkpoint was
// written: generations rotated away while the tailer was down, or while it
// ran but could not commit (a full spool) before it was killed. At the very
// first start (no checkpoint) nothing is swept: ReadFrom decides.
func (t *Tailer) sweepAtStart(cps map[string][]byte, start func(*reader)) {
	var newest int64
	for _, v := range cps {
		if p, err := decodePosition(v); err == nil {
			newest = max(newest, p.At)
		}
	}
	if newest == 0 {
		return // the very first start, or only checkpoints of older versions
	}
	since := time.Unix(0, newest).Add(-mtimeSlack)
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range t.firstFound {
		t.sweepRotatedLocked(f, since, start)
	}
	t.firstFound = nil
	t.rebuildPathsLocked()
}

// retire keeps the checkpoint key of p as a retired file.
func (t *Tailer) retire(key string, p position) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, open := t.readers[p.ID]; open {
		return
	}
	t.retired[p.ID] = retiredFile{key: key, dir: filepath.Dir(lastPath(p)), end: p.Consumed, size: p.Size, path: p.Path, resolved: p.Resolved}
}

func (t *Tailer) isOpen(id fileID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, open := t.readers[id]
	return open
}

// adoptOrphan starts the reader r of a file found by recoverOrphans, or
// retires it when it is read to its end and idle.
func (t *Tailer) adoptOrphan(r *reader, p position, key string, mtime time.Time, idle bool, start func(*reader)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if idle {
		_ = r.f.Close()
		t.retired[p.ID] = retiredFile{key: key, dir: filepath.Dir(lastPath(p)), end: p.Consumed, size: r.lastSize, path: p.Path, resolved: p.Resolved}
	} else {
		t.addLocked(r)
		start(r)
	}
	// Generations after this one that were created and rotated away
	// while the tailer was down were written after it.
	t.sweepRotatedLocked(found{path: p.Path, resolved: p.Resolved}, mtime, start)
	t.rebuildPathsLocked()
}

// openOrphan looks for the file of p next to its last known path (rotated
// names such as 0.log.20240101-120000 or x-json.log.1) and opens it,
// returning also its modification time. It returns a nil reader when the
// file is not there or is another file now.
func (t *Tailer) openOrphan(p position) (*reader, time.Time, error) {
	dir := filepath.Dir(lastPath(p))
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, time.Time{}, nil
		}
		return nil, time.Time{}, fmt.Errorf("listing %s: %w", dir, err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || skipName(e.Name()) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		id, _, err := statOf(fi)
		if err != nil || id != p.ID {
			continue
		}
		path := filepath.Join(dir, e.Name())
		fd, err := os.Open(path)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("opening %s: %w", path, err)
		}
		ofi, err := fd.Stat()
		if err != nil {
			fd.Close()
			return nil, time.Time{}, fmt.Errorf("stating %s: %w", path, err)
		}
		if gotID, _, err := statOf(ofi); err != nil || gotID != p.ID {
			fd.Close()
			return nil, time.Time{}, nil
		}
		r := t.newReader(fd, p.ID, p.Path, p.Resolved, false)
		r.lastSize = ofi.Size()
		r.ident = fsIdentityOf(fd)
		// Not counted here: the caller counts what the file of p held
		// unread when it is not this one.
		v, _, tail, err := matchPosition(fd, r.ident, p, ofi.Size())
		if err != nil || v != sameFile {
			fd.Close()
			return nil, time.Time{}, err
		}
		r.begin(p, tail)
		return r, ofi.ModTime(), nil
	}
	return nil, time.Time{}, nil
}

// lastPath is where the file of p was last matched: its symlink target, or
// its path when that is not a symlink.
func lastPath(p position) string {
	if p.Resolved != "" {
		return p.Resolved
	}
	return p.Path
}

// deleteCheckpoint deletes the checkpoint key, retrying until it is stored or
// ctx is done.
func (t *Tailer) deleteCheckpoint(ctx context.Context, key string) {
	// Only the scanner deletes checkpoints; while it waits for a full spool
	// it is not stalled.
	t.scanAppending.Store(true)
	defer t.scanAppending.Store(false)
	_ = appendRetry(ctx, t.sink, t.log, nil, record.Checkpoint{Key: key})
}

// release removes r after its final append; released files that still exist
// are retired (their checkpoint is deleted once they are gone).
func (t *Tailer) release(r *reader, end int64, exists bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.readers[r.id] == r {
		delete(t.readers, r.id)
	}
	t.countLocked()
	t.slotFreedLocked()
	shared := false
	for _, o := range t.readers {
		shared = shared || o.src.Path == r.src.Path
	}
	if !shared {
		t.m.deleteLag(r.src.Path)
	}
	t.rebuildPathsLocked()
	if exists {
		last := r.src.Path
		if r.src.Resolved != "" {
			last = r.src.Resolved
		}
		t.retired[r.id] = retiredFile{key: r.key, dir: filepath.Dir(last), end: end, size: end, path: r.src.Path, resolved: r.src.Resolved}
	}
}

// appendBackoff is the container files' wait between failed appends: from
// 100 ms, doubling, up to 10 s.
var appendBackoff = appendretry.Backoff{Initial: 100 * time.Millisecond, Max: 10 * time.Second}

// appendRetry appends until it succeeds or ctx is done (appendretry.Do):
// a failed append never moves a position, so retrying is safe. The first
// failure is logged as a warning, repeats at debug level, and the recovery
// again as a warning.
func appendRetry(ctx context.Context, sink Sink, log *slog.Logger, recs []record.Record, cp record.Checkpoint) error {
	return appendretry.Do(ctx, appendBackoff,
		func() error { return sink.Append(ctx, recs, cp) },
		func(n int, wait time.Duration, err error) {
			level := slog.LevelDebug
			if n == 0 {
				level = slog.LevelWarn
			}
			log.Log(ctx, level, "appending to the spool failed; retrying", "key", cp.Key, "records", len(recs), "retry_in", wait, "err", err)
		},
		func(n int) { log.Warn("appending to the spool works again", "key", cp.Key, "failures", n) })
}
