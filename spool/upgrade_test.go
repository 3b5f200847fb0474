package spool

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// TestVersion1SpoolIsUpgraded opens a spool written by the version 1 layout
// (testdata/v1spool: 20 records in Badger's value log, one dead letter, a
// checkpoint), reads it, appends to it, and reopens it.
func TestVersion1SpoolIsUpgraded(t *testing.T) {
	dir := copyDir(t, "testdata/v1spool")
	s := openSpool(t, Config{Dir: dir})
	if v, err := s.Checkpoint("f/a"); err != nil || string(v) != "30" {
		t.Fatalf("checkpoint = %q, %v; want 30", v, err)
	}
	if got := dumpNums(t, s); !equalNums(got, seqNums(10, 20)) {
		t.Fatalf("queued %v, want records 10..29", got)
	}
	var dead []uint64
	if err := s.DeadLetters(func(_ uint64, dl DeadLetter) error {
		dead = append(dead, numOf(dl.Record.ID))
		return nil
	}); err != nil || !equalNums(dead, []uint64{0}) {
		t.Fatalf("dead letters %v, %v; want record 0", dead, err)
	}
	mustAppend(t, s, makeRecords(30, 5, 100))
	mustClose(t, s)

	s = openSpool(t, Config{Dir: dir})
	l := mustLease(t, s, 1<<20)
	if got := leaseNums(l); len(got) != 25 || got[0] != 10 || got[24] != 34 {
		t.Fatalf("leased %v, want 10..34", got)
	}
	mustDone(t, l)
	mustClose(t, s)
	ro, err := Open(Config{Dir: dir, ReadOnly: true, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("read-only open after the upgrade: %v", err)
	}
	mustClose(t, ro)
}

// TestVersion2SpoolIsUpgraded opens a spool written by the version 2 layout
// (testdata/v2spool, written by logspool at 261c98d, before records carried
// a shared Meta: records 0..29 appended in two segments with checkpoint f/a
// at 30, the first segment acked with record 0 dead-lettered), reads its
// version 2 segments, appends records with Metas (version 4 segments)
// beside them, and reopens it: the identity file and the index now say
// layout version 3, which an older build refuses instead of taking the new
// segments for damage.
func TestVersion2SpoolIsUpgraded(t *testing.T) {
	dir := copyDir(t, "testdata/v2spool")
	s := openSpool(t, Config{Dir: dir})
	if v, err := s.Checkpoint("f/a"); err != nil || string(v) != "30" {
		t.Fatalf("checkpoint = %q, %v; want 30", v, err)
	}
	if got := dumpNums(t, s); !equalNums(got, seqNums(15, 15)) {
		t.Fatalf("queued %v, want records 15..29", got)
	}
	var dead []uint64
	if err := s.DeadLetters(func(_ uint64, dl DeadLetter) error {
		dead = append(dead, numOf(dl.Record.ID))
		return nil
	}); err != nil || !equalNums(dead, []uint64{0}) {
		t.Fatalf("dead letters %v, %v; want record 0", dead, err)
	}
	recs, whole := metaRecords(60)
	for i := range recs {
		recs[i].ID = idOf(100 + uint64(i))
	}
	mustAppend(t, s, recs)
	mustClose(t, s)

	s = openSpool(t, Config{Dir: dir})
	l := mustLease(t, s, 1<<20)
	if len(l.Records) != 75 {
		t.Fatalf("leased %d records, want 75", len(l.Records))
	}
	checkRecords(t, l.Records[:15], 100, seqNums(15, 15))
	for i, r := range l.Records[15:] {
		if r.ID != idOf(100+uint64(i)) || string(r.Document()) != whole[i] {
			t.Fatalf("record %d: %s, want %s", i, r.Document(), whole[i])
		}
	}
	mustDone(t, l)
	mustClose(t, s)
	id, err := readIdent(dir)
	if err != nil || id == nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, identName))
	if err != nil || binary.LittleEndian.Uint16(b[8:]) != 3 {
		t.Fatalf("the identity file says layout version %d (%v), want 3", binary.LittleEndian.Uint16(b[8:]), err)
	}
}
