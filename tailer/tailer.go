package tailer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/logspool/logspool/internal/appendretry"
	"github.com/logspool/logspool/internal/membudget"
	"github.com/logspool/logspool/parser"
	"github.com/logspool/logspool/spool/record"
)

// Sink stores records together with the checkpoint they advance, atomically.
// *spool.Spool satisfies it.
type Sink interface {
	// Append stores recs and cps in one atomic write; it blocks while the
	// sink is full, until there is room or ctx is done. It must not keep
	// recs or their documents after it returns (it copies what it keeps):
	// the tailer reuses their memory. Their Metas may be kept.
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
	cfg   Config
	sink  Sink
	log   *slog.Logger
	m     *Metrics
	clock Clock // cfg.Clock

	scanNow chan struct{} // cap 1: a scan is wanted
	reopen  chan struct{} // cap 1: Reopen was called
	fill    chan struct{} // cap 1: a descriptor slot is free and files wait for one

	budget *membudget.Budget // the memory of all input in flight (Config.Budget)

	faults *faults // failing paths: counted, logged once, retried with backoff

	// Liveness (see Stalled).
	runningSince  atomic.Int64 // unix nanoseconds Run started; 0 when not running
	lastScan      atomic.Int64 // unix nanoseconds the last scan completed
	scanAppending atomic.Bool  // the scanner waits in Sink.Append (a full spool, not a stall)
	scanPanicked  atomic.Bool  // a scanner step panicked since the last scan completed
	// danglingUntil (unix ns): the scanner polls until then, for a young
	// symlink matched by the globs whose target does not exist yet (see
	// globDir).
	danglingUntil atomic.Int64

	// Descriptor pressure (EMFILE/ENFILE): until pressureUntil, readers at
	// the end of their file close it ("park") and at most fdCap files are
	// open, so that every file gets its turn and others keep some descriptors.
	pressureUntil atomic.Int64
	fdCap         atomic.Int64
	nOpen         atomic.Int64 // len(readers)
	nWaiting      atomic.Int64 // len(waiting): files that wait for a descriptor slot

	// hook, when set (tests), is called at named points to inject faults.
	hook func(point string)
	// readFault, when set (tests), makes reads of a path fail with its error.
	readFault func(path string) error
	// watchFault, when set (tests), makes watching a directory fail with its
	// error (the inotify watch limit).
	watchFault func(dir string) error
	// onObserve, when set (tests), sees every size of a file that the
	// tailer would count a loss from.
	onObserve func(id fileID, size int64)
	// spawn runs f on a supervised goroutine that Run waits for (set by Run;
	// used by the scanner goroutine only).
	spawn func(what string, f func(ctx context.Context))

	mu            sync.Mutex
	running       bool
	readers       map[fileID]*reader
	byPath        map[string]*reader     // glob path and resolved path -> reader
	retired       map[fileID]retiredFile // released files that still exist, keeping their checkpoint
	parked        map[fileID]parkedFile  // matched files closed (descriptor pressure, others waiting, inactive)
	parkedByPath  map[string]fileID      // glob path and resolved path -> parked file, for notifications
	pathsStale    bool                   // byPath and parkedByPath are to be rebuilt (pathsLocked)
	waiting       map[fileID]waitingFile // matched files to open when a descriptor slot is free (MaxOpenFiles)
	waitSeq       uint64
	startReader   func(*reader)           // starts a reader's goroutine (set by Run)
	draining      map[fileID]bool         // files gone from disk read on from a compressed copy
	pendingSweeps map[string]pendingSweep // sweeps of rotated files that met a failure
	scans         int
	lastGC        time.Time
	firstFound    []found             // the files the first scan of this Run matched
	seen          map[string]seenPath // glob path -> the file it led to at the last scan
	firstStart    bool                // no file checkpoint existed when Run started
	initial       bool                // the current scan is the first one of this Run
	// atStart are the file checkpoints as Run started: a rotated sibling
	// swept from its start that is a copy of one of them is read on from
	// its offset instead (see copyPosition).
	atStart []position
}

// parkedFile is a matched file read to its end and closed, its checkpoint
// committed: under descriptor pressure, while other files waited for a slot
// (Config.MaxOpenFiles), or after Config.CloseInactive without new bytes. The
// scanner opens it again (by its checkpoint, which checks its identity) when
// it is written to (a notification) or a scan sees its size change.
type parkedFile struct {
	at             time.Time
	size, end      int64
	path, resolved string
}

