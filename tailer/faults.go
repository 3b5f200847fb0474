package tailer

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/logspool/logspool/internal/inputerr"
)

// Reasons of logspool_input_errors_total{input="containers"} that are not an
// errno (errno reasons are the errno's lower-case name: eacces, emfile, ...).
const (
	ReasonNotRegular = "not_regular" // a FIFO, directory, socket or device matched the globs
	ReasonPanic      = "panic"       // a reader or the scanner panicked and was restarted
	ReasonOther      = "other"       // an error without an errno
)

// errReason turns err into the reason label of logspool_input_errors_total:
// the errno's name when err wraps one.
func errReason(err error) string {
	if reason, ok := inputerr.Errno(err); ok {
		return reason
	}
	var nr *notRegularError
	if errors.As(err, &nr) {
		return ReasonNotRegular
	}
	var pe *panicError
	if errors.As(err, &pe) {
		return ReasonPanic
	}
	if errors.Is(err, fs.ErrNotExist) {
		return "enoent"
	}
	return ReasonOther
}

// outOfDescriptors reports whether err is EMFILE or ENFILE.
func outOfDescriptors(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// notRegularError reports a path matched by the globs that is not a regular
// file (a FIFO, a directory, a socket, a device): it is never opened.
type notRegularError struct {
	mode fs.FileMode
}

func (e *notRegularError) Error() string {
	return "not a regular file (" + e.mode.Type().String() + ")"
}

// Backoff bounds of a failing path.
const (
	faultMinBackoff = time.Second
	faultMaxBackoff = time.Minute
)

// faults tracks the paths whose last operation failed. Each failure is counted
// in logspool_input_errors_total; it is logged once until the failure changes
// or the path works again; the path is retried with exponential backoff, or
// at once when its metadata changes (a chmod, a new file at the path). It has
// its own mutex, so it may be used with or without Tailer.mu held.
type faults struct {
	log *slog.Logger
	m   *Metrics

	mu    sync.Mutex
	paths map[string]*fault
}

// fault is the state of one failing path.
type fault struct {
	msg     string    // what failed, as logged
	reason  string    // errReason of the error
	stamp   statStamp // the path's metadata when it failed (zero: unknown)
	next    time.Time // no retry before this unless stamp changes
	backoff time.Duration
	count   int
	last    time.Time // when it last failed
}

// statStamp is what changes when a path is fixed: its identity, mode, owner
// and change time.
type statStamp struct {
	ok                 bool
	dev, ino, uid, gid uint64
	mode               fs.FileMode
	ctime              int64
}

// stampOf stats path without following a last symlink beyond what os.Stat
// does; a failing stat gives the zero stamp.
func stampOf(path string) statStamp {
	fi, err := os.Stat(path)
	if err != nil {
		fi, err = os.Lstat(path)
		if err != nil {
			return statStamp{}
		}
	}
	return stampOfInfo(fi)
}

func newFaults(log *slog.Logger, m *Metrics) *faults {
	return &faults{log: log, m: m, paths: make(map[string]*fault)}
}

// maxFaults bounds the failing paths remembered (a directory of broken
// entries must not grow memory without bound); past it the oldest are
// forgotten and, if still failing, logged again.
const maxFaults = 10000

// fail records that op on path failed with err at now: counted always,
// logged when it is new for path, and the next retry is pushed back.
func (f *faults) fail(path, op string, err error, now time.Time) {
	reason := errReason(err)
	f.m.inputError(reason)
	msg := op + ": " + err.Error()
	f.mu.Lock()
	defer f.mu.Unlock()
	ft := f.paths[path]
	if ft == nil {
		if len(f.paths) >= maxFaults {
			clear(f.paths)
		}
		ft = &fault{}
		f.paths[path] = ft
	}
	ft.count++
	if ft.msg != msg {
		ft.msg, ft.reason = msg, reason
		ft.backoff = 0
		f.log.Warn(op+" failed; retrying with backoff", "path", path, "reason", reason, "err", err)
	}
	if outOfDescriptors(err) {
		// Not the path's fault: retry as soon as descriptors are free.
		ft.backoff = 0
	} else {
		ft.backoff = min(max(2*ft.backoff, faultMinBackoff), faultMaxBackoff)
	}
	ft.next = now.Add(ft.backoff)
	ft.last = now
	ft.stamp = stampOf(path)
}

// due reports whether path may be tried at now: it is not failing, its
// backoff has passed, or its metadata changed since it failed.
func (f *faults) due(path string, now time.Time) bool {
	f.mu.Lock()
	ft := f.paths[path]
	f.mu.Unlock()
	if ft == nil || !now.Before(ft.next) {
		return true
	}
	return stampOf(path) != ft.stamp
}

// ok records that path works (again).
func (f *faults) ok(path string) { f.okUnless(path, "") }

// okUnless is ok, except that a failure with reason keep is kept (a reader
// that panicked is cleared only once it made progress, not when its file
// opens again).
func (f *faults) okUnless(path, keep string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ft := f.paths[path]; ft != nil && (keep == "" || ft.reason != keep) {
		delete(f.paths, path)
		f.log.Info("path works again", "path", path, "failures", ft.count)
	}
}

// forget drops, without logging, the paths that keep rejects and that have
// not failed for forgetAfter (a path retried by a pending sweep or gcRetired
// is not logged again at every try).
func (f *faults) forget(keep func(path string) bool, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for p, ft := range f.paths {
		if !keep(p) && now.Sub(ft.last) > forgetAfter {
			delete(f.paths, p)
		}
	}
}

// forgetAfter is how long a failing path that is no longer matched is
// remembered.
const forgetAfter = 10 * time.Minute

// worstPanics returns the path with the most failures in a row whose last
// failure was a panic, and that count.
func (f *faults) worstPanics() (string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var path string
	n := 0
	for p, ft := range f.paths {
		if ft.reason == ReasonPanic && ft.count > n {
			path, n = p, ft.count
		}
	}
	return path, n
}

// any reports whether some path is failing (the scanner then polls, so that
// its retry comes when its backoff allows).
func (f *faults) any() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.paths) > 0
}
