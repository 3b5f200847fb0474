package spool

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/logspool/logspool/spool/record"
)

// encBufPool recycles the encoding buffers of Append (Badger copies inline
// values into its memtable before Commit returns).
var encBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

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

func recordEncLen(r *record.Record) int {
	return len(r.ID) + varintLen(r.Time) + uvarintLen(uint64(len(r.Doc))) + len(r.Doc)
}

// segPlan is one segment of an Append: records [lo, hi) and the exact value size.
type segPlan struct {
	lo, hi int
	size   int
}

func segValueSize(count, body int) int { return 1 + uvarintLen(uint64(count)) + body + crcLen }

// planSegments cuts recs into segments. Ordinary batches are cut at
// segInlineMax so that every value stays inline in the LSM tree; a batch too
// big for one inline transaction is cut at segLargeTarget (every segment at
// least valueThreshold, so it goes to the value log) and stays atomic.
func planSegments(recs []record.Record, extraInline int) []segPlan {
	plan := cut(recs, segInlineMax)
	inline := extraInline
	for _, p := range plan {
		if p.size < valueThreshold {
			inline += p.size + segKeyLen + 2
		}
	}
	if inline <= inlineBudget {
		return plan
	}
	plan = cut(recs, segLargeTarget)
	if n := len(plan); n > 1 && plan[n-1].size < valueThreshold {
		plan[n-2].hi = plan[n-1].hi
		plan[n-2].size = planSize(recs[plan[n-2].lo:plan[n-2].hi])
		plan = plan[:n-1]
	}
	return plan
}

func planSize(recs []record.Record) int {
	body := 0
	for i := range recs {
		body += recordEncLen(&recs[i])
	}
	return segValueSize(len(recs), body)
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

// reserve waits until the spool is below its cap and accounts n records of
// nbytes as queued.
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
		if s.queuedBytes < s.cfg.MaxBytes {
			break
		}
		if start.IsZero() {
			start = time.Now()
			s.blocked++
			s.updateGaugesLocked()
		}
		ch := s.spaceCh
		s.mu.Unlock()
		var err error
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-ch:
		case <-s.closeCh:
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

// commitAppend writes recs (as segments) and cps in one transaction.
func (s *Spool) commitAppend(recs []record.Record, cps []record.Checkpoint) ([]segMeta, error) {
	cpSize := 0
	for _, cp := range cps {
		cpSize += 1 + len(cp.Key) + len(cp.Value) + 2
	}
	plan := planSegments(recs, cpSize)
	total := 0
	for _, p := range plan {
		total += p.size
	}
	bp := encBufPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 4<<20 {
			encBufPool.Put(bp)
		}
	}()
	buf := slices.Grow((*bp)[:0], total)
	*bp = buf

	segs := make([]segMeta, len(plan))
	s.mu.Lock()
	first := s.nextSeq
	s.nextSeq += uint64(len(plan))
	s.mu.Unlock()

	s.opMu.RLock()
	defer s.opMu.RUnlock()
	if s.isClosed() {
		return nil, ErrClosed
	}
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	for i, p := range plan {
		start := len(buf)
		buf = encodeSegment(buf, recs[p.lo:p.hi])
		m := segMeta{seq: first + uint64(i), count: uint32(p.hi - p.lo)}
		for j := p.lo; j < p.hi; j++ {
			m.bytes += int64(recs[j].Size())
		}
		segs[i] = m
		if err := txn.Set(segKey(m), buf[start:len(buf):len(buf)]); err != nil {
			return nil, fmt.Errorf("spool: appending %d records: %w", len(recs), err)
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
			return nil, fmt.Errorf("spool: storing checkpoint %q: %w", cp.Key, err)
		}
	}
	if err := txn.Commit(); err != nil {
		return nil, fmt.Errorf("spool: committing %d records and %d checkpoints: %w", len(recs), len(cps), err)
	}
	return segs, nil
}

// insertPendingLocked inserts segs (sorted) into the unleased queue.
func (s *Spool) insertPendingLocked(segs []segMeta) {
	for _, m := range segs {
		q := s.pending[s.pendingHead:]
		if len(q) == 0 || q[len(q)-1].seq < m.seq {
			s.pending = append(s.pending, m)
			continue
		}
		i, _ := slices.BinarySearchFunc(q, m.seq, func(a segMeta, seq uint64) int {
			switch {
			case a.seq < seq:
				return -1
			case a.seq > seq:
				return 1
			}
			return 0
		})
		if i == 0 && s.pendingHead > 0 {
			s.pendingHead--
			s.pending[s.pendingHead] = m
			continue
		}
		s.pending = slices.Insert(s.pending, s.pendingHead+i, m)
	}
}

