package systemd

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/logspool/logspool/systemd/journalfile"
)

// ReaderConfig configures a one-shot Reader. Zero values mean defaults.
type ReaderConfig struct {
	// Dirs are journal directories, read like journalctl --directory (the
	// files in each and in its machine-id sub-directories).
	Dirs []string
	// Files are single journal files, read like journalctl --file, after
	// the files of Dirs, in the order given.
	Files []string
	// After starts right after the entry with this journalctl cursor, like
	// journalctl --after-cursor. Empty means from the first entry.
	After string
	// Units and ExcludeUnits filter like journalctl -u (see Config.Units).
	Units, ExcludeUnits []string
	// Since skips entries whose realtime is before it.
	Since time.Time
}

// Reader reads journal files once, merged in journalctl's order. Files that
// cannot be opened and entries that cannot be read are skipped and reported
// through Problems, as journalctl does.
type Reader struct {
	m        *merger
	filter   *unitFilter
	since    uint64
	scratch  unitFields
	ent      journalfile.Entry
	problems []error
	sources  []*source

	skipFirst bool // After: the first entry found is the cursor's (journalctl)
}

// NewReader opens the files of cfg and positions the merge.
func NewReader(cfg ReaderConfig) (*Reader, error) {
	return newReader(cfg, openJournalFile)
}

func newReader(cfg ReaderConfig, open openFunc) (*Reader, error) {
	filter, err := newUnitFilter(cfg.Units, cfg.ExcludeUnits)
	if err != nil {
		return nil, fmt.Errorf("systemd: reader config: %w", err)
	}
	var after *Cursor
	if cfg.After != "" {
		c, err := ParseCursor(cfg.After)
		if err != nil {
			return nil, fmt.Errorf("systemd: reader config: After: %w", err)
		}
		after = &c
	}
	r := &Reader{filter: filter, skipFirst: after != nil}
	if !cfg.Since.IsZero() {
		r.since = uint64(cfg.Since.UnixMicro())
	}
	r.m = newMerger(func(s *source, i int, err error) {
		r.problems = append(r.problems, fmt.Errorf("skipping entry %d of %s: %w", i, s.path, err))
	})
	var paths []string
	for _, d := range cfg.Dirs {
		l := listJournalFiles(d, nil)
		for _, p := range l.problems {
			r.problems = append(r.problems, p.err)
		}
		for _, f := range l.files {
			paths = append(paths, f.path)
		}
	}
	paths = append(paths, cfg.Files...)
	for _, p := range paths {
		j, err := open(p)
		if err != nil {
			r.problems = append(r.problems, fmt.Errorf("opening journal file %s: %w", p, err))
			continue
		}
		s := &source{j: j, path: p}
		s.sync()
		if err := j.Err(); err != nil {
			r.problems = append(r.problems, fmt.Errorf("reading journal file %s (salvaged %d entries): %w", p, s.n, err))
		}
		if after != nil {
			s.next = seekCursor(j, s.n, after)
		}
		r.sources = append(r.sources, s)
		r.m.add(s)
	}
	return r, nil
}

// Next returns the next entry, or io.EOF after the last. The entry is valid
// until the next call.
func (r *Reader) Next() (*journalfile.Entry, error) {
	for {
		s, idx, meta, ok := r.m.next()
		if !ok {
			return nil, io.EOF
		}
		if r.skipFirst {
			r.skipFirst = false
			continue
		}
		if r.since != 0 && meta.Realtime < r.since {
			continue
		}
		if err := s.j.ReadEntry(idx, &r.ent); err != nil {
			r.problems = append(r.problems, fmt.Errorf("skipping entry %d of %s: %w", idx, s.path, err))
			continue
		}
		if !r.filter.keep(r.ent.Fields, &r.scratch) {
			continue
		}
		return &r.ent, nil
	}
}

// Problems returns what was skipped so far: files that could not be opened
// or are damaged, and unreadable entries.
func (r *Reader) Problems() []error { return r.problems }

// Close closes every file.
func (r *Reader) Close() error {
	var errs []error
	for _, s := range r.sources {
		if err := s.j.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	r.sources = nil
	return errors.Join(errs...)
}

// seekCursor returns the index journalctl's sd_journal_seek_cursor settles on
// in one file (n entries): the first entry with the cursor's seqnum or later
// when the seqnum_id matches; else the first entry of the cursor's boot at or
// after its monotonic time, when the file has one; else the first entry at or
// after its realtime. journalctl --after-cursor then drops the first entry
// of the merge (whether or not it is the cursor's), and so does the Reader:
// that is the journalctl-compatible mode. Input resumes exactly instead,
// from its own checkpoint.
func seekCursor(j journal, n int, c *Cursor) int {
	sid := j.Header().SeqnumID
	if c.HasSeqnum && sid == c.SeqnumID {
		return searchFirst(j, 0, n, func(m *journalfile.EntryMeta) bool { return m.Seqnum >= c.Seqnum })
	}
	if c.HasMonotonic {
		for i := 0; i < n; i++ {
			m, err := j.EntryMeta(i)
			if err == nil && m.BootID == c.BootID && m.Monotonic >= c.Monotonic {
				return i
			}
		}
	}
	if c.HasRealtime {
		return searchFirst(j, 0, n, func(m *journalfile.EntryMeta) bool { return m.Realtime >= c.Realtime })
	}
	return 0
}
