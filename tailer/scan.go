package tailer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// handleEvent turns a filesystem notification into a scan request (entries
// created, removed or renamed, or attributes changed: a chmod can make a
// failing file readable) or a wake-up of the reader of that path.
//
// A write to a parked file opens it again (by its checkpoint) when a
// descriptor slot is free, else queues it for one.
func (t *Tailer) handleEvent(ev fsnotify.Event) {
	if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) || ev.Has(fsnotify.Chmod) {
		t.requestScan()
	}
	if ev.Has(fsnotify.Write) || ev.Has(fsnotify.Chmod) || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		if r := t.readerByPath(ev.Name); r != nil {
			r.poke(false)
			return
		}
	}
	if ev.Has(fsnotify.Write) {
		t.wakeParked(ev.Name)
	}
}

// wakeParked queues the parked file at path (if any) for opening and opens
// what the free slots allow.
func (t *Tailer) wakeParked(path string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pathsLocked()
	id, ok := t.parkedByPath[path]
	if !ok {
		return
	}
	p := t.parked[id]
	if _, queued := t.waiting[id]; !queued {
		t.queueLocked(id, found{path: p.path, resolved: p.resolved})
	}
	t.fillSlotsLocked(t.clock.Now())
}

// found is one file matched by the globs in a scan.
type found struct {
	path, resolved string
	fi             os.FileInfo
}

// skipSuffixes are compressed rotations that are never read, whatever the globs.
var skipSuffixes = []string{".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4", ".tmp"}

func skipName(path string) bool {
	for _, s := range skipSuffixes {
		if strings.HasSuffix(path, s) {
			return true
		}
	}
	return false
}

// matches is the outcome of matching the globs.
type matches struct {
	files map[fileID]found
	// unsure holds the paths (glob paths) and directories that could not be
	// examined this time (a listing or a stat failed): a reader of such a
	// path keeps its matched state instead of being taken for rotated.
	unsure map[string]bool
}

func (m *matches) isUnsure(path string) bool {
	return m.unsure[path] || m.unsure[filepath.Dir(path)]
}

// glob matches the globs and stats every match (following symlinks). Every
// failure is local to its path or directory: recorded in t.faults (counted,
// logged once, retried with backoff) and the scan goes on.
func (t *Tailer) glob(now time.Time) matches {
	m := matches{files: make(map[fileID]found), unsure: make(map[string]bool)}
	for _, g := range t.cfg.Globs {
		dir, pat := filepath.Split(g)
		dir = filepath.Clean(dir)
		dirs := []string{dir}
		if hasMeta(dir) {
			dirs, _ = filepath.Glob(dir) // the pattern was validated
		}
		for _, d := range dirs {
			t.globDir(&m, d, pat, now)
		}
	}
	return m
}

// globDir adds the entries of dir that match pat to m.
func (t *Tailer) globDir(m *matches, dir, pat string, now time.Time) {
	if t.hook != nil {
		t.hook("globDir")
	}
	if !t.faults.due(dir, now) {
		m.unsure[dir] = true
		return
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return // matches nothing (yet)
		}
		m.unsure[dir] = true
		t.noteFDs(err)
		t.faults.fail(dir, "listing directory", err, now)
		return
	}
	t.faults.ok(dir)
	for _, e := range ents {
		if ok, _ := filepath.Match(pat, e.Name()); !ok || skipName(e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if !t.faults.due(p, now) {
			m.unsure[p] = true
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ELOOP) {
				// A dangling symlink: the container's log is gone, or
				// not created yet (kubelet links it when it creates the
				// container, the runtime creates it when it starts it).
				// Nothing notifies the creation in a directory that is
				// not watched: poll while the link is young.
				if li, err := os.Lstat(p); err == nil && li.Mode()&fs.ModeSymlink != 0 {
					if until := li.ModTime().Add(seenTTL).UnixNano(); until > now.UnixNano() && until > t.danglingUntil.Load() {
						t.danglingUntil.Store(until)
					}
				}
				continue
			}
			m.unsure[p] = true
			t.noteFDs(err)
			t.faults.fail(p, "stating file", err, now)
			continue
		}
		if !fi.Mode().IsRegular() {
			m.unsure[p] = true
			t.faults.fail(p, "matching", &notRegularError{mode: fi.Mode()}, now)
			continue
		}
		id, _, err := statOf(fi)
		if err != nil {
			t.faults.fail(p, "identifying file", err, now)
			continue
		}
		if _, dup := m.files[id]; dup {
			continue // a file reached by two paths is read once
		}
		var resolved string
		if e.Type()&fs.ModeSymlink != 0 {
			resolved = t.resolveLink(p, id)
		}
		m.files[id] = found{path: p, resolved: resolved, fi: fi}
	}
}

