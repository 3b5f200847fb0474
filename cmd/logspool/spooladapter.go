package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/logspool/logspool/shipper"
	"github.com/logspool/logspool/spool"
	"github.com/logspool/logspool/spool/record"
)

// spoolSource is the spool as the shipper's Source: the one place where the
// two stages meet (the shipper does not import the spool). The lease
// contract both sides keep is the spool's ack story (spool/doc.go, step 5).
type spoolSource struct{ sp *spool.Spool }

func (s spoolSource) Lease(ctx context.Context, maxBytes int) (shipper.Batch, error) {
	return leased(s.sp.Lease(ctx, maxBytes))
}

func (s spoolSource) TryLease(maxBytes int) (shipper.Batch, error) {
	return leased(s.sp.TryLease(maxBytes))
}

// leased turns a spool lease into a Batch; never a non-nil interface holding
// a nil *spool.Lease.
func leased(l *spool.Lease, err error) (shipper.Batch, error) {
	if errors.Is(err, spool.ErrClosed) {
		err = fmt.Errorf("%w: %w", shipper.ErrSourceClosed, err)
	}
	if l == nil {
		return nil, err
	}
	return spoolBatch{l}, err
}

// spoolBatch is a spool lease as a shipper Batch; Done and Release are the
// lease's own.
type spoolBatch struct{ *spool.Lease }

func (b spoolBatch) Records() []record.Record { return b.Lease.Records }
