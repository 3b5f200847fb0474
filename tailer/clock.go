package tailer

import "time"

// Clock is the tailer's time seam, the shape of the shipper's Clock: the
// scan loop's poll tick and every reader's wait go through it, and so does
// every time the tailer measures against its own earlier readings (idle and
// inactive files, partial lines, the commit gap, fault backoff, descriptor
// pressure, the scan's liveness). Times compared with the file system's
// (file mtimes, a checkpoint's write time, the nonce) stay the wall clock's,
// so a test clock moved ahead does not make new files look old.
type Clock interface {
	Now() time.Time
	// NewTimer returns a channel that receives once d has passed, and the
	// timer, to stop it (as time.Timer's C and the timer itself).
	NewTimer(d time.Duration) (<-chan time.Time, Timer)
}

// Timer is a timer of a Clock; *time.Timer is one.
type Timer interface {
	Stop() bool
}

// realClock is the default Clock: the runtime's.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) (<-chan time.Time, Timer) {
	t := time.NewTimer(d)
	return t.C, t
}
