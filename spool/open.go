package spool

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
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
	memTableSize = 4 << 20
	// valueThreshold keeps every value Badger stores (index entries, unit
	// records, checkpoints) inline in its write-ahead log and tables: the
	// records live in the spool's own data files.
	valueThreshold   = 256 << 10
	valueLogFileSize = 8 << 20

	// segTarget is the size at which an Append cuts segments.
	segTarget = 256 << 10
	// dataFileSize is the size at which a data file is sealed.
	dataFileSize = 16 << 20
	// maxLeaseSegments bounds the deletes one Done carries.
	maxLeaseSegments = 4096
	// maxUnitKeys bounds the index entries one Append unit writes in one
	// Badger transaction.
	maxUnitKeys = 2048

	diskInterval = 10 * time.Second
	// maintEvery is the volume of acked bytes after which maintenance runs
	// without waiting for its tick.
	maintEvery = 16 << 20
	// gcBudget bounds one RunGC.
	gcBudget = 10 * time.Second
	// compactMinGarbage is the LSM garbage below which maintenance does not
	// bother to compact.
	compactMinGarbage = 8 << 20

	identName  = "LOGSPOOL"
	identLen   = 64
	identMagic = "LOGSPOOL"
)

// Sentinel errors of Open, besides ErrLocked and ErrCorrupt.
var (
	// ErrPermission: the agent may not read or write the spool directory.
	ErrPermission = errors.New("spool: permission denied")
	// ErrReadOnlyFS: the spool directory is on a read-only file system.
	ErrReadOnlyFS = errors.New("spool: read-only file system")
	// ErrNoSpace: the spool's file system is full.
	ErrNoSpace = errors.New("spool: no space left on the file system")
	// ErrNotSpool: the directory holds files that are not a logspool spool.
	ErrNotSpool = errors.New("spool: not a logspool spool directory")
	// ErrNewerLayout (wrapped with ErrNotSpool): a newer logspool wrote the
	// spool; nothing is wrong with it, and Salvage leaves it alone.
	ErrNewerLayout = errors.New("a newer logspool wrote it")
)

// OpenError reports a spool directory that cannot be opened: unreadable,
// damaged, not a spool, or not a directory. Its message says what to do.
type OpenError struct {
	Dir string
	Err error
}

func (e *OpenError) Error() string {
	return fmt.Sprintf("spool: opening %s: %v", e.Dir, e.Err)
}

func (e *OpenError) Unwrap() error { return e.Err }

// salvageAdvice is appended to every report of damage.
func salvageAdvice(dir string) string {
	return fmt.Sprintf("the agent will not start on a damaged spool: run `logspool spool salvage --spool-dir %s` (with the agent stopped) to keep every intact record, quarantine the damaged bytes and rewind the affected sources; do not delete or move the directory, it holds undelivered logs", dir)
}

// Spool is a durable, capped queue of records plus source checkpoints.
type Spool struct {
	cfg     Config
	log     *slog.Logger
	metrics *Metrics
	db      *badger.DB
	id      [16]byte
	segLog  *dataLog
	dlqLog  *dataLog
	logs    []*dataLog

	// opMu is held (shared) by every operation that touches db, and
	// exclusively while db is closed, so that db is never closed under a
	// transaction.
	opMu     sync.RWMutex
	dbClosed bool
	// dlMu serialises RetryDeadLetters, DropDeadLetters and the trim.
	dlMu sync.Mutex

	// commitMu orders units: every write transaction takes the next unit
	// number and commits under it.
	commitMu     sync.Mutex
	lastUnit     uint64
	cpCur        map[string]cpVal // current checkpoints
	cpBase       map[string]cpVal // checkpoints as of the last barrier
	cpChanged    map[string]cpVal // set since the last sync round began
	roundMu      sync.Mutex       // one sync round at a time
	marker       uint64           // the last commit marker written
	unitKeysFrom uint64           // unit keys below this are deleted
	// indexCount is the number of index entries (segments and dead-letter
	// entries) after the last unit; countAtMarker after the marker's unit.
	indexCount, countAtMarker int64
	mirrorMarker              uint64 // the marker the identity file holds

	// bad are the damaged entries a salvage open found.
	bad []badEntry
	// legacyBytes is the size of a version 1 spool's records in Badger.
	legacyBytes int64

	// syncFailed is set when a barrier failed (see syncRound).
	syncFailed atomic.Pointer[error]
	// dirs are the spool's directory and its data directory as opened;
	// every barrier checks that they are still there (see checkDirs).
	dirs []dirAt

	// testHookBarrier runs after every barrier: every file is synced
	// (crash-state tests).
	testHookBarrier func()
	// testRoundStart runs in a sync round between its snapshot and its
	// barrier (crash-state tests: an append racing the barrier).
	testRoundStart func()

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
	badgerAt time.Time
	badgerSz int64

	freeMu   sync.Mutex
	freeAt   time.Time // when free was read
	free     int64     // free bytes on the spool's file system then
	freeUsed int64     // bytes appended since

	closeCh    chan struct{}
	maintCh    chan struct{} // asks background to run maintenance now
	roundCh    chan struct{} // asks background for a sync round now
	deadTrimCh chan struct{} // asks background to enforce MaxDeadLetterBytes
	acked      atomic.Int64  // bytes acked since maintenance last compacted
	appended   atomic.Int64  // bytes appended since maintenance last trimmed
	dirty      atomic.Bool
	wg         sync.WaitGroup
}

