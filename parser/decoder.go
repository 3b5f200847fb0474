package parser

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"log/slog"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/logspool/logspool/spool/record"
)

type format uint8

const (
	formatUnknown format = iota
	formatDocker
	formatCRI
	numFormats
)

func (f format) String() string {
	switch f {
	case formatDocker:
		return FormatDocker
	case formatCRI:
		return FormatCRI
	}
	return "unknown"
}

// flags is the set of log.flags of a record, written in bit order.
type flags uint8

const (
	flagTruncated flags = 1 << iota
	flagPartial
	flagInvalidJSON
	flagMalformedCRI
	flagInvalidTimestamp
	flagInvalidUTF8
	flagTimestampRange
	flagK8sMetadataMissing
)

var flagNames = [...]string{FlagTruncated, FlagPartial, ReasonInvalidJSON, ReasonMalformedCRI, ReasonInvalidTimestamp, ReasonInvalidUTF8, ReasonTimestampRange, FlagK8sMetadataMissing}

// maxOriginalTime caps log.original_time (RFC 3339 allows a fraction of any
// length).
const maxOriginalTime = 64

// maxStreams bounds the per-stream pending buffers of a decoder. Runtimes
// write two streams; the bound only matters for hostile docker files.
const maxStreams = 8

// pending is the partial message buffered for one stream.
type pending struct {
	stream   []byte
	active   bool  // a message has started and not ended
	skipping bool  // the message was cut and emitted; drop lines until its end
	start    int64 // offset of the message's first physical line
	ts       timestamp
	format   format
	buf      []byte // joined message so far
	extra    []byte // encoded document fields of the first line (docker attrs)
	orig     []byte // ts.orig's storage: the first line's out-of-range time
}

// Decoder turns the physical lines of one container log file into records.
// It detects the format (docker json-file or CRI) from the first line, joins
// partial lines, and attaches Kubernetes metadata from the path. Not safe for
// concurrent use; one per file. It must see the file's lines in order; to
// re-read from Pending() after a restart, use a new Decoder.
type Decoder struct {
	cfg         Config
	src         Source
	meta        PathMeta
	format      format // of the file, from its first recognisable line
	tails       [numFormats][]byte
	metas       [numFormats]*record.Meta // tails as the records' shared Meta
	pend        []pending
	scratch     []byte // unescaped docker message
	scratchTail []byte // a cut docker line's tail as a JSON object
	extra       []byte // encoded docker attrs of the current line
	arena       arena
	ids         record.FileIDs
	spans       []span // see Pending
	ts          tsCache
	warned      bool
	counts      counts    // per-line metric counts not yet added to cfg.Metrics
	lineFlags   flags     // flags of every record the current line emits (Line.Partial)
	kube        kubeState // metadata from the Kubernetes API (Config.Kube)
}

// NewDecoder returns a decoder for the file src. cfg should have passed
// Validate; NewDecoder replaces invalid values by their defaults.
func NewDecoder(cfg Config, src Source) *Decoder {
	d := &Decoder{
		cfg:  cfg.withDefaults(),
		src:  src,
		meta: ParsePath(src.Path, src.Resolved),
	}
	d.ids = record.NewFileIDs(d.cfg.NodeName, src.FileKey)
	if d.cfg.Kube != nil {
		d.kube.h = d.cfg.Kube.Lookup(d.meta)
	}
	return d
}

// Meta returns the metadata the decoder took from the file's path.
func (d *Decoder) Meta() PathMeta { return d.meta }

// Decode consumes one line and appends the records it completes (zero or one)
// to dst. Malformed input is never dropped: it becomes a record with the raw
// text in message and a flag in log.flags.
func (d *Decoder) Decode(dst []record.Record, ln Line) []record.Record {
	if d.kube.refresh() {
		// Encode them again with the new metadata: a new Meta, a new version.
		d.tails = [numFormats][]byte{}
		d.metas = [numFormats]*record.Meta{}
	}
	if ln.Partial {
		d.lineFlags = flagPartial
		defer func() { d.lineFlags = 0 }()
	}
	b := ln.Bytes
	kind := d.format
	if len(b) > 0 {
		c := b[0]
		if c == ' ' || c == '\t' {
			if j := skipWS(b, 0); j < len(b) {
				c = b[j]
			}
		}
		switch {
		case c == '{':
			kind = formatDocker
		case '0' <= c && c <= '9':
			kind = formatCRI
		}
	}
	if kind == formatUnknown {
		kind = formatCRI
	} else if d.format == formatUnknown && len(b) > 0 {
		d.format = kind
	}
	d.counts.line(kind)
	if d.counts.pending() >= syncEvery {
		d.SyncMetrics()
	}
	if kind == formatDocker {
		dst = d.decodeDocker(dst, ln)
		if cap(d.scratch) > keepBuffer {
			d.scratch = nil
		}
		return dst
	}
	return d.decodeCRI(dst, ln)
}

