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

	"github.com/logspool/logspool/internal/freelist"
	"github.com/logspool/logspool/parser"
	"github.com/logspool/logspool/spool/record"
)

const (
	// readSize is the size of one read and of the pooled read buffers.
	readSize = 256 << 10
	// minPoll and maxPoll bound the backoff of a reader waiting at the end
	// of its file (a filesystem notification wakes it earlier).
	minPoll = 10 * time.Millisecond
	maxPoll = 250 * time.Millisecond
	// minCommitGap is the shortest time between two commits of one file at
	// its end (a full batch is committed at once).
	minCommitGap = 50 * time.Millisecond
	// maxBatchHint caps the preallocated records of a batch.
	maxBatchHint = 4096
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, readSize); return &b }}

// reader follows one open file. Its goroutine owns every field above mu; the
// fields under mu are shared with the scanner and Files.
type reader struct {
	t     *Tailer
	f     *os.File
	id    fileID
	key   string
	src   parser.Source // Path and Resolved as first discovered
	wake  chan struct{}
	check atomic.Bool // re-check the fingerprint now (Reopen)

	fp      []byte
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

	consumed    int64 // end of the last line handed to the decoder
	replayUntil int64 // records of lines ending at or before this were appended before a restart
	committed   position

	afterPartial bool // the next line continues one flushed unterminated (see flushPartial)

	cutting  bool // skipping the tail of an over-long line
	cutStart int64
	cutHead  []byte
	cutTail  []byte // the last parser.TailBytes skipped so far (docker's stream and time)
	cutSkip  int64

	batch      []record.Record
	batchHint  int // capacity for the next batch
	batchBytes int64
	batchLines int

	lastData    time.Time
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
	failing     bool      // reads fail (counted and retried: a fault, not a stall)
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
		path:     path,
		resolved: resolved,
		matched:  matched,
	}
}

// begin positions r at p before its goroutine starts.
func (r *reader) begin(p position, tail []byte) {
	r.readPos, r.consumed, r.replayUntil = p.Resume, p.Resume, p.Consumed
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
			r.t.log.Warn("reading fingerprint", "path", r.path, "error", err)
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
	r.lastData = time.Now()
	r.lastFPCheck = time.Now()
	r.unmatchedAt = time.Now()
	r.movedAt = time.Now()
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

func (r *reader) setMatched(ok bool, path, resolved string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.matched && !ok {
		r.unmatchedAt = time.Now()
	}
	r.matched = ok
	if ok {
		r.path, r.resolved = path, resolved
	}
}

// observeSize records the size a scan saw, so that a reader that makes no
// progress shows a growing lag (see Tailer.Stalled).
func (r *reader) observeSize(size int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if size < r.size {
		r.seenFrozen = true // cut since: later sizes are of the new content
	}
	if !r.seenFrozen {
		r.seenSize = max(r.seenSize, size)
		r.observed(size)
	}
	r.size = size
}

// observed reports (tests) a size of the file that its loss count will
// take into account.
func (r *reader) observed(size int64) {
	if r.t.onObserve != nil {
		r.t.onObserve(r.id, size)
	}
}

// takeSeenSize returns the largest size scans saw since the last call.
func (r *reader) takeSeenSize() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.seenSize
	r.seenSize, r.seenFrozen = 0, false
	return s
}

// stallState reports what Stalled needs: unread bytes, whether the reader
// waits for the spool, and when it last moved.
func (r *reader) stallState() (path string, unread int64, waiting bool, movedAt time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.path, r.size - r.readTo, r.appending || r.failing, r.movedAt
}

