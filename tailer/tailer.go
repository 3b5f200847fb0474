package tailer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/logspool/logspool/parser"
	"github.com/logspool/logspool/spool/record"
)

// Sink stores records together with the checkpoint they advance, atomically.
// *spool.Spool satisfies it.
type Sink interface {
	// Append stores recs and cps in one atomic write; it blocks while the
	// sink is full, until there is room or ctx is done.
	Append(ctx context.Context, recs []record.Record, cps ...record.Checkpoint) error
	// Checkpoint returns the stored value for key, or nil when there is none.
	Checkpoint(key string) ([]byte, error)
	// Checkpoints returns every stored checkpoint whose key starts with prefix.
	Checkpoints(prefix string) (map[string][]byte, error)
}

// Decoder turns the physical lines of one file into records. *parser.Decoder
// satisfies it.
type Decoder interface {
	Decode(dst []record.Record, ln parser.Line) []record.Record
	Pending() (start int64, ok bool)
	Flush(dst []record.Record) []record.Record
}

// FileState is a snapshot of one open file, for `logspool status`.
type FileState struct {
	// Path is the path as discovered; Resolved its symlink target ("" when
	// Path is not a symlink).
	Path, Resolved string
	// Key is the file's checkpoint key in the sink.
	Key string
	// Offset is the committed offset: where reading resumes after a restart.
	Offset int64
	// Size is the file size last observed.
	Size int64
	// Lag is Size minus Offset.
	Lag int64
	// Rotated is set when the file is no longer matched by the globs (rotated
	// away or deleted) and is being drained before release.
	Rotated bool
}

// Tailer follows the files matched by Config.Globs and appends their records
// and positions to a Sink.
type Tailer struct {
	cfg  Config
	sink Sink
	log  *slog.Logger
	m    *Metrics

	scanNow chan struct{} // cap 1: a scan is wanted
	reopen  chan struct{} // cap 1: Reopen was called

	mu         sync.Mutex
	running    bool
	readers    map[fileID]*reader
	byPath     map[string]*reader     // glob path and resolved path -> reader
	retired    map[fileID]retiredFile // released files that still exist, keeping their checkpoint
	failing    map[string]string      // path -> last failure logged (scanner goroutine only)
	scans      int
	seen       map[string]seenPath // glob path -> the file it led to at the last scan
	firstStart bool                // no file checkpoint existed when Run started
	initial    bool                // the current scan is the first one of this Run
}

// seenPath is the file a glob path led to, and when.
type seenPath struct {
	id fileID
	at time.Time
}

const (
	// seenTTL bounds how long a glob path that matches nothing is remembered.
	seenTTL = 10 * time.Minute
	// mtimeSlack allows for coarse file time stamps when deciding whether a
	// rotated file was written since the last scan.
	mtimeSlack = 2 * time.Second
)

// retiredFile is a file that was released (read to its end, no longer
// matched) while it still existed. Its checkpoint is kept until the file is
// gone, so that neither a restart nor a sweep for missed rotations reads it
// again; the scanner deletes the checkpoint once no file in dir has its inode.
type retiredFile struct {
	key            string
	dir            string // where to look for its inode
	end            int64  // the offset it was read to
	path, resolved string // as first discovered (the parser's source)
}

// gcEvery is how many scans pass between checks for retired files that are gone.
const gcEvery = 30

// New returns a Tailer for cfg that appends to sink.
func New(cfg Config, sink Sink) (*Tailer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sink == nil {
		return nil, errors.New("tailer: nil sink")
	}
	cfg = cfg.withDefaults()
	return &Tailer{
		cfg:     cfg,
		sink:    sink,
		log:     cfg.Logger.With("component", "tailer"),
		m:       cfg.Metrics,
		scanNow: make(chan struct{}, 1),
		reopen:  make(chan struct{}, 1),
		readers: make(map[fileID]*reader),
		byPath:  make(map[string]*reader),
		retired: make(map[fileID]retiredFile),
		seen:    make(map[string]seenPath),
	}, nil
}

// Reopen asks the tailer to re-scan the globs at once and every reader to
// re-check its file (size, truncation, rotation). Safe to call from a signal
// handler goroutine; it does not block.
func (t *Tailer) Reopen() {
	select {
	case t.reopen <- struct{}{}:
	default:
	}
}

