// Package testdocs turns the generated logs of package testlogs into the
// records the real parser makes of them: the ECS documents, ids and times the
// spool stores and the shipper sends, for the benchmarks of those packages.
// Test support: import it from _test.go files only.
package testdocs

import (
	"log/slog"
	"time"

	"github.com/logspool/logspool/parser"
	"github.com/logspool/logspool/parser/testlogs"
	"github.com/logspool/logspool/spool/record"
)

// NodeName is the node name the documents carry.
const NodeName = "node-1"

// Records returns n records of the node testlogs.Node(seed, 8) as the tailer
// hands them to the spool: batch records of one container, then batch of the
// next, round the node. Their documents are the parser's, byte for byte, for
// files laid out as the kubelet does (/var/log/containers/<link> ->
// /var/log/pods/<pod dir>/0.log).
func Records(seed uint64, f testlogs.Format, n, batch int) []record.Record {
	cs := testlogs.Node(seed, 8)
	type file struct {
		g   *testlogs.Generator
		d   *parser.Decoder
		off int64
	}
	files := make([]*file, len(cs))
	cfg := parser.Config{NodeName: NodeName, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return testlogs.DefaultStart }}
	for i, c := range cs {
		files[i] = &file{
			g: testlogs.New(c.Workload, testlogs.Options{Seed: seed, Format: f}),
			d: parser.NewDecoder(cfg, parser.Source{
				Path: "/var/log/containers/" + c.LinkName(), Resolved: "/var/log/pods/" + c.PodDir() + "/0.log",
				FileKey: c.ID[:16],
			}),
		}
	}
	out := make([]record.Record, 0, n)
	var line []byte
	for i := 0; len(out) < n; i = (i + 1) % len(files) {
		fl := files[i]
		for k := len(out) + batch; len(out) < min(k, n); {
			line = fl.g.Next(line[:0])
			end := fl.off + int64(len(line))
			out = fl.d.Decode(out, parser.Line{Bytes: line[:len(line)-1], Start: fl.off, End: end})
			fl.off = end
		}
	}
	return out
}

// Size is the sum of the records' sizes (record.Record.Size).
func Size(recs []record.Record) int64 {
	var n int64
	for i := range recs {
		n += int64(recs[i].Size())
	}
	return n
}
