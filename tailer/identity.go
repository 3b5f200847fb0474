package tailer

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/zeebo/xxh3"
)

// fingerprintLen caps the fingerprint: the first line of a file, up to this
// many bytes.
const fingerprintLen = 256

// checkpointPrefix starts every checkpoint key the tailer writes.
const checkpointPrefix = "f/"

// fileID locates a file: device and inode. While the tailer holds a file open
// its inode cannot be reused, so fileID is unique among open files; across
// time it is not, which is what the fingerprint is for.
type fileID struct {
	Dev, Ino uint64
}

// checkpointKey is the sink key of the checkpoint of the file at id.
func (id fileID) checkpointKey() string {
	return checkpointPrefix + strconv.FormatUint(id.Dev, 16) + ":" + strconv.FormatUint(id.Ino, 16)
}

func (id fileID) String() string { return fmt.Sprintf("dev %d inode %d", id.Dev, id.Ino) }

// fileKey is the stable identity of a file's content used in record IDs: a
// hash of device, inode, truncation generation and fingerprint. It survives
// renames and differs between two files (and between the contents a file had
// before and after a copytruncate).
func fileKey(id fileID, gen uint64, fp []byte) string {
	var h xxh3.Hasher128
	var b [24]byte
	binary.LittleEndian.PutUint64(b[0:], id.Dev)
	binary.LittleEndian.PutUint64(b[8:], id.Ino)
	binary.LittleEndian.PutUint64(b[16:], gen)
	_, _ = h.Write(b[:])
	_, _ = h.Write(fp)
	s := h.Sum128().Bytes()
	return hex.EncodeToString(s[:])
}

// readFingerprint reads the fingerprint of f: its first line including the
// '\n', or its first fingerprintLen bytes when the first line is longer. final
// is false while neither exists yet (the file may still grow); fp then holds
// what there is.
func readFingerprint(f io.ReaderAt) (fp []byte, final bool, err error) {
	buf := make([]byte, fingerprintLen)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, false, err
	}
	buf = buf[:n]
	if i := bytes.IndexByte(buf, '\n'); i >= 0 {
		return buf[:i+1], true, nil
	}
	return buf, n == fingerprintLen, nil
}

// fingerprintMatches reports whether f still starts with fp.
func fingerprintMatches(f io.ReaderAt, fp []byte) (bool, error) {
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

// position is the decoded value of a file checkpoint.
type position struct {
	// Resume is where reading restarts: the end of the last consumed line,
	// or the start of the parser's pending partial message when one is held.
	Resume int64
	// Consumed is the end of the last line whose records were appended.
	// Lines between Resume and Consumed are decoded again after a restart
	// (to rebuild the pending partial), but the records they produce are
	// dropped: they were appended before.
	Consumed int64
	// Size is the file size last observed (to count unread bytes if the file
	// vanishes before it is read again).
	Size int64
	// ID is where the file was.
	ID fileID
	// Gen counts the truncations seen (it is mixed into the file key).
	Gen uint64
	// FP is the fingerprint.
	FP []byte
	// Path and Resolved are the path as discovered and its symlink target.
	Path, Resolved string
}

// checkpointVersion is the first byte of an encoded position.
const checkpointVersion = 1

// ErrBadCheckpoint is wrapped by errors decoding a stored checkpoint.
var ErrBadCheckpoint = errors.New("tailer: malformed checkpoint")

// encodePosition encodes p:
//
//	version byte (1)
//	uvarint Resume, Consumed, Size, Dev, Ino, Gen
//	uvarint len(FP), FP, uvarint len(Path), Path, uvarint len(Resolved), Resolved
func encodePosition(p position) []byte {
	b := make([]byte, 0, 1+6*binary.MaxVarintLen64+3*binary.MaxVarintLen16+len(p.FP)+len(p.Path)+len(p.Resolved))
	b = append(b, checkpointVersion)
	b = binary.AppendUvarint(b, uint64(p.Resume))
	b = binary.AppendUvarint(b, uint64(p.Consumed))
	b = binary.AppendUvarint(b, uint64(p.Size))
	b = binary.AppendUvarint(b, p.ID.Dev)
	b = binary.AppendUvarint(b, p.ID.Ino)
	b = binary.AppendUvarint(b, p.Gen)
	b = binary.AppendUvarint(b, uint64(len(p.FP)))
	b = append(b, p.FP...)
	b = binary.AppendUvarint(b, uint64(len(p.Path)))
	b = append(b, p.Path...)
	b = binary.AppendUvarint(b, uint64(len(p.Resolved)))
	b = append(b, p.Resolved...)
	return b
}

// decodePosition decodes what encodePosition wrote; errors wrap ErrBadCheckpoint.
func decodePosition(b []byte) (position, error) {
	var p position
	if len(b) == 0 || b[0] != checkpointVersion {
		return p, fmt.Errorf("%w: unknown version", ErrBadCheckpoint)
	}
	d := decoder{b: b[1:]}
	p.Resume = int64(d.uvarint())
	p.Consumed = int64(d.uvarint())
	p.Size = int64(d.uvarint())
	p.ID.Dev = d.uvarint()
	p.ID.Ino = d.uvarint()
	p.Gen = d.uvarint()
	p.FP = d.bytes(fingerprintLen)
	p.Path = string(d.bytes(4096))
	p.Resolved = string(d.bytes(4096))
	if d.err != nil {
		return position{}, d.err
	}
	if len(d.b) != 0 {
		return position{}, fmt.Errorf("%w: %d trailing bytes", ErrBadCheckpoint, len(d.b))
	}
	if p.Resume < 0 || p.Consumed < p.Resume || p.Size < 0 {
		return position{}, fmt.Errorf("%w: offsets resume %d consumed %d size %d", ErrBadCheckpoint, p.Resume, p.Consumed, p.Size)
	}
	return p, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > 1<<62 {
		d.err = fmt.Errorf("%w: bad varint", ErrBadCheckpoint)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(max int) []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(max) || n > uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: field length %d", ErrBadCheckpoint, n)
		return nil
	}
	v := bytes.Clone(d.b[:n])
	d.b = d.b[n:]
	return v
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
