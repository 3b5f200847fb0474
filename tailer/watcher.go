package tailer

import (
	"errors"
	"io/fs"
	"log/slog"

	"github.com/fsnotify/fsnotify"
)

// watcher wraps fsnotify: it watches a set of directories (inotify on a
// directory reports writes to the files in it too, so one watch serves every
// file of a container's log directory). Where notifications are unavailable
// (no inotify, the watch limit fs.inotify.max_user_watches reached, a
// directory that cannot be watched) it reports itself degraded: the scanner
// then polls every PollInterval, a batched glob+stat of every file, and
// wakes the readers whose size changed. Each failed directory is counted
// once in logspool_input_errors_total and in logspool_tailer_unwatched_dirs.
type watcher struct {
	w       *fsnotify.Watcher
	log     *slog.Logger
	m       *Metrics
	watched map[string]bool
	failed  map[string]bool        // directories whose watch failed, logged once
	fault   func(dir string) error // tests: make watching dir fail
}

func newWatcher(log *slog.Logger, m *Metrics) *watcher {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		m.inputError(errReason(err))
		log.Warn("filesystem notifications unavailable; relying on polling", "reason", errReason(err), "err", err)
	}
	return &watcher{w: w, log: log, m: m, watched: make(map[string]bool), failed: make(map[string]bool)}
}

// set makes the watched directories equal dirs and returns how many it
// started to watch.
func (w *watcher) set(dirs map[string]bool) (added int) {
	defer func() { w.m.setUnwatched(w.unwatched()) }()
	if w.w == nil {
		return 0
	}
	// Watches of deleted directories vanish by themselves; start from the
	// watcher's own list so that a re-created directory is watched again.
	clear(w.watched)
	for _, d := range w.w.WatchList() {
		w.watched[d] = true
	}
	for d := range w.watched {
		if !dirs[d] {
			_ = w.w.Remove(d) // fails harmlessly when the directory is gone
			delete(w.watched, d)
		}
	}
	for d := range dirs {
		if w.watched[d] {
			continue
		}
		err := error(nil)
		if w.fault != nil {
			err = w.fault(d)
		}
		if err == nil {
			err = w.w.Add(d)
		}
		if err != nil {
			if !w.failed[d] && errors.Is(err, fs.ErrNotExist) {
				w.failed[d] = true
				w.log.Debug("watching directory failed; polling it", "dir", d, "err", err)
			} else if !w.failed[d] {
				// Counted and logged once per directory; it is retried at
				// every scan and polled meanwhile.
				w.failed[d] = true
				w.m.inputError(errReason(err))
				w.log.Warn("watching directory failed; polling it", "dir", d, "reason", errReason(err), "err", err)
			}
			continue
		}
		delete(w.failed, d)
		w.watched[d] = true
		added++
	}
	for d := range w.failed {
		if !dirs[d] {
			delete(w.failed, d)
		}
	}
	return added
}

// degraded reports whether some directory goes without notifications.
func (w *watcher) degraded() bool { return w.w == nil || len(w.failed) > 0 }

// unwatched is the number of directories that go without notifications
// (-1: notifications are unavailable altogether).
func (w *watcher) unwatched() int {
	if w.w == nil {
		return -1
	}
	return len(w.failed)
}

// events returns the event channel (nil, blocking forever, without a watcher).
func (w *watcher) events() <-chan fsnotify.Event {
	if w.w == nil {
		return nil
	}
	return w.w.Events
}

func (w *watcher) errors() <-chan error {
	if w.w == nil {
		return nil
	}
	return w.w.Errors
}

func (w *watcher) close() {
	if w.w != nil {
		_ = w.w.Close()
	}
}