func (d *Decoder) decodeCRI(dst []record.Record, ln Line) []record.Record {
	ts, stream, partial, msg, ok := splitCRI(ln.Bytes)
	if !ok {
		return d.malformed(dst, ln, formatCRI, reasonMalformedCRI)
	}
	t, ok := d.ts.parse(ts)
	if !ok {
		return d.malformed(dst, ln, formatCRI, reasonInvalidTimestamp)
	}
	d.readTimeIfOutOfRange(&t)
	d.extra = d.extra[:0]
	return d.message(dst, ln, formatCRI, &t, stream, msg, partial)
}

// readTimeIfOutOfRange puts the reading time in t when the runtime's time
// is outside @timestamp's range (t.orig keeps the runtime's text).
func (d *Decoder) readTimeIfOutOfRange(t *timestamp) {
	if t.orig != nil {
		orig := t.orig[:min(len(t.orig), maxOriginalTime)]
		*t = timestampFromUnixNano(d.cfg.Now().UnixNano())
		t.orig = orig
	}
}

// trimCR drops the '\r' of a "\r\n" line end: the runtimes split a
// program's output at '\n' and keep the rest, so the '\r' of a CRLF line
// end stays at the end of the message (Filebeat and Fluent Bit drop it).
func trimCR(msg []byte) []byte {
	if n := len(msg); n > 0 && msg[n-1] == '\r' {
		return msg[:n-1]
	}
	return msg
}

// splitCRI splits "<time> <stream> <tag>[ <message>]". The stream must be
// stdout or stderr; the tag's first ':'-separated part must be P or F.
func splitCRI(b []byte) (ts, stream []byte, partial bool, msg []byte, ok bool) {
	i := bytes.IndexByte(b, ' ')
	if i <= 0 {
		return
	}
	ts, b = b[:i], b[i+1:]
	i = bytes.IndexByte(b, ' ')
	if i <= 0 {
		return
	}
	stream, b = b[:i], b[i+1:]
	if string(stream) != "stdout" && string(stream) != "stderr" {
		return
	}
	tag := b
	if i = bytes.IndexByte(b, ' '); i >= 0 {
		tag, msg = b[:i], b[i+1:]
	}
	if j := bytes.IndexByte(tag, ':'); j >= 0 {
		tag = tag[:j]
	}
	switch string(tag) {
	case "P":
		partial = true
	case "F":
	default:
		return
	}
	return ts, stream, partial, msg, true
}

