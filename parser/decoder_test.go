package parser

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/logspool/logspool/spool/record"
)

// want is what a test expects of one record.
type want struct {
	msg    string
	stream string
	ts     string // "" means the reading time (fixedNow)
	offset int64
	flags  []string
}

const nowText = "2024-05-01T12:00:00.000000000Z"

func checkRecords(t *testing.T, got []doc, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		for i, g := range got {
			t.Logf("record %d: %+v", i, g)
		}
		t.Fatalf("got %d records, want %d", len(got), len(wants))
	}
	for i, w := range wants {
		g := got[i]
		ts := w.ts
		if ts == "" {
			ts = nowText
		}
		if g.Message != w.msg {
			t.Errorf("record %d: message %q, want %q", i, g.Message, w.msg)
		}
		if g.Stream != w.stream {
			t.Errorf("record %d: stream %q, want %q", i, g.Stream, w.stream)
		}
		if g.Timestamp != ts {
			t.Errorf("record %d: @timestamp %q, want %q", i, g.Timestamp, ts)
		}
		if g.Log.Offset != w.offset {
			t.Errorf("record %d: log.offset %d, want %d", i, g.Log.Offset, w.offset)
		}
		if !slices.Equal(g.Log.Flags, w.flags) {
			t.Errorf("record %d: log.flags %q, want %q", i, g.Log.Flags, w.flags)
		}
	}
}

func docs(t *testing.T, recs []recordT) []doc {
	t.Helper()
	out := make([]doc, len(recs))
	for i, r := range recs {
		out[i] = mustDoc(t, r)
	}
	return out
}

const ts1 = "2024-05-01T10:00:00.123456789Z"

