package systemd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logspool/logspool/spool/record"
	"github.com/logspool/logspool/systemd/journalfile"
)

// The journal merge model: a randomized test of the Input (directory scans,
// the merge, positions, restarts) against journald's behaviour, with an
// oracle checked at the end of every sequence.
//
// The world is two real directories (/var/log/journal/<machine-id> and
// /run/log/journal/<machine-id>) holding one placeholder file per journal
// file, so that listing, renames (archival, disposal as .journal~) and
// deletion (vacuum, flush) are real file-system operations and the Input
// follows files by inode as in production. The journal contents are the
// in-memory fake journals the merge tests use (fakeJournal): entries appended
// by the model become visible at the file's next Refresh, as a live writer's
// do. systemd-journal-remote, which writes the real files of the live tests,
// cannot be made to write one seqnum sequence across several files at once
// (it numbers each output file on its own), and spawning it thousands of
// times would take hours; the reader itself (package journalfile) is proven
// on real files by the corpus, live and fuzz tests.
//
// The model journald, in one of two modes:
//   - systemd 254+: one seqnum_id and one seqnum sequence for every file it
//     writes (system.journal, user-UID.journal, /run and /var alike); a
//     reboot draws a new seqnum_id and archives the files of the old one;
//   - systemd 252: each file has its own seqnum_id (kept across rotation),
//     the seqnums come from one counter.
//
// Reads of entries fail now and then with EIO. Its operations: write entries to the system or a user file; rotate a file
// (archive, rename to NAME@<sid>-<seqnum>-<realtime>.journal, start a new
// one with the same seqnum_id); flush /run to /var (copy every entry with a
// new seqnum, delete the /run files; the copies are new entries for the
// journal and for us); vacuum an archived file; crash and restart (the online
// files are disposed as *.journal~); reboot. Writes also happen while the
// Input refreshes its files one after another (the race of issue 8, defect
// 6). The Input polls, is restarted from its stored position, or crashes in
// the middle of storing a batch.
//
// The oracle: no entry (seqnum_id, seqnum) is stored twice and no record ID
// twice; the entries of each seqnum_id are stored in increasing seqnum order,
// across restarts; every entry of a file that still exists at the end is
// stored (entries of deleted files may be missing, never duplicated).
//
// make test runs modelSeeds fixed seeds; LOGSPOOL_TORTURE=1 (make torture)
// runs modelTortureSeeds; LOGSPOOL_SEED=n runs seed n alone, verbosely.

const (
	modelSeeds        = 40
	modelTortureSeeds = 2000
)

// testSeeds returns the seeds to run: LOGSPOOL_SEED alone, many under
// LOGSPOOL_TORTURE=1, else n.
func testSeeds(t *testing.T, n, torture int) []uint64 {
	t.Helper()
	if s := os.Getenv("LOGSPOOL_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("LOGSPOOL_SEED=%q: %v", s, err)
		}
		return []uint64{v}
	}
	if os.Getenv("LOGSPOOL_TORTURE") == "1" {
		n = torture
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(i + 1)
	}
	return out
}

func TestMergeModel(t *testing.T) {
	seeds := testSeeds(t, modelSeeds, modelTortureSeeds)
	for _, seed := range seeds {
		if err := runMergeModel(t, seed, false, len(seeds) == 1); err != nil {
			t.Fatalf("seed %d: %v\n(rerun alone: LOGSPOOL_SEED=%d go test ./systemd -run TestMergeModel -v)", seed, err, seed)
		}
	}
	t.Logf("%d seeds", len(seeds))
}

// TestMergeModelCatchesASkippingMerge runs the model against the merge
// without its visibility limit (the code of issue 8, defect 6): the oracle
// must catch it, or the model proves nothing.
func TestMergeModelCatchesASkippingMerge(t *testing.T) {
	const seeds = 20
	caught := 0
	var first error
	for seed := uint64(1); seed <= seeds; seed++ {
		if err := runMergeModel(t, seed, true, false); err != nil {
			caught++
			if first == nil {
				first = fmt.Errorf("seed %d: %w", seed, err)
			}
		}
	}
	if caught == 0 {
		t.Fatalf("no seed of %d caught the merge without its limit", seeds)
	}
	t.Logf("%d of %d seeds caught the old merge; first: %v", caught, seeds, first)
}

