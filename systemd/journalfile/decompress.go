package journalfile

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
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
	xzbuf   []byte
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
	// The decoder allocates the whole dictionary the stream declares (up to
	// 4 GiB; 8 MiB for old systemd's preset 6), for every object. When the
	// block header states the uncompressed size, no back-reference can reach
	// further, so shrink the dictionary to fit; otherwise refuse a declared
	// dictionary larger than the field limit.
	if bh, ok := parseXZBlockHeader(src); ok {
		switch {
		case bh.hasSize && bh.size > uint64(d.maxSize):
			return dst, fmt.Errorf("xz: %w (%d > %d bytes)", errTooLarge, bh.size, d.maxSize)
		case bh.hasSize:
			if code := xzDictCodeFor(bh.size); code < bh.dictCode {
				d.xzbuf = append(d.xzbuf[:0], src...)
				bh.setDictCode(d.xzbuf, code)
				src = d.xzbuf
			}
		case xzDictSizeOf(bh.dictCode) > uint64(max(d.maxSize, 1<<20)):
			return dst, fmt.Errorf("xz: dictionary of %d bytes: %w (%d bytes)", xzDictSizeOf(bh.dictCode), errTooLarge, d.maxSize)
		}
	}
	r, err := xz.ReaderConfig{SingleStream: true, DictCap: 4096}.NewReader(bytes.NewReader(src))
	if err != nil {
		return dst, fmt.Errorf("xz: %w", err)
	}
	buf := bytes.NewBuffer(dst)
	n, err := buf.ReadFrom(io.LimitReader(r, d.maxSize+1))
	if err != nil {
		return dst, fmt.Errorf("xz: %w", err)
	}
	if n > d.maxSize {
		return dst, fmt.Errorf("xz: %w (%d bytes)", errTooLarge, d.maxSize)
	}
	if cap(d.xzbuf) > 1<<20 {
		d.xzbuf = nil
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

// xzBlockHeader is what we need of the first block header of an xz stream
// as systemd (liblzma's buffer encoder) writes it: one LZMA2 filter.
type xzBlockHeader struct {
	start, end int    // the header's bytes, CRC32 excluded: b[start:end]
	hasSize    bool   // the uncompressed size is stated
	size       uint64 // the uncompressed size
	dictCode   uint8  // LZMA2 dictionary size code
	dictAt     int    // offset of the dictionary code byte
}

// parseXZBlockHeader reads the first block header after the 12-byte stream
// header. ok is false when b does not have that layout; the decoder then
// reports whatever is wrong.
func parseXZBlockHeader(b []byte) (h xzBlockHeader, ok bool) {
	const streamHeader = 12
	if len(b) < streamHeader+2 || b[streamHeader] == 0 {
		return h, false
	}
	h.start = streamHeader
	h.end = streamHeader + (int(b[streamHeader])+1)*4 - 4
	if h.end+4 > len(b) {
		return h, false
	}
	p := streamHeader + 1
	flags := b[p]
	p++
	if flags&3 != 0 { // more than one filter
		return h, false
	}
	varint := func() (uint64, bool) {
		var v uint64
		for i := 0; i < 9 && p < h.end; i++ {
			c := b[p]
			p++
			v |= uint64(c&0x7f) << (7 * i)
			if c&0x80 == 0 {
				return v, true
			}
		}
		return 0, false
	}
	if flags&0x40 != 0 {
		if _, ok := varint(); !ok {
			return h, false
		}
	}
	if flags&0x80 != 0 {
		if h.size, ok = varint(); !ok {
			return h, false
		}
		h.hasSize = true
	}
	// Filter id 0x21 (LZMA2), properties size 1, dictionary size code.
	if p+3 > h.end || b[p] != 0x21 || b[p+1] != 1 || b[p+2]&0x3f > 40 {
		return h, false
	}
	h.dictAt, h.dictCode = p+2, b[p+2]&0x3f
	return h, true
}

// setDictCode rewrites the dictionary size code in b (a copy of the stream
// h was parsed from) and the block header's CRC32.
func (h xzBlockHeader) setDictCode(b []byte, code uint8) {
	b[h.dictAt] = code
	le.PutUint32(b[h.end:], crc32.ChecksumIEEE(b[h.start:h.end]))
}

// xzDictSizeOf returns the dictionary size an LZMA2 code stands for.
func xzDictSizeOf(code uint8) uint64 {
	if code >= 40 {
		return 0xffffffff
	}
	return uint64(2|code&1) << (code/2 + 11)
}

// xzDictCodeFor returns the smallest dictionary code of at least n bytes.
func xzDictCodeFor(n uint64) uint8 {
	var c uint8
	for c < 40 && xzDictSizeOf(c) < n {
		c++
	}
	return c
}
