package tailer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/logspool/logspool/internal/membudget"
	"github.com/logspool/logspool/parser"
	"github.com/logspool/logspool/spool/record"
)

// errNotThisFile reports a compressed file that does not hold the file a
// checkpoint describes.
var errNotThisFile = errors.New("tailer: compressed file holds another file")

// compressedCandidates lists the gzip files next to the last path of p whose
// name starts with that path's name (kubelet: 0.log.<time>.gz; docker:
// x-json.log.<n>.gz), newest first.
func compressedCandidates(p position) []string {
	last := lastPath(p)
	dir, base := filepath.Split(last)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	type cand struct {
		path  string
		mtime time.Time
	}
	var cs []cand
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, base) || !strings.HasSuffix(n, ".gz") || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		cs = append(cs, cand{filepath.Join(dir, n), fi.ModTime()})
	}
	out := make([]string, 0, len(cs))
	for len(cs) > 0 {
		best := 0
		for i := range cs {
			if cs[i].mtime.After(cs[best].mtime) {
				best = i
			}
		}
		out = append(out, cs[best].path)
		cs = append(cs[:best], cs[best+1:]...)
	}
	return out
}

// recoverGone handles the checkpoint key of a file (described by p) that is
// no longer in its directory: when a compressed copy holds it (kubelet
// gzipped it before it was read to its end), the rest is read from the copy;
// otherwise what it held unread is counted as lost (knownSize: the largest
// size known for it, from its checkpoint or a later scan) and the checkpoint
// deleted. It runs on its own goroutine (see Tailer.spawn): the scanner goes
// on, and no file is opened at p's device and inode meanwhile.
//
// then, when set, is the checkpoint to leave under key at the end instead of
// deleting it: the file at p's device and inode was truncated (copytruncate
// with compress), and its new content starts at the next generation.
func (t *Tailer) recoverGone(ctx context.Context, key string, p position, knownSize int64, then *position) {
	// The checkpoint as stored now: another recovery may have finished it
	// (deleted) or moved it on since p was read.
	cur, err := t.sink.Checkpoint(key)
	if err != nil || cur == nil {
		return
	}
	if q, err := decodePosition(cur); err == nil {
		if q.Gen != p.Gen || !bytes.Equal(q.Nonce, p.Nonce) || !bytes.Equal(q.FP, p.FP) {
			return // the key describes another file now
		}
		p = q
	}
	// Whatever size was last seen, the file may have grown since: a copy is
	// always looked for.
	for _, gz := range compressedCandidates(p) {
		err := t.drainCompressed(ctx, key, p, gz, then)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			return
		}
		if !errors.Is(err, errNotThisFile) {
			t.faults.fail(gz, "reading compressed rotation", err, t.clock.Now())
		}
	}
	reason := LostDeletedUnread
	if then != nil {
		reason = LostTruncated
	} else if _, err := os.Stat(lastPath(p)); err == nil {
		reason = LostRotatedUnread
	}
	lost := max(knownSize, p.Size) - p.Consumed
	switch {
	case then != nil:
		t.m.lostBytes(reason, max(lost, 0))
		t.log.Warn("file was truncated while not followed and no compressed copy holds the rest; reading it from the start",
			"path", p.Path, "resolved", p.Resolved, "offset", p.Consumed, "lost_bytes", max(lost, 0))
	case lost > 0:
		t.m.lostBytes(reason, lost)
		t.log.Warn("file vanished before it was read to its end", "path", p.Path, "resolved", p.Resolved,
			"offset", p.Consumed, "size", max(knownSize, p.Size), "lost_bytes", lost, "reason", reason)
	default:
		t.log.Info("forgetting file that is gone", "path", p.Path, "resolved", p.Resolved)
	}
	t.deleteCheckpointAsync(ctx, key, then)
}

// deleteCheckpointAsync deletes key (or sets it to then) from a goroutine
// other than the scanner.
func (t *Tailer) deleteCheckpointAsync(ctx context.Context, key string, then *position) {
	_ = appendRetry(ctx, t.sink, t.log, nil, record.Checkpoint{Key: key, Value: encodeThen(then)})
}

// encodeThen is the checkpoint value then leaves (nil: none).
func encodeThen(then *position) []byte {
	if then == nil {
		return nil
	}
	q := *then
	q.At = time.Now().UnixNano()
	return encodePosition(q)
}

