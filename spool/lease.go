package spool

// Leases: handing queued segments out, decoding them into pooled memory,
// and settling a lease (Done, Release) as the ack story in doc.go says.

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/logspool/logspool/internal/freelist"
	"github.com/logspool/logspool/spool/record"
)

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
		l.freeMem()
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
	// Records are the leased records, oldest first. They, their documents
	// and their Metas are valid until Done or Release returns: then their
	// memory goes to the next lease.
	Records []record.Record

	mem   *leaseMem
	s     *Spool
	segs  []segMeta
	bytes int64
	state leaseState // guarded by s.mu
}

// readSegment reads the stored value of m (from its data file, or from
// Badger for a version 1 spool's segment) into buf.
func (s *Spool) readSegment(m segMeta, buf []byte) ([]byte, []byte, error) {
	if m.r.valid() {
		key, v, out, err := s.segLog.read(m.r, buf)
		if err == nil && string(key) != string(segKey(m)) {
			err = &DamageError{File: s.segLog.pathOf(m.r.fid), Offset: m.r.off, Reason: fmt.Sprintf("the entry holds key %x, the index says segment %d", key, m.seq)}
		}
		return v, out, err
	}
	var v []byte
	err := s.view(func(txn *badger.Txn) error {
		item, err := txn.Get(segKey(m))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return &CorruptError{Key: segKey(m), Reason: "segment is missing from the database"}
		}
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(buf[:0])
		if err != nil {
			return &CorruptError{Key: segKey(m), Reason: fmt.Sprintf("reading the value: %v", err)}
		}
		return nil
	})
	return v, v, err
}