// waitingFile is a matched file that is to be opened (new, or parked and
// written to) when a descriptor slot is free: those waiting longest first,
// parked ones by when they were parked.
type waitingFile struct {
	f   found
	seq uint64
}

// seenPath is the file a glob path led to, and when: at by the Clock (how
// long it is remembered), wall by the wall clock (compared with the mtimes
// of rotated files).
type seenPath struct {
	id   fileID
	at   time.Time
	wall time.Time
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
	size           int64  // the largest size seen since (to count what vanishes unread)
	path, resolved string // as first discovered (the parser's source)
}

// gcEvery is how many poll intervals pass between checks for retired files
// that are gone (done at the first scan after that, or when a scan finds a
// parked file rotated).
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
	budget := cfg.Budget
	if budget == nil {
		budget = membudget.New(DefaultMemoryBytes)
	}
	return &Tailer{
		cfg:           cfg,
		sink:          sink,
		log:           cfg.Logger.With("component", "tailer"),
		m:             cfg.Metrics,
		clock:         cfg.Clock,
		scanNow:       make(chan struct{}, 1),
		reopen:        make(chan struct{}, 1),
		fill:          make(chan struct{}, 1),
		budget:        budget,
		readers:       make(map[fileID]*reader),
		byPath:        make(map[string]*reader),
		retired:       make(map[fileID]retiredFile),
		parked:        make(map[fileID]parkedFile),
		parkedByPath:  make(map[string]fileID),
		waiting:       make(map[fileID]waitingFile),
		draining:      make(map[fileID]bool),
		pendingSweeps: make(map[string]pendingSweep),
		seen:          make(map[string]seenPath),
		faults:        newFaults(cfg.Logger.With("component", "tailer"), cfg.Metrics),
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
	rs := t.readerList()
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
//
// Supervision: a panic in a reader is recovered, logged with its stack,
// counted (logspool_input_errors_total{reason="panic"}) and the file is
// opened again from its checkpoint (with backoff); a panic in the scanner is
// recovered the same way and the next scan runs at the next tick. Every lock
// is released by a deferred unlock, so no recovery and no deferred cleanup
// can wait for a lock a panicking frame held.
func (t *Tailer) Run(ctx context.Context) error {
	if !t.setRunning() {
		return errors.New("tailer: Run called twice")
	}
	cps, err := t.sink.Checkpoints(checkpointPrefix)
	if err != nil {
		return fmt.Errorf("reading file checkpoints: %w", err)
	}
	t.firstStart = len(cps) == 0
	for _, v := range cps {
		if p, err := decodePosition(v); err == nil {
			t.atStart = append(t.atStart, p)
		}
	}

	// The readers stop when Run returns, however it returns: the deferred
	// cleanup cancels them before it waits for them.
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		t.stopped()
	}()
	start := func(r *reader) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.runReader(ctx, r)
		}()
	}
	t.startReader = start
	t.spawn = func(what string, f func(ctx context.Context)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.safely(what, func() { f(ctx) })
		}()
	}

	w := newWatcher(t.log, t.m)
	w.fault = t.watchFault
	defer w.close()

	now := t.clock.Now()
	t.runningSince.Store(now.UnixNano())
	t.lastScan.Store(now.UnixNano())
	t.initial = true
	t.safely("scanning", func() { t.scan(ctx, start, w) })
	t.initial = false
	t.safely("recovering checkpoints", func() { t.recoverOrphans(ctx, cps, start) })
	t.safely("sweeping rotated files", func() { t.sweepAtStart(cps, start) })

	return t.loop(ctx, start, w)
}

