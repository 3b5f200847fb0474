package spool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/logspool/logspool/spool/record"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		field string // "" means valid
	}{
		{"a config with only a directory is valid", Config{Dir: "/x"}, ""},
		{"a missing directory is named", Config{}, "Dir"},
		{"a negative cap is named", Config{Dir: "/x", MaxBytes: -1}, "MaxBytes"},
		{"a negative sync interval is named", Config{Dir: "/x", SyncInterval: -time.Second}, "SyncInterval"},
		{"a negative gc interval is named", Config{Dir: "/x", GCInterval: -time.Second}, "GCInterval"},
		{"a negative dead-letter cap is named", Config{Dir: "/x", MaxDeadLetterBytes: -1}, "MaxDeadLetterBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.field != "" && (err == nil || !strings.Contains(err.Error(), tt.field)):
				t.Fatalf("Validate = %v, want an error naming %s", err, tt.field)
			}
		})
	}
}

func TestAppendLeaseDone(t *testing.T) {
	tests := []struct {
		name     string
		batches  []int // records per Append
		docSize  int
		maxBytes int
		leases   [][2]uint64 // expected [first, count) per lease
	}{
		{"a small batch comes back whole", []int{10}, 170, 5 << 20, [][2]uint64{{0, 10}}},
		{"several batches are leased together up to the byte limit", []int{10, 10, 10}, 170, 2 * 10 * (170 + 24), [][2]uint64{{0, 20}, {20, 10}}},
		{"a lease takes at least one segment even when it is bigger than the limit", []int{10}, 170, 1, [][2]uint64{{0, 10}}},
		{"a batch too big for one inline transaction comes back whole", []int{3000}, 1000, 64 << 20, [][2]uint64{{0, 3000}}},
		{"a batch of several inline segments comes back whole", []int{3000}, 300, 64 << 20, [][2]uint64{{0, 3000}}},
		{"a single huge document comes back whole", []int{1}, 2 << 20, 64 << 20, [][2]uint64{{0, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openSpool(t, Config{})
			var n uint64
			for _, b := range tt.batches {
				mustAppend(t, s, makeRecords(n, b, tt.docSize))
				n += uint64(b)
			}
			if st := s.Stats(); st.QueuedRecords != int64(n) {
				t.Fatalf("QueuedRecords = %d, want %d", st.QueuedRecords, n)
			}
			for _, want := range tt.leases {
				l := mustLease(t, s, tt.maxBytes)
				checkRecords(t, l.Records, tt.docSize, seqNums(want[0], int(want[1])))
				var sum int
				for _, r := range l.Records {
					sum += r.Size()
				}
				if l.Bytes() != sum {
					t.Fatalf("Bytes() = %d, want %d", l.Bytes(), sum)
				}
				mustDone(t, l)
			}
			if l, err := s.TryLease(1 << 20); l != nil || err != nil {
				t.Fatalf("TryLease on a drained spool = %v, %v; want nil, nil", l, err)
			}
			if st := s.Stats(); st.QueuedRecords != 0 || st.QueuedBytes != 0 || st.Segments != 0 || st.LeasedRecords != 0 {
				t.Fatalf("stats after draining = %+v, want zero queue", st)
			}
		})
	}
}

func TestCheckpoints(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, Config{Dir: dir})
	mustAppend(t, s, makeRecords(0, 3, 100),
		record.Checkpoint{Key: "f/a", Value: []byte("300")},
		record.Checkpoint{Key: "f/b", Value: []byte("7")},
		record.Checkpoint{Key: "j/x", Value: []byte("cursor")})
	mustAppend(t, s, nil, record.Checkpoint{Key: "f/b", Value: nil})
	mustClose(t, s)

	s = openSpool(t, Config{Dir: dir})
	if v, err := s.Checkpoint("f/a"); err != nil || string(v) != "300" {
		t.Fatalf(`Checkpoint("f/a") = %q, %v; want "300"`, v, err)
	}
	if v, err := s.Checkpoint("f/b"); err != nil || v != nil {
		t.Fatalf(`Checkpoint("f/b") after deleting it = %q, %v; want nil`, v, err)
	}
	got, err := s.Checkpoints("f/")
	if err != nil || len(got) != 1 || string(got["f/a"]) != "300" {
		t.Fatalf(`Checkpoints("f/") = %q, %v; want only f/a`, got, err)
	}
	if got := dumpNums(t, s); !equalNums(got, seqNums(0, 3)) {
		t.Fatalf("queued records = %v, want 0..2", got)
	}
}

