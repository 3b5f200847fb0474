package spool

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
)

// Badger tuning; see doc.go ("Space reclamation", "Memory").
const (
	memTableSize     = 4 << 20
	maxBatchSize     = 15 * memTableSize / 100 // Badger's per-transaction limit
	valueThreshold   = 4 << 10                 // values this big go to the value log
	valueLogFileSize = 8 << 20

	// inlineBudget is what one transaction may carry inline (below
	// valueThreshold), leaving room for keys and Badger's own entries.
	inlineBudget = maxBatchSize - 96<<10
	// segInlineMax is the size at which an ordinary Append cuts segments.
	segInlineMax = 256 << 10
	// segLargeTarget is the segment size of an Append too big for one inline
	// transaction: such segments go to the value log.
	segLargeTarget = 4 << 20
	// maxLeaseSegments bounds the deletes one Done carries.
	maxLeaseSegments = 4096

	diskInterval = 10 * time.Second
	// maintEvery is the volume of acked bytes after which maintenance runs
	// without waiting for its tick.
	maintEvery = 16 << 20
	// gcBudget bounds one RunGC.
	gcBudget = 10 * time.Second
	// compactMinGarbage is the LSM garbage below which maintenance does not
	// bother to compact.
	compactMinGarbage = 8 << 20
)

// OpenError reports a spool directory that cannot be opened: unreadable,
// corrupt, or not a directory.
type OpenError struct {
	Dir string
	Err error
}

func (e *OpenError) Error() string {
	return fmt.Sprintf("spool: opening %s: %v", e.Dir, e.Err)
}

func (e *OpenError) Unwrap() error { return e.Err }

// Spool is a durable, capped queue of records plus source checkpoints.
type Spool struct {
	cfg     Config
	log     *slog.Logger
	metrics *Metrics
	db      *badger.DB

	// opMu is held (shared) by every operation that touches db, and
	// exclusively by Close, so that db is never closed under a transaction.
	opMu sync.RWMutex
	// dlMu serialises RetryDeadLetters and DropDeadLetters.
	dlMu sync.Mutex

	mu            sync.Mutex
	closed        bool
	nextSeq       uint64
	nextDead      uint64
	pending       []segMeta // unleased segments, sorted by seq, from pendingHead
	pendingHead   int
	queuedBytes   int64 // includes reservations of appends not yet committed
	queuedRecords int64
	leasedRecords int64
	segments      int64
	dead          []deadMeta // sorted by first
	deadCount     int64
	deadBytes     int64
	deadDropped   int64
	blocked       int           // appends waiting for space
	spaceCh       chan struct{} // closed and replaced when space frees
	availCh       chan struct{} // closed and replaced when segments become leasable
	leases        map[*Lease]struct{}

	diskMu   sync.Mutex
	diskAt   time.Time
	diskSize int64

	freeMu   sync.Mutex
	freeAt   time.Time // when free was read
	free     int64     // free bytes on the spool's file system then
	freeUsed int64     // bytes appended since

	closeCh    chan struct{}
	maintCh    chan struct{} // asks background to run maintenance now
	deadTrimCh chan struct{} // asks background to enforce MaxDeadLetterBytes
	acked      atomic.Int64  // bytes acked since maintenance last compacted
	appended   atomic.Int64  // bytes appended since maintenance last trimmed
	dirty      atomic.Bool
	wg         sync.WaitGroup
}

