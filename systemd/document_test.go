package systemd

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/logspool/logspool/spool/record"
	"github.com/logspool/logspool/systemd/journalfile"
)

var update = flag.Bool("update", false, "rewrite the golden documents under golden/")

// TestDocumentsMatchTheGoldenFiles encodes whole corpus files and compares
// the documents with golden/*.ndjson (go test -run Golden -update rewrites
// them; regenerate after the corpus is regenerated, as its cursors change).
func TestDocumentsMatchTheGoldenFiles(t *testing.T) {
	for _, name := range []string{"binary.journal", "large-zstd.journal", "multiboot.journal"} {
		t.Run(name, func(t *testing.T) {
			r, err := NewReader(ReaderConfig{Files: []string{files(name)}})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			enc := NewEncoder("node-1", 4096)
			var got bytes.Buffer
			for {
				e, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				doc, _ := enc.Encode(nil, e)
				got.Write(doc)
				got.WriteByte('\n')
			}
			golden := filepath.Join("golden", strings.TrimSuffix(name, ".journal")+".ndjson")
			if *update {
				if err := os.MkdirAll("golden", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("reading golden file (run with -update to create it): %v", err)
			}
			gl, wl := lines(got.Bytes()), lines(want)
			assertSameList(t, gl, wl)
		})
	}
}

// oracleFields decodes one line of a journalctl -o json --all oracle into
// field name -> values (bytes), like the entry holds them.
func oracleFields(t testing.TB, line []byte) map[string][][]byte {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil {
		t.Fatalf("oracle line: %v", err)
	}
	out := map[string][][]byte{}
	for k, v := range raw {
		var s string
		if json.Unmarshal(v, &s) == nil {
			out[k] = [][]byte{[]byte(s)}
			continue
		}
		var arr []json.RawMessage
		if err := json.Unmarshal(v, &arr); err != nil {
			t.Fatalf("oracle field %s: %v", k, err)
		}
		if b, ok := asBytes(arr); ok {
			out[k] = [][]byte{b}
			continue
		}
		for _, x := range arr {
			if json.Unmarshal(x, &s) == nil {
				out[k] = append(out[k], []byte(s))
				continue
			}
			var inner []json.RawMessage
			if err := json.Unmarshal(x, &inner); err != nil {
				t.Fatalf("oracle field %s: %v", k, err)
			}
			b, _ := asBytes(inner)
			out[k] = append(out[k], b)
		}
	}
	return out
}

func asBytes(arr []json.RawMessage) ([]byte, bool) {
	b := make([]byte, 0, len(arr))
	for _, x := range arr {
		n, err := strconv.Atoi(string(x))
		if err != nil || n < 0 || n > 255 {
			return nil, false
		}
		b = append(b, byte(n))
	}
	return b, true
}

// docFields reverses a document into normalised field name -> values,
// using leafSpecs, journald.custom and journald.base64.
func docFields(t testing.TB, doc []byte) (map[string][][]byte, map[string]any) {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("document is not JSON: %v\n%s", err, doc)
	}
	get := func(path string) (any, bool) {
		var cur any = m
		for _, p := range strings.Split(path, ".") {
			obj, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = obj[p]; !ok {
				return nil, false
			}
		}
		return cur, true
	}
	vals := func(v any) [][]byte {
		list, ok := v.([]any)
		if !ok {
			list = []any{v}
		}
		var out [][]byte
		for _, x := range list {
			switch x := x.(type) {
			case string:
				out = append(out, []byte(x))
			case json.Number:
				out = append(out, []byte(x.String()))
			default:
				t.Fatalf("unexpected value %T %v", x, x)
			}
		}
		return out
	}
	out := map[string][][]byte{}
	for _, ls := range leafSpecs {
		if ls.journal == "" {
			continue
		}
		if v, ok := get(ls.path); ok {
			out[normalizeName(ls.journal)] = vals(v)
		}
	}
	if c, ok := get("journald.custom"); ok {
		for k, v := range c.(map[string]any) {
			out[k] = append(out[k], vals(v)...)
		}
	}
	if b, ok := get("journald.base64"); ok {
		for k, v := range b.(map[string]any) {
			var raw [][]byte
			for _, s := range vals(v) {
				d, err := base64.StdEncoding.DecodeString(string(s))
				if err != nil {
					t.Fatalf("journald.base64.%s: %v", k, err)
				}
				raw = append(raw, d)
			}
			name, custom := strings.CutPrefix(k, customPath)
			if !custom {
				for _, ls := range leafSpecs {
					if ls.path == k {
						name = normalizeName(ls.journal)
					}
				}
			}
			out[name] = raw
		}
	}
	return out, m
}

