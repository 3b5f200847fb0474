package spool

// The spool directory: what a directory holds, and its identity file
// (LOGSPOOL; see FORMAT.md).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/dgraph-io/badger/v4"
)

type dirKind int

// classifyDir looks at a directory without an identity file: empty (a new
// spool), a version 1 spool (a Badger MANIFEST), or something else, which is
// refused.
func classifyDir(dir string) (dirKind, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, classifyIOError(dir, fmt.Errorf("listing the directory: %w", err))
	}
	var names []string
	manifest := false
	for _, e := range ents {
		switch e.Name() {
		case badger.ManifestFilename:
			manifest = true
		case "LOCK", dataDirName:
			continue
		}
		names = append(names, e.Name())
	}
	switch {
	case manifest:
		return dirLegacy, nil
	case len(names) == 0:
		return dirEmpty, nil
	}
	if len(names) > 5 {
		names = append(names[:5], "...")
	}
	return 0, fmt.Errorf("%w: it holds %s but no spool identity file (%s) and no index (MANIFEST); refusing to use it as a spool. Point --spool-dir at an empty or spool directory; if this was a spool whose identity file and index were lost, run `logspool spool salvage --spool-dir %s`",
		ErrNotSpool, strings.Join(names, ", "), identName, dir)
}

// ident is the identity file: which spool this is, and what it held when it
// was closed cleanly.
type ident struct {
	id     [16]byte
	clean  bool
	marker uint64 // the commit marker at a clean close
	count  uint64 // index entries (segments + dead-letter entries) at a clean close
}

func readIdent(dir string) (*ident, error) {
	p := filepath.Join(dir, identName)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, classifyIOError(dir, fmt.Errorf("reading %s: %w", p, err))
	}
	if len(b) != identLen || string(b[:8]) != identMagic {
		return nil, &DamageError{File: p, Reason: fmt.Sprintf("the spool identity file is not one (%d bytes): %s", len(b), salvageAdvice(dir))}
	}
	if crc32.Checksum(b[:60], castagnoli) != binary.LittleEndian.Uint32(b[60:]) {
		return nil, &DamageError{File: p, Reason: "the spool identity file fails its checksum: " + salvageAdvice(dir)}
	}
	if v := binary.LittleEndian.Uint16(b[8:]); v < minLayoutVersion || v > layoutVersion {
		return nil, fmt.Errorf("%w: the spool has layout version %d; this build reads versions %d to %d (%w)", ErrNotSpool, v, minLayoutVersion, layoutVersion, ErrNewerLayout)
	}
	var id ident
	copy(id.id[:], b[10:26])
	id.clean = b[26] == 1
	id.marker = binary.LittleEndian.Uint64(b[27:])
	id.count = binary.LittleEndian.Uint64(b[35:])
	return &id, nil
}

// writeIdent writes the identity file in place (one 64-byte write) and syncs
// it and the directory.
func writeIdent(dir string, id ident) error {
	var b [identLen]byte
	copy(b[:], identMagic)
	binary.LittleEndian.PutUint16(b[8:], layoutVersion)
	copy(b[10:], id.id[:])
	if id.clean {
		b[26] = 1
	}
	binary.LittleEndian.PutUint64(b[27:], id.marker)
	binary.LittleEndian.PutUint64(b[35:], id.count)
	binary.LittleEndian.PutUint32(b[60:], crc32.Checksum(b[:60], castagnoli))
	p := filepath.Join(dir, identName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if _, err := f.WriteAt(b[:], 0); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := syncFile(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("syncing %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", p, err)
	}
	return fsyncPath(dir)
}

func prepareDir(dir string, readOnly bool) error {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return &OpenError{Dir: dir, Err: errors.New("it is not a directory")}
	case err == nil:
	case errors.Is(err, fs.ErrNotExist) && readOnly:
		return &OpenError{Dir: dir, Err: fmt.Errorf("%w: the directory does not exist (nothing to inspect)", ErrNotSpool)}
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return &OpenError{Dir: dir, Err: classifyIOError(dir, fmt.Errorf("creating the directory: %w", err))}
		}
		return nil
	default:
		return &OpenError{Dir: dir, Err: classifyIOError(dir, err)}
	}
	mode := uint32(4 | 1) // R_OK | X_OK
	if !readOnly {
		mode |= 2 // W_OK
	}
	if err := syscall.Access(dir, mode); err != nil {
		return &OpenError{Dir: dir, Err: classifyIOError(dir, fmt.Errorf("checking access: %w", err))}
	}
	return nil
}
