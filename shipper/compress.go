package shipper

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

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

// compressor compresses bulk bodies in one mode, with pooled writers.
type compressor struct {
	mode     string
	encoding string // Content-Encoding; "" when none
	pool     sync.Pool
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
	c := &compressor{mode: mode}
	if compressed {
		c.encoding = "gzip"
		c.pool.New = func() any {
			w, _ := gzip.NewWriterLevel(nil, level) // the level was checked above
			return w
		}
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
	w := c.pool.Get().(*gzip.Writer)
	buf := appendWriter{b: dst}
	w.Reset(&buf)
	_, _ = w.Write(src) // appendWriter never fails
	_ = w.Close()
	w.Reset(nil)
	c.pool.Put(w)
	return buf.b
}

type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}
