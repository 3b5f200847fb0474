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

func TestDocumentSplicesMetaIn(t *testing.T) {
	meta := &Meta{Doc: []byte(`,"host":{"name":"n1"}`)}
	tests := []struct {
		name string
		r    Record
		want string
	}{
		{"without meta", Record{Doc: []byte(`{"a":1}`)}, `{"a":1}`},
		{"meta at the end", Record{Doc: []byte(`{"a":1`), Meta: &Meta{Doc: []byte(`,"b":2}`)}, At: 6}, `{"a":1,"b":2}`},
		{"meta in the middle", Record{Doc: []byte(`{"a":1,"c":3}`), Meta: meta, At: 6}, `{"a":1,"host":{"name":"n1"},"c":3}`},
		{"an out-of-range At is clamped", Record{Doc: []byte(`{"a":1`), Meta: &Meta{Doc: []byte(`}`)}, At: 99}, `{"a":1}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(tc.r.Document()); got != tc.want {
				t.Errorf("Document() = %s, want %s", got, tc.want)
			}
			if got := string(tc.r.AppendDoc([]byte("x"))); got != "x"+tc.want {
				t.Errorf("AppendDoc = %s, want x%s", got, tc.want)
			}
			if tc.r.DocLen() != len(tc.want) {
				t.Errorf("DocLen() = %d, want %d", tc.r.DocLen(), len(tc.want))
			}
			if tc.r.Size() != len(tc.want)+len(tc.r.ID)+8 {
				t.Errorf("Size() = %d", tc.r.Size())
			}
			w := tc.r.Whole()
			if w.Meta != nil || string(w.Doc) != tc.want {
				t.Errorf("Whole() = %+v", w)
			}
		})
	}
}
