package shipper

import (
	"errors"
	"fmt"
)

// Sentinel errors.
var (
	// ErrRunning: Run or Drain was called while another one is running.
	ErrRunning = errors.New("shipper: already running")
	// ErrDrainIncomplete: Drain stopped (its context ended) before the
	// source was empty; the undelivered batches were released.
	ErrDrainIncomplete = errors.New("shipper: drain incomplete")
)

// StatusError is a whole _bulk (or setup, or info) request answered with an
// error status. The batch is retried.
type StatusError struct {
	Op     string // "bulk", "info", "setup"
	Status int
	Text   string // status and the server's error, shortened
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("shipper: %s request failed: %s", e.Op, e.Text)
}

// BadResponseError is a 2xx _bulk response that cannot be trusted: not
// JSON, truncated, or with items that do not match the request. The whole
// batch is retried (op_type create makes that safe).
type BadResponseError struct {
	Reason string
	Body   []byte // the start of the body
}

func (e *BadResponseError) Error() string {
	return fmt.Sprintf("shipper: bad bulk response: %s (body %q)", e.Reason, e.Body)
}