// Files returns a snapshot of the open files, sorted by path.
func (t *Tailer) Files() []FileState {
	t.mu.Lock()
	rs := make([]*reader, 0, len(t.readers))
	for _, r := range t.readers {
		rs = append(rs, r)
	}
	t.mu.Unlock()
	out := make([]FileState, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.state())
	}
	slices.SortFunc(out, func(a, b FileState) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// Run follows the files until ctx is done. It returns when every reader has
// stopped, with nil after ctx is done, or an error when the sink's
// checkpoints cannot be read at startup. Stopping never loses data: what was
// read but not appended is read again after the next start.
func (t *Tailer) Run(ctx context.Context) error {
	t.mu.Lock()
	if t.running {
		t.mu.Unlock()
		return errors.New("tailer: Run called twice")
	}
	t.running = true
	t.mu.Unlock()

	cps, err := t.sink.Checkpoints(checkpointPrefix)
	if err != nil {
		return fmt.Errorf("reading file checkpoints: %w", err)
	}
	t.firstStart = len(cps) == 0

	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		t.mu.Lock()
		for id, r := range t.readers {
			t.m.deleteLag(r.src.Path)
			delete(t.readers, id)
		}
		t.byPath = make(map[string]*reader)
		t.m.setFiles(0)
		t.mu.Unlock()
	}()
	start := func(r *reader) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.run(ctx)
		}()
	}

	w := newWatcher(t.log)
	defer w.close()

	t.initial = true
	t.scan(ctx, start, w)
	t.initial = false
	t.recoverOrphans(ctx, cps, start)

	tick := time.NewTicker(t.cfg.PollInterval)
	defer tick.Stop()
	var lastEventErr time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			t.scan(ctx, start, w)
		case <-t.scanNow:
			t.scan(ctx, start, w)
		case <-t.reopen:
			t.log.Info("reopening: re-scanning globs and re-checking files")
			t.scan(ctx, start, w)
			t.mu.Lock()
			for _, r := range t.readers {
				r.poke(true)
			}
			t.mu.Unlock()
		case ev := <-w.events():
			t.handleEvent(ev)
		case err := <-w.errors():
			// An overflow drops events: rescan. Log at most once a minute.
			if time.Since(lastEventErr) > time.Minute {
				lastEventErr = time.Now()
				t.log.Warn("filesystem notifications failed; rescanning and relying on polling", "error", err)
			}
			select {
			case t.scanNow <- struct{}{}:
			default:
			}
		}
	}
}

// handleEvent turns a filesystem notification into a scan request (entries
// created, removed or renamed) or a wake-up of the reader of that path.
func (t *Tailer) handleEvent(ev fsnotify.Event) {
	if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		select {
		case t.scanNow <- struct{}{}:
		default:
		}
	}
	if ev.Has(fsnotify.Write) || ev.Has(fsnotify.Chmod) || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		t.mu.Lock()
		r := t.byPath[ev.Name]
		t.mu.Unlock()
		if r != nil {
			r.poke(false)
		}
	}
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

// glob matches the globs and stats every match (following symlinks).
func (t *Tailer) glob() map[fileID]found {
	out := make(map[fileID]found)
	for _, g := range t.cfg.Globs {
		matches, err := filepath.Glob(g)
		if err != nil {
			t.log.Error("matching glob", "glob", g, "error", err)
			continue
		}
		for _, p := range matches {
			if skipName(p) {
				continue
			}
			fi, err := os.Stat(p)
			if err != nil {
				if !errors.Is(err, os.ErrNotExist) {
					t.warnOnce(p, "stating file", err)
				}
				continue
			}
			if !fi.Mode().IsRegular() {
				continue
			}
			id, _, err := statOf(fi)
			if err != nil {
				t.log.Warn("identifying file", "path", p, "error", err)
				continue
			}
			if _, dup := out[id]; dup {
				continue // a file reached by two paths is read once
			}
			var resolved string
			if lfi, err := os.Lstat(p); err == nil && lfi.Mode()&os.ModeSymlink != 0 {
				if r, err := filepath.EvalSymlinks(p); err == nil {
					resolved = r
				}
			}
			out[id] = found{path: p, resolved: resolved, fi: fi}
		}
	}
	return out
}