func TestReleaseHandsRecordsBackOldestFirst(t *testing.T) {
	s := openSpool(t, Config{})
	for i := 0; i < 4; i++ {
		mustAppend(t, s, makeRecords(uint64(i*10), 10, 100))
	}
	seg := 10 * (100 + 24)
	a := mustLease(t, s, seg)
	b := mustLease(t, s, seg)
	c := mustLease(t, s, seg)
	b.Release()
	a.Release()
	if st := s.Stats(); st.LeasedRecords != 10 {
		t.Fatalf("LeasedRecords = %d, want 10", st.LeasedRecords)
	}
	for _, want := range []uint64{0, 10, 30} {
		l := mustLease(t, s, seg)
		if got := leaseNums(l); !equalNums(got, seqNums(want, 10)) {
			t.Fatalf("lease after release = %v, want %d..%d", got, want, want+9)
		}
		mustDone(t, l)
	}
	mustDone(t, c)
	if err := a.Done(nil); !errors.Is(err, ErrLeaseDone) {
		t.Fatalf("Done on a released lease = %v, want ErrLeaseDone", err)
	}
	if err := c.Done(nil); !errors.Is(err, ErrLeaseDone) {
		t.Fatalf("second Done = %v, want ErrLeaseDone", err)
	}
	c.Release() // a no-op on a finished lease
	if st := s.Stats(); st.QueuedRecords != 0 || st.LeasedRecords != 0 {
		t.Fatalf("stats = %+v, want empty", st)
	}
}

func TestLeasesFinishOutOfOrder(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, Config{Dir: dir})
	for i := 0; i < 5; i++ {
		mustAppend(t, s, makeRecords(uint64(i*10), 10, 100))
	}
	seg := 10 * (100 + 24)
	var ls []*Lease
	for i := 0; i < 5; i++ {
		ls = append(ls, mustLease(t, s, seg))
	}
	for _, i := range []int{3, 0, 4} {
		mustDone(t, ls[i])
	}
	if got, want := dumpNums(t, s), append(seqNums(10, 10), seqNums(20, 10)...); !equalNums(got, want) {
		t.Fatalf("queued after acking 0, 3, 4 = %v, want %v", got, want)
	}
	mustClose(t, s)

	// The outstanding leases 1 and 2 die with the process: redelivered.
	s = openSpool(t, Config{Dir: dir})
	l := mustLease(t, s, 1<<20)
	checkRecords(t, l.Records, 100, seqNums(10, 20))
	mustDone(t, l)
}

func TestUnackedLeasesAreRedeliveredAfterReopen(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, Config{Dir: dir})
	mustAppend(t, s, makeRecords(0, 50, 170))
	l := mustLease(t, s, 1<<20)
	mustClose(t, s)
	if err := l.Done(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Done after Close = %v, want ErrClosed", err)
	}

	s = openSpool(t, Config{Dir: dir})
	if st := s.Stats(); st.QueuedRecords != 50 || st.LeasedRecords != 0 {
		t.Fatalf("stats after reopen = %+v, want 50 queued, none leased", st)
	}
	l = mustLease(t, s, 1<<20)
	checkRecords(t, l.Records, 170, seqNums(0, 50))
}

