package parser

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"slices"
)

type dockerStatus uint8

const (
	dockerOK       dockerStatus = iota
	dockerFallback              // the fast path cannot tell; ask encoding/json
	dockerInvalid               // not a JSON object
	dockerNoLog                 // a JSON object without a "log" string
)

// parseDockerFast decodes the common docker json-file object: the string
// members "log", "stream" and "time" in any order, nothing else. msg, stream
// and ts point into b; msg is the body of the JSON string, still escaped when
// escaped is set. Anything unusual (other members such as "attrs", escapes in
// stream or time, values that are not strings, malformed JSON) returns
// dockerFallback.
func (d *Decoder) parseDockerFast(b []byte) (msg []byte, escaped, verbatim bool, stream, ts []byte, st dockerStatus) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false, false, nil, nil, dockerFallback
	}
	i++
	var haveLog bool
	for {
		i = skipWS(b, i)
		if i >= len(b) || b[i] != '"' {
			return nil, false, false, nil, nil, dockerFallback
		}
		end, esc, ok := scanString(b, i)
		if !ok || esc {
			return nil, false, false, nil, nil, dockerFallback
		}
		key := b[i+1 : end-1]
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return nil, false, false, nil, nil, dockerFallback
		}
		i = skipWS(b, i+1)
		if i >= len(b) || b[i] != '"' {
			return nil, false, false, nil, nil, dockerFallback
		}
		var verb bool
		if string(key) == "log" {
			end, esc, verb, ok = scanLogString(b, i)
		} else {
			end, esc, ok = scanString(b, i)
		}
		if !ok {
			return nil, false, false, nil, nil, dockerFallback
		}
		val := b[i+1 : end-1]
		switch string(key) {
		case "log":
			msg, escaped, verbatim = val, esc, verb
			haveLog = true
		case "stream":
			if esc {
				return nil, false, false, nil, nil, dockerFallback
			}
			stream = val
		case "time":
			if esc {
				return nil, false, false, nil, nil, dockerFallback
			}
			ts = val
		default:
			return nil, false, false, nil, nil, dockerFallback
		}
		i = skipWS(b, end)
		if i >= len(b) {
			return nil, false, false, nil, nil, dockerFallback
		}
		if b[i] == ',' {
			i++
			continue
		}
		if b[i] != '}' {
			return nil, false, false, nil, nil, dockerFallback
		}
		if skipWS(b, i+1) != len(b) {
			return nil, false, false, nil, nil, dockerFallback
		}
		if !haveLog {
			return nil, false, false, nil, nil, dockerNoLog
		}
		return msg, escaped, verbatim, stream, ts, dockerOK
	}
}

// scanLogString is scanString for the "log" value of a docker line; it also
// reports verbatim when the string's body is ASCII, holds only the escapes
// \" \\ \/ \b \f \n \r \t and ends in the escape \n: then verbatimBody
// accepts it and returns it without its final \n, and the caller skips that
// second pass over the message (the common line). verbatim false says
// nothing: verbatimBody decides. The bytes OR-ed to find non-ASCII may
// include some past the closing quote: a non-ASCII byte there only costs
// the second pass.
func scanLogString(b []byte, i int) (end int, escaped, verbatim, ok bool) {
	i++
	var high uint64 // the bytes read OR-ed: is any >= 0x80?
	simple := true  // every escape is one of the two-byte ones
	last := -1      // where the last escape starts
	for {
		for i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			high |= x
			if m := specialMask8(x); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				goto special
			}
			i += 8
		}
		for i < len(b) && b[i] != '"' && b[i] != '\\' && b[i] >= 0x20 {
			high |= uint64(b[i])
			i++
		}
		if i >= len(b) {
			return 0, false, false, false
		}
	special:
		switch c := b[i]; {
		case c == '"':
			verbatim = simple && last >= 0 && last == i-2 && b[i-1] == 'n' && high&msb == 0
			return i + 1, escaped, verbatim, true
		case c == '\\':
			escaped = true
			if i+1 < len(b) {
				switch b[i+1] {
				case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				default:
					simple = false
				}
			}
			last = i
			i += 2
		default: // a control character
			return 0, false, false, false
		}
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// dockerLine is the json-file object as encoding/json decodes it.
type dockerLine struct {
	Log    *string           `json:"log"`
	Stream string            `json:"stream"`
	Time   string            `json:"time"`
	Attrs  map[string]string `json:"attrs"`
}

// parseDockerSlow decodes b with encoding/json. Attributes ("attrs", written
// by docker's --log-opt labels/env) are encoded into d.extra as
// ,"docker":{"attrs":{...}} with sorted keys.
func (d *Decoder) parseDockerSlow(b []byte) (msg, stream, ts []byte, st dockerStatus) {
	var l dockerLine
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, nil, nil, dockerInvalid
	}
	if l.Log == nil {
		return nil, nil, nil, dockerNoLog
	}
	d.scratch = append(d.scratch[:0], *l.Log...)
	d.encodeAttrs(l.Attrs)
	return d.scratch, []byte(l.Stream), []byte(l.Time), dockerOK
}

// encodeAttrs encodes docker's "attrs" into d.extra as
// ,"docker":{"attrs":{...}} with sorted keys (nothing when there are none).
func (d *Decoder) encodeAttrs(attrs map[string]string) {
	d.extra = d.extra[:0]
	if len(attrs) == 0 {
		return
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e := append(d.extra, `,"docker":{"attrs":{`...)
	for n, k := range keys {
		if n > 0 {
			e = append(e, ',')
		}
		e = append(e, '"')
		e = appendEscapedString(e, k)
		e = append(e, `":"`...)
		e = appendEscapedString(e, attrs[k])
		e = append(e, '"')
	}
	d.extra = append(e, `}}`...)
}

// dockerTail recovers "stream", "time" and "attrs" of a docker line the
// tailer cut, from the last bytes of the line (Line.Tail): docker writes
// {"log":"...","stream":"...",["attrs":{...},]"time":"..."}, so what follows
// the end of the "log" string is a small JSON object once a '{' is put in
// front of it. complete says whether the "log" value ended in "\n" (the
// end of a message, not one of docker's 16 KiB splits). ok is false when the
// tail does not hold them.
func (d *Decoder) dockerTail(tail []byte) (stream []byte, t timestamp, complete, ok bool) {
	const sep = `","stream":"`
	i := bytes.LastIndex(tail, []byte(sep))
	if i < 0 || escapedAt(tail, i) {
		return nil, t, false, false // none, or inside the escaped message
	}
	var rest struct {
		Stream string            `json:"stream"`
		Time   string            `json:"time"`
		Attrs  map[string]string `json:"attrs"`
	}
	obj := append(append(d.scratchTail[:0], '{'), tail[i+2:]...)
	d.scratchTail = obj
	if err := json.Unmarshal(obj, &rest); err != nil || rest.Stream == "" {
		return nil, t, false, false
	}
	t, ok = d.ts.parse([]byte(rest.Time))
	if !ok {
		return nil, t, false, false
	}
	d.readTimeIfOutOfRange(&t)
	d.encodeAttrs(rest.Attrs)
	head := tail[:i]
	complete = bytes.HasSuffix(head, []byte(`\n`)) && !escapedAt(head, len(head)-2)
	return []byte(rest.Stream), t, complete, true
}

// escapedAt reports whether b[i] is preceded by an odd number of
// backslashes (it is escaped inside a JSON string).
func escapedAt(b []byte, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}
