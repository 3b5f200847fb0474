package tailer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/logspool/logspool/internal/freelist"
	"github.com/logspool/logspool/internal/membudget"
	"github.com/logspool/logspool/parser"
	"github.com/logspool/logspool/spool/record"
)

const (
	// readSize is the largest size of one read and of the pooled read
	// buffers; a file with little to read gets a smaller one (bufClasses).
	readSize = 256 << 10
	// minPoll and maxPoll bound the backoff of a reader of a rotated file
	// waiting at its end until it is released (a notification wakes it
	// earlier). A matched file's reader does not poll: it waits for a
	// notification (or, where there are none, the scanner's poll).
	minPoll = 10 * time.Millisecond
	maxPoll = 250 * time.Millisecond
	// minCommitGap is the shortest time between two commits of one file at
	// its end (a full batch is committed at once).
	minCommitGap = 50 * time.Millisecond
	// maxBatchHint caps the preallocated records of a batch.
	maxBatchHint = 4096
	// bufIdle is how long a reader at the end of its file keeps its read
	// buffer while the file ends in an unterminated line (so that a line
	// written in pieces is not read again from its start at every piece);
	// otherwise, or when someone waits for memory, the buffer goes back at
	// once.
	bufIdle = time.Second
	// minDocAllowance is the document memory a reader asks for with its
	// read buffer; it grows without waiting up to Config.BatchDocBytes.
	minDocAllowance = 64 << 10
	// recordOverhead is the memory of one record besides its document.
	recordOverhead = int64(unsafe.Sizeof(record.Record{}))
)

// bufClasses are the sizes of pooled read buffers: a reader takes the
// smallest that holds what it has to read (plus the tail it re-checks).
var bufClasses = [...]int{16 << 10, 64 << 10, readSize}

var bufPools = [len(bufClasses)]sync.Pool{
	{New: func() any { b := make([]byte, bufClasses[0]); return &b }},
	{New: func() any { b := make([]byte, bufClasses[1]); return &b }},
	{New: func() any { b := make([]byte, bufClasses[2]); return &b }},
}

// getBuf returns a pooled buffer of the smallest class of at least n bytes,
// or a new one of n bytes when n is larger than every class.
func getBuf(n int) []byte {
	for i, c := range bufClasses {
		if n <= c {
			return *bufPools[i].Get().(*[]byte)
		}
	}
	return make([]byte, n)
}

// putBufBytes returns b to its pool (a buffer of no class is left to the
// garbage collector).
func putBufBytes(b []byte) {
	for i, c := range bufClasses {
		if len(b) == c && cap(b) == c {
			bufPools[i].Put(&b)
			return
		}
	}
}

// bufClassFor is the buffer size for n bytes to read: the smallest class
// that holds them, and no more than an eighth of the memory budget (so that
// a small budget is shared by several readers).
func (t *Tailer) bufClassFor(n int64) int {
	limit := readSize
	if c := t.budget.Capacity(); c > 0 {
		limit = max(int(c/8), bufClasses[0])
	}
	size := bufClasses[0]
	for _, c := range bufClasses {
		if c > limit {
			break
		}
		size = c
		if n+tailLen <= int64(c)*3/4 {
			break
		}
	}
	return size
}

// reader follows one open file. Its goroutine owns every field above mu; the
// fields under mu are shared with the scanner and Files.
type reader struct {
	t  *Tailer
	f  *os.File
	id fileID
	// holdsFD: f counts in t.heldFDs (guarded by t.mu): from addLocked to
	// closeFile.
	holdsFD bool
	key     string
	src     parser.Source // Path and Resolved as first discovered
	wake    chan struct{}
	check   atomic.Bool // re-check the fingerprint now (Reopen)

	fp      fingerprint
	fpFinal bool
	gen     uint64
	nonce   []byte     // mixed into the file key (nil: a version 1 key)
	ident   fsIdentity // the file system's identity of the open file
	// last holds the (at most tailLen) bytes just before lastEnd, as read.
	// Every read starts that many bytes early and checks them: a file cut
	// and rewritten behind the reader (copytruncate, also while it waited
	// for a full spool) is caught before a byte of the new content is taken
	// for the old.
	last     []byte
	lastEnd  int64
	dec      Decoder
	cutLimit int

	buf     []byte
	lo, hi  int   // buf[lo:hi] are unconsumed bytes
	bufOff  int64 // file offset of buf[0]
	readPos int64 // file offset of the next byte to read (of buf[hi])
	// readMax is the furthest offset read from the file (of this
	// generation): bytes between consumed and readMax were read and hold no
	// '\n' yet; they are read again from consumed when the buffer that held
	// them was given back.
	readMax int64

	// Memory (see membudget): acct holds at least usage(); the buffer, the
	// batch's records and the decoder's pending messages are counted.
	acct     *membudget.Account
	batchMem int64 // memory of the batch's records and documents
	needBuf  int   // a line needs a buffer this large (0: none)

	consumed    int64 // end of the last line handed to the decoder
	replayUntil int64 // records of lines ending at or before this were appended before a restart
	committed   position

	afterPartial bool // the next line continues one flushed unterminated (see flushPartial)
	// reread: complete lines past readPos were dropped from memory (putBuf
	// in the middle of a buffer, dropState rewinding to the resume offset):
	// they are read again although nothing new is known past readMax.
	reread bool

	cutting  bool // skipping the tail of an over-long line
	cutStart int64
	cutHead  []byte
	cutTail  []byte // the last parser.TailBytes skipped so far (docker's stream and time)
	cutSkip  int64

	batch      []record.Record
	batchHint  int // capacity for the next batch
	batchBytes int64
	batchLines int

	lastData    time.Time // when new bytes were last read
	lastActive  time.Time // when new bytes were last read, or the file opened (Config.CloseInactive)
	lastFPCheck time.Time
	lastCutLog  time.Time
	lastCommit  time.Time
	cuts        int
	lastSize    int64
	readErrs    int

	mu       sync.Mutex
	path     string
	resolved string
	matched  bool
	// unmatchedAt is when the globs stopped matching the file.
	unmatchedAt time.Time
	commOff     int64
	size        int64     // the file size last observed (by the reader or a scan)
	seenSize    int64     // the largest size scans saw since the last truncation
	seenFrozen  bool      // a scan saw the size drop: seenSize stays
	readTo      int64     // how far the reader has read (at its last end of file)
	movedAt     time.Time // when the reader last committed or was found at the end of the file
	appending   bool      // the reader waits in Sink.Append (a full spool is not a stall)
	waitingMem  bool      // the reader waits for memory (membudget): not a stall either
	failing     bool      // reads fail (counted and retried: a fault, not a stall)

	// waits counts the times the reader began to wait at the end of its
	// file: tests see by it that a reader went round its loop (settle).
	waits atomic.Uint64
}