// TestDocumentsKeepEveryFieldOfTheOracle checks that each document holds
// exactly the fields journalctl -o json --all prints (no field lost, none
// invented, bytes exact), and that @timestamp and the cursor are right.
func TestDocumentsKeepEveryFieldOfTheOracle(t *testing.T) {
	for _, name := range []string{
		"basic-compact.journal", "basic-v247.journal", "basic-v254.journal", "binary.journal",
		"large-lz4.journal", "large-xz.journal", "large-zstd.journal", "many.journal",
		"multiboot.journal", "sealed.journal",
	} {
		t.Run(name, func(t *testing.T) {
			r, err := NewReader(ReaderConfig{Files: []string{files(name)}})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			enc := NewEncoder("node-1", -1)
			sc := bufio.NewScanner(bytes.NewReader(mustReadOracle(t, name+".json")))
			sc.Buffer(make([]byte, 1<<20), 1<<26)
			n := 0
			for sc.Scan() {
				e, err := r.Next()
				if err != nil {
					t.Fatalf("entry %d: %v", n, err)
				}
				want := oracleFields(t, sc.Bytes())
				doc, ts := enc.Encode(nil, e)
				if !utf8.Valid(doc) {
					t.Fatalf("entry %d: document is not UTF-8", n)
				}
				if err := duplicateKey(doc); err != nil {
					t.Fatalf("entry %d: %v", n, err)
				}
				got, m := docFields(t, doc)
				if c := m["journald"].(map[string]any)["cursor"]; c != string(want["__CURSOR"][0]) {
					t.Fatalf("entry %d: cursor %v, want %s", n, c, want["__CURSOR"][0])
				}
				wantTS := want["__REALTIME_TIMESTAMP"][0]
				if s, ok := want["_SOURCE_REALTIME_TIMESTAMP"]; ok {
					wantTS = s[0]
				}
				us, _ := strconv.ParseInt(string(wantTS), 10, 64)
				if ts != us*1000 {
					t.Fatalf("entry %d: Time %d, want %d", n, ts, us*1000)
				}
				if at, _ := time.Parse(time.RFC3339Nano, m["@timestamp"].(string)); at.UnixMicro() != us {
					t.Fatalf("entry %d: @timestamp %v, want %d µs", n, m["@timestamp"], us)
				}
				if hb := m["host"].(map[string]any)["boot"].(map[string]any)["id"]; hb != string(want["_BOOT_ID"][0]) {
					t.Fatalf("entry %d: host.boot.id %v, want %s", n, hb, want["_BOOT_ID"][0])
				}
				wantNorm := map[string][][]byte{}
				for k, v := range want {
					if strings.HasPrefix(k, "__") || k == "_BOOT_ID" || k == "_SOURCE_REALTIME_TIMESTAMP" {
						continue
					}
					nk := normalizeName(k)
					wantNorm[nk] = append(wantNorm[nk], v...)
				}
				if !reflect.DeepEqual(got, wantNorm) {
					t.Fatalf("entry %d fields differ:\n got %q\nwant %q\ndoc %s", n, got, wantNorm, doc)
				}
				n++
			}
			if _, err := r.Next(); err != io.EOF {
				t.Fatalf("reader has more entries than the oracle (%d): %v", n, err)
			}
		})
	}
}

func entryWith(fields ...string) *journalfile.Entry {
	e := &journalfile.Entry{EntryMeta: journalfile.EntryMeta{Seqnum: 5, Realtime: 1_730_000_000_123_456, Monotonic: 42, XorHash: 0xabc}}
	e.SeqnumID[15] = 1
	e.BootID[15] = 2
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		e.Fields = append(e.Fields, journalfile.Field{Name: k, Value: []byte(v)})
	}
	return e
}