func (r *reader) setAppending(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.appending = on
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

// run reads until ctx is done or the file is released.
func (r *reader) run(ctx context.Context) {
	defer func() {
		r.putBuf()
		_ = r.f.Close()
	}()
	poll := minPoll
	for ctx.Err() == nil {
		if r.t.hook != nil {
			r.t.hook("read")
		}
		n, err := r.read()
		if errors.Is(err, errRewritten) {
			if err := r.truncatedNow(ctx, "the bytes before the read offset changed"); err != nil {
				return
			}
			continue
		}
		if err != nil {
			// Local to this file: counted, logged once, retried with
			// backoff; the position does not move past what was read.
			r.readErrs++
			r.t.faults.fail(r.src.Path, "reading file", err, time.Now())
			poll = min(time.Duration(r.readErrs)*time.Second, faultMaxBackoff)
			r.published(func() { r.failing = true })
		} else if r.readErrs > 0 {
			r.readErrs = 0
			r.t.faults.ok(r.src.Path)
			r.published(func() { r.failing = false })
		}
		if n > 0 {
			r.lastData = time.Now()
			if err := r.process(ctx); err != nil {
				return
			}
			poll = minPoll
			continue
		}
		if r.lo == r.hi {
			r.putBuf()
		}
		// Commit at the end of the file, but at most once per
		// minCommitGap: a file written line by line would otherwise cost
		// one spool transaction per line.
		if r.partialDue() {
			if err := r.flushPartial(ctx); err != nil {
				return
			}
		}
		wait := poll
		pressure := r.t.underPressure()
		if r.dirty() {
			if due := minCommitGap - time.Since(r.lastCommit); due > 0 && !pressure {
				wait = min(wait, due)
			} else if err := r.commit(ctx); err != nil {
				return
			}
		}
		if pressure && r.canPark() {
			// Out of descriptors: give this one back; the scanner opens
			// the file again from its checkpoint when it grows.
			r.t.park(r, r.lastSize, r.committed.Consumed)
			return
		}
		tm := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			tm.Stop()
			return
		case <-r.wake:
			tm.Stop()
			poll = minPoll
		case <-tm.C:
			poll = min(poll*2, maxPoll)
		}
		// Check the file before reading what was written meanwhile: a file
		// truncated and rewritten must be read from 0, not from our offset.
		released, err := r.atEOF(ctx)
		if err != nil || released {
			return
		}
	}
}

// canPark reports whether r may close its file under descriptor pressure:
// it is matched (not a rotated file being drained), read to its end, and
// everything decoded is committed.
func (r *reader) canPark() bool {
	_, _, matched := r.paths()
	return matched && r.readErrs == 0 && r.readPos >= r.lastSize && !r.cutting && r.lo == r.hi && !r.dirty()
}

// read reads the next chunk of the file into buf[hi:]. Nothing is read while
// the file is known to hold nothing past readPos (the size is checked at
// every end of file).
func (r *reader) read() (int, error) {
	if r.readPos >= r.lastSize && r.lo == r.hi && r.buf == nil {
		return 0, nil
	}
	if r.t.readFault != nil {
		if err := r.t.readFault(r.src.Path); err != nil {
			return 0, err
		}
	}
	if r.buf == nil {
		r.buf = *bufPool.Get().(*[]byte)
		r.lo, r.hi, r.bufOff = 0, 0, r.readPos
	}
	if r.lo == r.hi {
		r.lo, r.hi, r.bufOff = 0, 0, r.readPos
	}
	if len(r.buf)-r.hi < readSize/4 {
		if r.lo > 0 {
			copy(r.buf, r.buf[r.lo:r.hi])
			r.bufOff += int64(r.lo)
			r.hi -= r.lo
			r.lo = 0
		}
		if len(r.buf)-r.hi < readSize/4 {
			// A line longer than the buffer: grow up to cutLimit + readSize,
			// which process keeps enough (it cuts at cutLimit).
			nb := make([]byte, min(2*len(r.buf), r.cutLimit+readSize))
			copy(nb, r.buf[:r.hi])
			if len(r.buf) == readSize {
				b := r.buf
				bufPool.Put(&b)
			}
			r.buf = nb
		}
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
	case ov > 0 && r.hi == 0:
		r.lo, r.hi, r.bufOff = ov, ov, r.readPos-int64(ov)
		dst = r.buf
	default:
		ov = 0
		dst = r.buf[r.hi:]
	}
	n, err := r.f.ReadAt(dst, r.readPos-int64(ov))
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
	if n > 0 {
		r.remember(r.hi)
		r.observed(r.readPos)
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
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
		r.readPos = r.consumed
		if r.lo > 0 {
			r.remember(r.lo) // the bytes before consumed, for the next read's check
		}
	}
	if len(r.buf) == readSize {
		b := r.buf
		bufPool.Put(&b)
	}
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
		if r.batchBytes >= int64(r.t.cfg.BatchBytes) {
			if err := r.commit(ctx); err != nil {
				return err
			}
		}
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
	if time.Since(r.lastCutLog) < time.Minute {
		return // logged at most once a minute per file; the metric counts all
	}
	r.lastCutLog = time.Now()
	r.t.log.Warn("cut over-long line", "path", r.src.Path, "offset", start,
		"line_bytes", end-start-1, "kept_bytes", end-start-1-lost, "lost_bytes", lost, "cut_lines_so_far", r.cuts)
}

