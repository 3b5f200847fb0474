package systemd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/logspool/logspool/internal/appendretry"
	"github.com/logspool/logspool/internal/membudget"
	"github.com/logspool/logspool/spool/record"
	"github.com/logspool/logspool/systemd/journalfile"
)

// An Input is Stalled when it made no progress for stallPolls poll
// intervals, and at least minStall (a poll can take a while: a file on a
// slow disk, a large directory).
const (
	stallPolls = 40
	minStall   = 30 * time.Second
)

// checkpointEvery is how often a checkpoint is stored on its own when the
// position moved past entries that produced no record (filtered, skipped).
const checkpointEvery = 2 * time.Second

// maxBatchBytes caps the document bytes of one batch (besides BatchSize), so
// that a run of large entries cannot hold much memory.
const maxBatchBytes = 4 << 20

// arenaSize is the size of the memory block documents of a batch are
// encoded into (a block is never reused once records point into it).
const arenaSize = 256 << 10

// Input follows journal directories and stores every entry, with the
// position just past it, in a Sink.
type Input struct {
	cfg    Config
	sink   Sink
	log    *slog.Logger
	met    *Metrics
	filter *unitFilter
	enc    *Encoder
	open   openFunc
	key    string
	now    func() time.Time

	m         *merger
	pos       *position
	sources   map[fileKey]*source
	finished  map[fileKey]foundFile // archived, read to the end and closed: as last listed
	refused   map[string]foundFile  // path -> the state in which it was refused
	fails     failures              // paths that failed, waiting for a retry
	readFails failures              // files whose entries could not be read for an I/O error
	since     uint64
	observed  map[journalfile.ID128]uint64 // scratch of poll: highest seqnum seen per writer
	known     []*source                    // scratch of poll: the sources before the scan

	ent        journalfile.Entry
	scratch    unitFields
	batch      []record.Record
	arena      []byte
	metas      []*record.Meta // the boots' shared members of recent records, newest first
	batchBytes int
	acct       *membudget.Account // memory of the batch being read (Config.Budget)
	waitingMem atomic.Bool        // waiting for memory: not a stall
	lastRT     uint64
	dirty      bool // position moved since the last stored checkpoint
	lastCP     time.Time
	running    atomic.Bool
	polls      atomic.Int64 // completed polls (tests wait on it)
	scans      atomic.Int64 // completed directory scans

	// Notifications (see notifier): the Input polls when they report a
	// change, and otherwise every ResyncInterval.
	notify  *notifier // nil outside Run (the model tests poll by hand)
	seams   watcherSeams
	rewatch bool // the last scan started watching directories: look once more

	// Liveness (read by Stalled from other goroutines).
	lastProgress atomic.Int64 // unix ns of the last poll, batch or run of entries
	idle         atomic.Bool  // waiting for the next poll after a completed one
	appending    atomic.Bool  // inside Sink.Append: waiting for the spool
	restarts     atomic.Int64 // restarts after a recovered panic
}

// NewInput validates cfg and returns an Input writing to sink.
func NewInput(cfg Config, sink Sink) (*Input, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sink == nil {
		return nil, errors.New("systemd: NewInput: sink is nil")
	}
	cfg = cfg.withDefaults()
	filter, _ := newUnitFilter(cfg.Units, cfg.ExcludeUnits) // validated above
	in := &Input{
		cfg:    cfg,
		sink:   sink,
		log:    cfg.Logger.With("input", "journal", "name", cfg.Name),
		met:    cfg.Metrics,
		filter: filter,
		enc:    NewEncoder(cfg.NodeName, cfg.MaxFieldBytes),
		open:   openJournalFile,
		key:    "j/" + cfg.Name,
		now:    time.Now,
		acct:   membudget.NewAccount(cfg.Budget),
	}
	return in, nil
}

// CheckpointKey returns the key of the Input's checkpoint in the sink.
func (in *Input) CheckpointKey() string { return in.key }

