package journalfile

import (
	"encoding/binary"
	"strconv"
)

// AppendExport appends e in journalctl's export format (-o export) to dst:
// __CURSOR, __REALTIME_TIMESTAMP, __MONOTONIC_TIMESTAMP, _BOOT_ID, then the
// fields in item order except _BOOT_ID, binary-safe values as NAME\n<le64 len><bytes>,
// and a blank line.
//
// The output is byte for byte what journalctl 252 prints (no __SEQNUM). A
// field is printed as NAME=value when the whole NAME=value is printable
// UTF-8 as systemd's utf8_is_printable_newline(..., false) defines it: valid
// UTF-8 without overlong forms, surrogates or the non-characters U+FDD0..
// U+FDEF and U+xxFFFE/U+xxFFFF, and without C0 controls (tab allowed,
// newline not), DEL or C1 controls.
func AppendExport(dst []byte, e *Entry) []byte {
	dst = append(dst, "__CURSOR="...)
	dst = appendCursor(dst, &e.EntryMeta)
	dst = append(dst, "\n__REALTIME_TIMESTAMP="...)
	dst = strconv.AppendUint(dst, e.Realtime, 10)
	dst = append(dst, "\n__MONOTONIC_TIMESTAMP="...)
	dst = strconv.AppendUint(dst, e.Monotonic, 10)
	dst = append(dst, "\n_BOOT_ID="...)
	dst = appendID(dst, e.BootID)
	dst = append(dst, '\n')
	for i := range e.Fields {
		fl := &e.Fields[i]
		if fl.Name == "_BOOT_ID" {
			continue
		}
		if printable(fl.Name) && printable(fl.Value) {
			dst = append(dst, fl.Name...)
			dst = append(dst, '=')
			dst = append(dst, fl.Value...)
		} else {
			dst = append(dst, fl.Name...)
			dst = append(dst, '\n')
			dst = binary.LittleEndian.AppendUint64(dst, uint64(len(fl.Value)))
			dst = append(dst, fl.Value...)
		}
		dst = append(dst, '\n')
	}
	return append(dst, '\n')
}

// AppendCursor appends m's cursor (see EntryMeta.Cursor) to dst without allocating.
func AppendCursor(dst []byte, m *EntryMeta) []byte { return appendCursor(dst, m) }

func appendCursor(dst []byte, m *EntryMeta) []byte {
	dst = append(dst, "s="...)
	dst = appendID(dst, m.SeqnumID)
	dst = append(dst, ";i="...)
	dst = strconv.AppendUint(dst, m.Seqnum, 16)
	dst = append(dst, ";b="...)
	dst = appendID(dst, m.BootID)
	dst = append(dst, ";m="...)
	dst = strconv.AppendUint(dst, m.Monotonic, 16)
	dst = append(dst, ";t="...)
	dst = strconv.AppendUint(dst, m.Realtime, 16)
	dst = append(dst, ";x="...)
	dst = strconv.AppendUint(dst, m.XorHash, 16)
	return dst
}

const hexDigits = "0123456789abcdef"

func appendID(dst []byte, id ID128) []byte {
	for _, c := range id {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&15])
	}
	return dst
}

// printable mirrors systemd's utf8_is_printable_newline(s, len, false).
// The name and the value are checked separately; '=' is printable, so that
// equals checking NAME=value as a whole.
func printable[T string | []byte](s T) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x80 {
			if !printableASCII[c] {
				return false
			}
			i++
			continue
		}
		var n int
		var r uint32
		switch {
		case c&0xe0 == 0xc0:
			n, r = 2, uint32(c&0x1f)
		case c&0xf0 == 0xe0:
			n, r = 3, uint32(c&0x0f)
		case c&0xf8 == 0xf0:
			n, r = 4, uint32(c&0x07)
		default:
			// A continuation byte, or a 5- and 6-byte form, which always
			// decodes beyond U+10FFFF or overlong: invalid for systemd too.
			return false
		}
		if n > len(s)-i {
			return false
		}
		for j := 1; j < n; j++ {
			b := s[i+j]
			if b&0xc0 != 0x80 {
				return false
			}
			r = r<<6 | uint32(b&0x3f)
		}
		switch {
		case r < 0x80, r < 0x800 && n > 2, r < 0x10000 && n > 3: // overlong
			return false
		case r >= 0x110000, r&0xfffff800 == 0xd800, r >= 0xfdd0 && r <= 0xfdef, r&0xfffe == 0xfffe:
			return false
		case r <= 0x9f: // C1 controls
			return false
		}
		i += n
	}
	return true
}

// printableASCII[c] says whether the ASCII byte c is printable for systemd:
// not a C0 control other than tab, not DEL.
var printableASCII = func() (t [128]bool) {
	for c := range t {
		t[c] = (c >= ' ' || c == '\t') && c != 0x7f
	}
	return t
}()
