package parser

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// fuzzSeeds are multi-line inputs of both formats.
var fuzzSeeds = []string{
	`{"log":"hello\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}`,
	`{"log":"part","stream":"stdout","time":"2024-05-01T10:00:00Z"}` + "\n" + `{"log":"err\n","stream":"stderr","time":"2024-05-01T10:00:00Z"}` + "\n" + `{"log":"end\n","stream":"stdout","time":"2024-05-01T10:00:01Z"}`,
	`{"log":"\u00e9\ud83d\ude00\"\\\n","stream":"stdout","attrs":{"a":"b"},"time":"2024-05-01T10:00:00Z"}`,
	`{"log":"x\n","stream":"stdout","time":"bad"}` + "\n" + `{"log":5}` + "\n" + `{`,
	"2024-05-01T10:00:00.123456789Z stdout F hello",
	"2024-05-01T10:00:00Z stdout P a\n2024-05-01T10:00:00Z stderr P b\n2024-05-01T10:00:00Z stdout F c\n2024-05-01T10:00:00Z stderr F d",
	"2024-05-01T12:00:00+02:00 stderr F x\xff\x00\u2028",
	"garbage\n\n2024-05-01T10:00:00Z stdout X y",
}

func FuzzDecodeDocker(f *testing.F) { fuzzDecode(f, "{") }
func FuzzDecodeCRI(f *testing.F)    { fuzzDecode(f, "2") }

// fuzzDecode checks the decoder's invariants on arbitrary input whose lines
// mostly start like the format named by lead:
//   - it never panics; every document is valid JSON in valid UTF-8;
//   - Pending never reports a start past the line just decoded, and every
//     record's offset is the start of a line;
//   - after Flush nothing is pending and every line start that is not inside
//     a joined message is the offset of exactly one record;
//   - a line that is valid on its own per encoding/json and time.Parse, read
//     by a fresh decoder, yields exactly its message and timestamp.
func fuzzDecode(f *testing.F, lead string) {
	for _, s := range fuzzSeeds {
		if strings.HasPrefix(s, lead) {
			f.Add([]byte(s), uint16(0), uint8(0))
			f.Add([]byte(s), uint16(3), uint8(0b101))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, max uint16, truncMask uint8) {
		cfg := testConfig()
		cfg.MaxLineBytes = int(max)
		d := NewDecoder(cfg, testSource())
		var in []Line
		var off int64
		for i, l := range bytes.Split(data, []byte("\n")) {
			in = append(in, Line{Bytes: l, Start: off, End: off + int64(len(l)) + 1, Truncated: truncMask&(1<<(i%8)) != 0})
			off += int64(len(l)) + 1
		}
		starts := map[int64]bool{}
		for _, ln := range in {
			starts[ln.Start] = true
		}
		recs := decodeAll(t, d, in)
		recs = d.Flush(recs)
		if _, ok := d.Pending(); ok {
			t.Fatalf("Pending() reports a message after Flush")
		}
		seen := map[int64]int{}
		for _, r := range recs {
			g := mustDoc(t, r)
			if !starts[g.Log.Offset] {
				t.Fatalf("record offset %d is not the start of a line", g.Log.Offset)
			}
			seen[g.Log.Offset]++
			if seen[g.Log.Offset] > 1 {
				t.Fatalf("two records start at offset %d", g.Log.Offset)
			}
		}
		for _, ln := range in {
			checkAlone(t, cfg, ln)
		}
		if max == 0 && truncMask == 0 {
			checkJoins(t, in, recs)
		}
		if len(in) <= 16 {
			checkResumes(t, cfg, in)
		}
	})
}

// checkJoins compares recs, decoded from in without cuts, with a reference
// join of the lines referenceDecode accepts: per stream, messages are joined
// until a complete line; what is left is flushed as partial. It only runs
// when the decoder and referenceDecode agree on which lines are malformed.
func checkJoins(t *testing.T, in []Line, recs []recordT) {
	t.Helper()
	type rec struct {
		msg, stream string
		partial     bool
	}
	got := map[int64]rec{}
	malformed := map[int64]bool{}
	for _, r := range recs {
		g := mustDoc(t, r)
		for _, f := range g.Log.Flags {
			switch f {
			case ReasonInvalidJSON, ReasonMalformedCRI, ReasonInvalidTimestamp:
				malformed[g.Log.Offset] = true
			}
		}
		got[g.Log.Offset] = rec{g.Message, g.Stream, slices.Contains(g.Log.Flags, FlagPartial)}
	}
	type pend struct {
		start int64
		msg   string
	}
	want := map[int64]rec{}
	pending := map[string]*pend{}
	var order []string
	for _, ln := range in {
		msg, stream, _, complete, ok := referenceDecodeStream(ln.Bytes)
		if ok == malformed[ln.Start] {
			return // the decoder and the reference disagree on this line's validity
		}
		if !ok {
			continue
		}
		p := pending[stream]
		if p == nil {
			p = &pend{start: ln.Start}
			pending[stream] = p
			order = append(order, stream)
		}
		p.msg += msg
		if complete {
			if ln.Bytes[0] != '{' {
				p.msg = strings.TrimSuffix(p.msg, "\r") // the CR of a CRLF line end
			}
			want[p.start] = rec{p.msg, stream, false}
			delete(pending, stream)
		}
	}
	if len(pending) > maxStreams {
		return // the decoder flushes early; not modelled here
	}
	for _, s := range order {
		if p := pending[s]; p != nil {
			want[p.start] = rec{p.msg, s, true}
		}
	}
	for off, w := range want {
		w.msg = string(appendSanitized(nil, []byte(w.msg)))
		if g, ok := got[off]; !ok || g != w {
			t.Fatalf("record at offset %d = %+v (present %v), want %+v", off, g, ok, w)
		}
	}
	if n := len(got) - len(malformed); n != len(want) {
		t.Fatalf("got %d well-formed records, want %d", n, len(want))
	}
}