func TestDecode(t *testing.T) {
	tests := []struct {
		name  string
		max   int
		in    []string
		flush bool
		want  []want
	}{
		{
			name: "a docker line yields its message without the newline",
			in:   []string{`{"log":"hello\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}`},
			want: []want{{msg: "hello", stream: "stdout", ts: ts1}},
		},
		{
			name: "docker keys in any order with whitespace are decoded",
			in:   []string{` { "time" : "2024-05-01T10:00:00.123456789Z" , "stream":"stderr", "log" : "x\ty\n" } `},
			want: []want{{msg: "x\ty", stream: "stderr", ts: ts1}},
		},
		{
			name: "docker escapes including surrogate pairs are unescaped",
			in:   []string{`{"log":"\u00e9\ud83d\ude00 \"q\" \\ \/ \b\f\r\u0000\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}`},
			want: []want{{msg: "é😀 \"q\" \\ / \b\f\r\x00", stream: "stdout", ts: ts1}},
		},
		{
			name: "a lone surrogate becomes U+FFFD like encoding/json",
			in:   []string{`{"log":"a\ud800b\udc00c\ud800\u0041\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}`},
			want: []want{{msg: "a\ufffdb\ufffdc\ufffdA", stream: "stdout", ts: ts1}},
		},
		{
			name: "docker attrs are kept and decoded by the fallback",
			in:   []string{`{"log":"a\n","stream":"stdout","attrs":{"tag":"x"},"time":"2024-05-01T10:00:00.123456789Z"}`},
			want: []want{{msg: "a", stream: "stdout", ts: ts1}},
		},
		{
			name: "a docker time with fewer fraction digits is padded to nine",
			in:   []string{`{"log":"a\n","stream":"stdout","time":"2024-05-01T10:00:00.1Z"}`},
			want: []want{{msg: "a", stream: "stdout", ts: "2024-05-01T10:00:00.100000000Z"}},
		},
		{
			name: "docker partial lines are joined until a line ends with a newline",
			in: []string{
				`{"log":"aaa","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}`,
				`{"log":"bbb","stream":"stdout","time":"2024-05-01T10:00:01Z"}`,
				`{"log":"ccc\n","stream":"stdout","time":"2024-05-01T10:00:02Z"}`,
			},
			want: []want{{msg: "aaabbbccc", stream: "stdout", ts: ts1}},
		},
		{
			name: "docker stdout and stderr partials interleaved are joined per stream",
			in: []string{
				`{"log":"o1","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}`,
				`{"log":"e1","stream":"stderr","time":"2024-05-01T10:00:01Z"}`,
				`{"log":"o2\n","stream":"stdout","time":"2024-05-01T10:00:02Z"}`,
				`{"log":"e2\n","stream":"stderr","time":"2024-05-01T10:00:03Z"}`,
			},
			want: []want{
				{msg: "o1o2", stream: "stdout", ts: ts1, offset: 0},
				{msg: "e1e2", stream: "stderr", ts: "2024-05-01T10:00:01.000000000Z", offset: 71},
			},
		},
		{
			name: "a CRI F line yields its message",
			in:   []string{"2024-05-01T10:00:00.123456789Z stdout F hello world"},
			want: []want{{msg: "hello world", stream: "stdout", ts: ts1}},
		},
		{
			name: "a CRI line with a numeric offset is converted to UTC",
			in:   []string{"2024-05-01T12:00:00.123456789+02:00 stderr F x"},
			want: []want{{msg: "x", stream: "stderr", ts: ts1}},
		},
		{
			name: "a CRI line with a negative offset crossing midnight is converted to UTC",
			in:   []string{"2024-02-28T23:30:00-01:00 stdout F x"},
			want: []want{{msg: "x", stream: "stdout", ts: "2024-02-29T00:30:00.000000000Z"}},
		},
		{
			name: "a CRI F line without a message yields an empty message",
			in:   []string{"2024-05-01T10:00:00.123456789Z stdout F", "2024-05-01T10:00:00.123456789Z stdout F "},
			want: []want{{stream: "stdout", ts: ts1}, {stream: "stdout", ts: ts1, offset: 40}},
		},
		{
			name: "a CRI tag with extra parts is accepted",
			in:   []string{"2024-05-01T10:00:00.123456789Z stdout F:x y"},
			want: []want{{msg: "y", stream: "stdout", ts: ts1}},
		},
		{
			name: "CRI message keeps inner spaces and trailing blanks",
			in:   []string{"2024-05-01T10:00:00.123456789Z stdout F  two  spaces  "},
			want: []want{{msg: " two  spaces  ", stream: "stdout", ts: ts1}},
		},
		{
			name: "CRI P lines are joined until F",
			in: []string{
				"2024-05-01T10:00:00.123456789Z stdout P aaa",
				"2024-05-01T10:00:01Z stdout P bbb",
				"2024-05-01T10:00:02Z stdout F ccc",
			},
			want: []want{{msg: "aaabbbccc", stream: "stdout", ts: ts1}},
		},
		{
			name: "CRI stdout and stderr partials interleaved are joined per stream",
			in: []string{
				"2024-05-01T10:00:00.123456789Z stdout P o1",
				"2024-05-01T10:00:01.000000000Z stderr P e1",
				"2024-05-01T10:00:02.000000000Z stderr F e2",
				"2024-05-01T10:00:03.000000000Z stdout F o2",
			},
			want: []want{
				{msg: "e1e2", stream: "stderr", ts: "2024-05-01T10:00:01.000000000Z", offset: 43},
				{msg: "o1o2", stream: "stdout", ts: ts1, offset: 0},
			},
		},
		{
			name: "a joined message longer than the maximum is cut, flagged and the rest skipped",
			max:  5,
			in: []string{
				"2024-05-01T10:00:00.123456789Z stdout P abc",
				"2024-05-01T10:00:00.123456789Z stdout P def",
				"2024-05-01T10:00:00.123456789Z stdout P ghi",
				"2024-05-01T10:00:00.123456789Z stdout F jkl",
				"2024-05-01T10:00:00.123456789Z stdout F next",
			},
			want: []want{
				{msg: "abcde", stream: "stdout", ts: ts1, flags: []string{"truncated"}},
				{msg: "next", stream: "stdout", ts: ts1, offset: 176},
			},
		},
		{
			name: "a single line longer than the maximum is cut and flagged",
			max:  3,
			in:   []string{"2024-05-01T10:00:00.123456789Z stdout F abcdef", "2024-05-01T10:00:00.123456789Z stdout F ok"},
			want: []want{
				{msg: "abc", stream: "stdout", ts: ts1, flags: []string{"truncated"}},
				{msg: "ok", stream: "stdout", ts: ts1, offset: 47},
			},
		},
		{
			name: "a cut does not split a UTF-8 sequence",
			max:  4,
			in:   []string{"2024-05-01T10:00:00.123456789Z stdout F abcé"},
			want: []want{{msg: "abc", stream: "stdout", ts: ts1, flags: []string{"truncated"}}},
		},
		{
			name:  "flush emits pending partials of both streams flagged partial",
			in:    []string{"2024-05-01T10:00:00.123456789Z stdout P a", "2024-05-01T10:00:00.123456789Z stderr P b"},
			flush: true,
			want: []want{
				{msg: "a", stream: "stdout", ts: ts1, flags: []string{"partial"}},
				{msg: "b", stream: "stderr", ts: ts1, offset: 42, flags: []string{"partial"}},
			},
		},
		{
			name:  "flush does not emit a cut message again",
			max:   2,
			in:    []string{"2024-05-01T10:00:00.123456789Z stdout P abc"},
			flush: true,
			want:  []want{{msg: "ab", stream: "stdout", ts: ts1, flags: []string{"truncated"}}},
		},
		{
			name: "invalid JSON is shipped raw and flagged",
			in:   []string{`{"log":"a`},
			want: []want{{msg: `{"log":"a`, flags: []string{"invalid_json"}}},
		},
		{
			name: "a JSON object without log is shipped raw and flagged",
			in:   []string{`{"msg":"a","stream":"stdout"}`},
			want: []want{{msg: `{"msg":"a","stream":"stdout"}`, flags: []string{"invalid_json"}}},
		},
		{
			name: "a docker line with a non-string log is shipped raw",
			in:   []string{`{"log":5,"stream":"stdout","time":"2024-05-01T10:00:00Z"}`},
			want: []want{{msg: `{"log":5,"stream":"stdout","time":"2024-05-01T10:00:00Z"}`, flags: []string{"invalid_json"}}},
		},
		{
			name: "a docker line with trailing garbage is shipped raw",
			in:   []string{`{"log":"a\n","stream":"stdout","time":"2024-05-01T10:00:00Z"} x`},
			want: []want{{msg: `{"log":"a\n","stream":"stdout","time":"2024-05-01T10:00:00Z"} x`, flags: []string{"invalid_json"}}},
		},
		{
			name: "a docker line with an unparsable time is shipped raw",
			in:   []string{`{"log":"a\n","stream":"stdout","time":"yesterday"}`},
			want: []want{{msg: `{"log":"a\n","stream":"stdout","time":"yesterday"}`, flags: []string{"invalid_timestamp"}}},
		},
		{
			name: "a malformed CRI line is shipped raw and flagged",
			in:   []string{"2024-05-01T10:00:00Z stdout X msg", "2024-05-01T10:00:00Z stdlog F msg", "2024-05-01T10:00:00Z"},
			want: []want{
				{msg: "2024-05-01T10:00:00Z stdout X msg", flags: []string{"malformed_cri"}},
				{msg: "2024-05-01T10:00:00Z stdlog F msg", offset: 34, flags: []string{"malformed_cri"}},
				{msg: "2024-05-01T10:00:00Z", offset: 68, flags: []string{"malformed_cri"}},
			},
		},
		{
			name: "a CRI line with an impossible date is shipped raw",
			in:   []string{"2024-02-30T10:00:00Z stdout F msg"},
			want: []want{{msg: "2024-02-30T10:00:00Z stdout F msg", flags: []string{"invalid_timestamp"}}},
		},
		{
			name: "a malformed line does not disturb a pending partial",
			in: []string{
				"2024-05-01T10:00:00.123456789Z stdout P a",
				"garbage",
				"2024-05-01T10:00:00.123456789Z stdout F b",
			},
			want: []want{
				{msg: "garbage", offset: 42, flags: []string{"malformed_cri"}},
				{msg: "ab", stream: "stdout", ts: ts1},
			},
		},
		{
			name: "an empty line is shipped flagged",
			in:   []string{""},
			want: []want{{flags: []string{"malformed_cri"}}},
		},
		{
			name: "a docker line in a CRI file is decoded",
			in: []string{
				"2024-05-01T10:00:00.123456789Z stdout F cri",
				`{"log":"docker\n","stream":"stderr","time":"2024-05-01T10:00:00.123456789Z"}`,
			},
			want: []want{
				{msg: "cri", stream: "stdout", ts: ts1},
				{msg: "docker", stream: "stderr", ts: ts1, offset: 44},
			},
		},
		{
			name: "invalid UTF-8 is replaced, flagged and kept in base64",
			in:   []string{"2024-05-01T10:00:00.123456789Z stdout F a\xffb\xc3"},
			want: []want{{msg: "a\ufffdb\ufffd", stream: "stdout", ts: ts1, flags: []string{"invalid_utf8"}}},
		},
		{
			name: "control characters, NUL and line separators are kept",
			in:   []string{"2024-05-01T10:00:00.123456789Z stdout F \x00\x01\x1f\x7f\u2028\u2029\"\\"},
			want: []want{{msg: "\x00\x01\x1f\x7f\u2028\u2029\"\\", stream: "stdout", ts: ts1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxLineBytes = tt.max
			d := NewDecoder(cfg, testSource())
			recs := decodeAll(t, d, lines(tt.in...))
			if tt.flush {
				recs = d.Flush(recs)
				if _, ok := d.Pending(); ok {
					t.Fatalf("Pending() reports a message after Flush")
				}
			}
			checkRecords(t, docs(t, recs), tt.want)
		})
	}
}

func TestDecodeKeepsOriginalBytesOfInvalidUTF8(t *testing.T) {
	d := NewDecoder(testConfig(), testSource())
	recs := decodeAll(t, d, lines("2024-05-01T10:00:00.123456789Z stdout F a\xffb\x00\xe2\x80"))
	g := mustDoc(t, recs[0])
	orig, err := base64.StdEncoding.DecodeString(g.Log.OriginalBase64)
	if err != nil {
		t.Fatalf("decoding log.original_base64 %q: %v", g.Log.OriginalBase64, err)
	}
	if string(orig) != "a\xffb\x00\xe2\x80" {
		t.Fatalf("log.original_base64 holds %q, want the original bytes", orig)
	}
}

func TestPending(t *testing.T) {
	tests := []struct {
		name      string
		max       int
		in        []string
		wantStart int64
		wantOK    bool
	}{
		{
			name: "nothing is pending after complete lines",
			in:   []string{"2024-05-01T10:00:00Z stdout F a"},
		},
		{
			name:      "a partial line is pending from its start",
			in:        []string{"2024-05-01T10:00:00Z stdout F a", "2024-05-01T10:00:00Z stdout P b"},
			wantStart: 32, wantOK: true,
		},
		{
			name: "the smallest start over both streams is pending",
			in: []string{
				"2024-05-01T10:00:00Z stderr P e",
				"2024-05-01T10:00:00Z stdout P o",
				"2024-05-01T10:00:00Z stdout F o",
			},
			wantStart: 0, wantOK: true,
		},
		{
			name: "a message that straddles the pending start moves the offset to its start",
			in: []string{
				"2024-05-01T10:00:00Z stdout P o",
				"2024-05-01T10:00:00Z stderr P e",
				"2024-05-01T10:00:00Z stdout F o",
			},
			wantStart: 0, wantOK: true,
		},
		{
			name: "straddling messages chain back",
			in: []string{
				"2024-05-01T10:00:00Z stdout P a", // 0
				"2024-05-01T10:00:00Z stderr P b", // 32
				"2024-05-01T10:00:00Z stdout F a", // 64: stdout (0, 64] straddles 32
				"2024-05-01T10:00:00Z stdout P c", // 96
				"2024-05-01T10:00:00Z stderr F b", // 128: stderr (32, 128] straddles 96
			},
			wantStart: 0, wantOK: true,
		},
		{
			name: "a message completed before the pending one began does not move the offset",
			in: []string{
				"2024-05-01T10:00:00Z stdout P o",
				"2024-05-01T10:00:00Z stdout F o",
				"2024-05-01T10:00:00Z stderr P e",
			},
			wantStart: 64, wantOK: true,
		},
		{
			name:      "a cut message stays pending until its final line",
			max:       1,
			in:        []string{"2024-05-01T10:00:00Z stdout P abc", "2024-05-01T10:00:00Z stdout P def"},
			wantStart: 0, wantOK: true,
		},
		{
			name: "a cut message is no longer pending after its final line",
			max:  1,
			in:   []string{"2024-05-01T10:00:00Z stdout P abc", "2024-05-01T10:00:00Z stdout F def"},
		},
		{
			name:      "a docker partial is pending",
			in:        []string{`{"log":"a","stream":"stdout","time":"2024-05-01T10:00:00Z"}`},
			wantStart: 0, wantOK: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxLineBytes = tt.max
			d := NewDecoder(cfg, testSource())
			decodeAll(t, d, lines(tt.in...))
			start, ok := d.Pending()
			if start != tt.wantStart || ok != tt.wantOK {
				t.Fatalf("Pending() = %d, %v; want %d, %v", start, ok, tt.wantStart, tt.wantOK)
			}
		})
	}
}

