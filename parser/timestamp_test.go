package parser

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // canonical form; "" means rejected, "out" out of @timestamp's range
	}{
		{name: "nine fraction digits in UTC are kept", in: "2024-05-01T10:00:00.123456789Z", want: "2024-05-01T10:00:00.123456789Z"},
		{name: "a short fraction is padded", in: "2024-05-01T10:00:00.5Z", want: "2024-05-01T10:00:00.500000000Z"},
		{name: "no fraction gives zeros", in: "2024-05-01T10:00:00Z", want: "2024-05-01T10:00:00.000000000Z"},
		{name: "digits past the ninth are dropped", in: "2024-05-01T10:00:00.1234567891234Z", want: "2024-05-01T10:00:00.123456789Z"},
		{name: "a positive offset is subtracted", in: "2024-05-01T12:30:00.1+02:30", want: "2024-05-01T10:00:00.100000000Z"},
		{name: "a negative offset crossing the year is added", in: "2023-12-31T23:00:00-01:00", want: "2024-01-01T00:00:00.000000000Z"},
		{name: "a +00:00 offset means UTC", in: "2024-05-01T10:00:00.123456789+00:00", want: "2024-05-01T10:00:00.123456789Z"},
		{name: "lower-case t and z are accepted", in: "2024-05-01t10:00:00z", want: "2024-05-01T10:00:00.000000000Z"},
		{name: "a leap day is accepted", in: "2024-02-29T00:00:00Z", want: "2024-02-29T00:00:00.000000000Z"},
		{name: "the epoch is in range", in: "1970-01-01T00:00:00Z", want: "1970-01-01T00:00:00.000000000Z"},
		{name: "a date before 1970 is valid but out of range", in: "1969-12-31T23:59:59.999999999Z", want: "out"},
		{name: "docker's zero time is valid but out of range", in: "0001-01-01T00:00:00Z", want: "out"},
		{name: "the year 0 is valid but out of range", in: "0000-01-01T00:00:00Z", want: "out"},
		{name: "the year 9999 is valid but out of range", in: "9999-12-31T23:59:59.999999999Z", want: "out"},
		{name: "a leap day in a common year is rejected", in: "2023-02-29T00:00:00Z"},
		{name: "month 13 is rejected", in: "2024-13-01T00:00:00Z"},
		{name: "hour 24 is rejected", in: "2024-05-01T24:00:00Z"},
		{name: "second 60 is rejected", in: "2024-05-01T10:00:60Z"},
		{name: "a missing zone is rejected", in: "2024-05-01T10:00:00.123"},
		{name: "an empty fraction is rejected", in: "2024-05-01T10:00:00.Z"},
		{name: "a short offset is rejected", in: "2024-05-01T10:00:00+0200"},
		{name: "trailing bytes are rejected", in: "2024-05-01T10:00:00Zx"},
		{name: "a space separator is rejected", in: "2024-05-01 10:00:00Z"},
		{name: "a year past 2262 is out of range", in: "2263-01-01T00:00:00Z", want: "out"},
		{name: "a year before 1677 is out of range", in: "1600-01-01T00:00:00Z", want: "out"},
		{name: "a five-digit year is rejected", in: "10000-01-01T00:00:00Z"},
		{name: "garbage is rejected", in: "yesterday"},
		{name: "the empty string is rejected", in: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseTimestamp([]byte(tt.in))
			if tt.want == "" {
				if ok {
					t.Fatalf("parseTimestamp(%q) = %s, want rejection", tt.in, got.text[:])
				}
				return
			}
			if !ok {
				t.Fatalf("parseTimestamp(%q) rejected it, want %s", tt.in, tt.want)
			}
			if tt.want == "out" {
				if string(got.orig) != tt.in {
					t.Fatalf("parseTimestamp(%q) orig = %q, want the text (out of range)", tt.in, got.orig)
				}
				return
			}
			if got.orig != nil {
				t.Fatalf("parseTimestamp(%q) says out of range", tt.in)
			}
			if string(got.text[:]) != tt.want {
				t.Fatalf("parseTimestamp(%q) = %s, want %s", tt.in, got.text[:], tt.want)
			}
			ref, err := time.Parse(time.RFC3339Nano, tt.want)
			if err != nil {
				t.Fatal(err)
			}
			if got.ns != ref.UnixNano() {
				t.Fatalf("parseTimestamp(%q) ns = %d, want %d", tt.in, got.ns, ref.UnixNano())
			}
		})
	}
}

