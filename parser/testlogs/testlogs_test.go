package testlogs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/logspool/logspool/parser"
	"github.com/logspool/logspool/spool/record"
)

var formats = []Format{Docker, CRI}

func allWorkloads() []Workload {
	var ws []Workload
	for w := Mixed; w < numWorkloads; w++ {
		ws = append(ws, w)
	}
	return ws
}

func TestSameSeedSameBytes(t *testing.T) {
	for _, f := range formats {
		for _, w := range allWorkloads() {
			a, b := New(w, Options{Seed: 7, Format: f}), New(w, Options{Seed: 7, Format: f})
			c := New(w, Options{Seed: 8, Format: f})
			var la, lb, lc []byte
			differs := false
			for i := 0; i < 2000; i++ {
				la, lb, lc = a.Next(la[:0]), b.Next(lb[:0]), c.Next(lc[:0])
				if !bytes.Equal(la, lb) {
					t.Fatalf("%s/%s: line %d differs between two generators of seed 7:\n%s\n%s", f, w, i, la, lb)
				}
				differs = differs || !bytes.Equal(la, lc)
			}
			if !differs {
				t.Errorf("%s/%s: seeds 7 and 8 gave the same 2000 lines", f, w)
			}
		}
	}
}

// TestPinnedOutput pins the bytes of the benchmark input. When it fails
// because the generator was changed on purpose, update the sums and
// re-measure every README figure: they are no longer comparable.
func TestPinnedOutput(t *testing.T) {
	want := map[Format]string{
		Docker: "913c6a557ae3a0cb191fb1a5cf911ca231393a8e14d4a1ca0606f02a02d05864",
		CRI:    "c750159875f66d79e7cf0e4900688bf4df6d937af42c1b0ae7f8db8d2b723b36",
	}
	for _, f := range formats {
		var out []byte
		for _, c := range Node(1, 8) {
			g := New(c.Workload, Options{Seed: 1, Format: f})
			for range 5000 {
				out = g.Next(out)
			}
		}
		sum := sha256.Sum256(out)
		if got := hex.EncodeToString(sum[:]); got != want[f] {
			t.Errorf("%s: sha256 of the first 5000 lines of Node(1, 8) = %s, want %s", f, got, want[f])
		}
	}
}

// doc is the part of a parser document the round trip compares.
type doc struct {
	Timestamp string `json:"@timestamp"`
	Message   string `json:"message"`
	Stream    string `json:"stream"`
	Log       struct {
		Flags []string `json:"flags"`
	} `json:"log"`
}

type message struct {
	stream string
	t      time.Time
	msg    string
}

// TestParserReadsEveryMessage decodes the generated lines with the real
// parser: every message comes out once, as the application wrote it, with
// its stream and the runtime's time, no line is malformed, and messages over
// 16 KiB are split into partial lines and joined again.
func TestParserReadsEveryMessage(t *testing.T) {
	defer func(old int) { dumpOdds = old }(dumpOdds)
	dumpOdds = 20 // a payload dump in one JSON debug event in 20
	for _, f := range formats {
		for _, w := range allWorkloads() {
			t.Run(f.String()+"/"+w.String(), func(t *testing.T) {
				var want []message
				g := New(w, Options{Seed: 3, Format: f, OnMessage: func(stream string, ts time.Time, msg []byte) {
					want = append(want, message{stream, ts, string(msg)})
				}})
				c := ContainerOf(w, 3)
				d := parser.NewDecoder(parser.Config{NodeName: "node-1", Logger: slog.New(slog.DiscardHandler)},
					parser.Source{Path: "/var/log/containers/" + c.LinkName(), Resolved: "/var/log/pods/" + c.PodDir() + "/0.log", FileKey: "k"})
				lines, msgs := g.Lines(2000)
				var recs []record.Record
				var off int64
				for _, ln := range lines {
					recs = d.Decode(recs, parser.Line{Bytes: ln, Start: off, End: off + int64(len(ln)) + 1})
					off += int64(len(ln)) + 1
				}
				if len(recs) != msgs || len(want) != msgs {
					t.Fatalf("%d lines: %d records, %d messages reported, Lines says %d", len(lines), len(recs), len(want), msgs)
				}
				st := g.Stats()
				if w == JSON && st.PartialLines == 0 {
					t.Errorf("no partial lines among %d JSON lines with frequent dumps", st.Lines)
				}
				for i, r := range recs {
					var got doc
					if err := json.Unmarshal(r.Document(), &got); err != nil {
						t.Fatalf("record %d: %v: %s", i, err, r.Document())
					}
					ts, err := time.Parse(time.RFC3339Nano, got.Timestamp)
					if err != nil || !ts.Equal(want[i].t) || got.Stream != want[i].stream || got.Message != want[i].msg || len(got.Log.Flags) > 0 {
						t.Fatalf("record %d:\n got %s %s %q flags %v\nwant %s %s %q", i, got.Timestamp, got.Stream, got.Message, got.Log.Flags,
							want[i].t.Format(time.RFC3339Nano), want[i].stream, want[i].msg)
					}
				}
			})
		}
	}
}

