package tailer

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMetricsAreRegisteredUnderTheirNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.setFiles(2)
	m.read(10, 1)
	m.setLag("/p", 5)
	m.rotation("rename")
	m.lostBytes(LostTruncated, 3)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	want := []string{
		"logspool_input_lost_bytes_total",
		"logspool_tailer_bytes_total",
		"logspool_tailer_files_parked",
		"logspool_tailer_files_waiting",
		"logspool_tailer_files_watched",
		"logspool_tailer_lag_bytes",
		"logspool_tailer_lines_total",
		"logspool_tailer_rotations_total",
		"logspool_tailer_unwatched_dirs",
	}
	if !slices.Equal(names, want) {
		t.Fatalf("registered %v, want %v", names, want)
	}
}

func TestMetricsShareAnAlreadyRegisteredLostBytesCounter(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := NewMetrics(reg)
	b := NewMetrics(reg) // a second tailer, or another input with the same counter
	a.lostBytes(LostTruncated, 1)
	b.lostBytes(LostTruncated, 2)
	if got := counterValue(t, a.lost.WithLabelValues(LostTruncated)); got != 3 {
		t.Fatalf("shared counter = %v, want 3", got)
	}
}

func TestLagSeriesIsDeletedWhenTheFileIsReleased(t *testing.T) {
	e := newEnv(t)
	path := e.containers + "/app.log"
	mustWriteLines(t, path, "a")
	tl := e.start()
	waitUntilCount(t, e.sink, 1)
	series := func() int {
		mfs, _ := e.reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "logspool_tailer_lag_bytes" {
				return len(mf.GetMetric())
			}
		}
		return 0
	}
	waitFor(t, 5*time.Second, "the lag series", func() bool { return series() == 1 })
	mustRemove(t, path)
	waitFor(t, 10*time.Second, "the file to be released", func() bool { return len(tl.Files()) == 0 })
	if n := series(); n != 0 {
		t.Fatalf("%d lag series after the release, want 0", n)
	}
}

// TestAFileNameThatIsNotUTF8IsReadWithoutAPanic: a file name is bytes; one
// that is not UTF-8 (bad\xff.log) became the path label of the lag gauge,
// which Prometheus refuses with a panic: the reader panicked, was counted and
// restarted after every commit. The label keeps the invalid bytes escaped.
func TestAFileNameThatIsNotUTF8IsReadWithoutAPanic(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.containers, "bad\xff\xfe.log")
	mustWriteLines(t, path, seqLines("b", 0, 5)...)
	e.start()
	waitUntilCount(t, e.sink, 5)
	mustWriteLines(t, path, seqLines("b", 5, 10)...)
	waitUntilCount(t, e.sink, 10)
	time.Sleep(300 * time.Millisecond) // a panic after the commit would show by now
	if got := e.inputErrors("panic"); got != 0 {
		t.Errorf("%v reader panics, want none", got)
	}
	checkExactlyOnce(t, e.sink.messages(), "b", 10)
	want := filepath.Join(e.containers, `bad\xff\xfe.log`)
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, mf := range mfs {
		if mf.GetName() != "logspool_tailer_lag_bytes" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				paths = append(paths, l.GetValue())
			}
		}
	}
	if !slices.Contains(paths, want) {
		t.Errorf("lag series paths %q, want %q (the invalid bytes escaped)", paths, want)
	}
}
