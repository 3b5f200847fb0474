package spool

// Temporary stubs: the spool implementer replaces this file.

import (
	"context"
	"errors"

	"github.com/logspool/logspool/spool/record"
)

var errUnimplemented = errors.New("spool: not implemented yet")

// Spool is a durable, capped queue of records plus source checkpoints.
type Spool struct{}

// Open opens (creating if needed) the spool in cfg.Dir. It fails with an error
// wrapping ErrLocked when another process holds the directory, and with a
// clear error when the directory is corrupt or unreadable.
func Open(cfg Config) (*Spool, error) { return nil, errUnimplemented }

// Append stores recs and the checkpoints they advance in one atomic write.
// It blocks while the spool is full, until space frees or ctx is done.
func (s *Spool) Append(ctx context.Context, recs []record.Record, cps ...record.Checkpoint) error {
	return errUnimplemented
}

// Checkpoint returns the stored value for key, or nil when there is none.
func (s *Spool) Checkpoint(key string) ([]byte, error) { return nil, errUnimplemented }

// Checkpoints returns every stored checkpoint whose key starts with prefix.
func (s *Spool) Checkpoints(prefix string) (map[string][]byte, error) { return nil, errUnimplemented }

// Lease blocks until records are available (or ctx is done) and leases the
// oldest unleased ones, up to about maxBytes (at least one segment). Several
// leases may be outstanding; they may finish in any order.
func (s *Spool) Lease(ctx context.Context, maxBytes int) (*Lease, error) { return nil, errUnimplemented }

// TryLease is Lease without waiting: it returns nil, nil when no unleased
// records are queued (offline replay uses it to know the spool is drained).
func (s *Spool) TryLease(maxBytes int) (*Lease, error) { return nil, errUnimplemented }

// Stats returns a snapshot of the spool's counters.
func (s *Spool) Stats() Stats { return Stats{} }

// DeadLetters calls fn for each dead letter, oldest first, with its key.
func (s *Spool) DeadLetters(fn func(key uint64, dl DeadLetter) error) error { return errUnimplemented }

// RetryDeadLetters moves the given dead letters (all when keys is empty) back
// into the queue and returns how many moved.
func (s *Spool) RetryDeadLetters(keys []uint64) (int, error) { return 0, errUnimplemented }

// DropDeadLetters deletes the given dead letters (all when keys is empty) and
// returns how many were deleted.
func (s *Spool) DropDeadLetters(keys []uint64) (int, error) { return 0, errUnimplemented }

// Close syncs and closes the spool. Outstanding leases are released: their
// records are delivered again after the next Open.
func (s *Spool) Close() error { return errUnimplemented }

// Lease is a set of queued records handed to one consumer.
type Lease struct {
	// Records are the leased records, oldest first.
	Records []record.Record
}

// Done finishes the lease: it deletes the leased records from the queue and
// stores dead (a subset of Records, with reasons) in the dead-letter area, in
// one atomic write. Call it only when every record is delivered or dead.
func (l *Lease) Done(dead []DeadLetter) error { return errUnimplemented }

// Release hands the records back to the queue for another lease (a nack).
func (l *Lease) Release() {}

// Bytes is the sum of record.Size() over the leased records.
func (l *Lease) Bytes() int { return 0 }