func (t *Tailer) newReader(f *os.File, id fileID, path, resolved string, matched bool) *reader {
	return &reader{
		t:        t,
		f:        f,
		id:       id,
		key:      id.checkpointKey(),
		src:      parser.Source{Path: path, Resolved: resolved},
		wake:     make(chan struct{}, 1),
		cutLimit: t.cfg.MaxLineBytes + cutSlack,
		acct:     membudget.NewAccount(t.budget),
		path:     path,
		resolved: resolved,
		matched:  matched,
	}
}

// begin positions r at p before its goroutine starts.
func (r *reader) begin(p position, tail []byte) {
	r.readPos, r.consumed, r.replayUntil = p.Resume, p.Resume, p.Consumed
	r.readMax = p.Resume
	r.gen = p.Gen
	r.nonce = p.Nonce
	if r.nonce == nil && (!p.fromV1 || p.Consumed == 0) {
		// Only a file with records under a version 1 key keeps that key.
		r.nonce = nonceFor(r.ident)
	}
	r.last, r.lastEnd = tail, p.Resume
	switch {
	case p.Resume == 0 && p.Consumed == 0:
		r.fp, r.fpFinal = nil, false
	case len(p.FP) == 0: // read from tail: the fingerprint was never stored
		fp, _, err := readFingerprint(r.f)
		if err != nil {
			r.t.log.Warn("reading fingerprint", "path", r.pathNow(), "err", err)
		}
		r.fp, r.fpFinal = fp, true
	default:
		r.fp, r.fpFinal = p.FP, true
	}
	p.ID, p.FP, p.Path, p.Resolved = r.id, r.fp, r.src.Path, r.src.Resolved
	p.Nonce, p.Ident = r.nonce, r.ident
	r.committed = p
	r.commOff = p.Resume
	r.size = r.lastSize
	r.readTo = p.Resume
	r.lastData = r.t.clock.Now()
	r.lastActive = r.lastData
	r.lastFPCheck = r.lastData
	r.unmatchedAt = r.lastData
	r.movedAt = r.lastData
}

// poke wakes the reader; with recheck it also re-checks the fingerprint.
func (r *reader) poke(recheck bool) {
	if recheck {
		r.check.Store(true)
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// setMatched records whether the globs match the file now; it reports
// whether that changed.
func (r *reader) setMatched(ok bool, path, resolved string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.matched && !ok {
		r.unmatchedAt = r.t.clock.Now()
	}
	changed := r.matched != ok
	r.matched = ok
	if ok {
		r.path, r.resolved = path, resolved
	}
	return changed
}

// observeSize records the size a scan saw, so that a reader that makes no
// progress shows a growing lag (see Tailer.Stalled). It reports whether the
// size differs from the last one known.
func (r *reader) observeSize(size int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := size != r.size
	if size < r.size {
		r.seenFrozen = true // cut since: later sizes are of the new content
	}
	if !r.seenFrozen {
		r.seenSize = max(r.seenSize, size)
		r.observed(size)
	}
	r.size = size
	return changed
}

// observed reports (tests) a size of the file that its loss count will
// take into account.
func (r *reader) observed(size int64) {
	if r.t.onObserve != nil {
		r.t.onObserve(r.id, size)
	}
}

// takeSeenSize returns the largest size scans saw since the last call; size
// is the file's size now (after the cut), what later scans compare with.
func (r *reader) takeSeenSize(size int64) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.seenSize
	r.seenSize, r.seenFrozen = 0, false
	r.size = size
	return s
}

// takeSeenCut returns the largest size scans saw before they saw the file
// shrink (0 when they did not), and forgets it like takeSeenSize.
func (r *reader) takeSeenCut(size int64) int64 {
	r.mu.Lock()
	cut := r.seenFrozen
	r.mu.Unlock()
	if !cut {
		return 0
	}
	return r.takeSeenSize(size)
}

// stallState reports what Stalled needs: unread bytes, whether the reader
// waits for the spool, and when it last moved.
func (r *reader) stallState() (path string, unread int64, waiting bool, movedAt time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.path, r.size - r.readTo, r.appending || r.waitingMem || r.failing, r.movedAt
}

func (r *reader) setAppending(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.appending = on
}

// pathNow is the path r is followed under, for the reader's own logs: the
// scanner may change it (setMatched) while the reader runs.
func (r *reader) pathNow() string {
	p, _, _ := r.paths()
	return p
}

func (r *reader) paths() (path, resolved string, matched bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.path, r.resolved, r.matched
}

func (r *reader) state() FileState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return FileState{
		Path: r.path, Resolved: r.resolved, Key: r.key,
		Offset: r.commOff, Size: r.size, Lag: max(r.size-r.commOff, 0),
		Rotated: !r.matched,
	}
}

