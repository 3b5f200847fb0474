package journalfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/logspool/logspool/internal/configerr"
)

// Config tunes a File. The zero value means the documented defaults.
type Config struct {
	// MaxFieldSize caps the size of one field (NAME=value) after
	// decompression. A larger DATA object is not read: its item is dropped
	// and the entry marked Damaged, with a Problem saying so. This bounds
	// the memory a hostile or corrupt file (a decompression bomb) can make
	// us allocate. Default 64 MiB; journald itself refuses entries > 768 MiB
	// but never writes fields anywhere near 64 MiB in practice.
	MaxFieldSize int64
	// WindowSize is the size of one cached read window. Default 64 KiB;
	// it must be a power of two between 16 KiB and 16 MiB. Objects larger
	// than half a window are read on their own.
	WindowSize int
	// Windows is the number of cached windows. Default 4 (256 KiB per open
	// File at most, allocated as used); at most 64.
	Windows int
	// VerifyData recomputes the hash of every DATA payload read (after
	// decompression) and drops a field whose payload does not match the
	// hash stored in its object, as journalctl --verify would flag it. Off
	// by default: it costs about a third of the read speed, and the
	// structural checks and the decompressors already catch most damage.
	VerifyData bool
}

// Defaults for Config.
const (
	DefaultMaxFieldSize = 64 << 20
	DefaultWindowSize   = 64 << 10
	DefaultWindows      = 4
)

// Validate reports the first bad field of c.
func (c Config) Validate() error {
	if c.MaxFieldSize < 0 {
		return configerr.New(ErrInvalidConfig, "MaxFieldSize", "%d is negative", c.MaxFieldSize)
	}
	if c.WindowSize != 0 && (c.WindowSize < 16<<10 || c.WindowSize > 16<<20 || c.WindowSize&(c.WindowSize-1) != 0) {
		return configerr.New(ErrInvalidConfig, "WindowSize", "%d is not a power of two between 16 KiB and 16 MiB", c.WindowSize)
	}
	if c.Windows < 0 || c.Windows > 64 {
		return configerr.New(ErrInvalidConfig, "Windows", "%d is not between 0 and 64", c.Windows)
	}
	return nil
}

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("journalfile: invalid config")

func (c Config) withDefaults() Config {
	if c.MaxFieldSize == 0 {
		c.MaxFieldSize = DefaultMaxFieldSize
	}
	if c.WindowSize == 0 {
		c.WindowSize = DefaultWindowSize
	}
	if c.Windows == 0 {
		c.Windows = DefaultWindows
	}
	return c
}

// File is an open journal file, read with ReadAt (never mmap: archived files
// are truncated under live readers). Safe for use by one goroutine at a time.
type File struct {
	path string
	cfg  Config
	osf  *os.File // nil when opened with OpenReaderAt
	src  io.ReaderAt
	stat func() (int64, error)

	hdr     Header
	hdrRaw  [headerSizeMax]byte // the header bytes hdr was decoded from
	hdrLen  int
	compact bool
	r       *windowReader

	// entries holds the offset of every ENTRY object reachable through the
	// entry array chain, in chain order.
	entries offsetList
	walk    walkState
	walkErr error

	dec                   decompressors
	unz                   unzCache
	names                 map[string]string // interned field names
	items                 []uint64          // scratch: item offsets of the entry being decoded
	spans                 []span            // scratch: where each field landed in Entry.buf
	hintFields, hintBytes int               // EntryAt's guess of the next entry's size
	nameSlots             [512]nameSlot     // direct-mapped by DATA offset
	closed                bool
}

// walkState is where the entry array walk stopped, so that Refresh can
// continue it instead of starting over.
type walkState struct {
	array    uint64 // offset of the current ENTRY_ARRAY, 0 before the first
	capacity uint64 // number of item slots in it
	pos      uint64 // items consumed from it
	last     uint64 // offset of the last entry taken (items ascend strictly)
}

// span is where one field landed in Entry.buf.
type span struct {
	name    string
	eq, end int
}

// nameSlot caches the field name of the DATA object at off.
type nameSlot struct {
	off  uint64
	name string
}

// Open opens and validates the journal file at path. It refuses unknown
// incompatible flags (ErrUnsupported) and non-journal files (ErrNotJournal).
func Open(path string) (*File, error) { return OpenConfig(path, Config{}) }

