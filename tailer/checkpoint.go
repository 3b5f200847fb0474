package tailer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

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
	FP fingerprint
	// Path and Resolved are the path as discovered and its symlink target.
	Path, Resolved string

	// Version 2 fields (zero in a version 1 checkpoint).

	// Ident is what the file system says about the file's identity (inode
	// generation, birth time) when it was first opened.
	Ident fsIdentity
	// Nonce is random, drawn when the file was first read from its start;
	// it is mixed into the file key, so a file that replaces another one at
	// the same device and inode never shares a record ID with it. Nil for a
	// file first read under a version 1 checkpoint (its key stays the
	// version 1 key, so an upgrade neither loses nor repeats a line).
	Nonce []byte
	// Tail is a hash of the bytes just before Resume, checked on every
	// resume: a file rewritten under the same name, device, inode and first
	// line does not pass it.
	Tail tailSum
	// At is when the checkpoint was written (unix ns; 0: unknown). At a
	// restart the newest At tells since when rotated files without a
	// checkpoint must have been written to be read (see Tailer.Run).
	At int64

	// fromV1 is set when the position was decoded from a version 1
	// checkpoint (not stored).
	fromV1 bool
}

// Checkpoint versions: the tailer writes checkpointVersion and reads
// versions 1 and 2.
//
//	| version | written by            | read by    |
//	|---------|-----------------------|------------|
//	| 1       | logspool before 2026-12 | this one |
//	| 2       | this one              | this one   |
const (
	checkpointV1      = 1
	checkpointVersion = 2
)

// ErrBadCheckpoint is wrapped by errors decoding a stored checkpoint.
var ErrBadCheckpoint = errors.New("tailer: malformed checkpoint")

// Flags of a version 2 checkpoint.
const (
	cpHasGen   = 1 << 0 // Ident.Gen is known
	cpHasBirth = 1 << 1 // Ident.Birth is known
)

// nonceLen is the length of position.Nonce.
const nonceLen = 8

// encodePosition encodes p (version 2):
//
//	version byte (2)
//	uvarint Resume, Consumed, Size, Dev, Ino, Gen
//	uvarint len(FP), FP, uvarint len(Path), Path, uvarint len(Resolved), Resolved
//	uvarint flags (1: inode generation known, 2: birth time known)
//	uvarint inode generation, uvarint birth time (unix ns)
//	uvarint len(Nonce) (0 or 8), Nonce
//	uvarint Tail.N (0..4096), 8 bytes little-endian Tail.Sum
//	uvarint At (unix ns)
//
// Version 1 is the same up to Resolved, with version byte 1.
func encodePosition(p position) []byte {
	b := make([]byte, 0, 1+10*binary.MaxVarintLen64+3*binary.MaxVarintLen16+len(p.FP)+len(p.Path)+len(p.Resolved)+nonceLen+8)
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
	var flags uint64
	if p.Ident.HasGen {
		flags |= cpHasGen
	}
	if p.Ident.HasBirth {
		flags |= cpHasBirth
	}
	b = binary.AppendUvarint(b, flags)
	b = binary.AppendUvarint(b, p.Ident.Gen)
	b = binary.AppendUvarint(b, uint64(p.Ident.Birth))
	b = binary.AppendUvarint(b, uint64(len(p.Nonce)))
	b = append(b, p.Nonce...)
	b = binary.AppendUvarint(b, uint64(p.Tail.N))
	b = binary.LittleEndian.AppendUint64(b, p.Tail.Sum)
	b = binary.AppendUvarint(b, uint64(max(p.At, 0)))
	return b
}

// encodePositionV1 encodes p as version 1 did (for the upgrade tests).
func encodePositionV1(p position) []byte {
	b := encodePosition(p)
	d := decoder{b: b[1:]}
	for i := 0; i < 6; i++ {
		d.uvarint()
	}
	for i := 0; i < 3; i++ {
		d.bytes(1 << 20)
	}
	out := append([]byte{checkpointV1}, b[1:len(b)-len(d.b)]...)
	return out
}

// decodePosition decodes a checkpoint of version 1 or 2; errors wrap
// ErrBadCheckpoint.
func decodePosition(b []byte) (position, error) {
	var p position
	if len(b) == 0 || (b[0] != checkpointV1 && b[0] != checkpointVersion) {
		return p, fmt.Errorf("%w: unknown version", ErrBadCheckpoint)
	}
	version := b[0]
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
	p.fromV1 = version == checkpointV1
	if version >= 2 {
		flags := d.uvarint()
		p.Ident.Gen = d.uvarint()
		p.Ident.Birth = int64(d.uvarint())
		p.Ident.HasGen = flags&cpHasGen != 0
		p.Ident.HasBirth = flags&cpHasBirth != 0
		if flags&^(cpHasGen|cpHasBirth) != 0 {
			d.fail("unknown flags %#x", flags)
		}
		p.Nonce = d.bytes(nonceLen)
		if len(p.Nonce) == 0 {
			p.Nonce = nil
		}
		p.Tail.N = int(d.uvarint())
		p.Tail.Sum = d.uint64()
		if p.Tail.N > tailLen {
			d.fail("tail length %d", p.Tail.N)
		}
		p.At = int64(d.uvarint())
	}
	if d.err != nil {
		return position{}, d.err
	}
	if len(d.b) != 0 {
		return position{}, fmt.Errorf("%w: %d trailing bytes", ErrBadCheckpoint, len(d.b))
	}
	if p.Resume < 0 || p.Consumed < p.Resume || p.Size < 0 {
		return position{}, fmt.Errorf("%w: offsets resume %d consumed %d size %d", ErrBadCheckpoint, p.Resume, p.Consumed, p.Size)
	}
	if int64(p.Tail.N) > p.Resume {
		return position{}, fmt.Errorf("%w: tail of %d bytes before offset %d", ErrBadCheckpoint, p.Tail.N, p.Resume)
	}
	return p, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrBadCheckpoint}, args...)...)
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > 1<<62 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.fail("cut uint64")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) bytes(max int) []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(max) || n > uint64(len(d.b)) {
		d.fail("field length %d", n)
		return nil
	}
	v := bytes.Clone(d.b[:n])
	d.b = d.b[n:]
	return v
}

// checkpointPrefix starts every checkpoint key the tailer writes.
const checkpointPrefix = "f/"

// checkpointKey is the sink key of the checkpoint of the file at id.
func (id fileID) checkpointKey() string {
	return checkpointPrefix + strconv.FormatUint(id.Dev, 16) + ":" + strconv.FormatUint(id.Ino, 16)
}