// scan matches the globs, marks every reader as still matched or not, starts
// readers for new files, updates the watched directories and, every gcEvery
// scans, forgets retired files that are gone.
func (t *Tailer) scan(ctx context.Context, start func(*reader), w *watcher) {
	if ctx.Err() != nil {
		return
	}
	matched := t.glob()
	now := time.Now()

	t.mu.Lock()
	for id, r := range t.readers {
		f, ok := matched[id]
		r.setMatched(ok, f.path, f.resolved)
	}
	for id, f := range matched {
		if seen, ok := t.seen[f.path]; ok && seen.id != id {
			// The path leads to another file now: a rotation. Generations
			// that were created and rotated away since the last scan are
			// found next to the file by name and drained too.
			t.m.rotation("rename")
			t.sweepRotatedLocked(f, seen.at.Add(-mtimeSlack), start)
		}
		t.seen[f.path] = seenPath{id: id, at: now}
		if _, ok := t.readers[id]; ok {
			continue
		}
		r, err := t.open(id, f.path, f, true)
		if err != nil {
			t.warnOnce(f.path, "opening file", err)
			continue
		}
		delete(t.failing, f.path)
		if r == nil {
			continue
		}
		t.addLocked(r)
		start(r)
	}
	for p, seen := range t.seen {
		if now.Sub(seen.at) > seenTTL {
			delete(t.seen, p)
		}
	}
	t.rebuildPathsLocked()
	dirs := t.watchDirsLocked()
	t.mu.Unlock()
	w.set(dirs)
	if t.scans++; t.scans%gcEvery == 0 {
		t.gcRetired(ctx, start)
	}
}

// warnOnce logs a failure about path once until it changes or the path
// succeeds again (a failing file is retried at every scan).
func (t *Tailer) warnOnce(path, what string, err error) {
	msg := what + ": " + err.Error()
	if t.failing[path] == msg {
		return
	}
	if len(t.failing) > 10000 {
		clear(t.failing)
	}
	t.failing[path] = msg
	t.log.Warn(what+" failed; retrying at every scan", "path", path, "error", err)
}

// gcRetired deletes the checkpoints of retired files that are gone, and
// reopens a retired file that grew after it was released (a runtime that
// wrote to a rotated file later than RotatedIdle): nothing is lost silently.
// It runs on the scanner goroutine, the only one that opens files, so no
// reader can take over a key between the check and the deletion.
func (t *Tailer) gcRetired(ctx context.Context, start func(*reader)) {
	t.mu.Lock()
	byDir := make(map[string][]fileID)
	for id, rf := range t.retired {
		if _, open := t.readers[id]; open {
			delete(t.retired, id) // the key belongs to the open file now
			continue
		}
		byDir[rf.dir] = append(byDir[rf.dir], id)
	}
	t.mu.Unlock()
	for dir, ids := range byDir {
		present := filesIn(dir)
		for _, id := range ids {
			t.mu.Lock()
			rf, ok := t.retired[id]
			if !ok {
				t.mu.Unlock()
				continue
			}
			if f, ok := present[id]; ok {
				if f.size > rf.end {
					t.log.Warn("a released rotated file grew; reading it again", "path", f.path, "offset", rf.end, "size", f.size)
					r, err := t.open(id, f.path, found{path: rf.path, resolved: rf.resolved}, false)
					if err != nil {
						t.log.Warn("reopening rotated file", "path", f.path, "error", err)
					} else if r != nil {
						t.addLocked(r)
						t.rebuildPathsLocked()
						start(r)
					}
				}
				t.mu.Unlock()
				continue
			}
			delete(t.retired, id)
			t.mu.Unlock()
			t.log.Debug("forgetting released file that is gone", "key", rf.key, "dir", dir)
			t.deleteCheckpoint(ctx, rf.key)
		}
	}
}

// dirFile is a regular file found in a directory.
type dirFile struct {
	path string
	size int64
}

// filesIn returns the regular files in dir by identity.
func filesIn(dir string) map[fileID]dirFile {
	out := make(map[fileID]dirFile)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return out
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
	return out
}