// Lease blocks until records are available (or ctx is done) and leases the
// oldest unleased ones, up to about maxBytes (at least one segment). Several
// leases may be outstanding; they may finish in any order.
func (s *Spool) Lease(ctx context.Context, maxBytes int) (*Lease, error) {
	for {
		l, ch, err := s.tryLease(maxBytes)
		if l != nil || err != nil {
			return l, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("spool: waiting for records: %w", ctx.Err())
		case <-s.closeCh:
			return nil, ErrClosed
		case <-ch:
		}
	}
}

// TryLease is Lease without waiting: it returns nil, nil when no unleased
// records are queued (offline replay uses it to know the spool is drained).
func (s *Spool) TryLease(maxBytes int) (*Lease, error) {
	l, _, err := s.tryLease(maxBytes)
	return l, err
}

func (s *Spool) tryLease(maxBytes int) (*Lease, chan struct{}, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, nil, ErrClosed
		}
		q := s.pending[s.pendingHead:]
		if len(q) == 0 {
			ch := s.availCh
			s.mu.Unlock()
			return nil, ch, nil
		}
		n, sum, count := 0, int64(0), 0
		for n < len(q) && n < maxLeaseSegments && (n == 0 || sum+q[n].bytes <= int64(maxBytes)) {
			sum += q[n].bytes
			count += int(q[n].count)
			n++
		}
		l := &Lease{s: s, segs: slices.Clone(q[:n]), bytes: sum}
		s.pendingHead += n
		if s.pendingHead == len(s.pending) {
			s.pending, s.pendingHead = s.pending[:0], 0
		} else if s.pendingHead > 1024 && s.pendingHead > len(s.pending)/2 {
			s.pending = append(s.pending[:0], s.pending[s.pendingHead:]...)
			s.pendingHead = 0
		}
		s.leasedRecords += int64(count)
		s.leases[l] = struct{}{}
		s.updateGaugesLocked()
		s.mu.Unlock()

		bad, err := l.read(count)
		if err != nil {
			l.Release()
			return nil, nil, err
		}
		if len(bad) == 0 {
			return l, nil, nil
		}
		if err := s.quarantine(l, bad); err != nil {
			l.Release()
			return nil, nil, err
		}
		if len(l.Records) > 0 {
			return l, nil, nil
		}
		// Every segment was corrupt and is now dead-lettered; lease again.
	}
}

// leaseState is the life cycle of a Lease.
type leaseState int

const (
	leaseActive leaseState = iota
	leaseFinishing
	leaseDone
	leaseReleased
)

// Lease is a set of queued records handed to one consumer.
type Lease struct {
	// Records are the leased records, oldest first.
	Records []record.Record

	s     *Spool
	segs  []segMeta
	bytes int64
	buf   []byte
	state leaseState // guarded by s.mu
}

// read loads and decodes the lease's segments into one buffer. Segments that
// fail their integrity check are returned in bad (with their errors) and left
// out of Records and of l.segs.
func (l *Lease) read(count int) (bad map[segMeta]error, err error) {
	s := l.s
	s.opMu.RLock()
	defer s.opMu.RUnlock()
	if s.isClosed() {
		return nil, ErrClosed
	}
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	items := make([]*badger.Item, len(l.segs))
	total := 0
	for i, m := range l.segs {
		item, err := txn.Get(segKey(m))
		if errors.Is(err, badger.ErrKeyNotFound) {
			continue // reported as corrupt below
		}
		if err != nil {
			return nil, fmt.Errorf("spool: reading segment %d: %w", m.seq, err)
		}
		items[i] = item
		total += int(item.ValueSize())
	}
	l.buf = make([]byte, 0, total)
	l.Records = make([]record.Record, 0, count)
	keep := l.segs[:0]
	for i, m := range l.segs {
		start := len(l.buf)
		if items[i] == nil {
			if bad == nil {
				bad = make(map[segMeta]error)
			}
			l.bytes -= m.bytes
			bad[m] = &CorruptError{Key: segKey(m), Reason: "segment is missing from the database"}
			continue
		}
		if err := items[i].Value(func(v []byte) error {
			l.buf = append(l.buf, v...)
			return nil
		}); err != nil {
			// The value is unreachable (a damaged value log): dead-letter
			// it rather than fail every lease from now on.
			l.buf = l.buf[:start]
			if bad == nil {
				bad = make(map[segMeta]error)
			}
			l.bytes -= m.bytes
			bad[m] = &CorruptError{Key: segKey(m), Reason: fmt.Sprintf("reading the value: %v", err)}
			continue
		}
		n := len(l.Records)
		l.Records, err = decodeSegment(l.Records, segKey(m), l.buf[start:len(l.buf):len(l.buf)], m.count)
		if err != nil {
			l.Records = l.Records[:n]
			if bad == nil {
				bad = make(map[segMeta]error)
			}
			l.bytes -= m.bytes
			bad[m] = err
			continue
		}
		keep = append(keep, m)
	}
	l.segs = keep
	return bad, nil
}

