package parser

import (
	"strings"
	"testing"
)

// Issue 8, defect 8 (parser parts).

// TestTimestampsOutsideTheDateNanosRange: docker writes its zero time
// 0001-01-01T00:00:00Z, and a broken clock can write any year. Such a line
// is still a line of its format: message and stream are kept, the runtime's
// timestamp is kept as written in log.original_time, and @timestamp is the
// reading time, because the index template maps @timestamp as date_nanos,
// which holds only 1970-01-01 to 2262-04-11 (Elasticsearch refuses the
// document otherwise).
func TestTimestampsOutsideTheDateNanosRange(t *testing.T) {
	tests := []struct {
		name, in, orig string
		want           want
	}{
		{"docker's zero time", `{"log":"hello\n","stream":"stderr","time":"0001-01-01T00:00:00Z"}`, "0001-01-01T00:00:00Z",
			want{msg: "hello", stream: "stderr", flags: []string{"timestamp_out_of_range"}}},
		{"a docker time before 1970", `{"log":"x\n","stream":"stdout","time":"1969-12-31T23:59:59.999999999Z"}`, "1969-12-31T23:59:59.999999999Z",
			want{msg: "x", stream: "stdout", flags: []string{"timestamp_out_of_range"}}},
		{"a CRI time after 2262", "2300-01-01T00:00:00Z stdout F y", "2300-01-01T00:00:00Z",
			want{msg: "y", stream: "stdout", flags: []string{"timestamp_out_of_range"}}},
		{"an offset that moves it past 2262", "2262-04-11T23:47:16-01:00 stderr F z", "2262-04-11T23:47:16-01:00",
			want{msg: "z", stream: "stderr", flags: []string{"timestamp_out_of_range"}}},
		{"the year 9999", "9999-12-31T23:59:59.123456789123Z stdout F w", "9999-12-31T23:59:59.123456789123Z",
			want{msg: "w", stream: "stdout", flags: []string{"timestamp_out_of_range"}}},
		{"the epoch itself is in range", `{"log":"e\n","stream":"stdout","time":"1970-01-01T00:00:00Z"}`, "",
			want{msg: "e", stream: "stdout", ts: "1970-01-01T00:00:00.000000000Z"}},
		{"the last date_nanos second is in range", "2262-04-11T23:47:15.5Z stdout F l", "",
			want{msg: "l", stream: "stdout", ts: "2262-04-11T23:47:15.500000000Z"}},
		{"a year 0 is still a syntax RFC 3339 allows", "0000-01-01T00:00:00Z stdout F zero", "0000-01-01T00:00:00Z",
			want{msg: "zero", stream: "stdout", flags: []string{"timestamp_out_of_range"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(testConfig(), testSource())
			got := docs(t, decodeAll(t, d, lines(tt.in)))
			checkRecords(t, got, []want{tt.want})
			if got[0].Log.OriginalTime != tt.orig {
				t.Fatalf("log.original_time %q, want %q", got[0].Log.OriginalTime, tt.orig)
			}
		})
	}
}

// TestOutOfRangeTimeOfAJoinedMessage: the first line's time stands for the
// message, out of range or not.
func TestOutOfRangeTimeOfAJoinedMessage(t *testing.T) {
	d := NewDecoder(testConfig(), testSource())
	got := docs(t, decodeAll(t, d, lines(
		`{"log":"a","stream":"stdout","time":"0001-01-01T00:00:00Z"}`,
		`{"log":"b\n","stream":"stdout","time":"2024-05-01T10:00:00Z"}`,
	)))
	checkRecords(t, got, []want{{msg: "ab", stream: "stdout", flags: []string{"timestamp_out_of_range"}}})
	if got[0].Log.OriginalTime != "0001-01-01T00:00:00Z" {
		t.Fatalf("log.original_time %q", got[0].Log.OriginalTime)
	}
}

// TestCRICarriageReturnIsStripped: containerd and CRI-O split the output at
// '\n' and write the rest as is, so a program writing "\r\n" leaves a '\r'
// at the end of the F line. It is the line terminator, not content: strip
// it (Filebeat's and Fluent Bit's line readers drop "\r\n" too).
func TestCRICarriageReturnIsStripped(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []want
	}{
		{"a full line ending in CR", []string{ts1 + " stdout F hello\r"},
			[]want{{msg: "hello", stream: "stdout", ts: ts1}}},
		{"only one CR is the terminator", []string{ts1 + " stdout F hello\r\r"},
			[]want{{msg: "hello\r", stream: "stdout", ts: ts1}}},
		{"a CR inside a message is content", []string{ts1 + " stdout F a\rb"},
			[]want{{msg: "a\rb", stream: "stdout", ts: ts1}}},
		{"a CR at the end of a partial is content when more follows", []string{ts1 + " stdout P a\r", ts1 + " stdout F b\r"},
			[]want{{msg: "a\rb", stream: "stdout", ts: ts1}}},
		{"a split between CR and LF still ends the message", []string{ts1 + " stdout P a\r", ts1 + " stdout F "},
			[]want{{msg: "a", stream: "stdout", ts: ts1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(testConfig(), testSource())
			checkRecords(t, docs(t, decodeAll(t, d, lines(tt.in...))), tt.want)
		})
	}
}

// TestCutDockerLineKeepsStreamAndTime: a docker line longer than the
// tailer's limit is handed over as its head (Line.Truncated) and the last
// bytes before its newline (Line.Tail). docker writes "log" first, so the
// stream and time are in the tail: the record keeps them.
func TestCutDockerLineKeepsStreamAndTime(t *testing.T) {
	long := strings.Repeat("x", 100)
	full := `{"log":"` + long + `\n","stream":"stderr","time":"2024-05-01T10:00:00.123456789Z"}`
	withAttrs := `{"log":"` + long + `\n","stream":"stdout","attrs":{"app":"w"},"time":"2024-05-01T10:00:00.123456789Z"}`
	tests := []struct {
		name string
		line Line
		want want
	}{
		{"stream and time come from the tail", Line{Bytes: []byte(full[:40]), Tail: []byte(full[len(full)-70:]), Truncated: true},
			want{msg: strings.Repeat("x", 32), stream: "stderr", ts: ts1, flags: []string{"truncated"}}},
		{"docker attrs in the tail do not get in the way", Line{Bytes: []byte(withAttrs[:40]), Tail: []byte(withAttrs[len(withAttrs)-90:]), Truncated: true},
			want{msg: strings.Repeat("x", 32), stream: "stdout", ts: ts1, flags: []string{"truncated"}}},
		{"a tail without them falls back to the reading time", Line{Bytes: []byte(full[:40]), Tail: []byte(`xxxx`), Truncated: true},
			want{msg: strings.Repeat("x", 32), flags: []string{"truncated"}}},
		{"a quoted stream inside the message is not taken", Line{Bytes: []byte(`{"log":"xx`), Tail: []byte(`x \",\"stream\":\"stdout\"}`), Truncated: true},
			want{msg: "xx", flags: []string{"truncated"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(testConfig(), testSource())
			checkRecords(t, docs(t, d.Decode(nil, tt.line)), []want{tt.want})
		})
	}
}