// OpenConfig is Open with a Config.
func OpenConfig(path string, cfg Config) (*File, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	osf, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening journal file: %w", err)
	}
	stat := func() (int64, error) {
		fi, err := osf.Stat()
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	}
	f, err := open(path, osf, stat, cfg)
	if err != nil {
		osf.Close()
		return nil, err
	}
	f.osf = osf
	return f, nil
}

// OpenReaderAt reads a journal file of the given size from ra (a byte
// slice, a test double). path is only used in errors. Refresh keeps size.
func OpenReaderAt(ra io.ReaderAt, size int64, path string, cfg Config) (*File, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return open(path, ra, func() (int64, error) { return size, nil }, cfg)
}

func open(path string, ra io.ReaderAt, stat func() (int64, error), cfg Config) (*File, error) {
	cfg = cfg.withDefaults()
	f := &File{
		path:  path,
		cfg:   cfg,
		src:   ra,
		stat:  stat,
		r:     newWindowReader(ra, cfg.WindowSize, cfg.Windows),
		names: make(map[string]string),
	}
	f.dec.maxSize = cfg.MaxFieldSize
	if err := f.Refresh(); err != nil {
		f.dec.close()
		return nil, err
	}
	return f, nil
}

// Close closes the file.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	f.dec.close()
	f.entries = offsetList{}
	if f.osf != nil {
		if err := f.osf.Close(); err != nil {
			return fmt.Errorf("closing journal file %s: %w", f.path, err)
		}
	}
	return nil
}

// Path returns the path the file was opened with.
func (f *File) Path() string { return f.path }

// Header returns the header as last read (by Open or Refresh).
func (f *File) Header() Header { return f.hdr }

// DropCache frees the cached windows and scratch buffers; they are
// allocated again when needed. Call it on files kept open but idle (an
// archived file read to its end) to hold no more memory than the entry
// offsets.
func (f *File) DropCache() {
	f.r.wins = make([]window, len(f.r.wins))
	f.r.last = 0
	f.r.big = nil
	f.items, f.spans = nil, nil
	f.dec.zbuf = nil
	f.unz = unzCache{}
	f.dec.close() // the zstd decoder is made again on first use
}

// Size returns the file size as last stat'ed (by Open or Refresh). Every
// read is bounded by it.
func (f *File) Size() int64 { return int64(f.r.size) }

