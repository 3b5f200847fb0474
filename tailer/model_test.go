package tailer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The model-based test of the tailer. Each seed drives a random sequence of
// operations on a temporary kubelet/docker tree while the tailer runs in a
// child process (killChild) writing to an atomic append-only store:
//
//   - append complete lines, CRI-like P:/F: partial messages, and lines
//     written in two parts (the tailer sees the unterminated head);
//   - kubelet rotation (0.log -> 0.log.<n> behind the symlink, new 0.log),
//     docker shift rotation (-json.log -> .1 -> .2 -> .3, the last deleted),
//     copytruncate, gzip of a rotated file (kubelet), deletion of rotated
//     files, delete and recreate the live file at the same path;
//   - chmod 000 and back (the child runs as uid 65534 without capabilities,
//     so the EACCES is real), a low RLIMIT_NOFILE for the whole seed;
//   - kill -9 and restart of the child (operations go on while it is down);
//   - spool full (the store's appends wait) and unblocked.
//
// The model tracks every line written and, at each destructive operation,
// which of the destroyed lines the store did not hold yet ("at risk"). After
// the sequence everything is restored (readable, unblocked, agent up) and,
// once the store holds every line that is not at risk, the oracle checks:
//
//  1. every line that is not at risk is in the store exactly once;
//  2. an at-risk line is there at most once (whole, or the flushed head of a
//     partial message);
//  3. no two records share an ID, and the store holds nothing else;
//  4. the bytes of missing at-risk lines that the tailer knew of (within a
//     size of the file it reported seeing before the file was destroyed, and
//     was not killed before it could count them, or within the size its
//     checkpoint recorded) are at most the bytes it
//     counted in lost_bytes (the child logs every count to a file, so counts
//     survive kill -9).
//
// LOGSPOOL_SEED=n runs one seed (a-b a range); LOGSPOOL_TORTURE=1 runs 1,000; the default
// runs a few fixed seeds.

const modelPoll = 100 * time.Millisecond // killChild's PollInterval

type mline struct {
	doc       string // the record the line must produce
	head      string // for a P:/F: message, its first part ("PARTIAL:"+head may appear)
	bytes     int    // bytes in the file (both physical lines of a message)
	atRisk    bool
	counted   bool  // destroyed in conditions where its loss must be counted
	persisted bool  // ... because a checkpoint recorded it (survives kill -9)
	end       int64 // offset just past it in its file
}

type mfile struct {
	path    string
	lines   []*mline
	gz      bool
	mode    os.FileMode // 0 after chmod 000
	id      fileID      // its device and inode (kept when it is gzipped)
	obsFrom int64       // length of the child's observation log when it was created
	first   string      // its first physical line, with the '\n'
	size    int64
}

type mcontainer struct {
	kind string // "kubelet" or "docker"
	live string // the file the runtime writes
	cur  *mfile
	rot  []*mfile // rotated generations, newest first
	n    int      // rotations so far
}

type model struct {
	t       *testing.T
	seed    uint64
	rng     *rand.Rand
	dir     string
	state   string
	bin     string
	uid     uint32
	nofile  int
	env     []string // the child's knobs of issue 10 (see newModel)
	ctrs    []*mcontainer
	lines   map[string]*mline
	child   *childTailer
	blocked bool
	obsRun  int64 // length of the observation log when the running child started
	seq     int
	ops     []string
}

func TestModelTailer(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level model test skipped in -short mode")
	}
	// 71, 81, 125, 146 and 189 found bugs; 53, 74, 77 and 194 found bugs
	// under load (each now has a deterministic test too); 962 one in the
	// model (see start); 252 and 561 in the torture run (a file rotated
	// while nothing followed it, or while it waited for a descriptor slot,
	// was never read on).
	seeds := []uint64{1, 2, 3, 4, 53, 71, 74, 77, 81, 125, 146, 189, 194, 252, 561, 962}
	if s := os.Getenv("LOGSPOOL_SEED"); s != "" {
		// n, or a range a-b
		a, b, _ := strings.Cut(s, "-")
		lo, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		hi := lo
		if b != "" {
			if hi, err = strconv.ParseUint(b, 10, 64); err != nil {
				t.Fatal(err)
			}
		}
		seeds = nil
		for n := lo; n <= hi; n++ {
			seeds = append(seeds, n)
		}
	} else if os.Getenv("LOGSPOOL_TORTURE") != "" {
		seeds = nil
		for i := uint64(1); i <= 1000; i++ {
			seeds = append(seeds, i)
		}
	}
	bin := modelBinary(t)
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			m := newModel(t, seed, bin)
			defer func() {
				if t.Failed() {
					t.Logf("LOGSPOOL_SEED=%d reproduces this; operations:\n%s", seed, strings.Join(m.ops, "\n"))
				}
			}()
			m.run(20 + m.rng.IntN(20))
			m.check()
		})
	}
}

