package parser

import (
	"strings"
	"testing"

	"github.com/logspool/logspool/spool/record"
)

func TestTrimKeepsPendingAndDropsTheRest(t *testing.T) {
	d := NewDecoder(Config{NodeName: "n"}, Source{Path: "/var/log/containers/p_ns_c-0123.log"})
	var recs []record.Record
	// A complete line (fills the arena), then half of a CRI message.
	recs = d.Decode(recs, Line{Bytes: []byte("2024-05-01T10:00:00.000000001Z stdout F hello"), Start: 0, End: 46})
	head := strings.Repeat("x", 40<<10)
	recs = d.Decode(recs, Line{Bytes: []byte("2024-05-01T10:00:01.000000001Z stdout P " + head), Start: 46, End: 46 + 41 + int64(len(head))})
	if len(recs) != 1 {
		t.Fatalf("got %d records, want 1", len(recs))
	}
	before := d.Retained()
	if before < len(head) {
		t.Fatalf("Retained() = %d with a %d-byte message pending", before, len(head))
	}
	d.Trim()
	after := d.Retained()
	if after < len(head) {
		t.Fatalf("Trim dropped the pending message: Retained() = %d", after)
	}
	if after >= before {
		t.Fatalf("Trim gave nothing back: %d before, %d after", before, after)
	}
	// The message still completes with its pending head.
	end := int64(46 + 41 + len(head))
	recs = d.Decode(recs[:0], Line{Bytes: []byte("2024-05-01T10:00:02.000000001Z stdout F tail"), Start: end, End: end + 45})
	if len(recs) != 1 || !strings.Contains(string(recs[0].Doc), head+"tail") {
		t.Fatalf("the message was not joined after Trim: %d records", len(recs))
	}
	d.Trim()
	if n := d.Retained(); n > 1<<10 {
		t.Fatalf("an idle trimmed decoder retains %d bytes", n)
	}
}
