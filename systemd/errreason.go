package systemd

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/logspool/logspool/systemd/journalfile"
)

// errnoNames are the errno words used as the reason label of
// logspool_input_errors_total (shared with the container input).
var errnoNames = map[syscall.Errno]string{
	syscall.EACCES:       "eacces",
	syscall.EPERM:        "eperm",
	syscall.ENOENT:       "enoent",
	syscall.ENOTDIR:      "enotdir",
	syscall.EISDIR:       "eisdir",
	syscall.ELOOP:        "eloop",
	syscall.ENAMETOOLONG: "enametoolong",
	syscall.EMFILE:       "emfile",
	syscall.ENFILE:       "enfile",
	syscall.ENOMEM:       "enomem",
	syscall.EIO:          "eio",
	syscall.ENXIO:        "enxio",
	syscall.ESTALE:       "estale",
	syscall.EOVERFLOW:    "eoverflow",
	syscall.EINVAL:       "einval",
	syscall.EBADF:        "ebadf",
	syscall.EAGAIN:       "eagain",
	syscall.EINTR:        "eintr",
	syscall.ENODEV:       "enodev",
	syscall.ETIMEDOUT:    "etimedout",
}

// errReason is the short reason word of err for
// logspool_input_errors_total{input="journal",reason}: the errno in lower
// case (eacces, eloop, emfile, eio, …), not_regular, or what a journal file
// was refused for (not_journal, unsupported, truncated_header, corrupt).
func errReason(err error) string {
	var errno syscall.Errno
	switch {
	case err == nil:
		return "none"
	case errors.Is(err, errNotRegular):
		return "not_regular"
	case errors.Is(err, journalfile.ErrNotJournal):
		return "not_journal"
	case errors.Is(err, journalfile.ErrUnsupported):
		return "unsupported"
	case errors.Is(err, journalfile.ErrTruncatedHeader):
		return "truncated_header"
	case errors.As(err, &errno):
		if name, ok := errnoNames[errno]; ok {
			return name
		}
		return fmt.Sprintf("errno_%d", int(errno))
	}
	var ce *journalfile.CorruptionError
	if errors.As(err, &ce) {
		return "corrupt"
	}
	return "other"
}

// isFormatError reports whether err says what a file holds (not a journal,
// an unknown flag, shorter than its header, damaged) rather than that it
// could not be read: such a file is retried when it changes, not on a timer.
func isFormatError(err error) bool {
	var ce *journalfile.CorruptionError
	return errors.Is(err, journalfile.ErrNotJournal) || errors.Is(err, journalfile.ErrUnsupported) ||
		errors.Is(err, journalfile.ErrTruncatedHeader) || errors.As(err, &ce)
}
