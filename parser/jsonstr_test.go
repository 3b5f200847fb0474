package parser

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"unicode/utf16"
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

// TestScanStringMatchesTheByteScan: the quote-finding scan gives the answer
// of the byte-by-byte one on strings made of the bytes that matter.
func TestScanStringMatchesTheByteScan(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte{'"', '\\', '\\', 'a', 'b', 0x01, 0x1f, 0x20, 0x7f, 0x80, 0xe2, 'n', 'u'}
	for n := 0; n < 300000; n++ {
		b := make([]byte, 1+r.IntN(40))
		b[0] = '"'
		for i := 1; i < len(b); i++ {
			if r.IntN(3) == 0 {
				b[i] = alphabet[r.IntN(len(alphabet))]
			} else {
				b[i] = 'x'
			}
		}
		checkScan(t, b)
	}
}

func checkScan(t *testing.T, b []byte) {
	t.Helper()
	e1, x1, ok1 := scanString(b, 0)
	e2, x2, ok2 := scanStringBytes(b, 0)
	if e1 != e2 || x1 != x2 || ok1 != ok2 {
		t.Fatalf("scanString(%q) = %d %v %v, the byte scan says %d %v %v", b, e1, x1, ok1, e2, x2, ok2)
	}
}

func FuzzScanString(f *testing.F) {
	f.Add([]byte(`"a\"b\\"`))
	f.Add([]byte("\"a\\\x01\""))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 0 && b[0] == '"' {
			checkScan(t, b)
		}
	})
}

// verbatimBodyRef is verbatimBody as it was before it read words: the
// reference.
func verbatimBodyRef(s []byte) (body []byte, ok bool) {
	n := len(s)
	if n < 2 || s[n-2] != '\\' || s[n-1] != 'n' {
		return nil, false
	}
	last := -1
	for i := 0; i < n; {
		j := bytes.IndexByte(s[i:], '\\')
		if j < 0 {
			break
		}
		i += j
		last = i
		if i+1 >= n {
			return nil, false
		}
		switch s[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			r, ok := hex4(s, i+2)
			if !ok {
				return nil, false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				r2, ok := hex4Escape(s, i)
				if !ok || utf16.DecodeRune(r, r2) == utf8.RuneError {
					return nil, false
				}
				i += 6
			}
		default:
			return nil, false
		}
	}
	if last != n-2 || !utf8.Valid(s) {
		return nil, false
	}
	if bytes.Contains(s, []byte("\u2028")) || bytes.Contains(s, []byte("\u2029")) {
		return nil, false
	}
	return s[:n-2], true
}

func checkVerbatim(t *testing.T, s []byte) {
	t.Helper()
	b1, ok1 := verbatimBody(s)
	b2, ok2 := verbatimBodyRef(s)
	if ok1 != ok2 || string(b1) != string(b2) {
		t.Fatalf("verbatimBody(%q) = %q %v, the reference says %q %v", s, b1, ok1, b2, ok2)
	}
}

func TestVerbatimBodyMatchesTheReference(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	pieces := []string{`\"`, `\\`, `\n`, `\t`, `\u00e9`, `\ud83d\ude00`, `\ud83d`, `\x`, "é", "\u2028", "\xff", "\xe2", "a", "bcdefgh", `\/`, `\u12`}
	for n := 0; n < 200000; n++ {
		var b []byte
		for k := r.IntN(12); k > 0; k-- {
			b = append(b, pieces[r.IntN(len(pieces))]...)
		}
		if r.IntN(4) > 0 {
			b = append(b, `\n`...)
		}
		checkVerbatim(t, b)
	}
}

func FuzzVerbatimBody(f *testing.F) {
	f.Add([]byte(`abc\"d\n`))
	f.Add([]byte("a\u2028bcdefghijk\\n"))
	f.Fuzz(func(t *testing.T, b []byte) { checkVerbatim(t, b) })
}
