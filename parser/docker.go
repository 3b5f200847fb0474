package parser

import (
	"encoding/json"
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
func (d *Decoder) parseDockerFast(b []byte) (msg []byte, escaped bool, stream, ts []byte, st dockerStatus) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false, nil, nil, dockerFallback
	}
	i++
	var haveLog bool
	for {
		i = skipWS(b, i)
		if i >= len(b) || b[i] != '"' {
			return nil, false, nil, nil, dockerFallback
		}
		end, esc, ok := scanString(b, i)
		if !ok || esc {
			return nil, false, nil, nil, dockerFallback
		}
		key := b[i+1 : end-1]
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return nil, false, nil, nil, dockerFallback
		}
		i = skipWS(b, i+1)
		if i >= len(b) || b[i] != '"' {
			return nil, false, nil, nil, dockerFallback
		}
		end, esc, ok = scanString(b, i)
		if !ok {
			return nil, false, nil, nil, dockerFallback
		}
		val := b[i+1 : end-1]
		switch string(key) {
		case "log":
			msg, escaped = val, esc
			haveLog = true
		case "stream":
			if esc {
				return nil, false, nil, nil, dockerFallback
			}
			stream = val
		case "time":
			if esc {
				return nil, false, nil, nil, dockerFallback
			}
			ts = val
		default:
			return nil, false, nil, nil, dockerFallback
		}
		i = skipWS(b, end)
		if i >= len(b) {
			return nil, false, nil, nil, dockerFallback
		}
		if b[i] == ',' {
			i++
			continue
		}
		if b[i] != '}' {
			return nil, false, nil, nil, dockerFallback
		}
		if skipWS(b, i+1) != len(b) {
			return nil, false, nil, nil, dockerFallback
		}
		if !haveLog {
			return nil, false, nil, nil, dockerNoLog
		}
		return msg, escaped, stream, ts, dockerOK
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
	if len(l.Attrs) > 0 {
		keys := make([]string, 0, len(l.Attrs))
		for k := range l.Attrs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		e := append(d.extra[:0], `,"docker":{"attrs":{`...)
		for n, k := range keys {
			if n > 0 {
				e = append(e, ',')
			}
			e = append(e, '"')
			e = appendEscapedString(e, k)
			e = append(e, `":"`...)
			e = appendEscapedString(e, l.Attrs[k])
			e = append(e, '"')
		}
		d.extra = append(e, `}}`...)
	}
	return d.scratch, []byte(l.Stream), []byte(l.Time), dockerOK
}