func TestEncoderCases(t *testing.T) {
	const head = `{"@timestamp":"2024-10-27T03:33:20.123456Z",`
	const tail = `"journald":{"cursor":"s=00000000000000000000000000000001;i=5;b=00000000000000000000000000000002;m=2a;t=6256d03780240;x=abc"`
	const ev = `"event":{"dataset":"journald","kind":"event"},"host":{"name":"n","boot":{"id":"00000000000000000000000000000002"}},`
	tests := []struct {
		name     string
		max      int
		entry    *journalfile.Entry
		want     string
		wantTime int64
	}{
		{"a plain message maps to message", 0, entryWith("MESSAGE=hello"),
			head + `"message":"hello",` + ev + tail + `}}`, 1_730_000_000_123_456_000},
		{"the source realtime wins over the receive time", 0, entryWith("MESSAGE=x", "_SOURCE_REALTIME_TIMESTAMP=1730000000000001"),
			`{"@timestamp":"2024-10-27T03:33:20.000001Z","message":"x",` + ev + tail + `}}`, 1_730_000_000_000_001_000},
		{"a bad source realtime is kept as text", 0, entryWith("_SOURCE_REALTIME_TIMESTAMP=soon"),
			head + ev + tail + `,"custom":{"source_realtime_timestamp":"soon"}}}`, 1_730_000_000_123_456_000},
		{"invalid UTF-8 is replaced and kept exactly in base64", 0, entryWith("MESSAGE=a\xffb"),
			head + "\"message\":\"a\\ufffdb\"," + ev + `"log":{"flags":["invalid_utf8"]},` + tail + `,"base64":{"message":"Yf9i"}}}`, 1_730_000_000_123_456_000},
		{"control characters are escaped losslessly", 0, entryWith("MESSAGE=\x1b[1m\"q\"\\\r\n\x00"),
			head + `"message":"\u001b[1m\"q\"\\\r\n\u0000",` + ev + tail + `}}`, 1_730_000_000_123_456_000},
		{"numbers become numbers and ids strings", 0, entryWith("_PID=12", "PRIORITY=3", "_UID=1000", "_GID=0"),
			head + ev + `"process":{"pid":12},"log":{"syslog":{"priority":3}},"user":{"id":"1000","group":{"id":"0"}},` + tail + `}}`, 1_730_000_000_123_456_000},
		{"a number that is not canonical stays text under custom", 0, entryWith("_PID=012", "PRIORITY=high"),
			head + ev + tail + `,"custom":{"pid":"012","priority":"high"}}}`, 1_730_000_000_123_456_000},
		{"repeated fields become arrays in item order", 0, entryWith("TAG=a", "_PID=1", "TAG=b", "_PID=2"),
			head + ev + `"process":{"pid":[1,2]},` + tail + `,"custom":{"tag":["a","b"]}}}`, 1_730_000_000_123_456_000},
		{"names that normalise alike are merged", 0, entryWith("_FOO=1", "FOO=2"),
			head + ev + tail + `,"custom":{"foo":["1","2"]}}}`, 1_730_000_000_123_456_000},
		{"a name systemd would refuse stays out of the keys, exactly, in base64", 0,
			entryWith("MESSAGE=hi", "BAD\x00NAME\x01=v", "lower=x", "9LIVES=1", "=empty", "A\xff=\xfe", "TAG=ok"),
			head + `"message":"hi",` + ev + `"log":{"flags":["invalid_field_name"]},` + tail +
				`,"custom":{"tag":"ok"},"invalid_fields":["QkFEAE5BTUUBPXY=","bG93ZXI9eA==","OUxJVkVTPTE=","PWVtcHR5","Qf89/g=="]}}`, 1_730_000_000_123_456_000},
		{"a name of 64 bytes is valid, one of 65 is not", 0,
			entryWith(strings.Repeat("A", 64)+"=1", strings.Repeat("B", 65)+"=2"),
			head + ev + `"log":{"flags":["invalid_field_name"]},` + tail +
				`,"custom":{"` + strings.Repeat("a", 64) + `":"1"},"invalid_fields":["` + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("B", 65)+"=2")) + `"]}}`, 1_730_000_000_123_456_000},
		{"a huge damaged name is cut to the field cap and flagged", 8,
			entryWith(strings.Repeat("\x01", 4870) + "=v"),
			head + ev + `"log":{"flags":["truncated","invalid_field_name"]},` + tail +
				`,"invalid_fields":["AQEBAQEBAQE="],"truncated":["journald.invalid_fields"]}}`, 1_730_000_000_123_456_000},
		{"a binary custom field is kept in base64 under its path", 0, entryWith("BIN=\x00\xff"),
			head + ev + `"log":{"flags":["invalid_utf8"]},` + tail + ",\"custom\":{\"bin\":\"\\u0000\\ufffd\"},\"base64\":{\"journald.custom.bin\":\"AP8=\"}}}", 1_730_000_000_123_456_000},
		{"a long value is cut at a rune boundary and flagged", 4, entryWith("MESSAGE=abcé"),
			head + `"message":"abc",` + ev + `"log":{"flags":["truncated"]},` + tail + `,"truncated":["message"]}}`, 1_730_000_000_123_456_000},
		{"the _BOOT_ID item is not repeated", 0, entryWith("_BOOT_ID=ffff"),
			head + ev + tail + `}}`, 1_730_000_000_123_456_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := NewEncoder("n", tt.max)
			doc, ts := enc.Encode(nil, tt.entry)
			if string(doc) != tt.want {
				t.Fatalf("doc\n got %s\nwant %s", doc, tt.want)
			}
			if ts != tt.wantTime {
				t.Fatalf("time %d, want %d", ts, tt.wantTime)
			}
			if !json.Valid(doc) {
				t.Fatal("invalid JSON")
			}
		})
	}
}