// Run reads the journal until ctx is done, then returns nil. It starts right
// after the last entry stored by an earlier run (its checkpoint), or at the
// beginning (Config.Since) on a first start; a checkpoint that cannot be
// read from the sink is read again after a backoff (counted in
// logspool_journal_errors_total{reason="checkpoint"}). Run starts no
// goroutines and may be called once; it returns an error only then.
//
// A panic inside the Input is recovered: it is logged with its stack and
// counted (logspool_journal_panics_total), every file is closed, and after a
// backoff (PollInterval doubling to 30 s) the Input starts again from its
// last stored position, so nothing is lost or shipped twice. Stalled reports
// an Input that keeps failing that way.
func (in *Input) Run(ctx context.Context) error {
	if !in.running.CompareAndSwap(false, true) {
		return errors.New("systemd: Input.Run called twice")
	}
	in.markProgress()
	backoff := in.cfg.PollInterval
	for {
		polls := in.polls.Load()
		err, panicked := in.runOnce(ctx)
		switch {
		case err != nil:
			// The checkpoint could not be read from the sink (the spool):
			// try again; Stalled reports an Input that cannot start.
			in.met.err(reasonCheckpoint)
			in.log.Error("cannot load the journal checkpoint; retrying", "key", in.key, "retry_in", backoff, "err", err)
		case !panicked:
			return nil
		default:
			in.met.panicked()
			in.restarts.Add(1)
		}
		if in.polls.Load()-polls > 100 {
			backoff = in.cfg.PollInterval // it ran well for a while: start the backoff over
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, maxRetryBackoff)
	}
}

// runOnce loads the checkpoint and polls until ctx is done or a panic,
// which it recovers (panicked true).
func (in *Input) runOnce(ctx context.Context) (err error, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			in.log.Error("journal input panicked; restarting it from its last stored position",
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			in.closeAllAfterPanic()
			err, panicked = nil, true
		}
	}()
	in.notify = newNotifier(in.log, in.met, in.cfg.Dirs, &in.seams)
	defer func() {
		in.notify.close()
		in.notify = nil
	}()
	if err := in.start(); err != nil {
		return err, false
	}
	defer in.closeAll()
	defer func() {
		in.arena = nil
		in.acct.Close()
	}()
	// The first poll runs at once; then a poll runs when inotify reports a
	// change (at most one per PollInterval: a burst of events makes one
	// poll), when something waits for a retry, and otherwise every
	// ResyncInterval. Without notifications it runs every PollInterval.
	timer := time.NewTimer(0)
	defer timer.Stop()
	due := time.Now()
	wake := func(at time.Time) {
		if at.Before(due) {
			due = at
			timer.Reset(max(time.Until(at), 0))
		}
	}
	var lastPoll time.Time // when the last poll ended
	completed := false
	for {
		if completed {
			in.idle.Store(true) // nothing to do until the next poll: not a stall
		}
		select {
		case <-ctx.Done():
			in.idle.Store(false)
			return nil, false
		case ev := <-in.notify.events():
			if in.notify.relevant(ev) {
				wake(lastPoll.Add(in.cfg.PollInterval))
			}
			continue // still idle
		case err := <-in.notify.errors():
			// Events were lost: rescan everything now.
			in.notify.eventError(err, in.now())
			wake(time.Now())
			continue
		case <-timer.C:
		}
		in.idle.Store(false)
		in.markProgress() // the time of a stall counts from here
		in.notify.retrySetup(time.Now(), in.cfg.ResyncInterval)
		in.poll(ctx)
		if ctx.Err() != nil {
			return nil, false
		}
		completed = true
		lastPoll = time.Now()
		due = lastPoll.Add(in.pollAfter())
		timer.Reset(time.Until(due))
	}
}

// pollAfter is how long after a poll the next one is due when no event
// comes: PollInterval while something needs polling (no notifications for
// some directory, entries held back or waiting for a writer to finish them,
// directories just watched), when a failed path or entry is to be retried or
// a checkpoint is to be stored; ResyncInterval otherwise.
func (in *Input) pollAfter() time.Duration {
	pi := in.cfg.PollInterval
	if in.notify.degraded() || in.rewatch {
		return pi
	}
	d := in.cfg.ResyncInterval
	now := in.now()
	at := func(t time.Time) { d = min(d, max(t.Sub(now), pi)) }
	for _, s := range in.m.sources {
		switch {
		case s.blocked && s.ioRetries > 0:
			at(s.ioWait) // an entry that failed to read for an I/O error
		case !s.exhausted():
			// Entries held back (merger.limit: the writer's files were
			// not all observed) or a half-written entry of a live file.
			return pi
		}
	}
	for _, f := range in.fails.paths {
		at(f.retryAt)
	}
	if in.dirty {
		at(in.lastCP.Add(checkpointEvery))
	}
	return d
}