// linkAt is where a matched symlink led at a scan.
type linkAt struct {
	target   string // its text (readlink)
	id       fileID // the file it led to
	resolved string // filepath.EvalSymlinks of it
	scan     int    // the scan (Tailer.scans) that saw it last
}

// resolveLink is filepath.EvalSymlinks(p), the path of the file id that
// the symlink p leads to, or "" when that fails. EvalSymlinks costs an lstat
// per component of both paths (about ten system calls for a kubelet link):
// a link whose text is what it was at the last scan and that leads to the
// same file (device and inode, stated by the caller) keeps the path resolved
// then, for one readlink.
func (t *Tailer) resolveLink(p string, id fileID) string {
	target, lerr := os.Readlink(p)
	if l, ok := t.links[p]; ok && lerr == nil && l.target == target && l.id == id {
		l.scan = t.scans
		t.links[p] = l
		return l.resolved
	}
	r, err := filepath.EvalSymlinks(p)
	if err != nil || lerr != nil {
		delete(t.links, p)
		if err != nil {
			return ""
		}
		return r
	}
	if t.links == nil {
		t.links = make(map[string]linkAt)
	}
	t.links[p] = linkAt{target: target, id: id, resolved: r, scan: t.scans}
	return r
}

// forgetLinks forgets the symlinks the current scan did not match.
func (t *Tailer) forgetLinks() {
	for p, l := range t.links {
		if l.scan != t.scans {
			delete(t.links, p)
		}
	}
}

// noteFDs turns on descriptor pressure when err says the process (EMFILE)
// or the system (ENFILE) is out of file descriptors: readers at the end of
// their file close it, and no more files are opened than are open now, less a
// reserve for the spool and the rest of the process.
func (t *Tailer) noteFDs(err error) {
	if !outOfDescriptors(err) {
		return
	}
	until := t.clock.Now().Add(max(10*t.cfg.PollInterval, 5*time.Second)).UnixNano()
	if t.pressureUntil.Swap(until) < t.clock.Now().UnixNano() {
		t.log.Warn("out of file descriptors: closing idle files and taking turns; raise RLIMIT_NOFILE", "err", err)
	}
	t.fdCap.Store(max(t.nOpen.Load()-fdReserve, 1))
}

// fdReserve is how many descriptors below the point where opening failed the
// tailer leaves free while under descriptor pressure.
const fdReserve = 16

// underPressure reports whether descriptor pressure is on.
func (t *Tailer) underPressure() bool {
	return t.clock.Now().UnixNano() < t.pressureUntil.Load()
}

// scan matches the globs, marks every reader as still matched or not, starts
// readers for new files, updates the watched directories and, every gcEvery
// scans, forgets retired files that are gone.
func (t *Tailer) scan(ctx context.Context, start func(*reader), w *watcher) {
	if ctx.Err() != nil {
		return
	}
	now, wall := t.clock.Now(), time.Now()
	m := t.glob(now)
	t.forgetLinks()
	if t.initial {
		for _, f := range m.files {
			t.firstFound = append(t.firstFound, f)
		}
	}
	dirs, gcNow := t.applyScan(m, now, wall, start)
	if w.set(dirs) > 0 {
		// A file written between its stat above and its directory's
		// watch would go unnoticed: look once more, now that events come.
		t.requestScan()
	}
	t.scans++
	if gcNow || t.gcDue(now) {
		t.gcRetired(ctx, start)
	}
	t.scanPanicked.Store(false)
	t.lastScan.Store(t.clock.Now().UnixNano())
}

