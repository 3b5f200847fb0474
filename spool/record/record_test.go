package record

import "testing"

func TestIDs(t *testing.T) {
	tests := []struct {
		name      string
		a, b      ID
		wantEqual bool
	}{
		{"same file position gives the same id", FileID("n1", "k", 10), FileID("n1", "k", 10), true},
		{"another offset gives another id", FileID("n1", "k", 10), FileID("n1", "k", 11), false},
		{"another node gives another id", FileID("n1", "k", 10), FileID("n2", "k", 10), false},
		{"field boundaries are unambiguous", FileID("ab", "c", 0), FileID("a", "bc", 0), false},
		{"same cursor gives the same id", JournalID("n", "s=1"), JournalID("n", "s=1"), true},
		{"journal and file ids never collide by construction", JournalID("n", "k"), FileID("n", "k", 0), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a == tc.b; got != tc.wantEqual {
				t.Fatalf("equal = %v, want %v (%s vs %s)", got, tc.wantEqual, tc.a, tc.b)
			}
		})
	}
}

func TestIDString(t *testing.T) {
	id := FileID("node", "key", 42)
	s := id.String()
	if len(s) != IDLen {
		t.Fatalf("len(%q) = %d, want %d", s, len(s), IDLen)
	}
	if got := string(id.AppendString([]byte("x"))); got != "x"+s {
		t.Fatalf("AppendString = %q, want %q", got, "x"+s)
	}
	if id.IsZero() || !(ID{}).IsZero() {
		t.Fatal("IsZero wrong")
	}
}

func BenchmarkFileID(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = FileID("ip-10-0-1-23", "0123456789abcdef0123456789abcdef", int64(i))
	}
}
