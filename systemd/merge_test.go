package systemd

import (
	"fmt"
	"testing"
	"time"

	"github.com/logspool/logspool/systemd/journalfile"
)

// fakeFile builds a fake journal of one writer with the given seqnums.
func fakeFile(path string, sid byte, state uint8, seqnums ...uint64) *fakeJournal {
	f := &fakeJournal{path: path, hdr: journalfile.Header{State: state}}
	f.hdr.SeqnumID[0] = sid
	for _, s := range seqnums {
		e := journalfile.Entry{EntryMeta: journalfile.EntryMeta{Seqnum: s, SeqnumID: f.hdr.SeqnumID, Realtime: 1000 + s, Monotonic: s}}
		e.BootID[0] = sid
		f.entries = append(f.entries, e)
	}
	if len(seqnums) > 0 {
		f.hdr.HeadEntrySeqnum, f.hdr.TailEntrySeqnum = seqnums[0], seqnums[len(seqnums)-1]
	}
	f.visible = len(f.entries)
	return f
}

func mergeAll(m *merger) []uint64 {
	var out []uint64
	for {
		_, _, meta, ok := m.next()
		if !ok {
			return out
		}
		out = append(out, meta.Seqnum)
	}
}

func sourceOf(j journal) *source {
	s := &source{j: j, path: j.Path()}
	s.sync()
	return s
}

func TestMergerKeepsAWritersOrderWhileATailEntryIsHalfWritten(t *testing.T) {
	// A crashed writer's file (ONLINE, disposed as .journal~) whose last
	// entries are not readable yet, and the writer's next file.
	old := fakeFile("old.journal~", 1, journalfile.StateOnline, 1, 2, 3, 4)
	old.bad = map[int]error{2: &journalfile.CorruptionError{Reason: "half written"}}
	next := fakeFile("system.journal", 1, journalfile.StateOnline, 5, 6)
	m := newMerger(nil)
	m.follow = true
	so, sn := sourceOf(old), sourceOf(next)
	m.add(so)
	m.add(sn)
	if got := mergeAll(m); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("before the entry is complete: %v, want [1 2] and then a wait", got)
	}
	old.bad = nil // the entry became readable
	so.refresh()
	so.refreshStalls(time.Time{})
	sn.refresh()
	sn.refreshStalls(time.Time{})
	if got := mergeAll(m); len(got) != 4 || got[0] != 3 || got[3] != 6 {
		t.Fatalf("after: %v, want [3 4 5 6]", got)
	}
}

func TestMergerSkipsAnEntryThatStaysUnreadable(t *testing.T) {
	old := fakeFile("old.journal~", 1, journalfile.StateOnline, 1, 2, 3)
	old.bad = map[int]error{2: &journalfile.CorruptionError{Reason: "torn"}}
	next := fakeFile("system.journal", 1, journalfile.StateOnline, 4)
	skipped := 0
	m := newMerger(func(*source, int, error) { skipped++ })
	m.follow = true
	so, sn := sourceOf(old), sourceOf(next)
	m.add(so)
	m.add(sn)
	var got []uint64
	for round := 0; round <= maxStalls+1; round++ {
		got = append(got, mergeAll(m)...)
		so.refresh()
		so.refreshStalls(time.Time{})
		sn.refresh()
		sn.refreshStalls(time.Time{})
	}
	if len(got) != 3 || got[2] != 4 || skipped != 1 {
		t.Fatalf("got %v with %d skipped, want [1 2 4] with 1 skipped", got, skipped)
	}
}

func TestMergerReaderModeSkipsUnreadableEntriesAtOnce(t *testing.T) {
	f := fakeFile("a.journal", 1, journalfile.StateOnline, 1, 2, 3)
	f.bad = map[int]error{2: &journalfile.CorruptionError{Reason: "torn"}}
	m := newMerger(nil)
	m.add(sourceOf(f))
	if got := mergeAll(m); len(got) != 2 {
		t.Fatalf("got %v, want [1 2]", got)
	}
}

func TestMergerDropsImplausibleSeqnums(t *testing.T) {
	f := fakeFile("a.journal", 1, journalfile.StateArchived, 1, 2, 3)
	f.entries[1].Seqnum = 1 << 60 // a damaged entry header
	skipped := 0
	m := newMerger(func(*source, int, error) { skipped++ })
	m.add(sourceOf(f))
	if got := mergeAll(m); len(got) != 2 || got[1] != 3 || skipped != 1 {
		t.Fatalf("got %v with %d skipped, want [1 3] and 1 skipped", got, skipped)
	}
}

func TestStartIndexIsNotMisledByADamagedSeqnum(t *testing.T) {
	var seqnums []uint64
	for s := uint64(1); s <= 100; s++ {
		seqnums = append(seqnums, s)
	}
	tests := []struct {
		name    string
		damage  map[int]uint64 // entry index -> seqnum it claims
		mark    uint64
		wantIdx int
	}{
		{"an intact file starts after the mark", nil, 30, 30},
		{"a zero seqnum after the mark is stepped over", map[int]uint64{49: 0}, 30, 30},
		{"a huge seqnum before the mark is stepped over", map[int]uint64{24: 1 << 60}, 30, 30},
		{"a file wholly shipped starts at its end", nil, 100, 100},
		{"a mark below the file starts at its beginning", nil, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fakeFile("a.journal", 1, journalfile.StateArchived, seqnums...)
			for i, s := range tt.damage {
				f.entries[i].Seqnum = s
			}
			p := newPosition()
			p.seqnums[f.hdr.SeqnumID] = seqMark{Seqnum: tt.mark}
			if got := p.startIndex(f, len(f.entries)); got != tt.wantIdx {
				t.Fatalf("startIndex = %d, want %d", got, tt.wantIdx)
			}
		})
	}
}

// TestInputDoesNotSkipAnEntryOfAWriterSharingOneSeqnumAcrossFiles is issue
// 8, defect 6: since systemd 254 journald numbers the entries of every file
// it writes (system.journal, user-UID.journal) in one sequence under one
// seqnum_id. The files are refreshed one after another; journald writes to
// both while that happens, so a file refreshed later can show a higher
// seqnum than one still invisible in a file refreshed earlier. That entry
// must still be shipped, and in order.
func TestInputDoesNotSkipAnEntryOfAWriterSharingOneSeqnumAcrossFiles(t *testing.T) {
	d := newFakeDir(t)
	sys := d.create("system.journal", 7, journalfile.StateOnline)
	user := d.create("user-1000.journal", 7, journalfile.StateOnline)
	d.append(sys, 1, 2)
	d.append(user, 3)
	sink := newMemSink()
	in, stop := d.runInput(t, testConfig(d.dir), sink)
	waitUntil(t, 5*time.Second, func() bool { return sink.count() == 3 })

	// system.journal gets 4; then, between the refresh of system.journal and
	// that of user-1000.journal, journald writes 5 to system.journal and 6
	// to user-1000.journal.
	d.mu.Lock()
	user.beforeRefresh = func() {
		d.append(sys, 5)
		d.append(user, 6)
	}
	d.mu.Unlock()
	d.append(sys, 4)
	waitUntil(t, 5*time.Second, func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return user.beforeRefresh == nil
	})
	polls := in.polls.Load()
	waitUntil(t, 5*time.Second, func() bool { return in.polls.Load() > polls+3 })
	stop()
	got := seqnumsOf(t, sink.records())
	want := []uint64{1, 2, 3, 4, 5, 6}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("shipped seqnums %v, want %v", got, want)
	}
}