// Open opens (creating if needed) the spool in cfg.Dir. It fails with an
// error wrapping ErrLocked when another process holds the directory,
// ErrPermission, ErrReadOnlyFS or ErrNoSpace when the file system is in the
// way, ErrNotSpool for a directory that is not a spool, and ErrCorrupt (a
// *DamageError inside an *OpenError) when a file is damaged: the message
// names the file, the offset and the records affected, and points at
// `logspool spool salvage`.
func Open(cfg Config) (*Spool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s, err := open(cfg, false)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func newSpool(cfg Config) *Spool {
	return &Spool{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "spool"),
		metrics:    cfg.Metrics,
		nextSeq:    1,
		nextDead:   1,
		spaceCh:    make(chan struct{}),
		availCh:    make(chan struct{}),
		leases:     make(map[*Lease]struct{}),
		closeCh:    make(chan struct{}),
		maintCh:    make(chan struct{}, 1),
		roundCh:    make(chan struct{}, 1),
		deadTrimCh: make(chan struct{}, 1),
		cpCur:      make(map[string]cpVal),
		cpBase:     make(map[string]cpVal),
		cpChanged:  make(map[string]cpVal),
	}
}

// open opens the spool; salvage (Salvage's open) keeps damaged entries out
// of the queue instead of refusing.
func open(cfg Config, salvage bool) (*Spool, error) {
	dir := cfg.Dir
	if err := prepareDir(dir, cfg.ReadOnly); err != nil {
		return nil, err
	}
	id, err := readIdent(dir)
	if err != nil {
		return nil, &OpenError{Dir: dir, Err: err}
	}
	legacy := false
	if id == nil {
		kind, err := classifyDir(dir)
		if err != nil {
			return nil, &OpenError{Dir: dir, Err: err}
		}
		switch kind {
		case dirEmpty:
			if cfg.ReadOnly {
				return nil, &OpenError{Dir: dir, Err: fmt.Errorf("%w: the directory is empty (nothing to inspect)", ErrNotSpool)}
			}
		case dirLegacy:
			legacy = true
		}
	} else if _, err := os.Stat(filepath.Join(dir, badger.ManifestFilename)); err != nil {
		return nil, &OpenError{Dir: dir, Err: &DamageError{File: filepath.Join(dir, badger.ManifestFilename), Reason: "the index's MANIFEST is missing: " + salvageAdvice(dir)}}
	}
	if err := checkManifestAndTables(cfg, id); err != nil {
		return nil, &OpenError{Dir: dir, Err: err}
	}
	db, err := openBadger(cfg)
	if err != nil {
		return nil, err
	}
	s := newSpool(cfg)
	s.db = db
	if id != nil {
		s.id = id.id
	} else if !legacy {
		if _, err := rand.Read(s.id[:]); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("spool: making a spool id: %w", err)
		}
	}
	dataDir := filepath.Join(dir, dataDirName)
	// Data files of at most an eighth of the cap, so that the space of acked
	// records comes back in pieces small against it.
	fileSize := min(max(cfg.MaxBytes/8, 256<<10), dataFileSize)
	s.segLog = newDataLog(dataDir, ".seg", s.id, fileSize)
	s.dlqLog = newDataLog(dataDir, ".dlq", s.id, fileSize)
	s.logs = []*dataLog{s.segLog, s.dlqLog}
	if salvage {
		for _, l := range s.logs {
			l.quarantine = filepath.Join(dir, quarantineDirName)
		}
	}
	fail := func(err error) (*Spool, error) {
		for _, l := range s.logs {
			l.close()
		}
		_ = db.Close()
		var oe *OpenError
		if errors.As(err, &oe) {
			return nil, err
		}
		return nil, &OpenError{Dir: dir, Err: err}
	}
	if err := s.load(id, legacy, salvage); err != nil {
		return fail(err)
	}
	if !cfg.ReadOnly {
		if err := s.finishOpen(legacy); err != nil {
			return fail(err)
		}
	}
	s.mu.Lock()
	s.updateGaugesLocked()
	s.mu.Unlock()
	s.metrics.disk(s.diskBytes())
	s.log.Info("spool opened", "dir", dir, "records", s.queuedRecords, "bytes", s.queuedBytes,
		"segments", s.segments, "dead_letters", s.deadCount, "read_only", cfg.ReadOnly)
	if !cfg.ReadOnly {
		if err := s.noteDirs(); err != nil {
			return fail(err)
		}
		s.wg.Add(1)
		go s.background()
		if s.deadBytes > cfg.MaxDeadLetterBytes {
			s.askDeadTrim()
		}
	}
	return s, nil
}