// TestEveryEventHasItsOwnMessage: each event (log call) carries an id of its
// own, so at least as many distinct messages as events.
func TestEveryEventHasItsOwnMessage(t *testing.T) {
	for _, w := range allWorkloads() {
		seen := map[string]bool{}
		g := New(w, Options{Seed: 5, OnMessage: func(_ string, _ time.Time, msg []byte) { seen[string(msg)] = true }})
		g.Lines(5000)
		if events := int(g.seq) - 1; len(seen) < events {
			t.Errorf("%s: %d distinct messages for %d events", w, len(seen), events)
		}
	}
}

// TestContainerPaths: the parser reads the pod metadata back from the paths
// a container's log gets.
func TestContainerPaths(t *testing.T) {
	cs := Node(9, 16)
	seen := map[string]bool{}
	for _, c := range cs {
		m := parser.ParsePath("/var/log/containers/"+c.LinkName(), "/var/log/pods/"+c.PodDir()+"/0.log")
		if m.Namespace != c.Namespace || m.PodName != c.Pod || m.PodUID != c.UID || m.ContainerName != c.Name || m.ContainerID != c.ID || m.RestartCount != 0 {
			t.Errorf("%+v: parsed back as %+v", c, m)
		}
		if seen[c.Pod] {
			t.Errorf("pod name %s twice", c.Pod)
		}
		seen[c.Pod] = true
	}
}

// s2Size is what the spool's codec makes of data cut into blocks of the
// tailer's batch size (256 KiB): the sum of the S2 blocks.
func s2Size(data []byte) int {
	const block = 256 << 10
	n := 0
	for len(data) > 0 {
		k := min(block, len(data))
		n += len(s2.Encode(nil, data[:k]))
		data = data[k:]
	}
	return n
}

// nodeFiles returns the files of Node(1, 8), about size bytes each.
func nodeFiles(f Format, size int) [][]byte {
	var out [][]byte
	for _, c := range Node(1, 8) {
		g := New(c.Workload, Options{Seed: 1, Format: f})
		var b []byte
		for len(b) < size || !g.AtBoundary() {
			b = g.Next(b)
		}
		out = append(out, b)
	}
	return out
}

// TestCompressionRatio pins how much S2 shrinks the node's files (real
// container logs: 6-9 times). A generator change that moves it out of the
// range must re-tune and re-measure.
func TestCompressionRatio(t *testing.T) {
	bounds := map[Format][2]float64{Docker: {6.2, 7.5}, CRI: {5.6, 6.7}}
	for _, f := range formats {
		var raw, z, lines int
		var rows []string
		for i, b := range nodeFiles(f, 1<<20) {
			n := s2Size(b)
			raw += len(b)
			z += n
			lines += bytes.Count(b, []byte{'\n'})
			rows = append(rows, fmt.Sprintf("%s %.2f", Node(1, 8)[i].Workload, float64(len(b))/float64(n)))
		}
		ratio := float64(raw) / float64(z)
		t.Logf("%s: S2 ratio %.2f over 8 files, %d bytes per line (%s)", f, ratio, raw/lines, strings.Join(rows, ", "))
		if b := bounds[f]; ratio < b[0] || ratio > b[1] {
			t.Errorf("%s: S2 ratio %.2f, want %.1f-%.1f", f, ratio, b[0], b[1])
		}
	}
}

// TestNotInTheBinary keeps the generator out of the production binary.
func TestNotInTheBinary(t *testing.T) {
	const mod = "github.com/logspool/logspool/"
	out, err := exec.Command("go", "list", "-deps", mod+"cmd/logspool").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), mod+"parser\n") {
		t.Fatalf("go list -deps of cmd/logspool does not list the parser; the check is broken:\n%s", out)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, mod+"parser/testlogs") {
			t.Errorf("cmd/logspool depends on %s: the generator is for tests only", p)
		}
	}
}

func BenchmarkNext(b *testing.B) {
	g := New(Mixed, Options{Seed: 1})
	var line []byte
	var n int64
	for b.Loop() {
		line = g.Next(line[:0])
		n += int64(len(line))
	}
	b.SetBytes(n / int64(b.N))
}
