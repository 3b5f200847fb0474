package main

// The documents on the wire, byte for byte: container logs (docker json-file
// and CRI, production-like and flagged lines, with and without Kubernetes API
// metadata that changes mid-file) and journal entries go through the real
// tailer and journal input, the real spool and the real shipper (to the test
// server, through a proxy that keeps every _bulk body) or the stdout output.
// The golden files were written by the code before the spool stored
// per-source metadata apart from the records (issue 14): whatever the spool
// and the shipper do with the documents in between, what leaves the agent
// must not change.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logspool/logspool/internal/estest"
	"github.com/logspool/logspool/parser"
	"github.com/logspool/logspool/parser/testlogs"
	"github.com/logspool/logspool/shipper"
	"github.com/logspool/logspool/spool"
	"github.com/logspool/logspool/spool/record"
	"github.com/logspool/logspool/systemd"
	"github.com/logspool/logspool/tailer"
)

var updateWire = flag.Bool("update-wire", false, "rewrite testdata/wire/*.ndjson from the current code")

// wireNow is the reading time of every record that has no time of its own
// (malformed lines, out-of-range timestamps).
var wireNow = time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)

// TestWireDocumentsMatchTheGoldenFiles ships the inputs of wireInputs once
// to Elasticsearch (the test server; every _bulk body is kept) and once to
// stdout, and compares the action and document lines, sorted by _id, with
// testdata/wire/elasticsearch.ndjson, and the stdout lines with the same
// documents.
func TestWireDocumentsMatchTheGoldenFiles(t *testing.T) {
	golden := filepath.Join("testdata", "wire", "elasticsearch.ndjson")
	var want []byte
	if !*updateWire {
		var err error
		if want, err = os.ReadFile(golden); err != nil {
			t.Fatalf("reading %s (go test -run TestWireDocuments -update-wire writes it): %v", golden, err)
		}
	}
	in := newWireInputs(t)

	// Elasticsearch: gzip (the default) and uncompressed bodies (streamed
	// from the records, not built whole) carry the same lines.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, comp := range []string{shipper.CompressionGzip, shipper.CompressionNone} {
		bodies := &bulkBodies{}
		es := estest.NewServer(estest.Options{Logger: quietLogger()})
		target, _ := url.Parse(es.URL())
		proxy := httptest.NewServer(bodies.proxy(t, httputil.NewSingleHostReverseProxy(target)))
		sp := in.read(t)
		sh, err := shipper.New(shipper.Config{URLs: []string{proxy.URL}, NodeName: wireNode, Logger: quietLogger(), BatchBytes: 256 << 10, Compression: comp}, spoolSource{sp})
		if err != nil {
			t.Fatal(err)
		}
		sum, err := sh.Drain(ctx, nil)
		proxy.Close()
		es.Close()
		if err != nil {
			t.Fatalf("%s: %v", comp, err)
		}
		if sum.Delivered != in.records() || sum.DeadLettered != 0 || sum.Duplicates != 0 {
			t.Fatalf("%s: shipped %+v, want %d delivered and none dead", comp, sum, in.records())
		}
		mustClose(t, sp)
		got := bodies.sorted(t)
		if *updateWire && comp == shipper.CompressionGzip {
			mustMkdir(t, filepath.Dir(golden))
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
			want = got
		}
		compareLines(t, "elasticsearch, "+comp, got, want)
	}

	// stdout: the same documents, one per line.
	sp := in.read(t)
	var out bytes.Buffer
	so, err := shipper.NewStdout(&out, spoolSource{sp}, shipper.StdoutConfig{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := so.Drain(ctx, nil); err != nil {
		t.Fatal(err)
	}
	mustClose(t, sp)
	var wantDocs []string
	lines := strings.Split(strings.TrimSuffix(string(want), "\n"), "\n")
	for i := 1; i < len(lines); i += 2 {
		wantDocs = append(wantDocs, lines[i])
	}
	gotDocs := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	slices.Sort(wantDocs)
	slices.Sort(gotDocs)
	compareLines(t, "stdout", []byte(strings.Join(gotDocs, "\n")+"\n"), []byte(strings.Join(wantDocs, "\n")+"\n"))
}

func compareLines(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	gl := strings.Split(string(got), "\n")
	wl := strings.Split(string(want), "\n")
	if len(gl) != len(wl) {
		t.Errorf("%s: %d lines, the golden file has %d", what, len(gl), len(wl))
	}
	shown := 0
	for i := 0; i < min(len(gl), len(wl)) && shown < 5; i++ {
		if gl[i] != wl[i] {
			t.Errorf("%s: line %d differs:\n got %s\nwant %s", what, i+1, gl[i], wl[i])
			shown++
		}
	}
	if shown == 0 {
		t.Errorf("%s: the output differs from the golden file", what)
	}
}

func mustClose(t *testing.T, sp *spool.Spool) {
	t.Helper()
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
}

const wireNode = "node-7"

// wireInputs is one tree of container logs and one journal directory.
type wireInputs struct {
	pt       *podTree
	journal  string
	entries  int64 // journal entries in the directory
	messages int64 // records the container logs make
	kube     *wireKube
}

func (in *wireInputs) records() int64 { return in.entries + in.messages }

func newWireInputs(t *testing.T) *wireInputs {
	t.Helper()
	in := &wireInputs{pt: newPodTree(t), journal: t.TempDir()}

	// Production-like logs of four containers in each format, one of them
	// with API metadata.
	cs := testlogs.Node(3, 8)
	for i, c := range cs {
		f := testlogs.Docker
		if i%2 == 1 {
			f = testlogs.CRI
		}
		g := testlogs.New(c.Workload, testlogs.Options{Seed: 3, Format: f})
		var b []byte
		for n := 0; n < 40 || !g.AtBoundary(); n++ {
			b = g.Next(b)
		}
		in.kubeletFile(t, c.Namespace, c.Pod, c.UID, c.Name, c.ID, b)
	}

	// Flagged lines: the parser's golden inputs, with lines added for the
	// flags they lack, under a docker-style and a kubelet path.
	docker, err := os.ReadFile("../../parser/testdata/golden/docker.log")
	if err != nil {
		t.Fatal(err)
	}
	docker = append(docker, `{"log":"zero time\n","stream":"stdout","time":"0001-01-01T00:00:00Z"}`+"\n"...)
	docker = append(docker, `{"log":"`+strings.Repeat("long line ", 1000)+`\n","stream":"stderr","time":"2024-05-01T10:00:09Z"}`+"\n"...)
	cri, err := os.ReadFile("../../parser/testdata/golden/cri.log")
	if err != nil {
		t.Fatal(err)
	}
	cri = append(cri, "2024-05-01T10:00:07Z stderr F done\r\n"...)
	cri = append(cri, "2300-01-01T00:00:00Z stdout F from the future\n"...)
	cid := strings.Repeat("ab", 32)
	dockerFile := filepath.Join(in.pt.root, "docker", "containers", cid, cid+"-json.log")
	mustMkdir(t, filepath.Dir(dockerFile))
	mustWrite(t, dockerFile, docker)
	in.count(docker)
	if err := os.Symlink(dockerFile, filepath.Join(in.pt.containers, "api-5c9d8f7b6-x2k4p_shop_api-"+cid+".log")); err != nil {
		t.Fatal(err)
	}
	in.kubeletFile(t, "prod", "web-0", "6f1b7e9a-3c2d-4e5f-8a9b-0c1d2e3f4a5b", "nginx", strings.Repeat("cd", 32), cri)

	// API metadata: web-0 (flagged lines) and the first production-like pod
	// start unknown (flagged k8s_metadata_missing), then get labels, which
	// change mid-file.
	in.kube = &wireKube{pods: map[string][]wirePhase{
		"web-0": {
			{lines: 3},
			{lines: 6, meta: wireMeta(1, `"app":"web","tier":"front"`)},
			{meta: wireMeta(2, `"app":"web","tier":"front","canary":"a \"quoted\" ✓"`)},
		},
		cs[0].Pod: {
			{lines: 5},
			{lines: 15, meta: wireMeta(1, `"app":"`+cs[0].Name+`"`)},
			{meta: wireMeta(2, `"app":"`+cs[0].Name+`","release":"2"`)},
		},
	}}

	// The journal: several boots, and binary and invalid fields.
	for _, name := range []string{"multiboot.journal", "binary.journal"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "systemd", "testdata", "journal", "files", name))
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, filepath.Join(in.journal, name), b)
	}
	r, err := systemd.NewReader(systemd.ReaderConfig{Files: []string{filepath.Join(in.journal, "multiboot.journal"), filepath.Join(in.journal, "binary.journal")}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := r.Next(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		in.entries++
	}
	r.Close()
	return in
}

func (in *wireInputs) kubeletFile(t *testing.T, ns, pod, uid, ctr, id string, b []byte) {
	t.Helper()
	dir := filepath.Join(in.pt.pods, ns+"_"+pod+"_"+uid, ctr)
	mustMkdir(t, dir)
	path := filepath.Join(dir, "0.log")
	mustWrite(t, path, b)
	in.count(b)
	if err := os.Symlink(path, filepath.Join(in.pt.containers, pod+"_"+ns+"_"+ctr+"-"+id+".log")); err != nil {
		t.Fatal(err)
	}
}

// count adds the records the parser makes of b (nothing flushed at the
// end: the tailer keeps a pending message pending).
func (in *wireInputs) count(b []byte) {
	d := parser.NewDecoder(parser.Config{MaxLineBytes: wireMaxLine, Logger: quietLogger()}, parser.Source{Path: "x"})
	var recs []record.Record
	var off int64
	for _, l := range bytes.SplitAfter(b, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		recs = d.Decode(recs[:0], parser.Line{Bytes: bytes.TrimSuffix(l, []byte("\n")), Start: off, End: off + int64(len(l))})
		in.messages += int64(len(recs))
		off += int64(len(l))
	}
}

// wireMaxLine is the agent's --max-line-bytes in the test: some
// production-like messages are cut.
const wireMaxLine = 4096

func mustWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func wireMeta(version uint64, labels string) *parser.KubeMeta {
	return &parser.KubeMeta{
		Version:    version,
		Kubernetes: []byte(`,"node":{"name":"` + wireNode + `"},"labels":{` + labels + `},"annotations":{"kubectl_kubernetes_io/restartedAt":"2026-12-01T00:00:00Z"},"replicaset":{"name":"web-7d4b9c"},"deployment":{"name":"web"}`),
		Pod:        []byte(`,"ip":"10.1.2.3"`),
		Container:  []byte(`,"image":{"name":"registry.example/web:1.27"}`),
	}
}

// wireKube is a KubeLookup whose pods' metadata goes through phases, each
// for a number of lines of the file (the decoder asks once per line).
type wireKube struct {
	mu   sync.Mutex
	pods map[string][]wirePhase
}

type wirePhase struct {
	lines int              // 0: the rest of the file
	meta  *parser.KubeMeta // nil: the pod is not known yet
}

func (k *wireKube) Lookup(m parser.PathMeta) parser.KubeHandle {
	k.mu.Lock()
	defer k.mu.Unlock()
	phases, ok := k.pods[m.PodName]
	if !ok {
		return nil
	}
	return &wireHandle{phases: phases}
}

type wireHandle struct {
	phases []wirePhase
	calls  int
}

func (h *wireHandle) Current() *parser.KubeMeta {
	h.calls++
	n := h.calls
	for _, p := range h.phases {
		if p.lines == 0 || n <= p.lines {
			return p.meta
		}
		n -= p.lines
	}
	return nil
}

// read runs the tailer and the journal input into a new spool until every
// file is read and every journal entry stored, then stops them and returns
// the spool.
func (in *wireInputs) read(t *testing.T) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(spool.Config{Dir: filepath.Join(t.TempDir(), "spool"), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pcfg := parser.Config{NodeName: wireNode, MaxLineBytes: wireMaxLine, Now: func() time.Time { return wireNow }, Logger: quietLogger(), Kube: in.kube}
	tsink := &countingSink{spoolSink: sp}
	tl, err := tailer.New(tailer.Config{
		Globs: []string{in.pt.glob()}, NodeName: wireNode, MaxLineBytes: wireMaxLine, Parser: pcfg, Logger: quietLogger(),
		// Paths under /var/log and file keys from them: the same
		// documents and _ids in every run.
		NewDecoder: func(src parser.Source) tailer.Decoder {
			src.Path = "/var/log" + strings.TrimPrefix(src.Path, in.pt.root)
			if src.Resolved != "" {
				src.Resolved = "/var/log" + strings.TrimPrefix(src.Resolved, in.pt.root)
			}
			h := sha256.Sum256([]byte(src.Path))
			src.FileKey = hex.EncodeToString(h[:16])
			return parser.NewDecoder(pcfg, src)
		},
	}, tsink)
	if err != nil {
		t.Fatal(err)
	}
	jsink := &countingSink{spoolSink: sp}
	jin, err := systemd.NewInput(systemd.Config{Dirs: []string{in.journal}, NodeName: wireNode, Logger: quietLogger(), PollInterval: 50 * time.Millisecond}, jsink)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, run := range []func(context.Context) error{tl.Run, jin.Run} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil && ctx.Err() == nil {
				errs <- err
			}
		}()
	}
	deadline := time.Now().Add(2 * time.Minute)
	for tsink.n.Load() < in.messages || jsink.n.Load() < in.entries {
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 2 minutes the tailer stored %d of %d records and the journal input %d of %d", tsink.n.Load(), in.messages, jsink.n.Load(), in.entries)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if tsink.n.Load() != in.messages || jsink.n.Load() != in.entries {
		t.Fatalf("the tailer stored %d records (want %d) and the journal input %d (want %d)", tsink.n.Load(), in.messages, jsink.n.Load(), in.entries)
	}
	return sp
}