// finishOpen makes a read-write spool ready: the layout version and id are
// written, everything replayed is made durable (a barrier and a marker), and
// the identity file says the spool is in use (not closed cleanly).
func (s *Spool) finishOpen(legacy bool) error {
	if err := s.update(func(txn *badger.Txn) error {
		if err := txn.Set(metaVersionKey, []byte{layoutVersion}); err != nil {
			return err
		}
		return txn.Set(metaIDKey, s.id[:])
	}); err != nil {
		return fmt.Errorf("writing the layout version: %w", classifyIOError(s.cfg.Dir, err))
	}
	if legacy {
		s.log.Info("spool: upgrading a version 1 spool: new records go to data files, the old ones are read where they are", "dir", s.cfg.Dir)
	}
	if err := s.syncRound(); err != nil {
		return classifyIOError(s.cfg.Dir, err)
	}
	if err := s.syncRound(); err != nil { // the marker itself durable
		return classifyIOError(s.cfg.Dir, err)
	}
	// In use from now on: not clean until Close says so. Written only now,
	// when the marker it records is durable (a crash while recovering must
	// not leave an identity file ahead of the index).
	if err := writeIdent(s.cfg.Dir, ident{id: s.id, marker: s.marker, count: uint64(s.countAtMarker)}); err != nil {
		return classifyIOError(s.cfg.Dir, err)
	}
	s.mirrorMarker = s.marker
	return nil
}

type dirKind int

const (
	dirEmpty dirKind = iota
	dirLegacy
)

// classifyDir looks at a directory without an identity file: empty (a new
// spool), a version 1 spool (a Badger MANIFEST), or something else, which is
// refused.
func classifyDir(dir string) (dirKind, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, classifyIOError(dir, fmt.Errorf("listing the directory: %w", err))
	}
	var names []string
	manifest := false
	for _, e := range ents {
		switch e.Name() {
		case badger.ManifestFilename:
			manifest = true
		case "LOCK", dataDirName:
			continue
		}
		names = append(names, e.Name())
	}
	switch {
	case manifest:
		return dirLegacy, nil
	case len(names) == 0:
		return dirEmpty, nil
	}
	if len(names) > 5 {
		names = append(names[:5], "...")
	}
	return 0, fmt.Errorf("%w: it holds %s but no spool identity file (%s) and no index (MANIFEST); refusing to use it as a spool. Point --spool-dir at an empty or spool directory; if this was a spool whose identity file and index were lost, run `logspool spool salvage --spool-dir %s`",
		ErrNotSpool, strings.Join(names, ", "), identName, dir)
}