// knownLocked reports whether the file at path with identity id is open or
// has a checkpoint that describes it (same fingerprint): such a file is
// resumed from its checkpoint, never swept from its start.
func (t *Tailer) knownLocked(id fileID, path string) bool {
	if _, ok := t.readers[id]; ok {
		return true
	}
	val, err := t.sink.Checkpoint(id.checkpointKey())
	if err != nil {
		t.log.Warn("reading checkpoint", "key", id.checkpointKey(), "error", err)
		return true // unsure: do not read it again from the start
	}
	if val == nil {
		return false
	}
	p, err := decodePosition(val)
	if err != nil {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return true
	}
	defer f.Close()
	match, err := fingerprintMatches(f, p.FP)
	return err != nil || match
}

// sweepRotatedLocked opens the rotated siblings of f (0.log.<timestamp>,
// x-json.log.1, ...) that were modified at or after since and that the tailer does
// not know (see knownLocked): generations of the file that were created and
// rotated away between two scans, or while the tailer was down. They are
// drained from their start.
func (t *Tailer) sweepRotatedLocked(f found, since time.Time, start func(*reader)) {
	last := f.path
	if f.resolved != "" {
		last = f.resolved
	}
	dir, base := filepath.Split(last)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.log.Warn("listing rotated files", "dir", dir, "error", err)
		return
	}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, base+".") || skipName(name) || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil || fi.ModTime().Before(since) {
			continue
		}
		id, _, err := statOf(fi)
		path := filepath.Join(dir, name)
		if err != nil || t.knownLocked(id, path) {
			continue
		}
		r, err := t.open(id, path, f, false)
		if err != nil {
			t.log.Warn("opening rotated file", "path", path, "error", err)
			continue
		}
		if r == nil {
			continue
		}
		t.log.Info("draining a generation that was rotated away between two scans", "path", path, "glob_path", f.path)
		t.addLocked(r)
		start(r)
	}
}

func (t *Tailer) addLocked(r *reader) {
	t.readers[r.id] = r
	t.m.setFiles(len(t.readers))
}

// rebuildPathsLocked maps paths to readers for notifications; a path that a
// rotated file and its successor share goes to the successor.
func (t *Tailer) rebuildPathsLocked() {
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
	return dirs
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

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

	start, err := t.startPosition(r, fi.Size())
	if err != nil {
		fd.Close()
		return nil, err
	}
	r.begin(start)
	return r, nil
}

// startPosition computes where r starts (see open), filling r's fingerprint
// and generation.
func (t *Tailer) startPosition(r *reader, size int64) (position, error) {
	key := r.id.checkpointKey()
	delete(t.retired, r.id) // back in the globs: the checkpoint is live again
	val, err := t.sink.Checkpoint(key)
	if err != nil {
		return position{}, fmt.Errorf("reading checkpoint %s: %w", key, err)
	}
	if val != nil {
		p, err := decodePosition(val)
		if err != nil {
			t.log.Warn("ignoring malformed checkpoint; reading file from the start", "path", r.path, "key", key, "error", err)
			return position{}, nil
		}
		if p, ok := t.validate(r, p, size); ok {
			return p, nil
		}
		return position{Gen: p.Gen + 1}, nil
	}
	if t.initial && t.firstStart && t.cfg.ReadFrom == "tail" {
		off, err := lastLineEnd(r.f, size)
		if err != nil {
			return position{}, fmt.Errorf("finding the last line of %s: %w", r.path, err)
		}
		return position{Resume: off, Consumed: off}, nil
	}
	return position{}, nil
}

// validate checks that the stored position p belongs to the file r has open
// (same fingerprint, not truncated). When it does not, the bytes the old file
// held past p are counted as lost and ok is false.
func (t *Tailer) validate(r *reader, p position, size int64) (position, bool) {
	match, err := fingerprintMatches(r.f, p.FP)
	if err != nil {
		t.log.Warn("reading fingerprint", "path", r.path, "error", err)
	}
	switch {
	case match && p.Resume <= size:
		return p, true
	case match:
		lost := max(p.Size, p.Consumed) - p.Consumed
		t.m.rotation("truncate")
		t.m.lostBytes(LostTruncated, lost)
		t.log.Warn("file was truncated while not followed; reading it from the start",
			"path", r.path, "offset", p.Resume, "size", size, "lost_bytes", lost)
	default:
		lost := p.Size - p.Consumed
		t.m.lostBytes(LostDeletedUnread, lost)
		t.log.Info("checkpoint belongs to an earlier file with the same inode; reading from the start",
			"path", r.path, "old_path", p.Path, "lost_bytes", max(lost, 0))
	}
	return position{}, false
}

