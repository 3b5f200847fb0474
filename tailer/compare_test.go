package tailer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hpcloud/tail"

	"github.com/logspool/logspool/parser"
)

// The comparison against hpcloud/tail that the product owner asked for: the
// same rotation scenarios, with sequence-numbered lines written while
// rotating, read by hpcloud/tail (in a child process: it can hang or call
// os.Exit) and by our reader. Only our numbers are asserted.
//
//	go test ./tailer -run TestCompareHpcloudTail -v
//	LOGSPOOL_COMPARE_LINES=50000 LOGSPOOL_COMPARE_OUT=/tmp/compare.md go test ./tailer -run TestCompareHpcloudTail

const (
	hpcloudChildEnv = "LOGSPOOL_TAILER_HPCLOUD_CHILD"
	compareLineLen  = 170
)

// compareLine is line i of a scenario: a fixed-length line with its sequence number.
func compareLine(i int) string {
	s := fmt.Sprintf("2024-05-01T10:00:00.000000000Z stdout F seq=%09d ", i)
	return s + strings.Repeat("p", compareLineLen-len(s))
}

// parseCompareLine returns the sequence number of a complete line, or false
// for a half-written or foreign one.
func parseCompareLine(s string) (int, bool) {
	if len(s) != compareLineLen {
		return 0, false
	}
	i := strings.Index(s, "seq=")
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(s[i+4 : i+13])
	if err != nil || s != compareLine(n) {
		return 0, false
	}
	return n, true
}

type scenario struct {
	name string
	// setup creates the tree and returns the path to follow and the path the
	// runtime writes to.
	setup func(dir string) (follow, write string, err error)
	// rotate rotates write (rotation number gen) and returns the file the
	// runtime writes next.
	rotate func(write string, gen int, w *os.File, late []string) (*os.File, error)
}

func writeAll(f *os.File, lines []string) error {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	_, err := f.WriteString(b.String())
	return err
}

var scenarios = []scenario{
	{
		name: "kubelet rename+create behind a symlink",
		setup: func(dir string) (string, string, error) {
			pod := filepath.Join(dir, "pods", "ns_pod_uid", "app")
			if err := os.MkdirAll(pod, 0o755); err != nil {
				return "", "", err
			}
			if err := os.MkdirAll(filepath.Join(dir, "containers"), 0o755); err != nil {
				return "", "", err
			}
			target := filepath.Join(pod, "0.log")
			link := filepath.Join(dir, "containers", "pod_ns_app-0123456789ab.log")
			if err := os.WriteFile(target, nil, 0o644); err != nil {
				return "", "", err
			}
			return link, target, os.Symlink(target, link)
		},
		rotate: func(write string, gen int, w *os.File, late []string) (*os.File, error) {
			if err := os.Rename(write, fmt.Sprintf("%s.%08d", write, gen)); err != nil {
				return nil, err
			}
			if err := os.WriteFile(write, nil, 0o644); err != nil {
				return nil, err
			}
			if err := writeAll(w, late); err != nil { // the runtime is a moment late
				return nil, err
			}
			w.Close()
			return os.OpenFile(write, os.O_WRONLY|os.O_APPEND, 0o644)
		},
	},
	{
		name: "docker shift (json.log -> .1 -> .2)",
		setup: func(dir string) (string, string, error) {
			p := filepath.Join(dir, "containers", "0123456789ab-json.log")
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return "", "", err
			}
			return p, p, os.WriteFile(p, nil, 0o644)
		},
		rotate: func(write string, gen int, w *os.File, late []string) (*os.File, error) {
			for i := 4; i >= 1; i-- {
				if _, err := os.Stat(fmt.Sprintf("%s.%d", write, i)); err == nil {
					if err := os.Rename(fmt.Sprintf("%s.%d", write, i), fmt.Sprintf("%s.%d", write, i+1)); err != nil {
						return nil, err
					}
				}
			}
			if err := os.Rename(write, write+".1"); err != nil {
				return nil, err
			}
			if err := writeAll(w, late); err != nil {
				return nil, err
			}
			w.Close()
			return os.OpenFile(write, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		},
	},
	{
		name: "copytruncate",
		setup: func(dir string) (string, string, error) {
			p := filepath.Join(dir, "containers", "app.log")
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return "", "", err
			}
			return p, p, os.WriteFile(p, nil, 0o644)
		},
		rotate: func(write string, gen int, w *os.File, late []string) (*os.File, error) {
			// logrotate runs between bursts of output: give readers a moment
			// to reach the end before the copy and the truncation.
			time.Sleep(500 * time.Millisecond)
			b, err := os.ReadFile(write)
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(fmt.Sprintf("%s.%d", write, gen), b, 0o644); err != nil {
				return nil, err
			}
			if err := w.Truncate(0); err != nil {
				return nil, err
			}
			return w, writeAll(w, late)
		},
	},
}

