package parser

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/logspool/logspool/spool/record"
)

// JSON string unescaping by hand (RFC 8259 section 7): it decodes exactly
// like encoding/json, including its treatment of lone surrogates (each
// becomes U+FFFD). Escaping is record.AppendEscaped, shared with the journal.

const hexDigits = "0123456789abcdef"

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// specialInString8 reports whether any of the 8 bytes packed in x ends or
// escapes a JSON string or is a control character: '"', '\\' or < 0x20.
// Bytes >= 0x80 are not special.
func specialInString8(x uint64) bool {
	ctl := (x - 0x20*lsb) &^ x
	v := x ^ '"'*lsb
	quote := (v - lsb) &^ v
	w := x ^ '\\'*lsb
	bslash := (w - lsb) &^ w
	return (ctl|quote|bslash)&msb != 0
}

// verbatimBody reports whether the JSON string body s (between the quotes,
// as scanString delimits it) ends in the escape \n and can be copied into a
// document as it is: valid UTF-8, no raw U+2028 or U+2029, and only escapes
// that encoding/json decodes to themselves (no lone surrogates). body is s
// without the final \n.
func verbatimBody(s []byte) (body []byte, ok bool) {
	n := len(s)
	if n < 2 || s[n-2] != '\\' || s[n-1] != 'n' {
		return nil, false
	}
	last := -1
	var high uint64 // the bytes outside escapes OR-ed: is any >= 0x80?
	for i := 0; i < n; {
		// The next backslash, a word at a time (escapes are often close
		// together).
		for i+8 <= n {
			x := binary.LittleEndian.Uint64(s[i:])
			high |= x
			w := x ^ '\\'*lsb
			if m := (w - lsb) &^ w & msb; m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				goto escape
			}
			i += 8
		}
		for i < n && s[i] != '\\' {
			high |= uint64(s[i])
			i++
		}
		if i >= n {
			break
		}
	escape:
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
	if last != n-2 {
		return nil, false
	}
	if high&msb == 0 {
		return s[:n-2], true // ASCII: valid UTF-8, no U+2028 or U+2029
	}
	if !utf8.Valid(s) {
		return nil, false
	}
	for i := 0; ; {
		j := bytes.IndexByte(s[i:], 0xE2)
		if j < 0 {
			break
		}
		i += j
		if i+2 < n && s[i+1] == 0x80 && (s[i+2] == 0xA8 || s[i+2] == 0xA9) {
			return nil, false
		}
		i++
	}
	return s[:n-2], true
}

// appendEscapedString is appendEscaped for a string known to be valid UTF-8
// or to be sanitised; used for metadata.
func appendEscapedString(dst []byte, s string) []byte {
	dst, _ = record.AppendEscaped(dst, []byte(s))
	return dst
}

// appendSanitized appends s to dst with every invalid UTF-8 byte replaced by
// U+FFFD, the way encoding/json and appendEscaped treat it.
func appendSanitized(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}

// scanString scans a JSON string whose opening quote is at b[i]. It returns
// the index just past the closing quote and whether the contents contain an
// escape. ok is false when the string is unterminated or contains a raw
// control character (invalid JSON).
//
// It reads eight bytes at a time and jumps straight to the first special
// byte of a word (specialMask8), so that strings dense with escapes (JSON
// logged inside docker's JSON) cost no more than a word per escape.
func scanString(b []byte, i int) (end int, escaped, ok bool) {
	i++
	for {
		for i+8 <= len(b) {
			if m := specialMask8(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				goto special
			}
			i += 8
		}
		for i < len(b) && b[i] != '"' && b[i] != '\\' && b[i] >= 0x20 {
			i++
		}
		if i >= len(b) {
			return 0, false, false
		}
	special:
		switch c := b[i]; {
		case c == '"':
			return i + 1, escaped, true
		case c == '\\':
			escaped = true
			i += 2
		default: // a control character
			return 0, false, false
		}
	}
}

// specialMask8 has the high bit of the first byte of the 8 packed in x that
// is '"', '\\' or below 0x20 set (and perhaps others above it): the lowest
// set bit is exact.
func specialMask8(x uint64) uint64 {
	ctl := (x - 0x20*lsb) &^ x
	v := x ^ '"'*lsb
	quote := (v - lsb) &^ v
	w := x ^ '\\'*lsb
	bslash := (w - lsb) &^ w
	return (ctl | quote | bslash) & msb
}

// scanStringBytes is scanString one word, then one byte at a time: the
// reference the tests hold scanString to.
func scanStringBytes(b []byte, i int) (end int, escaped, ok bool) {
	i++
	for i < len(b) {
		for i+8 <= len(b) && !specialInString8(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		if i >= len(b) {
			break
		}
		c := b[i]
		switch {
		case c == '"':
			return i + 1, escaped, true
		case c == '\\':
			escaped = true
			i += 2
		case c < 0x20:
			return 0, false, false
		default:
			i++
		}
	}
	return 0, false, false
}

// appendUnescaped appends the decoded contents of the JSON string literal
// body s (between the quotes) to dst. ok is false for an invalid escape.
// Bytes that are not escaped are copied as they are, valid UTF-8 or not.
func appendUnescaped(dst, s []byte) (out []byte, ok bool) {
	for i := 0; i < len(s); {
		start := i
		for i < len(s) && s[i] != '\\' {
			i++
		}
		dst = append(dst, s[start:i]...)
		if i == len(s) {
			break
		}
		if i+1 >= len(s) {
			return dst, false
		}
		switch s[i+1] {
		case '"', '\\', '/':
			dst = append(dst, s[i+1])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(s, i+2)
			if !ok {
				return dst, false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4Escape(s, i); ok {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						dst = utf8.AppendRune(dst, dec)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return dst, false
		}
		i += 2
	}
	return dst, true
}

// hex4Escape decodes a \uXXXX escape starting at s[i].
func hex4Escape(s []byte, i int) (rune, bool) {
	if i+1 >= len(s) || s[i] != '\\' || s[i+1] != 'u' {
		return 0, false
	}
	return hex4(s, i+2)
}

func hex4(s []byte, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
