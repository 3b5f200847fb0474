// Package appendretry is the inputs' one retrying append loop: both the
// container files (tailer) and the journal (systemd) store a batch of
// records with its source position by calling Do, which tries the append
// until it succeeds or the context ends, waiting between failures.
//
// Retrying is safe because a failed append stores nothing: neither the
// records nor the position move (the spool's one-transaction guarantee), so
// the same batch with the same position is offered again. The batch is never
// skipped: skipping it would lose the records while the reader's position
// already points past them.
package appendretry

import (
	"context"
	"time"
)

// Backoff is the wait between failed attempts: Initial after the first
// failure, doubling after each further one up to Max.
type Backoff struct {
	Initial, Max time.Duration
}

// Do calls try until it returns nil or ctx is done. After each failure
// (unless ctx is done by then) it calls failed with the number of failures
// before this one (0 for the first), the wait before the next attempt and the
// error, then waits. When try succeeds after n > 0 failures, recovered(n) is
// called (recovered may be nil). Do returns nil, or ctx.Err() once ctx is
// done after a failed attempt.
func Do(ctx context.Context, b Backoff, try func() error, failed func(n int, wait time.Duration, err error), recovered func(n int)) error {
	wait := b.Initial
	for n := 0; ; n++ {
		err := try()
		if err == nil {
			if n > 0 && recovered != nil {
				recovered(n)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		failed(n, wait, err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, b.Max)
	}
}