// Open opens (creating if needed) the spool in cfg.Dir. It fails with an error
// wrapping ErrLocked when another process holds the directory, and with a
// clear error when the directory is corrupt or unreadable.
func Open(cfg Config) (*Spool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	dir := cfg.Dir
	if err := prepareDir(dir, cfg.ReadOnly); err != nil {
		return nil, err
	}
	db, err := openBadger(cfg)
	if err != nil {
		return nil, err
	}
	s := &Spool{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "spool"),
		metrics:    cfg.Metrics,
		db:         db,
		nextSeq:    1,
		nextDead:   1,
		spaceCh:    make(chan struct{}),
		availCh:    make(chan struct{}),
		leases:     make(map[*Lease]struct{}),
		closeCh:    make(chan struct{}),
		maintCh:    make(chan struct{}, 1),
		deadTrimCh: make(chan struct{}, 1),
	}
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, &OpenError{Dir: dir, Err: err}
	}
	s.mu.Lock()
	s.updateGaugesLocked()
	s.mu.Unlock()
	s.metrics.disk(dirSize(dir))
	s.log.Info("spool opened", "dir", dir, "records", s.queuedRecords, "bytes", s.queuedBytes,
		"segments", s.segments, "dead_letters", s.deadCount, "read_only", cfg.ReadOnly)
	if !cfg.ReadOnly {
		s.wg.Add(1)
		go s.background()
		if s.deadBytes > cfg.MaxDeadLetterBytes {
			s.askDeadTrim()
		}
	}
	return s, nil
}

func prepareDir(dir string, readOnly bool) error {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return &OpenError{Dir: dir, Err: errors.New("it is not a directory")}
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist) && readOnly:
		return &OpenError{Dir: dir, Err: errors.New("the directory does not exist (nothing to inspect)")}
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return &OpenError{Dir: dir, Err: fmt.Errorf("creating the directory: %w", err)}
		}
		return nil
	default:
		return &OpenError{Dir: dir, Err: err}
	}
}

func badgerOptions(cfg Config) badger.Options {
	return badger.DefaultOptions(cfg.Dir).
		WithLogger(badgerLogger{cfg.Logger}).
		WithReadOnly(cfg.ReadOnly).
		WithSyncWrites(false).
		WithDetectConflicts(false).
		WithNumVersionsToKeep(1).
		WithMemTableSize(memTableSize).
		WithNumMemtables(2).
		WithNumLevelZeroTables(1).
		WithNumLevelZeroTablesStall(8).
		WithBaseTableSize(4 << 20).
		WithBaseLevelSize(32 << 20).
		WithValueThreshold(valueThreshold).
		WithValueLogFileSize(valueLogFileSize).
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithIndexCacheSize(0).
		WithBlockSize(16 << 10).
		WithMetricsEnabled(false).
		WithChecksumVerificationMode(options.NoVerification). // checkTables verifies at Open

		WithCompactL0OnClose(false)
}

// openBadger opens the database and turns Badger's failures (errors and
// panics on garbage) into ErrLocked or an *OpenError.
func openBadger(cfg Config) (db *badger.DB, err error) {
	dir := cfg.Dir
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, &OpenError{Dir: dir, Err: fmt.Errorf("the database is corrupt: badger panicked: %v", r)}
		}
	}()
	if err := checkTables(cfg); err != nil {
		return nil, &OpenError{Dir: dir, Err: fmt.Errorf("the database is corrupt (move the directory aside to start with an empty spool): %w", err)}
	}
	db, err = badger.Open(badgerOptions(cfg))
	if err == nil {
		return db, nil
	}
	msg := err.Error()
	switch {
	case errors.Is(err, syscall.EWOULDBLOCK) || strings.Contains(msg, "Another process is using this Badger database"):
		return nil, fmt.Errorf("opening spool %s: a running logspool agent (another process) holds it: %w (%v)", dir, ErrLocked, err)
	case errors.Is(err, badger.ErrTruncateNeeded) || strings.Contains(msg, badger.ErrTruncateNeeded.Error()):
		return nil, &OpenError{Dir: dir, Err: fmt.Errorf("%w (the agent crashed or was killed) and cannot be read read-only; start the agent (or open it read-write) once to replay its log (%v)", ErrUnclean, err)}
	case errors.Is(err, fs.ErrPermission):
		return nil, &OpenError{Dir: dir, Err: fmt.Errorf("permission denied: %w", err)}
	default:
		return nil, &OpenError{Dir: dir, Err: fmt.Errorf("the database is unreadable or corrupt: %w", err)}
	}
}