// fillToCap appends incompressible batches of 64 KiB until the spool's
// directory is at its cap and returns the number of records appended.
func fillToCap(t *testing.T, s *Spool) uint64 {
	t.Helper()
	var n uint64
	for s.Stats().DiskBytes < s.cfg.MaxBytes {
		mustAppend(t, s, makeNoisyRecords(n, 64, 1000))
		n += 64
	}
	return n
}

func TestCapBlocksAppendUntilAcked(t *testing.T) {
	s := openSpool(t, Config{MaxBytes: 2 << 20})
	if s.Full() {
		t.Fatal("an empty spool says it is full")
	}
	n := fillToCap(t, s)
	if !s.Full() {
		t.Fatal("a spool at its cap does not say it is full")
	}

	done := make(chan error, 1)
	go func() { done <- s.Append(context.Background(), makeRecords(n, 5, 100)) }()
	waitUntil(t, 5*time.Second, "the append reports blocked", func() bool { return s.Stats().Blocked })
	select {
	case err := <-done:
		t.Fatalf("Append at the cap returned %v, want it to block", err)
	default:
	}
	for s.Stats().QueuedRecords > 0 {
		mustDone(t, mustLease(t, s, 1<<20))
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("unblocked Append: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Append stayed blocked after the spool was drained")
	}
	if st := s.Stats(); st.Blocked || st.QueuedRecords != 5 {
		t.Fatalf("stats = %+v, want 5 queued and not blocked", st)
	}
}

func TestCapAdmitsABatchBiggerThanTheCap(t *testing.T) {
	s := openSpool(t, Config{MaxBytes: 1 << 20})
	mustAppend(t, s, makeNoisyRecords(0, 2000, 1000)) // 2 MB > cap, admitted below it
	if st := s.Stats(); st.DiskBytes <= st.MaxBytes {
		t.Fatalf("DiskBytes = %d, want over the cap %d", st.DiskBytes, st.MaxBytes)
	}
	for s.Stats().QueuedRecords > 0 {
		mustDone(t, mustLease(t, s, 4<<20))
	}
	mustAppend(t, s, makeRecords(2000, 100, 100))
}

func TestBlockedAppendEnds(t *testing.T) {
	tests := []struct {
		name string
		end  func(s *Spool, cancel context.CancelFunc)
		want error
	}{
		{"a cancelled context ends the wait", func(_ *Spool, cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"closing the spool ends the wait", func(s *Spool, _ context.CancelFunc) { _ = s.Close() }, ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openSpool(t, Config{MaxBytes: 1 << 20})
			n := fillToCap(t, s)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- s.Append(ctx, makeRecords(n, 1, 100)) }()
			waitUntil(t, 5*time.Second, "the append reports blocked", func() bool { return s.Stats().Blocked })
			tt.end(s, cancel)
			select {
			case err := <-done:
				if !errors.Is(err, tt.want) {
					t.Fatalf("Append = %v, want %v", err, tt.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Append stayed blocked")
			}
			if st := s.Stats(); st.Blocked || st.QueuedRecords != int64(n) {
				t.Fatalf("stats = %+v, want %d queued and not blocked", st, n)
			}
		})
	}
}

func TestLeaseWaitsForRecords(t *testing.T) {
	s := openSpool(t, Config{})
	got := make(chan *Lease, 1)
	go func() {
		l, err := s.Lease(context.Background(), 1<<20)
		if err != nil {
			t.Errorf("Lease: %v", err)
		}
		got <- l
	}()
	mustAppend(t, s, makeRecords(0, 3, 50))
	select {
	case l := <-got:
		checkRecords(t, l.Records, 50, seqNums(0, 3))
	case <-time.After(10 * time.Second):
		t.Fatal("Lease did not return after an Append")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.Lease(ctx, 1<<20); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lease on an empty spool = %v, want DeadlineExceeded", err)
	}
}

func TestDeadLetters(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, Config{Dir: dir})
	mustAppend(t, s, makeRecords(0, 10, 100))
	l := mustLease(t, s, 1<<20)
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	mustDone(t, l,
		DeadLetter{Record: l.Records[2], Reason: "mapper_parsing_exception: field [x]", Time: at},
		DeadLetter{Record: l.Records[7], Reason: "illegal_argument_exception", Time: at})
	mustClose(t, s)

	// Done stored the dead letters and deleted the queue in one write.
	s = openSpool(t, Config{Dir: dir})
	if st := s.Stats(); st.QueuedRecords != 0 || st.DeadLetters != 2 || st.DeadLetterBytes != 2*124 {
		t.Fatalf("stats = %+v, want empty queue and 2 dead letters of 248 bytes", st)
	}
	var keys []uint64
	var nums []uint64
	if err := s.DeadLetters(func(key uint64, dl DeadLetter) error {
		keys = append(keys, key)
		nums = append(nums, numOf(dl.Record.ID))
		if !dl.Time.Equal(at) || dl.Reason == "" {
			t.Errorf("dead letter %d: time %v reason %q", key, dl.Time, dl.Reason)
		}
		checkRecords(t, []record.Record{dl.Record}, 100, []uint64{numOf(dl.Record.ID)})
		return nil
	}); err != nil {
		t.Fatalf("DeadLetters: %v", err)
	}
	if !equalNums(nums, []uint64{2, 7}) || keys[0] >= keys[1] {
		t.Fatalf("dead letters = %v (keys %v), want records 2 and 7 in key order", nums, keys)
	}
}