// countingSink counts the records appended through it.
type countingSink struct {
	*spoolSink
	n atomic.Int64
}

type spoolSink = spool.Spool

func (s *countingSink) Append(ctx context.Context, recs []record.Record, cps ...record.Checkpoint) error {
	err := s.spoolSink.Append(ctx, recs, cps...)
	if err == nil {
		s.n.Add(int64(len(recs)))
	}
	return err
}

// bulkBodies keeps the action and document lines of every _bulk request a
// proxy forwarded.
type bulkBodies struct {
	mu    sync.Mutex
	pairs [][2]string
}

func (bb *bulkBodies) proxy(t *testing.T, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/_bulk") {
			raw, err := io.ReadAll(r.Body)
			if err != nil {
				t.Errorf("reading a bulk body: %v", err)
			}
			body := raw
			if r.Header.Get("Content-Encoding") == "gzip" {
				zr, err := gzip.NewReader(bytes.NewReader(raw))
				if err != nil {
					t.Errorf("a gzip bulk body: %v", err)
				} else if body, err = io.ReadAll(zr); err != nil {
					t.Errorf("a gzip bulk body: %v", err)
				}
			}
			bb.add(t, body)
			r.Body = io.NopCloser(bytes.NewReader(raw))
		}
		next.ServeHTTP(w, r)
	})
}

