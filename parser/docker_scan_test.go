package parser

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/logspool/logspool/parser/testlogs"
)

// verbatimRef is what scanLogString's verbatim must say of the body s of a
// string followed by ASCII only: verbatimBody accepts s, s is ASCII, and
// none of its escapes is a \u escape (escapes walked pairwise, as JSON
// reads them).
func verbatimRef(s []byte) bool {
	if _, ok := verbatimBody(s); !ok {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
		if s[i] == '\\' {
			if i+1 < len(s) && s[i+1] == 'u' {
				return false
			}
			i++
		}
	}
	return true
}

// checkScanLog holds scanLogString to scanString and verbatimBody on the
// JSON string starting at b[0]; with exact, verbatim must be exactly
// verbatimRef when only ASCII follows the string.
func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func checkScanLog(t *testing.T, b []byte, exact bool) (verbatim bool) {
	t.Helper()
	end, esc, verbatim, ok := scanLogString(b, 0)
	e2, esc2, ok2 := scanString(b, 0)
	if end != e2 || esc != esc2 || ok != ok2 {
		t.Fatalf("scanLogString(%q) = %d %v %v, scanString says %d %v %v", b, end, esc, ok, e2, esc2, ok2)
	}
	if !ok {
		if verbatim {
			t.Fatalf("scanLogString(%q): verbatim for an invalid string", b)
		}
		return false
	}
	s := b[1 : end-1]
	body, vok := verbatimBody(s)
	if verbatim && (!vok || !bytes.Equal(body, s[:len(s)-2])) {
		t.Fatalf("scanLogString(%q) says verbatim; verbatimBody says %q %v", b, body, vok)
	}
	if want := verbatimRef(s); exact && isASCII(b[end:]) && verbatim != want {
		t.Fatalf("scanLogString(%q): verbatim %v, want %v", b, verbatim, want)
	}
	return verbatim
}

func TestScanLogStringAgreesWithScanStringAndVerbatimBody(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    string // the log value, quotes included, as in a docker line
		want bool
	}{
		{"a plain line", `"hello\n"`, true},
		{"quotes and tabs", `"a \"b\"\tc\\d\/e\n"`, true},
		{"no final newline", `"hello"`, false},
		{"an escaped backslash before n", `"hello\\n"`, false},
		{"a final escaped newline after an escaped backslash", `"hello\\\n"`, true},
		{"a unicode escape", `"caf\u00e9\n"`, false},
		{"a surrogate pair", `"\ud83d\ude00\n"`, false},
		{"a lone surrogate", `"\ud83d\n"`, false},
		{"raw UTF-8", "\"caf\u00e9\\n\"", false},
		{"raw U+2028", "\"a\u2028b\\n\"", false},
		{"invalid UTF-8", "\"a\xffb\\n\"", false},
		{"an unknown escape", `"a\qb\n"`, false},
		{"a control character", "\"a\x01\\n\"", false},
		{"unterminated", `"hello\n`, false},
		{"an escape at the end", `"hello\`, false},
		{"empty", `""`, false},
		{"only the newline", `"\n"`, true},
		{"longer than a word, escapes across words", `"0123456789abcdef\"0123456\\789\n"`, true},
		{"a unicode escape in the last word", `"0123456789abcdef\u0041\n"`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.s + `,"stream":"stdout","time":"2026-12-06T00:00:00Z"}`)
			if got := checkScanLog(t, b, true); got != tc.want {
				t.Fatalf("verbatim %v, want %v", got, tc.want)
			}
		})
	}

	// Non-ASCII past the closing quote may only cost the second pass.
	checkScanLog(t, []byte(`"hello\n","stream":"st\u00e9"}`+"\u00e9\u00e9\u00e9\u00e9"), false)

	t.Run("the realistic lines", func(t *testing.T) {
		n, verbatim := 0, 0
		for _, f := range []testlogs.Format{testlogs.Docker} {
			lines, _ := testlogs.New(testlogs.Mixed, testlogs.Options{Seed: 1, Format: f}).Lines(20_000)
			for _, ln := range lines {
				i := bytes.Index(ln, []byte(`{"log":`))
				if i != 0 {
					t.Fatalf("not a docker line: %q", ln)
				}
				n++
				if checkScanLog(t, ln[len(`{"log":`):], true) {
					verbatim++
				}
			}
		}
		t.Logf("%d of %d lines verbatim in one pass", verbatim, n)
	})

	t.Run("random strings", func(t *testing.T) {
		r := rand.New(rand.NewPCG(14, 14))
		pieces := []string{`a`, `b`, ` `, `\n`, `\"`, `\\`, `\/`, `\t`, `\u0041`, `\ud83d\ude00`, `\ud83d`, `\q`, `\`, "\u00e9", "\u2028", "\xff", "\x01", `"`, `0123456789`}
		for n := 0; n < 100_000; n++ {
			b := []byte{'"'}
			for k := r.IntN(24); k > 0; k-- {
				b = append(b, pieces[r.IntN(len(pieces))]...)
			}
			if r.IntN(2) == 0 {
				b = append(b, `\n`...)
			}
			b = append(b, `","stream":"stdout"}`...)
			checkScanLog(t, b, true)
		}
	})
}

func FuzzScanLogString(f *testing.F) {
	f.Add([]byte(`"hello\n","stream":"stdout"}`))
	f.Add([]byte(`"a\"b\\\n"`))
	f.Add([]byte(`"caf\u00e9\n"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 || b[0] != '"' {
			return
		}
		checkScanLog(t, b, false)
	})
}