// closeAllAfterPanic closes what it can of a state a panic left behind.
func (in *Input) closeAllAfterPanic() {
	defer func() {
		if r := recover(); r != nil {
			in.log.Error("closing journal files after a panic panicked too", "panic", fmt.Sprint(r))
		}
	}()
	in.closeAll()
}

// Stalled reports whether the Input has made no progress (no poll
// completed, no batch stored, no entry read) for stallAfter, and why. An
// Input waiting for its next poll after a completed one (an idle journal:
// no event, nothing to retry) is not stalled, nor is one waiting for the
// spool to accept a batch: the spool reports a full disk or cap itself.
func (in *Input) Stalled(now time.Time) (bool, string) {
	if !in.running.Load() || in.appending.Load() || in.waitingMem.Load() || in.idle.Load() {
		return false, ""
	}
	limit := max(stallPolls*in.cfg.PollInterval, minStall)
	idle := now.Sub(time.Unix(0, in.lastProgress.Load()))
	if idle <= limit {
		return false, ""
	}
	why := fmt.Sprintf("journal input: no progress for %s (a poll or a batch has not finished)", idle.Round(time.Second))
	if n := in.restarts.Load(); n > 0 {
		why += fmt.Sprintf("; restarted %d times after a panic", n)
	}
	return true, why
}

// markProgress notes that the Input is alive and moving (see Stalled).
func (in *Input) markProgress() { in.lastProgress.Store(in.now().UnixNano()) }

// start loads the checkpoint and resets the merge state and the batch (a
// restart after a panic starts from what is stored, nothing else).
func (in *Input) start() error {
	clear(in.batch)
	in.batch = in.batch[:0]
	in.arena = nil
	in.batchBytes = 0
	in.acct.Close()
	in.dirty = false
	in.lastRT = 0
	in.sources = make(map[fileKey]*source)
	in.finished = make(map[fileKey]foundFile)
	in.refused = make(map[string]foundFile)
	in.fails = failures{in: in, paths: make(map[string]*failure)}
	in.readFails = failures{in: in, paths: make(map[string]*failure)}
	in.observed = make(map[journalfile.ID128]uint64)
	in.m = newMerger(in.entryError)
	in.m.follow = true
	in.m.onIOErr = func(s *source, i int, err error) { in.ioError(s, i, err) }
	in.m.limit = make(map[journalfile.ID128]uint64)
	b, err := in.sink.Checkpoint(in.key)
	if err != nil {
		return fmt.Errorf("systemd: loading checkpoint %s: %w", in.key, err)
	}
	in.pos = newPosition()
	if b != nil {
		p, err := parsePosition(b)
		if err != nil {
			// Starting over re-sends what is still on disk (the same IDs, so
			// Elasticsearch answers 409); refusing to start would lose the rest.
			in.met.err(reasonCheckpoint)
			in.log.Error("journal checkpoint is unreadable; reading the journal from the start", "key", in.key, "err", err)
		} else {
			in.pos = p
			in.log.Info("resuming the journal", "cursor", p.cursor.String(), "writers", len(p.seqnums))
		}
	}
	if b == nil && !in.cfg.Since.IsZero() {
		in.since = uint64(max(in.cfg.Since.UnixMicro(), 0))
	}
	for sid, mark := range in.pos.seqnums {
		in.m.floor[sid] = mark.Seqnum
	}
	// Open what is there now, so that the first poll observes it (see poll).
	in.scan()
	return nil
}

// entryError counts an unreadable entry; the first of each file is logged
// as a warning, the rest at debug level (a damaged tail can hold thousands).
func (in *Input) entryError(s *source, i int, err error) {
	delete(in.readFails.paths, s.path) // given up on: a later failure is a new one
	in.met.err(reasonEntry)
	in.markDamaged(s)
	s.badEntries++
	lvl := slog.LevelDebug
	if s.badEntries == 1 {
		lvl = slog.LevelWarn
	}
	in.log.Log(context.Background(), lvl, "skipping an unreadable journal entry (further ones in this file are logged at debug level)",
		"file", s.path, "entry", i, "err", err)
}

