package systemd

import (
	"errors"

	"github.com/logspool/logspool/internal/inputerr"
	"github.com/logspool/logspool/systemd/journalfile"
)

// errReason is the short reason word of err for
// logspool_input_errors_total{input="journal",reason}: the errno in lower
// case (eacces, eloop, emfile, eio, …), not_regular, or what a journal file
// was refused for (not_journal, unsupported, truncated_header, corrupt).
func errReason(err error) string {
	if reason, ok := inputerr.Errno(err); ok {
		return reason
	}
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