// read loads and decodes the lease's segments. Segments that fail their
// integrity check are returned in bad (with their errors) and left out of
// Records and of l.segs.
func (l *Lease) read(count int) (bad map[segMeta]error, err error) {
	s := l.s
	l.mem, _ = leaseMems.Get()
	if l.mem == nil {
		l.mem = new(leaseMem)
	}
	l.Records = slices.Grow(l.mem.recs[:0], count)
	keep := l.segs[:0]
	buf := l.mem.read
	defer func() {
		if cap(buf) <= maxLeaseChunk {
			l.mem.read = buf
		}
	}()
	for _, m := range l.segs {
		var v []byte
		v, buf, err = s.readSegment(m, buf)
		if errors.Is(err, ErrClosed) {
			return nil, err
		}
		if err == nil {
			n := len(l.Records)
			l.Records, err = decodeSegment(l.Records, segKey(m), v, m.count, l.mem.alloc)
			if err == nil && v[0] == valueVersion {
				// Uncompressed records sub-slice buf: copy them out.
				for i := n; i < len(l.Records); i++ {
					l.Records[i].Doc = slices.Clone(l.Records[i].Doc)
				}
			}
			if err != nil {
				l.Records = l.Records[:n]
			}
		}
		if err != nil {
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

// leaseMem is the memory a lease's records live in: the Records slice and
// the decoded segment bodies their documents and Metas sub-slice. It is
// reused by the next leases once the lease is done or released (records
// are not valid after that), so that shipping allocates nothing per record.
type leaseMem struct {
	recs   []record.Record
	chunks []*[]byte // pooled chunks in use
	cur    []byte    // the free end of the last chunk
	read   []byte    // scratch for the stored (compressed) values
}

const (
	// leaseChunk is the size of the pooled chunks decoded segments go to.
	leaseChunk = 1 << 20
	// maxLeaseChunk: a decoded body larger than this gets its own memory,
	// and a larger read buffer is not kept.
	maxLeaseChunk = leaseChunk / 2
)

// The free lists of lease memory: enough for the shipper's leases in flight
// (two requests of 5 MiB, about 2.5 MiB of decoded segments each), kept
// across garbage collections (see package freelist).
var (
	leaseMems   = freelist.New[*leaseMem](4)
	leaseChunks = freelist.New[*[]byte](8)
)

// alloc returns n bytes for a decoded segment body.
func (m *leaseMem) alloc(n int) []byte {
	if n > maxLeaseChunk {
		return make([]byte, n)
	}
	if cap(m.cur)-len(m.cur) < n {
		p, _ := leaseChunks.Get()
		if p == nil {
			b := make([]byte, leaseChunk)
			p = &b
		}
		m.chunks = append(m.chunks, p)
		m.cur = (*p)[:0]
	}
	start := len(m.cur)
	m.cur = m.cur[:start+n]
	return m.cur[start : start+n : start+n]
}

// free hands m back for the next lease.
func (m *leaseMem) free(recs []record.Record) {
	if cap(recs) > cap(m.recs) && cap(recs) <= 1<<20 {
		m.recs = recs
	}
	clear(m.recs[:cap(m.recs)])
	m.recs = m.recs[:0]
	for i, p := range m.chunks {
		leaseChunks.Put(p)
		m.chunks[i] = nil
	}
	m.chunks, m.cur = m.chunks[:0], nil
	leaseMems.Put(m)
}

// freeMem gives the lease's memory back (its records are no longer valid).
func (l *Lease) freeMem() {
	if l.mem != nil {
		l.mem.free(l.Records)
		l.mem = nil
	}
	l.Records = nil
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
		raw := s.rawBytes(m)
		dead = append(dead, corruptDeadLetter(m, raw, cerr))
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

// rawBytes returns whatever is stored for m, damaged or not.
func (s *Spool) rawBytes(m segMeta) []byte {
	if m.r.valid() {
		s.segLog.mu.Lock()
		df := s.segLog.files[m.r.fid]
		s.segLog.mu.Unlock()
		if df == nil {
			return nil
		}
		b := make([]byte, min(m.r.len, maxEntryLen))
		n, _ := df.f.ReadAt(b, m.r.off)
		return b[:n]
	}
	var raw []byte
	_ = s.view(func(txn *badger.Txn) error {
		item, err := txn.Get(segKey(m))
		if err == nil {
			raw, _ = item.ValueCopy(nil)
		}
		return nil
	})
	return raw
}

// corruptDeadLetter is the dead letter that stands for a damaged segment.
func corruptDeadLetter(m segMeta, raw []byte, cerr error) DeadLetter {
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
	return DeadLetter{Record: record.Record{ID: id, Time: time.Now().UnixNano(), Doc: doc}, Reason: cerr.Error(), Time: time.Now()}
}

// Bytes is the sum of record.Size() over the leased records.
func (l *Lease) Bytes() int { return int(l.bytes) }

// Done finishes the lease: it deletes the leased records from the queue and
// stores dead (a subset of Records, with reasons) in the dead-letter area, in
// one atomic write. Call it only when every record is delivered or dead.
// When the write fails the lease is released as by Release and the error
// returned: its records are leased again (the contract is doc.go's ack
// story, step 5).
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
		l.releaseLocked()
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
	l.freeMem()
	return nil
}

// commitDone deletes the lease's segments and writes dead (numbered from
// first) as one unit. The dead letters' data is synced before the unit is
// written, so the unit never points at data a power loss can take.
func (l *Lease) commitDone(dead []DeadLetter, first uint64) ([]deadMeta, error) {
	s := l.s
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	entries, err := s.writeDead(dead, first)
	if err != nil {
		return nil, err
	}
	u := s.lastUnit + 1
	err = s.update(func(txn *badger.Txn) error {
		for _, m := range l.segs {
			if err := txn.Delete(segKey(m)); err != nil {
				return fmt.Errorf("deleting segment %d: %w", m.seq, err)
			}
		}
		for _, e := range entries {
			if err := txn.Set(deadKey(e), encodeIndex(e.r, nil)); err != nil {
				return fmt.Errorf("storing dead letters: %w", err)
			}
		}
		return txn.Set(unitKey(u), encodeUnit(unitRec{kind: unitAck, delta: int64(len(entries) - len(l.segs))}))
	})
	if err != nil {
		for _, e := range entries {
			s.dlqLog.release(e.r)
		}
		return nil, fmt.Errorf("spool: committing lease of %d segments with %d dead letters: %w", len(l.segs), len(dead), classifyIOError(s.cfg.Dir, err))
	}
	s.lastUnit = u
	s.indexCount += int64(len(entries) - len(l.segs))
	for _, m := range l.segs {
		if m.r.valid() {
			s.segLog.release(m.r)
		}
	}
	return entries, nil
}

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

// Release hands the records back to the queue for another lease (a nack).
// It is a no-op on a finished or released lease.
func (l *Lease) Release() {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	l.releaseLocked()
}

// releaseLocked hands an active lease's records back to the queue.
func (l *Lease) releaseLocked() {
	s := l.s
	if l.state != leaseActive {
		return
	}
	l.state = leaseReleased
	if s.closed {
		l.freeMem()
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
	l.freeMem()
}