// poll refreshes the files, rescans the directories and ships what is new.
//
// The order matters (see merger.limit): first every open file is refreshed
// and the highest seqnum each shows is noted per writer; then the
// directories are listed (files created meanwhile are opened) and the files
// known before are refreshed once more. Every entry a writer numbered up to
// a noted seqnum was complete before the listing and the second refresh, so
// all of them are visible now, wherever the writer put them; the merge takes
// each writer's entries up to that seqnum. What was written in between waits
// for the next poll.
func (in *Input) poll(ctx context.Context) {
	known := append(in.known[:0], in.m.sources...)
	clear(in.observed)
	for _, s := range known {
		if !in.refreshSource(s) {
			continue
		}
		s.refreshStalls(in.now())
		if err := s.j.Err(); !isIOError(err) {
			in.fails.ok(s.path) // opened and refreshed: whatever failed before works
		}
		in.checkDamage(s)
		if v, ok := s.observe(); ok && v > in.observed[s.sid] {
			in.observed[s.sid] = v
		}
	}
	in.scan()
	for _, s := range known {
		if in.sources[s.key] != s || s.hdr.State == journalfile.StateArchived {
			continue // dropped, or no longer written
		}
		in.refreshSource(s)
	}
	clear(in.known)
	for sid, v := range in.observed {
		if in.m.limit != nil && v > in.m.limit[sid] {
			in.m.limit[sid] = v
		}
	}
	if err := in.drain(ctx); err != nil {
		return // ctx is done; what was not stored is read again next time
	}
	in.closeFinished()
	in.met.setFiles(len(in.sources))
	in.polls.Add(1)
	in.markProgress()
}

// refreshSource re-reads the header and entry count of s. A file whose
// header can no longer be read (overwritten in place, cut below its header)
// is let go: the next scan opens it afresh if it is still there, and the
// per-writer marks skip what was already taken.
func (in *Input) refreshSource(s *source) bool {
	if err := s.refresh(); err != nil {
		// Logged and counted once; reopened by a scan after a backoff.
		in.fails.fail(s.path, reasonRefresh, fmt.Errorf("refreshing (the file is reopened): %w", err))
		in.dropSource(s)
		return false
	}
	return true
}

// scan lists the directories: new files are opened, known files renamed
// are followed, vanished files are marked gone (and read to their end
// through the descriptor still held). A directory entry that cannot be
// examined or opened fails alone (see failures): what is known below it is
// kept, the other entries are scanned as usual.
func (in *Input) scan() {
	seen := make(map[fileKey]bool, len(in.sources))
	examined := make(map[string]bool, len(in.refused)+len(in.fails.paths))
	var held, dirs []string
	for _, dir := range in.cfg.Dirs {
		l := listJournalFiles(dir, in.fails.waiting)
		dirs = append(dirs, l.dirs...)
		for _, p := range l.problems {
			in.fails.fail(p.path, reasonScan, p.err)
		}
		held = append(held, l.held...)
		for _, f := range l.files {
			seen[f.key] = true
			examined[f.path] = true
			if s, ok := in.sources[f.key]; ok {
				s.path, s.gone, s.found = f.path, false, f
				continue
			}
			if fin, ok := in.finished[f.key]; ok {
				if fin.size == f.size && fin.mtime == f.mtime {
					in.fails.ok(f.path)
					continue
				}
				// Another file at a reused inode (the finished one was
				// deleted and a new one created between two scans).
				delete(in.finished, f.key)
			}
			if r, ok := in.refused[f.path]; ok && r == f {
				continue // refused before and unchanged: not retried, not reported again
			}
			if in.fails.waiting(f.path) {
				held = append(held, f.path)
				continue
			}
			if in.alreadyDone(f) {
				in.finished[f.key] = f
				in.fails.ok(f.path)
				continue
			}
			in.openSource(f)
		}
	}
	isHeld := func(p string) bool {
		for _, h := range held {
			if p == h || hasDirPrefix(p, h) {
				return true
			}
		}
		return false
	}
	for k, s := range in.sources {
		if !seen[k] && !isHeld(s.path) {
			s.gone = true
		}
	}
	for k := range in.finished {
		if !seen[k] {
			delete(in.finished, k)
		}
	}
	for p := range in.refused {
		if !examined[p] {
			delete(in.refused, p)
		}
	}
	in.fails.forget(func(p string) bool { return examined[p] || isHeld(p) })
	// A directory watched only now may have changed before its watch
	// existed: the next poll (a PollInterval later) looks once more.
	in.rewatch = in.notify.set(dirs) > 0
	in.scans.Add(1)
}

