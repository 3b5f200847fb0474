package record

import (
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// The escaper's behaviour is tested case by case and fuzzed against
// encoding/json in package parser, its first user; here its word-at-a-time
// shortcut is checked against the byte table it stands for.
func TestPlainASCII8MatchesTheByteTable(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	interesting := []byte{0, 0x1f, 0x20, '"', '\\', 0x7f, 0x80, 0xe2, 0xff, 'a'}
	for n := 0; n < 200000; n++ {
		var b [8]byte
		for i := range b {
			if r.IntN(2) == 0 {
				b[i] = interesting[r.IntN(len(interesting))]
			} else {
				b[i] = byte(r.Uint32())
			}
		}
		want := true
		for _, c := range b {
			if c >= 0x80 || !plain[c] {
				want = false
			}
		}
		if got := plainASCII8(binary.LittleEndian.Uint64(b[:])); got != want {
			t.Fatalf("plainASCII8(%q) = %v, want %v", b, got, want)
		}
	}
}

func TestAppendString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `"plain"`},
		{"a\"b\\c\n\x01", `"a\"b\\c\n\u0001"`},
		{"bad \xff byte", `"bad \ufffd byte"`},
	}
	for _, tc := range tests {
		got := AppendString(nil, []byte(tc.in))
		if string(got) != tc.want || !json.Valid(got) {
			t.Errorf("AppendString(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestPlainASCII8AgreesWithAByteCheck(t *testing.T) {
	var b [8]byte
	check := func() {
		want := true
		for _, c := range b {
			if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
				want = false
			}
		}
		if got := plainASCII8(binary.LittleEndian.Uint64(b[:])); got != want {
			t.Fatalf("plainASCII8(%q) = %v, want %v", b, got, want)
		}
	}
	// Every byte value in every position, among plain neighbours.
	for pos := 0; pos < 8; pos++ {
		for c := 0; c < 256; c++ {
			for i := range b {
				b[i] = 'a'
			}
			b[pos] = byte(c)
			check()
		}
	}
	// Pairs of special bytes (borrow propagation between neighbours).
	special := []byte{0, 1, 0x1f, 0x20, 0x21, '"', '#', '\\', ']', 0x7f, 0x80, 0xff}
	for pos := 0; pos < 7; pos++ {
		for _, x := range special {
			for _, y := range special {
				for i := range b {
					b[i] = 'a'
				}
				b[pos], b[pos+1] = x, y
				check()
			}
		}
	}
}