func (bb *bulkBodies) add(t *testing.T, body []byte) {
	if !bytes.HasSuffix(body, []byte("\n")) {
		t.Errorf("a bulk body does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if len(lines)%2 != 0 {
		t.Errorf("a bulk body has %d lines", len(lines))
		return
	}
	bb.mu.Lock()
	defer bb.mu.Unlock()
	for i := 0; i < len(lines); i += 2 {
		bb.pairs = append(bb.pairs, [2]string{lines[i], lines[i+1]})
	}
}

// sorted returns the action and document lines ordered by _id (files and
// the journal are read concurrently) and checks that no _id repeats.
func (bb *bulkBodies) sorted(t *testing.T) []byte {
	bb.mu.Lock()
	defer bb.mu.Unlock()
	type pair struct{ id, action, doc string }
	ps := make([]pair, len(bb.pairs))
	for i, p := range bb.pairs {
		var a struct {
			Create struct {
				ID string `json:"_id"`
			} `json:"create"`
		}
		if err := json.Unmarshal([]byte(p[0]), &a); err != nil || a.Create.ID == "" {
			t.Fatalf("action line %q: %v", p[0], err)
		}
		ps[i] = pair{a.Create.ID, p[0], p[1]}
	}
	slices.SortFunc(ps, func(a, b pair) int { return strings.Compare(a.id, b.id) })
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	for i, p := range ps {
		if i > 0 && ps[i-1].id == p.id {
			t.Errorf("_id %s sent twice", p.id)
		}
		fmt.Fprintf(w, "%s\n%s\n", p.action, p.doc)
	}
	_ = w.Flush()
	return out.Bytes()
}