func (d *Decoder) decodeDocker(dst []record.Record, ln Line) []record.Record {
	d.extra = d.extra[:0]
	msg, escaped, verbatim, stream, ts, st := d.parseDockerFast(ln.Bytes)
	if st == dockerFallback {
		msg, stream, ts, st = d.parseDockerSlow(ln.Bytes)
		escaped, verbatim = false, false
	}
	switch st {
	case dockerInvalid:
		if ln.Truncated {
			if m, ok := d.salvageDocker(ln.Bytes); ok {
				if stream, t, complete, ok := d.dockerTail(ln.Tail); ok {
					// Stream and time from the line's end (Line.Tail): the
					// cut line is a line of its stream like any other.
					return d.message(dst, ln, formatDocker, &t, stream, m, !complete)
				}
				// Neither stream nor time survived the cut; the head of the
				// message is shipped on its own.
				d.extra = d.extra[:0]
				now := timestampFromUnixNano(d.cfg.Now().UnixNano())
				return d.emit(dst, ln.Start, &now, nil, d.cut(m, 0, d.cfg.MaxLineBytes), nil, flagTruncated, formatDocker)
			}
		}
		return d.malformed(dst, ln, formatDocker, reasonInvalidJSON)
	case dockerNoLog:
		return d.malformed(dst, ln, formatDocker, reasonInvalidJSON)
	}
	t, ok := d.ts.parse(ts)
	if !ok {
		return d.malformed(dst, ln, formatDocker, reasonInvalidTimestamp)
	}
	d.readTimeIfOutOfRange(&t)
	if escaped {
		// The common complete line: its escaped body is copied into the
		// document as it is, without decoding and re-encoding.
		body, ok := msg[:max(len(msg)-2, 0)], verbatim // scanLogString saw what verbatimBody checks
		if !ok {
			body, ok = verbatimBody(msg)
		}
		if ok && len(body) <= d.cfg.MaxLineBytes && !ln.Truncated {
			if p := d.pendingFor(stream, &dst); !p.active {
				return d.emitEscaped(dst, ln.Start, &t, stream, body, formatDocker)
			}
		}
		if d.scratch, ok = appendUnescaped(d.scratch[:0], msg); !ok {
			return d.malformed(dst, ln, formatDocker, reasonInvalidJSON) // an invalid escape
		}
		msg = d.scratch
	}
	partial := true
	if n := len(msg); n > 0 && msg[n-1] == '\n' {
		msg = msg[:n-1]
		partial = false
	}
	if ln.Truncated {
		// The tailer cut the line, yet it parsed: only whitespace was lost.
		partial = false
	}
	return d.message(dst, ln, formatDocker, &t, stream, msg, partial)
}

// salvageDocker recovers the head of the "log" value of a docker line that
// the tailer cut (docker writes "log" first): everything up to the cut,
// without an incomplete escape at the end.
func (d *Decoder) salvageDocker(b []byte) ([]byte, bool) {
	const prefix = `{"log":"`
	if !bytes.HasPrefix(b, []byte(prefix)) {
		return nil, false
	}
	body := b[len(prefix):]
scan:
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c == '"':
			return nil, false // a complete value: the line is broken elsewhere
		case c < 0x20:
			return nil, false
		case c == '\\':
			if i+1 >= len(body) || (body[i+1] == 'u' && i+6 > len(body)) {
				body = body[:i] // an escape cut short
				break scan
			}
			i++
		}
	}
	var ok bool
	d.scratch, ok = appendUnescaped(d.scratch[:0], body)
	if !ok {
		return nil, false
	}
	return d.scratch, true
}

// message handles one parsed physical line: it completes, continues or
// starts a message on its stream.
func (d *Decoder) message(dst []record.Record, ln Line, f format, t *timestamp, stream, msg []byte, partial bool) []record.Record {
	max := d.cfg.MaxLineBytes
	p := d.pendingFor(stream, &dst)
	if !p.active {
		if !partial && !ln.Truncated && len(msg) <= max {
			// The common case: a complete line with nothing pending.
			if f == formatCRI {
				msg = trimCR(msg)
			}
			return d.emit(dst, ln.Start, t, stream, msg, d.extra, 0, f)
		}
		p.active, p.skipping = true, false
		p.start, p.ts, p.format = ln.Start, *t, f
		if t.orig != nil {
			p.orig = append(p.orig[:0], t.orig...)
			p.ts.orig = p.orig
		}
		p.buf = p.buf[:0]
		p.extra = append(p.extra[:0], d.extra...)
	}
	if p.skipping {
		d.countCut(len(msg))
		if !partial {
			p.active, p.skipping = false, false
			d.completed(p, ln.Start)
		}
		return dst
	}
	if len(p.buf)+len(msg) > max || ln.Truncated {
		p.buf = append(p.buf, d.cut(msg, len(p.buf), max)...)
		dst = d.emit(dst, p.start, &p.ts, p.stream, p.buf, p.extra, flagTruncated, p.format)
		p.release()
		if partial {
			p.skipping = true
			d.cfg.Metrics.partialLine()
		} else {
			p.active = false
			d.completed(p, ln.Start)
		}
		return dst
	}
	p.buf = append(p.buf, msg...)
	if partial {
		d.cfg.Metrics.partialLine()
		return dst
	}
	if f == formatCRI {
		p.buf = trimCR(p.buf)
	}
	dst = d.emit(dst, p.start, &p.ts, p.stream, p.buf, p.extra, 0, p.format)
	p.active = false
	p.release()
	d.completed(p, ln.Start)
	return dst
}

