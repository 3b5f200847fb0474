package systemd

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"
)

// DefaultResyncInterval is how often the journal is polled while inotify
// reports nothing (Config.ResyncInterval).
//
// It is the safety net for changes that come without an event: a writer
// that writes through mmap and does not truncate its file to post the
// change (journald and systemd-journal-remote do, see notifier), a journal
// directory re-created while it was not watched, a file system whose events
// are incomplete. 30 s is the longest retry backoff of a failing path
// (maxRetryBackoff) and the shortest time after which the Input is reported
// stalled (minStall), so nothing that polls slower than this would be
// noticed sooner; one poll of a few files costs well under a millisecond of
// CPU, so two a minute cost nothing measurable (240 a minute did).
const DefaultResyncInterval = 30 * time.Second

// notifier tells the Input when the journal may have changed: inotify on
// every configured journal directory and on its machine-id sub-directories
// (one watch per directory: inotify reports the changes of the files in a
// watched directory too, which is also how sd-journal's
// sd_journal_get_fd/journalctl -f watches: directories only).
//
// journald writes entries through mmap, which makes no inotify event; after
// a change it truncates the file to its own size, which does (systemd
// src/libsystemd/sd-journal/journal-file.c, journal_file_post_change:
// "inotify() does not receive IN_MODIFY events from file accesses done via
// mmap(). After each access we hence trigger IN_MODIFY by truncating the
// journal file to its current size which triggers IN_MODIFY."; journald
// coalesces these through a timer, POST_CHANGE_TIMER_INTERVAL_USEC, 250 ms
// in journald-server.c). File creation, renames (archival, disposal as
// .journal~) and deletion (vacuum) are events of the directory.
//
// Where notifications cannot be had — inotify cannot be set up (EMFILE:
// fs.inotify.max_user_instances; ENOSYS), a directory cannot be watched
// (ENOSPC: fs.inotify.max_user_watches; EACCES) or sits on a network file
// system, whose remote changes make no local event (NFS, CIFS, 9p, …, the
// list of systemd's is_network_fs) — it is degraded: the Input then polls
// every PollInterval, as it always did. Each failure is logged once and
// counted once in logspool_input_errors_total{input="journal",reason};
// logspool_journal_unwatched_dirs says how many directories go without
// notifications (-1: inotify unavailable).
type notifier struct {
	w   *fsnotify.Watcher // nil: inotify unavailable
	log *slog.Logger
	met *Metrics

	top     map[string]bool   // the configured directories (cleaned)
	watched map[string]bool   // directories watched now
	failed  map[string]string // directory -> why it is not watched (logged and counted once)
	// lastTry is when inotify was last set up; while it is unavailable it is
	// tried again every resync.
	lastTry   time.Time
	setupErr  string // the reason of the last failed set-up ("": none)
	lastEvErr time.Time

	// Test seams.
	newWatcher func() (*fsnotify.Watcher, error)
	fault      func(dir string) error // makes watching dir fail
	drop       *atomic.Bool           // drops every event (not errors): lost events
	dropped    *atomic.Int64
}

// watcherSeams are the test seams of an Input's notifier.
type watcherSeams struct {
	newWatcher func() (*fsnotify.Watcher, error)
	fault      func(dir string) error
	drop       atomic.Bool
	dropped    atomic.Int64
}

func newNotifier(log *slog.Logger, met *Metrics, dirs []string, seams *watcherSeams) *notifier {
	n := &notifier{log: log, met: met, top: make(map[string]bool), watched: make(map[string]bool),
		failed: make(map[string]string), newWatcher: fsnotify.NewWatcher,
		drop: &seams.drop, dropped: &seams.dropped, fault: seams.fault}
	if seams.newWatcher != nil {
		n.newWatcher = seams.newWatcher
	}
	for _, d := range dirs {
		n.top[filepath.Clean(d)] = true
	}
	n.setup(time.Now())
	return n
}

// setup creates the inotify instance; a failure is logged and counted once
// (until it works again).
func (n *notifier) setup(now time.Time) {
	n.lastTry = now
	w, err := n.newWatcher()
	if err != nil {
		reason := errReason(err)
		if reason != n.setupErr {
			n.setupErr = reason
			n.met.inputErr(reason)
			n.log.Warn("journal: inotify is unavailable; polling the journal every poll interval instead",
				"reason", reason, "err", err)
		}
		n.met.setUnwatched(-1)
		return
	}
	if n.setupErr != "" {
		n.log.Info("journal: inotify works again; the journal is followed by its events", "was", n.setupErr)
		n.setupErr = ""
	}
	n.w = w
	n.met.setUnwatched(0)
}

// retrySetup tries to set inotify up again when it is unavailable and the
// last try is resync ago.
func (n *notifier) retrySetup(now time.Time, resync time.Duration) {
	if n != nil && n.w == nil && now.Sub(n.lastTry) >= resync {
		n.setup(now)
	}
}