// modelEntry is one entry the model wrote.
type modelEntry struct {
	sid journalfile.ID128
	seq uint64
}

// modelFile is one journal file of the model.
type modelFile struct {
	f     *fakeJournal
	path  string // current path; "" once deleted
	user  int    // 0: system, else the uid
	run   bool   // in /run
	dirty bool   // still written by the current journald
}

type model struct {
	t        *testing.T
	rng      *rand.Rand
	v254     bool
	varDir   string
	runDir   string
	byPath   map[string]*fakeJournal
	files    []*modelFile
	flushed  bool // journald writes to /var (else /run)
	boot     journalfile.ID128
	sid      journalfile.ID128 // 254: the one seqnum_id
	counter  uint64            // journald's seqnum counter
	mono     uint64
	rt       uint64
	written  int
	nextName int
	inPoll   bool // the Input is refreshing: writes may interleave
	race     float64
	ioErrs   float64 // share of entry reads that fail with EIO
	log      func(format string, args ...any)
}

func (m *model) randID() journalfile.ID128 {
	var id journalfile.ID128
	for i := range id {
		id[i] = byte(m.rng.Uint32())
	}
	id[0] |= 1 // never all zero
	return id
}

// create makes a new journal file (ONLINE) for user (0: system).
func (m *model) create(user int, sid journalfile.ID128) *modelFile {
	dir := m.varDir
	if !m.flushed {
		dir = m.runDir
	}
	name := "system.journal"
	if user != 0 {
		name = fmt.Sprintf("user-%d.journal", user)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
		m.t.Fatal(err)
	}
	f := &fakeJournal{path: p, hdr: journalfile.Header{State: journalfile.StateOnline, SeqnumID: sid}}
	m.byPath[p] = f
	mf := &modelFile{f: f, path: p, user: user, run: !m.flushed, dirty: true}
	m.files = append(m.files, mf)
	m.log("create %s sid=%x", p, sid[:2])
	return mf
}

// current returns the file journald writes user's entries to now.
func (m *model) current(user int) *modelFile {
	for _, mf := range m.files {
		if mf.dirty && mf.user == user && mf.path != "" && mf.run == !m.flushed {
			return mf
		}
	}
	sid := m.sid
	if !m.v254 {
		sid = m.randID()
	}
	return m.create(user, sid)
}

// write appends one entry to user's file.
func (m *model) write(user int) {
	mf := m.current(user)
	f := mf.f
	seq := m.counter + 1
	if !m.v254 && f.hdr.TailEntrySeqnum+1 > seq {
		seq = f.hdr.TailEntrySeqnum + 1
	}
	m.counter = seq
	m.mono += 1 + m.rng.Uint64N(1000)
	if m.rng.IntN(50) == 0 {
		m.rt -= m.rng.Uint64N(5_000_000) // an NTP step backwards
	} else {
		m.rt += 1 + m.rng.Uint64N(1000)
	}
	m.appendEntry(f, seq, m.boot, m.mono, m.rt, fmt.Sprintf("u%d #%d", user, m.written))
	m.written++
}

func (m *model) appendEntry(f *fakeJournal, seq uint64, boot journalfile.ID128, mono, rt uint64, msg string) {
	e := journalfile.Entry{EntryMeta: journalfile.EntryMeta{
		Seqnum: seq, SeqnumID: f.hdr.SeqnumID, Realtime: rt, Monotonic: mono, BootID: boot, XorHash: seq*2654435761 + mono,
	}}
	e.Fields = []journalfile.Field{{Name: "MESSAGE", Value: []byte(msg)}}
	f.entries = append(f.entries, e)
	if f.hdr.HeadEntrySeqnum == 0 {
		f.hdr.HeadEntrySeqnum = seq
	}
	f.hdr.TailEntrySeqnum = seq
	f.hdr.NEntries = uint64(len(f.entries))
}

