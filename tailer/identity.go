package tailer

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/zeebo/xxh3"
)

// fileID locates a file: device and inode. While the tailer holds a file open
// its inode cannot be reused, so fileID is unique among open files; across
// time it is not, which is what the fingerprint is for.
type fileID struct {
	Dev, Ino uint64
}

func (id fileID) String() string { return fmt.Sprintf("dev %d inode %d", id.Dev, id.Ino) }

// fileKey is the stable identity of a file's content used in record IDs: a
// hash of device, inode, truncation generation, the nonce given to the file
// when it was first read from its start (nonceFor), and fingerprint. It survives renames and
// restarts (everything in it is in the checkpoint) and differs between two
// files, including a file that replaced another at the same device and inode
// with the same first line, and between the contents a file had before and
// after a copytruncate. A file first read under a version 1 checkpoint has no
// nonce and keeps its version 1 key (device, inode, generation, fingerprint).
func fileKey(id fileID, gen uint64, fp, nonce []byte) string {
	var h xxh3.Hasher128
	var b [24]byte
	binary.LittleEndian.PutUint64(b[0:], id.Dev)
	binary.LittleEndian.PutUint64(b[8:], id.Ino)
	binary.LittleEndian.PutUint64(b[16:], gen)
	_, _ = h.Write(b[:])
	if nonce != nil {
		_, _ = h.Write([]byte("v2"))
		_, _ = h.Write(nonce)
	}
	_, _ = h.Write(fp)
	s := h.Sum128().Bytes()
	return hex.EncodeToString(s[:])
}

// nonceFor is the nonce of a file first read from its start. Where the file
// system gives the file an identity (inode generation, birth time), the
// nonce is derived from it: it still tells a file from an earlier one at the
// same inode, and the file's record IDs do not depend on the spool, so a
// file read again after its checkpoint was lost (a lost or salvaged spool)
// gets the IDs it had and Elasticsearch answers the copies with 409. Without
// such an identity the nonce is random.
func nonceFor(id fsIdentity) []byte {
	if !id.HasGen && !id.HasBirth {
		return newNonce()
	}
	var b [17]byte
	b[0] = 'i'
	if id.HasGen {
		binary.LittleEndian.PutUint64(b[1:], id.Gen)
	}
	if id.HasBirth {
		binary.LittleEndian.PutUint64(b[9:], uint64(id.Birth))
	}
	return binary.LittleEndian.AppendUint64(nil, xxh3.Hash(b[:]))
}

// newNonce draws a random position nonce.
func newNonce() []byte {
	b := make([]byte, nonceLen)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand does not fail on Linux; a time stamp is unique enough.
		binary.LittleEndian.PutUint64(b, uint64(time.Now().UnixNano()))
	}
	return b
}

// fsIdentity is what the file system tells about a file beyond device and
// inode: the inode generation (FS_IOC_GETVERSION: ext4, xfs, btrfs) and the
// birth time (statx). Either is unknown where the file system does not say
// (tmpfs, overlayfs, older kernels); identity then rests on the fingerprint
// and the tail check.
type fsIdentity struct {
	Gen      uint64
	HasGen   bool
	Birth    int64 // unix nanoseconds
	HasBirth bool
}

// differs reports whether a and b are known to be two different files.
func (a fsIdentity) differs(b fsIdentity) bool {
	return (a.HasGen && b.HasGen && a.Gen != b.Gen) || (a.HasBirth && b.HasBirth && a.Birth != b.Birth)
}

// verdict is what a stored position says about the file now at its device
// and inode.
type verdict int

const (
	sameFile  verdict = iota // resume at the position
	truncated                // the same file, cut and maybe rewritten: start over
	replaced                 // another file: start over under a new key
)

// matchPosition decides whether the file f (of size, with fs identity now)
// is the file p describes. It checks, in order: the file system's identity,
// the fingerprint, the size against the resume offset, and the hash of the
// bytes just before the resume offset. It returns those bytes when the file
// matches (the reader checks them again before each read).
func matchPosition(f io.ReaderAt, now fsIdentity, p position, size int64) (verdict, string, []byte, error) {
	if p.Ident.differs(now) {
		return replaced, "inode generation or birth time differs", nil, nil
	}
	fsSame := (p.Ident.HasGen && now.HasGen) || (p.Ident.HasBirth && now.HasBirth)
	rewritten := replaced
	if fsSame {
		rewritten = truncated // the same inode object: copytruncate
	}
	match, err := p.FP.matches(f)
	if err != nil {
		return sameFile, "", nil, fmt.Errorf("reading fingerprint: %w", err)
	}
	if !match {
		return rewritten, "first line differs", nil, nil
	}
	if size < p.Resume {
		return truncated, "shorter than the resume offset", nil, nil
	}
	n := p.Tail.N
	if n == 0 {
		n = tailLen // a version 1 checkpoint: nothing to check, but remember
	}
	tail, err := readTail(f, p.Resume, n)
	if err != nil {
		return sameFile, "", nil, fmt.Errorf("reading the bytes before the resume offset: %w", err)
	}
	if p.Tail.N == 0 {
		return sameFile, "", tailWindow(tail), nil
	}
	if len(tail) != p.Tail.N || sumTail(tail) != p.Tail {
		return rewritten, "bytes before the resume offset differ", nil, nil
	}
	return sameFile, "", tail, nil
}

// lastLineEnd returns the offset just past the last '\n' in the first size
// bytes of f (0 when there is none): where "read from tail" starts.
func lastLineEnd(f *os.File, size int64) (int64, error) {
	buf := make([]byte, 64<<10)
	end := size
	for end > 0 {
		start := max(end-int64(len(buf)), 0)
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}
