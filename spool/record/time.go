package record

// RFC 3339 timestamps for documents, shared by every input that writes
// @timestamp (the parser's container lines, the journal's entries), so that
// all of them format a time the same way, by hand and without allocating.

// AppendRFC3339 appends sec seconds and nsec nanoseconds (0 <= nsec < 1e9)
// after 1970-01-01T00:00:00Z as 2006-01-02T15:04:05.<digits>Z in UTC, with
// exactly digits (1 to 9) fractional digits, truncated. Years outside 0 to
// 9999 are not representable and come out garbled.
func AppendRFC3339(dst []byte, sec, nsec int64, digits int) []byte {
	days := sec / 86400
	rem := sec % 86400
	if rem < 0 {
		rem += 86400
		days--
	}
	y, m, d := CivilFromDays(days)
	dst = append4(dst, y)
	dst = append(dst, '-')
	dst = append2(dst, m)
	dst = append(dst, '-')
	dst = append2(dst, d)
	dst = append(dst, 'T')
	dst = append2(dst, int(rem/3600))
	dst = append(dst, ':')
	dst = append2(dst, int(rem/60%60))
	dst = append(dst, ':')
	dst = append2(dst, int(rem%60))
	dst = append(dst, '.')
	div := int64(100000000)
	for i := 0; i < digits; i++ {
		dst = append(dst, byte('0'+nsec/div%10))
		div /= 10
	}
	return append(dst, 'Z')
}

// CivilFromDays converts days since 1970-01-01 to a proleptic Gregorian
// date (Howard Hinnant's algorithm); daysFromCivil in the parser is its
// inverse.
func CivilFromDays(z int64) (year, month, day int) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return int(y), int(m), int(d)
}

func append2(dst []byte, v int) []byte { return append(dst, byte('0'+v/10), byte('0'+v%10)) }

func append4(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}
