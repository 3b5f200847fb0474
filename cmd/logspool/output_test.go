package main

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/logspool/logspool/shipper"
	"github.com/logspool/logspool/spool"
	"github.com/logspool/logspool/spool/record"
)

// forgetfulBatch forgets its records once done, as a spool lease does.
type forgetfulBatch struct{ recs []record.Record }

func (b *forgetfulBatch) Records() []record.Record           { return b.recs }
func (b *forgetfulBatch) Done(dead []spool.DeadLetter) error { b.recs = nil; return nil }
func (b *forgetfulBatch) Release()                           {}

type oneBatch struct{ b shipper.Batch }

func (s oneBatch) Lease(context.Context, int) (shipper.Batch, error) { return s.b, nil }
func (s oneBatch) TryLease(int) (shipper.Batch, error)               { return s.b, nil }

// TestFinishedBatchesAreCounted: /healthz's progress and the output's
// document count see every finished record, although a finished lease
// forgets its records.
func TestFinishedBatchesAreCounted(t *testing.T) {
	recs := []record.Record{{Doc: []byte(`{"a":1}`)}, {Doc: []byte(`{"b":22}`)}}
	src := &countingSource{Source: oneBatch{&forgetfulBatch{recs: recs}}, acked: new(atomic.Int64),
		metrics: newOutputMetrics(nil), newline: 1}
	b, err := src.TryLease(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Done(nil); err != nil {
		t.Fatal(err)
	}
	if got := src.acked.Load(); got != 2 {
		t.Fatalf("acked = %d, want 2", got)
	}
	if got := counterValue(t, src.metrics.bytes); got != 7+8+2 {
		t.Fatalf("document bytes = %v, want 17", got)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
