package shipper

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
)

// Compression modes (Config.Compression). Elasticsearch and OpenSearch
// decompress request bodies sent with Content-Encoding: gzip (and deflate,
// which no client uses); nothing else. So every mode but none is gzip, made
// faster or smaller by how much of DEFLATE's work klauspost/compress does.
// The README's Performance section has the measured CPU and bytes of each.
const (
	// CompressionNone sends bodies as they are.
	CompressionNone = "none"
	// CompressionGzip is gzip at klauspost/compress's BestSpeed (level 1):
	// its fastest encoder that still searches for matches.
	CompressionGzip = "gzip"
	// CompressionGzipHuffman is gzip with Huffman coding only, no match
	// search (klauspost's HuffmanOnly): little CPU, the least shrinking.
	CompressionGzipHuffman = "gzip-huffman"
	// CompressionGzipStateless is gzip from klauspost's stateless encoder
	// (StatelessCompression): blocks of up to 32 KiB of input, matched
	// within themselves and the 8 KiB before, with no encoder state kept.
	CompressionGzipStateless = "gzip-stateless"
	// DefaultCompression is the mode a zero Config.Compression means.
	DefaultCompression = CompressionGzip
)

// CompressionModes lists the accepted values of Config.Compression, besides
// "gzip-1" to "gzip-9" (gzip at that level; "gzip" is "gzip-1").
var CompressionModes = []string{CompressionNone, CompressionGzipHuffman, CompressionGzipStateless, CompressionGzip}

// compressor compresses bulk bodies in one mode. Its writers are kept in a
// free list (not a sync.Pool, which every GC cycle empties: a gzip writer
// is about 1 MiB to build).
type compressor struct {
	mode     string
	encoding string // Content-Encoding; "" when none
	level    int

	mu   sync.Mutex
	free []*gzip.Writer

	perKiB atomic.Int64 // compressed bytes per KiB of the last body (0: none yet)
}

// sizeHint is the capacity for the compressed form of about plain bytes: at
// the last body's ratio and a sixteenth more (an eighth before the first),
// plus 4 KiB. Huffman
// coding shrinks the realistic bodies 1.5 times, not 12: at an eighth, its
// buffers were grown (allocated) several times a request.
func (c *compressor) sizeHint(plain int) int {
	if r := c.perKiB.Load(); r > 0 {
		n := int(int64(plain) * r >> 10)
		return n + n/16 + 4096 // bodies of one kind differ a little
	}
	return plain/8 + 4096
}

// observe records the ratio of a body: plain bytes became out.
func (c *compressor) observe(plain, out int) {
	if plain > 0 {
		c.perKiB.Store(int64(out)<<10/int64(plain) + 1)
	}
}

// maxFreeWriters bounds the writers a compressor keeps unused.
const maxFreeWriters = 4

func (c *compressor) getWriter() *gzip.Writer {
	c.mu.Lock()
	if n := len(c.free); n > 0 {
		w := c.free[n-1]
		c.free = c.free[:n-1]
		c.mu.Unlock()
		return w
	}
	c.mu.Unlock()
	w, _ := gzip.NewWriterLevel(nil, c.level) // the level was checked by compressorFor
	return w
}

func (c *compressor) putWriter(w *gzip.Writer) {
	w.Reset(nil)
	c.mu.Lock()
	if len(c.free) < maxFreeWriters {
		c.free = append(c.free, w)
	}
	c.mu.Unlock()
}

// compressors holds one compressor per mode, made on first use.
var compressors sync.Map // string -> *compressor

// gzipLevel returns the klauspost gzip level of a mode, and false for none.
func gzipLevel(mode string) (level int, compressed bool, err error) {
	switch mode {
	case CompressionNone:
		return 0, false, nil
	case CompressionGzip:
		return gzip.BestSpeed, true, nil
	case CompressionGzipHuffman:
		return gzip.HuffmanOnly, true, nil
	case CompressionGzipStateless:
		return gzip.StatelessCompression, true, nil
	}
	if s, ok := strings.CutPrefix(mode, "gzip-"); ok {
		if n, err := strconv.Atoi(s); err == nil && n >= gzip.BestSpeed && n <= gzip.BestCompression {
			return n, true, nil
		}
	}
	return 0, false, fmt.Errorf("%q: want one of %s or gzip-1 to gzip-9", mode, strings.Join(CompressionModes, ", "))
}

// compressorFor returns the compressor of mode ("" is DefaultCompression).
func compressorFor(mode string) (*compressor, error) {
	if mode == "" {
		mode = DefaultCompression
	}
	if c, ok := compressors.Load(mode); ok {
		return c.(*compressor), nil
	}
	level, compressed, err := gzipLevel(mode)
	if err != nil {
		return nil, err
	}
	c := &compressor{mode: mode, level: level}
	if compressed {
		c.encoding = "gzip"
	}
	got, _ := compressors.LoadOrStore(mode, c)
	return got.(*compressor), nil
}

// compress returns the body to send for raw and its Content-Encoding. When
// it compresses, raw goes back to the buffer pool and the result is a pooled
// buffer; otherwise raw itself is returned.
func (c *compressor) compress(raw []byte) ([]byte, string) {
	if c.encoding == "" {
		return raw, ""
	}
	z := c.appendCompressed(getBuf(len(raw)/4+512), raw)
	putBuf(raw)
	return z, c.encoding
}

// appendCompressed appends the compression of src to dst.
func (c *compressor) appendCompressed(dst, src []byte) []byte {
	z := c.stream(dst)
	z.write(src)
	return z.close()
}

// stream starts a compressed body appended to dst: the body is written to
// it in parts (write) and finished by close, so that the uncompressed body
// never has to be held whole.
func (c *compressor) stream(dst []byte) *zstream {
	z := &zstream{c: c, w: c.getWriter(), out: appendWriter{b: dst}}
	z.w.Reset(&z.out)
	return z
}

type zstream struct {
	c   *compressor
	w   *gzip.Writer
	out appendWriter
}

func (z *zstream) write(p []byte) { _, _ = z.w.Write(p) } // appendWriter never fails

// close finishes the stream, returns the writer and the compressed body.
func (z *zstream) close() []byte {
	_ = z.w.Close()
	z.c.putWriter(z.w)
	return z.out.b
}

type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}