// Refresh re-reads the header and the file size, so that entries appended by
// a live writer become visible through NumEntries and EntryAt. It continues
// the entry array walk where it stopped. It returns an error only when the
// header can no longer be read (the file was replaced, truncated below its
// header or closed); damage found while walking is reported by Err.
func (f *File) Refresh() error {
	if f.closed {
		return fmt.Errorf("refreshing journal file %s: %w", f.path, os.ErrClosed)
	}
	// The header first, then the size: a writer grows the file before it
	// writes objects and links them, so every entry counted by the header we
	// read lies within the size we stat afterwards.
	var buf [headerSizeMax]byte
	n, err := f.src.ReadAt(buf[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading header of %s: %w", f.path, err)
	}
	var h Header
	if err := decodeHeader(buf[:n], &h); err != nil {
		return fmt.Errorf("reading header of %s: %w", f.path, err)
	}
	size, err := f.stat()
	if err != nil {
		return fmt.Errorf("reading size of %s: %w", f.path, err)
	}
	if uint64(size) < h.HeaderSize {
		return fmt.Errorf("reading header of %s: %w: header_size %d, file size %d", f.path, ErrTruncatedHeader, h.HeaderSize, size)
	}
	if f.hdrLen > 0 {
		if h.FileID != f.hdr.FileID || h.HeaderSize != f.hdr.HeaderSize || h.IncompatibleFlags != f.hdr.IncompatibleFlags {
			return fmt.Errorf("refreshing journal file %s: the file was replaced (file id %s, was %s)", f.path, h.FileID, f.hdr.FileID)
		}
	}
	if f.hdrLen == n && f.hdrRaw == buf && uint64(size) == f.r.size {
		// Nothing was appended: keep the cached windows and the walk as they are.
		return nil
	}
	f.hdrRaw, f.hdrLen = buf, n
	f.hdr = h
	f.compact = h.Compact()
	f.r.reset(uint64(size))
	f.walkErr = nil
	f.walkEntries()
	return nil
}

// NumEntries returns the number of entries reachable through the entry
// arrays, in file order (ascending seqnum). For a damaged file it is the
// number that could be salvaged; Err then reports the damage.
func (f *File) NumEntries() int { return f.entries.len() }

// Err returns the *CorruptionError found while walking the entry arrays, or
// nil. (An I/O error that stopped the walk is returned as is.) The entries
// before the damage stay available; Refresh retries the walk.
func (f *File) Err() error { return f.walkErr }

// EntryOffset returns the file offset of entry i's ENTRY object
// (0 <= i < NumEntries).
func (f *File) EntryOffset(i int) uint64 { return f.entries.at(i) }

func (f *File) corrupt(off uint64, format string, args ...any) *CorruptionError {
	return &CorruptionError{Path: f.path, Offset: off, Reason: fmt.Sprintf(format, args...)}
}

// readObject returns the whole object at off, checking the generic
// invariants (alignment, header size, type, bounds) the way systemd's
// journal_file_move_to_object does. want is the expected type; minSize the
// smallest valid size for it.
func (f *File) readObject(off uint64, want uint8, minSize uint64) ([]byte, error) {
	size, _, err := f.objectAt(off, want, minSize, objectHeaderSize)
	if err != nil {
		return nil, err
	}
	b, err := f.r.slice(off, size)
	if err != nil {
		return nil, f.ioErr(off, want, err)
	}
	return b, nil
}

// objectAt checks the object at off like readObject, and that it lies
// within the file, but returns only its size and its first n bytes
// (n <= minSize): enough to walk a long entry array or take an entry's
// fixed part without reading the whole object.
func (f *File) objectAt(off uint64, want uint8, minSize, n uint64) (uint64, []byte, error) {
	if off&7 != 0 {
		return 0, nil, f.corrupt(off, "%s object offset not 8-byte aligned", objectTypeName(want))
	}
	if off < f.hdr.HeaderSize {
		return 0, nil, f.corrupt(off, "%s object offset inside the header", objectTypeName(want))
	}
	hb, err := f.r.slice(off, n)
	if err != nil {
		return 0, nil, f.ioErr(off, want, err)
	}
	typ, size := hb[0], le.Uint64(hb[8:])
	if typ != want {
		return 0, nil, f.corrupt(off, "expected a %s object, found %s (size %d)", objectTypeName(want), objectTypeName(typ), size)
	}
	if size < minSize {
		return 0, nil, f.corrupt(off, "%s object size %d below the minimum %d", objectTypeName(want), size, minSize)
	}
	if size > f.r.size-off {
		return 0, nil, f.corrupt(off, "%s object of %d bytes %v (size %d)", objectTypeName(want), size, errPastEOF, f.r.size)
	}
	return size, hb, nil
}

func (f *File) ioErr(off uint64, want uint8, err error) error {
	if errors.Is(err, errPastEOF) {
		return f.corrupt(off, "%s object %v (size %d)", objectTypeName(want), err, f.r.size)
	}
	return fmt.Errorf("reading %s object at offset %d of %s: %w", objectTypeName(want), off, f.path, err)
}

// walkEntries follows the entry array chain from where it stopped and
// appends the entry offsets it finds, up to the header's n_entries. It stops
// at the first damage and records it in walkErr.
func (f *File) walkEntries() {
	itemSize := uint64(entryArrayItemRegular)
	if f.compact {
		itemSize = entryArrayItemCompact
	}
	want := f.hdr.NEntries
	if uint64(f.entries.len()) > want {
		// A header that counts fewer entries than we already hold: keep what
		// we have (the objects do not move), but say so.
		f.walkErr = f.corrupt(0, "header n_entries %d is below the %d entries already read", want, f.entries.len())
		return
	}
	for uint64(f.entries.len()) < want {
		w := &f.walk
		if w.array == 0 || w.pos == w.capacity {
			if err := f.nextEntryArray(itemSize, want); err != nil {
				f.walkErr = err
				return
			}
		}
		if err := f.takeEntryItems(itemSize, want); err != nil {
			f.walkErr = err
			return
		}
	}
}

// nextEntryArray moves the walk to the next ENTRY_ARRAY of the chain (the
// header's first one when it has none yet), checking that the chain goes
// forward and that the array holds a whole number of items.
func (f *File) nextEntryArray(itemSize, want uint64) error {
	w := &f.walk
	var next uint64
	if w.array == 0 {
		next = f.hdr.EntryArrayOffset
		if next == 0 {
			return f.corrupt(0, "header counts %d entries but has no entry array", want)
		}
	} else {
		_, b, err := f.objectAt(w.array, objectEntryArray, entryArrayItemsOffset, entryArrayItemsOffset)
		if err != nil {
			return err
		}
		next = le.Uint64(b[16:])
		if next == 0 {
			return f.corrupt(w.array, "entry array chain ends after %d of %d entries", f.entries.len(), want)
		}
		if next <= w.array {
			return f.corrupt(w.array, "entry array chain goes backwards to offset %d", next)
		}
	}
	size, _, err := f.objectAt(next, objectEntryArray, entryArrayItemsOffset+itemSize, entryArrayItemsOffset)
	if err != nil {
		return err
	}
	if (size-entryArrayItemsOffset)%itemSize != 0 {
		return f.corrupt(next, "ENTRY_ARRAY object size %d is not a whole number of items", size)
	}
	*w = walkState{array: next, capacity: (size - entryArrayItemsOffset) / itemSize, last: w.last}
	return nil
}

// takeEntryItems adds the current array's next items, in a chunk that fits
// a window, to the entries: each must point inside the file, past the last.
func (f *File) takeEntryItems(itemSize, want uint64) error {
	w := &f.walk
	n := w.capacity - w.pos
	if rest := want - uint64(f.entries.len()); n > rest {
		n = rest
	}
	if max := uint64(f.cfg.WindowSize/2) / itemSize; n > max {
		n = max
	}
	start := w.array + entryArrayItemsOffset + w.pos*itemSize
	b, err := f.r.slice(start, n*itemSize)
	if err != nil {
		return f.ioErr(w.array, objectEntryArray, err)
	}
	for i := uint64(0); i < n; i++ {
		var p uint64
		if f.compact {
			p = uint64(le.Uint32(b[i*4:]))
		} else {
			p = le.Uint64(b[i*8:])
		}
		itemOff := start + i*itemSize
		switch {
		case p == 0:
			return f.corrupt(itemOff, "entry array item is empty after %d of %d entries", f.entries.len(), want)
		case p <= w.last:
			return f.corrupt(itemOff, "entry array item %d does not ascend (previous %d)", p, w.last)
		case p&7 != 0 || p < f.hdr.HeaderSize || p >= f.r.size:
			return f.corrupt(itemOff, "entry array item %d points outside the file (size %d)", p, f.r.size)
		}
		f.entries.add(p)
		w.last = p
		w.pos++
	}
	return nil
}

// EntryMeta returns the fixed part of entry i (0 <= i < NumEntries) without
// decoding its fields. A damaged entry yields a *CorruptionError; callers skip it.
func (f *File) EntryMeta(i int) (EntryMeta, error) {
	if i < 0 || i >= f.entries.len() {
		return EntryMeta{}, fmt.Errorf("journalfile: %s: entry index %d out of range [0, %d)", f.path, i, f.entries.len())
	}
	off := f.entries.at(i)
	if _, err := f.entryFixed(off); err != nil {
		return EntryMeta{}, err
	}
	b, err := f.r.slice(off, entryItemsOffset)
	if err != nil {
		return EntryMeta{}, f.ioErr(off, objectEntry, err)
	}
	return entryMetaFrom(b, off, f.hdr.SeqnumID), nil
}

// entryObject reads and checks the whole ENTRY object at off, as systemd's
// journal_file_check_object does.
func (f *File) entryObject(off uint64) ([]byte, error) {
	size, err := f.entryFixed(off)
	if err != nil {
		return nil, err
	}
	b, err := f.r.slice(off, size)
	if err != nil {
		return nil, f.ioErr(off, objectEntry, err)
	}
	return b, nil
}

// entryFixed checks the ENTRY object at off and returns its size; its fixed
// part is then in the window cache (f.r.slice(off, entryItemsOffset)).
func (f *File) entryFixed(off uint64) (uint64, error) {
	itemSize := uint64(entryItemSizeRegular)
	if f.compact {
		itemSize = entryItemSizeCompact
	}
	size, b, err := f.objectAt(off, objectEntry, entryItemsOffset+itemSize, entryItemsOffset)
	if err != nil {
		return 0, err
	}
	if (size-entryItemsOffset)%itemSize != 0 {
		return 0, f.corrupt(off, "ENTRY object size %d is not a whole number of items", size)
	}
	if s := le.Uint64(b[16:]); s == 0 {
		return 0, f.corrupt(off, "ENTRY object has seqnum 0")
	}
	if rt := le.Uint64(b[24:]); rt == 0 || rt >= validTimeMax {
		return 0, f.corrupt(off, "ENTRY object has invalid realtime %d", rt)
	}
	if mt := le.Uint64(b[32:]); mt >= validTimeMax {
		return 0, f.corrupt(off, "ENTRY object has invalid monotonic time %d", mt)
	}
	return size, nil
}

// EntryAt decodes entry i (0 <= i < NumEntries) with its fields. A damaged
// entry yields a *CorruptionError; callers skip it, as journalctl does.
func (f *File) EntryAt(i int) (*Entry, error) {
	// Size the new entry's memory after the last one read, so that decoding
	// usually costs exactly three allocations (Entry, Fields, bytes).
	e := &Entry{
		Fields: make([]Field, 0, f.hintFields),
		buf:    make([]byte, 0, f.hintBytes),
	}
	if err := f.ReadEntry(i, e); err != nil {
		return nil, err
	}
	f.hintFields = min(max(len(e.Fields)+len(e.Fields)/4, 8), 1024)
	f.hintBytes = min(max(len(e.buf)+len(e.buf)/4, 256), 64<<10)
	return e, nil
}

// ReadEntry is EntryAt decoding into e, reusing e's memory: the Values of
// e.Fields from an earlier call are overwritten. It lets a hot loop read
// entries without allocating.
func (f *File) ReadEntry(i int, e *Entry) error {
	if i < 0 || i >= f.entries.len() {
		return fmt.Errorf("journalfile: %s: entry index %d out of range [0, %d)", f.path, i, f.entries.len())
	}
	off := f.entries.at(i)
	b, err := f.entryObject(off)
	if err != nil {
		return err
	}
	e.EntryMeta = entryMetaFrom(b, off, f.hdr.SeqnumID)
	e.Damaged = false
	e.Problems = e.Problems[:0]
	e.Fields = e.Fields[:0]
	e.buf = e.buf[:0]

	// Copy the item offsets out: reading DATA objects may evict the window
	// that holds the entry.
	f.items = f.items[:0]
	items := b[entryItemsOffset:]
	if f.compact {
		for j := 0; j+4 <= len(items); j += 4 {
			f.items = append(f.items, uint64(le.Uint32(items[j:])))
		}
	} else {
		for j := 0; j+16 <= len(items); j += 16 {
			f.items = append(f.items, le.Uint64(items[j:]))
		}
	}

	f.spans = f.spans[:0]
	for j, p := range f.items {
		start := len(e.buf)
		e.buf, err = f.appendData(e.buf, p)
		eq := -1
		var name string
		if err == nil {
			// DATA objects never change: a field seen at this offset before
			// has the same name, so skip the search and the intern lookup.
			slot := &f.nameSlots[(p>>3)%uint64(len(f.nameSlots))]
			if slot.off == p && slot.name != "" {
				name, eq = slot.name, len(slot.name)
			} else if eq = bytes.IndexByte(e.buf[start:], '='); eq >= 0 {
				name = f.intern(e.buf[start : start+eq])
				slot.off, slot.name = p, name
			}
		}
		if err == nil && eq < 0 {
			// journald never writes a field without '='; journalctl would
			// print it as is, we cannot represent it as NAME=value.
			err = f.corrupt(p, "DATA object payload has no '='")
		}
		if err != nil {
			e.buf = e.buf[:start]
			var ce *CorruptionError
			if !errors.As(err, &ce) {
				return fmt.Errorf("reading entry %d of %s: %w", i, f.path, err)
			}
			at := ce.Offset
			if at < f.hdr.HeaderSize {
				at = off // an item zeroed or pointing into the header
			}
			e.Damaged = true
			e.Problems = append(e.Problems, f.corrupt(at, "item %d of the entry at offset %d: %s", j, off, ce.Reason))
			continue
		}
		f.spans = append(f.spans, span{name: name, eq: start + eq, end: len(e.buf)})
	}
	for _, s := range f.spans {
		e.Fields = append(e.Fields, Field{Name: s.name, Value: e.buf[s.eq+1 : s.end : s.end]})
	}
	if cap(f.r.big) > 1<<20 {
		f.r.big = nil
	}
	return nil
}

// maxInterned bounds the name cache so that a file full of distinct names
// cannot grow it without limit.
const maxInterned = 4096

func (f *File) intern(b []byte) string {
	if s, ok := f.names[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(f.names) < maxInterned {
		f.names[s] = s
	}
	return s
}

// appendData appends the payload (NAME=value, decompressed) of the DATA
// object at off to dst.
func (f *File) appendData(dst []byte, off uint64) ([]byte, error) {
	payloadOff := uint64(dataPayloadRegular)
	if f.compact {
		payloadOff = dataPayloadCompact
	}
	if off&7 != 0 {
		return dst, f.corrupt(off, "DATA object offset not 8-byte aligned")
	}
	if off < f.hdr.HeaderSize {
		return dst, f.corrupt(off, "DATA object offset inside the header")
	}
	hb, err := f.r.slice(off, objectHeaderSize)
	if err != nil {
		return dst, f.ioErr(off, objectData, err)
	}
	typ, flags, size := hb[0], hb[1], le.Uint64(hb[8:])
	if typ != objectData {
		return dst, f.corrupt(off, "expected a DATA object, found %s (size %d)", objectTypeName(typ), size)
	}
	if size <= payloadOff {
		return dst, f.corrupt(off, "DATA object size %d leaves no payload", size)
	}
	comp := flags & objectCompressedMask
	if comp&(comp-1) != 0 {
		return dst, f.corrupt(off, "DATA object has several compression flags 0x%x", flags)
	}
	if comp == 0 && size-payloadOff > uint64(f.cfg.MaxFieldSize) {
		return dst, f.corrupt(off, "DATA object payload of %d bytes exceeds the %d-byte limit", size-payloadOff, f.cfg.MaxFieldSize)
	}
	b, err := f.r.slice(off, size)
	if err != nil {
		return dst, f.ioErr(off, objectData, err)
	}
	stored := le.Uint64(b[16:])
	payload := b[payloadOff:]
	start := len(dst)
	if comp == 0 {
		dst = append(dst, payload...)
	} else {
		if v, ok := f.unz.get(off); ok {
			// A repeated large value (the same stack trace logged again
			// and again is one DATA object) is decompressed once.
			return append(dst, v...), nil
		}
		dst, err = f.dec.decompress(dst, comp, payload)
		if err != nil {
			return dst[:start], f.corrupt(off, "decompressing DATA object: %v", err)
		}
	}
	if f.cfg.VerifyData {
		if h := hashData(&f.hdr, dst[start:]); h != stored {
			return dst[:start], f.corrupt(off, "DATA object payload hash %016x does not match the stored %016x", h, stored)
		}
	}
	if comp != 0 {
		f.unz.put(off, dst[start:])
	}
	return dst, nil
}

// unzCache keeps the last few decompressed DATA payloads by offset: DATA
// objects never change, so a hit is always right.
type unzCache struct {
	slots [4]struct {
		off uint64
		val []byte
	}
	next int
	hits uint64 // for tests
}

// unzCacheMax is the largest payload kept.
const unzCacheMax = 256 << 10

func (c *unzCache) get(off uint64) ([]byte, bool) {
	for i := range c.slots {
		if c.slots[i].off == off && c.slots[i].val != nil {
			c.hits++
			return c.slots[i].val, true
		}
	}
	return nil, false
}

func (c *unzCache) put(off uint64, v []byte) {
	if len(v) > unzCacheMax {
		return
	}
	s := &c.slots[c.next]
	c.next = (c.next + 1) % len(c.slots)
	s.off = off
	s.val = append(s.val[:0], v...)
}

// offsetList holds the entry offsets: 32-bit while every offset fits, which
// halves the memory for every journal file below 4 GiB (all of them in
// practice: compact files cannot be larger, journald caps files at 128 MiB
// by default), 64-bit from the first offset that does not.
type offsetList struct {
	small []uint32
	big   []uint64 // non-nil once an offset >= 4 GiB was added; then holds all
}

func (l *offsetList) len() int {
	if l.big != nil {
		return len(l.big)
	}
	return len(l.small)
}

func (l *offsetList) at(i int) uint64 {
	if l.big != nil {
		return l.big[i]
	}
	return uint64(l.small[i])
}

func (l *offsetList) add(p uint64) {
	if l.big == nil && p <= math.MaxUint32 {
		l.small = append(l.small, uint32(p))
		return
	}
	if l.big == nil {
		l.big = make([]uint64, len(l.small), max(2*len(l.small), 16))
		for i, v := range l.small {
			l.big[i] = uint64(v)
		}
		l.small = nil
	}
	l.big = append(l.big, p)
}
