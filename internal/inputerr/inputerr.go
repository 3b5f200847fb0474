// Package inputerr is what the inputs (tailer, systemd) share about their
// errors: the one definition of logspool_input_errors_total{input,reason},
// registered by whichever input comes first and reused by the other, and the
// errno words of its reason label, so that both inputs name a failure alike.
package inputerr

import (
	"errors"
	"strconv"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
)

// NewCounter returns a new logspool_input_errors_total{input,reason}. Every
// input must create it here: a Registerer refuses one name with two help
// texts.
func NewCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "logspool_input_errors_total",
		Help: "Input errors by input (containers, journal) and reason (eacces, emfile, eloop, enoent, eio, not_regular, ...): each failure is logged once and retried.",
	}, []string{"input", "reason"})
}

// Register registers c with reg, or returns the identical collector reg
// already holds (registered by another input). It panics on any other
// registration error (a programming error).
func Register(reg prometheus.Registerer, c *prometheus.CounterVec) *prometheus.CounterVec {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

// errnoNames are the errnos named in the reason label.
var errnoNames = map[syscall.Errno]string{
	syscall.EACCES:       "eacces",
	syscall.EPERM:        "eperm",
	syscall.EMFILE:       "emfile",
	syscall.ENFILE:       "enfile",
	syscall.ELOOP:        "eloop",
	syscall.ENAMETOOLONG: "enametoolong",
	syscall.ENOTDIR:      "enotdir",
	syscall.ENOENT:       "enoent",
	syscall.EIO:          "eio",
	syscall.ENOMEM:       "enomem",
	syscall.ENXIO:        "enxio",
	syscall.EISDIR:       "eisdir",
	syscall.ESTALE:       "estale",
	syscall.EOVERFLOW:    "eoverflow",
	syscall.EINVAL:       "einval",
	syscall.ENOSPC:       "enospc",
	syscall.EBADF:        "ebadf",
	syscall.ENODEV:       "enodev",
	syscall.EAGAIN:       "eagain",
	syscall.EINTR:        "eintr",
	syscall.ETIMEDOUT:    "etimedout",
}

// Errno returns the reason word of the errno err wraps: its lower-case name
// (eacces, emfile, eio, ...) or "errno_<n>" for one without a name here. ok
// is false when err wraps no errno.
func Errno(err error) (reason string, ok bool) {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return "", false
	}
	if s, ok := errnoNames[errno]; ok {
		return s, true
	}
	return "errno_" + strconv.FormatUint(uint64(errno), 10), true
}