// applyScan is the part of scan under t.mu. It reports the directories to
// watch and whether gcRetired should run now.
func (t *Tailer) applyScan(m matches, now, wall time.Time, start func(*reader)) (map[string]bool, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.hook != nil {
		t.hook("applyScan")
	}
	for id, r := range t.readers {
		f, ok := m.files[id]
		if !ok {
			if p, _, _ := r.paths(); m.isUnsure(p) {
				continue // could not look: keep its state
			}
		}
		changed := r.setMatched(ok, f.path, f.resolved)
		if ok && r.observeSize(f.fi.Size()) || changed {
			// Its size changed (no notification may come: polling), or it
			// was rotated away (it is released once idle) or back.
			r.poke(false)
		}
	}
	gcNow := false
	for id, p := range t.parked {
		if _, ok := m.files[id]; ok || m.isUnsure(p.path) {
			continue
		}
		// A parked file that is no longer matched (rotated or deleted):
		// retired, and looked at by gcRetired now.
		delete(t.parked, id)
		delete(t.waiting, id)
		last := p.path
		if p.resolved != "" {
			last = p.resolved
		}
		t.retired[id] = retiredFile{key: id.checkpointKey(), dir: filepath.Dir(last), end: p.end, size: p.size, path: p.path, resolved: p.resolved}
		gcNow = true
	}
	for id, wf := range t.waiting {
		if _, ok := m.files[id]; !ok && !m.isUnsure(wf.f.path) {
			// Gone before its turn: rotated or deleted. One without a
			// checkpoint is the sweep's (read from its start); one with a
			// checkpoint is retired like a released rotated file, so that
			// gcRetired reads it on from its checkpoint (the sweep passes
			// over a file its checkpoint describes), or counts what it
			// held unread when it is gone.
			delete(t.waiting, id)
			gcNow = t.retireWaitingLocked(id, wf.f) || gcNow
		}
	}
	for id, f := range m.files {
		if seen, ok := t.seen[f.path]; ok && seen.id != id {
			// The path leads to another file now: a rotation. Generations
			// that were created and rotated away since the last scan are
			// found next to the file by name and drained too.
			t.m.rotation("rename")
			t.sweepRotatedLocked(f, seen.wall.Add(-mtimeSlack), start)
		}
		t.seen[f.path] = seenPath{id: id, at: now, wall: wall}
		if _, ok := t.readers[id]; ok || t.draining[id] {
			continue
		}
		if p, ok := t.parked[id]; ok && p.size == f.fi.Size() {
			if w, queued := t.waiting[id]; queued {
				w.f = f
				t.waiting[id] = w
			}
			continue // parked and unchanged
		}
		t.queueLocked(id, f)
	}
	t.fillSlotsLocked(now)
	t.retrySweepsLocked(start)
	for p, seen := range t.seen {
		if now.Sub(seen.at) > seenTTL {
			delete(t.seen, p)
		}
	}
	t.faults.forget(func(p string) bool {
		_, seen := t.seen[p]
		return seen || m.unsure[p] || m.unsure[filepath.Dir(p)]
	}, now)
	t.rebuildPathsLocked()
	t.watchStale.Store(false) // scan sets the watches from these
	return t.watchDirsLocked(), gcNow
}

// retireWaitingLocked retires the file id, which waited for a descriptor
// slot (as f) and is no longer matched, when it has a checkpoint; it reports
// whether it did.
func (t *Tailer) retireWaitingLocked(id fileID, f found) bool {
	key := id.checkpointKey()
	val, err := t.sink.Checkpoint(key)
	if err != nil || val == nil {
		return false // unsure, or never read: the sweep's
	}
	p, err := decodePosition(val)
	if err != nil {
		return false
	}
	size := p.Size
	if f.fi != nil {
		size = max(size, f.fi.Size())
	}
	last := f.path
	if f.resolved != "" {
		last = f.resolved
	}
	t.retired[id] = retiredFile{key: key, dir: filepath.Dir(last), end: p.Consumed, size: size, path: f.path, resolved: f.resolved}
	return true
}