// checkTables opens every SST file that the MANIFEST lists and verifies its index and block
// checksums. Badger opens tables in goroutines of its own, where garbage makes
// it panic (and a checksum mismatch makes it skip the table silently); here a
// damaged table is an error naming the file.
func checkTables(cfg Config) error {
	dir := cfg.Dir
	fp, err := os.Open(filepath.Join(dir, badger.ManifestFilename))
	if err != nil {
		return nil // a new spool, or Badger reports it
	}
	defer fp.Close()
	mf, _, err := badger.ReplayManifestFile(fp, 0, badgerOptions(cfg))
	if err != nil {
		return nil // Badger reports a damaged MANIFEST with an error of its own
	}
	ids := make([]uint64, 0, len(mf.Tables))
	for id := range mf.Tables {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		opts := table.Options{
			ChkMode:            options.OnTableRead,
			Compression:        mf.Tables[id].Compression,
			BlockSize:          16 << 10,
			BloomFalsePositive: 0.01,
		}
		f := table.NewFilename(id, dir)
		if _, err := os.Stat(f); err != nil {
			continue // Badger reports a missing table
		}
		if err := checkTable(f, opts); err != nil {
			return fmt.Errorf("table %s: %w", filepath.Base(f), err)
		}
	}
	return nil
}

func checkTable(path string, opts table.Options) (err error) {
	mf, err := z.OpenMmapFile(path, os.O_RDONLY, 0)
	if err != nil && !errors.Is(err, z.NewFile) {
		return err
	}
	var t *table.Table
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("unreadable: %v", r)
		}
		if t != nil {
			_ = t.MmapFile.Close(-1)
		} else {
			_ = mf.Close(-1)
		}
	}()
	if len(mf.Data) < 8 {
		return fmt.Errorf("only %d bytes long", len(mf.Data))
	}
	t, err = table.OpenTable(mf, opts)
	return err
}

// load checks the layout version and rebuilds the in-memory index from keys.
func (s *Spool) load() error {
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(metaVersionKey)
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			return nil
		case err != nil:
			return fmt.Errorf("reading layout version: %w", err)
		}
		return item.Value(func(v []byte) error {
			if len(v) != 1 || v[0] != layoutVersion {
				return fmt.Errorf("layout version %v is not %d, the version this build reads", v, layoutVersion)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	if !s.cfg.ReadOnly {
		if err := s.db.Update(func(txn *badger.Txn) error {
			return txn.Set(metaVersionKey, []byte{layoutVersion})
		}); err != nil {
			return fmt.Errorf("writing layout version: %w", err)
		}
	}
	return s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek([]byte{prefixSegment}); it.ValidForPrefix([]byte{prefixSegment}); it.Next() {
			k := it.Item().Key()
			m, ok := parseSegKey(k)
			if !ok {
				s.log.Warn("ignoring a malformed segment key", "key", fmt.Sprintf("%x", k))
				continue
			}
			s.pending = append(s.pending, m)
			s.queuedBytes += m.bytes
			s.queuedRecords += int64(m.count)
			s.segments++
			s.nextSeq = m.seq + 1
		}
		for it.Seek([]byte{prefixDead}); it.ValidForPrefix([]byte{prefixDead}); it.Next() {
			k := it.Item().Key()
			m, ok := parseDeadKey(k)
			if !ok {
				s.log.Warn("ignoring a malformed dead-letter key", "key", fmt.Sprintf("%x", k))
				continue
			}
			s.dead = append(s.dead, m)
			s.deadCount += int64(m.count)
			s.deadBytes += m.bytes
			s.nextDead = m.last + 1
		}
		return nil
	})
}

