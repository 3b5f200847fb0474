package tailer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	// heldFDs is the files held open by readers, those that have left
	// readers but not yet closed their file included (guarded by mu).
	heldFDs  int
	nWaiting atomic.Int64 // len(waiting): files that wait for a descriptor slot
	// watchStale: the open or parked files changed since the watched
	// directories were last set (see refreshWatches).
	watchStale atomic.Bool

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
	toldSeq       uint64                  // the last waitSeq the open readers were told of (fillSlotsLocked)
	startReader   func(*reader)           // starts a reader's goroutine (set by Run)
	draining      map[fileID]bool         // files gone from disk read on from a compressed copy
	pendingSweeps map[string]pendingSweep // sweeps of rotated files that met a failure
	scans         int
	lastGC        time.Time
	firstFound    []found             // the files the first scan of this Run matched
	seen          map[string]seenPath // glob path -> the file it led to at the last scan
	links         map[string]linkAt   // glob path of a symlink -> where it led at the last scan (scanner only)
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
	defer func() { stopTick.Stop() }()
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
		t.safely("watching directories", func() { t.refreshWatches(w) })
	}
}

// staleWatchDirs returns the directories to watch and marks them current.
// Its lock is released by a deferred unlock, like every lock of the tailer
// (see Supervision in doc.go): refreshWatches runs under t.safely.
func (t *Tailer) staleWatchDirs() map[string]bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.watchStale.Store(false)
	return t.watchDirsLocked()
}

// refreshWatches watches the directories of the files opened or parked since
// the last scan set them. Files are also opened outside scans (a descriptor
// slot freed, a parked file written to): a kubelet file's directory (the
// symlink's target's) was watched only from the next scan on, and with
// notifications working that came at the resync a minute later, so its
// writes and rotations went unseen meanwhile. A directory newly watched may
// have changed before its watch: a scan looks (as after a scan's own).
func (t *Tailer) refreshWatches(w *watcher) {
	if !t.watchStale.Load() {
		return
	}
	if w.set(t.staleWatchDirs()) > 0 {
		t.requestScan()
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