// rename moves mf to newPath (a real rename of its placeholder).
func (m *model) rename(mf *modelFile, newPath string) {
	if err := os.Rename(mf.path, newPath); err != nil {
		m.t.Fatal(err)
	}
	delete(m.byPath, mf.path)
	m.byPath[newPath] = mf.f
	m.log("rename %s -> %s", filepath.Base(mf.path), filepath.Base(newPath))
	mf.path = newPath
}

// archive ends mf as journald's rotation does.
func (m *model) archive(mf *modelFile) {
	f := mf.f
	f.hdr.State = journalfile.StateArchived
	mf.dirty = false
	base := strings.TrimSuffix(filepath.Base(mf.path), ".journal")
	m.nextName++
	m.rename(mf, filepath.Join(filepath.Dir(mf.path), fmt.Sprintf("%s@%s-%016x-%016x.journal", base, f.hdr.SeqnumID, f.hdr.HeadEntrySeqnum, m.nextName)))
}

// rotate archives one file being written; its next entries go to a new file
// with the same seqnum_id.
func (m *model) rotate() {
	var live []*modelFile
	for _, mf := range m.files {
		if mf.dirty && mf.path != "" {
			live = append(live, mf)
		}
	}
	if len(live) == 0 {
		return
	}
	mf := live[m.rng.IntN(len(live))]
	m.archive(mf)
	m.successor(mf)
}

// successor opens the file that follows old (journald passes old as the
// template: same seqnum_id, numbering continued).
func (m *model) successor(old *modelFile) {
	nf := m.create(old.user, old.f.hdr.SeqnumID)
	nf.f.hdr.TailEntrySeqnum = old.f.hdr.TailEntrySeqnum
}

// delete removes mf's placeholder (vacuum, flush); an Input that opened it
// keeps reading it, as through a descriptor still held.
func (m *model) delete(mf *modelFile) {
	if err := os.Remove(mf.path); err != nil {
		m.t.Fatal(err)
	}
	delete(m.byPath, mf.path)
	m.log("delete %s", filepath.Base(mf.path))
	mf.path = ""
	mf.dirty = false
}

func (m *model) vacuum() {
	for _, mf := range m.files {
		if mf.path != "" && mf.f.hdr.State == journalfile.StateArchived && m.rng.IntN(3) == 0 {
			m.delete(mf)
			return
		}
	}
}

// flush copies the /run files' entries into /var's system.journal with new
// seqnums (journald 254 passes its counter to the copy) and deletes them.
func (m *model) flush() {
	if m.flushed {
		return
	}
	var run []*modelFile
	for _, mf := range m.files {
		if mf.run && mf.path != "" {
			run = append(run, mf)
		}
	}
	m.flushed = true
	sys := m.current(0)
	// journalctl's order is seqnum order within one writer: copy in it.
	var all []journalfile.Entry
	for _, mf := range run {
		all = append(all, mf.f.entries...)
	}
	slices.SortFunc(all, func(a, b journalfile.Entry) int { return int(a.Seqnum) - int(b.Seqnum) })
	for _, e := range all {
		seq := m.counter + 1
		if !m.v254 {
			seq = sys.f.hdr.TailEntrySeqnum + 1 // 252 copies without the counter
		}
		m.counter = max(m.counter, seq)
		m.appendEntry(sys.f, seq, e.BootID, e.Monotonic, e.Realtime, string(e.Fields[0].Value)+" (copy)")
	}
	for _, mf := range run {
		m.delete(mf)
	}
	m.log("flush: %d entries copied", len(all))
}

// crash kills journald: its online files are disposed as *.journal~ at the
// restart, and it starts new ones (the seqnum state survives in /run).
func (m *model) crash() {
	for _, mf := range m.files {
		if mf.dirty && mf.path != "" {
			mf.dirty = false
			m.nextName++
			base := strings.TrimSuffix(filepath.Base(mf.path), ".journal")
			m.rename(mf, filepath.Join(filepath.Dir(mf.path), fmt.Sprintf("%s@%016x-%016x.journal~", base, m.rt, m.nextName)))
		}
	}
	m.log("journald crashed")
}

