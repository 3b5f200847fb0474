package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/logspool/logspool/shipper"
	"github.com/logspool/logspool/spool"
)

// runReplay is `logspool replay`: ship what a stopped agent left in a spool
// directory (for example one copied off a dead node), then exit: 0 when the
// spool is drained, non-zero with a clear message otherwise. Without --es-url
// the records go to stdout as NDJSON.
func runReplay(c *cli.Context, stdout, stderr io.Writer) error {
	log, _, err := newLogger(c, stderr)
	if err != nil {
		return cli.Exit(err, 2)
	}
	node := c.String("node-name")
	if node == "" {
		node, _ = nodeName(c)
	}
	cfg, err := outputConfig(c, node, log)
	if err != nil {
		return cli.Exit(err, 2)
	}
	dir := c.String("spool-dir")
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("spool directory: %w", err)
	}
	sp, err := spool.Open(spool.Config{Dir: dir, Logger: log}) // the spool adds component=spool itself
	if errors.Is(err, spool.ErrLocked) {
		return fmt.Errorf("%s is held by a running logspool agent; stop it first, or use `logspool status` to watch it: %w", dir, err)
	}
	if err != nil {
		return fmt.Errorf("opening spool %s: %w", dir, err)
	}
	defer sp.Close()
	before := sp.Stats()
	out, err := newOutput(cfg, sp, stdout, nil)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if d := c.Duration("timeout"); d > 0 {
		var cancelT context.CancelFunc
		ctx, cancelT = context.WithTimeoutCause(ctx, d, fmt.Errorf("%w: not drained within --timeout %s", errGaveUp, d))
		defer cancelT()
	}
	bar := newProgressBar(stderr, before.QueuedRecords, out.name == "stdout")
	watch := newStallWatch(c.Duration("give-up-after"), time.Now)
	go watch.run(ctx, func() {
		cancel(fmt.Errorf("%w: nothing delivered for --give-up-after %s", errGaveUp, watch.limit))
	})
	sum, err := out.drain(ctx, func(p shipper.Progress) {
		watch.observe(p.Delivered + p.Duplicates + p.DeadLettered)
		bar.update(p)
	})
	bar.finish()
	after := sp.Stats()
	fmt.Fprintf(stderr, "replay of %s to %s: %d delivered, %d already present, %d dead-lettered, %d retries, in %s; %d records not delivered (left in the spool)\n",
		dir, out.name, sum.Delivered, sum.Duplicates, sum.DeadLettered, sum.Retries, sum.Elapsed.Round(time.Millisecond), after.QueuedRecords)
	if err != nil {
		cause := context.Cause(ctx)
		why := err.Error()
		if h, ok := out.health(); ok && !h.Reachable && h.LastError != "" {
			why = "last error: " + h.LastError
		}
		if errors.Is(cause, errGaveUp) {
			return cli.Exit(fmt.Errorf("%w (%s); %d records remain in %s: run it again to resume", cause, why, after.QueuedRecords, dir), exitGaveUp)
		}
		return fmt.Errorf("replay incomplete, %d records remain in %s (run it again to resume): %w", after.QueuedRecords, dir, err)
	}
	if after.QueuedRecords > 0 {
		return fmt.Errorf("replay incomplete: %d records remain in %s", after.QueuedRecords, dir)
	}
	if after.DeadLetters > 0 {
		fmt.Fprintf(stderr, "%d dead letters are kept: see `logspool spool dlq list --spool-dir %s`\n", after.DeadLetters, dir)
	}
	return nil
}

// exitGaveUp is replay's exit code when it gave up (--give-up-after,
// --timeout) with records left: 0 is drained, 1 another error, 2 a usage
// error.
const exitGaveUp = 3

var errGaveUp = errors.New("replay gave up")

// stallWatch calls back once when the count it observes has not moved for
// limit (0: never).
type stallWatch struct {
	limit time.Duration
	now   func() time.Time

	mu     sync.Mutex
	count  int64
	moved  time.Time
	period time.Duration
}

func newStallWatch(limit time.Duration, now func() time.Time) *stallWatch {
	period := limit / 20
	period = min(max(period, 10*time.Millisecond), time.Second)
	return &stallWatch{limit: limit, now: now, moved: now(), period: period}
}

// observe records the count of finished records so far.
func (w *stallWatch) observe(n int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n != w.count {
		w.count, w.moved = n, w.now()
	}
}

// stalled reports whether nothing moved for longer than the limit.
func (w *stallWatch) stalled() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.limit > 0 && w.now().Sub(w.moved) > w.limit
}

// run checks until ctx ends and calls giveUp once when stalled.
func (w *stallWatch) run(ctx context.Context, giveUp func()) {
	if w.limit <= 0 {
		return
	}
	t := time.NewTicker(w.period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if w.stalled() {
				giveUp()
				return
			}
		}
	}
}

// progressBar draws a one-line progress bar on a terminal; elsewhere it
// stays silent (the summary line is printed either way).
type progressBar struct {
	mu    sync.Mutex
	w     io.Writer
	total int64
	on    bool
	last  time.Time
}

func newProgressBar(w io.Writer, total int64, quiet bool) *progressBar {
	on := false
	if f, ok := w.(*os.File); ok && !quiet {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			on = true
		}
	}
	return &progressBar{w: w, total: total, on: on}
}

func (p *progressBar) update(s shipper.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.on || time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	done := s.Delivered + s.Duplicates + s.DeadLettered
	frac := 1.0
	if p.total > 0 {
		frac = min(1, float64(done)/float64(p.total))
	}
	const width = 30
	n := int(frac * width)
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = '.'
		if i < n {
			bar[i] = '#'
		}
	}
	fmt.Fprintf(p.w, "\r[%s] %3.0f%% %d/%d records, %d retries", bar, 100*frac, done, p.total, s.Retries)
}

func (p *progressBar) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.on {
		fmt.Fprintln(p.w)
	}
}