// queueLocked queues the matched file f (identity id) to be opened when a
// descriptor slot is free; a file already queued keeps its place.
func (t *Tailer) queueLocked(id fileID, f found) {
	w, ok := t.waiting[id]
	if !ok {
		t.waitSeq++
		w.seq = t.waitSeq
	}
	w.f = f
	t.waiting[id] = w
}

// slotCapLocked is how many readers may be open: Config.MaxOpenFiles, and
// under descriptor pressure fewer (see noteFDs).
func (t *Tailer) slotCapLocked() int {
	c := t.cfg.MaxOpenFiles
	if t.underPressure() {
		c = min(c, int(t.fdCap.Load()))
	}
	return c
}

// fillSlots opens waiting files while descriptor slots are free.
func (t *Tailer) fillSlots(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fillSlotsLocked(now)
}

// fillSlotsLocked opens waiting files, longest waiting first (parked files
// by when they were parked), while fewer than slotCapLocked readers are
// open and fewer descriptors than that held (a reader that gave its slot
// away holds its file until its goroutine closes it: closeFile). Files
// other readers rotated away or recovered (not matched) never
// wait: they are opened at once, beyond the cap.
func (t *Tailer) fillSlotsLocked(now time.Time) {
	defer func() {
		t.nWaiting.Store(int64(len(t.waiting)))
		t.m.setWaiting(len(t.waiting))
		if len(t.waiting) > 0 && t.toldSeq != t.waitSeq {
			// Files wait that the open readers do not know of: a reader
			// idle at the end of its file (no timer but CloseInactive)
			// gives its slot back only when it looks (see atEnd).
			t.toldSeq = t.waitSeq
			for _, r := range t.readers {
				r.poke(false)
			}
		}
	}()
	if len(t.waiting) == 0 {
		return
	}
	ids := make([]fileID, 0, len(t.waiting))
	for id := range t.waiting {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b fileID) int {
		if c := t.parked[a].at.Compare(t.parked[b].at); c != 0 {
			return c
		}
		return cmp.Compare(t.waiting[a].seq, t.waiting[b].seq)
	})
	opened := false
	for _, id := range ids {
		if max(len(t.readers), t.heldFDs) >= t.slotCapLocked() {
			break
		}
		w := t.waiting[id]
		if _, ok := t.readers[id]; ok || t.draining[id] {
			delete(t.waiting, id)
			continue
		}
		if !t.faults.due(w.f.path, now) {
			delete(t.waiting, id) // retried by a later scan (the scanner polls meanwhile)
			continue
		}
		delete(t.waiting, id)
		r, err := t.open(id, w.f.path, w.f, true)
		if errors.Is(err, errRecovering) {
			continue // opened once the earlier file's recovery is done
		}
		if err != nil {
			t.noteFDs(err)
			t.faults.fail(w.f.path, "opening file", err, now)
			continue
		}
		t.faults.okUnless(w.f.path, ReasonPanic)
		delete(t.parked, id)
		if r == nil {
			continue
		}
		t.addLocked(r)
		t.startReader(r)
		opened = true
	}
	if opened {
		t.rebuildPathsLocked()
	}
}

// slotFreedLocked notes that a reader went away: waiting files get its slot.
func (t *Tailer) slotFreedLocked() {
	if len(t.waiting) > 0 {
		t.requestFill()
	}
}

func cmpID(a, b fileID) int {
	if c := cmp.Compare(a.Dev, b.Dev); c != 0 {
		return c
	}
	return cmp.Compare(a.Ino, b.Ino)
}

