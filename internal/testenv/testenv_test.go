package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMissing runs a child test that calls Missing: it skips and logs the
// reason outside CI, and fails in CI.
func TestMissing(t *testing.T) {
	if os.Getenv("TESTENV_CHILD") == "1" {
		Missing(t, "frobnicator is not installed")
		return
	}
	log := filepath.Join(t.TempDir(), "skips")
	run := func(ci string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestMissing$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTENV_CHILD=1", "LOGSPOOL_CI="+ci, "LOGSPOOL_SKIP_LOG="+log)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("")
	if err != nil || !strings.Contains(out, "--- SKIP: TestMissing") {
		t.Fatalf("outside CI: %v, want a skip:\n%s", err, out)
	}
	b, _ := os.ReadFile(log)
	if got := string(b); got != "SKIP TestMissing: frobnicator is not installed\n" {
		t.Fatalf("skip log %q", got)
	}
	out, err = run("1")
	if err == nil || !strings.Contains(out, "--- FAIL: TestMissing") || !strings.Contains(out, "frobnicator is not installed") {
		t.Fatalf("in CI: %v, want a failure naming the tool:\n%s", err, out)
	}
}