// modelBinary copies the test binary where uid 65534 can run it.
func modelBinary(t *testing.T) string {
	dir := t.TempDir()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "tailer.test")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

func newModel(t *testing.T, seed uint64, bin string) *model {
	m := &model{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x10c5)), bin: bin, lines: map[string]*mline{}}
	m.dir = t.TempDir()
	for d := m.dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mustMkdir(t, filepath.Join(m.dir, "containers"))
	m.state = filepath.Join(m.dir, "state")
	mustMkdir(t, m.state)
	if os.Geteuid() == 0 {
		m.uid = 65534
		if err := os.Chown(m.state, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	if m.rng.IntN(4) == 0 {
		m.nofile = 24 + m.rng.IntN(16) // a few files over the limit
	}
	// Issue 10's knobs, drawn apart from the model's own draws (a seed's
	// operations stay what they were): few descriptor slots (files take
	// turns, closed at their end and opened again by identity), a short
	// CloseInactive (files closed and opened again all the time), a small
	// memory budget (readers hand their state over and read it again). With
	// a low RLIMIT_NOFILE the slots are above it, so that descriptors run
	// out (EMFILE) unless slots were drawn.
	knobs := rand.New(rand.NewPCG(seed, 0x6d656d))
	maxOpen := 0
	if knobs.IntN(3) == 0 {
		maxOpen = 1 + knobs.IntN(3)
	} else if m.nofile > 0 {
		maxOpen = 1000
	}
	if maxOpen > 0 {
		m.env = append(m.env, fmt.Sprintf("LOGSPOOL_TAILER_CHILD_MAXOPEN=%d", maxOpen))
	}
	if knobs.IntN(2) == 0 {
		m.env = append(m.env, fmt.Sprintf("LOGSPOOL_TAILER_CHILD_CLOSE_INACTIVE=%dms", 50+knobs.IntN(450)))
	}
	if knobs.IntN(3) == 0 {
		m.env = append(m.env, fmt.Sprintf("LOGSPOOL_TAILER_CHILD_MEMORY=%d", 8<<10+knobs.IntN(256<<10)))
	}
	for i := 0; i < 2+m.rng.IntN(4); i++ {
		m.addContainer(i)
	}
	m.start()
	return m
}

func (m *model) logf(format string, args ...any) {
	m.ops = append(m.ops, fmt.Sprintf("%s "+format, append([]any{time.Now().Format("15:04:05.000")}, args...)...))
}

func (m *model) addContainer(i int) {
	c := &mcontainer{}
	if m.rng.IntN(2) == 0 {
		c.kind = "kubelet"
		dir := filepath.Join(m.dir, "pods", fmt.Sprintf("ns_pod%d_uid%d", i, i), "app")
		mustMkdir(m.t, dir)
		for d := dir; d != m.dir; d = filepath.Dir(d) {
			_ = os.Chmod(d, 0o755)
		}
		c.live = filepath.Join(dir, "0.log")
		mustWriteLines(m.t, c.live)
		mustSymlink(m.t, c.live, filepath.Join(m.dir, "containers", fmt.Sprintf("pod%d_ns_app-%064d.log", i, i)))
	} else {
		c.kind = "docker"
		c.live = filepath.Join(m.dir, "containers", fmt.Sprintf("%064d-json.log", i))
		mustWriteLines(m.t, c.live)
	}
	c.cur = m.newLive(c.live)
	m.ctrs = append(m.ctrs, c)
}

func (m *model) start() {
	// With no checkpoint at all, this is the tailer's very first start: it
	// reads what the globs match (ReadFrom head), not rotated files (a
	// documented limit). What its first scan matches is what exists when
	// it runs, not when the child is started: a rotation in between (the
	// child starts slowly under load) made a generation the model took for
	// safe unreadable by design (seed 962), so the model waits for that
	// scan.
	cps, err := openFileSinkRO(filepath.Join(m.state, "store"))
	first := err == nil && len(cps) == 0
	if first {
		for _, c := range m.ctrs {
			for _, f := range c.rot {
				m.destroy(f, "rotated before the first checkpoint")
			}
		}
	}
	m.obsRun = m.obsLen()
	m.child = startChildTailerBin(m.t, m.bin, m.dir, m.state, m.uid, m.nofile, m.env...)
	if first {
		m.child.waitGlobbed()
	}
	m.logf("start child (uid %d, nofile %d, %v)", m.uid, m.nofile, m.env)
}

// newLive describes the empty live file just created at path.
func (m *model) newLive(path string) *mfile {
	fi, err := os.Stat(path)
	if err != nil {
		m.t.Fatal(err)
	}
	id, _, _ := statOf(fi)
	return &mfile{path: path, mode: 0o644, id: id, obsFrom: m.obsLen()}
}

// obsLen is the length of the child's observation log.
func (m *model) obsLen() int64 {
	fi, err := os.Stat(filepath.Join(m.state, "observed"))
	if err != nil {
		return 0
	}
	return fi.Size()
}

// maxObserved is the largest size the running child reported for f since f
// was created (see Tailer.onObserve); 0 while no child runs.
func (m *model) maxObserved(f *mfile) int64 {
	if m.child == nil {
		return 0
	}
	from := max(f.obsFrom, m.obsRun)
	b, err := os.ReadFile(filepath.Join(m.state, "observed"))
	if err != nil || int64(len(b)) <= from {
		return 0
	}
	key := f.id.checkpointKey() + " "
	var most int64
	for _, ln := range strings.Split(string(b[from:]), "\n") {
		if v, ok := strings.CutPrefix(ln, key); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			most = max(most, n)
		}
	}
	return most
}

