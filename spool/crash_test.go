package spool

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logspool/logspool/spool/record"
)

// The crash-state simulation. A power loss keeps, of every file, what was
// synced plus any subset of the pages written since (the kernel writes dirty
// pages back in any order, and a file created since the last sync may be
// missing altogether). The test runs the spool in this process, drives every
// sync itself, and snapshots the directory after every barrier (all files
// synced) and after every operation (what the page cache holds). From each
// pair it builds crash states, opens them and checks the spool's promise.
//
// Badger syncs its tables and MANIFEST itself before it relies on them, so
// those files are taken as they are at the cut; the logs written through
// memory maps (*.mem, *.vlog) and the data files (*.seg, *.dlq) are the ones
// whose unsynced pages may or may not have reached the disk.

const pageSize = 4096

// fileSnap is a file's content, trailing zeros cut (size keeps the length).
type fileSnap struct {
	data []byte
	size int64
}

type dirSnap map[string]fileSnap

func readSnap(t testing.TB, dir string) dirSnap {
	t.Helper()
	for attempt := 0; ; attempt++ {
		before, _ := os.ReadFile(filepath.Join(dir, "MANIFEST"))
		snap := make(dirSnap)
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || d.Name() == "LOCK" {
				return nil
			}
			rel, _ := filepath.Rel(dir, p)
			f, err := readSparse(p)
			if err != nil {
				if os.IsNotExist(err) {
					return nil // deleted meanwhile (a flushed memtable log)
				}
				return err
			}
			snap[rel] = f
			return nil
		})
		if err != nil {
			t.Fatalf("snapshot of %s: %v", dir, err)
		}
		after, _ := os.ReadFile(filepath.Join(dir, "MANIFEST"))
		if bytes.Equal(before, after) || attempt > 20 {
			return snap
		}
	}
}

