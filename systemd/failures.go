package systemd

import (
	"time"
)

// maxRetryBackoff is the longest wait before a failing journal path
// (directory or file) is examined again.
const maxRetryBackoff = 30 * time.Second

// failure is a journal path that failed: it is reported once, counted once,
// and examined again after a backoff that doubles with every failed attempt
// (from PollInterval to maxRetryBackoff).
type failure struct {
	reason   string
	attempts int
	retryAt  time.Time
}

// failures tracks the failing paths of one Input.
type failures struct {
	in    *Input
	paths map[string]*failure
}

// fail records that path failed with err while doing kind (reasonScan,
// reasonOpen). The first failure, and a failure for another reason, is
// logged (with the errno) and counted in logspool_input_errors_total and
// logspool_journal_errors_total; a repeated one only pushes the next attempt
// further out.
func (f *failures) fail(path, kind string, err error) {
	reason := errReason(err)
	st := f.paths[path]
	if st == nil || st.reason != reason {
		st = &failure{reason: reason}
		f.paths[path] = st
		f.in.met.inputErr(reason)
		f.in.met.err(kind)
		f.in.log.Warn("journal: cannot use a path; the others go on, it is retried with backoff",
			"path", path, "failed", kind, "reason", reason, "err", err)
	}
	backoff := f.in.cfg.PollInterval << min(st.attempts, 16)
	if backoff <= 0 || backoff > maxRetryBackoff {
		backoff = maxRetryBackoff
	}
	st.attempts++
	st.retryAt = f.in.now().Add(backoff)
}

// waiting reports whether path failed and its retry time has not come.
func (f *failures) waiting(path string) bool {
	st := f.paths[path]
	return st != nil && f.in.now().Before(st.retryAt)
}

// ok records that path worked again (logged once).
func (f *failures) ok(path string) {
	if st := f.paths[path]; st != nil {
		delete(f.paths, path)
		f.in.log.Info("journal: a path that failed is usable again", "path", path, "was", st.reason, "attempts", st.attempts)
	}
}

// forgetMissing drops the failures of paths that were neither examined nor
// held by the last scan (they are gone).
func (f *failures) forget(keep func(path string) bool) {
	for p := range f.paths {
		if !keep(p) {
			delete(f.paths, p)
		}
	}
}
