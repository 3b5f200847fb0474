// Package testenv is for tests that need something from the machine (a
// tool such as systemd-journal-remote, root, a tmpfs mount): without it
// they skip, and say why where it is seen, except in CI, where .ci/run
// installs everything and sets LOGSPOOL_CI=1, and a missing tool is a
// failure, not a silent skip.
//
// go test shows a skip's message only with -v. So Missing also appends it to
// the file named by LOGSPOOL_SKIP_LOG, which `make test` prints after the
// run.
package testenv

import (
	"fmt"
	"os"
	"testing"
)

// InCI reports whether the tests run in CI (LOGSPOOL_CI=1).
func InCI() bool { return os.Getenv("LOGSPOOL_CI") == "1" }

// Missing ends t because something it needs is missing: a failure in CI, a
// skip elsewhere, recorded in LOGSPOOL_SKIP_LOG with the test's name.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	why := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("%s (LOGSPOOL_CI=1: CI must provide it)", why)
	}
	if path := os.Getenv("LOGSPOOL_SKIP_LOG"); path != "" {
		if f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintf(f, "SKIP %s: %s\n", t.Name(), why)
			f.Close()
		}
	}
	t.Skip(why)
}
