package spool

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestAppendStopsShortOfAFullDisk(t *testing.T) {
	var free atomic.Int64
	free.Store(1 << 30)
	m := NewMetrics(nil)
	cfg := Config{Dir: t.TempDir(), MinFreeBytes: 64 << 20, Metrics: m,
		freeBytes: func(string) (int64, error) { return free.Load(), nil }}
	s := openSpool(t, cfg)
	recs := makeRecords(0, 10, 170)
	mustAppend(t, s, recs)

	free.Store(10 << 20)
	s.freeMu.Lock()
	s.freeAt = time.Time{} // expire the cached reading
	s.freeMu.Unlock()
	err := s.Append(context.Background(), makeRecords(10, 10, 170))
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Append with 10 MiB free = %v, want ErrDiskFull", err)
	}
	if st := s.Stats(); st.QueuedRecords != 10 {
		t.Fatalf("%d records queued after a refused append, want 10", st.QueuedRecords)
	}
	if v := toFloat64(t, m.diskFull); v != 1 {
		t.Fatalf("logspool_spool_disk_full = %v while appends are refused, want 1", v)
	}
	// Acknowledgements still work on a full disk: they are what frees it.
	mustDone(t, mustLease(t, s, 1<<20))

	free.Store(1 << 30)
	waitUntil(t, 5*time.Second, "appends to work again once space frees", func() bool {
		return s.Append(context.Background(), makeRecords(10, 10, 170)) == nil
	})
	if st := s.Stats(); st.QueuedRecords != 10 {
		t.Fatalf("%d records queued, want 10", st.QueuedRecords)
	}
	if v := toFloat64(t, m.diskFull); v != 0 {
		t.Fatalf("logspool_spool_disk_full = %v after space freed, want 0", v)
	}
}

func TestDiskCheckCanBeTurnedOff(t *testing.T) {
	s := openSpool(t, Config{Dir: t.TempDir(), MinFreeBytes: -1,
		freeBytes: func(string) (int64, error) { return 0, nil }})
	mustAppend(t, s, makeRecords(0, 5, 100))
}

func TestDiskFreeReadsTheFileSystem(t *testing.T) {
	n, err := diskFree(t.TempDir())
	if err != nil || n <= 0 {
		t.Fatalf("diskFree = %d, %v; want a positive size", n, err)
	}
}
