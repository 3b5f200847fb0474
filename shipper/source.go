package shipper

import (
	"context"

	"github.com/logspool/logspool/spool"
	"github.com/logspool/logspool/spool/record"
)

// Batch is one lease of records. Exactly one of Done or Release is called on
// it, once.
type Batch interface {
	// Records are the leased records, oldest first. The shipper does not
	// modify them.
	Records() []record.Record
	// Done acknowledges the batch: every record is delivered, except dead,
	// which Elasticsearch refused for good and which the source keeps in its
	// dead-letter area.
	Done(dead []spool.DeadLetter) error
	// Release hands the records back for another lease (a nack).
	Release()
}

// Source hands out batches, oldest first. Several may be outstanding and be
// finished in any order.
type Source interface {
	// Lease blocks until records are available or ctx is done, then leases
	// up to about maxBytes of them.
	Lease(ctx context.Context, maxBytes int) (Batch, error)
	// TryLease is Lease without waiting: it returns nil, nil when nothing is
	// queued.
	TryLease(maxBytes int) (Batch, error)
}

// FromSpool adapts a *spool.Spool to Source.
func FromSpool(s *spool.Spool) Source { return spoolSource{s} }

type spoolSource struct{ s *spool.Spool }

func (s spoolSource) Lease(ctx context.Context, maxBytes int) (Batch, error) {
	l, err := s.s.Lease(ctx, maxBytes)
	if err != nil || l == nil {
		return nil, err
	}
	return spoolBatch{l}, nil
}

func (s spoolSource) TryLease(maxBytes int) (Batch, error) {
	l, err := s.s.TryLease(maxBytes)
	if err != nil || l == nil {
		return nil, err // never a non-nil interface holding a nil *Lease
	}
	return spoolBatch{l}, nil
}

type spoolBatch struct{ l *spool.Lease }

func (b spoolBatch) Records() []record.Record           { return b.l.Records }
func (b spoolBatch) Done(dead []spool.DeadLetter) error { return b.l.Done(dead) }
func (b spoolBatch) Release()                           { b.l.Release() }

// batchBytes is the sum of record.Size() over b's records.
func batchBytes(b Batch) int {
	n := 0
	recs := b.Records()
	for i := range recs {
		n += recs[i].Size()
	}
	return n
}