func TestRetryAndDropDeadLetters(t *testing.T) {
	tests := []struct {
		name      string
		retry     bool
		pick      func(keys []uint64) []uint64
		moved     int
		queued    []uint64 // record numbers back in the queue
		remaining []uint64 // record numbers still dead
	}{
		{"retrying all moves every dead letter back", true, func([]uint64) []uint64 { return nil }, 4, []uint64{1, 3, 5, 7}, nil},
		{"retrying some moves only those", true, func(k []uint64) []uint64 { return []uint64{k[1], k[3]} }, 2, []uint64{3, 7}, []uint64{1, 5}},
		{"dropping all empties the dead-letter area", false, func([]uint64) []uint64 { return nil }, 4, nil, nil},
		{"dropping some keeps the others", false, func(k []uint64) []uint64 { return []uint64{k[0]} }, 1, nil, []uint64{3, 5, 7}},
		{"unknown keys move nothing", true, func([]uint64) []uint64 { return []uint64{999} }, 0, nil, []uint64{1, 3, 5, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openSpool(t, Config{Dir: dir})
			mustAppend(t, s, makeRecords(0, 8, 100))
			l := mustLease(t, s, 1<<20)
			mustDone(t, l, DeadLetter{Record: l.Records[1], Reason: "a"}, DeadLetter{Record: l.Records[3], Reason: "b"})
			mustAppend(t, s, makeRecords(100, 8, 100))
			l = mustLease(t, s, 1<<20)
			recs := l.Records
			mustDone(t, l, DeadLetter{Record: recs[5], Reason: "c"}, DeadLetter{Record: recs[7], Reason: "d"})
			var keys []uint64
			_ = s.DeadLetters(func(k uint64, _ DeadLetter) error { keys = append(keys, k); return nil })

			var n int
			var err error
			if tt.retry {
				n, err = s.RetryDeadLetters(tt.pick(keys))
			} else {
				n, err = s.DropDeadLetters(tt.pick(keys))
			}
			if err != nil || n != tt.moved {
				t.Fatalf("moved %d, %v; want %d", n, err, tt.moved)
			}
			mustClose(t, s)
			s = openSpool(t, Config{Dir: dir})
			var got []uint64
			for _, v := range dumpNums(t, s) {
				got = append(got, v%100)
			}
			if !equalNums(got, tt.queued) {
				t.Fatalf("queued = %v, want %v", got, tt.queued)
			}
			var dead []uint64
			_ = s.DeadLetters(func(_ uint64, dl DeadLetter) error { dead = append(dead, numOf(dl.Record.ID)%100); return nil })
			if !equalNums(dead, tt.remaining) {
				t.Fatalf("dead letters = %v, want %v", dead, tt.remaining)
			}
			if st := s.Stats(); st.DeadLetters != int64(len(tt.remaining)) || st.QueuedRecords != int64(len(tt.queued)) {
				t.Fatalf("stats = %+v", st)
			}
		})
	}
}