// cut returns the head of msg that fits after have bytes into max bytes,
// backing off to a UTF-8 boundary, and counts the bytes it cuts off.
func (d *Decoder) cut(msg []byte, have, max int) []byte {
	n := max - have
	if n >= len(msg) {
		return msg
	}
	if n < 0 {
		n = 0
	}
	for back := 0; back < utf8.UTFMax-1 && n > 0 && !utf8.RuneStart(msg[n]); back++ {
		n--
	}
	d.countCut(len(msg) - n)
	return msg[:n]
}

func (d *Decoder) countCut(n int) {
	if d.cfg.CutBytes != nil && n > 0 {
		d.cfg.CutBytes.Add(float64(n))
	}
}

// pendingFor returns the pending state of stream, creating it if needed.
// When maxStreams streams are pending, the oldest is flushed to dst to make
// room.
func (d *Decoder) pendingFor(stream []byte, dst *[]record.Record) *pending {
	for i := range d.pend {
		if string(d.pend[i].stream) == string(stream) {
			return &d.pend[i]
		}
	}
	if len(d.pend) < maxStreams {
		d.pend = append(d.pend, pending{stream: bytes.Clone(stream)})
		return &d.pend[len(d.pend)-1]
	}
	for i := range d.pend {
		if !d.pend[i].active {
			d.pend[i].stream = append(d.pend[i].stream[:0], stream...)
			return &d.pend[i]
		}
	}
	oldest := 0
	for i := range d.pend {
		if d.pend[i].start < d.pend[oldest].start {
			oldest = i
		}
	}
	p := &d.pend[oldest]
	*dst = d.flushOne(*dst, p)
	p.stream = append(p.stream[:0], stream...)
	return p
}

// keepBuffer is the largest buffer a decoder keeps between messages, so that
// one huge message does not pin its memory for the life of the file.
const keepBuffer = 32 << 10

func (p *pending) release() {
	if cap(p.buf) > keepBuffer {
		p.buf = nil
	}
}

// malformed emits the raw line as the message of a record flagged with r.
func (d *Decoder) malformed(dst []record.Record, ln Line, f format, r reason) []record.Record {
	d.cfg.Metrics.malformedLine(r)
	level := slog.LevelDebug
	if !d.warned {
		d.warned = true
		level = slog.LevelWarn
	}
	if ctx := context.Background(); d.cfg.Logger.Enabled(ctx, level) {
		d.cfg.Logger.Log(ctx, level, "parser: shipping malformed line raw",
			"path", d.src.Path, "offset", ln.Start, "reason", reasonNames[r], "format", f.String())
	}
	fl := flags(flagInvalidJSON) << (r - reasonInvalidJSON)
	msg := ln.Bytes
	if ln.Truncated || len(msg) > d.cfg.MaxLineBytes {
		fl |= flagTruncated
		msg = d.cut(msg, 0, d.cfg.MaxLineBytes)
	}
	now := timestampFromUnixNano(d.cfg.Now().UnixNano())
	return d.emit(dst, ln.Start, &now, nil, msg, nil, fl, f)
}

// Pending reports whether a partial message is buffered and, if so, the file
// offset of its first line. The tailer must not checkpoint past that offset
// while a partial is pending: after a restart it re-reads from there.
//
// The offset is where a re-read reproduces exactly the records a continuous
// read gives: the smallest start of the pending messages, moved back to the
// start of any completed multi-line message that straddles it (stdout and
// stderr partials interleave, so a stream's message can end after another
// stream's pending message began; resuming in its middle would ship its tail
// as a message of its own). Records between that offset and the end are then
// emitted again with the same IDs, which Elasticsearch's op_type=create drops.
//
// A message that was cut at MaxLineBytes and already emitted stays pending
// until its final line: a re-read from its start emits the same record (same
// ID) again and skips the rest, instead of shipping the tail as a new message.
func (d *Decoder) Pending() (start int64, ok bool) {
	for i := range d.pend {
		if p := &d.pend[i]; p.active && (!ok || p.start < start) {
			start, ok = p.start, true
		}
	}
	if !ok {
		d.spans = d.spans[:0]
		return 0, false
	}
	for moved := true; moved; {
		moved = false
		for _, sp := range d.spans {
			if sp.start < start && start <= sp.last {
				start, moved = sp.start, true
			}
		}
	}
	// The offset never decreases from one call to the next (new spans start
	// at or after it), so spans wholly before it can never matter again.
	d.spans = slices.DeleteFunc(d.spans, func(sp span) bool { return sp.last < start })
	return start, true
}

