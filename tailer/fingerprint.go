package tailer

import (
	"bytes"
	"errors"
	"io"

	"github.com/zeebo/xxh3"
)

// fingerprintLen caps the fingerprint: the first line of a file, up to this
// many bytes. 4 KiB holds the whole first line of almost every container log
// (a docker json-file line has its "time" field at its end, after the
// message), so two files whose first lines differ only there differ.
const fingerprintLen = 4 << 10

// tailLen caps the window of bytes before an offset that is checked on every
// resume and before every read: the last complete line before the offset and
// what follows it (see tailWindow). A line holds its runtime's time stamp
// (at its start in CRI, at its end in docker json-file), so a file rewritten
// with lines that look alike still fails the check. Fluent Bit checks 32
// bytes, which lines ending in the same message pass.
const tailLen = 4 << 10

// tailWindow returns the suffix of b (the bytes just before an offset) that
// is checked: from the start of the last line that ends in b (excluding a
// '\n' that is b's last byte) to the end, at most tailLen bytes.
func tailWindow(b []byte) []byte {
	if len(b) > tailLen {
		b = b[len(b)-tailLen:]
	}
	if len(b) < 2 {
		return b
	}
	if i := bytes.LastIndexByte(b[:len(b)-1], '\n'); i >= 0 {
		// The line before the last one ends at i: start at its start.
		if j := bytes.LastIndexByte(b[:i], '\n'); j >= 0 {
			return b[j+1:]
		}
	}
	return b
}

// tailSum is a hash of the N (at most tailLen) bytes just before an offset.
type tailSum struct {
	N   int
	Sum uint64
}

func sumTail(b []byte) tailSum { return tailSum{N: len(b), Sum: xxh3.Hash(b)} }

// readTail reads the (at most tailLen) bytes before off.
func readTail(f io.ReaderAt, off int64, n int) ([]byte, error) {
	n = int(min(int64(n), off))
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, off-int64(n))
	if err != nil && !(errors.Is(err, io.EOF) && got == n) {
		if errors.Is(err, io.EOF) {
			return buf[:got], nil
		}
		return nil, err
	}
	return buf, nil
}

// fingerprint is a file's identity by content: its first line including the
// '\n', or its first fingerprintLen bytes when the first line is longer
// (stanza's fingerprint, filestream's identifier). Empty: the file was empty
// (or read from its tail), and nothing can be matched to it.
type fingerprint []byte

// readFingerprint reads the fingerprint of f. final is false while neither
// the first line nor fingerprintLen bytes exist yet (the file may still
// grow); fp then holds what there is.
func readFingerprint(f io.ReaderAt) (fp fingerprint, final bool, err error) {
	buf := make([]byte, fingerprintLen)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, false, err
	}
	buf = buf[:n]
	// Copied to its size: a file's fingerprint lives as long as the file is
	// followed (thousands of files), its 4 KiB buffer need not.
	if i := bytes.IndexByte(buf, '\n'); i >= 0 {
		return bytes.Clone(buf[:i+1]), true, nil
	}
	return bytes.Clone(buf), n == fingerprintLen, nil
}

// matches reports whether f still starts with fp.
func (fp fingerprint) matches(f io.ReaderAt) (bool, error) {
	if len(fp) == 0 {
		return true, nil
	}
	buf := make([]byte, len(fp))
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return n == len(fp) && bytes.Equal(buf, fp), nil
}

// startsStream reports whether the stream r (a decompressed copy) starts
// with fp, reading len(fp) bytes of it. An empty fingerprint matches no
// stream: a file that was empty cannot be told from any copy.
func (fp fingerprint) startsStream(r io.Reader) bool {
	if len(fp) == 0 {
		return false
	}
	head := make([]byte, len(fp))
	_, err := io.ReadFull(r, head)
	return err == nil && bytes.Equal(head, fp)
}
