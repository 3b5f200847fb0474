package shipper

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/logspool/logspool/internal/configerr"
)

// StdoutConfig configures a Stdout output. Zero values mean the defaults.
type StdoutConfig struct {
	// BatchBytes is how much one lease asks for. Default 5 MiB.
	BatchBytes int
	// BufferBytes is the size of the write buffer. Default 256 KiB.
	BufferBytes int
	// Logger receives messages. Default slog.Default().
	Logger *slog.Logger
	// Metrics counts written records as delivered items; nil disables.
	Metrics *Metrics
}

// Validate reports the first invalid field of c.
func (c StdoutConfig) Validate() error {
	if c.BatchBytes < 0 {
		return configerr.New(ErrInvalidConfig, "BatchBytes", "negative (%d)", c.BatchBytes)
	}
	if c.BufferBytes < 0 {
		return configerr.New(ErrInvalidConfig, "BufferBytes", "negative (%d)", c.BufferBytes)
	}
	return nil
}

// Stdout drains a Source as NDJSON (one Doc per line) into a writer. A batch
// is acknowledged only after its lines were written and the buffer flushed;
// a write error releases it and stops the output, as a failed
// acknowledgement does.
type Stdout struct {
	out     io.Writer
	w       *bufio.Writer
	scratch []byte
	src     Source
	cfg     StdoutConfig
	running atomic.Bool
	records atomic.Int64
	bytes   atomic.Int64
}

// NewStdout returns an output writing src's documents to w.
func NewStdout(w io.Writer, src Source, cfg StdoutConfig) (*Stdout, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if w == nil || src == nil {
		return nil, fmt.Errorf("%w: writer and source are required", ErrInvalidConfig)
	}
	if cfg.BatchBytes == 0 {
		cfg.BatchBytes = DefaultBatchBytes
	}
	if cfg.BufferBytes == 0 {
		cfg.BufferBytes = 256 << 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Stdout{out: w, w: bufio.NewWriterSize(w, cfg.BufferBytes), src: src, cfg: cfg}, nil
}

// Run writes batches until ctx is cancelled (then it returns nil) or a write
// fails (then it returns the error; the batch was released).
func (o *Stdout) Run(ctx context.Context) error {
	if !o.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer o.running.Store(false)
	for {
		b, err := o.src.Lease(ctx, o.cfg.BatchBytes)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("shipper: leasing records: %w", err)
		}
		if b == nil {
			continue
		}
		if err := o.write(b); err != nil {
			return err
		}
	}
}

// Drain writes batches until the source is empty and returns what it wrote.
// When ctx ends first it returns an error wrapping ErrDrainIncomplete.
func (o *Stdout) Drain(ctx context.Context, progress func(Progress)) (Summary, error) {
	if !o.running.CompareAndSwap(false, true) {
		return Summary{}, ErrRunning
	}
	defer o.running.Store(false)
	start := time.Now()
	r0, b0 := o.records.Load(), o.bytes.Load()
	sum := func() Summary {
		return Summary{Delivered: o.records.Load() - r0, Bytes: o.bytes.Load() - b0, Elapsed: time.Since(start)}
	}
	for {
		if err := ctx.Err(); err != nil {
			return sum(), fmt.Errorf("%w: %w", ErrDrainIncomplete, err)
		}
		b, err := o.src.TryLease(o.cfg.BatchBytes)
		if err != nil {
			return sum(), fmt.Errorf("shipper: leasing records: %w", err)
		}
		if b == nil {
			return sum(), nil
		}
		if err := o.write(b); err != nil {
			return sum(), err
		}
		if progress != nil {
			progress(sum())
		}
	}
}

func (o *Stdout) write(b Batch) error {
	recs := b.Records()
	n := 0
	var dw docWriter
	for i := range recs {
		o.scratch = dw.appendLine(o.scratch[:0], &recs[i])
		if _, err := o.w.Write(o.scratch); err != nil {
			return o.fail(b, err)
		}
		n += recs[i].Size()
	}
	if err := o.w.Flush(); err != nil {
		return o.fail(b, err)
	}
	o.records.Add(int64(len(recs)))
	o.bytes.Add(int64(n))
	o.cfg.Metrics.itemsDone(len(recs), 0, 0, 0)
	if err := b.Done(nil); err != nil {
		// The source released the batch: its lines are written again by
		// the next run, as after a write error.
		return fmt.Errorf("shipper: acknowledging %d written records: %w", len(recs), err)
	}
	return nil
}

func (o *Stdout) fail(b Batch, err error) error {
	b.Release()
	o.w.Reset(o.out) // drop the half-written buffer; bufio keeps the error otherwise
	return fmt.Errorf("shipper: writing records to the output: %w", err)
}