func TestRecordIDIsTheSameForEveryCopyOfAnEntry(t *testing.T) {
	e := entryWith("MESSAGE=x")
	rec := NewEncoder("node-1", 0).Record(e)
	if want := record.JournalID("node-1", "i=5;b=00000000000000000000000000000002;m=2a;t=6256d03780240;x=abc"); rec.ID != want {
		t.Fatalf("ID %s, want %s", rec.ID, want)
	}
	if rec.Time != int64(e.Realtime)*1000 {
		t.Fatalf("Time %d", rec.Time)
	}
	flushed := e.EntryMeta
	flushed.SeqnumID[0] = 0xff // journald's flush to /var gives the copy a new seqnum_id
	if RecordID("node-1", &flushed) != rec.ID {
		t.Error("a flushed copy got another ID")
	}
	for name, change := range map[string]func(m *journalfile.EntryMeta){
		"seqnum":    func(m *journalfile.EntryMeta) { m.Seqnum++ },
		"boot":      func(m *journalfile.EntryMeta) { m.BootID[0]++ },
		"monotonic": func(m *journalfile.EntryMeta) { m.Monotonic++ },
		"realtime":  func(m *journalfile.EntryMeta) { m.Realtime++ },
		"content":   func(m *journalfile.EntryMeta) { m.XorHash++ },
	} {
		other := e.EntryMeta
		change(&other)
		if RecordID("node-1", &other) == rec.ID {
			t.Errorf("an entry with another %s got the same ID", name)
		}
	}
	if RecordID("node-2", &e.EntryMeta) == rec.ID {
		t.Error("another node got the same ID")
	}
}

func TestAppendRFC3339MicroMatchesTime(t *testing.T) {
	for _, us := range []uint64{0, 1, 951782400000000, 1730000000123456, 4102444800000000, 253402300799999999} {
		got := string(appendRFC3339Micro(nil, us))
		want := time.UnixMicro(int64(us)).UTC().Format("2006-01-02T15:04:05.000000Z")
		if got != want {
			t.Errorf("%d: got %s want %s", us, got, want)
		}
	}
}

func FuzzEncoder(f *testing.F) {
	f.Add("MESSAGE", []byte("hello"), "_PID", []byte("12"), uint64(1730000000123456))
	f.Add("MESSAGE", []byte("a\xff\xfe\x00"), "_SOURCE_REALTIME_TIMESTAMP", []byte("99999999999999999999"), uint64(1<<63))
	f.Add("", []byte(""), "_", []byte("é"), uint64(0))
	f.Fuzz(func(t *testing.T, n1 string, v1 []byte, n2 string, v2 []byte, rt uint64) {
		e := &journalfile.Entry{EntryMeta: journalfile.EntryMeta{Realtime: rt, Seqnum: 1}}
		e.Fields = []journalfile.Field{{Name: n1, Value: v1}, {Name: n2, Value: v2}, {Name: n1, Value: v2},
			{Name: "_" + n2, Value: v1}, {Name: "MESSAGE", Value: v2}, {Name: "_MESSAGE", Value: v1}}
		enc := NewEncoder("node\xff", 8)
		for i := 0; i < 2; i++ { // twice: the scratch state must reset
			doc, _ := enc.Encode(nil, e)
			if !utf8.Valid(doc) || !json.Valid(doc) {
				t.Fatalf("bad document %q", doc)
			}
			if err := duplicateKey(doc); err != nil {
				t.Fatalf("%v in %q", err, doc)
			}
			var d struct {
				Journald struct {
					Custom map[string]json.RawMessage `json:"custom"`
				} `json:"journald"`
			}
			if err := json.Unmarshal(doc, &d); err != nil {
				t.Fatal(err)
			}
			for k := range d.Journald.Custom {
				if k != "_empty_" && !validFieldName(strings.ToUpper(k)) && !validFieldName("_"+strings.ToUpper(k)) {
					t.Fatalf("custom key %q is not a systemd field name in lower case", k)
				}
			}
		}
	})
}

