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

// listJournalFiles returns the journal files directly in dir and in its
// machine-id sub-directories (as journalctl --directory reads them), sorted
// by path. A missing dir yields no files and no error.
func listJournalFiles(dir string) ([]foundFile, error) {
	var out []foundFile
	if err := scanOne(dir, true, &out); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, nil
}

func scanOne(dir string, descend bool, out *[]foundFile) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("listing journal directory %s: %w", dir, err)
	}
	for _, e := range ents {
		name := e.Name()
		p := filepath.Join(dir, name)
		switch {
		case e.IsDir() || e.Type()&fs.ModeSymlink != 0 && descend && isMachineIDDir(name):
			if descend && isMachineIDDir(name) {
				if err := scanOne(p, false, out); err != nil {
					return err
				}
			}
		case isJournalName(name):
			ff, err := statFile(p)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue // vanished between ReadDir and Stat
				}
				return err
			}
			if ff != nil {
				*out = append(*out, *ff)
			}
		}
	}
	return nil
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
