package testlogs

import (
	"bufio"
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// Format is the on-disk format a container runtime writes.
type Format uint8

// Formats.
const (
	// Docker is docker's json-file driver: one JSON object per line.
	Docker Format = iota + 1
	// CRI is the CRI log format of containerd and CRI-O.
	CRI
)

func (f Format) String() string {
	switch f {
	case Docker:
		return "docker"
	case CRI:
		return "cri"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// MaxLine is the longest message a runtime writes as one physical line;
// longer ones are split into partial lines of this size (dockerd's 16 KiB
// buffer, containerd's default max_container_log_line_size).
const MaxLine = 16 << 10

// DefaultStart is the time of the first line when Options.Start is zero.
var DefaultStart = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// Options configure a Generator.
type Options struct {
	// Format is Docker or CRI; zero means Docker.
	Format Format
	// Seed makes the output: the same seed and options give the same bytes.
	Seed uint64
	// Start is the runtime time of the first line; zero means DefaultStart.
	Start time.Time
	// OnMessage, when set, is called with every message once its last
	// physical line has been returned by Next: the message as the
	// application wrote it (without the newline), its stream and the time
	// of its first physical line. It is what a parser must reproduce. msg
	// is only valid during the call.
	OnMessage func(stream string, t time.Time, msg []byte)
}

// Stats counts what a Generator has returned so far.
type Stats struct {
	// Lines is the number of physical lines.
	Lines int64
	// Messages is the number of complete messages: the records a parser
	// makes of those lines (partial lines joined).
	Messages int64
	// Bytes is the number of bytes, newlines included.
	Bytes int64
	// PartialLines is the number of physical lines that do not end their
	// message (docker "log" without "\n", CRI P).
	PartialLines int64
}

// Generator produces the physical lines one container's runtime writes.
type Generator struct {
	opt Options
	w   Workload
	r   rng
	now int64 // runtime time of the next line, Unix ns

	idKey uint64 // per generator, mixed into the unique ids
	seq   uint64 // events so far

	st     *state
	mixed  []*state // Mixed: one state per workload
	block  int      // Mixed: events left in the current workload's block
	ev     event    // the current event's messages
	next   int      // next message of ev to frame
	chunks [][]byte
	chunk  int    // next chunk of the message being returned
	cur    []byte // message being returned
	curT   int64
	curS   string
	open   bool // a partial line was returned and its message is not finished
	stats  Stats
	line   []byte
}

// event is what one log call of the application writes: one message, or
// several (a stack trace) written at about the same time.
type event struct {
	msgs    [][]byte
	streams []string
	buf     []byte
}

func (e *event) reset() {
	e.msgs, e.streams, e.buf = e.msgs[:0], e.streams[:0], e.buf[:0]
}

// add records the message that was appended to e.buf since start.
func (e *event) add(stream string, start int) {
	e.msgs = append(e.msgs, e.buf[start:len(e.buf):len(e.buf)])
	e.streams = append(e.streams, stream)
}

// New returns a generator of w's lines.
func New(w Workload, o Options) *Generator {
	if o.Format == 0 {
		o.Format = Docker
	}
	if o.Start.IsZero() {
		o.Start = DefaultStart
	}
	g := &Generator{opt: o, w: w, r: newRNG(o.Seed ^ uint64(w)<<56), now: o.Start.UnixNano()}
	g.idKey = g.r.u64()
	if w == Mixed {
		for w := Mixed + 1; w < numWorkloads; w++ {
			g.mixed = append(g.mixed, newState(&g.r, w))
		}
	} else {
		g.st = newState(&g.r, w)
	}
	return g
}

// Workload returns the generator's workload.
func (g *Generator) Workload() Workload { return g.w }

// Stats returns the counts so far.
func (g *Generator) Stats() Stats { return g.stats }

// AtBoundary reports whether every message begun so far is complete: a file
// cut here holds no partial line that waits for its end.
func (g *Generator) AtBoundary() bool { return !g.open }

// Next appends the next physical line, with its '\n', to dst.
func (g *Generator) Next(dst []byte) []byte {
	if g.chunk >= len(g.chunks) {
		g.nextMessage()
	}
	c := g.chunks[g.chunk]
	g.chunk++
	final := g.chunk == len(g.chunks)
	start := len(dst)
	switch g.opt.Format {
	case CRI:
		dst = appendCRI(dst, g.curT, g.curS, final, c)
	default:
		dst = appendDocker(dst, g.curT, g.curS, final, c)
	}
	g.stats.Lines++
	g.stats.Bytes += int64(len(dst) - start)
	g.open = !final
	if final {
		g.stats.Messages++
		if g.opt.OnMessage != nil {
			g.opt.OnMessage(g.curS, time.Unix(0, g.curT).UTC(), g.cur)
		}
	} else {
		g.stats.PartialLines++
		g.now += int64(g.r.n(20_000)) // the runtime's next read of the pipe
	}
	return dst
}

// nextMessage moves to the next message, generating an event when the
// current one is used up, and splits it into chunks of at most MaxLine.
func (g *Generator) nextMessage() {
	if g.next >= len(g.ev.msgs) {
		g.ev.reset()
		g.next = 0
		g.seq++
		g.now += g.gap()
		g.state().event(g, &g.ev)
	}
	g.cur, g.curS = g.ev.msgs[g.next], g.ev.streams[g.next]
	if g.next > 0 {
		g.now += int64(1_000 + g.r.n(30_000)) // the rest of a burst: microseconds apart
	}
	g.curT = g.now
	g.next++
	g.chunks, g.chunk = g.chunks[:0], 0
	m := g.cur
	for len(m) > MaxLine {
		g.chunks = append(g.chunks, m[:MaxLine])
		m = m[MaxLine:]
	}
	g.chunks = append(g.chunks, m)
}

// state returns the state of the workload of the next event. Mixed takes
// blocks of 16-127 events from one workload at a time, by the node's
// weights, as if the containers of a node took turns writing one file.
func (g *Generator) state() *state {
	if g.w != Mixed {
		return g.st
	}
	if g.block <= 0 {
		n := g.r.n(1000)
		w := Nginx
		for ; w < numWorkloads-1 && n >= nodeWeights[w]; w++ {
			n -= nodeWeights[w]
		}
		g.st, g.block = g.mixed[w-1], 16+g.r.n(112)
	}
	g.block--
	return g.st
}

// gap is the time between events: usually a few milliseconds, with quiet
// stretches now and then.
func (g *Generator) gap() int64 {
	d := int64(50_000 + g.r.n(4_000_000))
	if k := g.r.geometric(); k > 3 {
		d <<= k - 3
	}
	return d
}

// uid returns the event's unique 64-bit id.
func (g *Generator) uid() uint64 { return mix64(g.seq*0x9e3779b97f4a7c15 ^ g.idKey) }

// Lines returns n physical lines without their newlines, continued past n
// until AtBoundary, so that decoding them in a loop never leaves a message
// half joined; and the number of messages they hold.
func (g *Generator) Lines(n int) (lines [][]byte, messages int) {
	m0 := g.stats.Messages
	var buf []byte
	for i := 0; i < n || !g.AtBoundary(); i++ {
		start := len(buf)
		buf = g.Next(buf)
		lines = append(lines, buf[start:len(buf)-1:len(buf)-1])
		if len(buf) > 1<<20 {
			buf = nil // later lines go into a fresh buffer; earlier slices stay valid
		}
	}
	return lines, int(g.stats.Messages - m0)
}

// WriteLines writes at least n physical lines to w, continuing until
// AtBoundary, and returns what it wrote.
func (g *Generator) WriteLines(w io.Writer, n int) (Stats, error) {
	before := g.stats
	bw := bufio.NewWriterSize(w, 1<<20)
	for i := 0; i < n || !g.AtBoundary(); i++ {
		g.line = g.Next(g.line[:0])
		if _, err := bw.Write(g.line); err != nil {
			return Stats{}, err
		}
	}
	if err := bw.Flush(); err != nil {
		return Stats{}, err
	}
	return Stats{
		Lines:        g.stats.Lines - before.Lines,
		Messages:     g.stats.Messages - before.Messages,
		Bytes:        g.stats.Bytes - before.Bytes,
		PartialLines: g.stats.PartialLines - before.PartialLines,
	}, nil
}

// appendDocker appends a json-file line as dockerd writes it.
func appendDocker(dst []byte, t int64, stream string, final bool, msg []byte) []byte {
	dst = append(dst, `{"log":"`...)
	dst = appendDockerEscaped(dst, msg)
	if final {
		dst = append(dst, `\n`...)
	}
	dst = append(dst, `","stream":"`...)
	dst = append(dst, stream...)
	dst = append(dst, `","time":"`...)
	dst = time.Unix(0, t).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000000Z07:00")
	return append(dst, "\"}\n"...)
}

// appendCRI appends a CRI line as containerd writes it.
func appendCRI(dst []byte, t int64, stream string, final bool, msg []byte) []byte {
	dst = time.Unix(0, t).UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, ' ')
	dst = append(dst, stream...)
	if final {
		dst = append(dst, " F "...)
	} else {
		dst = append(dst, " P "...)
	}
	dst = append(dst, msg...)
	return append(dst, '\n')
}

const hexDigits = "0123456789abcdef"

// appendDockerEscaped escapes s as dockerd's JSON encoder does: quote,
// backslash and control characters, HTML's <, > and &, U+2028 and U+2029;
// invalid UTF-8 becomes U+FFFD.
func appendDockerEscaped(dst, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}