// park closes the reader r of a matched file read to its end, its checkpoint
// committed, under descriptor pressure; the scanner opens it again when it
// grows.
//
// A write after the reader's last look at its file notifies the reader
// while it is still the file's (the notification is lost with it) or the
// parked file (opened again): so once parked, the file is looked at once
// more, and opened again when it grew since.
func (t *Tailer) park(r *reader, size, end int64) {
	if !t.moveToParked(r, size, end) {
		return
	}
	fi, err := r.f.Stat()
	if err != nil || fi.Size() == size {
		return // a failure here is the scanner's to see
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.parked[r.id]; !ok {
		return
	}
	if _, queued := t.waiting[r.id]; !queued {
		t.queueLocked(r.id, found{path: r.src.Path, resolved: r.src.Resolved})
	}
	t.requestFill()
}

// moveToParked moves r from the readers to the parked files (false: r was no
// longer the reader of its file).
func (t *Tailer) moveToParked(r *reader, size, end int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.removeReaderLocked(r) {
		return false
	}
	t.parked[r.id] = parkedFile{at: t.clock.Now(), size: size, end: end, path: r.src.Path, resolved: r.src.Resolved}
	t.m.deleteLag(r.src.Path)
	t.rebuildPathsLocked()
	t.slotFreedLocked()
	return true
}

// gcRetired deletes the checkpoints of retired files that are gone, and
// reopens a retired file that grew after it was released (a runtime that
// wrote to a rotated file later than RotatedIdle): nothing is lost silently.
// It runs on the scanner goroutine, the only one that opens files, so no
// reader can take over a key between the check and the deletion.
func (t *Tailer) gcRetired(ctx context.Context, start func(*reader)) {
	t.lastGC = t.clock.Now()
	byDir := t.retiredByDir()
	for dir, ids := range byDir {
		present, err := filesIn(dir)
		if err != nil {
			t.noteFDs(err)
			t.faults.fail(dir, "listing directory", err, t.clock.Now())
			continue
		}
		for _, id := range ids {
			rf, gone := t.gcOne(id, present, start)
			if !gone {
				continue
			}
			// Gone: it may have grown unseen (unreadable, or between two
			// looks) and been compressed: read the rest from a copy, or
			// count what is known to be unread, then forget it.
			val, err := t.sink.Checkpoint(rf.key)
			p, derr := decodePosition(val)
			if err != nil || val == nil || derr != nil {
				t.m.lostBytes(LostRotatedUnread, rf.size-rf.end)
				t.log.Warn("file vanished before it was read to its end", "path", rf.path, "resolved", rf.resolved,
					"offset", rf.end, "size", rf.size, "lost_bytes", rf.size-rf.end)
				t.deleteCheckpoint(ctx, rf.key)
				continue
			}
			t.goRecoverGone(rf.key, p, rf.size)
		}
	}
}

// retiredByDir groups the retired files by the directory to look in.
func (t *Tailer) retiredByDir() map[string][]fileID {
	t.mu.Lock()
	defer t.mu.Unlock()
	byDir := make(map[string][]fileID)
	for id, rf := range t.retired {
		if _, open := t.readers[id]; open {
			delete(t.retired, id) // the key belongs to the open file now
			continue
		}
		byDir[rf.dir] = append(byDir[rf.dir], id)
	}
	return byDir
}

// gcOne looks at the retired file id: reopened when it grew, forgotten (its
// key returned with gone) when it is no longer in its directory.
func (t *Tailer) gcOne(id fileID, present map[fileID]dirFile, start func(*reader)) (retiredFile, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rf, ok := t.retired[id]
	if !ok {
		return rf, false
	}
	if f, ok := present[id]; ok {
		rf.size = max(rf.size, f.size)
		t.retired[id] = rf
		if f.size > rf.end {
			t.log.Warn("a released rotated file grew; reading it again", "path", f.path, "offset", rf.end, "size", f.size)
			r, err := t.open(id, f.path, found{path: rf.path, resolved: rf.resolved}, false)
			if err != nil && !errors.Is(err, errRecovering) {
				t.noteFDs(err)
				t.faults.fail(f.path, "reopening rotated file", err, t.clock.Now())
			} else if r != nil {
				t.addLocked(r)
				t.rebuildPathsLocked()
				start(r)
			}
		}
		return rf, false
	}
	delete(t.retired, id)
	return rf, true
}

// dirFile is a regular file found in a directory.
type dirFile struct {
	path string
	size int64
}

// filesIn returns the regular files in dir by identity.
// An error other than a missing directory is returned: nothing can be said
// about what is gone.
func filesIn(dir string) (map[fileID]dirFile, error) {
	out := make(map[fileID]dirFile)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if fi, err := e.Info(); err == nil {
			if id, _, err := statOf(fi); err == nil {
				out[id] = dirFile{path: filepath.Join(dir, e.Name()), size: fi.Size()}
			}
		}
	}
	return out, nil
}