// background runs group commit (sync), value-log GC and the disk metric.
func (s *Spool) background() {
	defer s.wg.Done()
	syncT := time.NewTicker(s.cfg.SyncInterval)
	defer syncT.Stop()
	gcT := time.NewTicker(s.cfg.GCInterval)
	defer gcT.Stop()
	diskT := time.NewTicker(min(diskInterval, s.cfg.GCInterval))
	defer diskT.Stop()
	for {
		select {
		case <-s.closeCh:
			return
		case <-syncT.C:
			if s.dirty.Swap(false) {
				s.opMu.RLock()
				if err := s.db.Sync(); err != nil {
					s.log.Error("syncing the spool", "err", err)
				}
				s.opMu.RUnlock()
			}
		case <-gcT.C:
			s.RunGC()
		case <-s.deadTrimCh:
			s.trimDead()
		case <-s.maintCh:
			s.maybeCompact()
			s.trim()
		case <-diskT.C:
			s.metrics.disk(s.diskBytes())
			s.maybeCompact()
			s.trim()
		}
	}
}

// RunGC runs Badger's value-log GC until it finds nothing to rewrite (or for
// at most gcBudget). It runs on its own every Config.GCInterval and after
// every Compact.
func (s *Spool) RunGC() {
	if s.cfg.ReadOnly {
		return
	}
	for start := time.Now(); time.Since(start) < gcBudget; {
		if !s.gcOnce() {
			return
		}
	}
}

// gcOnce runs one value-log GC round (one file) and reports whether another
// may find more. It holds opMu exclusively: Badger's GC reads the memtable's
// max version without synchronisation (a data race with commits that the
// race detector reports), so no commit of ours may run beside it. One round
// is a few milliseconds; appends and acks wait for it.
func (s *Spool) gcOnce() bool {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if s.isClosed() {
		return false
	}
	s.metrics.gcRan()
	err := s.db.RunValueLogGC(0.5)
	if err != nil {
		if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
			s.log.Warn("value-log gc", "err", err)
		}
		return false
	}
	return true
}

// trim releases the process's hold on the pages of Badger's mapped files.
func (s *Spool) trim() {
	s.appended.Store(0)
	s.opMu.RLock()
	defer s.opMu.RUnlock()
	if !s.isClosed() {
		trimMappings(s.cfg.Dir)
	}
}

// maybeCompact runs Compact (and value-log GC after it) when the LSM tree and
// the sealed value-log files hold much more than the live data: deleted
// segments whose deletions have not met them in a compaction yet.
func (s *Spool) maybeCompact() {
	s.acked.Store(0)
	s.mu.Lock()
	live := s.queuedBytes + s.deadBytes
	s.mu.Unlock()
	stored := sealedVlogBytes(s.cfg.Dir)
	for _, ti := range s.db.Tables() {
		stored += int64(ti.OnDiskSize)
	}
	if garbage := stored - live; garbage < compactMinGarbage || garbage < live/2 {
		return
	}
	if err := s.Compact(); err != nil {
		s.log.Warn("compacting the spool", "err", err)
		return
	}
	s.RunGC()
}

// flushKey is written and dropped by Compact to make Badger flush its
// memtable (DropPrefix is Badger's only public way to do that).
var flushKey = []byte("zflush")

// Compact makes Badger forget deleted segments now: it flushes the memtable
// (where recent deletions wait) and flattens the LSM tree into one level, so
// that every deletion meets the data it deletes and both are dropped. It
// rewrites the live data once, which is why maintenance only calls it when
// the tree holds more garbage than half the live data. Appends and acks wait
// while the memtable is flushed.
func (s *Spool) Compact() error {
	if s.cfg.ReadOnly {
		return errors.New("spool: compact: opened read-only")
	}
	err := func() error {
		s.opMu.Lock()
		defer s.opMu.Unlock()
		if s.isClosed() {
			return ErrClosed
		}
		if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(flushKey, nil) }); err != nil {
			return fmt.Errorf("spool: writing the flush marker: %w", err)
		}
		if err := s.db.DropPrefix(flushKey); err != nil {
			return fmt.Errorf("spool: flushing the memtable: %w", err)
		}
		return nil
	}()
	if err != nil {
		return err
	}
	s.opMu.RLock()
	defer s.opMu.RUnlock()
	if s.isClosed() {
		return ErrClosed
	}
	if err := s.db.Flatten(1); err != nil {
		return fmt.Errorf("spool: flattening the lsm tree: %w", err)
	}
	return nil
}

