package parser

import (
	"bytes"
	"encoding/binary"
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
func scanString(b []byte, i int) (end int, escaped, ok bool) {
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