// readSparse reads a file's data extents (Badger's logs are big sparse
// files) up to the end of its last one.
func readSparse(p string) (fileSnap, error) {
	f, err := os.Open(p)
	if err != nil {
		return fileSnap{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fileSnap{}, err
	}
	size := fi.Size()
	var data []byte
	for off := int64(0); off < size; {
		start, err := f.Seek(off, 3) // SEEK_DATA
		if err != nil {
			break // no more data
		}
		end, err := f.Seek(start, 4) // SEEK_HOLE
		if err != nil {
			end = size
		}
		if int64(len(data)) < end {
			data = append(data, make([]byte, end-int64(len(data)))...)
		}
		if _, err := f.ReadAt(data[start:end], start); err != nil {
			return fileSnap{}, err
		}
		off = end
	}
	return fileSnap{data: bytes.TrimRight(data, "\x00"), size: size}, nil
}

// volatile reports whether a file's unsynced writes may be lost: the logs
// written through memory maps and the data files.
func volatile(rel string) bool {
	switch filepath.Ext(rel) {
	case ".mem", ".vlog", ".seg", ".dlq":
		return true
	}
	return false
}

// page returns page i of f (zeros past its data).
func (f fileSnap) page(i int64) []byte {
	out := make([]byte, pageSize)
	lo := i * pageSize
	if lo < int64(len(f.data)) {
		copy(out, f.data[lo:])
	}
	return out
}

// crashState builds one crash state from the synced and current snapshots:
// mode "synced" loses every unsynced write, "written" keeps them all, "torn"
// keeps a random subset of the changed pages of each file, and "logs-first"
// keeps the memtable logs' writes but loses the other files' (the order that
// broke the value-log design).
func crashState(rng *rand.Rand, synced, cur dirSnap, mode string) (map[string]fileSnap, string) {
	out := make(map[string]fileSnap)
	var desc []string
	names := make([]string, 0, len(cur)+len(synced))
	for n := range cur {
		names = append(names, n)
	}
	for n := range synced {
		if _, ok := cur[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		c, inCur := cur[n]
		sy, inSynced := synced[n]
		if !volatile(n) {
			if inCur {
				out[n] = c
			}
			continue
		}
		m := mode
		if m == "logs-first" {
			m = "synced"
			if filepath.Ext(n) == ".mem" {
				m = "written"
			}
		}
		if m == "torn" {
			m = []string{"synced", "written", "pages"}[rng.IntN(3)]
		}
		switch {
		case !inCur: // deleted since the barrier: gone, or back as synced
			if m != "written" && rng.IntN(2) == 0 {
				out[n] = sy
				desc = append(desc, n+"=resurrected")
			}
			continue
		case m == "written":
			out[n] = c
			continue
		case m == "synced" && !inSynced:
			desc = append(desc, n+"=missing")
			continue
		case m == "synced":
			out[n] = sy
			desc = append(desc, fmt.Sprintf("%s=synced(%d of %d)", n, len(sy.data), len(c.data)))
			continue
		}
		// pages: the synced content plus a random subset of changed pages.
		size := c.size
		npages := (int64(len(c.data)) + pageSize - 1) / pageSize
		data := make([]byte, 0, npages*pageSize)
		kept := 0
		for i := int64(0); i < npages; i++ {
			cp, sp := c.page(i), sy.page(i)
			if !inSynced {
				sp = make([]byte, pageSize)
			}
			if !bytes.Equal(cp, sp) && rng.IntN(2) == 0 {
				data = append(data, cp...)
				kept++
			} else {
				data = append(data, sp...)
			}
		}
		out[n] = fileSnap{data: bytes.TrimRight(data, "\x00"), size: size}
		desc = append(desc, fmt.Sprintf("%s=pages(%d kept)", n, kept))
	}
	return out, mode + ": " + strings.Join(desc, " ")
}

func writeState(t testing.TB, dir string, st map[string]fileSnap) {
	t.Helper()
	for n, f := range st {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.data, 0o640); err != nil {
			t.Fatal(err)
		}
		if f.size > int64(len(f.data)) {
			if err := os.Truncate(p, f.size); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// crashModel is what the workload did, per source: records of source k are
// numbered k<<32 | i, and the checkpoint of source k is the next i.
type crashModel struct {
	appended []uint64        // per source: records appended (next i)
	durable  []uint64        // per source: checkpoint at the last barrier
	acked    map[uint64]bool // records whose Done returned (delivered or dead)
	deadSet  map[uint64]bool // records dead-lettered by a Done that returned
}

const crashSources = 3

// crashMetas are the Metas of the crash workload's sources 1 and 2: source 1
// changes version every 25 records (a file whose pod's labels change),
// source 2 splices its Meta into the middle of its documents (a journal).
var crashMetas = func() (m [64]*record.Meta) {
	for v := range m {
		m[v] = &record.Meta{Doc: fmt.Appendf(nil, `,"file":{"path":"/var/log/pods/p/c/0.log"},"labels":{"version":"%d"}}`, v)}
	}
	return m
}()

func crashDoc(n uint64) record.Record {
	r := makeRecords(n, 1, 170)[0]
	switch src, i := n>>32, n&(1<<32-1); {
	case src == 1 && i%4 != 3: // most with the tail as a Meta
		r.Doc = r.Doc[:len(r.Doc)-1]
		r.Meta, r.At = crashMetas[i/25%uint64(len(crashMetas))], len(r.Doc)
		return r
	case src == 2:
		r.Meta, r.At = crashMetas[0], bytes.IndexByte(r.Doc, ',')
		return r
	}
	if n%5 == 0 { // some incompressible records make big segments
		rng := rand.New(rand.NewPCG(n, 7))
		noise := make([]byte, 1500)
		for i := range noise {
			noise[i] = byte('a' + rng.IntN(26))
		}
		r.Doc = fmt.Appendf(nil, `{"n":%d,"message":"%s"}`, n, noise)
	}
	return r
}

func crashCpValue(i uint64) []byte { return binary.BigEndian.AppendUint64(nil, i) }

// crashWorkload drives a spool with appends (one source per append, the
// checkpoint just past its records), leases acked with some dead letters,
// releases and sync rounds, calling cut after every operation.
func crashWorkload(t *testing.T, s *Spool, rng *rand.Rand, ops int, m *crashModel, cut func(op int)) {
	t.Helper()
	var leases []*Lease
	appendOne := func() {
		src := rng.IntN(crashSources)
		n := 1 + rng.IntN(60)
		recs := make([]record.Record, n)
		for j := range recs {
			recs[j] = crashDoc(uint64(src)<<32 | (m.appended[src] + uint64(j)))
		}
		end := m.appended[src] + uint64(n)
		mustAppend(t, s, recs, record.Checkpoint{Key: "src/" + strconv.Itoa(src), Value: crashCpValue(end)})
		m.appended[src] = end
	}
	// Appends also land between a sync round's snapshot and its barrier,
	// as they do when the round runs in the background.
	s.testRoundStart = func() {
		if rng.IntN(2) == 0 {
			appendOne()
		}
	}
	defer func() { s.testRoundStart = nil }()
	for op := 0; op < ops; op++ {
		switch x := rng.IntN(10); {
		case x < 5:
			appendOne()
		case x < 7:
			l, err := s.TryLease(1 + rng.IntN(64<<10))
			if err != nil {
				t.Fatal(err)
			}
			if l != nil {
				leases = append(leases, l)
			}
		case x < 9 && len(leases) > 0:
			i := rng.IntN(len(leases))
			l := leases[i]
			leases = slices.Delete(leases, i, i+1)
			if rng.IntN(5) == 0 {
				l.Release()
				break
			}
			var dead []DeadLetter
			for _, r := range l.Records {
				if numOf(r.ID)%7 == 0 {
					dead = append(dead, DeadLetter{Record: r, Reason: "seven", Time: time.Unix(1, 0)})
				}
			}
			nums := leaseNums(l)
			mustDone(t, l, dead...)
			for _, n := range nums {
				m.acked[n] = true
				if n%7 == 0 {
					m.deadSet[n] = true
				}
			}
		default:
			if err := s.syncRound(); err != nil {
				t.Fatal(err)
			}
		}
		cut(op)
	}
	for _, l := range leases {
		l.Release()
	}
}

// checkCrashState opens a crash state and checks the promise.
func checkCrashState(t *testing.T, dir string, m *crashModel, desc string) {
	t.Helper()
	// The state is what it is: syncing it again proves nothing and is slow.
	defer func(f func(*os.File) error) { syncFile = f }(syncFile)
	syncFile = func(*os.File) error { return nil }
	s, err := Open(Config{Dir: dir, Logger: quietLogger(), SyncInterval: time.Hour, GCInterval: time.Hour})
	if err != nil {
		t.Fatalf("a crash state did not open: %v\nstate %s", err, desc)
	}
	defer s.Close()
	queued := make(map[uint64]bool)
	if err := s.Dump(func(r record.Record) error {
		n := numOf(r.ID)
		want := crashDoc(n)
		if r.ID != want.ID || !bytes.Equal(r.Document(), want.Document()) || (r.Meta == nil) != (want.Meta == nil) {
			return fmt.Errorf("record %x holds another record's document (or lost its Meta): %s", n, r.Document())
		}
		if queued[n] {
			return fmt.Errorf("record %x is queued twice", n)
		}
		queued[n] = true
		return nil
	}); err != nil {
		t.Fatalf("reading the queue after a crash: %v\nstate %s", err, desc)
	}
	dead := make(map[uint64]bool)
	if err := s.DeadLetters(func(_ uint64, dl DeadLetter) error {
		n := numOf(dl.Record.ID)
		if want := crashDoc(n); !bytes.Equal(dl.Record.Document(), want.Document()) {
			return fmt.Errorf("dead letter %x holds another document: %s", n, dl.Record.Document())
		}
		if dead[n] || queued[n] {
			return fmt.Errorf("record %x is dead-lettered twice or also queued", n)
		}
		dead[n] = true
		return nil
	}); err != nil {
		t.Fatalf("reading the dead letters after a crash: %v\nstate %s", err, desc)
	}
	for src := 0; src < crashSources; src++ {
		key := "src/" + strconv.Itoa(src)
		v, err := s.Checkpoint(key)
		if err != nil {
			t.Fatal(err)
		}
		var cp uint64
		if len(v) == 8 {
			cp = binary.BigEndian.Uint64(v)
		}
		if cp < m.durable[src] {
			t.Fatalf("source %d: checkpoint %d is behind %d, which a barrier made durable\nstate %s", src, cp, m.durable[src], desc)
		}
		if cp > m.appended[src] {
			t.Fatalf("source %d: checkpoint %d is past the %d records appended\nstate %s", src, cp, m.appended[src], desc)
		}
		var missing []uint64
		for i := uint64(0); i < cp; i++ {
			n := uint64(src)<<32 | i
			if !queued[n] && !m.acked[n] && !dead[n] {
				missing = append(missing, i)
			}
		}
		if len(missing) > 0 {
			t.Fatalf("source %d: %d records below the checkpoint %d are neither queued nor delivered (first %v): lost\nstate %s",
				src, len(missing), cp, missing[:min(5, len(missing))], desc)
		}
		for n := range queued {
			if n>>32 == uint64(src) && n&(1<<32-1) >= cp {
				t.Fatalf("source %d: record %d is queued at or past the checkpoint %d: re-reading would queue it twice\nstate %s", src, n&(1<<32-1), cp, desc)
			}
		}
	}
	for n := range dead {
		if n%7 != 0 {
			t.Fatalf("record %x is a dead letter but was never dead-lettered\nstate %s", n, desc)
		}
	}
}

func crashSeeds(t *testing.T) (seeds []uint64, ops, statesPerCut int) {
	if v := os.Getenv("LOGSPOOL_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("LOGSPOOL_SEED=%q", v)
		}
		return []uint64{n}, 120, 6
	}
	if os.Getenv("LOGSPOOL_TORTURE") != "" {
		for i := uint64(1); i <= 20; i++ {
			seeds = append(seeds, i)
		}
		return seeds, 120, 4
	}
	return []uint64{1}, 30, 2
}

// TestCrashStatesKeepRecordsAndPositionsTogether is the power-loss proof:
// see the comment at the top of this file.
func TestCrashStatesKeepRecordsAndPositionsTogether(t *testing.T) {
	seeds, ops, perCut := crashSeeds(t)
	modes := []string{"logs-first", "torn", "synced", "written"}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			dir := t.TempDir()
			s := openSpool(t, Config{Dir: dir, SyncInterval: time.Hour, GCInterval: time.Hour})
			m := &crashModel{appended: make([]uint64, crashSources), durable: make([]uint64, crashSources),
				acked: make(map[uint64]bool), deadSet: make(map[uint64]bool)}
			pendingDurable := slices.Clone(m.durable)
			synced := readSnap(t, dir)
			barrier := func() {
				synced = readSnap(t, dir)
				copy(m.durable, pendingDurable)
			}
			fileSynced := func(p string) {
				rel, _ := filepath.Rel(dir, p)
				f, err := readSparse(p)
				if err != nil {
					t.Fatal(err)
				}
				synced[rel] = f
			}
			s.setSyncHooks(barrier, fileSynced)
			states := 0
			crashWorkload(t, s, rng, ops, m, func(op int) {
				// Appends committed before the next barrier become durable at it.
				copy(pendingDurable, m.appended)
				cur := readSnap(t, dir)
				for k := 0; k < perCut; k++ {
					mode := modes[(op*perCut+k)%len(modes)]
					st, desc := crashState(rng, synced, cur, mode)
					cdir := t.TempDir()
					writeState(t, cdir, st)
					model := &crashModel{appended: slices.Clone(m.appended), durable: slices.Clone(m.durable), acked: m.acked, deadSet: m.deadSet}
					what := fmt.Sprintf("seed %d op %d %s", seed, op, desc)
					checkCrashState(t, cdir, model, what)
					// What the first start recovered stays recovered.
					checkCrashState(t, cdir, model, what+" (opened again)")
					_ = os.RemoveAll(cdir)
					states++
				}
			})
			t.Logf("seed %d: %d crash states checked", seed, states)
		})
	}
}

// appendCtx is a context for the crash workload's appends.
var appendCtx = context.Background()
