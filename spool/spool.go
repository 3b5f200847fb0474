package spool

// API CONTRACT (written first so that the shipper, tailer and cmd can be built
// against it while the implementation lands). The spool implementer owns this
// file and may add to it, but must not change these signatures without
// updating every caller.

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/logspool/logspool/internal/configerr"
	"github.com/logspool/logspool/spool/record"
)

// Sentinel errors.
var (
	// ErrLocked: another process (a running agent) holds the spool directory.
	ErrLocked = errors.New("spool: directory is locked by another process")
	// ErrClosed: the spool was closed.
	ErrClosed = errors.New("spool: closed")
	// ErrUnclean: a read-only Open found a spool that was not closed cleanly
	// (its write-ahead log needs a replay, which only a read-write Open does).
	ErrUnclean = errors.New("spool: the spool was not closed cleanly")
	// ErrLeaseDone: Done or Release was already called on this lease.
	ErrLeaseDone = errors.New("spool: lease already finished")
	// ErrSyncFailed: an fsync of the spool failed; the spool refuses appends
	// until the agent restarts (and Open verifies what reached the disk).
	ErrSyncFailed = errors.New("spool: a sync failed")
	// ErrDiskFull: the file system holding the spool has less free space
	// than Config.MinFreeBytes; Append refuses until space frees.
	ErrDiskFull = errors.New("spool: disk full")
)

// Config configures a Spool. Zero values mean the documented defaults.
type Config struct {
	// Dir is the Badger directory. Required.
	Dir string
	// MaxBytes caps the disk space of the spool's directory (allocated
	// blocks: data files, dead letters and the index); Append blocks while
	// the directory is at or over it. Default 1 GiB.
	MaxBytes int64
	// SyncInterval is the group-commit interval: writes are fsynced at most
	// this long after they were committed. Default 1s.
	SyncInterval time.Duration
	// GCInterval is how often value-log GC runs on its own (it also runs
	// after every compaction, which the spool starts by acked volume and on a
	// 10s tick, or every GCInterval if that is shorter). Default 1 minute.
	GCInterval time.Duration
	// ReadOnly opens the spool for inspection (stats, dump, dlq list).
	ReadOnly bool
	// Logger receives Badger's and the spool's messages. Default slog.Default().
	Logger *slog.Logger
	// MaxDeadLetterBytes caps the dead-letter area (bytes of record.Size());
	// default 256 MiB, at most a quarter of MaxBytes.
	// When a Done takes it over the cap, the oldest dead letters are dropped
	// (whole Done-sized entries, oldest first), logged at warning level and
	// counted in Stats.DeadLettersDropped, so that a cluster rejecting every
	// document cannot fill the disk. Default 256 MiB.
	MaxDeadLetterBytes int64
	// MinFreeBytes is the free space Append keeps on the spool's file system:
	// below it Append fails with an error wrapping ErrDiskFull (callers retry;
	// the readers pause) until acks and value-log GC free space. Badger
	// writes through memory maps of sparse files, where a full disk is a
	// SIGBUS that kills the process, not an error, so the spool must stop
	// short of it. Default 64 MiB; negative turns the check off.
	MinFreeBytes int64
	// Metrics receives the spool's metrics; nil records none.
	Metrics *Metrics

	// freeBytes reports the free space of the file system holding a path
	// (a test seam); nil means statfs.
	freeBytes func(dir string) (int64, error)
	// memTableSize is Badger's memtable size (a test seam: small ones make
	// many level-0 tables); zero means memTableSize.
	memTableSize int64
}

// Defaults for the zero values of Config.
const (
	DefaultMaxBytes     = 1 << 30
	DefaultSyncInterval = time.Second
	DefaultGCInterval   = time.Minute

	DefaultMaxDeadLetterBytes = 256 << 20
	DefaultMinFreeBytes       = 64 << 20
)

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("spool: invalid config")

// Validate reports the first bad field of c as a *configerr.Error.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return configerr.New(ErrInvalidConfig, "Dir", "is required")
	case c.MaxBytes < 0:
		return configerr.New(ErrInvalidConfig, "MaxBytes", "must not be negative, got %d", c.MaxBytes)
	case c.SyncInterval < 0:
		return configerr.New(ErrInvalidConfig, "SyncInterval", "must not be negative, got %s", c.SyncInterval)
	case c.MaxDeadLetterBytes < 0:
		return configerr.New(ErrInvalidConfig, "MaxDeadLetterBytes", "must not be negative, got %d", c.MaxDeadLetterBytes)
	case c.GCInterval < 0:
		return configerr.New(ErrInvalidConfig, "GCInterval", "must not be negative, got %s", c.GCInterval)
	}
	return nil
}

// withDefaults returns c with zero values replaced by the defaults.
func (c Config) withDefaults() Config {
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = DefaultSyncInterval
	}
	if c.GCInterval == 0 {
		c.GCInterval = DefaultGCInterval
	}
	if c.MaxDeadLetterBytes == 0 {
		// Dead letters live in the spool directory too: keep them to a
		// quarter of it, so that they cannot stop reading on their own.
		c.MaxDeadLetterBytes = min(DefaultMaxDeadLetterBytes, c.MaxBytes/4)
	}
	if c.MinFreeBytes == 0 {
		c.MinFreeBytes = DefaultMinFreeBytes
	}
	if c.freeBytes == nil {
		c.freeBytes = diskFree
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// DeadLetter is a record that Elasticsearch refused for good, kept with why
// (the shared leaf's type, so that the shipper hands its dead letters over
// without naming the spool).
type DeadLetter = record.DeadLetter

// Stats is a point-in-time view of the spool.
type Stats struct {
	QueuedRecords   int64 // records stored and not yet acked (leased ones included)
	QueuedBytes     int64 // their bytes (record.Size(), uncompressed)
	LeasedRecords   int64
	Segments        int64
	DeadLetters     int64
	DeadLetterBytes int64
	MaxBytes        int64
	DiskBytes       int64 // disk space of the spool directory, the number MaxBytes caps
	// DeadLettersDropped counts dead letters dropped since Open because the
	// dead-letter area was over MaxDeadLetterBytes.
	DeadLettersDropped int64
	Blocked            bool // an Append is waiting for space
}

// Failure returns why the spool refuses appends until a restart (a failed
// sync, an index that cannot be written, its directory removed), or nil.
func (s *Spool) Failure() error {
	if err := s.syncFailed.Load(); err != nil {
		return *err
	}
	return nil
}

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
	// lsm compacts the index (nil when read-only); compactMu is held by
	// every Flatten and DropPrefix (lsm.go). Lock order: opMu, compactMu.
	lsm       *lsmCompactor
	compactMu sync.Mutex
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
