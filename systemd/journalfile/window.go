package journalfile

import (
	"errors"
	"io"
)

// errPastEOF reports a read that would cross the end of the file as last
// stat'ed. Callers turn it into a *CorruptionError with the offset.
var errPastEOF = errors.New("extends past the end of the file")

// window is one cached, page-aligned stretch of the file.
type window struct {
	off  uint64
	buf  []byte // the valid bytes; cap is the window size
	used uint64 // LRU tick
}

// windowReader serves small reads from a few cached windows so that walking
// entries costs few pread(2) calls, and large reads from a scratch buffer.
// Every read is bounded by size (the stat'ed file size), never by header
// fields. A slice it returns is valid until the next call.
type windowReader struct {
	ra      io.ReaderAt
	size    uint64
	winSize int
	wins    []window
	tick    uint64
	last    int // index of the window that served the last hit
	big     []byte
	preads  uint64 // number of ReadAt calls, for tests and benchmarks
}

const pageSize = 4096

func newWindowReader(ra io.ReaderAt, winSize, nWindows int) *windowReader {
	return &windowReader{ra: ra, winSize: winSize, wins: make([]window, nWindows)}
}

// reset drops every cached window (the file may have changed under us) and
// sets the new size bound.
func (r *windowReader) reset(size uint64) {
	r.size = size
	for i := range r.wins {
		r.wins[i].buf = r.wins[i].buf[:0]
		r.wins[i].off = 0
		r.wins[i].used = 0
	}
}

// slice returns n bytes at off. It fails with errPastEOF when off+n is
// beyond the file, and with the underlying error when ReadAt fails.
func (r *windowReader) slice(off, n uint64) ([]byte, error) {
	if n > r.size || off > r.size-n {
		return nil, errPastEOF
	}
	end := off + n
	if w := &r.wins[r.last]; len(w.buf) > 0 && off >= w.off && end <= w.off+uint64(len(w.buf)) {
		return w.buf[off-w.off : end-w.off], nil
	}
	for i := range r.wins {
		w := &r.wins[i]
		if len(w.buf) > 0 && off >= w.off && end <= w.off+uint64(len(w.buf)) {
			r.tick++
			w.used = r.tick
			r.last = i
			return w.buf[off-w.off : end-w.off], nil
		}
	}
	if n > uint64(r.winSize)/2 {
		return r.readBig(off, n)
	}
	// Load the least recently used window with a page-aligned stretch that
	// covers [off, end): since n <= winSize/2 and off-start < pageSize <=
	// winSize/2, it always does unless the file ends first.
	li := 0
	for i := 1; i < len(r.wins); i++ {
		if r.wins[i].used < r.wins[li].used {
			li = i
		}
	}
	w := &r.wins[li]
	r.last = li
	start := off &^ (pageSize - 1)
	length := uint64(r.winSize)
	if length > r.size-start {
		length = r.size - start
	}
	if cap(w.buf) < r.winSize {
		w.buf = make([]byte, r.winSize)
	}
	w.buf = w.buf[:length]
	m, err := r.ra.ReadAt(w.buf, int64(start))
	r.preads++
	w.buf = w.buf[:m]
	w.off = start
	r.tick++
	w.used = r.tick
	if uint64(m) < end-start {
		if err == nil || errors.Is(err, io.EOF) {
			// The file shrank under us (an archived file truncated to its
			// last object): what we wanted is gone.
			return nil, errPastEOF
		}
		// A bad sector elsewhere in the window must not cost us the bytes
		// we asked for: read just those.
		w.buf = w.buf[:0]
		return r.readBig(off, n)
	}
	return w.buf[off-start : end-start], nil
}

// readBig reads n bytes at off into the reusable scratch buffer.
func (r *windowReader) readBig(off, n uint64) ([]byte, error) {
	if uint64(cap(r.big)) < n {
		r.big = make([]byte, n)
	}
	b := r.big[:n]
	m, err := r.ra.ReadAt(b, int64(off))
	r.preads++
	if uint64(m) < n {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, errPastEOF
		}
		return nil, err
	}
	return b, nil
}
