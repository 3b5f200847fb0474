package tailer

import (
	"fmt"
	"time"
)

// DefaultStallGrace is the default of Config.StallGrace.
const DefaultStallGrace = 2 * time.Minute

// panicsToStall is how many recovered panics in a row make a path count as
// stalled: its reader is restarted each time but never gets anywhere.
const panicsToStall = 3

// Stalled reports whether the tailer has stopped doing its job, and why:
//
//   - the scan loop (discovery, rotation, retries) has not completed a scan
//     for ResyncInterval plus max(5 poll intervals, 30 s) (that capped at
//     StallGrace), while not waiting
//     for the spool (a full spool pauses everything by design: the spool
//     reports that itself);
//   - a file has unread bytes and its reader has neither committed nor
//     reached the end of the file for StallGrace, while not waiting for the
//     spool and not failing to read (a read error is a fault of that file:
//     counted, logged and retried, not a stall of the tailer);
//   - a file's reader panicked panicsToStall times in a row.
//
// A file that cannot be opened (EACCES, ...) is not a stall: it is counted in
// logspool_input_errors_total and logged, and the rest goes on. Stalled is
// safe to call from any goroutine; before Run and after it returns it
// reports false.
func (t *Tailer) Stalled(now time.Time) (bool, string) {
	if t.runningSince.Load() == 0 {
		return false, ""
	}
	if st, why := t.scanStalled(now); st {
		return st, why
	}
	return t.readersStalled(now)
}

func (t *Tailer) scanStalled(now time.Time) (bool, string) {
	// An idle scan loop with working notifications scans only every
	// ResyncInterval.
	scanLimit := t.cfg.ResyncInterval + min(max(5*t.cfg.PollInterval, 30*time.Second), t.cfg.StallGrace)
	if last := time.Unix(0, t.lastScan.Load()); now.Sub(last) > scanLimit && !t.scanAppending.Load() {
		return true, fmt.Sprintf("container scan loop has not completed a scan for %s", now.Sub(last).Round(time.Second))
	}
	return false, ""
}

func (t *Tailer) readersStalled(now time.Time) (bool, string) {
	grace := t.cfg.StallGrace
	for _, r := range t.readerList() {
		path, unread, waiting, movedAt := r.stallState()
		if unread > 0 && !waiting && now.Sub(movedAt) > grace {
			return true, fmt.Sprintf("reader of %s has not moved for %s with %d bytes unread", path, now.Sub(movedAt).Round(time.Second), unread)
		}
	}
	if p, n := t.faults.worstPanics(); n >= panicsToStall {
		return true, fmt.Sprintf("reader of %s panicked %d times in a row", p, n)
	}
	return false, ""
}
