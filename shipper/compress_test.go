package shipper

import (
	"bytes"
	stdgzip "compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/logspool/logspool/internal/estest"
	"github.com/logspool/logspool/parser/testlogs"
	"github.com/logspool/logspool/parser/testlogs/testdocs"
)

// everyMode is every accepted value of Config.Compression.
func everyMode() []string {
	modes := append([]string{""}, CompressionModes...)
	for _, l := range []string{"1", "2", "3", "4", "5", "6", "7", "8", "9"} {
		modes = append(modes, "gzip-"+l)
	}
	return modes
}

// TestCompressionRoundTrips: every mode's body decodes, with the standard
// library's gzip reader (an implementation other than the encoder's), to the
// bytes that were compressed, for bodies from empty to several deflate
// blocks and windows.
func TestCompressionRoundTrips(t *testing.T) {
	var realistic []byte
	for _, r := range testdocs.Records(1, testlogs.Docker, 2000, 250) {
		realistic = appendItem(realistic, DefaultIndex, r.ID, r.Document())
	}
	bodies := map[string][]byte{
		"empty":     {},
		"one byte":  []byte("{"),
		"realistic": realistic,
		"repeated":  bytes.Repeat([]byte(`{"message":"hello world"}`+"\n"), 20000),
	}
	for _, mode := range everyMode() {
		c, err := compressorFor(mode)
		if err != nil {
			t.Fatalf("mode %q: %v", mode, err)
		}
		for name, body := range bodies {
			raw := append(getBuf(len(body)), body...)
			out, enc := c.compress(raw)
			switch {
			case mode == CompressionNone:
				if enc != "" || !bytes.Equal(out, body) {
					t.Errorf("none/%s: encoding %q, %d bytes; want the body as it is", name, enc, len(out))
				}
				continue
			case enc != "gzip":
				t.Errorf("%s/%s: Content-Encoding %q, want gzip", mode, name, enc)
				continue
			}
			zr, err := stdgzip.NewReader(bytes.NewReader(out))
			if err != nil {
				t.Errorf("%s/%s: %v", mode, name, err)
				continue
			}
			got, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(got, body) {
				t.Errorf("%s/%s: decoded %d bytes (err %v), want the %d compressed", mode, name, len(got), err, len(body))
			}
			if name == "realistic" && mode != CompressionGzipHuffman && len(out)*5 > len(body) {
				t.Errorf("%s/%s: %d bytes from %d: it does not compress", mode, name, len(out), len(body))
			}
		}
	}
}

func TestCompressionIsValidated(t *testing.T) {
	for _, mode := range everyMode() {
		if err := (Config{URLs: []string{"http://es:9200"}, Compression: mode}).Validate(); err != nil {
			t.Errorf("%q: %v", mode, err)
		}
	}
	for _, mode := range []string{"zstd", "GZIP", "gzip-0", "gzip-10", "gzip-", "gzip-1x", "deflate", " gzip"} {
		err := (Config{URLs: []string{"http://es:9200"}, Compression: mode}).Validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "Compression") {
			t.Errorf("%q: %v, want an invalid-config error naming Compression", mode, err)
		}
		if _, err := New(Config{URLs: []string{"http://es:9200"}, Compression: mode}, newMemSource(t)); err == nil {
			t.Errorf("New accepted compression %q", mode)
		}
	}
}

// TestEveryCompressionModeShipsToEstest: for every mode the test server
// decodes each bulk body, stores every document as it was sent, and sees
// Content-Encoding: gzip exactly when the mode compresses.
func TestEveryCompressionModeShipsToEstest(t *testing.T) {
	recs := testdocs.Records(2, testlogs.CRI, 600, 100)
	want := map[string]string{}
	for _, r := range recs {
		want[r.ID.String()] = string(r.Document())
	}
	for _, mode := range everyMode() {
		t.Run("mode="+mode, func(t *testing.T) {
			srv := newEstest(t, estest.Options{})
			src := newMemSource(t, recs...)
			s, _ := estestShipper(t, srv, src, func(c *Config) { c.Compression = mode; c.BatchBytes = 64 << 10 })
			if sum := mustDrain(t, s); sum.Delivered != int64(len(recs)) {
				t.Fatalf("summary %+v, want %d delivered", sum, len(recs))
			}
			docs := srv.Docs(DefaultIndex)
			if len(docs) != len(recs) {
				t.Fatalf("server holds %d documents, want %d", len(docs), len(recs))
			}
			for _, d := range docs {
				if string(d.Source) != want[d.ID] {
					t.Fatalf("document %s:\n got %s\nwant %s", d.ID, d.Source, want[d.ID])
				}
			}
			bulks := 0
			for _, r := range srv.Requests() {
				if !strings.HasSuffix(r.Path, "_bulk") {
					continue
				}
				bulks++
				if wantGzip := mode != CompressionNone; r.Gzip != wantGzip || (r.Header.Get("Content-Encoding") == "gzip") != wantGzip {
					t.Errorf("bulk request: gzip %t, Content-Encoding %q; want gzip %t", r.Gzip, r.Header.Get("Content-Encoding"), wantGzip)
				}
			}
			st := srv.Stats()
			if bulks == 0 || (mode != CompressionNone) != (st.BulkBytes < st.BulkDecodedBytes) {
				t.Errorf("%d bulk requests, %d bytes on the wire for %d decoded", bulks, st.BulkBytes, st.BulkDecodedBytes)
			}
		})
	}
}