// checkResumes reads in up to every line, "crashes", resumes from Pending()
// (or the end of the last line when nothing is pending) with a new decoder,
// and checks that the records of both reads, deduplicated by ID, are exactly
// those of one continuous read.
func checkResumes(t testing.TB, cfg Config, in []Line) {
	t.Helper()
	full := NewDecoder(cfg, testSource())
	want := map[string]string{}
	for _, r := range full.Flush(decodeAll(t, full, in)) {
		want[r.ID.String()] = string(r.Document())
	}
	for k := 1; k < len(in); k++ {
		d := NewDecoder(cfg, testSource())
		got := map[string]string{}
		for _, r := range decodeAll(t, d, in[:k]) {
			got[r.ID.String()] = string(r.Document())
		}
		resume := in[k-1].End
		if start, ok := d.Pending(); ok {
			resume = start
		}
		d2 := NewDecoder(cfg, testSource())
		var rest []Line
		for _, ln := range in {
			if ln.Start >= resume {
				rest = append(rest, ln)
			}
		}
		for _, r := range d2.Flush(decodeAll(t, d2, rest)) {
			if prev, ok := got[r.ID.String()]; ok && prev != string(r.Document()) && !isMalformed(prev) {
				t.Fatalf("crash after line %d: record %s re-read differs:\n%s\n%s", k, r.ID, prev, r.Document())
			}
			got[r.ID.String()] = string(r.Document())
		}
		for id, doc := range got {
			w, ok := want[id]
			if !ok || (w != doc && !isMalformed(w)) {
				t.Fatalf("crash after line %d, resume at %d: record %s is not in the continuous read: %s", k, resume, id, doc)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("crash after line %d, resume at %d: %d records, want %d", k, resume, len(got), len(want))
		}
	}
}

// isMalformed reports whether doc is a raw malformed line, whose document
// depends on when it was read (@timestamp) and on the lines read before it
// (the file's format when the line's own is unknown); only its ID is stable.
func isMalformed(doc string) bool {
	for _, r := range []string{ReasonInvalidJSON, ReasonMalformedCRI, ReasonInvalidTimestamp} {
		if strings.Contains(doc, `"flags":[`) && strings.Contains(doc, `"`+r+`"`) {
			return true
		}
	}
	return false
}

func TestResumeFromPending(t *testing.T) {
	tests := []struct {
		name string
		max  int
		in   []string
	}{
		{
			name: "interleaved CRI partials of two streams",
			in: []string{
				"2024-05-01T10:00:00Z stdout P a1",
				"2024-05-01T10:00:00Z stderr P b1",
				"2024-05-01T10:00:00Z stdout F a2",
				"2024-05-01T10:00:00Z stdout P c1",
				"2024-05-01T10:00:00Z stderr F b2",
				"2024-05-01T10:00:00Z stdout F c2",
				"2024-05-01T10:00:00Z stderr F d",
			},
		},
		{
			name: "interleaved docker partials with malformed lines between",
			in: []string{
				`{"log":"a1","stream":"stdout","time":"2024-05-01T10:00:00Z"}`,
				`garbage`,
				`{"log":"b1","stream":"stderr","time":"2024-05-01T10:00:00Z"}`,
				`{"log":"a2\n","stream":"stdout","time":"2024-05-01T10:00:00Z"}`,
				`{"log":"b2\n","stream":"stderr","time":"2024-05-01T10:00:00Z"}`,
			},
		},
		{
			name: "cut messages interleaved with another stream",
			max:  3,
			in: []string{
				"2024-05-01T10:00:00Z stdout P abcd",
				"2024-05-01T10:00:00Z stderr P e",
				"2024-05-01T10:00:00Z stdout P skipped",
				"2024-05-01T10:00:00Z stdout F skipped",
				"2024-05-01T10:00:00Z stderr F f",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxLineBytes = tt.max
			checkResumes(t, cfg, lines(tt.in...))
		})
	}
}

func TestRereadFromPendingReproducesRecords(t *testing.T) {
	in := lines(
		"2024-05-01T10:00:00.1Z stdout F one",
		"2024-05-01T10:00:00.2Z stdout P tw",
		"2024-05-01T10:00:00.3Z stderr F err",
		"2024-05-01T10:00:00.4Z stdout F o",
	)
	full := decodeAll(t, NewDecoder(testConfig(), testSource()), in)

	// Read up to the stderr line, "crash", and resume from Pending().
	d := NewDecoder(testConfig(), testSource())
	first := decodeAll(t, d, in[:3])
	start, ok := d.Pending()
	if !ok {
		t.Fatalf("Pending() reports nothing with the stdout partial buffered")
	}
	var resume []Line
	for _, ln := range in {
		if ln.Start >= start {
			resume = append(resume, ln)
		}
	}
	second := decodeAll(t, NewDecoder(testConfig(), testSource()), resume)

	ids := map[string]string{}
	for _, r := range append(first, second...) {
		ids[r.ID.String()] = string(r.Document())
	}
	if len(ids) != len(full) {
		t.Fatalf("re-read gave %d distinct records, want %d", len(ids), len(full))
	}
	for _, r := range full {
		if got, ok := ids[r.ID.String()]; !ok || got != string(r.Document()) {
			t.Fatalf("record %s of the full read is missing or differs after the re-read: %s", r.ID, got)
		}
	}
}

func TestDocumentsSurviveLaterDecodes(t *testing.T) {
	d := NewDecoder(testConfig(), testSource())
	var recs []recordT
	var copies []string
	for i := range 5000 {
		msg := strings.Repeat("x", i%300)
		switch i % 7 {
		case 3: // escapes to six times its size, past the arena's estimate
			msg = strings.Repeat("\x01", i%700)
		case 5: // larger than a quarter chunk: an allocation of its own
			if i%35 == 5 {
				msg = strings.Repeat("y", 20000+i)
			}
		}
		recs = d.Decode(recs, Line{Bytes: []byte("2024-05-01T10:00:00Z stdout F " + msg), Start: int64(i) * 400})
		copies = append(copies, string(recs[len(recs)-1].Doc))
		// A consumer appending to one document must not touch the next.
		_ = append(recs[len(recs)-1].Doc, "garbage"...)
	}
	for i, r := range recs {
		if string(r.Doc) != copies[i] {
			t.Fatalf("document %d changed after later decodes", i)
		}
	}
}

func TestDocumentMetadata(t *testing.T) {
	d := NewDecoder(testConfig(), testSource())
	recs := decodeAll(t, d, lines(
		"2024-05-01T10:00:00Z stdout F a",
		`{"log":"a\n","stream":"stdout","attrs":{"b":"2","a":"1"},"time":"2024-05-01T10:00:00Z"}`,
	))
	cri, docker := mustDoc(t, recs[0]), mustDoc(t, recs[1])
	for _, tc := range []struct{ name, got, want string }{
		{"log.file.path", cri.Log.File.Path, testPath},
		{"kubernetes.namespace", cri.Kubernetes.Namespace, "default"},
		{"kubernetes.pod.name", cri.Kubernetes.Pod.Name, "web-7d9f.x"},
		{"kubernetes.pod.uid", cri.Kubernetes.Pod.UID, "11111111-2222-3333-4444-555555555555"},
		{"kubernetes.container.name", cri.Kubernetes.Container.Name, "nginx"},
		{"container.id", cri.Container.ID, testID},
		{"container.runtime", cri.Container.Runtime, "cri"},
		{"docker container.runtime", docker.Container.Runtime, "docker"},
		{"host.name", cri.Host.Name, testNode},
		{"event.dataset", cri.Event.Dataset, "kubernetes.container_logs"},
		{"docker.attrs.a", docker.Docker.Attrs["a"], "1"},
		{"docker.attrs.b", docker.Docker.Attrs["b"], "2"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if rc := cri.Kubernetes.Container.RestartCount; rc == nil || *rc != 2 {
		t.Errorf("kubernetes.container.restart_count = %v, want 2", rc)
	}
}

func TestDocumentOmitsUnknownMetadata(t *testing.T) {
	d := NewDecoder(Config{Now: testConfig().Now}, Source{Path: "/tmp/app.log", FileKey: testFileKey})
	recs := d.Decode(nil, Line{Bytes: []byte("2024-05-01T10:00:00Z stdout F a")})
	got := string(recs[0].Document())
	want := `{"@timestamp":"2024-05-01T10:00:00.000000000Z","message":"a","stream":"stdout","log":{"offset":0,"file":{"path":"/tmp/app.log"}},"container":{"runtime":"cri"},"event":{"dataset":"kubernetes.container_logs"}}`
	if got != want {
		t.Fatalf("document\n got %s\nwant %s", got, want)
	}
}

func TestTruncatedLines(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want want
	}{
		{
			name: "a cut CRI line ships its head flagged truncated",
			in:   "2024-05-01T10:00:00.123456789Z stdout F abc",
			want: want{msg: "abc", stream: "stdout", ts: ts1, flags: []string{"truncated"}},
		},
		{
			name: "a cut docker line ships the head of its log flagged truncated",
			in:   `{"log":"abc\ndef\u00`,
			want: want{msg: "abc\ndef", flags: []string{"truncated"}},
		},
		{
			name: "a cut docker line that cannot be recovered ships raw",
			in:   `{"stream":"stdout","log":"abc`,
			want: want{msg: `{"stream":"stdout","log":"abc`, flags: []string{"truncated", "invalid_json"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(testConfig(), testSource())
			recs := d.Decode(nil, Line{Bytes: []byte(tt.in), End: 1 << 20, Truncated: true})
			checkRecords(t, docs(t, recs), []want{tt.want})
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "the zero config is valid", cfg: Config{}},
		{name: "a negative MaxLineBytes is rejected", cfg: Config{MaxLineBytes: -1}, wantErr: "MaxLineBytes"},
		{name: "a NodeName that is not UTF-8 is rejected", cfg: Config{NodeName: "\xff"}, wantErr: "NodeName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.wantErr || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want a ConfigError naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestManyStreamsFlushTheOldestPartial(t *testing.T) {
	var in []string
	for i := range maxStreams + 1 {
		in = append(in, fmt.Sprintf(`{"log":"p%d","stream":"s%d","time":"2024-05-01T10:00:00Z"}`, i, i))
	}
	d := NewDecoder(testConfig(), testSource())
	recs := decodeAll(t, d, lines(in...))
	if len(recs) != 1 {
		t.Fatalf("got %d records with %d streams pending, want the oldest flushed", len(recs), maxStreams+1)
	}
	g := mustDoc(t, recs[0])
	if g.Message != "p0" || g.Stream != "s0" || !slices.Equal(g.Log.Flags, []string{"partial"}) {
		t.Fatalf("flushed record = %q on %q flagged %q, want p0 on s0 flagged partial", g.Message, g.Stream, g.Log.Flags)
	}
	if start, ok := d.Pending(); !ok || start == 0 {
		t.Fatalf("Pending() = %d, %v; want the second stream's start", start, ok)
	}
	if n := len(d.Flush(nil)); n != maxStreams {
		t.Fatalf("Flush gave %d records, want %d", n, maxStreams)
	}
}

func TestSalvageOfCutDockerLines(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "an escaped backslash at the cut is kept", in: `{"log":"abc\\`, want: `abc\`},
		{name: "a lone backslash at the cut is dropped", in: `{"log":"abc\`, want: "abc"},
		{name: "a partial \\u escape at the cut is dropped", in: `{"log":"abc\u00e`, want: "abc"},
		{name: "a complete \\u escape before the cut is decoded", in: `{"log":"abc\u00e9`, want: "abcé"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(testConfig(), testSource())
			recs := d.Decode(nil, Line{Bytes: []byte(tt.in), Truncated: true})
			g := mustDoc(t, recs[0])
			if g.Message != tt.want || !slices.Equal(g.Log.Flags, []string{"truncated"}) {
				t.Fatalf("message %q flags %q, want %q flagged truncated", g.Message, g.Log.Flags, tt.want)
			}
		})
	}
}

// TestRecycleReusesTheDocumentsMemory: after Recycle the next documents go
// into the same memory (no allocation per line), and are right.
func TestRecycleReusesTheDocumentsMemory(t *testing.T) {
	d := NewDecoder(testConfig(), testSource())
	want := make(map[int64]string)
	var recs []record.Record
	batch := func(from int) {
		recs = recs[:0]
		for i := from; i < from+200; i++ {
			recs = d.Decode(recs, Line{Bytes: fmt.Appendf(nil, `{"log":"line %d %s\n","stream":"stdout","time":"2024-05-01T10:00:00Z"}`, i, strings.Repeat("x", i%300)), Start: int64(i) * 1000})
		}
		for _, r := range recs {
			mustDoc(t, r)
		}
	}
	for round := 0; round < 3; round++ {
		batch(round * 200)
		for _, r := range recs {
			off := int64(0)
			var doc struct {
				Log struct {
					Offset int64 `json:"offset"`
				} `json:"log"`
			}
			if err := json.Unmarshal(r.Document(), &doc); err != nil {
				t.Fatal(err)
			}
			off = doc.Log.Offset
			want[off] = string(r.Document())
		}
		d.Recycle()
	}
	// Decoding the same lines again gives the same documents.
	d2 := NewDecoder(testConfig(), testSource())
	for i := 0; i < 600; i++ {
		r := d2.Decode(nil, Line{Bytes: fmt.Appendf(nil, `{"log":"line %d %s\n","stream":"stdout","time":"2024-05-01T10:00:00Z"}`, i, strings.Repeat("x", i%300)), Start: int64(i) * 1000})
		if got := string(r[0].Document()); got != want[int64(i)*1000] {
			t.Fatalf("line %d: %s, want %s", i, got, want[int64(i)*1000])
		}
	}
	line := []byte(`{"log":"a line of some length to encode\n","stream":"stdout","time":"2024-05-01T10:00:00Z"}`)
	recs = recs[:0]
	allocs := testing.AllocsPerRun(20, func() {
		for i := 0; i < 100; i++ {
			recs = d.Decode(recs[:0], Line{Bytes: line, Start: int64(i)})
		}
		d.Recycle()
	})
	if allocs > 1 {
		t.Errorf("%v allocations per 100 lines and a Recycle, want at most 1", allocs)
	}
}