func TestManyDeadLettersInOneDone(t *testing.T) {
	s := openSpool(t, Config{})
	mustAppend(t, s, makeRecords(0, 6000, 1000)) // ~6 MiB, more than one inline transaction
	l := mustLease(t, s, 64<<20)
	dead := make([]DeadLetter, len(l.Records))
	for i, r := range l.Records {
		dead[i] = DeadLetter{Record: r, Reason: "rejected"}
	}
	mustDone(t, l, dead...)
	var n uint64
	if err := s.DeadLetters(func(_ uint64, dl DeadLetter) error {
		checkRecords(t, []record.Record{dl.Record}, 1000, []uint64{n})
		n++
		return nil
	}); err != nil || n != 6000 {
		t.Fatalf("DeadLetters saw %d, %v; want 6000", n, err)
	}
	if moved, err := s.RetryDeadLetters(nil); err != nil || moved != 6000 {
		t.Fatalf("RetryDeadLetters = %d, %v; want 6000", moved, err)
	}
	l = mustLease(t, s, 64<<20)
	checkRecords(t, l.Records, 1000, seqNums(0, 6000))
}

func TestCorruptSegmentIsDeadLettered(t *testing.T) {
	s := openSpool(t, Config{})
	mustAppend(t, s, makeRecords(0, 5, 100))
	mustAppend(t, s, makeRecords(5, 5, 100))
	// Flip a byte of the first segment's entry behind the spool's back.
	m := s.pending[s.pendingHead]
	f, err := os.OpenFile(s.segLog.pathOf(m.r.fid), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	off := m.r.off + m.r.len/2
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	l := mustLease(t, s, 1<<20)
	checkRecords(t, l.Records, 100, seqNums(5, 5))
	mustDone(t, l)
	var reasons []string
	_ = s.DeadLetters(func(_ uint64, dl DeadLetter) error { reasons = append(reasons, dl.Reason); return nil })
	if len(reasons) != 1 || !strings.Contains(reasons[0], "checksum mismatch") {
		t.Fatalf("dead letters = %q, want one checksum mismatch", reasons)
	}
	if st := s.Stats(); st.QueuedRecords != 0 || st.LeasedRecords != 0 {
		t.Fatalf("stats = %+v, want empty queue", st)
	}
}

func TestReadOnly(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, Config{Dir: dir})
	mustAppend(t, s, makeRecords(0, 20, 100), record.Checkpoint{Key: "f/a", Value: []byte("1")})
	l := mustLease(t, s, 1<<20)
	mustDone(t, l, DeadLetter{Record: l.Records[0], Reason: "x"})
	mustAppend(t, s, makeRecords(20, 5, 100))
	mustClose(t, s)

	ro := openSpool(t, Config{Dir: dir, ReadOnly: true})
	if st := ro.Stats(); st.QueuedRecords != 5 || st.DeadLetters != 1 {
		t.Fatalf("read-only stats = %+v", st)
	}
	if got := dumpNums(t, ro); !equalNums(got, seqNums(20, 5)) {
		t.Fatalf("read-only dump = %v", got)
	}
	if v, err := ro.Checkpoint("f/a"); err != nil || string(v) != "1" {
		t.Fatalf("read-only checkpoint = %q, %v", v, err)
	}
	if err := ro.Append(context.Background(), makeRecords(99, 1, 10)); err == nil {
		t.Fatal("Append on a read-only spool succeeded")
	}
	if _, err := ro.DropDeadLetters(nil); err == nil {
		t.Fatal("DropDeadLetters on a read-only spool succeeded")
	}
	mustClose(t, ro)

	if _, err := Open(Config{Dir: dir + "/missing", ReadOnly: true, Logger: quietLogger()}); err == nil {
		t.Fatal("read-only Open of a missing directory succeeded")
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	s := openSpool(t, Config{Metrics: m, MaxBytes: 1 << 20})
	mustAppend(t, s, makeRecords(0, 10, 100))
	l := mustLease(t, s, 1<<20)
	tests := []struct {
		name   string
		metric prometheus.Collector
		want   float64
	}{
		{"appended records are counted", m.appendedRecords, 10},
		{"appended bytes are counted", m.appendedBytes, 10 * 124},
		{"queued bytes are a gauge", m.bytes, 10 * 124},
		{"queued records are a gauge", m.records, 10},
		{"leased records are a gauge", m.leasedRecords, 10},
		{"the cap is a gauge", m.maxBytes, 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := toFloat64(t, tt.metric); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	mustDone(t, l, DeadLetter{Record: l.Records[0], Reason: "x"})
	if got := toFloat64(t, m.ackedRecords); got != 10 {
		t.Fatalf("acked = %v, want 10", got)
	}
	if got := toFloat64(t, m.deadLetteredRecord); got != 1 {
		t.Fatalf("dead-lettered = %v, want 1", got)
	}
	if got := toFloat64(t, m.deadLetters); got != 1 {
		t.Fatalf("dead letters = %v, want 1", got)
	}
	if mfs, err := reg.Gather(); err != nil || len(mfs) != 16 {
		t.Fatalf("gathered %d metrics, %v; want 16", len(mfs), err)
	}
	var nilMetrics *Metrics
	nilMetrics.appended(1, 1) // a nil *Metrics is a no-op
}

func TestConcurrentAppendAndLease(t *testing.T) {
	s := openSpool(t, Config{MaxBytes: 256 << 10})
	const writers, batches, per = 4, 50, 40
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; b < batches; b++ {
				first := uint64(w*batches*per + b*per)
				if err := s.Append(context.Background(), makeRecords(first, per, 200)); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
			}
		}()
	}
	seen := make(map[uint64]bool)
	for len(seen) < writers*batches*per {
		l := mustLease(t, s, 64<<10)
		for _, n := range leaseNums(l) {
			if seen[n] {
				t.Fatalf("record %d delivered twice", n)
			}
			seen[n] = true
		}
		mustDone(t, l)
	}
	wg.Wait()
}

// toFloat64 reads the value of a gauge or counter.
func toFloat64(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatal(err)
	}
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	}
	t.Fatal("not a gauge or counter")
	return 0
}