// drainCompressed reads the gzip file gz, checks that it holds the file p
// describes (its fingerprint, and the tail bytes before p.Resume), and reads
// it on from p.Resume like a reader would, under the file's key, appending
// batches with the checkpoint advanced, and at its end deletes the
// checkpoint with the last batch. A crash in the middle resumes from the last
// batch, from the same compressed file.
func (t *Tailer) drainCompressed(ctx context.Context, key string, p position, gz string, then *position) error {
	f, err := os.Open(gz)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 64<<10))
	if err != nil {
		return fmt.Errorf("%w: %v", errNotThisFile, err)
	}
	defer zr.Close()
	br := bufio.NewReaderSize(zr, readSize)
	if err := seekCompressed(br, p); err != nil {
		return err
	}
	t.log.Info("reading the rest of a rotated file from its compressed copy", "path", p.Path, "resolved", p.Resolved,
		"compressed", gz, "offset", p.Resume)
	// Memory from the budget, like a reader's: the file's and the
	// decompressor's buffers, and documents (asked for more without a
	// wait; when that fails, the batch is stored).
	acct := membudget.NewAccount(t.budget)
	defer acct.Close()
	if err := acct.Wait(ctx, gzFixedBytes+t.docAllowance()); err != nil {
		return err
	}
	src := parser.Source{Path: p.Path, Resolved: p.Resolved, FileKey: fileKey(p.ID, p.Gen, p.FP, p.Nonce)}
	d := &gzDrain{t: t, key: key, p: p, then: then, gz: gz, acct: acct, dec: t.cfg.NewDecoder(src),
		cutLimit: t.cfg.MaxLineBytes + cutSlack, off: p.Resume, consumed: p.Resume}
	for {
		line, err := br.ReadSlice('\n')
		if done, err := d.take(ctx, line, err); done || err != nil {
			return err
		}
		used, forced := gzFixedBytes+d.docs+int64(cap(d.long)), false
		if used > acct.Held() && !acct.Grow(used+t.docAllowance()) {
			acct.Force(used) // allocated already: stored now
			forced = true
		}
		if d.batchBytes >= int64(t.cfg.BatchBytes) || d.docs >= int64(t.cfg.BatchDocBytes) || forced {
			if err := d.commit(ctx, false); err != nil {
				return err
			}
		}
	}
}

// gzFixedBytes is the memory of a compressed copy's reading besides its
// documents: the file's and the decompressor's buffers.
const gzFixedBytes = 64<<10 + readSize + 64<<10

// seekCompressed reads the decompressed stream br up to p.Resume, checking
// the fingerprint and then the window before Resume on the way. A
// checkpoint without a fingerprint (its file was empty) cannot be matched to
// any copy.
func seekCompressed(br *bufio.Reader, p position) error {
	if !p.FP.startsStream(br) {
		return errNotThisFile
	}
	off := int64(len(p.FP))
	winStart := p.Resume - int64(p.Tail.N)
	if winStart < off {
		// The window starts inside what was read: p.Resume is within the
		// first line; the fingerprint covers it.
		winStart = off
	}
	if _, err := io.CopyN(io.Discard, br, winStart-off); err != nil {
		return errNotThisFile
	}
	off = winStart
	if p.Tail.N > 0 && winStart == p.Resume-int64(p.Tail.N) {
		win := make([]byte, p.Tail.N)
		if _, err := io.ReadFull(br, win); err != nil || sumTail(win) != p.Tail {
			return errNotThisFile
		}
	} else if _, err := io.CopyN(io.Discard, br, p.Resume-off); err != nil {
		return errNotThisFile
	}
	return nil
}

// gzDrain is the state of one drainCompressed: a reader's, for a stream.
type gzDrain struct {
	t        *Tailer
	key      string
	p        position
	then     *position // the checkpoint left at the end (nil: deleted)
	gz       string
	acct     *membudget.Account
	dec      Decoder
	cutLimit int

	batch      []record.Record
	batchBytes int64
	docs       int64
	off        int64 // the stream's offset
	consumed   int64
	lastLine   []byte
	long       []byte // a line longer than the buffer, being joined
	longStart  int64
	skipped    int64
}

