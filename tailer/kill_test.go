package tailer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logspool/logspool/internal/membudget"
	"github.com/logspool/logspool/parser"
	"github.com/logspool/logspool/spool/record"
)

// A process-level crash test: a child process runs the tailer into a
// file-backed sink whose appends are atomic (one write of one line, a cut
// last line is ignored on load, as a crash before commit), while the parent
// writes sequence-numbered lines with kubelet rotations and kills the child
// with SIGKILL at random moments. At the end every line must be in the store
// exactly once.

const killChildEnv = "LOGSPOOL_TAILER_KILL_CHILD"

// fileSink is the atomic append log the child writes.
type fileSink struct {
	mu  sync.Mutex
	f   *os.File
	cps map[string][]byte
	// blocked, when set, is a path whose existence makes Append wait (a
	// full spool).
	blocked string
}

type storeEntry struct {
	Recs []string          `json:"recs"`
	IDs  []string          `json:"ids,omitempty"` // hex record IDs, as Recs
	Cps  map[string][]byte `json:"cps"`           // nil value: delete
}

// loadStore reads the complete entries of path and cuts a torn last line.
func loadStore(path string) ([]storeEntry, int64, error) {
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, 0, err
	}
	var out []storeEntry
	var good int64
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		var e storeEntry
		if err := json.Unmarshal(b[:i], &e); err != nil {
			break
		}
		out = append(out, e)
		good += int64(i + 1)
		b = b[i+1:]
	}
	return out, good, nil
}

func openFileSink(path string) (*fileSink, error) {
	entries, good, err := loadStore(path)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(good); err != nil {
		return nil, err
	}
	if _, err := f.Seek(good, 0); err != nil {
		return nil, err
	}
	s := &fileSink{f: f, cps: make(map[string][]byte)}
	for _, e := range entries {
		s.apply(e.Cps)
	}
	return s, nil
}

func (s *fileSink) apply(cps map[string][]byte) {
	for k, v := range cps {
		if v == nil {
			delete(s.cps, k)
		} else {
			s.cps[k] = v
		}
	}
}

func (s *fileSink) Append(ctx context.Context, recs []record.Record, cps ...record.Checkpoint) error {
	for s.blocked != "" {
		if _, err := os.Stat(s.blocked); err != nil {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	e := storeEntry{Cps: make(map[string][]byte)}
	for _, r := range recs {
		e.Recs = append(e.Recs, string(r.Document()))
		e.IDs = append(e.IDs, fmt.Sprintf("%x", r.ID[:]))
	}
	for _, cp := range cps {
		e.Cps[cp.Key] = cp.Value
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.f.Write(append(b, '\n')); err != nil {
		return err
	}
	s.apply(e.Cps)
	return nil
}

func (s *fileSink) Checkpoint(key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.cps[key]), nil
}

func (s *fileSink) Checkpoints(prefix string) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]byte)
	for k, v := range s.cps {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			out[k] = bytes.Clone(v)
		}
	}
	return out, nil
}