func hasDirPrefix(p, dir string) bool {
	return len(p) > len(dir) && p[:len(dir)] == dir && (p[len(dir)] == '/' || dir[len(dir)-1] == '/')
}

// alreadyDone reports, from the header alone, that an archived file holds
// nothing to ship: its last seqnum is at or below the writer's mark, or (on
// a first start) its last entry is older than Since. This spares walking
// the entry arrays of every old file on each restart.
func (in *Input) alreadyDone(f foundFile) bool {
	h, ok := peekHeader(f.path)
	if !ok || h.state != journalfile.StateArchived || h.nEntries == 0 {
		return false
	}
	if mark, ok := in.pos.seqnums[h.seqnumID]; ok && h.tailSeqnum != 0 && h.tailSeqnum <= mark.Seqnum {
		return true
	}
	return in.since != 0 && h.tailRT != 0 && h.tailRT < in.since
}

func (in *Input) openSource(f foundFile) {
	j, err := in.open(f.path)
	if err != nil {
		if isFormatError(err) {
			// What the file holds: retried when it changes (size, mtime, inode).
			in.refused[f.path] = f
			in.met.err(reasonOpen)
			in.met.inputErr(errReason(err))
			in.log.Warn("cannot read a journal file; it is retried when it changes", "file", f.path, "size", f.size, "reason", errReason(err), "err", err)
			return
		}
		in.fails.fail(f.path, reasonOpen, err)
		return
	}
	delete(in.refused, f.path)
	s := &source{j: j, path: f.path, key: f.key, found: f}
	s.sync()
	s.next = in.pos.startIndex(j, s.n)
	if in.since != 0 && s.next < s.n && s.hdr.State == journalfile.StateArchived &&
		s.hdr.TailEntryRealtime != 0 && s.hdr.TailEntryRealtime < in.since {
		s.next = s.n // every entry is older than Since
	}
	if d, ok := j.(interface{ DropCache() }); ok {
		// Opening walked the entry arrays through the read cache; files wait
		// their turn in the merge without holding it (a first start can open
		// a hundred files at once).
		d.DropCache()
	}
	in.sources[f.key] = s
	in.m.add(s)
	in.log.Debug("reading a journal file", "file", f.path, "entries", s.n, "from", s.next)
	in.checkDamage(s)
}

// checkDamage reports a file whose entry arrays are damaged.
func (in *Input) checkDamage(s *source) {
	if err := s.j.Err(); isIOError(err) {
		// The entry arrays could not be read: not damage; Refresh walks
		// them again on the next poll.
		in.fails.fail(s.path, reasonRefresh, fmt.Errorf("reading the entry arrays: %w", err))
		return
	}
	if s.corruptReported {
		return
	}
	if err := s.j.Err(); err != nil {
		in.markDamaged(s)
		in.log.Warn("journal file is damaged; reading the entries before the damage", "file", s.path, "entries", s.n, "err", err)
	}
}

// damagedEntry reports an entry read without some of its fields (shipped
// with log.flags "damaged_entry").
func (in *Input) damagedEntry(s *source, idx int) {
	in.markDamaged(s)
	s.damagedEntries++
	if s.damagedEntries == 1 {
		in.log.Warn("journal entry is missing unreadable fields; shipping the rest (further ones in this file are not logged)",
			"file", s.path, "entry", idx, "problems", len(in.ent.Problems))
	}
}

// ioError notes an entry of s that could not be read for an I/O error: it
// is logged and counted once per file and failure (readFails), and tried
// again after a backoff doubling from PollInterval to 30 s.
func (in *Input) ioError(s *source, idx int, err error) {
	in.readFails.fail(s.path, reasonRead, err)
	s.ioWait = in.now().Add(min(in.cfg.PollInterval<<min(s.ioRetries, 16), maxRetryBackoff))
	in.log.Debug("journal entry could not be read; it is read again later", "file", s.path, "entry", idx,
		"attempt", s.ioRetries, "retry_at", s.ioWait, "err", err)
}

