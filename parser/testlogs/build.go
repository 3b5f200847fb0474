package testlogs

import (
	"strconv"
	"time"
)

// lb builds one message at the end of an event's buffer.
type lb struct {
	ev    *event
	start int
}

func (e *event) begin() lb { return lb{ev: e, start: len(e.buf)} }

// end records the message on stream.
func (l lb) end(stream string) { l.ev.add(stream, l.start) }

func (l lb) s(x string) lb { l.ev.buf = append(l.ev.buf, x...); return l }
func (l lb) c(x byte) lb   { l.ev.buf = append(l.ev.buf, x); return l }
func (l lb) i(n int) lb    { l.ev.buf = strconv.AppendInt(l.ev.buf, int64(n), 10); return l }
func (l lb) u(n uint64) lb { l.ev.buf = strconv.AppendUint(l.ev.buf, n, 10); return l }

func (l lb) t(t time.Time, layout string) lb {
	l.ev.buf = t.AppendFormat(l.ev.buf, layout)
	return l
}

// pad appends x right-aligned (w > 0) or left-aligned (w < 0) in |w| columns.
func (l lb) pad(x string, w int) lb {
	n := max(w, -w) - len(x)
	if w < 0 {
		l = l.s(x)
	}
	for ; n > 0; n-- {
		l = l.c(' ')
	}
	if w > 0 {
		l = l.s(x)
	}
	return l
}

func (l lb) hex64(v uint64) lb { l.ev.buf = appendHex64(l.ev.buf, v); return l }

// hex128 appends 32 hex digits whose first half is v: a trace or request id.
func (l lb) hex128(v uint64) lb { return l.hex64(v).hex64(mix64(v ^ 0xa5a5a5a5)) }

func (l lb) uuid(v uint64) lb { l.ev.buf = appendUUID(l.ev.buf, v, mix64(^v)); return l }

// secs appends ms as seconds with three decimals: 0.025.
func (l lb) secs(ms int) lb {
	f := ms % 1000
	return l.i(ms / 1000).c('.').c(byte('0' + f/100)).c(byte('0' + f/10%10)).c(byte('0' + f%10))
}

// dur appends us microseconds as Go prints a duration: 12.345ms or 1.234s.
func (l lb) dur(us int) lb {
	unit, div := "ms", 1000
	if us >= 1_000_000 {
		unit, div = "s", 1_000_000
	}
	f := us % div * 1000 / div
	return l.i(us / div).c('.').c(byte('0' + f/100)).c(byte('0' + f/10%10)).c(byte('0' + f%10)).s(unit)
}

// json appends x escaped for a JSON string, as an application's encoder
// does (quotes, backslashes and control characters; UTF-8 kept).
func (l lb) json(x string) lb {
	for i := 0; i < len(x); i++ {
		switch c := x[i]; c {
		case '"', '\\':
			l = l.c('\\').c(c)
		case '\n':
			l = l.s(`\n`)
		case '\t':
			l = l.s(`\t`)
		default:
			l = l.c(c)
		}
	}
	return l
}

func (l lb) lower(x string) lb {
	for i := 0; i < len(x); i++ {
		c := x[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		l = l.c(c)
	}
	return l
}

// xid appends an id shaped like github.com/rs/xid, which many Go services
// use for request ids: 4 bytes of Unix seconds, 5 of machine and process,
// 3 of a per-process counter, in 20 characters of base32hex. It is unique
// per generator and, like the real thing, mostly shared with its neighbours.
func (l lb) xid(s *state, t time.Time) lb {
	l.ev.buf = appendXID(l.ev.buf, s, t)
	return l
}

func appendXID(b []byte, s *state, t time.Time) []byte {
	const enc = "0123456789abcdefghijklmnopqrstuv"
	var id [12]byte
	sec := uint32(t.Unix())
	id[0], id[1], id[2], id[3] = byte(sec>>24), byte(sec>>16), byte(sec>>8), byte(sec)
	copy(id[4:9], s.machine[:])
	s.counter++
	id[9], id[10], id[11] = byte(s.counter>>16), byte(s.counter>>8), byte(s.counter)
	var acc uint64
	bits := 0
	for _, x := range id {
		acc = acc<<8 | uint64(x)
		bits += 8
		for bits >= 5 {
			bits -= 5
			b = append(b, enc[acc>>uint(bits)&31])
		}
	}
	return append(b, enc[acc<<(5-uint(bits))&31])
}

func appendHex64(b []byte, v uint64) []byte {
	for i := 60; i >= 0; i -= 4 {
		b = append(b, hexDigits[v>>uint(i)&0xf])
	}
	return b
}

// appendUUID appends a version 4 UUID made of hi and lo; hi alone keeps it
// unique.
func appendUUID(b []byte, hi, lo uint64) []byte {
	lo = lo&^(0xf<<60) | 0x8<<60
	var h [32]byte
	appendHex64(appendHex64(h[:0], hi), lo)
	h[12] = '4'
	b = append(b, h[0:8]...)
	b = append(b, '-')
	b = append(b, h[8:12]...)
	b = append(b, '-')
	b = append(b, h[12:16]...)
	b = append(b, '-')
	b = append(b, h[16:20]...)
	b = append(b, '-')
	return append(b, h[20:32]...)
}