// partialDue reports whether r holds an unterminated last line of a matched
// file that has produced nothing for PartialIdle.
func (r *reader) partialDue() bool {
	if r.readPos <= r.consumed && !r.cutting {
		return false
	}
	if time.Since(r.lastData) < r.t.cfg.PartialIdle {
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
// and nothing lost.
func (r *reader) flushPartial(ctx context.Context) error {
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
		// The buffer was given back: read the bytes again.
		if err := r.drainTail(r.readPos); err != nil {
			r.t.faults.fail(r.src.Path, "reading an unterminated line", err, time.Now())
			return nil
		}
	}
	r.afterPartial = true
	if r.dec != nil {
		r.batch = r.dec.Flush(r.batch)
	}
	return r.commit(ctx)
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
				r.t.log.Warn("reading fingerprint", "path", r.path, "error", err)
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
		Size: max(r.lastSize, r.readPos), ID: r.id, Gen: r.gen, FP: r.fp,
		Path: r.src.Path, Resolved: r.src.Resolved, Nonce: r.nonce, Ident: r.ident,
	}
}

// encode encodes p with the hash of the bytes before p.Resume, taken from
// what the reader read when it has them, else read from the file.
func (r *reader) encode(p position) []byte {
	p.Tail = r.tailSumAt(p.Resume)
	p.At = time.Now().UnixNano()
	return encodePosition(p)
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
	return r.appendBatch(ctx, p, record.Checkpoint{Key: r.key, Value: r.encode(p)})
}

func (r *reader) appendBatch(ctx context.Context, p position, cp record.Checkpoint) error {
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
	r.lastCommit = time.Now()
	// The spool copied the records: their memory is reused. The next batch
	// is taken when it is needed: an idle file keeps no record slice.
	if rc, ok := r.dec.(interface{ Recycle() }); ok {
		rc.Recycle()
	}
	r.batchHint = min(len(r.batch), maxBatchHint)
	putBatch(r.batch)
	r.batch = nil
	r.batchBytes, r.batchLines = 0, 0
	r.published(func() {
		r.commOff = p.Resume
		r.readTo = r.readPos
		r.movedAt = r.lastCommit
	})
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
		r.t.faults.fail(r.src.Path, "stating open file", err, time.Now())
		return false, nil
	}
	size := fi.Size()
	_, nlink, _ := statOf(fi)
	if size < r.readPos {
		return false, r.truncated(ctx, size, "size below read offset")
	}
	now := time.Now()
	if r.fpFinal && len(r.fp) > 0 && (r.check.Swap(false) || size != r.lastSize || now.Sub(r.lastFPCheck) >= r.t.cfg.PollInterval) {
		r.lastFPCheck = now
		ok, err := fingerprintMatches(r.f, r.fp)
		if err != nil {
			r.t.log.Warn("reading fingerprint", "path", r.path, "error", err)
		} else if !ok {
			return false, r.truncated(ctx, size, "first line changed")
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
	if matched || now.Sub(unmatchedAt) < idle || now.Sub(r.lastData) < idle || r.readPos < size {
		return false, nil
	}
	return true, r.release(ctx, nlink > 0)
}

// truncated restarts r at offset 0 of a file that was truncated (copytruncate)
// or rewritten under it, counting what it had not read as lost.
func (r *reader) truncated(ctx context.Context, size int64, why string) error {
	// What the file held before it was cut: the largest size the reader or
	// a scan saw (a scan runs also while the reader waits for the spool).
	known := max(r.lastSize, r.readPos, r.takeSeenSize())
	lost := known - r.consumed
	if r.cutting {
		lost = known - r.cutStart
	}
	r.t.m.rotation("truncate")
	r.t.m.lostBytes(LostTruncated, lost)
	r.t.log.Warn("file truncated; reading it from the start", "path", r.path, "reason", why,
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
	r.readPos, r.consumed, r.replayUntil = 0, 0, 0
	r.cutting, r.cutHead, r.cutSkip = false, nil, 0
	r.last, r.lastEnd = nil, 0
	r.lastSize = size
	p := position{ID: r.id, Gen: r.gen, Size: size, Path: r.src.Path, Resolved: r.src.Resolved, Nonce: r.nonce, Ident: r.ident}
	return r.appendBatch(ctx, p, record.Checkpoint{Key: r.key, Value: r.encode(p)})
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
	if end := max(r.lastSize, r.readPos); r.cutting || end > r.consumed {
		if err := r.drainTail(end); err != nil {
			r.t.log.Warn("reading the last line before release", "path", r.path, "error", err)
		}
	}
	if r.dec != nil {
		r.batch = r.dec.Flush(r.batch)
	}
	p := r.position()
	p.Resume = p.Consumed
	cp := record.Checkpoint{Key: r.key}
	if exists {
		cp.Value = r.encode(p)
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
	buf := make([]byte, min(n, int64(r.cutLimit)))
	got, err := r.f.ReadAt(buf, r.consumed)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if truncated {
		r.lineCut(r.consumed, end+1, n-int64(got))
	}
	r.deliver(parser.Line{Bytes: buf[:got], Start: r.consumed, End: end, Truncated: truncated, Partial: true})
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