// add records l, whose physical lines are phys, at the end of f.
func (f *mfile) add(l *mline, phys string) {
	if f.size == 0 {
		f.first, _, _ = strings.Cut(phys, "\n")
		f.first += "\n"
	}
	f.size += int64(len(phys))
	l.end = f.size
	f.lines = append(f.lines, l)
}

func (m *model) newLine() string {
	m.seq++
	return fmt.Sprintf("s%d-%06d %s", m.seed, m.seq, strings.Repeat("x", m.rng.IntN(60)))
}

// append writes lines to c's live file as the runtime would.
func (m *model) append(c *mcontainer) {
	f, err := os.OpenFile(c.live, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		m.t.Fatal(err)
	}
	defer f.Close()
	n := 1 + m.rng.IntN(40)
	for i := 0; i < n; i++ {
		switch m.rng.IntN(10) {
		case 0: // a partial message: P: then F:
			head, rest := m.newLine(), m.newLine()
			p, fl := "P:"+head+"\n", "F:"+rest+"\n"
			m.write(f, p)
			if m.rng.IntN(3) == 0 {
				time.Sleep(time.Duration(m.rng.IntN(30)) * time.Millisecond)
			}
			m.write(f, fl)
			l := &mline{doc: head + rest, head: head, bytes: len(p) + len(fl)}
			m.lines[l.doc] = l
			c.cur.add(l, p+fl)
		case 1: // a line in two writes: the tailer may see the head alone
			s := m.newLine()
			k := 1 + m.rng.IntN(len(s)-1)
			m.write(f, s[:k])
			time.Sleep(time.Duration(m.rng.IntN(30)) * time.Millisecond)
			m.write(f, s[k:]+"\n")
			l := &mline{doc: s, bytes: len(s) + 1}
			m.lines[l.doc] = l
			c.cur.add(l, s+"\n")
		default:
			s := m.newLine()
			m.write(f, s+"\n")
			l := &mline{doc: s, bytes: len(s) + 1}
			m.lines[l.doc] = l
			c.cur.add(l, s+"\n")
		}
	}
	m.logf("append %d to %s (%d lines)", n, c.live, len(c.cur.lines))
}

func (m *model) write(f *os.File, s string) {
	if _, err := f.WriteString(s); err != nil {
		m.t.Fatal(err)
	}
}

