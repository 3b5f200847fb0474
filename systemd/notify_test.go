package systemd

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"

	"github.com/logspool/logspool/systemd/journalfile"
)

// Tests of the notifications: the Input polls when inotify reports a
// change, so these run with a safety-net poll of an hour (eventConfig): what
// arrives within their deadlines of seconds arrived through an event.

// eventConfig is testConfig with the safety-net poll an hour away.
func eventConfig(dirs ...string) Config {
	cfg := testConfig(dirs...)
	cfg.ResyncInterval = time.Hour
	cfg.Metrics = NewMetrics(nil)
	return cfg
}

// newEventInput returns an Input on dirs with eventConfig, its sink and config.
func newEventInput(t *testing.T, dirs ...string) (*Input, *memSink, Config) {
	t.Helper()
	sink := newMemSink()
	cfg := eventConfig(dirs...)
	in, err := NewInput(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	return in, sink, cfg
}

// startRunning runs in in the background until the test ends.
func startRunning(t *testing.T, in *Input) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// waitIdle waits until in has polled at least once and then went a whole
// second without polling: it waits for events.
func waitIdle(t *testing.T, in *Input, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		before := in.polls.Load()
		time.Sleep(time.Second)
		if after := in.polls.Load(); after > 0 && after == before && in.idle.Load() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Input never went a second without polling within %v (%d polls)", timeout, in.polls.Load())
		}
	}
}

// moveInto copies the corpus file src into dir as name the way a writer
// makes a file appear at once: written beside it, then renamed.
func moveInto(t *testing.T, src, dir, name string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := mustCopyFile(src, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// TestNotifyAnIdleInputDoesNotPollAndAnAppendWakesIt: an Input following a
// live journal-remote file stops polling once it has read it (old code
// polled every PollInterval forever), is not stalled while idle, and an
// entry appended then (journal-remote writes through mmap and truncates the
// file to its own size, journal_file_post_change) is stored within seconds
// although the next safety-net poll is an hour away.
func TestNotifyAnIdleInputDoesNotPollAndAnAppendWakesIt(t *testing.T) {
	needJournalRemote(t)
	dir := t.TempDir()
	in, sink, cfg := newEventInput(t, dir)
	w := startRemote(t, filepath.Join(dir, "live.journal"), 0)
	w.write(10, 50)
	startRunning(t, in)
	waitUntil(t, 10*time.Second, func() bool { return sink.count() == 10 })
	if got := metricValue(t, cfg.Metrics.unwatched); got != 0 {
		t.Fatalf("unwatched_dirs = %v, want 0 (inotify works here)", got)
	}

	for round := 1; round <= 3; round++ {
		waitIdle(t, in, 20*time.Second)
		if stalled, why := in.Stalled(time.Now().Add(2 * time.Hour)); stalled {
			t.Fatalf("an idle Input waiting for events is stalled: %s", why)
		}
		polls := in.polls.Load()
		w.write(1, 50)
		want := 10 + round
		waitUntil(t, 10*time.Second, func() bool { return sink.count() == want })
		t.Logf("round %d: the append was stored after %d polls", round, in.polls.Load()-polls)
	}
	w.close()
	assertExactlyOnce(t, liveNumbers(t, sink.records()), 13)
}

// TestNotifyRotationAndDeletionAreSeenThroughEvents: a file archived
// (renamed) and a new one created, then files deleted: all seen through
// directory events, with the safety-net poll an hour away.
func TestNotifyRotationAndDeletionAreSeenThroughEvents(t *testing.T) {
	needJournalRemote(t)
	dir := t.TempDir()
	in, sink, cfg := newEventInput(t, dir)
	startRunning(t, in)
	waitIdle(t, in, 20*time.Second) // an empty directory, watched
	files := func() float64 { return metricValue(t, cfg.Metrics.files) }

	active := filepath.Join(dir, "system.journal")
	w := startRemote(t, active, 0)
	w.write(10, 50)
	waitUntil(t, 10*time.Second, func() bool { return sink.count() == 10 })

	// Rotation: the active file is closed and renamed, a new one written.
	w.close()
	archived := filepath.Join(dir, "system@0001-0000000000000001-0000000000000001.journal")
	if err := os.Rename(active, archived); err != nil {
		t.Fatal(err)
	}
	w2 := startRemote(t, active, 10)
	w2.write(10, 50)
	waitUntil(t, 10*time.Second, func() bool { return sink.count() == 20 && files() == 2 })

	// Deletion (vacuum) of the old file, then of the new one.
	if err := os.Remove(archived); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, func() bool { return files() == 1 })
	w2.close()
	if err := os.Remove(active); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, func() bool { return files() == 0 })
	assertExactlyOnce(t, liveNumbers(t, sink.records()), 20)
}