// levelRecorder is a slog.Handler that keeps the levels of its records.
type levelRecorder struct{ levels *[]slog.Level }

func (h levelRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h levelRecorder) Handle(_ context.Context, r slog.Record) error {
	*h.levels = append(*h.levels, r.Level)
	return nil
}
func (h levelRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h levelRecorder) WithGroup(string) slog.Handler      { return h }

func TestBadgerLoggerLevels(t *testing.T) {
	tests := []struct {
		name string
		log  func(b badgerLogger)
		want slog.Level
	}{
		{"badger errors are errors", func(b badgerLogger) { b.Errorf("x %d", 1) }, slog.LevelError},
		{"badger warnings are warnings", func(b badgerLogger) { b.Warningf("x") }, slog.LevelWarn},
		{"badger info chatter is debug", func(b badgerLogger) { b.Infof("compaction") }, slog.LevelDebug},
		{"badger debug is below debug", func(b badgerLogger) { b.Debugf("x") }, slog.LevelDebug - 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var levels []slog.Level
			tt.log(badgerLogger{slog.New(levelRecorder{&levels})})
			if len(levels) != 1 || levels[0] != tt.want {
				t.Fatalf("levels = %v, want [%v]", levels, tt.want)
			}
		})
	}
}

func TestDeadLetterCapDropsTheOldest(t *testing.T) {
	recSize := int64(100 + 24)
	s := openSpool(t, Config{MaxDeadLetterBytes: 25 * recSize})
	for i := 0; i < 5; i++ { // five Dones of 10 dead letters each
		mustAppend(t, s, makeRecords(uint64(i*10), 10, 100))
		l := mustLease(t, s, 1<<20)
		dead := make([]DeadLetter, len(l.Records))
		for j, r := range l.Records {
			dead[j] = DeadLetter{Record: r, Reason: "rejected"}
		}
		mustDone(t, l, dead...)
	}
	waitUntil(t, 10*time.Second, "the dead-letter area is under its cap", func() bool {
		st := s.Stats()
		return st.DeadLetterBytes <= 25*recSize
	})
	st := s.Stats()
	if st.DeadLetters != 20 || st.DeadLettersDropped != 30 {
		t.Fatalf("stats = %+v, want 20 dead letters kept and 30 dropped", st)
	}
	var nums []uint64
	_ = s.DeadLetters(func(_ uint64, dl DeadLetter) error { nums = append(nums, numOf(dl.Record.ID)); return nil })
	if !equalNums(nums, seqNums(30, 20)) {
		t.Fatalf("kept dead letters %v, want the newest 30..49", nums)
	}
}

