package systemd

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestInputIsolatesABadDirectoryEntry is issue 8, defect 7: one entry of a
// journal directory that cannot be examined (a symlink loop named like a
// journal file, a machine-id sub-directory that cannot be listed) must not
// hide the valid files beside it. Each bad entry is reported and counted on
// its own.
func TestInputIsolatesABadDirectoryEntry(t *testing.T) {
	tests := []struct {
		name   string
		breakf func(t *testing.T, dir string)
		reason string
	}{
		{"a symlink loop named like a journal file", func(t *testing.T, dir string) {
			mustSymlink(t, "loop.journal", filepath.Join(dir, "loop.journal"))
		}, "eloop"},
		{"a machine-id directory that is a symlink loop", func(t *testing.T, dir string) {
			mustSymlink(t, "0123456789abcdef0123456789abcdef", filepath.Join(dir, "0123456789abcdef0123456789abcdef"))
		}, "eloop"},
		{"a journal name whose symlink goes through a file", func(t *testing.T, dir string) {
			mustSymlink(t, "good.journal/x", filepath.Join(dir, "through.journal"))
		}, "enotdir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.breakf(t, dir)
			if err := mustCopyFile(files("basic-compact.journal"), filepath.Join(dir, "good.journal")); err != nil {
				t.Fatal(err)
			}
			sink := newMemSink()
			cfg := testConfig(dir)
			cfg.Metrics = NewMetrics(nil)
			in, _ := NewInput(cfg, sink)
			runInput(t, in, 10*time.Second, func() bool { return sink.count() >= 240 && in.polls.Load() > 3 })
			if n := sink.count(); n != 240 {
				t.Fatalf("shipped %d entries, want the good file's 240", n)
			}
			if got := metricValue(t, cfg.Metrics.inputErrors.WithLabelValues("journal", tt.reason)); got != 1 {
				t.Errorf("logspool_input_errors_total{input=journal,reason=%s} = %v, want 1 (reported once)", tt.reason, got)
			}
		})
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