// TestNotifyFallsBackToPollingWithoutInotify: where inotify cannot be set
// up, or a directory cannot be watched, the journal is polled every
// PollInterval as before; the failure is logged once, counted once and shown
// in logspool_journal_unwatched_dirs.
func TestNotifyFallsBackToPollingWithoutInotify(t *testing.T) {
	for _, tc := range []struct {
		name      string
		seam      func(*watcherSeams)
		reason    string
		unwatched float64
		logged    string
	}{
		{"inotify unavailable (max_user_instances)", func(s *watcherSeams) {
			s.newWatcher = func() (*fsnotify.Watcher, error) {
				return nil, fmt.Errorf("couldn't initialize inotify: %w", syscall.EMFILE)
			}
		}, "emfile", -1, "inotify is unavailable"},
		{"watch limit (max_user_watches)", func(s *watcherSeams) {
			s.fault = func(string) error { return fmt.Errorf("inotify_add_watch: %w", syscall.ENOSPC) }
		}, "enospc", 1, "cannot watch a directory"},
		{"network file system", func(s *watcherSeams) {
			s.fault = func(d string) error { return fmt.Errorf("watching journal directory %s: %w", d, errNetworkFS) }
		}, "network_fs", 1, "cannot watch a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			moveInto(t, files("basic-compact.journal"), dir, "a.journal")
			sink := newMemSink()
			logs := &syncBuffer{}
			cfg := eventConfig(dir)
			cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
			in, err := NewInput(cfg, sink)
			if err != nil {
				t.Fatal(err)
			}
			tc.seam(&in.seams)
			startRunning(t, in)
			waitUntil(t, 10*time.Second, func() bool { return sink.count() == 240 })
			// No event comes: the new file is found by polling.
			moveInto(t, files("basic-v254.journal"), dir, "b.journal")
			want := countEntries(t, dir)
			waitUntil(t, 10*time.Second, func() bool { return sink.count() == want })
			polls := in.polls.Load()
			waitUntil(t, 10*time.Second, func() bool { return in.polls.Load() > polls+3 }) // it goes on polling

			if got := metricValue(t, cfg.Metrics.inputErrors.WithLabelValues("journal", tc.reason)); got != 1 {
				t.Errorf("input_errors_total{journal,%s} = %v, want 1", tc.reason, got)
			}
			if got := metricValue(t, cfg.Metrics.unwatched); got != tc.unwatched {
				t.Errorf("unwatched_dirs = %v, want %v", got, tc.unwatched)
			}
			if n := strings.Count(logs.String(), tc.logged); n != 1 {
				t.Errorf("%q logged %d times, want once:\n%s", tc.logged, n, logs.String())
			}
		})
	}
}