// TestRecordsWithMetaThroughLeasesDeadLettersAndRetries: records whose
// documents are split into an own part and a shared Meta come back from a
// lease with their Meta (one per source version), a dead-lettered one is
// kept with its whole document, and a retried dead letter is queued again
// with the same document.
func TestRecordsWithMetaThroughLeasesDeadLettersAndRetries(t *testing.T) {
	s := openSpool(t, Config{Dir: t.TempDir()})
	defer s.Close()
	recs, whole := metaRecords(90)
	mustAppend(t, s, recs[:45])
	mustAppend(t, s, recs[45:])
	want := map[uint64]string{}
	for i, r := range recs {
		want[numOf(r.ID)] = whole[i]
	}
	l := mustLease(t, s, 1<<20)
	if len(l.Records) != 90 {
		t.Fatalf("leased %d", len(l.Records))
	}
	var dead []DeadLetter
	metas := map[string]bool{}
	for i, r := range l.Records {
		if string(r.Document()) != whole[i] || (r.Meta == nil) != (recs[i].Meta == nil) {
			t.Fatalf("record %d: %s (Meta %v), want %s", i, r.Document(), r.Meta, whole[i])
		}
		if r.Meta != nil {
			metas[string(r.Meta.Doc)] = true
		}
		if i%10 == 0 {
			dead = append(dead, DeadLetter{Record: r, Reason: "refused", Time: time.Unix(1, 0)})
		}
	}
	if len(metas) != 3 {
		t.Errorf("%d distinct Metas, want 3", len(metas))
	}
	mustDone(t, l, dead...)
	var keys []uint64
	if err := s.DeadLetters(func(key uint64, dl DeadLetter) error {
		if dl.Record.Meta != nil || string(dl.Record.Doc) != want[numOf(dl.Record.ID)] {
			return fmt.Errorf("dead letter %d: %s, want the whole document %s", key, dl.Record.Doc, want[numOf(dl.Record.ID)])
		}
		keys = append(keys, key)
		return nil
	}); err != nil || len(keys) != 9 {
		t.Fatalf("dead letters: %d, %v", len(keys), err)
	}
	if n, err := s.RetryDeadLetters(nil); err != nil || n != 9 {
		t.Fatalf("RetryDeadLetters = %d, %v", n, err)
	}
	l = mustLease(t, s, 1<<20)
	if len(l.Records) != 9 {
		t.Fatalf("leased %d retried records, want 9", len(l.Records))
	}
	for _, r := range l.Records {
		if string(r.Document()) != want[numOf(r.ID)] {
			t.Fatalf("retried record %d: %s, want %s", numOf(r.ID), r.Document(), want[numOf(r.ID)])
		}
	}
	mustDone(t, l)
}

