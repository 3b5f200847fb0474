package parser

// Hand-written RFC 3339 parsing and formatting for the hot path. The runtimes
// write time.RFC3339Nano (docker and containerd in UTC with trailing zeros of
// the fraction trimmed, CRI-O possibly with a numeric offset); time.Parse
// handles all of that but costs several hundred nanoseconds per line.
// Formatting is record.AppendRFC3339, shared with the journal.

import "github.com/logspool/logspool/spool/record"

// tsLen is the length of a canonical timestamp: 2006-01-02T15:04:05.000000000Z.
const tsLen = 30

// timestamp is a parsed instant: Unix nanoseconds and its canonical text.
type timestamp struct {
	ns   int64
	text [tsLen]byte
	// orig is set for a valid RFC 3339 timestamp outside the range of
	// @timestamp (see minUnixSec): the text as written. ns and text are then
	// zero until the decoder puts the reading time there.
	orig []byte
}

// The range of @timestamp, in seconds since the epoch: the index template
// maps it as date_nanos, which Elasticsearch stores as unsigned nanoseconds
// since the epoch in a signed long: 1970-01-01T00:00:00Z to
// 2262-04-11T23:47:16.854775807Z (rounded inwards here to whole seconds).
// A document with an @timestamp outside it is refused.
const (
	minUnixSec = 0          // 1970-01-01T00:00:00Z
	maxUnixSec = 9223372035 // 2262-04-11T23:47:15Z
)

// parseTimestamp parses an RFC 3339 timestamp (years 0000 to 9999) with an
// optional fraction of any length (digits past the ninth are dropped) and a
// "Z" or ±hh:mm offset. It rejects malformed text and out-of-range fields;
// a valid instant outside minUnixSec..maxUnixSec is returned with orig set
// (see timestamp).
func parseTimestamp(b []byte) (timestamp, bool) {
	var c tsCache
	return c.parse(b)
}

// tsCache remembers the date and time of day (to the second) of the last
// timestamp it parsed: consecutive lines mostly share them, and then only the
// fraction and the zone are left to parse.
type tsCache struct {
	head  [19]byte // b[:19] as written
	canon [19]byte // its canonical form
	local int64    // seconds since the epoch of head read as UTC
	ok    bool
}

// parse is parseTimestamp using and updating c.
func (c *tsCache) parse(b []byte) (timestamp, bool) {
	if len(b) < 20 {
		return timestamp{}, false
	}
	if !c.ok || string(b[:19]) != string(c.head[:]) {
		local, ok := parseHead(b[:19])
		if !ok {
			return timestamp{}, false
		}
		copy(c.head[:], b[:19])
		copy(c.canon[:], b[:19])
		c.canon[10] = 'T'
		c.local, c.ok = local, true
	}
	t, ok := parseTail(b[19:], c.local, &c.canon)
	if ok && t.ns == outOfRange {
		t = timestamp{orig: b}
	}
	return t, ok
}

// outOfRange is what parseTail returns in ns for a valid instant outside
// the range of @timestamp (no instant in range has it).
const outOfRange = -1 << 63

// parseHead parses 2006-01-02T15:04:05 into seconds since the epoch, as if
// in UTC.
func parseHead(b []byte) (int64, bool) {
	if b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't') || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return 0, false
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	return daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec), true
}

// parseTail parses the optional fraction and the zone that follow the head
// (local seconds, canonical text canon) of a timestamp.
func parseTail(b []byte, local int64, canon *[19]byte) (timestamp, bool) {
	var t timestamp
	i := 0
	var frac int64
	if b[0] == '.' || b[0] == ',' {
		i++
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if n < 9 {
				frac = frac*10 + int64(b[i]-'0')
			}
			n++
			i++
		}
		if n == 0 {
			return t, false
		}
		for ; n < 9; n++ {
			frac *= 10
		}
	}
	if i >= len(b) {
		return t, false
	}
	var offset int64 // seconds east of UTC
	switch b[i] {
	case 'Z', 'z':
		i++
	case '+', '-':
		if len(b)-i < 6 || b[i+3] != ':' {
			return t, false
		}
		oh, okh := digits(b[i+1 : i+3])
		om, okm := digits(b[i+4 : i+6])
		if !okh || !okm || oh > 23 || om > 59 {
			return t, false
		}
		offset = int64(oh*3600 + om*60)
		if b[i] == '-' {
			offset = -offset
		}
		i += 6
	default:
		return t, false
	}
	if i != len(b) {
		return t, false
	}
	unix := local - offset
	if unix < minUnixSec || unix > maxUnixSec {
		t.ns = outOfRange
		return t, true
	}
	t.ns = unix*1e9 + frac
	if offset == 0 {
		copy(t.text[:19], canon[:])
		formatFrac(&t.text, frac)
	} else {
		formatUnixNano(&t.text, t.ns)
	}
	return t, true
}

// timestampFromUnixNano returns the timestamp of ns.
func timestampFromUnixNano(ns int64) timestamp {
	t := timestamp{ns: ns}
	formatUnixNano(&t.text, ns)
	return t
}

// formatUnixNano writes ns as a canonical UTC timestamp.
func formatUnixNano(dst *[tsLen]byte, ns int64) {
	sec, frac := ns/1e9, ns%1e9
	if frac < 0 {
		frac += 1e9
		sec--
	}
	record.AppendRFC3339(dst[:0], sec, frac, 9)
}

// formatFrac writes ".<9 digits>Z" at the end of dst.
func formatFrac(dst *[tsLen]byte, frac int64) {
	dst[19] = '.'
	for i := 28; i >= 20; i-- {
		dst[i] = byte('0' + frac%10)
		frac /= 10
	}
	dst[29] = 'Z'
}

func digits(b []byte) (int, bool) {
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(year, month int) int {
	switch month {
	case 2:
		if isLeap(year) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the number of days since 1970-01-01 of the proleptic
// Gregorian date y-m-d (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