// TestNotifyAQueueOverflowRescansAtOnce: when inotify's queue overflows
// (IN_Q_OVERFLOW) events are lost; the Input then rescans at once. Here the
// events of a new file are dropped before the overflow is reported: only the
// rescan finds it (the safety-net poll is an hour away).
func TestNotifyAQueueOverflowRescansAtOnce(t *testing.T) {
	dir := t.TempDir()
	moveInto(t, files("basic-compact.journal"), dir, "a.journal")
	in, sink, cfg := newEventInput(t, dir)
	startRunning(t, in)
	waitUntil(t, 10*time.Second, func() bool { return sink.count() == 240 })
	waitIdle(t, in, 20*time.Second)

	in.seams.drop.Store(true) // events are lost from here on
	moveInto(t, files("basic-v254.journal"), dir, "b.journal")
	want := countEntries(t, dir)
	waitUntil(t, 10*time.Second, func() bool { return in.seams.dropped.Load() > 0 })
	if n := sink.count(); n != 240 {
		t.Fatalf("%d records stored without an event, want 240", n)
	}
	in.notify.w.Errors <- fsnotify.ErrEventOverflow // in.notify was set before the first poll
	waitUntil(t, 10*time.Second, func() bool { return sink.count() == want })
	if got := metricValue(t, cfg.Metrics.inputErrors.WithLabelValues("journal", "overflow")); got != 1 {
		t.Errorf("input_errors_total{journal,overflow} = %v, want 1", got)
	}
}