// TestALeasesMemoryIsReusedOnlyAfterItsDone: a lease's documents stay as
// they were while other leases are taken and finished; the memory of a
// finished lease goes to the next ones.
func TestALeasesMemoryIsReusedOnlyAfterItsDone(t *testing.T) {
	s := openSpool(t, Config{Dir: t.TempDir()})
	defer s.Close()
	recs, whole := metaRecords(3000)
	for i := 0; i < len(recs); i += 100 {
		mustAppend(t, s, recs[i:i+100])
	}
	held := mustLease(t, s, 64<<10)
	n := len(held.Records)
	for {
		l, err := s.TryLease(64 << 10)
		if err != nil {
			t.Fatal(err)
		}
		if l == nil {
			break
		}
		for _, r := range l.Records {
			if string(r.Document()) != whole[numOf(r.ID)] {
				t.Fatalf("record %d: %s", numOf(r.ID), r.Document())
			}
		}
		mustDone(t, l)
	}
	for i, r := range held.Records {
		if string(r.Document()) != whole[i] {
			t.Fatalf("held record %d changed while other leases came and went: %s", i, r.Document())
		}
	}
	if n == 0 || held.Records[n-1].ID != recs[n-1].ID {
		t.Fatalf("held %d records", n)
	}
	mustDone(t, held)
}

// TestAFailedDoneReleasesTheLease: the lease contract (doc.go, "The ack
// story", 5): a Done whose write fails ends the lease as Release does, so its
// records are leased again in this process instead of staying held until a
// restart; a second Done or a Release after it changes nothing.
func TestAFailedDoneReleasesTheLease(t *testing.T) {
	s := openSpool(t, Config{})
	mustAppend(t, s, makeRecords(0, 10, 100))
	l := mustLease(t, s, 1<<20)
	dead := []DeadLetter{{Record: l.Records[3], Reason: "refused", Time: time.Now()}}
	defer func(f func(*os.File) error) { syncFile = f }(syncFile)
	syncFile = func(*os.File) error { return syscall.EIO }
	err := l.Done(dead)
	syncFile = (*os.File).Sync
	if err == nil {
		t.Fatal("Done with a failing dead-letter sync succeeded")
	}
	if st := s.Stats(); st.LeasedRecords != 0 || st.QueuedRecords != 10 || st.DeadLetters != 0 {
		t.Fatalf("stats after the failed Done = %+v, want 10 queued, none leased or dead", st)
	}
	again, err := s.TryLease(1 << 20)
	if err != nil || again == nil {
		t.Fatalf("TryLease after the failed Done = %v, %v: the records are still held", again, err)
	}
	if got := leaseNums(again); !equalNums(got, seqNums(0, 10)) {
		t.Fatalf("leased again %v, want records 0..9", got)
	}
	if err := l.Done(nil); !errors.Is(err, ErrLeaseDone) {
		t.Fatalf("Done after a failed Done = %v, want ErrLeaseDone", err)
	}
	l.Release() // a no-op: the lease is over
	mustDone(t, again, DeadLetter{Record: again.Records[3], Reason: "refused", Time: time.Now()})
	if st := s.Stats(); st.QueuedRecords != 0 || st.LeasedRecords != 0 || st.DeadLetters != 1 {
		t.Fatalf("stats = %+v, want empty with one dead letter", st)
	}
}
