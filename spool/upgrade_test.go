package spool

import (
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