// invalidNames counts the fields of an entry whose names systemd would
// refuse (kept as base64 in journald.invalid_fields); the first such entry
// of a file is logged and the file counted as damaged.
func (in *Input) invalidNames(s *source, idx, n int) {
	in.met.invalidNames(n)
	s.badNameEntries++
	if s.badNameEntries == 1 {
		in.markDamaged(s)
		in.log.Warn("journal entry has fields whose names systemd would refuse; shipping them as base64 in journald.invalid_fields (further ones in this file are not logged)",
			"file", s.path, "entry", idx, "fields", n)
	}
}

// markDamaged counts a file as damaged, once.
func (in *Input) markDamaged(s *source) {
	if !s.corruptReported {
		s.corruptReported = true
		in.met.corruptFile()
	}
}

// grant is the memory the Input asks for before it reads entries: a
// quarter of the budget, between 256 KiB and maxBatchBytes.
func (in *Input) grant() int64 {
	c := in.acct.Budget().Capacity()
	if c == 0 {
		return maxBatchBytes
	}
	return min(max(c/4, 256<<10), maxBatchBytes)
}

// batchLimit is the document bytes after which a batch is stored: half the
// grant (the arena block being filled and the entry being read are the rest).
func (in *Input) batchLimit() int {
	return int(in.grant() / 2)
}

// usage is the memory the batch holds: its documents, the arena block
// being filled and the records.
func (in *Input) usage() int64 {
	return int64(in.batchBytes+cap(in.arena)) + int64(cap(in.batch))*int64(unsafe.Sizeof(record.Record{}))
}

// waitMemory makes the Input hold its grant, waiting for it (holding
// nothing meanwhile).
func (in *Input) waitMemory(ctx context.Context) error {
	if in.acct.Held() >= in.grant() || in.acct.Grow(in.grant()) {
		return nil
	}
	in.arena = nil // hold nothing while waiting
	in.acct.Close()
	in.waitingMem.Store(true)
	defer in.waitingMem.Store(false)
	return in.acct.Wait(ctx, in.grant())
}

// drain ships every entry available now. It holds memory from the budget
// while it reads (see waitMemory); between polls only its arena block, and
// nothing while others wait for memory.
func (in *Input) drain(ctx context.Context) error {
	defer func() {
		if len(in.batch) == 0 && in.acct.Budget().Contended() {
			in.arena = nil
		}
		in.acct.Shrink(in.usage())
	}()
	for n := 1; ; n++ {
		if n%1024 == 0 {
			if ctx.Err() != nil {
				return ctx.Err() // a long backlog of filtered entries: stop promptly
			}
			in.markProgress()
		}
		s, idx, meta, ok := in.m.next()
		if !ok {
			break
		}
		if in.since != 0 && meta.Realtime < in.since {
			in.pos.advance(&meta)
			in.dirty = true
			continue
		}
		if err := in.waitMemory(ctx); err != nil {
			in.m.unread(s, idx)
			return err
		}
		if err := s.j.ReadEntry(idx, &in.ent); err != nil {
			if isIOError(err) && s.ioRetries < maxIORetries {
				// Not damage: read it again later, in its place (the
				// position does not move past it).
				in.m.putBack(s, idx)
				s.ioRetries++
				in.ioError(s, idx, err)
				continue
			}
			in.pos.advance(&meta)
			in.dirty = true
			in.entryError(s, idx, err)
			s.ioRetries = 0
			continue
		}
		in.pos.advance(&meta)
		in.dirty = true
		if s.ioRetries > 0 {
			s.ioRetries = 0
			in.readFails.ok(s.path)
		}
		if in.ent.Damaged {
			in.damagedEntry(s, idx)
		}
		if !in.filter.keep(in.ent.Fields, &in.scratch) {
			continue
		}
		in.addRecord()
		if n := in.enc.InvalidFieldNames(); n > 0 {
			in.invalidNames(s, idx, n)
		}
		if u := in.usage(); u > in.acct.Held() {
			in.acct.Force(u) // a large entry: allocated already; stored at once
		}
		if len(in.batch) >= in.cfg.BatchSize || in.batchBytes >= in.batchLimit() || in.usage() > in.grant() {
			if err := in.flush(ctx); err != nil {
				return err
			}
			if in.acct.Budget().Contended() {
				in.arena = nil
				in.acct.Close() // others wait: ask again, behind them
			} else {
				in.acct.Shrink(in.grant())
			}
		}
	}
	if len(in.batch) > 0 || in.dirty && in.now().Sub(in.lastCP) >= checkpointEvery {
		return in.flush(ctx)
	}
	return nil
}