// checkAlone decodes ln with a fresh decoder and compares the result with a
// reference decoding built on encoding/json, strings and time.Parse.
func checkAlone(t *testing.T, cfg Config, ln Line) {
	t.Helper()
	msg, ts, complete, ok := referenceDecode(ln.Bytes)
	d := NewDecoder(cfg, testSource())
	recs := d.Decode(nil, ln)
	recs = d.Flush(recs)
	if len(recs) != 1 {
		t.Fatalf("line %q gave %d records after Flush, want 1", ln.Bytes, len(recs))
	}
	g := mustDoc(t, recs[0])
	if !ok || ln.Truncated || len(msg) > cfg.withDefaults().MaxLineBytes {
		return
	}
	flags := slices.DeleteFunc(slices.Clone(g.Log.Flags), func(s string) bool { return s == "invalid_utf8" })
	if complete && ln.Bytes[0] != '{' {
		msg = strings.TrimSuffix(msg, "\r") // the CR of a CRLF line end
	}
	wantFlags := []string(nil)
	if !complete {
		wantFlags = []string{"partial"}
	}
	if sec := ts.Unix(); sec < minUnixSec || sec > maxUnixSec {
		// Valid RFC 3339 outside what date_nanos holds: the reading time,
		// the runtime's text kept.
		wantFlags = append(wantFlags, "timestamp_out_of_range")
		if g.Log.OriginalTime == "" {
			t.Fatalf("valid line %q with an out-of-range time has no log.original_time", ln.Bytes)
		}
		ts = cfg.Now()
	}
	if !slices.Equal(flags, wantFlags) {
		t.Fatalf("valid line %q gave flags %q, want %q", ln.Bytes, g.Log.Flags, wantFlags)
	}
	if want := string(appendSanitized(nil, []byte(msg))); g.Message != want {
		t.Fatalf("valid line %q gave message %q, want %q", ln.Bytes, g.Message, want)
	}
	if want := ts.UTC().Format("2006-01-02T15:04:05.000000000Z"); g.Timestamp != want {
		t.Fatalf("valid line %q gave @timestamp %s, want %s", ln.Bytes, g.Timestamp, want)
	}
}

// referenceDecode decodes one line the slow, obvious way.
func referenceDecode(b []byte) (msg string, ts time.Time, complete, ok bool) {
	msg, _, ts, complete, ok = referenceDecodeStream(b)
	return msg, ts, complete, ok
}

func referenceDecodeStream(b []byte) (msg, stream string, ts time.Time, complete, ok bool) {
	if len(b) > 0 && b[0] == '{' {
		var l struct {
			Log    *string `json:"log"`
			Stream string  `json:"stream"`
			Time   string  `json:"time"`
		}
		if json.Unmarshal(b, &l) != nil || l.Log == nil {
			return "", "", time.Time{}, false, false
		}
		t, err := parseRFC3339(l.Time)
		if err != nil {
			return "", "", time.Time{}, false, false
		}
		m, complete := strings.CutSuffix(*l.Log, "\n")
		return m, l.Stream, t, complete, true
	}
	parts := strings.SplitN(string(b), " ", 4)
	if len(parts) < 3 || (parts[1] != "stdout" && parts[1] != "stderr") {
		return "", "", time.Time{}, false, false
	}
	tag, _, _ := strings.Cut(parts[2], ":")
	if tag != "P" && tag != "F" {
		return "", "", time.Time{}, false, false
	}
	t, err := parseRFC3339(parts[0])
	if err != nil {
		return "", "", time.Time{}, false, false
	}
	if len(parts) == 4 {
		msg = parts[3]
	}
	return msg, parts[1], t, tag == "F", true
}

// parseRFC3339 is time.Parse(time.RFC3339Nano), which also accepts a
// one-digit hour; RFC 3339 and the runtimes use two.
func parseRFC3339(s string) (time.Time, error) {
	if len(s) < 20 || s[13] != ':' || s[16] != ':' {
		return time.Time{}, fmt.Errorf("not RFC 3339: %q", s)
	}
	return time.Parse(time.RFC3339Nano, s)
}