// knownLocked reports whether the file at path with identity id is open or
// has a checkpoint that describes it (same fingerprint) and is followed
// (parked, waiting for a slot, retired, read from a compressed copy) or holds
// nothing past it: such a file is never swept from its start. A file its
// checkpoint describes that nothing follows any more (its open failed, or
// its reader panicked, and it was rotated before the retry) and that holds
// bytes past the checkpoint is not known: the sweep opens it, and open
// resumes it from its checkpoint.
func (t *Tailer) knownLocked(id fileID, path string) (bool, error) {
	if _, ok := t.readers[id]; ok {
		return true, nil
	}
	val, err := t.sink.Checkpoint(id.checkpointKey())
	if err != nil {
		return true, fmt.Errorf("reading checkpoint %s: %w", id.checkpointKey(), err)
	}
	if val == nil {
		return false, nil
	}
	p, err := decodePosition(val)
	if err != nil {
		return false, nil
	}
	// Unsure (it cannot be read): not read from the start now; the caller
	// tries again later.
	f, err := os.Open(path)
	if err != nil {
		return true, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return true, err
	}
	v, _, _, err := matchPosition(f, fsIdentityOf(f), p, fi.Size())
	if err != nil {
		return true, err
	}
	if v != sameFile {
		return false, nil
	}
	_, parked := t.parked[id]
	_, waiting := t.waiting[id]
	_, retired := t.retired[id]
	return parked || waiting || retired || t.draining[id] || fi.Size() <= p.Consumed, nil
}

// sweepRotatedLocked opens the rotated siblings of f (0.log.<timestamp>,
// x-json.log.1, ...) that were modified at or after since and that the tailer does
// not know (see knownLocked): generations of the file that were created and
// rotated away between two scans, or while the tailer was down. They are
// drained from their start.
func (t *Tailer) sweepRotatedLocked(f found, since time.Time, start func(*reader)) {
	if !t.sweepOnceLocked(f, since, start) {
		// A sibling (or the directory) could not be opened: the sweep is
		// done again at later scans (with the path's backoff) until it
		// completes, so a file that becomes readable is still drained.
		t.pendingSweeps[f.path+"\x00"+f.resolved] = pendingSweep{f: f, since: since}
	}
}

// pendingSweep is a sweep of rotated siblings that met a failure.
type pendingSweep struct {
	f     found
	since time.Time
}

// retrySweepsLocked runs the pending sweeps again.
func (t *Tailer) retrySweepsLocked(start func(*reader)) {
	for k, ps := range t.pendingSweeps {
		if t.sweepOnceLocked(ps.f, ps.since, start) {
			delete(t.pendingSweeps, k)
		}
	}
}