// delivered returns doc -> count in the store.
func (m *model) delivered() map[string]int {
	out := map[string]int{}
	entries, _, err := loadStore(filepath.Join(m.state, "store"))
	if err != nil {
		m.t.Fatal(err)
	}
	for _, e := range entries {
		for _, d := range e.Recs {
			out[d]++
		}
	}
	return out
}

// destroy marks the lines of f the store does not hold as at risk. Those
// within a size of f the tailer saw (reported before it used it) must be
// counted if they are lost, unless it is killed before it could count them
// and no checkpoint of f recorded that size.
func (m *model) destroy(f *mfile, why string) {
	del := m.delivered()
	persisted := m.persistedSize(f)
	seen := max(m.maxObserved(f), persisted)
	n := 0
	for _, l := range f.lines {
		if del[l.doc] > 0 || l.atRisk {
			continue
		}
		l.atRisk = true
		l.counted = l.end <= seen
		l.persisted = l.end <= persisted
		n++
	}
	m.logf("%s %s: %d lines at risk (seen %d, checkpoint %d, of %d)", why, f.path, n, seen, persisted, f.size)
}

// persistedSize is the file size recorded in the store's checkpoint of f
// (0 when there is none describing f).
func (m *model) persistedSize(f *mfile) int64 {
	if f.size == 0 {
		return 0
	}
	cps, err := openFileSinkRO(filepath.Join(m.state, "store"))
	if err != nil {
		m.t.Fatal(err)
	}
	v := cps[f.id.checkpointKey()]
	if v == nil {
		return 0
	}
	p, err := decodePosition(v)
	if err != nil || string(p.FP) != f.first {
		return 0
	}
	return p.Size
}

// rotatedUnreadable marks the lines of c's live file at risk when it is
// rotated while unreadable: a rotated file is found by a sweep when its name
// changes, or at a restart when it was written after the newest checkpoint;
// one that becomes readable only later, after a restart, is not (a
// documented limit).
func (m *model) rotatedUnreadable(c *mcontainer) {
	if c.cur.mode == 0 {
		m.destroy(c.cur, "rotated while unreadable")
	}
}

func (m *model) rotateKubelet(c *mcontainer) {
	m.rotatedUnreadable(c)
	c.n++
	to := fmt.Sprintf("%s.%06d", c.live, c.n)
	mustRename(m.t, c.live, to)
	mustWriteLines(m.t, c.live)
	c.cur.path = to
	c.rot = append([]*mfile{c.cur}, c.rot...)
	c.cur = m.newLive(c.live)
	m.logf("kubelet rotate %s -> %s", c.live, to)
	// kubelet keeps 3 rotated files, gzipping all but the newest.
	for len(c.rot) > 3 {
		old := c.rot[len(c.rot)-1]
		m.destroy(old, "delete oldest")
		mustRemove(m.t, old.path)
		c.rot = c.rot[:len(c.rot)-1]
	}
}

func (m *model) rotateDocker(c *mcontainer) {
	m.rotatedUnreadable(c)
	if len(c.rot) == 3 {
		m.destroy(c.rot[2], "delete .3")
		mustRemove(m.t, c.rot[2].path)
		c.rot = c.rot[:2]
	}
	for i := len(c.rot) - 1; i >= 0; i-- {
		to := fmt.Sprintf("%s.%d", c.live, i+2)
		if c.rot[i].gz {
			to += ".gz"
		}
		mustRename(m.t, c.rot[i].path, to)
		c.rot[i].path = to
	}
	mustRename(m.t, c.live, c.live+".1")
	mustWriteLines(m.t, c.live)
	c.cur.path = c.live + ".1"
	c.rot = append([]*mfile{c.cur}, c.rot...)
	c.cur = m.newLive(c.live)
	m.logf("docker shift rotate %s", c.live)
}

// known reports whether the store holds a checkpoint describing f (same
// inode, same first line): the tailer can then find it again compressed.
func (m *model) known(f *mfile) bool {
	if len(f.lines) == 0 {
		return true
	}
	fi, err := os.Stat(f.path)
	if err != nil {
		return false
	}
	id, _, _ := statOf(fi)
	s, err := openFileSinkRO(filepath.Join(m.state, "store"))
	if err != nil {
		m.t.Fatal(err)
	}
	v := s[id.checkpointKey()]
	if v == nil {
		return false
	}
	p, err := decodePosition(v)
	if err != nil {
		return false
	}
	first, err := firstLineOf(f.path)
	return err == nil && bytes.Equal(p.FP, first)
}