// TestNotifyEventsThatMatter: only events on journal files, machine-id
// sub-directories and the watched directories themselves make a poll.
func TestNotifyEventsThatMatter(t *testing.T) {
	const mid = "921f4efa65fa4e412a22b9bf57dca122"
	seams := &watcherSeams{}
	n := &notifier{top: map[string]bool{"/j": true}, watched: map[string]bool{"/j": true, "/j/" + mid: true},
		drop: &seams.drop, dropped: &seams.dropped}
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"/j/system.journal", true},
		{"/j/system@0001-0002-0003.journal", true},
		{"/j/system@0001.journal~", true},
		{"/j/" + mid, true},
		{"/j/" + mid + "/user-1000.journal", true},
		{"/j", true},
		{"/j/" + mid + "/" + mid, false}, // machine-id directories only at the top
		{"/j/.system.journal.tmp", false},
		{"/j/notes.txt", false},
		{"/elsewhere/system.journal", false},
		{"", false}, // an overflow's empty event
	} {
		if got := n.relevant(fsnotify.Event{Name: tc.path, Op: fsnotify.Write}); got != tc.want {
			t.Errorf("relevant(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
	seams.drop.Store(true)
	if n.relevant(fsnotify.Event{Name: "/j/system.journal", Op: fsnotify.Write}) || seams.dropped.Load() != 1 {
		t.Error("a dropped event (test seam) was not dropped and counted")
	}
}

// TestNotifyEntriesHeldBackAreTakenWithoutAnotherEvent: a rotation whose
// new file already holds entries when it appears (renamed into place). The
// poll that opens it did not observe it before its scan, so its entries are
// held back (merger.limit); no event follows, and the next poll must come
// by itself, a PollInterval later (not at the safety net, an hour away).
func TestNotifyEntriesHeldBackAreTakenWithoutAnotherEvent(t *testing.T) {
	d := newFakeDir(t)
	active := d.create("system.journal", 7, journalfile.StateOnline)
	d.append(active, 1, 2, 3)
	sink := newMemSink()
	in, stop := d.runInput(t, eventConfig(d.dir), sink)
	defer stop()
	waitUntil(t, 5*time.Second, func() bool { return sink.count() == 3 })
	waitIdle(t, in, 20*time.Second)

	d.setState(active, journalfile.StateArchived)
	if err := os.Rename(active.path, filepath.Join(d.dir, "system@0007-0000000000000001-0000000000000001.journal")); err != nil {
		t.Fatal(err)
	}
	final := filepath.Join(d.dir, "system.journal")
	next := &fakeJournal{path: final, hdr: journalfile.Header{State: journalfile.StateOnline}}
	next.hdr.SeqnumID[0] = 7
	d.mu.Lock()
	d.byFn[final] = next
	d.mu.Unlock()
	d.append(next, 4, 5)
	tmp := filepath.Join(d.dir, ".next.tmp")
	if err := os.WriteFile(tmp, []byte("next"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, final); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, func() bool { return sink.count() == 5 })
	if got := seqnumsOf(t, sink.records()); fmt.Sprint(got) != "[1 2 3 4 5]" {
		t.Fatalf("seqnums %v, want 1..5", got)
	}
}

// TestNotifyAMachineIDDirectoryCreatedLaterIsWatched: journald creates its
// machine-id sub-directory (at the flush to /var) after the agent started;
// the files written in it are followed through the sub-directory's own
// watch.
func TestNotifyAMachineIDDirectoryCreatedLaterIsWatched(t *testing.T) {
	needJournalRemote(t)
	top := t.TempDir()
	in, sink, _ := newEventInput(t, top)
	startRunning(t, in)
	waitIdle(t, in, 20*time.Second)

	sub := filepath.Join(top, "921f4efa65fa4e412a22b9bf57dca122")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	w := startRemote(t, filepath.Join(sub, "system.journal"), 0)
	w.write(5, 50)
	waitUntil(t, 10*time.Second, func() bool { return sink.count() == 5 })
	waitIdle(t, in, 20*time.Second)
	w.write(5, 50) // only the sub-directory's watch reports this
	waitUntil(t, 10*time.Second, func() bool { return sink.count() == 10 })
	w.close()
	assertExactlyOnce(t, liveNumbers(t, sink.records()), 10)
}

// TestNotifyNetworkFileSystems: the statfs types taken for network file
// systems (polled), and a local temp directory is not one.
func TestNotifyNetworkFileSystems(t *testing.T) {
	for _, tc := range []struct {
		magic int64
		want  bool
	}{
		{unix.NFS_SUPER_MAGIC, true}, {unix.CIFS_SUPER_MAGIC, true}, {unix.SMB2_SUPER_MAGIC, true},
		{unix.V9FS_MAGIC, true}, {unix.CEPH_SUPER_MAGIC, true},
		{unix.EXT4_SUPER_MAGIC, false}, {unix.XFS_SUPER_MAGIC, false}, {unix.TMPFS_MAGIC, false},
		{unix.BTRFS_SUPER_MAGIC, false}, {unix.OVERLAYFS_SUPER_MAGIC, false},
	} {
		if got := isNetworkFS(tc.magic); got != tc.want {
			t.Errorf("isNetworkFS(%#x) = %v, want %v", tc.magic, got, tc.want)
		}
	}
	var st unix.Statfs_t
	if err := unix.Statfs(t.TempDir(), &st); err != nil {
		t.Fatal(err)
	}
	if isNetworkFS(int64(st.Type)) {
		t.Skipf("the temp directory is on a network file system (%#x)", st.Type)
	}
}

// TestNotifyInotifyIsSetUpAgainOnceItWorks: inotify that could not be set
// up (EMFILE: fs.inotify.max_user_instances) is tried again every
// ResyncInterval; once it works the Input says so and follows the journal
// through its events again.
func TestNotifyInotifyIsSetUpAgainOnceItWorks(t *testing.T) {
	dir := t.TempDir()
	moveInto(t, files("basic-compact.journal"), dir, "a.journal")
	logs := &syncBuffer{}
	in, sink, cfg := newEventInput(t, dir)
	in.cfg.ResyncInterval = 100 * time.Millisecond // set up again soon
	in.cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	in.log = in.cfg.Logger
	var fails atomic.Int64
	in.seams.newWatcher = func() (*fsnotify.Watcher, error) {
		if fails.Add(1) <= 2 {
			return nil, fmt.Errorf("couldn't initialize inotify: %w", syscall.EMFILE)
		}
		return fsnotify.NewWatcher()
	}
	startRunning(t, in)
	waitUntil(t, 10*time.Second, func() bool { return sink.count() == 240 })
	waitUntil(t, 10*time.Second, func() bool {
		return fails.Load() > 2 && metricValue(t, cfg.Metrics.unwatched) == 0 && strings.Contains(logs.String(), "inotify works again")
	})
	if got := metricValue(t, cfg.Metrics.inputErrors.WithLabelValues("journal", "emfile")); got != 1 {
		t.Errorf("input_errors_total{journal,emfile} = %v, want 1 (counted once while it failed)", got)
	}
}
