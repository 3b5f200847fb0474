package tailer

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/logspool/logspool/parser"
	"github.com/logspool/logspool/spool/record"
)

func TestPositionRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		p    position
	}{
		{"an empty position survives", position{}},
		{"a full position survives", position{Resume: 10, Consumed: 20, Size: 30, ID: fileID{Dev: 1 << 40, Ino: 7}, Gen: 3,
			FP: []byte("2024-05-01T10:00:00Z stdout F x\n"), Path: "/var/log/containers/a.log", Resolved: "/var/log/pods/x/0.log"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodePosition(encodePosition(tc.p))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(encodePosition(got), encodePosition(tc.p)) {
				t.Fatalf("round trip = %+v, want %+v", got, tc.p)
			}
		})
	}
}

func TestDecodePositionRejectsDamage(t *testing.T) {
	good := encodePosition(position{Resume: 5, Consumed: 9, Size: 9, FP: []byte("ab\n"), Path: "/p"})
	cases := []struct {
		name string
		b    []byte
	}{
		{"an empty value is refused", nil},
		{"an unknown version is refused", append([]byte{9}, good[1:]...)},
		{"a cut value is refused", good[:len(good)-1]},
		{"trailing bytes are refused", append(bytes.Clone(good), 0)},
		{"consumed before resume is refused", encodePosition(position{Resume: 9, Consumed: 5})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodePosition(tc.b); err == nil {
				t.Fatal("decodePosition accepted damaged input")
			}
		})
	}
}

func FuzzDecodePosition(f *testing.F) {
	f.Add(encodePosition(position{Resume: 1, Consumed: 2, Size: 3, FP: []byte("x\n"), Path: "/a", Resolved: "/b"}))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePosition(b)
		if err != nil {
			return
		}
		again, err := decodePosition(encodePosition(p))
		if err != nil || !bytes.Equal(encodePosition(again), encodePosition(p)) {
			t.Fatalf("re-encoding %+v does not round trip: %+v, %v", p, again, err)
		}
	})
}

// collectDecoder records every line it is given.
type collectDecoder struct{ lines []parser.Line }

func (d *collectDecoder) Decode(dst []record.Record, ln parser.Line) []record.Record {
	ln.Bytes = bytes.Clone(ln.Bytes)
	d.lines = append(d.lines, ln)
	return dst
}
func (d *collectDecoder) Pending() (int64, bool)                    { return 0, false }
func (d *collectDecoder) Flush(dst []record.Record) []record.Record { return dst }

// FuzzLineSplitting checks the reader's line splitting and cutting against
// the file content: lines are contiguous, exact, and cut ones keep their head.
func FuzzLineSplitting(f *testing.F) {
	f.Add([]byte("a\nbb\n\nccc"), uint8(2))
	f.Add(bytes.Repeat([]byte("x"), 100), uint8(7))
	f.Add([]byte("\n\n\n"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		path := filepath.Join(t.TempDir(), "f.log")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		dec := &collectDecoder{}
		tl, err := New(Config{Logger: discardLogger(), NewDecoder: func(parser.Source) Decoder { return dec }}, newMemSink())
		if err != nil {
			t.Fatal(err)
		}
		fd, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer fd.Close()
		r := tl.newReader(fd, fileID{}, path, "", true)
		r.cutLimit = int(cut) + 1
		r.lastSize = int64(len(data))
		r.begin(position{}, nil)
		for {
			n, err := r.read(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			if err := r.process(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		var off int64
		for _, ln := range dec.lines {
			if ln.Start != off || ln.End <= ln.Start || ln.End > int64(len(data)) || data[ln.End-1] != '\n' {
				t.Fatalf("line [%d,%d) does not follow %d or end in a newline", ln.Start, ln.End, off)
			}
			full := data[ln.Start : ln.End-1]
			if ln.Truncated {
				if len(ln.Bytes) != r.cutLimit || !bytes.HasPrefix(full, ln.Bytes) || len(full) <= r.cutLimit {
					t.Fatalf("cut line %q is not the %d-byte head of %q", ln.Bytes, r.cutLimit, full)
				}
			} else if !bytes.Equal(ln.Bytes, full) || len(full) > r.cutLimit {
				t.Fatalf("line %q, want %q (limit %d)", ln.Bytes, full, r.cutLimit)
			}
			off = ln.End
		}
		if last := bytes.LastIndexByte(data, '\n'); int64(last+1) != off {
			t.Fatalf("lines end at %d, want %d", off, last+1)
		}
		if r.consumed != off {
			t.Fatalf("consumed = %d, want %d", r.consumed, off)
		}
	})
}