// killChild runs the tailer over <dir>/containers into <dir>/store until
// it is killed (or gets SIGTERM).
//
// Optional knobs: LOGSPOOL_TAILER_CHILD_STATE puts the store and the log in
// another directory (one a child without privileges can write);
// LOGSPOOL_TAILER_CHILD_NOFILE sets RLIMIT_NOFILE first.
func killChild() int {
	dir := os.Getenv(killChildEnv)
	state := dir
	if s := os.Getenv("LOGSPOOL_TAILER_CHILD_STATE"); s != "" {
		state = s
	}
	if s := os.Getenv("LOGSPOOL_TAILER_CHILD_NOFILE"); s != "" {
		n, _ := strconv.ParseUint(s, 10, 64)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
			fmt.Fprintln(os.Stderr, "setrlimit:", err)
			return 2
		}
	}
	sink, err := openFileSink(filepath.Join(state, "store"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	sink.blocked = filepath.Join(state, "blocked")
	// Every byte counted lost is appended to <state>/lost at once ("reason
	// n" lines), so the count survives kill -9.
	m := NewMetrics(nil)
	lostLog, err := os.OpenFile(filepath.Join(state, "lost"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	m.onLost = func(reason string, n int64) { fmt.Fprintf(lostLog, "%s %d\n", reason, n) }
	// Every size the tailer would count a loss from goes to
	// <state>/observed ("dev:ino size" lines), before it is used.
	obsLog, err := os.OpenFile(filepath.Join(state, "observed"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var obsMu sync.Mutex
	var globbed sync.Once
	newTailer := func(cfg Config, sink Sink) (*Tailer, error) {
		tl, err := New(cfg, sink)
		if tl != nil {
			tl.onObserve = func(id fileID, size int64) {
				obsMu.Lock()
				defer obsMu.Unlock()
				fmt.Fprintf(obsLog, "%s %d\n", id.checkpointKey(), size)
			}
			// The first scan has matched the globs (see
			// childTailer.waitGlobbed).
			tl.hook = func(point string) {
				if point == "applyScan" {
					globbed.Do(func() { _ = os.WriteFile(childMark(state, "globbed", os.Getpid()), nil, 0o644) })
				}
			}
		}
		return tl, err
	}
	cfg := Config{
		Metrics:      m,
		Globs:        []string{filepath.Join(dir, "containers", "*.log")},
		PollInterval: 100 * time.Millisecond,
		RotatedIdle:  500 * time.Millisecond,
		BatchBytes:   4 << 10, // many commits, so that kills land between them
		Logger:       childLogger(state),
		NewDecoder:   func(src parser.Source) Decoder { return &lineDecoder{src: src} },
	}
	// LOGSPOOL_TAILER_CHILD_MAXOPEN, _CLOSE_INACTIVE and _MEMORY set
	// MaxOpenFiles, CloseInactive and a memory budget of that many bytes.
	if s := os.Getenv("LOGSPOOL_TAILER_CHILD_MAXOPEN"); s != "" {
		cfg.MaxOpenFiles, _ = strconv.Atoi(s)
	}
	if s := os.Getenv("LOGSPOOL_TAILER_CHILD_CLOSE_INACTIVE"); s != "" {
		cfg.CloseInactive, _ = time.ParseDuration(s)
	}
	if s := os.Getenv("LOGSPOOL_TAILER_CHILD_MEMORY"); s != "" {
		n, _ := strconv.ParseInt(s, 10, 64)
		cfg.Budget = membudget.New(n)
	}
	tl, err := newTailer(cfg, sink)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	// SIGTERM stops the tailer from now on: say so (childTailer.stop waits
	// for it; before, the signal's default action killed the child).
	if err := os.WriteFile(childMark(state, "ready", os.Getpid()), nil, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := tl.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	return 0
}

// childMark is the file a child (pid) creates in state to tell the test
// where it is: "ready" once SIGTERM stops it cleanly, "globbed" once its
// first scan has matched the globs.
func childMark(state, what string, pid int) string {
	return filepath.Join(state, fmt.Sprintf("%s-%d", what, pid))
}

// childLogger logs to <dir>/child.log, which the test shows when it fails.
func childLogger(dir string) *slog.Logger {
	f, err := os.OpenFile(filepath.Join(dir, "child.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return discardLogger()
	}
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestKill9DuringRotationsLosesAndRepeatsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level crash test skipped in -short mode")
	}
	total := 20000
	if s := os.Getenv("LOGSPOOL_KILL_LINES"); s != "" {
		total, _ = strconv.Atoi(s)
	}
	dir := t.TempDir()
	pod := filepath.Join(dir, "pods", "default_web_uid", "app")
	mustMkdir(t, pod)
	mustMkdir(t, filepath.Join(dir, "containers"))
	target := filepath.Join(pod, "0.log")
	mustWriteLines(t, target)
	mustSymlink(t, target, filepath.Join(dir, "containers", "web_default_app-"+fmt.Sprint(1234)+".log"))

	startChild := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), killChildEnv+"="+dir)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}

	// The writer: lines i, every 7th as a "P:"/"F:" partial pair written in
	// two writes, rotating like kubelet every 2500 lines.
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		w, err := os.OpenFile(target, os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Error(err)
			return
		}
		for i := 0; i < total; i++ {
			l := seqLine("k", i)
			if i%7 == 0 {
				fmt.Fprintf(w, "P:%s\n", l[:40])
				fmt.Fprintf(w, "F:%s\n", l[40:])
			} else {
				fmt.Fprintln(w, l)
			}
			if i%2500 == 2499 {
				if err := os.Rename(target, fmt.Sprintf("%s.%06d", target, i)); err != nil {
					t.Error(err)
					return
				}
				if err := os.WriteFile(target, nil, 0o644); err != nil {
					t.Error(err)
					return
				}
				fmt.Fprintln(w, seqLine("late", i)) // the runtime is a moment late
				w.Close()
				if w, err = os.OpenFile(target, os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
					t.Error(err)
					return
				}
			}
			if i%20 == 0 {
				time.Sleep(2 * time.Millisecond)
			}
		}
		w.Close()
	}()

	kills := 0
	for running := true; running; {
		select {
		case <-writerDone:
			running = false
		default:
		}
		cmd := startChild()
		time.Sleep(time.Duration(50+rand.IntN(350)) * time.Millisecond)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		kills++
	}

	count := func() int {
		entries, _, err := loadStore(filepath.Join(dir, "store"))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range entries {
			n += len(e.Recs)
		}
		return n
	}
	want := total + total/2500
	cmd := startChild()
	deadline := time.Now().Add(60 * time.Second)
	for count() < want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "child.log"))
			t.Logf("child log:\n%s", b)
			sink, err := openFileSink(filepath.Join(dir, "store"))
			if err == nil {
				for k, v := range sink.cps {
					p, err := decodePosition(v)
					t.Logf("checkpoint %s: %+v %v", k, p, err)
				}
			}
			ents, _ := os.ReadDir(pod)
			for _, e := range ents {
				fi, _ := e.Info()
				id, _, _ := statOf(fi)
				t.Logf("file %s size %d %v", e.Name(), fi.Size(), id)
			}
		}
	}()

	entries, _, _ := loadStore(filepath.Join(dir, "store"))
	var msgs []string
	for _, e := range entries {
		msgs = append(msgs, e.Recs...)
	}
	t.Logf("%d kills, %d appends, %d records", kills, len(entries), len(msgs))
	checkExactlyOnce(t, msgs, "k", total)
	checkExactlyOnce(t, msgs, "late", 0)
	if len(msgs) != want {
		t.Errorf("%d records, want %d", len(msgs), want)
	}
}