// span is a completed multi-line message: the starts of its first and last
// physical lines.
type span struct{ start, last int64 }

// maxSpans bounds d.spans between calls of Pending; past it, Pending prunes.
const maxSpans = 256

// completed records the span of a multi-line message that ends with the line
// at last, when another stream has a message pending (else no resume offset
// can fall inside it).
func (d *Decoder) completed(p *pending, last int64) {
	if p.start == last {
		return
	}
	for i := range d.pend {
		if o := &d.pend[i]; o != p && o.active {
			d.spans = append(d.spans, span{p.start, last})
			if len(d.spans) > maxSpans {
				d.Pending()
			}
			return
		}
	}
}

// Flush emits a buffered partial message as a record flagged "partial" (for a
// file that is released for good) and appends it to dst.
//
// Every stream's partial is emitted, in order of start offset; a message that
// was cut and already emitted is not emitted again. Afterwards nothing is
// pending.
func (d *Decoder) Flush(dst []record.Record) []record.Record {
	defer d.SyncMetrics()
	order := make([]int, 0, len(d.pend))
	for i := range d.pend {
		if d.pend[i].active {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(d.pend[a].start, d.pend[b].start) })
	for _, i := range order {
		dst = d.flushOne(dst, &d.pend[i])
	}
	d.spans = d.spans[:0]
	return dst
}

func (d *Decoder) flushOne(dst []record.Record, p *pending) []record.Record {
	if p.active && !p.skipping {
		dst = d.emit(dst, p.start, &p.ts, p.stream, p.buf, p.extra, flagPartial, p.format)
	}
	p.active, p.skipping = false, false
	p.buf = p.buf[:0]
	p.release()
	return dst
}

// emit encodes one record into the arena and appends it to dst.
func (d *Decoder) emit(dst []record.Record, start int64, t *timestamp, stream, msg, extra []byte, fl flags, f format) []record.Record {
	return d.emitDoc(dst, start, t, stream, msg, false, extra, fl, f)
}

// emitEscaped is emit for a message that is already the valid body of a
// JSON string in valid UTF-8 (see verbatimBody).
func (d *Decoder) emitEscaped(dst []record.Record, start int64, t *timestamp, stream, body []byte, f format) []record.Record {
	return d.emitDoc(dst, start, t, stream, body, true, d.extra, 0, f)
}

