package parser

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"unicode/utf8"

	"github.com/logspool/logspool/spool/record"
)

func TestAppendEscaped(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		want        string
		wantInvalid bool
	}{
		{name: "plain text is copied", in: "hello, world", want: "hello, world"},
		{name: "quote and backslash are escaped", in: `a"b\c`, want: `a\"b\\c`},
		{name: "common controls use short escapes", in: "\n\r\t\b\f", want: `\n\r\t\b\f`},
		{name: "other controls and NUL use \\u00XX", in: "\x00\x01\x1f", want: `\u0000\u0001\u001f`},
		{name: "DEL and non-ASCII are copied", in: "\x7fé😀", want: "\x7fé😀"},
		{name: "line and paragraph separators are escaped", in: "a\u2028b\u2029c", want: `a\u2028b\u2029c`},
		{name: "an invalid byte becomes U+FFFD", in: "a\xffb", want: `a\ufffdb`, wantInvalid: true},
		{name: "a truncated sequence becomes U+FFFD per byte", in: "\xe2\x80", want: `\ufffd\ufffd`, wantInvalid: true},
		{name: "separators are escaped in invalid input too", in: "\xff\u2028", want: `\ufffd\u2028`, wantInvalid: true},
		{name: "long plain runs cross word boundaries", in: "0123456789abcdef0123456789abcdef\"x", want: `0123456789abcdef0123456789abcdef\"x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, invalid := record.AppendEscaped(nil, []byte(tt.in))
			if string(got) != tt.want || invalid != tt.wantInvalid {
				t.Fatalf("appendEscaped(%q) = %s, %v; want %s, %v", tt.in, got, invalid, tt.want, tt.wantInvalid)
			}
		})
	}
}

// checkEscapeRoundTrip checks that escaping s gives a JSON string that
// encoding/json decodes to s (with invalid bytes replaced) and that it
// matches encoding/json's own encoding apart from HTML escaping.
func checkEscapeRoundTrip(t *testing.T, s []byte) {
	t.Helper()
	esc, invalid := record.AppendEscaped([]byte{'"'}, s)
	esc = append(esc, '"')
	if invalid == utf8.Valid(s) {
		t.Fatalf("appendEscaped(%q) reported invalid=%v", s, invalid)
	}
	if !utf8.Valid(esc) {
		t.Fatalf("appendEscaped(%q) = %q is not valid UTF-8", s, esc)
	}
	var back string
	if err := json.Unmarshal(esc, &back); err != nil {
		t.Fatalf("appendEscaped(%q) = %s is not a JSON string: %v", s, esc, err)
	}
	if want := string(appendSanitized(nil, s)); back != want {
		t.Fatalf("appendEscaped(%q) decodes to %q, want %q", s, back, want)
	}
	// Compare with encoding/json without HTML escaping.
	var ref []byte
	enc := json.NewEncoder(&byteWriter{&ref})
	enc.SetEscapeHTML(false)
	if err := enc.Encode(string(s)); err != nil {
		t.Fatal(err)
	}
	ref = ref[:len(ref)-1] // Encode's newline
	// Since Go 1.27 encoding/json writes the replacement character for
	// invalid UTF-8 as is; we write it escaped. Both decode the same.
	if got := bytes.ReplaceAll(esc, []byte(`\ufffd`), []byte("\uFFFD")); string(ref) != string(got) {
		t.Fatalf("appendEscaped(%q) = %s, encoding/json gives %s", s, esc, ref)
	}
}

type byteWriter struct{ b *[]byte }

func (w *byteWriter) Write(p []byte) (int, error) { *w.b = append(*w.b, p...); return len(p), nil }

func TestEscapeRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", "Z", " ", "\"", "\\", "\n", "\x00", "\x1f", "\x7f", "é", "😀", "\u2028", "\u2029", "\xff", "\xe2", "\xe2\x80", "\xed\xa0\x80", "/", "<", "&"}
	for range 20000 {
		var s []byte
		for range r.IntN(40) {
			s = append(s, alphabet[r.IntN(len(alphabet))]...)
		}
		checkEscapeRoundTrip(t, s)
	}
}

func FuzzEscape(f *testing.F) {
	f.Add([]byte("hello \"world\"\n\x00\u2028\xff"))
	f.Fuzz(func(t *testing.T, s []byte) { checkEscapeRoundTrip(t, s) })
}

func TestWordTestsMatchByteTests(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	interesting := []byte{0, 0x1f, 0x20, 0x21, '"', 0x23, '\\', 0x5b, 0x5d, 0x7f, 0x80, 0xa2, 0xdc, 0xe2, 0xff, 'a'}
	for range 200000 {
		var b [8]byte
		for i := range b {
			if r.IntN(2) == 0 {
				b[i] = interesting[r.IntN(len(interesting))]
			} else {
				b[i] = byte(r.Uint32())
			}
		}
		x := binary.LittleEndian.Uint64(b[:])
		wantSpecial := false
		for _, c := range b {
			if c == '"' || c == '\\' || c < 0x20 {
				wantSpecial = true
			}
		}
		if got := specialInString8(x); got != wantSpecial {
			t.Fatalf("specialInString8(%q) = %v, want %v", b, got, wantSpecial)
		}
	}
}

func TestAppendUnescapedMatchesEncodingJSON(t *testing.T) {
	tests := []string{
		`plain`, `\"\\\/\b\f\n\r\t`, `\u0041\u00e9\u20ac`, `\ud83d\ude00`, `\ud83d`, `\ude00`,
		`\ud83d\u0041`, `\ud83d\ud83d\ude00`, `\uD83D\uDE00`, "raw é", "raw \xff", `\u0000`,
	}
	for _, body := range tests {
		t.Run(body, func(t *testing.T) {
			checkUnescape(t, []byte(body))
		})
	}
}

