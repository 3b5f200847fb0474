package parser

import "testing"

// TestALinePartialFromTheTailerIsFlaggedPartial: bytes the tailer flushed
// without a '\n' (and the rest of such a line) carry log.flags partial; the
// next line does not.
func TestALinePartialFromTheTailerIsFlaggedPartial(t *testing.T) {
	d := NewDecoder(testConfig(), testSource())
	head := "2024-05-01T10:00:00.123456789Z stdout F half a li"
	rest := "ne"
	next := "2024-05-01T10:00:00.123456789Z stdout F next"
	recs := d.Decode(nil, Line{Bytes: []byte(head), Start: 0, End: int64(len(head)), Partial: true})
	recs = d.Decode(recs, Line{Bytes: []byte(rest), Start: int64(len(head)), End: int64(len(head) + 3), Partial: true})
	recs = d.Decode(recs, Line{Bytes: []byte(next), Start: int64(len(head) + 3), End: int64(len(head) + 4 + len(next))})
	got := docs(t, recs)
	if len(got) != 3 {
		t.Fatalf("%d records, want 3", len(got))
	}
	for i, wantPartial := range []bool{true, true, false} {
		has := false
		for _, f := range got[i].Log.Flags {
			has = has || f == "partial"
		}
		if has != wantPartial {
			t.Errorf("record %d (%q): flags %q, want partial=%v", i, got[i].Message, got[i].Log.Flags, wantPartial)
		}
	}
}