func TestFormatUnixNanoMatchesTime(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		ns := int64(r.Uint64()) // every int64 is a valid instant
		got := timestampFromUnixNano(ns)
		want := time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.000000000Z")
		if string(got.text[:]) != want {
			t.Fatalf("formatUnixNano(%d) = %s, want %s", ns, got.text[:], want)
		}
		back, ok := parseTimestamp(got.text[:])
		if ns < 0 || ns/1e9 > maxUnixSec {
			if !ok || back.orig == nil {
				t.Fatalf("parseTimestamp(%s) = %v, orig %q; want valid and out of range", got.text[:], ok, back.orig)
			}
			continue
		}
		if !ok || back.ns != ns {
			t.Fatalf("parseTimestamp(%s) = %d, %v; want %d", got.text[:], back.ns, ok, ns)
		}
	}
}

func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{"2024-05-01T10:00:00.123456789Z", "2024-05-01T12:00:00+02:00", "2024-02-29T00:00:00-11:59", "0000-01-01T00:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseTimestamp([]byte(s))
		ref, err := time.Parse(time.RFC3339Nano, s)
		if !ok {
			return // stricter than time.Parse in places (year range, 'z', ',')
		}
		if err != nil {
			// time.Parse rejects lower-case t/z and ',' fractions we accept.
			return
		}
		if got.orig != nil {
			if sec := ref.Unix(); sec >= minUnixSec && sec <= maxUnixSec {
				t.Fatalf("parseTimestamp(%q) says out of range; time.Parse gives %v", s, ref)
			}
			return
		}
		if got.ns != ref.UnixNano() {
			t.Fatalf("parseTimestamp(%q) ns = %d, time.Parse gives %d", s, got.ns, ref.UnixNano())
		}
		if want := ref.UTC().Format("2006-01-02T15:04:05.000000000Z"); string(got.text[:]) != want {
			t.Fatalf("parseTimestamp(%q) = %s, want %s", s, got.text[:], want)
		}
	})
}

func TestTimestampCacheMatchesUncached(t *testing.T) {
	seq := []string{
		"2024-05-01T10:00:00.1Z",
		"2024-05-01T10:00:00.2Z",
		"2024-05-01T10:00:00.2+01:00",
		"2024-05-01t10:00:00Z",
		"2024-05-01T10:00:00Z",
		"2024-05-01T10:00:00",
		"2024-05-01T10:00:00.3Z",
		"2024-02-30T10:00:00Z",
		"2024-05-01T10:00:00.4Z",
		"2024-05-01T10:00:01Z",
	}
	var c tsCache
	for _, s := range seq {
		got, gotOK := c.parse([]byte(s))
		want, wantOK := parseTimestamp([]byte(s))
		if !sameTimestamp(got, want) || gotOK != wantOK {
			t.Fatalf("cached parse of %q = %s, %v; uncached %s, %v", s, got.text[:], gotOK, want.text[:], wantOK)
		}
	}
}

func FuzzTimestampCache(f *testing.F) {
	f.Add("2024-05-01T10:00:00.1Z", "2024-05-01T10:00:00.2+01:00")
	f.Add("2024-05-01t10:00:00Z", "2024-05-01T10:00:00Z")
	f.Fuzz(func(t *testing.T, a, b string) {
		var c tsCache
		c.parse([]byte(a))
		got, gotOK := c.parse([]byte(b))
		want, wantOK := parseTimestamp([]byte(b))
		if !sameTimestamp(got, want) || gotOK != wantOK {
			t.Fatalf("parse of %q after %q = %s, %v; alone %s, %v", b, a, got.text[:], gotOK, want.text[:], wantOK)
		}
	})
}

func sameTimestamp(a, b timestamp) bool {
	return a.ns == b.ns && a.text == b.text && string(a.orig) == string(b.orig) && (a.orig == nil) == (b.orig == nil)
}
