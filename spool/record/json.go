package record

import (
	"encoding/binary"
	"unicode/utf8"
)

// JSON string escaping for documents (RFC 8259 section 7), shared by every
// input that builds a Doc so that all of them give the same, valid UTF-8
// output: what encoding/json would decode back unchanged, with U+2028 and
// U+2029 escaped as encoding/json escapes them.

const hexDigits = "0123456789abcdef"

// plain[c] is true for the bytes that are copied into a JSON string as they
// are, provided the input is valid UTF-8: everything but control characters,
// '"', '\\' and 0xE2 (the lead byte of U+2028 and U+2029, checked apart).
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = true
	}
	t['"'] = false
	t['\\'] = false
	t[0xE2] = false
	return t
}()

// AppendEscaped appends s as the contents of a JSON string (without quotes)
// to dst. Invalid UTF-8 bytes are replaced, each by U+FFFD; invalid reports
// whether that happened (callers keep the exact bytes elsewhere and say so).
func AppendEscaped(dst, s []byte) (out []byte, invalid bool) {
	if !utf8.Valid(s) {
		return appendEscapedSlow(dst, s), true
	}
	i := 0
	for i < len(s) {
		start := i
		for i+8 <= len(s) && plainASCII8(binary.LittleEndian.Uint64(s[i:])) {
			i += 8
		}
		for i < len(s) && plain[s[i]] {
			i++
		}
		dst = append(dst, s[start:i]...)
		if i == len(s) {
			break
		}
		c := s[i]
		if c == 0xE2 {
			if i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xA8 || s[i+2] == 0xA9) {
				dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[s[i+2]&0xF])
				i += 3
				continue
			}
			dst = append(dst, c)
			i++
			continue
		}
		dst = appendEscapedByte(dst, c)
		i++
	}
	return dst, false
}

// AppendString appends s as a quoted JSON string to dst, invalid UTF-8
// replaced by U+FFFD.
func AppendString(dst, s []byte) []byte {
	dst = append(dst, '"')
	dst, _ = AppendEscaped(dst, s)
	return append(dst, '"')
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// plainASCII8 reports whether the 8 bytes packed in x are all ASCII that is
// copied into a JSON string as is: no control character, '"' or '\\'.
func plainASCII8(x uint64) bool {
	ctl := (x - 0x20*lsb) &^ x            // high bit set where a byte < 0x20 (or >= 0x80)
	quote := ((x ^ '"'*lsb) - lsb) &^ x   // high bit set where a byte == '"'
	bslash := ((x ^ '\\'*lsb) - lsb) &^ x // high bit set where a byte == '\\'
	return (ctl|quote|bslash|x)&msb == 0
}

func appendEscapedByte(dst []byte, c byte) []byte {
	switch c {
	case '"':
		return append(dst, '\\', '"')
	case '\\':
		return append(dst, '\\', '\\')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
}

func appendEscapedSlow(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plain[c] {
				dst = append(dst, c)
			} else {
				dst = appendEscapedByte(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}
