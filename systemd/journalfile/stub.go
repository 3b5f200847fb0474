package journalfile

// Temporary stubs: the journalfile implementer replaces this file.

import "errors"

var errUnimplemented = errors.New("journalfile: not implemented yet")

// File is an open journal file, read with ReadAt (never mmap: archived files
// are truncated under live readers). Safe for use by one goroutine at a time.
type File struct{}

// Open opens and validates the journal file at path. It refuses unknown
// incompatible flags (ErrUnsupported) and non-journal files (ErrNotJournal).
func Open(path string) (*File, error) { return nil, errUnimplemented }

// Close closes the file.
func (f *File) Close() error { return errUnimplemented }

// Path returns the path the file was opened with.
func (f *File) Path() string { return "" }

// Header returns the header as last read (by Open or Refresh).
func (f *File) Header() Header { return Header{} }

// Refresh re-reads the header and the file size, so that entries appended by
// a live writer become visible through NumEntries and EntryAt.
func (f *File) Refresh() error { return errUnimplemented }

// NumEntries returns the number of entries reachable through the entry
// arrays, in file order (ascending seqnum). For a damaged file it is the
// number that could be salvaged; Err then reports the damage.
func (f *File) NumEntries() int { return 0 }

// Err returns the *CorruptionError found while walking the entry arrays, or nil.
func (f *File) Err() error { return nil }

// EntryMeta returns the fixed part of entry i (0 <= i < NumEntries) without
// decoding its fields. A damaged entry yields a *CorruptionError; callers skip it.
func (f *File) EntryMeta(i int) (EntryMeta, error) { return EntryMeta{}, errUnimplemented }

// EntryAt decodes entry i (0 <= i < NumEntries) with its fields. A damaged
// entry yields a *CorruptionError; callers skip it, as journalctl does.
func (f *File) EntryAt(i int) (*Entry, error) { return nil, errUnimplemented }

// AppendExport appends e in journalctl's export format (-o export) to dst:
// __CURSOR, __REALTIME_TIMESTAMP, __MONOTONIC_TIMESTAMP, _BOOT_ID, then the
// fields in item order except _BOOT_ID, binary-safe values as NAME\n<le64 len><bytes>,
// and a blank line.
func AppendExport(dst []byte, e *Entry) []byte { return dst }
