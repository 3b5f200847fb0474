package journalfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

// decompressors holds the per-File decoders, created on first use.
type decompressors struct {
	maxSize int64
	zstd    *zstd.Decoder
	zbuf    []byte
}

var errTooLarge = errors.New("decompressed size exceeds the limit")

func (d *decompressors) close() {
	if d.zstd != nil {
		d.zstd.Close()
		d.zstd = nil
	}
}

// decompress appends the decompressed payload to dst. comp is exactly one
// of the object compression flags.
func (d *decompressors) decompress(dst []byte, comp uint8, src []byte) ([]byte, error) {
	switch comp {
	case objectCompressedZSTD:
		return d.zstdAppend(dst, src)
	case objectCompressedLZ4:
		return d.lz4Append(dst, src)
	case objectCompressedXZ:
		return d.xzAppend(dst, src)
	}
	return dst, fmt.Errorf("unknown compression flag 0x%x", comp)
}

func (d *decompressors) zstdAppend(dst, src []byte) ([]byte, error) {
	if d.zstd == nil {
		dec, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(uint64(d.maxSize)),
			zstd.WithDecoderMaxWindow(uint64(max(d.maxSize, zstd.MinWindowSize))),
		)
		if err != nil {
			return dst, fmt.Errorf("creating zstd decoder: %w", err)
		}
		d.zstd = dec
	}
	// Decode into a scratch buffer: DecodeAll counts what dst already holds
	// against the memory limit.
	out, err := d.zstd.DecodeAll(src, d.zbuf[:0])
	if err != nil {
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
			return dst, fmt.Errorf("zstd: %w (%d bytes)", errTooLarge, d.maxSize)
		}
		return dst, fmt.Errorf("zstd: %w", err)
	}
	if int64(len(out)) > d.maxSize {
		return dst, fmt.Errorf("zstd: %w (%d bytes)", errTooLarge, d.maxSize)
	}
	dst = append(dst, out...)
	if cap(out) <= 1<<20 {
		d.zbuf = out[:0]
	} else {
		d.zbuf = nil
	}
	return dst, nil
}

// lz4Append decodes systemd's LZ4 framing: the uncompressed size as a
// little-endian uint64, then one LZ4 block.
func (d *decompressors) lz4Append(dst, src []byte) ([]byte, error) {
	if len(src) <= 8 {
		return dst, errors.New("lz4: payload shorter than its size prefix")
	}
	size := le.Uint64(src)
	if size > uint64(d.maxSize) {
		return dst, fmt.Errorf("lz4: %w (%d > %d bytes)", errTooLarge, size, d.maxSize)
	}
	start := len(dst)
	dst = grow(dst, int(size))
	n, err := lz4.UncompressBlock(src[8:], dst[start:start+int(size)])
	if err != nil {
		return dst[:start], fmt.Errorf("lz4: %w", err)
	}
	if uint64(n) != size {
		return dst[:start], fmt.Errorf("lz4: decompressed %d bytes, the prefix says %d", n, size)
	}
	return dst[:start+n], nil
}

func (d *decompressors) xzAppend(dst, src []byte) ([]byte, error) {
	// The decoder allocates the dictionary the stream declares (up to 4 GiB):
	// refuse a declared dictionary larger than the field limit first.
	if dict, ok := xzDictSize(src); ok && dict > uint64(max(d.maxSize, 1<<20)) {
		return dst, fmt.Errorf("xz: dictionary of %d bytes: %w (%d bytes)", dict, errTooLarge, d.maxSize)
	}
	r, err := xz.ReaderConfig{SingleStream: true, DictCap: 4096}.NewReader(bytes.NewReader(src))
	if err != nil {
		return dst, fmt.Errorf("xz: %w", err)
	}
	buf := bytes.NewBuffer(dst)
	n, err := buf.ReadFrom(io.LimitReader(r, d.maxSize+1))
	if err != nil {
		return dst[:len(dst)], fmt.Errorf("xz: %w", err)
	}
	if n > d.maxSize {
		return dst[:len(dst)], fmt.Errorf("xz: %w (%d bytes)", errTooLarge, d.maxSize)
	}
	return buf.Bytes(), nil
}

// grow extends b by n bytes (contents unspecified).
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n+len(b)/4)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

// xzDictSize returns the LZMA2 dictionary size declared by the first block
// of the xz stream in b, when b has the layout systemd writes (one LZMA2
// filter). ok is false when it cannot tell; the decoder then reports errors.
func xzDictSize(b []byte) (size uint64, ok bool) {
	// Stream header (12 bytes), then the block header: size byte, flags,
	// optional compressed and uncompressed sizes (varints), filter flags.
	const streamHeader = 12
	if len(b) < streamHeader+2 || b[streamHeader] == 0 {
		return 0, false
	}
	p := streamHeader + 1
	flags := b[p]
	p++
	if flags&3 != 0 { // more than one filter
		return 0, false
	}
	skipVarint := func() bool {
		for i := 0; i < 9; i++ {
			if p >= len(b) {
				return false
			}
			c := b[p]
			p++
			if c&0x80 == 0 {
				return true
			}
		}
		return false
	}
	if flags&0x40 != 0 && !skipVarint() {
		return 0, false
	}
	if flags&0x80 != 0 && !skipVarint() {
		return 0, false
	}
	// Filter id 0x21 (LZMA2), properties size 1, dictionary size code.
	if p+3 > len(b) || b[p] != 0x21 || b[p+1] != 1 {
		return 0, false
	}
	code := b[p+2] & 0x3f
	if code > 40 {
		return 0, false
	}
	if code == 40 {
		return 0xffffffff, true
	}
	return uint64(2|code&1) << (code/2 + 11), true
}