// reboot: a new boot; 254 draws a new seqnum_id (and rotates the old files
// away), 252 keeps writing the files it finds.
func (m *model) reboot() {
	m.boot = m.randID()
	m.mono = 0
	if m.v254 {
		m.sid = m.randID()
		m.counter = 0
		for _, mf := range m.files {
			if mf.dirty && mf.path != "" {
				m.archive(mf)
			}
		}
	} else {
		m.counter = 0
	}
	m.log("reboot")
}

// journaldOp is one random operation of journald.
func (m *model) journaldOp(big bool) {
	users := []int{0, 0, 0, 1000, 1001}
	switch r := m.rng.IntN(100); {
	case r < 80 || !big:
		for n := 1 + m.rng.IntN(4); n > 0; n-- {
			m.write(users[m.rng.IntN(len(users))])
		}
	case r < 88:
		m.rotate()
	case r < 92:
		m.vacuum()
	case r < 95:
		m.flush()
	case r < 98:
		m.crash()
	default:
		m.reboot()
	}
}

// modelJournal is what the Input opens: a fake journal whose Refresh lets
// journald act first (files are refreshed one after another while journald
// writes). It holds a descriptor of the placeholder, as the Input holds one
// of a journal file, so that its inode is not reused while it is open.
type modelJournal struct {
	*fakeJournal
	m  *model
	fd *os.File
}

func (j *modelJournal) Close() error { return j.fd.Close() }

// ReadEntry fails now and then with EIO, as a flaky disk does: the entry
// must still be stored once, in its place.
func (j *modelJournal) ReadEntry(i int, e *journalfile.Entry) error {
	if j.m.rng.Float64() < j.m.ioErrs {
		return &fs.PathError{Op: "read", Path: j.path, Err: syscall.EIO}
	}
	return j.fakeJournal.ReadEntry(i, e)
}

func (j *modelJournal) Refresh() error {
	if j.m.inPoll && j.m.rng.Float64() < j.m.race {
		j.m.journaldOp(false)
	}
	return j.fakeJournal.Refresh()
}

func (m *model) open(p string) (journal, error) {
	f, ok := m.byPath[p]
	if !ok {
		return nil, journalfile.ErrNotJournal
	}
	fd, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	f.Refresh()
	return &modelJournal{fakeJournal: f, m: m, fd: fd}, nil
}

// crashSink stores like memSink; the Append numbered crashAt fails as if
// the process died before the commit.
type crashSink struct {
	*memSink
	calls   int
	crashAt int
	cancel  context.CancelFunc
}

func (s *crashSink) Append(ctx context.Context, recs []record.Record, cps ...record.Checkpoint) error {
	s.calls++
	if s.calls == s.crashAt {
		s.cancel()
		return context.Canceled
	}
	return s.memSink.Append(ctx, recs, cps...)
}