// runWriter writes n lines to write in chunks of 20, rotating every perFile
// lines (the 5 lines after each rotation go to the old file descriptor).
func runWriter(sc scenario, write string, n, perFile int) error {
	w, err := os.OpenFile(write, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { w.Close() }()
	i := 0
	chunk := func(k int) []string {
		out := make([]string, 0, k)
		for ; k > 0 && i < n; k-- {
			out = append(out, compareLine(i))
			i++
		}
		return out
	}
	gen := 0
	for i < n {
		if err := writeAll(w, chunk(20)); err != nil {
			return err
		}
		if i%perFile == 0 && i < n {
			gen++
			if w, err = sc.rotate(write, gen, w, chunk(5)); err != nil {
				return fmt.Errorf("rotation %d: %w", gen, err)
			}
		}
		time.Sleep(200 * time.Microsecond) // pace the writer like a busy container
	}
	return nil
}

// tally counts what a reader delivered.
type tally struct {
	Delivered, Lost, Duplicated, HalfWritten int
	Note                                     string
}

func tallyLines(lines []string, n int) tally {
	seen := make([]int, n)
	var tl tally
	for _, l := range lines {
		i, ok := parseCompareLine(l)
		if !ok || i >= n {
			tl.HalfWritten++
			continue
		}
		seen[i]++
	}
	for _, c := range seen {
		switch {
		case c == 0:
			tl.Lost++
		case c > 1:
			tl.Duplicated += c - 1
			tl.Delivered++
		default:
			tl.Delivered++
		}
	}
	return tl
}

func compareParams() (n, perFile int) {
	n = 10000
	if s := os.Getenv("LOGSPOOL_COMPARE_LINES"); s != "" {
		if v, err := strconv.Atoi(s); err == nil && v > 0 {
			n = v
		}
	}
	return n, max(n/5, 1)
}

func TestCompareHpcloudTail(t *testing.T) {
	if testing.Short() {
		t.Skip("comparison skipped in -short mode")
	}
	n, perFile := compareParams()
	var table strings.Builder
	fmt.Fprintf(&table, "| scenario (%d lines, %d rotations) | reader | delivered | lost | duplicated | half-written | note |\n", n, n/perFile)
	table.WriteString("|---|---|---|---|---|---|---|\n")
	row := func(sc, reader string, tl tally) {
		fmt.Fprintf(&table, "| %s | %s | %d | %d | %d | %d | %s |\n", sc, reader, tl.Delivered, tl.Lost, tl.Duplicated, tl.HalfWritten, tl.Note)
	}
	for si, sc := range scenarios {
		for _, mode := range []string{"inotify", "polling"} {
			row(sc.name, "hpcloud/tail "+mode, runHpcloudChild(t, si, mode, n, perFile))
		}
		ours := runOurs(t, sc, n, perFile)
		row(sc.name, "logspool tailer", ours)
		if ours.Delivered != n || ours.Duplicated != 0 || ours.HalfWritten != 0 {
			t.Errorf("%s: our reader delivered %d of %d lines (%d duplicated, %d half-written)", sc.name, ours.Delivered, n, ours.Duplicated, ours.HalfWritten)
		}
	}
	t.Logf("\n%s", table.String())
	if out := os.Getenv("LOGSPOOL_COMPARE_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(table.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// runOurs runs scenario sc through a Tailer.
func runOurs(t *testing.T, sc scenario, n, perFile int) tally {
	t.Helper()
	dir := t.TempDir()
	follow, write, err := sc.setup(dir)
	if err != nil {
		t.Fatal(err)
	}
	sink := newMemSink()
	tl, err := New(Config{
		Globs:      []string{filepath.Join(filepath.Dir(follow), "*.log")},
		NodeName:   "node",
		Logger:     discardLogger(),
		NewDecoder: func(src parser.Source) Decoder { return &lineDecoder{src: src} },
	}, sink)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	if err := runWriter(sc, write, n, perFile); err != nil {
		t.Fatal(err)
	}
	waitIdle(func() int { return sink.count() }, n, 20*time.Second)
	return tallyLines(sink.messages(), n)
}

// waitIdle waits until count reaches want, or stops growing for 3s, or limit passes.
func waitIdle(count func() int, want int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	last, since := -1, time.Now()
	for time.Now().Before(deadline) {
		c := count()
		if c >= want {
			return
		}
		if c != last {
			last, since = c, time.Now()
		} else if time.Since(since) > 3*time.Second {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runHpcloudChild re-executes the test binary as an hpcloud/tail reader of
// scenario si and returns its tally, or a note when it hung or exited.
func runHpcloudChild(t *testing.T, si int, mode string, n, perFile int) tally {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d,%s,%d,%d,%s", hpcloudChildEnv, si, mode, n, perFile, t.TempDir()))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var tl tally
	if jerr := json.Unmarshal(lastLine(stdout.Bytes()), &tl); jerr != nil {
		tl = tally{Lost: n, Note: "no result"}
		switch {
		case ctx.Err() != nil:
			tl.Note = "hung: killed after 60 s"
		case err != nil:
			tl.Note = fmt.Sprintf("child failed: %v: %s", err, firstLine(stderr.Bytes()))
		}
	}
	return tl
}

func lastLine(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}

func firstLine(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// hpcloudChild is the child process: it runs the writer of its scenario and
// hpcloud/tail on the same tree, and prints the tally as one JSON line.
func hpcloudChild() int {
	parts := strings.SplitN(os.Getenv(hpcloudChildEnv), ",", 5)
	if len(parts) != 5 {
		fmt.Fprintln(os.Stderr, "bad", hpcloudChildEnv)
		return 2
	}
	si, _ := strconv.Atoi(parts[0])
	mode := parts[1]
	n, _ := strconv.Atoi(parts[2])
	perFile, _ := strconv.Atoi(parts[3])
	dir := parts[4]
	sc := scenarios[si]
	follow, write, err := sc.setup(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	tf, err := tail.TailFile(follow, tail.Config{
		Follow: true, ReOpen: true, Poll: mode == "polling",
		Location: &tail.SeekInfo{Offset: 0, Whence: io.SeekStart},
		Logger:   tail.DiscardingLogger,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	lines := make(chan []string)
	go func() {
		var got []string
		for {
			select {
			case l, ok := <-tf.Lines:
				if !ok {
					lines <- got
					return
				}
				got = append(got, l.Text)
			case <-time.After(3 * time.Second):
				if len(got) >= n {
					lines <- got
					return
				}
				// Idle for 3 s: give up once the writer is done.
				select {
				case <-writerDone:
					lines <- got
					return
				default:
				}
			}
		}
	}()
	if err := runWriter(sc, write, n, perFile); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	close(writerDone)
	got := <-lines
	tl := tallyLines(got, n)
	b, _ := json.Marshal(tl)
	fmt.Println(string(b))
	return 0
}

var writerDone = make(chan struct{})