// loop is Run after the start: it scans, opens waiting files, reopens, and
// handles notifications until ctx is done.
func (t *Tailer) loop(ctx context.Context, start func(*reader), w *watcher) error {
	// The scan runs when a notification asks for it, at a tick of
	// PollInterval while something needs polling (a directory without
	// notifications, a failing path's retry, a sweep to finish, files
	// waiting for a descriptor, descriptor pressure), and otherwise every
	// ResyncInterval as a safety net. An idle tailer whose notifications
	// work does nothing at a tick but look at its own state (no system
	// call), and retired files are looked at every gcEvery polls.
	tick, stopTick := t.clock.NewTimer(t.cfg.PollInterval)
	defer func() { stopTick() }()
	var lastEventErr time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			// The next tick a PollInterval after this one, as a ticker's.
			tick, stopTick = t.clock.NewTimer(t.cfg.PollInterval)
			now := t.clock.Now()
			switch {
			case t.needsPolling(w) || now.Sub(time.Unix(0, t.lastScan.Load())) >= t.cfg.ResyncInterval:
				t.safely("scanning", func() { t.scan(ctx, start, w) })
			case t.gcDue(now):
				t.safely("looking at retired files", func() { t.gcRetired(ctx, start) })
			}
		case <-t.scanNow:
			t.safely("scanning", func() { t.scan(ctx, start, w) })
		case <-t.fill:
			t.safely("opening waiting files", func() { t.fillSlots(t.clock.Now()) })
		case <-t.reopen:
			t.log.Info("reopening: re-scanning globs and re-checking files")
			t.safely("scanning", func() { t.scan(ctx, start, w) })
			for _, r := range t.readerList() {
				r.poke(true)
			}
		case ev := <-w.events():
			t.safely("handling a notification", func() { t.handleEvent(ev) })
		case err := <-w.errors():
			// An overflow drops events: rescan, and every reader looks at
			// its file. Log at most once a minute.
			t.m.inputError(errReason(err))
			if t.clock.Now().Sub(lastEventErr) > time.Minute {
				lastEventErr = t.clock.Now()
				t.log.Warn("filesystem notifications failed; rescanning and relying on polling", "err", err)
			}
			t.requestScan()
			for _, r := range t.readerList() {
				r.poke(false)
			}
		}
	}
}

// gcDue reports whether retired files are to be looked at (gcRetired):
// every gcEvery poll intervals while there are any.
func (t *Tailer) gcDue(now time.Time) bool {
	if now.Sub(t.lastGC) < gcEvery*t.cfg.PollInterval {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.retired) > 0
}

// needsPolling reports whether the scanner must poll: some directory has no
// notifications (or none work at all), a failing path waits for its retry,
// a sweep of rotated files is to be finished, files wait for a descriptor
// slot, descriptors ran out, or a symlink the globs match, created less than
// seenTTL ago, leads nowhere yet.
func (t *Tailer) needsPolling(w *watcher) bool {
	if w.degraded() || t.faults.any() || t.underPressure() || t.nWaiting.Load() > 0 || t.scanPanicked.Load() ||
		time.Now().UnixNano() < t.danglingUntil.Load() {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pendingSweeps) > 0
}

// requestScan asks the scanner for a scan (it never blocks).
func (t *Tailer) requestScan() {
	select {
	case t.scanNow <- struct{}{}:
	default:
	}
}

// requestFill asks the scanner to open waiting files (it never blocks).
func (t *Tailer) requestFill() {
	select {
	case t.fill <- struct{}{}:
	default:
	}
}

// slotWanted reports whether files wait for a descriptor slot: readers at
// the end of their file then close it.
func (t *Tailer) slotWanted() bool { return t.nWaiting.Load() > 0 }

func (t *Tailer) setRunning() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.running {
		return false
	}
	t.running = true
	return true
}

// stopped forgets the readers after Run's readers have all returned.
func (t *Tailer) stopped() {
	t.runningSince.Store(0)
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, r := range t.readers {
		t.m.deleteLag(r.src.Path)
		delete(t.readers, id)
	}
	t.byPath = make(map[string]*reader)
	clear(t.waiting)
	t.nWaiting.Store(0)
	t.m.setFiles(0)
	t.m.setWaiting(0)
}

// panicError is a recovered panic, as an error for the fault log.
type panicError struct{ v any }

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.v) }

// safely runs one step of the scanner goroutine; a panic is recovered,
// logged with its stack and counted, and the scanner goes on at its next
// tick (a scanner that panics at every step never completes a scan, which
// Stalled reports).
func (t *Tailer) safely(what string, f func()) {
	defer func() {
		if v := recover(); v != nil {
			t.m.inputError(ReasonPanic)
			t.scanPanicked.Store(true) // scan again at the next tick
			t.log.Error("tailer scanner panicked; going on at the next scan", "while", what, "panic", v, "stack", string(debug.Stack()))
		}
	}()
	f()
}