func (in *Input) addRecord() {
	if cap(in.arena)-len(in.arena) < 16<<10 {
		in.arena = make([]byte, 0, arenaSize)
	}
	start := len(in.arena)
	var ts int64
	in.arena, ts = in.enc.Encode(in.arena, &in.ent)
	rec := record.Record{ID: RecordID(in.cfg.NodeName, &in.ent.EntryMeta), Time: ts}
	if ms, me := in.enc.MetaSpan(); me > ms {
		// The boot's members go to the records' shared Meta, and out of
		// the record's own part.
		rec.Meta, rec.At = in.metaOf(in.arena[start+ms:start+me]), ms
		n := copy(in.arena[start+ms:], in.arena[start+me:])
		in.arena = in.arena[:start+ms+n]
	}
	rec.Doc = in.arena[start:len(in.arena):len(in.arena)]
	in.batch = append(in.batch, rec)
	in.lastRT = in.ent.Realtime
	in.batchBytes += rec.DocLen()
}

// maxMetas is how many recent Metas addRecord compares an entry's with
// before it makes a new one.
const maxMetas = 4

// metaOf returns the Meta holding b: a recent one, or a new one.
func (in *Input) metaOf(b []byte) *record.Meta {
	for i, m := range in.metas {
		if bytes.Equal(m.Doc, b) {
			copy(in.metas[1:i+1], in.metas[:i])
			in.metas[0] = m
			return m
		}
	}
	m := &record.Meta{Doc: bytes.Clone(b)}
	if len(in.metas) < maxMetas {
		in.metas = append(in.metas, nil)
	}
	copy(in.metas[1:], in.metas)
	in.metas[0] = m
	return m
}

// appendBackoff is the journal's wait between failed appends: from 250 ms,
// doubling, up to 30 s. Each failure is logged and counted.
var appendBackoff = appendretry.Backoff{Initial: 250 * time.Millisecond, Max: 30 * time.Second}

// flush stores the batch and the position in one Append, retrying until it
// succeeds or ctx is done (the batch is never skipped: the position already
// points past it).
func (in *Input) flush(ctx context.Context) error {
	cp := record.Checkpoint{Key: in.key, Value: in.pos.marshal()}
	err := appendretry.Do(ctx, appendBackoff,
		func() error {
			in.appending.Store(true)
			err := in.sink.Append(ctx, in.batch, cp)
			in.appending.Store(false)
			in.markProgress()
			return err
		},
		func(_ int, wait time.Duration, err error) {
			in.met.err(reasonAppend)
			in.log.Warn("storing journal records failed; retrying", "records", len(in.batch), "retry_in", wait, "err", err)
		}, nil)
	if err != nil {
		return err
	}
	if len(in.batch) > 0 {
		lag := in.now().Sub(time.UnixMicro(int64(in.lastRT))).Seconds()
		in.met.stored(len(in.batch), in.batchBytes, max(lag, 0))
	}
	clear(in.batch)
	in.batch = in.batch[:0]
	in.arena = in.arena[:0] // the spool copied the documents
	in.batchBytes = 0
	in.dirty = false
	in.lastCP = in.now()
	return nil
}

// dropSource closes s and forgets it.
func (in *Input) dropSource(s *source) {
	if err := s.j.Close(); err != nil {
		in.log.Debug("closing a journal file", "file", s.path, "err", err)
	}
	in.m.remove(s)
	delete(in.sources, s.key)
	delete(in.readFails.paths, s.path)
}

// closeFinished closes files read to the end that will not grow: archived
// ones (remembered so they are not opened again) and deleted ones.
func (in *Input) closeFinished() {
	for k, s := range in.sources {
		if !s.exhausted() {
			continue
		}
		if !s.gone && s.hdr.State != journalfile.StateArchived {
			continue
		}
		in.dropSource(s)
		if !s.gone {
			in.finished[k] = s.found
		}
	}
}

func (in *Input) closeAll() {
	for k, s := range in.sources {
		_ = s.j.Close()
		delete(in.sources, k)
	}
	in.m.sources = nil
	in.met.setFiles(0)
}
