package spool

// Compacting Badger's LSM tree: Badger runs no compactors of its own here
// (NumCompactors 0), because each of them wakes on a fixed 50 ms ticker for
// as long as the database is open, busy or not: most of an idle agent's CPU.
// lsmCompactor runs Badger's Flatten instead, only while commits come in and
// level 0 holds tables.
//
// The danger it guards against: with nothing compacting, level 0 fills up,
// and at l0Stall tables Badger's memtable flush waits for it to drain, and
// then every write waits for the flush. So the compactor runs in its own
// goroutine and never writes (a write of its own could wait on the flush
// that waits on it), it is woken by every commit of the spool (kick) and
// looks every lsmPoll while they keep coming, it never goes quiet while
// level 0 needs compacting, and the spool's background goroutine kicks it
// every diskInterval besides, for tables flushed after it went quiet.

import (
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
)

const (
	// lsmPoll is how often the compactor looks at level 0 while commits
	// come in.
	lsmPoll = 100 * time.Millisecond
	// lsmMaxBackoff bounds the wait between attempts after a failed one.
	lsmMaxBackoff = 10 * time.Second
	// l0Stall is Badger's NumLevelZeroTablesStall: a memtable flush (and so,
	// once the memtables are full, every write) waits while level 0 holds
	// this many tables. The compactor keeps level 0 at one or two tables;
	// the margin is for a busy machine, where a Flatten can take seconds.
	l0Stall = 16
)

// lsmCompactor compacts one Badger database's LSM tree (see above).
type lsmCompactor struct {
	db      *badger.DB
	log     *slog.Logger
	metrics *Metrics
	// mu is held by every Flatten and DropPrefix on db: Badger stops and
	// restarts its (zero) compactors in both, without synchronisation.
	mu *sync.Mutex

	kickCh   chan struct{}
	stopCh   chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	flattens atomic.Int64 // Flattens that ran (tests)
	failures atomic.Int64 // Flattens that failed (tests)
}

// startLSMCompactor starts the compactor of db and kicks it once (tables a
// previous run left in level 0). mu is the lock of every Flatten and
// DropPrefix on db.
func startLSMCompactor(db *badger.DB, log *slog.Logger, m *Metrics, mu *sync.Mutex) *lsmCompactor {
	c := &lsmCompactor{
		db:      db,
		log:     log,
		metrics: m,
		mu:      mu,
		kickCh:  make(chan struct{}, 1),
		stopCh:  make(chan struct{}),
		done:    make(chan struct{}),
	}
	go c.run()
	c.kick()
	return c
}

// kick wakes the compactor: a commit happened (or may have left a table
// behind). It never blocks; a nil compactor (read-only) ignores it.
func (c *lsmCompactor) kick() {
	if c == nil {
		return
	}
	select {
	case c.kickCh <- struct{}{}:
	default:
	}
}

// stop stops the compactor and waits for a Flatten in progress. The
// database may be closed after it returns.
func (c *lsmCompactor) stop() {
	if c == nil {
		return
	}
	c.stopOnce.Do(func() { close(c.stopCh) })
	<-c.done
}

func (c *lsmCompactor) run() {
	defer close(c.done)
	var logged time.Time
	for {
		select {
		case <-c.stopCh:
			return
		case <-c.kickCh:
		}
		// Active: look every lsmPoll (longer after failures) until a look
		// finds nothing to compact and no commit came since the last one.
		wait := lsmPoll
		for {
			did, err := c.once()
			switch {
			case err != nil:
				c.failures.Add(1)
				c.metrics.compactionFailed()
				if time.Since(logged) >= time.Minute {
					logged = time.Now()
					c.log.Error("spool: compacting the index failed; retrying (writes stop once its level 0 is full)", "err", err, "retry_in", wait)
				}
				wait = min(2*wait, lsmMaxBackoff)
			default:
				wait = lsmPoll
			}
			kicked := false
			select {
			case <-c.kickCh:
				kicked = true
			default:
			}
			if err == nil && !did && !kicked {
				break
			}
			t := time.NewTimer(wait)
			select {
			case <-c.stopCh:
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// once runs Flatten when the tree needs it and reports whether it changed
// the tree.
func (c *lsmCompactor) once() (bool, error) {
	before := tablesPerLevel(c.db.Levels())
	if !needsFlatten(before) {
		return false, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.stopCh: // the database is about to close
		return false, nil
	default:
	}
	c.flattens.Add(1)
	if err := c.db.Flatten(1); err != nil {
		return false, err
	}
	c.metrics.compacted()
	// A Flatten that leaves the tree as it was (nothing it can pick) must
	// not be retried every lsmPoll: the next commit kicks again.
	return !slices.Equal(before, tablesPerLevel(c.db.Levels())), nil
}

// tablesPerLevel is the number of tables on each level.
func tablesPerLevel(levels []badger.LevelInfo) []int {
	n := make([]int, len(levels))
	for i, l := range levels {
		n[i] = l.NumTables
	}
	return n
}

// needsFlatten reports whether Flatten has something to do: two tables or
// more on level 0 (one, alone in the tree, it leaves), or tables on more
// than one level.
func needsFlatten(tables []int) bool {
	levels := 0
	for _, n := range tables {
		if n > 0 {
			levels++
		}
	}
	return levels > 1 || len(tables) > 0 && tables[0] > 1
}
