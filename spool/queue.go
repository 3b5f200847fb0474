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
	segs := make([]segMeta, len(plan))
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
	buf := (*bp)[:0]
	offs := make([]int, len(plan))
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
	// The positions the records reach, beside them: salvage rebuilds the
	// checkpoints from these when the index itself is lost.
	if len(plan) > 0 {
		for _, cp := range cps {
			buf = appendEntry(buf, checkpointKey(cp.Key), encodeCpEntry(cp))
		}
	}
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

// update runs fn in a write transaction unless the index is closed.
func (s *Spool) update(fn func(txn *badger.Txn) error) error {
	s.opMu.RLock()
	defer s.opMu.RUnlock()
	if s.dbClosed {
		return ErrClosed
	}
	return s.db.Update(fn)
}

// view runs fn in a read transaction unless the spool is closed.
func (s *Spool) view(fn func(txn *badger.Txn) error) error {
	s.opMu.RLock()
	defer s.opMu.RUnlock()
	if s.dbClosed || s.isClosed() {
		return ErrClosed
	}
	return s.db.View(fn)
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

// writeDead writes dead letters numbered from first to the dead-letter data
// files as entries of a few MiB and syncs them.
func (s *Spool) writeDead(dead []DeadLetter, first uint64) ([]deadMeta, error) {
	if len(dead) == 0 {
		return nil, nil
	}
	items := make([]deadItem, len(dead))
	for i := range dead {
		items[i] = deadItem{key: first + uint64(i), dl: dead[i]}
	}
	return s.writeDeadItems(items)
}

// writeDeadItems writes items (numbers increasing) as dead-letter entries
// and syncs them.
func (s *Spool) writeDeadItems(items []deadItem) ([]deadMeta, error) {
	var entries []deadMeta
	var buf []byte
	var offs []int
	lo, size := 0, 0
	flush := func(hi int) {
		m := deadMeta{first: items[lo].key, last: items[hi-1].key, count: uint32(hi - lo)}
		for i := lo; i < hi; i++ {
			m.bytes += deadSize(&items[i].dl)
		}
		offs = append(offs, len(buf))
		buf = appendEntry(buf, deadKey(m), encodeDead(nil, items[lo:hi]))
		entries = append(entries, m)
		lo, size = hi, 0
	}
	for i := range items {
		n := encodedDeadLen(&items[i].dl)
		if i > lo && size+n > 4<<20 {
			flush(i)
		}
		size += n
	}
	flush(len(items))
	refs, err := s.dlqLog.write(buf, offs)
	if err != nil {
		return nil, fmt.Errorf("spool: writing %d dead letters: %w", len(items), classifyIOError(s.cfg.Dir, err))
	}
	for i := range entries {
		entries[i].r = refs[i]
	}
	if err := s.dlqLog.syncFile(refs[0].fid); err != nil {
		for _, r := range refs {
			s.dlqLog.release(r)
		}
		return nil, fmt.Errorf("spool: syncing dead letters: %w", classifyIOError(s.cfg.Dir, err))
	}
	return entries, nil
}

// Dump calls fn for every queued record (leased ones included), oldest first.
// The records' Docs and Metas are only valid during the call.
func (s *Spool) Dump(fn func(r record.Record) error) error {
	var segs []segMeta
	err := s.view(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{prefixSegment}
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			m, ok := parseSegKey(it.Item().Key())
			if !ok {
				continue
			}
			if err := it.Item().Value(func(v []byte) error {
				if r, _, isRef, err := decodeIndex(v); err == nil && isRef {
					m.r = r
				}
				return nil
			}); err != nil {
				return err
			}
			segs = append(segs, m)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("spool: listing segments: %w", err)
	}
	var recs []record.Record
	var buf, dbuf []byte
	alloc := func(n int) []byte { // the records are only valid during fn
		if cap(dbuf) < n {
			dbuf = make([]byte, n)
		}
		return dbuf[:n]
	}
	for _, m := range segs {
		var v []byte
		v, buf, err = s.readSegment(m, buf)
		if err != nil {
			var ce *CorruptError
			if errors.As(err, &ce) && ce.Reason == "segment is missing from the database" {
				continue // acked meanwhile
			}
			return fmt.Errorf("spool: reading segment %d: %w", m.seq, err)
		}
		recs, err = decodeSegment(recs[:0], segKey(m), v, m.count, alloc)
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

// askMaintenance wakes the background goroutine's maintenance unless it is
// already asked.
func (s *Spool) askMaintenance() {
	select {
	case s.maintCh <- struct{}{}:
	default:
	}
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
func (s *Spool) TryLease(maxBytes int) (*Lease, error) {
	l, _, err := s.tryLease(maxBytes)
	return l, err
}
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

// encodeCpEntry is the value of a checkpoint entry in a data file: 1 and the
// value, or 0 for a deleted checkpoint.
func encodeCpEntry(cp record.Checkpoint) []byte {
	if cp.Value == nil {
		return []byte{0}
	}
	return append([]byte{1}, cp.Value...)
}
