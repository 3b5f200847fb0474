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
	if d := c.Duration("timeout"); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	bar := newProgressBar(stderr, before.QueuedRecords, out.name == "stdout")
	sum, err := out.drain(ctx, bar.update)
	bar.finish()
	after := sp.Stats()
	fmt.Fprintf(stderr, "replay of %s to %s: %d delivered, %d already present, %d dead-lettered, %d retries, %d records left, in %s\n",
		dir, out.name, sum.Delivered, sum.Duplicates, sum.DeadLettered, sum.Retries, after.QueuedRecords, sum.Elapsed.Round(time.Millisecond))
	if err != nil {
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