func (s *Spool) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// sealedVlogBytes is the disk space of the value-log files but the newest
// (which value-log GC never rewrites).
func sealedVlogBytes(dir string) int64 {
	files, _ := filepath.Glob(filepath.Join(dir, "*.vlog"))
	slices.Sort(files) // zero-padded numbers: lexical order is numeric order
	var n int64
	for i, f := range files {
		if i == len(files)-1 {
			break
		}
		n += fileBlocks(f)
	}
	return n
}

func fileBlocks(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}

// dirSize is the disk space (allocated blocks) used by the files in dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		} else {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// Close syncs and closes the spool. Outstanding leases are released: their
// records are delivered again after the next Open.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closeCh)
	for l := range s.leases {
		l.state = leaseReleased
	}
	s.leases = nil
	s.mu.Unlock()
	s.wg.Wait()

	s.opMu.Lock()
	defer s.opMu.Unlock()
	var errs []error
	if !s.cfg.ReadOnly {
		if err := s.db.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("syncing spool %s: %w", s.cfg.Dir, err))
		}
	}
	if err := s.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing spool %s: %w", s.cfg.Dir, err))
	}
	return errors.Join(errs...)
}

// Checkpoint returns the stored value for key, or nil when there is none.
func (s *Spool) Checkpoint(key string) ([]byte, error) {
	s.opMu.RLock()
	defer s.opMu.RUnlock()
	if s.isClosed() {
		return nil, ErrClosed
	}
	var out []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(checkpointKey(key))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading checkpoint %q: %w", key, err)
	}
	return out, nil
}

// Checkpoints returns every stored checkpoint whose key starts with prefix.
func (s *Spool) Checkpoints(prefix string) (map[string][]byte, error) {
	s.opMu.RLock()
	defer s.opMu.RUnlock()
	if s.isClosed() {
		return nil, ErrClosed
	}
	out := make(map[string][]byte)
	p := checkpointKey(prefix)
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		defer it.Close()
		for it.Seek(p); it.ValidForPrefix(p); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out[string(bytes.Clone(it.Item().Key()[1:]))] = v
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading checkpoints with prefix %q: %w", prefix, err)
	}
	return out, nil
}

// Stats returns a snapshot of the spool's counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	st := s.statsLocked()
	s.mu.Unlock()
	st.DiskBytes = s.diskBytes()
	return st
}

// diskBytes is dirSize of the spool directory, measured at most once a second.
func (s *Spool) diskBytes() int64 {
	s.diskMu.Lock()
	defer s.diskMu.Unlock()
	if time.Since(s.diskAt) >= time.Second {
		s.diskSize, s.diskAt = dirSize(s.cfg.Dir), time.Now()
	}
	return s.diskSize
}

func (s *Spool) statsLocked() Stats {
	return Stats{
		QueuedRecords:      s.queuedRecords,
		QueuedBytes:        s.queuedBytes,
		LeasedRecords:      s.leasedRecords,
		Segments:           s.segments,
		DeadLetters:        s.deadCount,
		DeadLetterBytes:    s.deadBytes,
		DeadLettersDropped: s.deadDropped,
		MaxBytes:           s.cfg.MaxBytes,
		Blocked:            s.blocked > 0,
	}
}

func (s *Spool) updateGaugesLocked() {
	if s.metrics != nil {
		s.metrics.gauges(s.statsLocked())
	}
}

// wake closes *ch (waking its waiters) and replaces it.
func wake(ch *chan struct{}) {
	close(*ch)
	*ch = make(chan struct{})
}