func firstLineOf(path string) ([]byte, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	fp, _, err := readFingerprint(fd)
	return fp, err
}

// openFileSinkRO returns the checkpoints of the store without opening it for
// writing.
func openFileSinkRO(path string) (map[string][]byte, error) {
	entries, _, err := loadStore(path)
	if err != nil {
		return nil, err
	}
	s := &fileSink{cps: map[string][]byte{}}
	for _, e := range entries {
		s.apply(e.Cps)
	}
	return s.cps, nil
}

func (m *model) gzipRotated(c *mcontainer) {
	var plain []*mfile
	for _, f := range c.rot {
		if !f.gz {
			plain = append(plain, f)
		}
	}
	if len(plain) == 0 {
		return
	}
	f := plain[m.rng.IntN(len(plain))]
	if !m.known(f) {
		m.destroy(f, "gzip unknown")
	} else {
		m.logf("gzip known %s", f.path)
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		m.t.Fatal(err)
	}
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	_, _ = w.Write(b)
	_ = w.Close()
	if err := os.WriteFile(f.path+".gz.tmp", z.Bytes(), 0o644); err != nil {
		m.t.Fatal(err)
	}
	mustRename(m.t, f.path+".gz.tmp", f.path+".gz")
	mustRemove(m.t, f.path)
	f.path += ".gz"
	f.gz = true
}

func (m *model) copytruncate(c *mcontainer) {
	m.destroy(c.cur, "copytruncate")
	if err := os.Truncate(c.live, 0); err != nil {
		m.t.Fatal(err)
	}
	c.cur = &mfile{path: c.live, mode: c.cur.mode, id: c.cur.id, obsFrom: m.obsLen()}
}

func (m *model) recreate(c *mcontainer) {
	m.destroy(c.cur, "delete live")
	mustRemove(m.t, c.live)
	mustWriteLines(m.t, c.live)
	c.cur = m.newLive(c.live)
}

// chmod toggles a plain file of c between 0644 and 000.
func (m *model) chmod(c *mcontainer) {
	fs := []*mfile{c.cur}
	for _, f := range c.rot {
		if !f.gz {
			fs = append(fs, f)
		}
	}
	m.setMode(fs[m.rng.IntN(len(fs))], ^os.FileMode(0))
}

// setMode sets f's mode (-1: toggle).
func (m *model) setMode(f *mfile, mode os.FileMode) {
	switch {
	case mode != ^os.FileMode(0):
		f.mode = mode
	case f.mode == 0o644:
		f.mode = 0
	default:
		f.mode = 0o644
	}
	if err := os.Chmod(f.path, f.mode); err != nil {
		m.t.Fatal(err)
	}
	m.logf("chmod %o %s", f.mode, f.path)
}

func (m *model) kill() {
	// What the tailer knew only in memory dies with it.
	for _, l := range m.lines {
		if l.counted && !l.persisted {
			l.counted = false
		}
	}
	_ = m.child.cmd.Process.Kill()
	_ = m.child.cmd.Wait()
	m.child.cmd = nil
	m.child = nil
	m.logf("kill -9")
}

func (m *model) block(on bool) {
	path := filepath.Join(m.state, "blocked")
	if on {
		mustWriteLines(m.t, path)
	} else {
		_ = os.Remove(path)
	}
	m.blocked = on
	m.logf("spool blocked=%v", on)
}

func (m *model) run(steps int) {
	for i := 0; i < steps; i++ {
		c := m.ctrs[m.rng.IntN(len(m.ctrs))]
		switch op := m.rng.IntN(100); {
		case op < 40:
			m.append(c)
		case op < 50:
			if c.kind == "kubelet" {
				m.rotateKubelet(c)
			} else {
				m.rotateDocker(c)
			}
		case op < 56:
			m.gzipRotated(c)
		case op < 61:
			m.copytruncate(c)
		case op < 65:
			m.recreate(c)
		case op < 72:
			if m.uid != 0 {
				m.chmod(c)
			}
		case op < 80:
			if m.child != nil {
				m.kill()
			} else {
				m.start()
			}
		case op < 86:
			m.block(!m.blocked)
		default:
			if m.child == nil {
				m.start()
			}
		}
		time.Sleep(time.Duration(m.rng.IntN(int(2 * modelPoll))))
	}
}