// set makes the watched directories equal dirs (the directories the last
// scan listed) and returns how many it started to watch: changes made
// before a watch existed make no event, so the caller looks once more.
func (n *notifier) set(dirs []string) (added int) {
	if n == nil || n.w == nil {
		return 0
	}
	want := make(map[string]bool, len(dirs))
	for _, d := range dirs {
		want[filepath.Clean(d)] = true
	}
	// Watches of deleted directories vanish by themselves: start from the
	// watcher's own list, so that a re-created directory is watched again.
	clear(n.watched)
	for _, d := range n.w.WatchList() {
		n.watched[d] = true
	}
	for d := range n.watched {
		if !want[d] {
			_ = n.w.Remove(d) // fails harmlessly when the directory is gone
			delete(n.watched, d)
		}
	}
	for _, d := range slices.Sorted(maps.Keys(want)) {
		if n.watched[d] {
			continue
		}
		if err := n.watch(d); err != nil {
			n.fail(d, err)
			continue
		}
		if was, ok := n.failed[d]; ok {
			delete(n.failed, d)
			n.log.Info("journal: watching a directory works again", "dir", d, "was", was)
		}
		n.watched[d] = true
		added++
	}
	for d := range n.failed {
		if !want[d] {
			delete(n.failed, d) // gone, or no longer listed: nothing to watch
		}
	}
	n.met.setUnwatched(len(n.failed))
	return added
}

// errNetworkFS is why a directory on a network file system is polled.
var errNetworkFS = errors.New("on a network file system, whose remote changes make no inotify event")

func (n *notifier) watch(d string) error {
	if n.fault != nil {
		if err := n.fault(d); err != nil {
			return err
		}
	}
	var st unix.Statfs_t
	if err := unix.Statfs(d, &st); err == nil && isNetworkFS(int64(st.Type)) {
		return fmt.Errorf("watching journal directory %s: %w", d, errNetworkFS)
	}
	if err := n.w.Add(d); err != nil {
		return fmt.Errorf("watching journal directory %s: %w", d, err)
	}
	return nil
}

// fail notes a directory that cannot be watched: logged and counted once
// per reason; it is polled, and watching it is tried again at every scan.
func (n *notifier) fail(d string, err error) {
	if errors.Is(err, fs.ErrNotExist) {
		return // gone since the scan: the next scan sees
	}
	reason := errReason(err)
	if errors.Is(err, errNetworkFS) {
		reason = "network_fs"
	}
	if n.failed[d] == reason {
		return
	}
	n.failed[d] = reason
	n.met.inputErr(reason)
	n.log.Warn("journal: cannot watch a directory; polling it every poll interval", "dir", d, "reason", reason, "err", err)
}

// isNetworkFS reports a statfs type of a network file system (systemd's
// is_network_fs, plus SMB2 and Ceph).
func isNetworkFS(t int64) bool {
	switch uint32(t) {
	case unix.CIFS_SUPER_MAGIC, unix.SMB2_SUPER_MAGIC, unix.SMB_SUPER_MAGIC, unix.CODA_SUPER_MAGIC,
		unix.NCP_SUPER_MAGIC, unix.NFS_SUPER_MAGIC, unix.V9FS_MAGIC, unix.AFS_SUPER_MAGIC,
		unix.OCFS2_SUPER_MAGIC, unix.CEPH_SUPER_MAGIC:
		return true
	}
	return false
}

// degraded reports whether some directory goes without notifications: the
// Input then polls every PollInterval.
func (n *notifier) degraded() bool { return n == nil || n.w == nil || len(n.failed) > 0 }

// events returns the event channel (nil, blocking forever, without inotify).
func (n *notifier) events() <-chan fsnotify.Event {
	if n == nil || n.w == nil {
		return nil
	}
	return n.w.Events
}

func (n *notifier) errors() <-chan error {
	if n == nil || n.w == nil {
		return nil
	}
	return n.w.Errors
}

// relevant reports whether an event on path can change what the Input
// reads: a journal file or a machine-id sub-directory in a watched
// directory, or a watched directory itself (deleted, moved).
func (n *notifier) relevant(ev fsnotify.Event) bool {
	if n.drop.Load() {
		n.dropped.Add(1)
		return false
	}
	p := ev.Name
	if p == "" {
		return false
	}
	if n.watched[p] || n.top[p] {
		return true
	}
	dir, name := filepath.Split(p)
	dir = filepath.Clean(dir)
	if !n.watched[dir] {
		return false
	}
	return isJournalName(name) || n.top[dir] && isMachineIDDir(name)
}

// eventError handles an error from inotify: the queue overflowed
// (IN_Q_OVERFLOW: events were lost) or reading failed. It is counted
// (reason "overflow", or the errno) and logged at most once a minute; the
// caller then polls at once (a full rescan).
func (n *notifier) eventError(err error, now time.Time) {
	reason := errReason(err)
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		reason = "overflow"
	}
	n.met.inputErr(reason)
	if now.Sub(n.lastEvErr) >= time.Minute {
		n.lastEvErr = now
		n.log.Warn("journal: inotify lost events; rescanning the journal now", "reason", reason, "err", err)
	}
}

func (n *notifier) close() {
	if n != nil && n.w != nil {
		_ = n.w.Close()
		n.w = nil
	}
}