// sweepOnceLocked is one sweep; it reports false when something failed.
func (t *Tailer) sweepOnceLocked(f found, since time.Time, start func(*reader)) bool {
	last := f.path
	if f.resolved != "" {
		last = f.resolved
	}
	dir, base := filepath.Split(last)
	now := t.clock.Now()
	if !t.faults.due(dir, now) {
		return false
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	if err != nil {
		t.noteFDs(err)
		t.faults.fail(dir, "listing rotated files", err, now)
		return false
	}
	ok := true
	for _, e := range ents {
		name := e.Name()
		if !rotatedName(name, base) || skipName(name) || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil || fi.ModTime().Before(since) {
			continue
		}
		id, _, err := statOf(fi)
		if err != nil {
			continue
		}
		path := filepath.Join(dir, name)
		if !t.faults.due(path, now) {
			ok = false
			continue
		}
		known, err := t.knownLocked(id, path)
		if err != nil {
			t.noteFDs(err)
			t.faults.fail(path, "opening rotated file", err, now)
			ok = false
			continue
		}
		if known {
			continue
		}
		r, err := t.open(id, path, f, false)
		if err != nil {
			if !errors.Is(err, errRecovering) {
				t.noteFDs(err)
				t.faults.fail(path, "opening rotated file", err, now)
			}
			ok = false
			continue
		}
		if r == nil {
			continue
		}
		t.faults.ok(path)
		t.log.Info("draining a generation that was rotated away between two scans", "path", path, "glob_path", f.path)
		t.addLocked(r)
		start(r)
	}
	return ok
}

func (t *Tailer) addLocked(r *reader) {
	t.readers[r.id] = r
	if !r.holdsFD {
		r.holdsFD = true
		t.heldFDs++
	}
	t.countLocked()
}

// closeFile closes the file of r, whose goroutine is returning, and only
// then gives its descriptor slot to a waiting file: a reader leaves the
// readers (parked, released, dropped) before its goroutine closes the file,
// and a slot handed on at that moment held one descriptor more than
// Config.MaxOpenFiles for as long as the goroutine took to get there.
func (t *Tailer) closeFile(r *reader) {
	if t.hook != nil {
		t.hook("close")
	}
	_ = r.f.Close()
	t.mu.Lock()
	defer t.mu.Unlock()
	if r.holdsFD {
		r.holdsFD = false
		t.heldFDs--
		t.slotFreedLocked()
	}
}

// removeReaderLocked removes r if it is still the reader of its file.
func (t *Tailer) removeReaderLocked(r *reader) bool {
	if t.readers[r.id] != r {
		return false
	}
	delete(t.readers, r.id)
	t.countLocked()
	return true
}

// countLocked publishes the number of open readers.
func (t *Tailer) countLocked() {
	t.nOpen.Store(int64(len(t.readers)))
	t.m.setFiles(len(t.readers))
}

// rebuildPathsLocked notes that the readers or the parked files changed:
// the maps from paths to them (for notifications) are rebuilt when next
// looked up, once for any number of changes (2,000 files parked one after
// the other at the end of --close-inactive would otherwise rebuild them
// 2,000 times).
func (t *Tailer) rebuildPathsLocked() {
	t.m.setParked(len(t.parked))
	t.pathsStale = true
	t.watchStale.Store(true)
}

// pathsLocked brings byPath and parkedByPath up to date: glob and resolved
// paths of the readers and of the parked files; a path that a rotated file
// and its successor share goes to the successor.
func (t *Tailer) pathsLocked() {
	if !t.pathsStale {
		return
	}
	t.pathsStale = false
	clear(t.parkedByPath)
	for id, p := range t.parked {
		t.parkedByPath[p.path] = id
		if p.resolved != "" {
			t.parkedByPath[p.resolved] = id
		}
	}
	clear(t.byPath)
	for _, matchedPass := range []bool{false, true} {
		for _, r := range t.readers {
			p, res, matched := r.paths()
			if matched != matchedPass {
				continue
			}
			t.byPath[p] = r
			if res != "" {
				t.byPath[res] = r
			}
		}
	}
}

// watchDirsLocked lists the directories to watch: those of the globs and
// those holding the symlink targets of open files.
func (t *Tailer) watchDirsLocked() map[string]bool {
	dirs := make(map[string]bool)
	for _, g := range t.cfg.Globs {
		d := filepath.Dir(g)
		if hasMeta(d) {
			ms, _ := filepath.Glob(d)
			for _, m := range ms {
				dirs[m] = true
			}
			continue
		}
		dirs[d] = true
	}
	for _, r := range t.readers {
		p, res, _ := r.paths()
		dirs[filepath.Dir(p)] = true
		if res != "" {
			dirs[filepath.Dir(res)] = true
		}
	}
	// Parked files are opened again when they are written to.
	for _, p := range t.parked {
		dirs[filepath.Dir(p.path)] = true
		if p.resolved != "" {
			dirs[filepath.Dir(p.resolved)] = true
		}
	}
	return dirs
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// rotatedName reports whether name is a rotated generation of the file base:
// base.<suffix> (kubelet 0.log.<time>, docker x-json.log.1, logrotate
// app.log.1) or base-<suffix> (logrotate's dateext, app.log-20261206).
func rotatedName(name, base string) bool {
	return strings.HasPrefix(name, base+".") || strings.HasPrefix(name, base+"-")
}