// run reads until ctx is done, the file is released or parked.
//
// A matched file's reader that has read everything waits for a wake-up (a
// notification of its directory, the scanner's poll where there are none,
// Reopen) without a timer, except while something is due: a commit (at most
// minCommitGap after the last), an unterminated last line (PartialIdle), its
// read buffer (bufIdle), a read error's retry, or closing the file once it
// has been inactive for CloseInactive. A rotated file's reader polls with
// backoff until it is released (RotatedIdle).
func (r *reader) run(ctx context.Context) {
	defer func() {
		r.putBuf()
		r.acct.Close()
		r.t.closeFile(r)
	}()
	poll := minPoll
	for ctx.Err() == nil {
		if r.t.hook != nil {
			r.t.hook("read")
		}
		prevMax := r.readMax
		n, err := r.read(ctx)
		if errors.Is(err, errRewritten) {
			if err := r.truncatedNow(ctx, "the bytes before the read offset changed"); err != nil {
				return
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			// Local to this file: counted, logged once, retried with
			// backoff; the position does not move past what was read.
			r.readErrs++
			r.t.faults.fail(r.src.Path, "reading file", err, r.t.clock.Now())
			poll = min(time.Duration(r.readErrs)*time.Second, faultMaxBackoff)
			r.published(func() { r.failing = true })
		} else if r.readErrs > 0 {
			r.readErrs = 0
			r.t.faults.ok(r.src.Path)
			r.published(func() { r.failing = false })
		}
		if n > 0 {
			if r.readMax > prevMax {
				r.lastData = r.t.clock.Now()
				r.lastActive = r.lastData
			}
			if err := r.process(ctx); err != nil {
				return
			}
			if r.t.budget.Contended() {
				// Others wait for memory: take turns, a buffer each.
				if err := r.handOver(ctx); err != nil {
					if r.handleDropErr(ctx, err) {
						return
					}
				}
			}
			poll = minPoll
			continue
		}
		// At the end of the file.
		wait, timed, act := r.atEnd(ctx, poll)
		switch act {
		case eofStop:
			return
		case eofAgain:
			continue
		}
		var ok bool
		if poll, ok = r.waitAtEnd(ctx, wait, timed, poll); !ok {
			return
		}
		// Check the file before reading what was written meanwhile: a file
		// truncated and rewritten must be read from 0, not from our offset.
		released, err := r.atEOF(ctx)
		if err != nil || released {
			return
		}
	}
}

// eofAction is what the reader does after atEnd.
type eofAction int

const (
	eofWait  eofAction = iota // wait: for the timer when timed, else for a wake-up
	eofAgain                  // read again at once
	eofStop                   // stop: ctx is done, or the file was parked
)

// atEnd is the reader at the end of its file: it flushes a partial line
// that is due, commits (at most once per minCommitGap), gives its buffer
// back when idle, parks the file when it should, and says how long to wait.
func (r *reader) atEnd(ctx context.Context, poll time.Duration) (wait time.Duration, timed bool, act eofAction) {
	if r.partialDue() {
		more, err := r.flushPartial(ctx)
		if err != nil {
			return 0, false, eofStop
		}
		if more {
			return 0, false, eofAgain // the file holds more: read it now
		}
	}
	now := r.t.clock.Now()
	pressure := r.t.underPressure()
	due := func(d time.Duration) {
		if !timed || d < wait {
			wait, timed = max(d, 0), true
		}
	}
	if r.dirty() {
		// Commit at the end of the file, but at most once per
		// minCommitGap: a file written line by line would otherwise
		// cost one spool transaction per line.
		if d := minCommitGap - now.Sub(r.lastCommit); d > 0 && !pressure && !r.t.slotWanted() {
			due(d)
		} else if err := r.commit(ctx); err != nil {
			return 0, false, eofStop
		}
	}
	if r.buf != nil {
		// Keep the buffer a moment while the file ends in a line being
		// written, unless someone waits for memory.
		if d := bufIdle - now.Sub(r.lastData); r.lo < r.hi && d > 0 && !r.t.budget.Contended() {
			due(d)
		} else {
			r.rest()
		}
	}
	if r.buf == nil {
		if err := r.settle(ctx); err != nil {
			if r.handleDropErr(ctx, err) {
				return 0, false, eofStop
			}
			return 0, false, eofAgain
		}
	}
	if r.canPark() && (pressure || r.t.slotWanted() || now.Sub(r.lastActive) >= r.t.cfg.CloseInactive) {
		// Out of descriptors, other files wait for one, or inactive:
		// give this one back; the scanner opens the file again from
		// its checkpoint when it is written to. Look at the file first:
		// after a wait (a full spool, memory) it may have grown or been
		// cut, and a parked file keeps only its checkpoint, so bytes a
		// scan saw past it would be neither read nor counted lost.
		if released, err := r.atEOF(ctx); err != nil || released {
			return 0, false, eofStop
		}
		if !r.canPark() {
			return 0, false, eofAgain
		}
		if r.t.hook != nil {
			r.t.hook("park")
		}
		r.t.park(r, r.lastSize, r.committed.Consumed)
		return 0, false, eofStop
	}
	_, _, matched := r.paths()
	switch {
	case r.readErrs > 0 || !matched:
		due(poll)
	case r.canPark():
		due(r.t.cfg.CloseInactive - now.Sub(r.lastActive))
	}
	if r.unterminated() && matched {
		due(r.t.cfg.PartialIdle - now.Sub(r.lastData))
	}
	return wait, timed, eofWait
}

// waitAtEnd waits at the end of the file for a wake-up, or the timer when
// timed; it returns the next poll interval, and false when ctx is done.
func (r *reader) waitAtEnd(ctx context.Context, wait time.Duration, timed bool, poll time.Duration) (time.Duration, bool) {
	var tc <-chan time.Time
	var stop Timer
	if timed {
		tc, stop = r.t.clock.NewTimer(wait)
	}
	r.waits.Add(1)
	select {
	case <-ctx.Done():
		if stop != nil {
			stop.Stop()
		}
		return poll, false
	case <-r.wake:
		if stop != nil {
			stop.Stop()
		}
		poll = minPoll
	case <-tc:
		if r.readErrs == 0 {
			poll = min(poll*2, maxPoll)
		}
	}
	return poll, true
}

// canPark reports whether r may close its file: it is matched (not a
// rotated file being drained), read to its end, ends in a complete line,
// holds no partial message, and everything decoded is committed. Closing it
// then loses nothing even if the file is rotated and deleted before it is
// opened again: every byte it held is in the spool.
func (r *reader) canPark() bool {
	_, _, matched := r.paths()
	p := r.position() // Resume < Consumed: a partial message is pending (maybe dropped, see dropState)
	return matched && r.readErrs == 0 && !r.cutting && p.Resume == p.Consumed && !r.unterminated() &&
		r.readPos >= r.lastSize && r.consumed >= r.lastSize && !r.dirty()
}

// unterminated reports whether bytes were read past the last complete line
// (an unterminated last line, or the head of a line being cut).
func (r *reader) unterminated() bool {
	return r.cutting || max(r.readMax, r.readPos) > max(r.consumed, r.replayUntil)
}

// usage is the memory r holds: its read buffer, its batch, the head and
// tail of a line being cut and what its decoder keeps between lines.
func (r *reader) usage() int64 {
	n := int64(cap(r.buf)) + r.batchMem + int64(cap(r.batch))*recordOverhead + int64(cap(r.cutHead)) + int64(cap(r.cutTail))
	if d, ok := r.dec.(retainer); ok {
		n += int64(d.Retained())
	}
	return n
}

// retainer is a Decoder that reports and trims the memory it keeps between
// lines (*parser.Decoder).
type retainer interface {
	Retained() int
	Trim()
}

// rest gives back what r does not need while it waits: its read buffer (an
// unterminated last line in it is read again later) and its decoder's
// scratch memory; it keeps its batch and pending partial messages.
func (r *reader) rest() {
	r.putBuf()
	if d, ok := r.dec.(retainer); ok {
		d.Trim()
	}
	r.acct.Shrink(r.usage())
}

// docAllowance is the document memory a reader asks for with its buffer:
// minDocAllowance, at most BatchDocBytes and an eighth of the budget.
func (t *Tailer) docAllowance() int64 {
	a := int64(min(minDocAllowance, t.cfg.BatchDocBytes))
	if c := t.budget.Capacity(); c > 0 {
		a = min(a, max(c/8, 4<<10))
	}
	return a
}

// settle is what a reader at rest at the end of its file holds: only what
// it uses (its pending partial messages, a batch waiting for its commit),
// and nothing at all while someone waits for memory (handOver).
func (r *reader) settle(ctx context.Context) error {
	if r.t.budget.Contended() && r.acct.Held() > 0 {
		return r.handOver(ctx)
	}
	r.acct.Shrink(r.usage())
	return nil
}

// handOver gives back all of r's memory: it commits its batch and drops
// what it can read again (dropState). Reading goes on when new bytes come
// (or a partial line is due), with memory asked for anew.
func (r *reader) handOver(ctx context.Context) error {
	if err := r.commit(ctx); err != nil {
		return err
	}
	if err := r.dropState(); err != nil {
		return err
	}
	r.acct.Close()
	return nil
}

// handleDropErr handles an error of handOver or settle in the run loop: it
// reports whether the reader must stop.
func (r *reader) handleDropErr(ctx context.Context, err error) bool {
	switch {
	case ctx.Err() != nil:
		return true
	case errors.Is(err, errRewritten):
		return r.truncatedNow(ctx, "the bytes before the read offset changed") != nil
	default:
		r.t.faults.fail(r.src.Path, "reading file", err, r.t.clock.Now())
		return false
	}
}

// startWork makes r hold memory for a read buffer of size bufSize and some
// room for documents, on top of what it holds. When the budget cannot give
// it without a wait, r hands over what it holds first: it commits its batch
// and drops what it can read again (dropState), then waits with nothing
// held (membudget's rule against deadlock).
func (r *reader) startWork(ctx context.Context, bufSize int) error {
	allowance := r.t.docAllowance()
	if r.acct.Grow(r.usage() + int64(bufSize) + allowance) {
		return nil
	}
	if err := r.commit(ctx); err != nil {
		return err
	}
	if err := r.dropState(); err != nil {
		return err
	}
	r.acct.Close()
	r.published(func() { r.waitingMem = true })
	defer r.published(func() { r.waitingMem = false })
	return r.acct.Wait(ctx, r.usage()+int64(bufSize)+allowance)
}

// dropState brings r back to its committed position with nothing in memory
// but what is needed to go on: the buffer goes back, and when the decoder
// holds a partial message (or a line is being cut) the decoder goes too and
// reading restarts at the committed resume offset, where the lines up to
// the committed consumed offset are decoded again without being appended
// (as after a restart). Everything decoded must be committed. It reports
// errRewritten when the bytes before the resume offset are no longer those
// the checkpoint hashed.
func (r *reader) dropState() error {
	if r.dirty() {
		return errors.New("tailer: dropping a reader's state with uncommitted records")
	}
	if r.cutting {
		r.cutting, r.cutHead, r.cutTail, r.cutSkip = false, nil, nil, 0
		r.readPos = r.consumed
	}
	r.putBuf()
	resume := r.committed.Resume
	if r.dec == nil || resume >= r.consumed {
		if d, ok := r.dec.(retainer); ok {
			d.Trim()
		}
		return nil
	}
	var tail []byte
	if sum := r.committed.Tail; resume > 0 {
		n := sum.N
		if n == 0 {
			n = tailLen // not hashed (unreadable then): nothing to check, but remember
		}
		b, err := readTail(r.f, resume, n)
		if err != nil {
			return err
		}
		switch {
		case sum.N == 0:
			tail = tailWindow(b)
		case len(b) != sum.N || sumTail(b) != sum:
			return errRewritten
		default:
			tail = b
		}
	}
	r.dec = nil
	r.replayUntil = max(r.replayUntil, r.consumed)
	r.consumed, r.readPos = resume, resume
	r.reread = true
	r.last, r.lastEnd = tail, resume
	return nil
}

// read reads the next chunk of the file into buf[hi:], taking memory for a
// buffer first when r has none. Nothing is read while nothing is known past
// what was read (the size is checked at every wake-up).
func (r *reader) read(ctx context.Context) (int, error) {
	if r.buf == nil && r.lastSize <= r.readMax && !r.reread {
		return 0, nil
	}
	return r.readChunk(ctx)
}

// readChunk reads into buf[hi:] from readPos.
func (r *reader) readChunk(ctx context.Context) (int, error) {
	if r.t.readFault != nil {
		if err := r.t.readFault(r.src.Path); err != nil {
			return 0, err
		}
	}
	if again, err := r.makeRoom(ctx); err != nil {
		return 0, err
	} else if again {
		return r.readChunk(ctx)
	}
	// Start tailLen bytes early and check them (see reader.last).
	ov := 0
	if r.lastEnd == r.readPos && len(r.last) > 0 {
		ov = len(r.last)
	}
	var dst []byte
	switch {
	case ov > 0 && r.hi >= ov:
		dst = r.buf[r.hi-ov:] // buf[hi-ov:hi] are those bytes
	case ov > 0 && r.hi == 0 && ov < len(r.buf):
		r.lo, r.hi, r.bufOff = ov, ov, r.readPos-int64(ov)
		dst = r.buf
	default:
		ov = 0
		dst = r.buf[r.hi:]
	}
	fresh := r.readPos == 0 && r.readMax == 0 && r.consumed == 0 && !r.cutting
	n, err := r.f.ReadAt(dst, r.readPos-int64(ov))
	if fresh && errors.Is(err, io.EOF) && int64(n) < r.lastSize {
		// Not a byte read yet, and the file ends before a size the
		// reader saw (it waited for memory or the spool): it was cut
		// meanwhile, what it holds now is new. What it held is lost.
		lost := max(r.lastSize, r.takeSeenSize(int64(n)))
		r.t.m.rotation("truncate")
		r.t.m.lostBytes(LostTruncated, lost)
		r.t.log.Warn("file truncated before it was read; reading it from the start", "path", r.src.Path,
			"size", n, "lost_bytes", lost)
		r.lastSize = int64(n)
	}
	if ov > 0 {
		if n < ov || !bytes.Equal(dst[:ov], r.last) {
			if err != nil && !errors.Is(err, io.EOF) {
				copy(dst, r.last)
				return 0, err
			}
			return 0, errRewritten
		}
		n -= ov
	}
	r.hi += n
	r.readPos += int64(n)
	if r.readPos >= r.readMax {
		r.reread = false
	}
	if n > 0 {
		r.remember(r.hi)
		r.observed(r.readPos)
		r.readMax = max(r.readMax, r.readPos)
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

// makeRoom gets r.buf ready for a read: a buffer at all, a larger one when
// more is to be read than it holds, and room at its end (the bytes not yet
// consumed moved to its start, or the buffer grown for a line longer than
// it). again: it could not grow without a wait, the state was dropped, and
// the read starts over (with a buffer that large).
func (r *reader) makeRoom(ctx context.Context) (again bool, err error) {
	if r.buf == nil {
		size := r.t.bufClassFor(r.lastSize - r.readPos)
		if r.needBuf > 0 {
			size = r.needBuf
		}
		if err := r.startWork(ctx, size); err != nil {
			return false, err
		}
		r.buf = getBuf(size)
		r.lo, r.hi, r.bufOff = 0, 0, r.readPos
	}
	if r.lo == r.hi {
		r.lo, r.hi, r.bufOff = 0, 0, r.readPos
		if size := r.t.bufClassFor(r.lastSize - r.readPos); size > len(r.buf) &&
			r.acct.Grow(r.usage()-int64(cap(r.buf))+int64(size)) {
			// More to read than the buffer holds: a larger one.
			putBufBytes(r.buf)
			r.buf = getBuf(size)
			r.acct.Shrink(max(r.usage(), r.acct.Held()))
		}
	}
	if len(r.buf)-r.hi < len(r.buf)/4 {
		if r.lo > 0 {
			copy(r.buf, r.buf[r.lo:r.hi])
			r.bufOff += int64(r.lo)
			r.hi -= r.lo
			r.lo = 0
		}
		if len(r.buf)-r.hi < len(r.buf)/4 {
			// A line longer than the buffer: grow up to cutLimit + readSize,
			// which process keeps enough (it cuts at cutLimit).
			size := min(2*len(r.buf), r.cutLimit+readSize)
			if !r.acct.Grow(r.usage() - int64(cap(r.buf)) + int64(size)) {
				// Not without a wait: start over from the committed
				// position with a buffer that large (startWork).
				r.needBuf = size
				if err := r.commit(ctx); err != nil {
					return false, err
				}
				if err := r.dropState(); err != nil {
					return false, err
				}
				return true, nil
			}
			nb := getBuf(size)
			copy(nb, r.buf[:r.hi])
			putBufBytes(r.buf)
			r.buf = nb
		}
	}
	return false, nil
}

// errRewritten reports that the bytes just before the read offset are no
// longer those the reader read: the file was truncated and rewritten.
var errRewritten = errors.New("tailer: file rewritten behind the reader")

// remember keeps the (at most tailLen) bytes of buf before index end, which
// is the file offset bufOff+end.
func (r *reader) remember(end int) {
	r.last = append(r.last[:0], tailWindow(r.buf[:end])...)
	r.lastEnd = r.bufOff + int64(end)
}

// putBuf returns the read buffer (and any partial line in it: it is read
// again from consumed).
func (r *reader) putBuf() {
	if r.buf == nil {
		return
	}
	if !r.cutting {
		if bytes.IndexByte(r.buf[r.lo:r.hi], '\n') >= 0 {
			r.reread = true
		}
		r.readPos = r.consumed
		if r.lo > 0 {
			r.remember(r.lo) // the bytes before consumed, for the next read's check
		}
	}
	if r.needBuf > 0 && r.consumed >= r.readMax {
		r.needBuf = 0 // the long line is behind
	}
	putBufBytes(r.buf)
	r.buf = nil
	r.lo, r.hi = 0, 0
}

// keepTail appends b to tail and keeps the last parser.TailBytes: the end
// of an over-long line, where docker writes "stream" and "time".
func keepTail(tail, b []byte) []byte {
	if len(b) >= parser.TailBytes {
		return append(tail[:0], b[len(b)-parser.TailBytes:]...)
	}
	if over := len(tail) + len(b) - parser.TailBytes; over > 0 {
		tail = append(tail[:0], tail[over:]...)
	}
	return append(tail, b...)
}

// process hands the complete lines in buf to the decoder, cutting over-long
// ones, and commits whenever BatchBytes of input have been decoded.
func (r *reader) process(ctx context.Context) error {
	for r.lo < r.hi {
		data := r.buf[r.lo:r.hi]
		i := bytes.IndexByte(data, '\n')
		if r.cutting {
			if i < 0 {
				r.cutSkip += int64(len(data))
				r.cutTail = keepTail(r.cutTail, data)
				r.lo = r.hi
				return nil
			}
			r.cutSkip += int64(i)
			r.cutTail = keepTail(r.cutTail, data[:i])
			end := r.bufOff + int64(r.lo+i+1)
			r.lo += i + 1
			r.lineCut(r.cutStart, end, r.cutSkip)
			r.deliver(parser.Line{Bytes: r.cutHead, Tail: r.cutTail, Start: r.cutStart, End: end, Truncated: true})
			r.cutting, r.cutHead, r.cutTail, r.cutSkip = false, nil, r.cutTail[:0], 0
		} else if i < 0 {
			if len(data) > r.cutLimit {
				r.cutting = true
				r.cutStart = r.bufOff + int64(r.lo)
				r.cutHead = bytes.Clone(data[:r.cutLimit])
				r.cutTail = keepTail(r.cutTail[:0], data[r.cutLimit:])
				r.cutSkip = int64(len(data) - r.cutLimit)
				r.lo = r.hi
			}
			return nil
		} else if i > r.cutLimit {
			// An over-long line that happens to lie whole in the buffer is
			// cut exactly like one that does not, so that a re-read after a
			// restart produces the same record.
			start := r.bufOff + int64(r.lo)
			r.lo += i + 1
			r.lineCut(start, start+int64(i)+1, int64(i-r.cutLimit))
			r.deliver(parser.Line{Bytes: data[:r.cutLimit], Tail: data[max(r.cutLimit, i-parser.TailBytes):i],
				Start: start, End: start + int64(i) + 1, Truncated: true})
		} else {
			start := r.bufOff + int64(r.lo)
			r.lo += i + 1
			r.deliver(parser.Line{Bytes: data[:i], Start: start, End: start + int64(i) + 1})
		}
		if err := r.fit(ctx); err != nil {
			return err
		}
	}
	return nil
}

// fit commits the batch when it is full (BatchBytes of input, or
// BatchDocBytes of documents), or when r holds more memory than it was
// given and the budget cannot give more without a wait: the memory is
// already allocated (Force counts it, so that others wait), and the commit
// gives most of it back.
func (r *reader) fit(ctx context.Context) error {
	if r.batchBytes >= int64(r.t.cfg.BatchBytes) || r.batchMem >= int64(r.t.cfg.BatchDocBytes) {
		return r.commit(ctx)
	}
	if u := r.usage(); u > r.acct.Held() && !r.acct.Grow(u+r.t.docAllowance()) {
		r.acct.Force(u)
		return r.commit(ctx)
	}
	return nil
}

// lineCut counts and logs the cut of the line [start, end) that lost lost
// bytes, unless the line is re-read after a restart (counted before).
func (r *reader) lineCut(start, end, lost int64) {
	if end <= r.replayUntil {
		return
	}
	r.t.m.lostBytes(LostLineCut, lost)
	r.cuts++
	if r.t.clock.Now().Sub(r.lastCutLog) < time.Minute {
		return // logged at most once a minute per file; the metric counts all
	}
	r.lastCutLog = r.t.clock.Now()
	r.t.log.Warn("cut over-long line", "path", r.src.Path, "offset", start,
		"line_bytes", end-start-1, "kept_bytes", end-start-1-lost, "lost_bytes", lost, "cut_lines_so_far", r.cuts)
}

// partialDue reports whether r holds an unterminated last line of a matched
// file that has produced nothing for PartialIdle, as far as r has read:
// flushPartial checks the file's size before it flushes (see grownPastRead).
func (r *reader) partialDue() bool {
	if !r.unterminated() {
		return false
	}
	if r.t.clock.Now().Sub(r.lastData) < r.t.cfg.PartialIdle {
		return false
	}
	_, _, matched := r.paths()
	return matched // an unmatched file's last line is flushed at its release
}

// flushPartial hands the unterminated bytes at the end of the file to the
// decoder as a line flagged partial, flushes the decoder's pending partial
// messages, and commits: the position moves past those bytes. What is written
// after them later starts a new line (flagged partial up to its '\n'): a line
// completed after its head was flushed ships as two records, nothing twice
// and nothing lost. It flushes nothing, and reports more, when the file holds
// bytes past what r has read (grownPastRead): then the file is not idle.
func (r *reader) flushPartial(ctx context.Context) (more bool, err error) {
	if !r.cutting && (r.buf == nil || r.bufOff+int64(r.lo) != r.consumed || r.bufOff+int64(r.hi) < r.readMax) {
		// The unterminated bytes went back with the buffer: read them again.
		r.putBuf()
		before := r.readMax
		for r.readPos < r.readMax {
			n, err := r.readChunk(ctx)
			if errors.Is(err, errRewritten) {
				return false, r.truncatedNow(ctx, "the bytes before the read offset changed")
			}
			if err != nil {
				if ctx.Err() != nil {
					return false, err
				}
				r.t.faults.fail(r.src.Path, "reading an unterminated line", err, r.t.clock.Now())
				return false, nil
			}
			if n == 0 {
				break
			}
			if err := r.process(ctx); err != nil {
				return false, err
			}
		}
		if r.readMax > before {
			r.lastData = r.t.clock.Now() // written meanwhile: not idle
			r.lastActive = r.lastData
			return false, nil
		}
		if !r.unterminated() {
			return false, nil
		}
	}
	if r.grownPastRead() {
		return true, nil
	}
	switch {
	case r.cutting:
		r.lineCut(r.cutStart, r.readPos+1, r.cutSkip)
		r.deliver(parser.Line{Bytes: r.cutHead, Tail: r.cutTail, Start: r.cutStart, End: r.readPos, Truncated: true, Partial: true})
		r.cutting, r.cutHead, r.cutSkip = false, nil, 0
		r.lo = r.hi
	case r.buf != nil && r.bufOff+int64(r.lo) == r.consumed && r.bufOff+int64(r.hi) == r.readPos:
		r.deliver(parser.Line{Bytes: r.buf[r.lo:r.hi], Start: r.consumed, End: r.readPos, Partial: true})
		r.lo = r.hi
	default:
		// The buffer could not hold them: read the bytes again.
		if err := r.drainTail(max(r.readPos, r.readMax)); err != nil {
			r.t.faults.fail(r.src.Path, "reading an unterminated line", err, r.t.clock.Now())
			return false, nil
		}
	}
	r.afterPartial = true
	if r.dec != nil {
		r.batch = r.dec.Flush(r.batch)
	}
	return false, r.commit(ctx)
}

// grownPastRead reports whether the file holds bytes past the furthest r
// has read, taking its size (so that read reads them) and the time as the
// last activity. That r has read nothing new for PartialIdle does not mean
// that the file produced nothing: r may have waited that long for a full
// spool or for memory, and read again what it had given back (its buffer,
// or its state, from the committed offset) with a buffer that ended exactly
// where its first read had ended, in the middle of a line. Flushing that
// line then shipped its head and its rest, on disk all along, as two
// records (TestALineIsNotSplitWhenABlockedReaderReadsItAgain). When the size
// cannot be taken, it reports false: the flush goes on as before (atEOF
// counts the failure).
func (r *reader) grownPastRead() bool {
	fi, err := r.f.Stat()
	if err != nil {
		return false
	}
	size := fi.Size()
	if size <= max(r.readPos, r.readMax) {
		return false
	}
	r.lastSize = max(r.lastSize, size)
	r.observed(size)
	r.lastData = r.t.clock.Now()
	r.lastActive = r.lastData
	return true
}

// deliver decodes one line into the batch.
func (r *reader) deliver(ln parser.Line) {
	if r.afterPartial {
		ln.Partial, r.afterPartial = true, false
	}
	if r.dec == nil {
		if !r.fpFinal {
			fp, _, err := readFingerprint(r.f)
			if err != nil {
				r.t.log.Warn("reading fingerprint", "path", r.pathNow(), "err", err)
			}
			// A complete line exists, so the fingerprint is final unless
			// the file was truncated under us; either way it is fixed now
			// so that the file key stays the same.
			r.fp, r.fpFinal = fp, true
		}
		src := r.src
		src.FileKey = fileKey(r.id, r.gen, r.fp, r.nonce)
		r.dec = r.t.cfg.NewDecoder(src)
	}
	if r.batch == nil {
		r.batch = getBatch(max(r.batchHint, 16))
	}
	n := len(r.batch)
	r.batch = r.dec.Decode(r.batch, ln)
	if ln.End <= r.replayUntil {
		r.batch = r.batch[:n] // appended before the restart
	}
	for i := n; i < len(r.batch); i++ {
		r.batchMem += int64(cap(r.batch[i].Doc))
	}
	r.consumed = ln.End
	r.batchBytes += ln.End - ln.Start
	r.batchLines++
}

// position returns the checkpoint of what has been decoded so far.
func (r *reader) position() position {
	resume := r.consumed
	if r.dec != nil {
		if p, ok := r.dec.Pending(); ok && p < resume {
			resume = p
		}
	}
	return position{
		Resume: resume, Consumed: max(r.consumed, r.replayUntil),
		Size: max(r.lastSize, r.readPos, r.readMax), ID: r.id, Gen: r.gen, FP: r.fp,
		Path: r.src.Path, Resolved: r.src.Resolved, Nonce: r.nonce, Ident: r.ident,
	}
}

// encode sets p's hash of the bytes before p.Resume (taken from what the
// reader read when it has them, else read from the file) and its time, and
// encodes it.
func (r *reader) encode(p *position) []byte {
	p.Tail = r.tailSumAt(p.Resume)
	p.At = time.Now().UnixNano()
	return encodePosition(*p)
}

func (r *reader) tailSumAt(off int64) tailSum {
	if off == 0 {
		return tailSum{}
	}
	if r.lastEnd == off && len(r.last) > 0 {
		return sumTail(r.last)
	}
	if r.buf != nil && off <= r.bufOff+int64(r.hi) && off > r.bufOff {
		return sumTail(tailWindow(r.buf[:off-r.bufOff]))
	}
	b, err := readTail(r.f, off, tailLen)
	if err != nil || len(b) == 0 {
		return tailSum{} // not checked on resume
	}
	return sumTail(tailWindow(b))
}

// dirty reports whether records or a position change await a commit.
func (r *reader) dirty() bool {
	if len(r.batch) > 0 {
		return true
	}
	p := r.position()
	return p.Resume != r.committed.Resume || p.Consumed != r.committed.Consumed || p.Gen != r.committed.Gen
}

// commit appends the batch and the file's checkpoint, when either changed.
func (r *reader) commit(ctx context.Context) error {
	if !r.dirty() {
		return nil
	}
	p := r.position()
	cp := record.Checkpoint{Key: r.key, Value: r.encode(&p)}
	return r.appendBatch(ctx, p, cp)
}

func (r *reader) appendBatch(ctx context.Context, p position, cp record.Checkpoint) error {
	if f, ok := r.t.sink.(interface{ Full() bool }); ok && len(r.batch) > 0 && f.Full() {
		// The append waits for room: wait without the read buffer (what
		// it holds past the batch is read again).
		r.rest()
	}
	r.setAppending(true)
	err := appendRetry(ctx, r.t.sink, r.t.log, r.batch, cp)
	r.setAppending(false)
	if err != nil {
		return err
	}
	r.t.m.read(r.batchBytes, r.batchLines)
	if r.batchLines > 0 {
		r.t.faults.ok(r.src.Path) // progress: a panic before this one is history
	}
	if s, ok := r.dec.(interface{ SyncMetrics() }); ok {
		s.SyncMetrics() // the parser counts lines in bulk
	}
	r.committed = p
	r.lastCommit = r.t.clock.Now()
	// The spool copied the records: their memory is reused. The next batch
	// is taken when it is needed: an idle file keeps no record slice.
	if rc, ok := r.dec.(interface{ Recycle() }); ok {
		rc.Recycle()
	}
	r.batchHint = min(len(r.batch), maxBatchHint)
	putBatch(r.batch)
	r.batch = nil
	r.batchBytes, r.batchLines, r.batchMem = 0, 0, 0
	r.acct.Shrink(r.usage() + int64(r.t.cfg.BatchDocBytes))
	var matched bool
	var lag int64
	r.published(func() {
		r.commOff = p.Resume
		r.readTo = r.readPos
		r.movedAt = r.lastCommit
		r.size = max(r.size, r.lastSize)
		matched, lag = r.matched, max(r.size-r.commOff, 0)
	})
	if matched {
		r.t.m.setLag(r.src.Path, lag)
	}
	return nil
}

// published runs f under r.mu (fields shared with the scanner and Files).
func (r *reader) published(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f()
}

// atEOF runs when the file is read to its end: it detects truncation,
// publishes the lag and releases a file that is no longer matched and has
// been idle for RotatedIdle. It reports whether r was released.
func (r *reader) atEOF(ctx context.Context) (bool, error) {
	fi, err := r.f.Stat()
	if err != nil {
		r.t.faults.fail(r.src.Path, "stating open file", err, r.t.clock.Now())
		return false, nil
	}
	size := fi.Size()
	_, nlink, _ := statOf(fi)
	if size < max(r.readPos, r.readMax) {
		return false, r.truncated(ctx, size, "size below read offset")
	}
	now := r.t.clock.Now()
	if r.fpFinal && len(r.fp) > 0 && (r.check.Swap(false) || size != r.lastSize || now.Sub(r.lastFPCheck) >= r.t.cfg.PollInterval) {
		r.lastFPCheck = now
		ok, err := r.fp.matches(r.f)
		if err != nil {
			r.t.log.Warn("reading fingerprint", "path", r.pathNow(), "err", err)
		} else if !ok {
			return false, r.truncated(ctx, size, "first line changed")
		}
	}
	if r.readPos == 0 && r.readMax == 0 && r.consumed == 0 && !r.cutting {
		// Not a byte read yet (since the start or the last cut), so
		// neither the size nor the first line tells a cut: a scan saw
		// it (copytruncate before the reader's first read). What the
		// scans saw before it is lost; the content now is new.
		if lost := r.takeSeenCut(size); lost > 0 {
			r.t.m.rotation("truncate")
			r.t.m.lostBytes(LostTruncated, lost)
			r.t.log.Warn("file truncated before it was read; reading it from the start", "path", r.src.Path,
				"size", size, "lost_bytes", lost)
		}
	}
	r.lastSize = size
	r.observed(size)
	var matched bool
	var unmatchedAt time.Time
	var lag int64
	r.published(func() {
		r.size, r.readTo = size, r.readPos
		if r.readPos >= size {
			r.movedAt = now
		}
		matched, unmatchedAt = r.matched, r.unmatchedAt
		lag = max(size-r.commOff, 0)
	})
	if matched {
		r.t.m.setLag(r.src.Path, lag)
	}
	// Released only once it has been unmatched and idle for RotatedIdle:
	// the runtime may still write to a file rotated a moment ago.
	idle := r.t.cfg.RotatedIdle
	if matched || now.Sub(unmatchedAt) < idle || now.Sub(r.lastData) < idle || max(r.readPos, r.readMax) < size {
		return false, nil
	}
	return true, r.release(ctx, nlink > 0)
}

// truncated restarts r at offset 0 of a file that was truncated (copytruncate)
// or rewritten under it, counting what it had not read as lost.
func (r *reader) truncated(ctx context.Context, size int64, why string) error {
	// What the file held before it was cut: the largest size the reader or
	// a scan saw (a scan runs also while the reader waits for the spool).
	known := max(r.lastSize, r.readPos, r.readMax, r.takeSeenSize(size))
	lost := known - r.consumed
	if r.cutting {
		lost = known - r.cutStart
	}
	r.t.m.rotation("truncate")
	r.t.m.lostBytes(LostTruncated, lost)
	r.t.log.Warn("file truncated; reading it from the start", "path", r.pathNow(), "reason", why,
		"offset", r.consumed, "size", size, "lost_bytes", max(lost, 0))
	if r.dec != nil {
		r.batch = r.dec.Flush(r.batch)
	}
	r.putBuf()
	r.gen++
	if r.nonce == nil {
		r.nonce = nonceFor(r.ident)
	}
	r.fp, r.fpFinal, r.dec = nil, false, nil
	r.readPos, r.consumed, r.replayUntil, r.readMax = 0, 0, 0, 0
	r.cutting, r.cutHead, r.cutSkip = false, nil, 0
	r.needBuf = 0
	r.last, r.lastEnd = nil, 0
	r.lastSize = size
	p := position{ID: r.id, Gen: r.gen, Size: size, Path: r.src.Path, Resolved: r.src.Resolved, Nonce: r.nonce, Ident: r.ident}
	cp := record.Checkpoint{Key: r.key, Value: r.encode(&p)}
	return r.appendBatch(ctx, p, cp)
}

// truncatedNow is truncated with the file's current size.
func (r *reader) truncatedNow(ctx context.Context, why string) error {
	size := int64(0)
	if fi, err := r.f.Stat(); err == nil {
		size = fi.Size()
	}
	return r.truncated(ctx, size, why)
}

// release drains r for good: a last unterminated line is decoded as it is
// and the decoder's pending partial is flushed. The records are appended
// with the file's final checkpoint, or with its deletion when the file is
// deleted (a file that still exists keeps its checkpoint until it is gone,
// see retiredFile).
func (r *reader) release(ctx context.Context, exists bool) error {
	if end := max(r.lastSize, r.readPos, r.readMax); r.cutting || end > r.consumed {
		if err := r.drainTail(end); err != nil {
			r.t.log.Warn("reading the last line before release", "path", r.pathNow(), "err", err)
		}
	}
	if r.dec != nil {
		r.batch = r.dec.Flush(r.batch)
	}
	p := r.position()
	p.Resume = p.Consumed
	cp := record.Checkpoint{Key: r.key}
	if exists {
		cp.Value = r.encode(&p)
	}
	if err := r.appendBatch(ctx, p, cp); err != nil {
		return err
	}
	r.t.release(r, p.Consumed, exists)
	r.t.log.Info("released file", "path", r.src.Path, "resolved", r.src.Resolved, "offset", p.Consumed, "deleted", !exists)
	return nil
}

// drainTail decodes the bytes between consumed and end, which have no
// trailing newline, as a last line.
func (r *reader) drainTail(end int64) error {
	if r.cutting {
		r.cutSkip += end - r.readPos
		r.lineCut(r.cutStart, end+1, r.cutSkip)
		r.deliver(parser.Line{Bytes: r.cutHead, Tail: r.cutTail, Start: r.cutStart, End: end, Truncated: true, Partial: true})
		r.cutting, r.cutHead, r.cutSkip = false, nil, 0
		return nil
	}
	n := end - r.consumed
	truncated := n > int64(r.cutLimit)
	r.putBuf()
	buf := make([]byte, min(n, int64(r.cutLimit)))
	r.acct.Force(r.usage() + int64(len(buf))) // allocated: counted until the commit
	got, err := r.f.ReadAt(buf, r.consumed)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if truncated {
		r.lineCut(r.consumed, end+1, n-int64(got))
	}
	r.deliver(parser.Line{Bytes: buf[:got], Start: r.consumed, End: end, Truncated: truncated, Partial: true})
	r.readPos, r.readMax = end, max(r.readMax, end)
	r.last, r.lastEnd = nil, 0
	if int64(got) == n {
		r.last, r.lastEnd = append([]byte(nil), tailWindow(buf[:got])...), end
	}
	return nil
}

// batches holds the record slices of batches between their commits.
var batches = freelist.New[*[]record.Record](16)

func getBatch(hint int) []record.Record {
	if p, ok := batches.Get(); ok && cap(*p) >= hint {
		return (*p)[:0]
	}
	return make([]record.Record, 0, hint)
}

func putBatch(b []record.Record) {
	if cap(b) == 0 || cap(b) > 4*maxBatchHint {
		return
	}
	clear(b)
	b = b[:0]
	batches.Put(&b)
}