// runMergeModel runs one seed; noLimit takes the merge's visibility limit
// away (to show the oracle catches the skip).
func runMergeModel(t *testing.T, seed uint64, noLimit, verbose bool) error {
	root := t.TempDir()
	m := &model{
		t:      t,
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		varDir: filepath.Join(root, "var", "0123456789abcdef0123456789abcdef"),
		runDir: filepath.Join(root, "run", "0123456789abcdef0123456789abcdef"),
		byPath: map[string]*fakeJournal{},
		log:    func(string, ...any) {},
		rt:     1_700_000_000_000_000,
	}
	if verbose {
		m.log = func(format string, args ...any) { t.Logf(format, args...) }
	}
	for _, d := range []string{m.varDir, m.runDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m.v254 = m.rng.IntN(3) != 0
	m.flushed = m.rng.IntN(3) != 0
	m.race = []float64{0, 0.2, 0.5}[m.rng.IntN(3)]
	m.ioErrs = []float64{0, 0, 0.03}[m.rng.IntN(3)]
	m.boot, m.sid = m.randID(), m.randID()
	m.log("seed %d: systemd 254=%v, starts flushed=%v, race=%v", seed, m.v254, m.flushed, m.race)

	sink := &crashSink{memSink: newMemSink()}
	clock := newTestClock()
	newInput := func() *Input {
		cfg := testConfig(filepath.Join(root, "var"), filepath.Join(root, "run"))
		cfg.BatchSize = 1 + m.rng.IntN(20)
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		in, err := NewInput(cfg, sink)
		if err != nil {
			t.Fatal(err)
		}
		in.open = m.open
		in.now = clock.Now
		in.running.Store(true)
		if err := in.start(); err != nil {
			t.Fatal(err)
		}
		if noLimit {
			in.m.limit = nil
		}
		return in
	}
	in := newInput()
	poll := func() {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		sink.cancel = cancel
		m.inPoll = true
		in.poll(ctx)
		m.inPoll = false
		clock.Add(250 * time.Millisecond)
		if ctx.Err() != nil {
			m.log("the Input crashed while storing a batch")
			in.closeAll()
			in = newInput()
		}
	}
	steps := 50 + m.rng.IntN(150)
	for step := 0; step < steps; step++ {
		switch r := m.rng.IntN(100); {
		case r < 55:
			m.journaldOp(true)
		case r < 93:
			poll()
		case r < 97:
			m.log("the Input restarts")
			in.closeAll()
			in = newInput()
		default:
			sink.crashAt = sink.calls + 1 + m.rng.IntN(3)
			m.log("the Input will crash at append %d", sink.crashAt)
		}
	}
	// Settle: journald stops, the Input polls until nothing more comes (a
	// minute apart: past any retry backoff).
	sink.crashAt = 0
	m.race = 0
	for quiet := 0; quiet < 3; {
		before := sink.count()
		clock.Add(time.Minute)
		poll()
		if sink.count() == before {
			quiet++
		} else {
			quiet = 0
		}
	}
	in.closeAll()
	return checkModel(t, m, sink.records())
}

// checkModel is the oracle.
func checkModel(t *testing.T, m *model, recs []record.Record) error {
	type key = modelEntry
	stored := make(map[key]bool, len(recs))
	ids := make(map[record.ID]string, len(recs)) // -> the entry's message without " (copy)"
	last := map[journalfile.ID128]uint64{}
	for i, c := range cursorsOf(t, recs) {
		cur, err := ParseCursor(c)
		if err != nil {
			return fmt.Errorf("record %d: %v", i, err)
		}
		k := key{cur.SeqnumID, cur.Seqnum}
		if stored[k] {
			return fmt.Errorf("entry %x/%d stored twice", k.sid[:2], k.seq)
		}
		stored[k] = true
		var d struct {
			Message string `json:"message"`
		}
		if err := json.Unmarshal(recs[i].Doc, &d); err != nil {
			return fmt.Errorf("record %d: %v", i, err)
		}
		msg := strings.TrimSuffix(d.Message, " (copy)")
		if prev, ok := ids[recs[i].ID]; ok && prev != msg {
			// One ID for a flush copy and its original is right (journald
			// 252 can give the copy the original's seqnum, and Elasticsearch
			// then keeps one); for two different entries it loses one.
			return fmt.Errorf("record ID %s of two different entries (%q, %q)", recs[i].ID, prev, msg)
		}
		ids[recs[i].ID] = msg
		if cur.Seqnum <= last[cur.SeqnumID] {
			return fmt.Errorf("writer %x: seqnum %d stored after %d", k.sid[:2], cur.Seqnum, last[cur.SeqnumID])
		}
		last[cur.SeqnumID] = cur.Seqnum
	}
	var missing []string
	for _, mf := range m.files {
		if mf.path == "" {
			continue
		}
		for _, e := range mf.f.entries {
			if !stored[key{e.SeqnumID, e.Seqnum}] {
				missing = append(missing, fmt.Sprintf("%s: %x/%d", filepath.Base(mf.path), e.SeqnumID[:2], e.Seqnum))
			}
		}
	}
	if len(missing) > 0 {
		return errors.New("entries of existing files never stored: " + strings.Join(missing[:min(len(missing), 10)], ", "))
	}
	return nil
}