// check restores everything, waits for the store to hold every line that is
// not at risk, and runs the oracle.
func (m *model) check() {
	t := m.t
	for _, c := range m.ctrs {
		for _, f := range append([]*mfile{c.cur}, c.rot...) {
			if !f.gz && f.mode != 0o644 {
				m.setMode(f, 0o644)
			}
		}
	}
	if m.blocked {
		m.block(false)
	}
	if m.child == nil {
		m.start()
	}
	var missing []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		del := m.delivered()
		missing = missing[:0]
		for doc, l := range m.lines {
			if !l.atRisk && del[doc] == 0 {
				missing = append(missing, doc)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(4 * modelPoll) // let wrong repeats show up
	m.child.stop()
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("%d safe lines never delivered, first %q", len(missing), missing[:min(5, len(missing))])
		m.dumpStore()
	}

	entries, _, err := loadStore(filepath.Join(m.state, "store"))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	count := map[string]int{}
	for _, e := range entries {
		for i, d := range e.Recs {
			if i < len(e.IDs) {
				if prev, dup := ids[e.IDs[i]]; dup {
					t.Errorf("records %q and %q share the ID %s", prev, d, e.IDs[i])
				}
				ids[e.IDs[i]] = d
			}
			doc := d
			if h, ok := strings.CutPrefix(d, "PARTIAL:"); ok {
				doc = h // the flushed head of a message: count it for the message
				for _, l := range m.lines {
					if l.head == h {
						doc = l.doc
						if !l.atRisk {
							t.Errorf("the message of %q was flushed partial though it was never at risk", h)
						}
						break
					}
				}
			}
			if _, ok := m.lines[doc]; !ok {
				t.Errorf("unknown record %q", d)
				continue
			}
			count[doc]++
		}
	}
	var lostMissing int64
	for doc, l := range m.lines {
		switch n := count[doc]; {
		case n > 1:
			t.Errorf("line %q delivered %d times", doc, n)
		case n == 0 && l.atRisk && l.counted:
			lostMissing += int64(l.bytes)
		}
	}
	lost := m.lostCounted()
	if lostMissing > lost {
		t.Errorf("%d bytes of lines the tailer could see were lost, but only %d bytes counted lost", lostMissing, lost)
	}
	t.Logf("%d lines, %d records, %d at risk, %d bytes lost counted, %d missing-and-countable", len(m.lines), len(ids), m.atRisk(), lost, lostMissing)
	if t.Failed() && len(missing) == 0 {
		m.dumpStore()
	}
}

func (m *model) atRisk() int {
	n := 0
	for _, l := range m.lines {
		if l.atRisk {
			n++
		}
	}
	return n
}

// lostCounted sums the child's lost-bytes log.
func (m *model) lostCounted() int64 {
	f, err := os.Open(filepath.Join(m.state, "lost"))
	if err != nil {
		return 0
	}
	defer f.Close()
	var sum int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if _, v, ok := strings.Cut(sc.Text(), " "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			sum += n
		}
	}
	return sum
}

// dumpStore logs the store's appends (for a failing seed), and keeps the
// child's log in $LOGSPOOL_MODEL_KEEP when that is set.
func (m *model) dumpStore() {
	if dir := os.Getenv("LOGSPOOL_MODEL_KEEP"); dir != "" {
		b, _ := os.ReadFile(filepath.Join(m.state, "child.log"))
		_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("child-%d.log", m.seed)), b, 0o644)
	}
	entries, _, _ := loadStore(filepath.Join(m.state, "store"))
	for i, e := range entries {
		var cps []string
		for k, v := range e.Cps {
			if v == nil {
				cps = append(cps, k+"=deleted")
				continue
			}
			p, err := decodePosition(v)
			fp := string(p.FP)
			if len(fp) > 12 {
				fp = fp[:12]
			}
			cps = append(cps, fmt.Sprintf("%s=%d/%d size %d gen %d fp %q %s %v", k, p.Resume, p.Consumed, p.Size, p.Gen, fp, filepath.Base(p.Path), err))
		}
		first := ""
		if len(e.Recs) > 0 {
			first = e.Recs[0][:min(12, len(e.Recs[0]))]
		}
		m.t.Logf("append %d: %d records (first %q) %v", i, len(e.Recs), first, cps)
	}
}