// runReader runs r until it stops. A panic is recovered, logged with its
// stack and counted; the reader is dropped and its file opened again from its
// checkpoint by a later scan (after a backoff), as after a restart.
func (t *Tailer) runReader(ctx context.Context, r *reader) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		t.log.Error("tailer reader panicked; reopening the file from its checkpoint", "path", r.src.Path,
			"resolved", r.src.Resolved, "offset", r.committed.Resume, "panic", v, "stack", string(debug.Stack()))
		t.faults.fail(r.src.Path, "reading", &panicError{v}, t.clock.Now())
		t.dropReader(r)
	}()
	r.run(ctx)
}

// dropReader removes a reader that died. Its checkpoint is kept: a matched
// file is opened again by the next scan (when its fault backoff allows), an
// unmatched one is retired, so gcRetired opens it again if it has bytes left.
func (t *Tailer) dropReader(r *reader) {
	path, resolved, matched := r.paths()
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.removeReaderLocked(r) {
		return
	}
	t.m.deleteLag(r.src.Path)
	t.slotFreedLocked()
	if !matched {
		last := path
		if resolved != "" {
			last = resolved
		}
		t.retired[r.id] = retiredFile{key: r.key, dir: filepath.Dir(last), end: r.committed.Consumed, size: r.lastSize, path: r.src.Path, resolved: r.src.Resolved}
	}
	t.rebuildPathsLocked()
}

func (t *Tailer) readerList() []*reader {
	t.mu.Lock()
	defer t.mu.Unlock()
	rs := make([]*reader, 0, len(t.readers))
	for _, r := range t.readers {
		rs = append(rs, r)
	}
	return rs
}

func (t *Tailer) readerByPath(p string) *reader {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pathsLocked()
	return t.byPath[p]
}

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
			if r, err := filepath.EvalSymlinks(p); err == nil {
				resolved = r
			}
		}
		m.files[id] = found{path: p, resolved: resolved, fi: fi}
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
			delete(t.waiting, id) // gone before its turn
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
	return t.watchDirsLocked(), gcNow
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
// open. Files other readers rotated away or recovered (not matched) never
// wait: they are opened at once, beyond the cap.
func (t *Tailer) fillSlotsLocked(now time.Time) {
	defer func() {
		t.nWaiting.Store(int64(len(t.waiting)))
		t.m.setWaiting(len(t.waiting))
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
		if len(t.readers) >= t.slotCapLocked() {
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
func (t *Tailer) park(r *reader, size, end int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.removeReaderLocked(r) {
		return
	}
	t.parked[r.id] = parkedFile{at: t.clock.Now(), size: size, end: end, path: r.src.Path, resolved: r.src.Resolved}
	t.m.deleteLag(r.src.Path)
	t.rebuildPathsLocked()
	t.slotFreedLocked()
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
// has a checkpoint that describes it (same fingerprint): such a file is
// resumed from its checkpoint, never swept from its start.
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
	return v == sameFile, nil
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
		if !strings.HasPrefix(name, base+".") || skipName(name) || !e.Type().IsRegular() {
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
	t.countLocked()
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
			filepath.Dir(last) != filepath.Clean(dir) || !strings.HasPrefix(name, filepath.Base(last)+".") {
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
		lost := max(p.Size, p.Consumed) - p.Consumed
		t.m.rotation("truncate")
		t.m.lostBytes(LostTruncated, lost)
		t.log.Warn("file was truncated while not followed; reading it from the start",
			"path", r.path, "offset", p.Resume, "size", size, "why", why, "lost_bytes", lost)
	default:
		if len(compressedCandidates(p)) > 0 {
			// The earlier file may live on compressed: read its rest
			// first; this file waits (on disk) until that is done.
			t.goRecoverGoneLocked(r.key, p, p.Size)
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
		open := t.isOpen(p.ID)
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
	t.goRecoverGoneLocked(key, p, knownSize)
}

func (t *Tailer) goRecoverGoneLocked(key string, p position, knownSize int64) {
	if t.draining[p.ID] {
		return // already being recovered
	}
	t.draining[p.ID] = true
	t.spawn("recovering a file that is gone", func(ctx context.Context) {
		defer t.doneDraining(p.ID)
		t.recoverGone(ctx, key, p, knownSize)
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