// quarantine moves corrupt segments into the dead-letter area (one dead
// letter per segment, carrying the raw bytes base64-encoded in a JSON
// document) so that the loss is visible and the queue moves on.
func (s *Spool) quarantine(l *Lease, bad map[segMeta]error) error {
	var dead []DeadLetter
	var segs []segMeta
	var recs, nbytes int64
	for m, cerr := range bad {
		s.log.Error("spool: corrupt segment moved to the dead-letter area", "seq", m.seq, "records", m.count, "err", cerr)
		var raw []byte
		_ = s.view(func(txn *badger.Txn) error {
			item, err := txn.Get(segKey(m))
			if err == nil {
				raw, _ = item.ValueCopy(nil)
			}
			return nil
		})
		doc, _ := json.Marshal(map[string]any{
			"message":              "spool: corrupt segment",
			"error.message":        cerr.Error(),
			"logspool.segment":     m.seq,
			"logspool.records":     m.count,
			"logspool.segment_key": hex.EncodeToString(segKey(m)),
			"logspool.raw_base64":  base64.StdEncoding.EncodeToString(raw),
		})
		var id record.ID
		binary.BigEndian.PutUint64(id[8:], m.seq)
		dead = append(dead, DeadLetter{Record: record.Record{ID: id, Time: time.Now().UnixNano(), Doc: doc}, Reason: cerr.Error(), Time: time.Now()})
		segs = append(segs, m)
		recs += int64(m.count)
		nbytes += m.bytes
	}
	ql := &Lease{s: s, segs: segs, bytes: nbytes, state: leaseActive}
	s.mu.Lock()
	s.leases[ql] = struct{}{}
	s.mu.Unlock()
	if err := ql.finish(dead, recs); err != nil {
		ql.Release()
		return fmt.Errorf("spool: dead-lettering %d corrupt segments: %w", len(segs), err)
	}
	return nil
}

// Bytes is the sum of record.Size() over the leased records.
func (l *Lease) Bytes() int { return int(l.bytes) }

// Done finishes the lease: it deletes the leased records from the queue and
// stores dead (a subset of Records, with reasons) in the dead-letter area, in
// one atomic write. Call it only when every record is delivered or dead.
// When the write fails the lease stays active: call Done again or Release.
func (l *Lease) Done(dead []DeadLetter) error {
	return l.finish(dead, int64(len(l.Records)))
}

func (l *Lease) finish(dead []DeadLetter, records int64) error {
	s := l.s
	s.mu.Lock()
	if l.state != leaseActive {
		s.mu.Unlock()
		if s.closed && l.state == leaseReleased {
			return ErrClosed
		}
		return ErrLeaseDone
	}
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	l.state = leaseFinishing
	var first uint64
	if len(dead) > 0 {
		first = s.nextDead
		s.nextDead += uint64(len(dead))
	}
	s.mu.Unlock()

	entries, err := l.commitDone(dead, first)

	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		l.state = leaseActive
		if s.closed {
			l.state = leaseReleased
		}
		return err
	}
	l.state = leaseDone
	delete(s.leases, l)
	s.leasedRecords -= records
	s.queuedRecords -= records
	s.queuedBytes -= l.bytes
	s.segments -= int64(len(l.segs))
	for _, e := range entries {
		s.insertDeadLocked(e)
	}
	wake(&s.spaceCh)
	s.updateGaugesLocked()
	s.dirty.Store(true)
	s.metrics.acked(int(records), len(dead))
	if s.acked.Add(l.bytes) >= maintEvery {
		s.askMaintenance()
	}
	if len(entries) > 0 && s.deadBytes > s.cfg.MaxDeadLetterBytes {
		s.askDeadTrim()
	}
	l.buf, l.Records = nil, nil
	return nil
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// commitDone deletes the lease's segments and writes dead (numbered from
// first) in one transaction.
func (l *Lease) commitDone(dead []DeadLetter, first uint64) ([]deadMeta, error) {
	s := l.s
	s.opMu.RLock()
	defer s.opMu.RUnlock()
	if s.isClosed() {
		return nil, ErrClosed
	}
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	for _, m := range l.segs {
		if err := txn.Delete(segKey(m)); err != nil {
			return nil, fmt.Errorf("spool: deleting segment %d: %w", m.seq, err)
		}
	}
	entries, err := putDead(txn, dead, first)
	if err != nil {
		return nil, err
	}
	if err := txn.Commit(); err != nil {
		return nil, fmt.Errorf("spool: committing lease of %d segments with %d dead letters: %w", len(l.segs), len(dead), err)
	}
	return entries, nil
}

