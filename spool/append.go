package spool

// Append: admission under the cap, cutting records into segments, and the
// unit that commits their index entries with the checkpoints they advance.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/logspool/logspool/internal/freelist"
	"github.com/logspool/logspool/spool/record"
)

// encBufs recycles the encoding buffers of Append (one per concurrent
// Append: a reader each).
var encBufs = freelist.New[*[]byte](4)

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

func varintLen(x int64) int {
	ux := uint64(x) << 1
	if x < 0 {
		ux = ^ux
	}
	return uvarintLen(ux)
}

// recordEncLen is the encoded size of r in a segment (its Meta reference
// counted as at most 4 bytes: the Meta itself is in the segment's table).
func recordEncLen(r *record.Record) int {
	n := len(r.ID) + varintLen(r.Time) + uvarintLen(uint64(len(r.Doc))) + len(r.Doc) + 1
	if r.Meta != nil {
		n += 1 + uvarintLen(uint64(r.At))
	}
	return n
}

// segPlan is one segment of an Append: records [lo, hi) and the size of its
// uncompressed value.
type segPlan struct {
	lo, hi int
	size   int
}

func segValueSize(count, body int) int { return 1 + uvarintLen(uint64(count)) + body + crcLen }

// planSegments cuts recs into segments of about segTarget bytes (more for an
// Append so big that it would take more than maxUnitKeys segments).
func planSegments(recs []record.Record) []segPlan {
	total := 0
	for i := range recs {
		total += recordEncLen(&recs[i])
	}
	return cut(recs, max(segTarget, total/maxUnitKeys+1))
}

func cut(recs []record.Record, target int) []segPlan {
	var plan []segPlan
	lo, body := 0, 0
	for i := range recs {
		n := recordEncLen(&recs[i])
		if i > lo && segValueSize(i-lo, body+n) > target {
			plan = append(plan, segPlan{lo: lo, hi: i, size: segValueSize(i-lo, body)})
			lo, body = i, 0
		}
		body += n
	}
	if lo < len(recs) {
		plan = append(plan, segPlan{lo: lo, hi: len(recs), size: segValueSize(len(recs)-lo, body)})
	}
	return plan
}

// Append stores recs and the checkpoints they advance in one atomic write.
// It blocks while the spool is full, until space frees or ctx is done. An
// Append without records (checkpoints only) never blocks.
func (s *Spool) Append(ctx context.Context, recs []record.Record, cps ...record.Checkpoint) error {
	if len(recs) == 0 && len(cps) == 0 {
		return nil
	}
	if s.cfg.ReadOnly {
		return errors.New("spool: append: opened read-only")
	}
	if err := s.syncFailed.Load(); err != nil {
		return *err
	}
	var nbytes int64
	for i := range recs {
		nbytes += int64(recs[i].Size())
	}
	if len(recs) > 0 {
		if err := s.checkDisk(nbytes); err != nil {
			return err
		}
		if err := s.reserve(ctx, int64(len(recs)), nbytes); err != nil {
			return err
		}
	}
	segs, err := s.commitAppend(recs, cps)
	s.mu.Lock()
	if err != nil {
		s.queuedBytes -= nbytes
		s.queuedRecords -= int64(len(recs))
		if len(recs) > 0 {
			wake(&s.spaceCh)
		}
		s.mu.Unlock()
		return err
	}
	s.segments += int64(len(segs))
	s.insertPendingLocked(segs)
	if len(segs) > 0 {
		wake(&s.availCh)
	}
	s.updateGaugesLocked()
	s.mu.Unlock()
	s.dirty.Store(true)
	s.metrics.appended(len(recs), int(nbytes))
	if s.appended.Add(nbytes) >= maintEvery {
		s.askMaintenance()
	}
	return nil
}

// Full reports whether the spool's directory is at or over its cap now, so
// that an Append of records would wait. It is a hint for callers that can
// give memory back before they wait (the tailer's readers drop their read
// buffers); Append decides.
func (s *Spool) Full() bool { return s.usedBytes(false) >= s.cfg.MaxBytes }

// reserve waits until the spool's directory is below its cap and accounts n
// records of nbytes as queued.
func (s *Spool) reserve(ctx context.Context, n, nbytes int64) error {
	s.mu.Lock()
	var start time.Time
	for {
		if s.closed {
			if !start.IsZero() {
				s.blocked--
			}
			s.mu.Unlock()
			return ErrClosed
		}
		ch := s.spaceCh
		s.mu.Unlock()
		full := s.usedBytes(!start.IsZero()) >= s.cfg.MaxBytes
		s.mu.Lock()
		if !full {
			break
		}
		if start.IsZero() {
			start = time.Now()
			s.blocked++
			s.updateGaugesLocked()
			s.askRound()
		}
		s.mu.Unlock()
		var err error
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-ch:
		case <-s.closeCh:
		case <-time.After(250 * time.Millisecond): // the index's own size changes unannounced
		}
		s.mu.Lock()
		if err != nil {
			s.blocked--
			s.updateGaugesLocked()
			s.mu.Unlock()
			s.metrics.blockedFor(time.Since(start))
			return fmt.Errorf("spool: waiting for space: %w", err)
		}
	}
	if !start.IsZero() {
		s.blocked--
		s.metrics.blockedFor(time.Since(start))
	}
	s.queuedBytes += nbytes
	s.queuedRecords += n
	s.updateGaugesLocked()
	s.mu.Unlock()
	return nil
}

