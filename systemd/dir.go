package systemd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/logspool/logspool/systemd/journalfile"
)

// fileKey identifies a file across renames: device and inode.
type fileKey struct{ dev, ino uint64 }

// foundFile is a journal file seen by a directory scan.
type foundFile struct {
	path  string
	key   fileKey
	size  int64
	mtime int64 // ns
}

// isJournalName reports whether name is a journal file name: *.journal
// (active, archived) or *.journal~ (disposed after an unclean shutdown).
func isJournalName(name string) bool {
	return strings.HasSuffix(name, ".journal") || strings.HasSuffix(name, ".journal~")
}

// isMachineIDDir reports whether name looks like a 128-bit id, the name of
// the per-machine sub-directory journald writes into.
func isMachineIDDir(name string) bool {
	if len(name) != 32 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// dirProblem is a directory entry that could not be examined: a
// sub-directory that cannot be listed, a journal file name that cannot be
// stat'ed or names something other than a regular file.
type dirProblem struct {
	path string
	err  error
}

// errNotRegular is the problem of a journal file name that names a
// directory, FIFO, socket or device.
var errNotRegular = errors.New("not a regular file")

// listing is what a scan of one configured directory found.
type listing struct {
	files    []foundFile  // journal files, sorted by path
	problems []dirProblem // entries that failed now
	// held are the paths not examined this time (failed now, or skipped
	// while they wait for a retry): what is known below them is kept, not
	// taken as gone.
	held []string
	// dirs are the directories listed (the configured one and its
	// machine-id sub-directories): the ones to watch.
	dirs []string
}

// listJournalFiles returns the journal files directly in dir and in its
// machine-id sub-directories (as journalctl --directory reads them), sorted
// by path. A missing dir yields nothing. Every entry stands alone: one that
// cannot be examined is a problem of its own and the scan goes on with the
// others. skip (nil: none) names paths not to examine now.
func listJournalFiles(dir string, skip func(path string) bool) listing {
	var l listing
	l.scanOne(dir, true, skip)
	sort.Slice(l.files, func(i, j int) bool { return l.files[i].path < l.files[j].path })
	return l
}

func (l *listing) problem(p string, err error) {
	l.problems = append(l.problems, dirProblem{path: p, err: err})
	l.held = append(l.held, p)
}

func (l *listing) scanOne(dir string, top bool, skip func(string) bool) {
	if skip != nil && skip(dir) {
		l.held = append(l.held, dir)
		return
	}
	// os.ReadDir returns what it could read before an error: use it.
	ents, err := os.ReadDir(dir)
	if err != nil {
		if top && errors.Is(err, fs.ErrNotExist) {
			return // not there (yet): journald creates it
		}
		if !errors.Is(err, fs.ErrNotExist) {
			l.problem(dir, fmt.Errorf("listing journal directory %s: %w", dir, err))
		}
	} else {
		l.dirs = append(l.dirs, dir)
	}
	for _, e := range ents {
		name := e.Name()
		p := filepath.Join(dir, name)
		switch {
		case top && isMachineIDDir(name) && (e.IsDir() || e.Type()&fs.ModeSymlink != 0):
			l.scanOne(p, false, skip)
		case e.IsDir():
			// Not a machine-id directory: journalctl does not look inside.
		case isJournalName(name):
			if skip != nil && skip(p) {
				l.held = append(l.held, p)
				continue
			}
			ff, err := statFile(p)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				// Vanished between ReadDir and Stat, or a dangling symlink.
			case err != nil:
				l.problem(p, err)
			case ff == nil:
				l.problem(p, fmt.Errorf("journal file %s: %w", p, errNotRegular))
			default:
				l.files = append(l.files, *ff)
			}
		}
	}
}

// statFile stats a journal file; it returns nil for anything but a regular file.
func statFile(p string) (*foundFile, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("stating journal file %s: %w", p, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil
	}
	ff := &foundFile{path: p, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ff.key = fileKey{dev: uint64(st.Dev), ino: uint64(st.Ino)}
	}
	return ff, nil
}

// headerPeek is what a journal file's header says, read without walking
// its entries (offsets as in systemd's journal-def.h).
type headerPeek struct {
	state      uint8
	seqnumID   journalfile.ID128
	nEntries   uint64
	tailSeqnum uint64
	tailRT     uint64
}

// peekHeader reads the fixed header of the journal file at p. ok is false
// when it is not a readable journal header; the caller then opens the file
// the normal way, which reports why.
func peekHeader(p string) (h headerPeek, ok bool) {
	f, err := os.Open(p)
	if err != nil {
		return h, false
	}
	defer f.Close()
	var b [208]byte
	if _, err := f.ReadAt(b[:], 0); err != nil {
		return h, false
	}
	if string(b[:8]) != "LPKSHHRH" {
		return h, false
	}
	le := binary.LittleEndian
	h.state = b[16]
	copy(h.seqnumID[:], b[72:88])
	h.nEntries = le.Uint64(b[152:])
	h.tailSeqnum = le.Uint64(b[160:])
	h.tailRT = le.Uint64(b[192:])
	return h, true
}