// duplicateKey returns an error naming a key that appears twice in one
// object of doc (Elasticsearch refuses such documents).
func duplicateKey(doc []byte) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	type frame struct {
		obj  bool
		keys map[string]bool
		key  bool // next string token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				if top != nil && top.obj {
					top.key = true
				}
				stack = append(stack, &frame{obj: true, keys: map[string]bool{}, key: true})
			case '[':
				if top != nil && top.obj {
					top.key = true
				}
				stack = append(stack, &frame{})
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if top != nil && top.obj && top.key {
				if top.keys[v] {
					return fmt.Errorf("duplicate key %q", v)
				}
				top.keys[v] = true
				top.key = false
				continue
			}
			if top != nil && top.obj {
				top.key = true
			}
		default:
			if top != nil && top.obj {
				top.key = true
			}
		}
	}
}

func FuzzParseCursor(f *testing.F) {
	f.Add("s=9c3dd181b17c4020a36509ed5b284603;i=12d;b=9bb74de0110b97025465c7302cf6874a;m=2d2290d;t=625bbbea4075c;x=5ea0fbdf29a5ddc2")
	f.Add("t=1")
	f.Add("b=00000000000000000000000000000002;m=1;q=7")
	f.Add(";;=")
	f.Add("m=1;t=0")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCursor(s)
		if err != nil {
			return
		}
		c2, err := ParseCursor(c.String())
		if err != nil {
			t.Fatalf("String() of a parsed cursor does not parse: %q -> %q: %v", s, c.String(), err)
		}
		if c != c2 {
			t.Fatalf("round trip changed the cursor: %+v -> %+v", c, c2)
		}
	})
}

func TestParseCursorRejectsWhatLocatesNothing(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"a full cursor parses", "s=9c3dd181b17c4020a36509ed5b284603;i=12d;b=9bb74de0110b97025465c7302cf6874a;m=2d2290d;t=625bbbea4075c;x=5ea0fbdf29a5ddc2", true},
		{"a realtime alone locates", "t=625bbbea4075c", true},
		{"unknown parts are ignored", "t=1;z=whatever", true},
		{"an empty cursor is refused", "", false},
		{"a seqnum without its id locates nothing", "i=5;x=1", false},
		{"a short id is refused", "s=abc;i=1", false},
		{"a part without = is refused", "t1", false},
		{"a bad number is refused", "t=xyz", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCursor(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseCursor(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
		})
	}
}

func TestLookupSlotFindsEveryKnownNameAndNothingElse(t *testing.T) {
	for name, want := range slotByField {
		if got, ok := lookupSlot(name); !ok || got != want {
			t.Errorf("lookupSlot(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
	for _, name := range []string{"", "_", "MESSAGEX", "message", "_PID1", "FOO", "_SYSTEMD_UNIT_"} {
		if _, ok := lookupSlot(name); ok {
			t.Errorf("lookupSlot(%q) found a slot", name)
		}
	}
}

func TestDuplicateKeyFindsDuplicates(t *testing.T) {
	if err := duplicateKey([]byte(`{"a":1,"b":{"a":[{"a":1},{"a":2}]},"c":"a"}`)); err != nil {
		t.Fatalf("false positive: %v", err)
	}
	if err := duplicateKey([]byte(`{"a":1,"b":{"x":1,"x":2}}`)); err == nil {
		t.Fatal("missed a duplicate key")
	}
}