// commitAppend writes recs (as segments in the current data file) and
// commits their index entries and cps as one unit.
func (s *Spool) commitAppend(recs []record.Record, cps []record.Checkpoint) ([]segMeta, error) {
	plan := planSegments(recs)
	s.mu.Lock()
	first := s.nextSeq
	s.nextSeq += uint64(len(plan))
	s.mu.Unlock()

	bp, _ := encBufs.Get()
	if bp == nil {
		bp = new([]byte)
	}
	defer func() {
		if cap(*bp) <= 4<<20 {
			encBufs.Put(bp)
		}
	}()
	segs := make([]segMeta, len(plan))
	offs := make([]int, len(plan)) // on the stack when small: encodeAppend does not keep it
	buf := encodeAppend((*bp)[:0], recs, plan, first, cps, segs, offs)
	*bp = buf

	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	var refs []ref
	if len(plan) > 0 {
		var err error
		if refs, err = s.segLog.write(buf, offs); err != nil {
			return nil, fmt.Errorf("spool: appending %d records: %w", len(recs), classifyIOError(s.cfg.Dir, err))
		}
	}
	from := make([]cpEntry, len(cps))
	base := make([]cpEntry, len(cps))
	for i, cp := range cps {
		from[i] = cpEntry{key: cp.Key, v: s.cpCur[cp.Key]}
		base[i] = cpEntry{key: cp.Key, v: s.cpBase[cp.Key]}
	}
	for i := range segs {
		segs[i].r = refs[i]
	}
	u := s.lastUnit + 1
	err := s.update(func(txn *badger.Txn) error {
		return putAppendUnit(txn, u, segs, cps, base, from)
	})
	if err != nil {
		for _, r := range refs {
			s.segLog.release(r)
		}
		return nil, fmt.Errorf("spool: committing %d records and %d checkpoints: %w", len(recs), len(cps), classifyIOError(s.cfg.Dir, err))
	}
	s.lastUnit = u
	s.indexCount += int64(len(segs))
	for _, cp := range cps {
		v := cpVal{val: cp.Value, ok: cp.Value != nil}
		s.cpCur[cp.Key] = v
		s.cpChanged[cp.Key] = v
	}
	return segs, nil
}

// encodeAppend appends to buf the data-file entries of one Append: its
// segments (numbered from first, as plan cuts recs) and, beside them, the
// checkpoints they reach (salvage rebuilds the checkpoints from these when
// the index itself is lost). It fills segs and offs (each segment's offset
// in the buffer; both len(plan) long) and returns the buffer.
func encodeAppend(buf []byte, recs []record.Record, plan []segPlan, first uint64, cps []record.Checkpoint, segs []segMeta, offs []int) []byte {
	vbp := getRaw()
	for i, p := range plan {
		m := segMeta{seq: first + uint64(i), count: uint32(p.hi - p.lo)}
		for j := p.lo; j < p.hi; j++ {
			m.bytes += int64(recs[j].Size())
		}
		segs[i] = m
		v := encodeSegment((*vbp)[:0], recs[p.lo:p.hi])
		*vbp = v
		offs[i] = len(buf)
		buf = appendEntry(buf, segKey(m), v)
	}
	putRaw(vbp)
	if len(plan) > 0 {
		for _, cp := range cps {
			buf = appendEntry(buf, checkpointKey(cp.Key), encodeCpEntry(cp))
		}
	}
	return buf
}

// putAppendUnit writes an Append's unit: the segments' index entries, the
// checkpoints and the unit record.
func putAppendUnit(txn *badger.Txn, u uint64, segs []segMeta, cps []record.Checkpoint, base, from []cpEntry) error {
	for _, m := range segs {
		if err := txn.Set(segKey(m), encodeIndex(m.r, from)); err != nil {
			return err
		}
	}
	for _, cp := range cps {
		var err error
		if cp.Value == nil {
			err = txn.Delete(checkpointKey(cp.Key))
		} else {
			err = txn.Set(checkpointKey(cp.Key), cp.Value)
		}
		if err != nil {
			return fmt.Errorf("storing checkpoint %q: %w", cp.Key, err)
		}
	}
	return txn.Set(unitKey(u), encodeUnit(unitRec{kind: unitAppend, delta: int64(len(segs)), base: base, from: from, segs: segs}))
}

// planSize bounds the uncompressed value size of one segment holding recs,
// its Meta table included.
func planSize(recs []record.Record) int {
	body := 1
	var t metaTable
	for i := range recs {
		body += recordEncLen(&recs[i])
		if n := len(t.metas); t.index(recs[i].Meta) > n {
			m := recs[i].Meta
			body += uvarintLen(uint64(len(m.Doc))) + len(m.Doc)
		}
	}
	return segValueSize(len(recs), body+uvarintLen(uint64(len(t.metas))))
}