// putDead writes dead letters numbered from first as entries of about
// segLargeTarget bytes; like planSegments, only the last entry may stay
// inline, so the transaction fits.
func putDead(txn *badger.Txn, dead []DeadLetter, first uint64) ([]deadMeta, error) {
	if len(dead) == 0 {
		return nil, nil
	}
	total := 0
	for i := range dead {
		total += encodedDeadLen(&dead[i])
	}
	target := segInlineMax
	if total > inlineBudget/2 {
		target = segLargeTarget
	}
	var entries []deadMeta
	lo, size := 0, 0
	flush := func(hi int) error {
		items := make([]deadItem, hi-lo)
		m := deadMeta{first: first + uint64(lo), last: first + uint64(hi-1), count: uint32(hi - lo)}
		for i := lo; i < hi; i++ {
			items[i-lo] = deadItem{key: first + uint64(i), dl: dead[i]}
			m.bytes += deadSize(&dead[i])
		}
		if err := txn.Set(deadKey(m), encodeDead(nil, items)); err != nil {
			return fmt.Errorf("spool: storing %d dead letters: %w", len(items), err)
		}
		entries = append(entries, m)
		lo, size = hi, 0
		return nil
	}
	for i := range dead {
		n := encodedDeadLen(&dead[i])
		if i > lo && size+n > target && total-size >= valueThreshold {
			if err := flush(i); err != nil {
				return nil, err
			}
			total -= size
		}
		size += n
	}
	if err := flush(len(dead)); err != nil {
		return nil, err
	}
	return entries, nil
}

// Release hands the records back to the queue for another lease (a nack).
// It is a no-op on a finished or released lease.
func (l *Lease) Release() {
	s := l.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if l.state != leaseActive {
		return
	}
	l.state = leaseReleased
	if s.closed {
		return
	}
	delete(s.leases, l)
	var count int64
	for _, m := range l.segs {
		count += int64(m.count)
	}
	s.leasedRecords -= count
	s.insertPendingLocked(l.segs)
	wake(&s.availCh)
	s.updateGaugesLocked()
	l.buf, l.Records = nil, nil
}

// Dump calls fn for every queued record (leased ones included), oldest first.
// The records' Docs are only valid during the call.
func (s *Spool) Dump(fn func(r record.Record) error) error {
	var keys [][]byte
	err := s.view(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = []byte{prefixSegment}
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("spool: listing segments: %w", err)
	}
	var recs []record.Record
	for _, k := range keys {
		m, ok := parseSegKey(k)
		if !ok {
			continue
		}
		var v []byte
		err := s.view(func(txn *badger.Txn) error {
			item, err := txn.Get(k)
			if errors.Is(err, badger.ErrKeyNotFound) {
				return nil // acked meanwhile
			}
			if err != nil {
				return err
			}
			v, err = item.ValueCopy(v[:0])
			return err
		})
		if err != nil {
			return fmt.Errorf("spool: reading segment %d: %w", m.seq, err)
		}
		if v == nil {
			continue
		}
		recs, err = decodeSegment(recs[:0], k, v, m.count)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// view runs fn in a read transaction unless the spool is closed.
func (s *Spool) view(fn func(txn *badger.Txn) error) error {
	s.opMu.RLock()
	defer s.opMu.RUnlock()
	if s.isClosed() {
		return ErrClosed
	}
	return s.db.View(fn)
}

// askMaintenance wakes the background goroutine's maintenance unless it is
// already asked.
func (s *Spool) askMaintenance() {
	select {
	case s.maintCh <- struct{}{}:
	default:
	}
}