// ident is the identity file: which spool this is, and what it held when it
// was closed cleanly.
type ident struct {
	id     [16]byte
	clean  bool
	marker uint64 // the commit marker at a clean close
	count  uint64 // index entries (segments + dead-letter entries) at a clean close
}

func readIdent(dir string) (*ident, error) {
	p := filepath.Join(dir, identName)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, classifyIOError(dir, fmt.Errorf("reading %s: %w", p, err))
	}
	if len(b) != identLen || string(b[:8]) != identMagic {
		return nil, &DamageError{File: p, Reason: fmt.Sprintf("the spool identity file is not one (%d bytes): %s", len(b), salvageAdvice(dir))}
	}
	if crc32.Checksum(b[:60], castagnoli) != binary.LittleEndian.Uint32(b[60:]) {
		return nil, &DamageError{File: p, Reason: "the spool identity file fails its checksum: " + salvageAdvice(dir)}
	}
	if v := binary.LittleEndian.Uint16(b[8:]); v < minLayoutVersion || v > layoutVersion {
		return nil, fmt.Errorf("%w: the spool has layout version %d; this build reads versions %d to %d (%w)", ErrNotSpool, v, minLayoutVersion, layoutVersion, ErrNewerLayout)
	}
	var id ident
	copy(id.id[:], b[10:26])
	id.clean = b[26] == 1
	id.marker = binary.LittleEndian.Uint64(b[27:])
	id.count = binary.LittleEndian.Uint64(b[35:])
	return &id, nil
}

// writeIdent writes the identity file in place (one 64-byte write) and syncs
// it and the directory.
func writeIdent(dir string, id ident) error {
	var b [identLen]byte
	copy(b[:], identMagic)
	binary.LittleEndian.PutUint16(b[8:], layoutVersion)
	copy(b[10:], id.id[:])
	if id.clean {
		b[26] = 1
	}
	binary.LittleEndian.PutUint64(b[27:], id.marker)
	binary.LittleEndian.PutUint64(b[35:], id.count)
	binary.LittleEndian.PutUint32(b[60:], crc32.Checksum(b[:60], castagnoli))
	p := filepath.Join(dir, identName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if _, err := f.WriteAt(b[:], 0); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := syncFile(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("syncing %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", p, err)
	}
	return fsyncPath(dir)
}

func prepareDir(dir string, readOnly bool) error {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return &OpenError{Dir: dir, Err: errors.New("it is not a directory")}
	case err == nil:
	case errors.Is(err, fs.ErrNotExist) && readOnly:
		return &OpenError{Dir: dir, Err: fmt.Errorf("%w: the directory does not exist (nothing to inspect)", ErrNotSpool)}
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return &OpenError{Dir: dir, Err: classifyIOError(dir, fmt.Errorf("creating the directory: %w", err))}
		}
		return nil
	default:
		return &OpenError{Dir: dir, Err: classifyIOError(dir, err)}
	}
	mode := uint32(4 | 1) // R_OK | X_OK
	if !readOnly {
		mode |= 2 // W_OK
	}
	if err := syscall.Access(dir, mode); err != nil {
		return &OpenError{Dir: dir, Err: classifyIOError(dir, fmt.Errorf("checking access: %w", err))}
	}
	return nil
}

// classifyIOError gives a file-system error its own sentinel and advice.
func classifyIOError(dir string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("%w: %s is on a read-only file system; mount it read-write or point --spool-dir at a writable directory (`logspool spool stats` and `dump` can still read it): %v", ErrReadOnlyFS, dir, err)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("%w: the agent (uid %d) may not read and write %s and the files in it; give it the directory (chown/chmod) or run it as the owner: %v", ErrPermission, os.Geteuid(), dir, err)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%w: the file system of %s is full; free space there (the spool's contents are intact): %v", ErrNoSpace, dir, err)
	}
	return err
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
// panics on garbage) into the errors of Open.
func openBadger(cfg Config) (db *badger.DB, err error) {
	dir := cfg.Dir
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, &OpenError{Dir: dir, Err: fmt.Errorf("%w: the index is damaged (badger panicked: %v): %s", ErrCorrupt, r, salvageAdvice(dir))}
		}
	}()
	db, err = badger.Open(badgerOptions(cfg))
	if err == nil {
		return db, nil
	}
	msg := err.Error()
	switch {
	case errors.Is(err, syscall.EWOULDBLOCK) || strings.Contains(msg, "Another process is using this Badger database"):
		return nil, fmt.Errorf("opening spool %s: a running logspool agent (another process) holds it; stop it, or use `logspool status` to read a running one: %w (%v)", dir, ErrLocked, err)
	case errors.Is(err, badger.ErrTruncateNeeded) || strings.Contains(msg, badger.ErrTruncateNeeded.Error()):
		return nil, &OpenError{Dir: dir, Err: fmt.Errorf("%w (the agent crashed or was killed) and cannot be read read-only; start the agent (or open it read-write) once to replay its log (%v)", ErrUnclean, err)}
	case errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return nil, &OpenError{Dir: dir, Err: classifyIOError(dir, err)}
	default:
		return nil, &OpenError{Dir: dir, Err: fmt.Errorf("%w: the index is unreadable or damaged: %v: %s", ErrCorrupt, err, salvageAdvice(dir))}
	}
}