// pos is the checkpoint of what was delivered.
func (d *gzDrain) pos() position {
	q := d.p
	q.Resume, q.Consumed = d.consumed, max(d.consumed, d.p.Consumed)
	if s, ok := d.dec.Pending(); ok && s < d.consumed {
		q.Resume = s
		q.Tail = tailSum{}
	} else {
		q.Tail = tailSum{}
		if len(d.lastLine) > 0 {
			q.Tail = sumTail(tailWindow(d.lastLine))
		}
	}
	q.Size = max(d.p.Size, d.consumed)
	return q
}

func (d *gzDrain) deliver(ln parser.Line) {
	n := len(d.batch)
	d.batch = d.dec.Decode(d.batch, ln)
	if ln.End <= d.p.Consumed {
		d.batch = d.batch[:n] // appended before
	}
	for i := n; i < len(d.batch); i++ {
		d.docs += int64(cap(d.batch[i].Doc)) + recordOverhead
	}
	d.consumed = ln.End
	d.batchBytes += ln.End - ln.Start
}

// commit appends the batch with the checkpoint advanced; final deletes the
// checkpoint instead (or leaves then).
func (d *gzDrain) commit(ctx context.Context, final bool) error {
	q := d.pos()
	q.At = time.Now().UnixNano()
	cp := record.Checkpoint{Key: d.key, Value: encodePosition(q)}
	if final {
		cp.Value = encodeThen(d.then)
	}
	if err := appendRetry(ctx, d.t.sink, d.t.log, d.batch, cp); err != nil {
		return err
	}
	d.t.m.read(d.batchBytes, 0)
	d.batch, d.batchBytes, d.docs = nil, 0, 0
	d.acct.Shrink(gzFixedBytes + d.t.docAllowance())
	return nil
}

// take handles what one ReadSlice returned: a line, part of a long one, the
// end of the stream (done, after the last commit) or damage (done: the rest
// is counted as lost).
func (d *gzDrain) take(ctx context.Context, line []byte, err error) (done bool, _ error) {
	switch {
	case err == nil && d.long == nil:
		d.lastLine = append(d.lastLine[:0], line...)
		d.deliver(parser.Line{Bytes: line[:len(line)-1], Start: d.off, End: d.off + int64(len(line))})
		d.off += int64(len(line))
	case err == nil || errors.Is(err, bufio.ErrBufferFull):
		if d.long == nil {
			d.longStart = d.off
		}
		body := line
		if err == nil {
			body = line[:len(line)-1]
		}
		keep := max(min(len(body), d.cutLimit-len(d.long)), 0)
		d.long = append(d.long, body[:keep]...)
		d.off += int64(len(line))
		if err == nil {
			d.skipped = d.off - d.longStart - 1 - int64(len(d.long))
			d.lastLine = append(d.lastLine[:0], line...)
			truncated := d.skipped > 0
			if truncated && d.off > d.p.Consumed {
				d.t.m.lostBytes(LostLineCut, d.skipped)
			}
			d.deliver(parser.Line{Bytes: d.long, Start: d.longStart, End: d.off, Truncated: truncated})
			d.long, d.skipped = nil, 0
		}
	case errors.Is(err, io.EOF):
		rest := append(d.long, line...)
		if len(rest) > 0 {
			start := d.off
			if d.long != nil {
				start = d.longStart
			}
			d.off += int64(len(line))
			d.deliver(parser.Line{Bytes: rest[:min(len(rest), d.cutLimit)], Start: start, End: d.off, Truncated: len(rest) > d.cutLimit})
		}
		d.batch = d.dec.Flush(d.batch)
		if err := d.commit(ctx, true); err != nil {
			return true, err
		}
		d.t.log.Info("read a rotated file to its end from its compressed copy", "path", d.p.Path, "compressed", d.gz, "offset", d.off)
		return true, nil
	default:
		// A damaged copy: what it held past here is lost, and counted.
		d.batch = d.dec.Flush(d.batch)
		lost := max(d.p.Size, d.off) - d.off
		d.t.m.lostBytes(LostRotatedUnread, lost)
		d.t.log.Warn("compressed copy is damaged; the rest of the file is lost", "path", d.p.Path, "compressed", d.gz,
			"offset", d.off, "lost_bytes", lost, "err", err)
		return true, d.commit(ctx, true)
	}
	return false, nil
}