func (d *Decoder) emitDoc(dst []record.Record, start int64, t *timestamp, stream, msg []byte, escaped bool, extra []byte, fl flags, f format) []record.Record {
	fl |= d.lineFlags
	b := d.arena.begin(len(msg) + len(msg)/8 + len(extra) + 160)
	b = append(b, `{"@timestamp":"`...)
	b = append(b, t.text[:]...)
	b = append(b, `","message":"`...)
	var invalid bool
	if escaped {
		b = append(b, msg...)
	} else {
		b, invalid = record.AppendEscaped(b, msg)
	}
	b = append(b, '"')
	switch string(stream) {
	case "":
	case "stdout":
		b = append(b, `,"stream":"stdout"`...)
	case "stderr":
		b = append(b, `,"stream":"stderr"`...)
	default:
		b = append(b, `,"stream":"`...)
		b, _ = record.AppendEscaped(b, stream)
		b = append(b, '"')
	}
	b = append(b, extra...)
	b = append(b, `,"log":{"offset":`...)
	b = strconv.AppendInt(b, start, 10)
	if invalid {
		fl |= flagInvalidUTF8
		d.cfg.Metrics.malformedLine(reasonInvalidUTF8)
	}
	if t.orig != nil {
		fl |= flagTimestampRange
		d.cfg.Metrics.malformedLine(reasonTimestampRange)
	}
	if d.kube.missing {
		fl |= flagK8sMetadataMissing
		d.counts.kubeMissing++
	}
	if fl != 0 {
		b = append(b, `,"flags":[`...)
		first := true
		for i, name := range flagNames {
			if fl&(1<<i) == 0 {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, '"')
			b = append(b, name...)
			b = append(b, '"')
		}
		b = append(b, ']')
		if fl&flagTruncated != 0 {
			d.cfg.Metrics.truncatedMessage()
		}
	}
	if invalid {
		b = append(b, `,"original_base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, msg)
		b = append(b, '"')
	}
	if t.orig != nil {
		b = append(b, `,"original_time":"`...)
		b, _ = record.AppendEscaped(b, t.orig)
		b = append(b, '"')
	}
	d.counts.records++
	return append(dst, record.Record{
		ID:   d.ids.At(start),
		Time: t.ns,
		Doc:  d.arena.commit(b),
		Meta: d.docMeta(f),
		At:   len(b),
	})
}

// docMeta returns the Meta of the records of format f: the document tail.
func (d *Decoder) docMeta(f format) *record.Meta {
	if m := d.metas[f]; m != nil {
		return m
	}
	m := &record.Meta{Doc: d.tail(f)}
	d.metas[f] = m
	return m
}

// Recycle says that no record that Decode or Flush returned so far is
// referenced any more (the caller stored copies, as the spool's Append
// does): the memory of their documents is reused for the next ones, and a
// decoder holds no document memory until its next record. Records' Metas
// are not affected (they are never reused).
func (d *Decoder) Recycle() { d.arena.recycle() }

// tail returns the constant end of every document of format f, from the
// "file" member of "log" to the closing brace, encoding it on first use.
func (d *Decoder) tail(f format) []byte {
	if t := d.tails[f]; t != nil {
		return t
	}
	m := d.meta
	b := []byte(`,"file":{"path":"`)
	b = appendEscapedString(b, d.src.Path)
	b = append(b, `"}}`...)

	if k := d.kubernetesMembers(); len(k) > 0 {
		b = append(b, `,"kubernetes":{`...)
		b = append(b, k...)
		b = append(b, '}')
	}

	runtime := m.Runtime
	switch {
	case f == formatDocker:
		runtime = "docker"
	case runtime == "" && f == formatCRI:
		runtime = "cri"
	}
	if m.ContainerID != "" || runtime != "" {
		b = append(b, `,"container":{`...)
		cf := true
		b = appendField(b, &cf, "id", m.ContainerID)
		b = appendField(b, &cf, "runtime", runtime)
		b = append(b, d.kube.container()...)
		b = append(b, '}')
	}
	if d.cfg.NodeName != "" {
		b = append(b, `,"host":{"name":"`...)
		b = appendEscapedString(b, d.cfg.NodeName)
		b = append(b, `"}`...)
	}
	b = append(b, `,"event":{"dataset":"kubernetes.container_logs"}}`...)
	d.tails[f] = b
	return b
}

// kubernetesMembers returns the members of the document's kubernetes object
// (without braces): the path's and the API's metadata.
func (d *Decoder) kubernetesMembers() []byte {
	var k []byte
	m := d.meta
	first := true
	k = appendField(k, &first, "namespace", m.Namespace)
	if m.PodName != "" || m.PodUID != "" {
		if !first {
			k = append(k, ',')
		}
		first = false
		k = append(k, `"pod":{`...)
		pf := true
		k = appendField(k, &pf, "name", m.PodName)
		k = appendField(k, &pf, "uid", m.PodUID)
		k = append(k, d.kube.pod()...)
		k = append(k, '}')
	}
	if m.ContainerName != "" || m.RestartCount >= 0 {
		if !first {
			k = append(k, ',')
		}
		k = append(k, `"container":{`...)
		cf := true
		k = appendField(k, &cf, "name", m.ContainerName)
		if m.RestartCount >= 0 {
			if !cf {
				k = append(k, ',')
			}
			k = append(k, `"restart_count":`...)
			k = strconv.AppendInt(k, int64(m.RestartCount), 10)
		}
		k = append(k, '}')
	}
	if km := d.kube.kubernetes(); len(km) > 0 {
		if len(k) == 0 {
			km = km[1:] // the members start with ','
		}
		k = append(k, km...)
	}
	return k
}

// appendField appends "name":"value" (escaped) to dst as a member of an
// object whose first member *first says is still to come; nothing when value
// is empty.
func appendField(dst []byte, first *bool, name, value string) []byte {
	if value == "" {
		return dst
	}
	if !*first {
		dst = append(dst, ',')
	}
	*first = false
	dst = append(dst, '"')
	dst = append(dst, name...)
	dst = append(dst, `":"`...)
	dst = appendEscapedString(dst, value)
	return append(dst, '"')
}