// recoverOrphans handles the checkpoints of files that the first scan did not
// find: a file rotated while the tailer was down is looked up by device and
// inode next to its last known path and drained; a file that is gone is
// reported (its unread bytes counted as lost) and its checkpoint deleted.
func (t *Tailer) recoverOrphans(ctx context.Context, cps map[string][]byte, start func(*reader)) {
	for key, val := range cps {
		if ctx.Err() != nil {
			return
		}
		p, err := decodePosition(val)
		if err != nil {
			t.log.Warn("deleting malformed checkpoint", "key", key, "error", err)
			t.deleteCheckpoint(ctx, key)
			continue
		}
		t.mu.Lock()
		_, open := t.readers[p.ID]
		t.mu.Unlock()
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
			t.log.Warn("opening rotated file", "path", p.Path, "error", err)
		}
		if r != nil {
			// A retired file that is read to its end and idle needs no
			// reader: it stays retired.
			idle := r.lastSize == p.Consumed && p.Resume == p.Consumed && time.Since(mtime) > t.cfg.RotatedIdle
			if !idle {
				t.log.Info("draining file rotated while stopped", "path", r.path, "resolved", r.resolved, "offset", p.Resume, "size", r.lastSize)
			}
			t.mu.Lock()
			if idle {
				_ = r.f.Close()
				t.retired[p.ID] = retiredFile{key: key, dir: filepath.Dir(lastPath(p)), end: p.Consumed, path: p.Path, resolved: p.Resolved}
			} else {
				t.addLocked(r)
			}
			// Generations after this one that were created and rotated away
			// while the tailer was down were written after it.
			t.sweepRotatedLocked(found{path: p.Path, resolved: p.Resolved}, mtime, start)
			t.rebuildPathsLocked()
			t.mu.Unlock()
			if !idle {
				start(r)
			}
			continue
		}
		reason := LostDeletedUnread
		if _, err := os.Stat(lastPath(p)); err == nil {
			reason = LostRotatedUnread
		}
		lost := max(p.Size-p.Consumed, 0)
		t.m.lostBytes(reason, lost)
		if lost > 0 {
			t.log.Warn("file vanished before it was read to its end", "path", p.Path, "resolved", p.Resolved,
				"offset", p.Consumed, "size", p.Size, "lost_bytes", lost, "reason", reason)
		} else {
			t.log.Info("forgetting file that is gone", "path", p.Path, "resolved", p.Resolved)
		}
		t.deleteCheckpoint(ctx, key)
	}
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
		pos, ok := t.validate(r, p, ofi.Size())
		if !ok {
			fd.Close()
			return nil, time.Time{}, nil
		}
		r.begin(pos)
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
	t.m.setFiles(len(t.readers))
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
		t.retired[r.id] = retiredFile{key: r.key, dir: filepath.Dir(last), end: end, path: r.src.Path, resolved: r.src.Resolved}
	}
}

// appendRetry appends until it succeeds or ctx is done, backing off between
// failures: a failed append never moves a position, so retrying is safe. The
// first failure is logged as a warning, repeats at debug level, and the
// recovery again as a warning.
func appendRetry(ctx context.Context, sink Sink, log *slog.Logger, recs []record.Record, cp record.Checkpoint) error {
	backoff := 100 * time.Millisecond
	for failures := 0; ; failures++ {
		err := sink.Append(ctx, recs, cp)
		if err == nil {
			if failures > 0 {
				log.Warn("appending to the spool works again", "key", cp.Key, "failures", failures)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		level := slog.LevelDebug
		if failures == 0 {
			level = slog.LevelWarn
		}
		log.Log(ctx, level, "appending to the spool failed; retrying", "key", cp.Key, "records", len(recs), "retry_in", backoff, "error", err)
		tm := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			tm.Stop()
			return ctx.Err()
		case <-tm.C:
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}
