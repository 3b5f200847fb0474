package systemd

import (
	"errors"
	"time"

	"github.com/logspool/logspool/systemd/journalfile"
)

// journal is the part of *journalfile.File the merge needs; tests feed fakes.
type journal interface {
	Path() string
	Header() journalfile.Header
	Refresh() error
	NumEntries() int
	Err() error
	EntryMeta(i int) (journalfile.EntryMeta, error)
	ReadEntry(i int, e *journalfile.Entry) error
	Close() error
}

// openFunc opens one journal file.
type openFunc func(path string) (journal, error)

func openJournalFile(path string) (journal, error) {
	f, err := journalfile.Open(path)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// maxStalls is how many refresh rounds an unreadable entry of an ONLINE file
// is retried before it is skipped as damaged: a live writer may have linked
// it before all of it reached the page cache.
const maxStalls = 4

// maxIORetries is how many times an entry that cannot be read for an I/O
// error (not damage) is tried again, with a growing backoff, before it is
// skipped as unreadable.
const maxIORetries = 8

// source is one open journal file in the merge.
type source struct {
	j     journal
	path  string
	key   fileKey
	found foundFile // as the last scan listed it (Input only)
	sid   journalfile.ID128
	hdr   journalfile.Header

	next    int // index of the next entry to look at
	n       int // NumEntries as of the last refresh
	head    journalfile.EntryMeta
	hasHead bool

	blocked bool // the head entry of an ONLINE file failed to read; wait for a refresh
	stalls  int  // refresh rounds the head entry has been blocked

	ioRetries int       // reads of the next entry that failed for an I/O error
	ioWait    time.Time // when to try it again

	obsSeq uint64 // highest seqnum seen in a readable entry of the file (see observe)
	obsIdx int    // index of that entry: observe looks no lower than it

	badEntries      int  // entries skipped as unreadable
	damagedEntries  int  // entries read without some fields
	badNameEntries  int  // entries with fields of invalid names
	gone            bool // the path no longer names this file
	corruptReported bool
}

// refresh re-reads the header and the entry count of the file.
func (s *source) refresh() error {
	if err := s.j.Refresh(); err != nil {
		return err
	}
	s.sync()
	return nil
}

// refreshStalls lets a head entry that was blocked (see maxStalls) be tried
// again, counting one more round; called once per poll. An entry blocked
// for an I/O error waits until its retry time (ioWait).
func (s *source) refreshStalls(now time.Time) {
	if s.blocked && (s.ioRetries == 0 || !now.Before(s.ioWait)) {
		s.blocked = false
		if s.ioRetries == 0 {
			s.stalls++
		}
	}
}

// isIOError reports whether err says that reading failed (EIO, a vanished
// network file system, ...) rather than that the file is damaged.
func isIOError(err error) bool {
	var ce *journalfile.CorruptionError
	return err != nil && !errors.As(err, &ce)
}

// sync takes the header and entry count as the file reports them now.
func (s *source) sync() {
	s.hdr = s.j.Header()
	s.sid = s.hdr.SeqnumID
	s.n = s.j.NumEntries()
}

// observe returns the highest seqnum of the file's writer that the file
// shows now: the seqnum of its last readable entry (looking back from the
// end, never below the one found before), and for a file no longer being
// written (OFFLINE, ARCHIVED) its header's tail seqnum when that is
// plausible. Every entry of the writer numbered up to that value was
// complete when it was observed (see merger.limit).
func (s *source) observe() (uint64, bool) {
	for i := s.n - 1; i >= s.obsIdx && i >= 0; i-- {
		meta, err := s.j.EntryMeta(i)
		if err == nil && plausibleSeqnum(&s.hdr, meta.Seqnum) {
			s.obsSeq = max(s.obsSeq, meta.Seqnum)
			s.obsIdx = i
			break
		}
	}
	obs := s.obsSeq
	if s.hdr.State != journalfile.StateOnline && s.hdr.NEntries > 0 && plausibleSeqnum(&s.hdr, s.hdr.TailEntrySeqnum) {
		obs = max(obs, s.hdr.TailEntrySeqnum)
	}
	return obs, obs != 0
}

// exhausted reports whether every entry known so far has been consumed.
func (s *source) exhausted() bool { return !s.hasHead && s.next >= s.n && !s.blocked }

// entryError is called for an entry that cannot be read and is skipped.
type entryError func(s *source, i int, err error)

// merger merges sources into one stream in journalctl's order.
//
// Entries that share a seqnum_id come from one writer and are emitted in
// strictly increasing seqnum order: among the sources of one seqnum_id only
// the one with the lowest head seqnum is a candidate, and an entry whose
// seqnum is not above the highest already emitted for its seqnum_id (the
// floor) is skipped as a copy. The candidates of different seqnum_ids are
// compared with compareEntries and the smallest is taken (the first source on
// ties). Nothing is dropped when clocks disagree: an entry is only ever
// skipped because its (seqnum_id, seqnum) was already emitted.
//
// The floor makes the position exact: "every entry of seqnum_id S up to N has
// been emitted" holds for every S at all times.
//
// While files are being written (follow mode) that needs one more rule. One
// writer can write several files at once: since systemd 254 journald numbers
// the entries of system.journal and of every user-UID.journal in one
// sequence under one seqnum_id. The files are refreshed one after another,
// so a file refreshed later can show seqnum 6 while seqnum 5, written to a
// file refreshed earlier, is not visible yet; taking 6 would raise the floor
// over 5 and lose it. So a writer's entries are taken only up to limit[S], a
// seqnum up to which every entry of S is known to be visible. The Input
// computes it each poll (see Input.poll): it notes the highest seqnum each
// file shows (source.observe), then lists the directories and refreshes
// every file again. A writer numbers and completes its entries one at a
// time, so every entry numbered up to an observed seqnum was complete before
// the observation, and the listing and refreshes made after it see them
// all. A writer without a limit yet has nothing taken. A nil limit (the
// one-shot Reader, whose files do not change) takes everything.
type merger struct {
	// follow makes an unreadable entry near the tail of an ONLINE file wait
	// for the next refresh (see maxStalls) instead of being skipped at once.
	follow bool
	limit  map[journalfile.ID128]uint64
	// onIOErr (follow mode) is told of an entry that could not be read for
	// an I/O error and will be tried again; it sets s.ioWait.
	onIOErr entryError
	undo    struct { // the floor before the last next(), for putBack
		sid   journalfile.ID128
		floor uint64
		had   bool
	}
	sources []*source
	floor   map[journalfile.ID128]uint64
	onErr   entryError
	dups    uint64  // entries skipped as copies of emitted ones
	groups  []group // scratch of next()
}

func newMerger(onErr entryError) *merger {
	if onErr == nil {
		onErr = func(*source, int, error) {}
	}
	return &merger{floor: make(map[journalfile.ID128]uint64), onErr: onErr}
}

func (m *merger) add(s *source) { m.sources = append(m.sources, s) }

func (m *merger) remove(s *source) {
	for i, x := range m.sources {
		if x == s {
			m.sources = append(m.sources[:i], m.sources[i+1:]...)
			return
		}
	}
}

// fillHead loads the next usable entry of s into s.head.
func (m *merger) fillHead(s *source) bool {
	if s.hasHead {
		if f, ok := m.floor[s.head.SeqnumID]; !ok || s.head.Seqnum > f {
			return true
		}
		// Another source emitted this seqnum meanwhile (a copy): drop it.
		m.dups++
		s.hasHead = false
		s.next++
	}
	if s.blocked {
		return false
	}
	for s.next < s.n {
		meta, err := s.j.EntryMeta(s.next)
		if err == nil && !plausibleSeqnum(&s.hdr, meta.Seqnum) {
			err = &journalfile.CorruptionError{Path: s.path, Offset: meta.Offset,
				Reason: "entry seqnum outside the file's seqnum range"}
		}
		if err != nil {
			if m.follow && m.onIOErr != nil && isIOError(err) && s.ioRetries < maxIORetries {
				// Not damage: read it again later, in its place.
				s.ioRetries++
				s.blocked = true
				m.onIOErr(s, s.next, err)
				return false
			}
			if m.follow && s.hdr.State == journalfile.StateOnline && s.stalls < maxStalls && s.next >= s.n-8 {
				// Possibly a half-written entry at the tail of a live file.
				s.blocked = true
				return false
			}
			m.onErr(s, s.next, err)
			s.next++
			s.stalls = 0
			continue
		}
		s.stalls = 0
		if f, ok := m.floor[meta.SeqnumID]; ok && meta.Seqnum <= f {
			m.dups++
			s.next++
			continue
		}
		s.head = meta
		s.hasHead = true
		return true
	}
	return false
}

// plausibleSeqnum rejects seqnums a damaged entry may carry: zero, below the
// file's head or (for a file no longer written) above its tail.
func plausibleSeqnum(h *journalfile.Header, seq uint64) bool {
	if seq == 0 {
		return false
	}
	if h.HeadEntrySeqnum != 0 && seq < h.HeadEntrySeqnum {
		return false
	}
	if h.State != journalfile.StateOnline && h.TailEntrySeqnum != 0 && seq > h.TailEntrySeqnum {
		return false
	}
	return true
}

// group is the candidate of one seqnum_id during a next() call.
type group struct {
	sid     journalfile.ID128
	best    *source // the source with the lowest head seqnum
	blocked bool    // a source of the writer waits for a half-written entry
}

// next takes the next entry of the merged stream. It returns the source and
// the entry index to read with EntryAt, and false when no source has an
// entry available now.
func (m *merger) next() (*source, int, journalfile.EntryMeta, bool) {
	m.groups = m.groups[:0]
	for _, s := range m.sources {
		g := m.groupOf(s.sid)
		if g.blocked {
			continue
		}
		// A file whose first entry comes after the writer's current candidate
		// cannot lead (this keeps a directory of many archived files cheap).
		if g.best != nil && s.hdr.HeadEntrySeqnum > g.best.head.Seqnum {
			continue
		}
		if !m.fillHead(s) {
			if s.blocked {
				// The writer's entries must be taken in seqnum order: while one
				// of its files waits for a half-written entry, none is taken.
				g.blocked, g.best = true, nil
			}
			continue
		}
		if g.best == nil || s.head.Seqnum < g.best.head.Seqnum {
			g.best = s
		}
	}
	var best *source
	for i := range m.groups {
		g := &m.groups[i]
		if g.blocked || g.best == nil {
			continue
		}
		if m.limit != nil {
			if lim, ok := m.limit[g.sid]; !ok || g.best.head.Seqnum > lim {
				continue // the writer may have an entry before it not visible yet
			}
		}
		if best == nil || compareEntries(&g.best.head, &best.head) < 0 {
			best = g.best
		}
	}
	if best == nil {
		return nil, 0, journalfile.EntryMeta{}, false
	}
	meta, idx := best.head, best.next
	best.hasHead = false
	best.next++
	m.undo.sid = meta.SeqnumID
	m.undo.floor, m.undo.had = m.floor[meta.SeqnumID]
	m.floor[meta.SeqnumID] = meta.Seqnum
	return best, idx, meta, true
}

// putBack undoes the last next(), which returned entry idx of s, and blocks
// s: the entry is taken again, in its place, once s is unblocked (an entry
// that could not be read for an I/O error).
func (m *merger) putBack(s *source, idx int) {
	m.unread(s, idx)
	s.blocked = true
}

// unread undoes the last next(), which returned entry idx of s: the entry
// is taken again by the next next().
func (m *merger) unread(s *source, idx int) {
	s.next = idx
	s.hasHead = false
	if m.undo.had {
		m.floor[m.undo.sid] = m.undo.floor
	} else {
		delete(m.floor, m.undo.sid)
	}
}

func (m *merger) groupOf(sid journalfile.ID128) *group {
	for i := range m.groups {
		if m.groups[i].sid == sid {
			return &m.groups[i]
		}
	}
	m.groups = append(m.groups, group{sid: sid})
	return &m.groups[len(m.groups)-1]
}

// searchFirst returns the first index in [from, n) whose entry satisfies
// pred, assuming pred is monotone over the file. Unreadable entries take the
// verdict of the nearest readable one after them (or before them).
func searchFirst(j journal, from, n int, pred func(*journalfile.EntryMeta) bool) int {
	hdr := j.Header()
	lo, hi := from, n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		ok, found := probe(j, &hdr, mid, lo, hi, pred)
		if !found {
			// Nothing readable in [lo, hi): start at lo so nothing readable is skipped.
			return lo
		}
		if ok {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// probe evaluates pred at the first readable entry at or after mid (before
// hi). An entry with an implausible seqnum counts as unreadable, so that a
// damaged entry cannot steer the search past entries not yet taken.
func probe(j journal, hdr *journalfile.Header, mid, lo, hi int, pred func(*journalfile.EntryMeta) bool) (ok, found bool) {
	readable := func(i int) (journalfile.EntryMeta, bool) {
		meta, err := j.EntryMeta(i)
		return meta, err == nil && plausibleSeqnum(hdr, meta.Seqnum)
	}
	for i := mid; i < hi; i++ {
		if meta, ok := readable(i); ok {
			return pred(&meta), true
		}
	}
	for i := mid - 1; i >= lo; i-- {
		if _, ok := readable(i); ok {
			// [mid, hi) is unreadable: count it as satisfying pred, so that
			// the search never moves past a readable entry because of it.
			return true, true
		}
	}
	return false, false
}
