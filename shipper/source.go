package shipper

import (
	"context"
	"errors"

	"github.com/logspool/logspool/spool/record"
)

// ErrSourceClosed is wrapped by a Source's Lease error when the source is
// closed for good: Run ends with it instead of retrying.
var ErrSourceClosed = errors.New("shipper: source closed")

// Batch is one lease of records.
//
// Exactly one of Done or Release is called on it, once. A Done that returns
// an error has released the batch, as Release does: the source leases its
// records again (delivering them twice is safe: their _ids make the second
// copy a 409).
type Batch interface {
	// Records are the leased records, oldest first. The shipper does not
	// modify them.
	Records() []record.Record
	// Done acknowledges the batch: every record is delivered, except dead,
	// which Elasticsearch refused for good and which the source keeps in its
	// dead-letter area.
	Done(dead []record.DeadLetter) error
	// Release hands the records back for another lease (a nack).
	Release()
}

// Source hands out batches, oldest first. Several may be outstanding and be
// finished in any order. cmd/logspool adapts the spool to it.
type Source interface {
	// Lease blocks until records are available or ctx is done, then leases
	// up to about maxBytes of them.
	Lease(ctx context.Context, maxBytes int) (Batch, error)
	// TryLease is Lease without waiting: it returns nil, nil when nothing is
	// queued.
	TryLease(maxBytes int) (Batch, error)
}

// batchBytes is the sum of record.Size() over b's records.
func batchBytes(b Batch) int {
	n := 0
	recs := b.Records()
	for i := range recs {
		n += recs[i].Size()
	}
	return n
}