// checkManifestAndTables checks the index before Badger opens it (Badger
// panics on some garbage, skips tables whose checksums fail, truncates a
// damaged MANIFEST and deletes the tables it no longer lists): the MANIFEST
// replays to its end (a torn last record is allowed after an unclean stop),
// every table it lists exists and passes its checksums, and no table on disk
// is missing from it except the newest outputs of a compaction that a crash
// interrupted.
func checkManifestAndTables(cfg Config, id *ident) error {
	dir := cfg.Dir
	mpath := filepath.Join(dir, badger.ManifestFilename)
	fp, err := os.Open(mpath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // a new spool
	}
	if err != nil {
		return classifyIOError(dir, fmt.Errorf("opening %s: %w", mpath, err))
	}
	defer fp.Close()
	fi, err := fp.Stat()
	if err != nil {
		return classifyIOError(dir, err)
	}
	mf, trunc, err := badger.ReplayManifestFile(fp, 0, badgerOptions(cfg))
	if err != nil {
		return &DamageError{File: mpath, Reason: fmt.Sprintf("the index's MANIFEST is unreadable (%v): %s", err, salvageAdvice(dir))}
	}
	clean := id != nil && id.clean
	if trunc < fi.Size() && clean {
		return &DamageError{File: mpath, Offset: trunc, Reason: fmt.Sprintf("the MANIFEST of a cleanly closed spool ends in %d bytes of garbage: %s", fi.Size()-trunc, salvageAdvice(dir))}
	}
	ids := make([]uint64, 0, len(mf.Tables))
	var maxID uint64
	for tid := range mf.Tables {
		ids = append(ids, tid)
		maxID = max(maxID, tid)
	}
	slices.Sort(ids)
	onDisk, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	for _, f := range onDisk {
		var tid uint64
		if _, err := fmt.Sscanf(filepath.Base(f), "%d.sst", &tid); err != nil {
			continue
		}
		if _, ok := mf.Tables[tid]; ok {
			continue
		}
		// After an unclean stop, tables that a compaction was writing are
		// not listed yet (Badger deletes them); the identity file's count
		// catches a MANIFEST that lost tables then (load).
		if clean {
			return &DamageError{File: mpath, Offset: trunc, Reason: fmt.Sprintf("the MANIFEST does not list table %s (it lost records: truncated or damaged): %s", filepath.Base(f), salvageAdvice(dir))}
		}
	}
	for _, tid := range ids {
		opts := table.Options{
			ChkMode:            options.OnTableRead,
			Compression:        mf.Tables[tid].Compression,
			BlockSize:          16 << 10,
			BloomFalsePositive: 0.01,
		}
		f := table.NewFilename(tid, dir)
		if _, err := os.Stat(f); errors.Is(err, fs.ErrNotExist) {
			return &DamageError{File: f, Reason: "the table is missing (the MANIFEST lists it): " + salvageAdvice(dir)}
		}
		if err := checkTable(f, opts); err != nil {
			if e := classifyIOError(dir, err); e != err {
				return e
			}
			return &DamageError{File: f, Reason: fmt.Sprintf("the table is damaged (%v): %s", err, salvageAdvice(dir))}
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

// fileBlocks is the disk space (allocated blocks) of path.
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

// dirSize is the disk space (allocated blocks) used by the files in dir and
// its subdirectories.
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