func checkUnescape(t *testing.T, body []byte) {
	t.Helper()
	lit := append(append([]byte{'"'}, body...), '"')
	var want string
	refErr := json.Unmarshal(lit, &want)
	end, _, scanOK := scanString(lit, 0)
	got, ok := appendUnescaped(nil, body)
	if refErr != nil {
		if scanOK && end == len(lit) && ok {
			t.Fatalf("%s: accepted as %q, encoding/json rejects it: %v", lit, got, refErr)
		}
		return
	}
	if !scanOK || end != len(lit) || !ok {
		t.Fatalf("%s: rejected (scan %v end %d, unescape %v), encoding/json gives %q", lit, scanOK, end, ok, want)
	}
	// encoding/json replaces invalid raw bytes; the decoder keeps them.
	if string(appendSanitized(nil, got)) != want {
		t.Fatalf("%s: unescaped to %q, encoding/json gives %q", lit, got, want)
	}
	if v, ok := verbatimBody(append(body, `\n`...)); ok {
		var back string
		if err := json.Unmarshal(append(append([]byte{'"'}, v...), '"'), &back); err != nil || back != want {
			t.Fatalf("%s: verbatim body %q decodes to %q (%v), want %q", lit, v, back, err, want)
		}
		if !utf8.Valid(v) {
			t.Fatalf("%s: verbatim body is not valid UTF-8", lit)
		}
	}
}

func FuzzUnescape(f *testing.F) {
	f.Add([]byte(`a\u00e9\ud83d\ude00\n`))
	f.Add([]byte(`\ud800\udc00\ud800`))
	f.Fuzz(func(t *testing.T, body []byte) {
		// Only bodies scanString delimits as one whole string are candidates.
		lit := append(append([]byte{'"'}, body...), '"')
		if end, _, ok := scanString(lit, 0); ok && end != len(lit) {
			return
		}
		checkUnescape(t, body)
	})
}

func TestVerbatimBody(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "" means not verbatim
	}{
		{name: "a body ending in an escaped newline is verbatim", in: `abc\"d\n`, want: `abc\"d`},
		{name: "a valid surrogate pair is verbatim", in: `\ud83d\ude00\n`, want: `\ud83d\ude00`},
		{name: "an escaped backslash before n is not a newline", in: `abc\\n`},
		{name: "no final newline is not verbatim", in: `abc`},
		{name: "a lone surrogate is not verbatim", in: `\ud83dx\n`},
		{name: "a raw line separator is not verbatim", in: "a\u2028\\n"},
		{name: "invalid UTF-8 is not verbatim", in: "a\xff\\n"},
		{name: "an invalid escape is not verbatim", in: `a\x\n`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := verbatimBody([]byte(tt.in))
			if ok != (tt.want != "") || string(got) != tt.want {
				t.Fatalf("verbatimBody(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
			}
		})
	}
}
