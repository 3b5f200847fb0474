package estest

import (
	"bytes"
	"encoding/json"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// applyResponseParams applies filter_path and pretty to a JSON body.
func applyResponseParams(q url.Values, body []byte) []byte {
	if fp := q.Get("filter_path"); fp != "" {
		if out, ok := filterPath(body, fp); ok {
			body = out
		}
	}
	if v, ok := q["pretty"]; ok && (v[0] == "" || v[0] == "true") {
		var buf bytes.Buffer
		if json.Indent(&buf, body, "", "  ") == nil {
			buf.WriteByte('\n')
			body = buf.Bytes()
		}
	}
	return body
}

// filterPath keeps the parts of body selected by a filter_path expression
// (comma-separated dotted paths, '*' within a segment, '**' for any depth).
// Arrays are transparent, empty objects are dropped, and a body with nothing
// selected becomes {}. Exclusions ("-path") are not supported and make the
// filter a no-op (ok false).
func filterPath(body []byte, expr string) ([]byte, bool) {
	var pats [][]string
	for _, p := range strings.Split(expr, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if strings.HasPrefix(p, "-") {
			return nil, false
		}
		pats = append(pats, strings.Split(p, "."))
	}
	if len(pats) == 0 {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	out, kept, err := filterValue(dec, pats, nil)
	if err != nil {
		return nil, false
	}
	if !kept {
		return []byte("{}"), true
	}
	return out, true
}

// filterValue reads one value and appends what pats select of it. A nil
// pats slice with whole set means "keep everything".
func filterValue(dec *json.Decoder, pats [][]string, b []byte) ([]byte, bool, error) {
	whole := false
	for _, p := range pats {
		if len(p) == 0 || len(p) == 1 && p[0] == "**" {
			whole = true
		}
	}
	tok, err := dec.Token()
	if err != nil {
		return b, false, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			start := len(b)
			b = append(b, '{')
			n := 0
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return b, false, err
				}
				key := kt.(string)
				var sub [][]string
				if whole {
					sub = [][]string{{}}
				} else {
					sub = advance(pats, key)
				}
				mark := len(b)
				if n > 0 {
					b = append(b, ',')
				}
				b = appendString(b, key)
				b = append(b, ':')
				var kept bool
				b, kept, err = filterValue(dec, sub, b)
				if err != nil {
					return b, false, err
				}
				if kept {
					n++
				} else {
					b = b[:mark]
				}
			}
			if _, err := dec.Token(); err != nil {
				return b, false, err
			}
			if n == 0 && !whole {
				return b[:start], false, nil
			}
			return append(b, '}'), true, nil
		case '[':
			start := len(b)
			b = append(b, '[')
			n := 0
			for dec.More() {
				mark := len(b)
				if n > 0 {
					b = append(b, ',')
				}
				var kept bool
				var err error
				b, kept, err = filterValue(dec, pats, b)
				if err != nil {
					return b, false, err
				}
				if kept {
					n++
				} else {
					b = b[:mark]
				}
			}
			if _, err := dec.Token(); err != nil {
				return b, false, err
			}
			if n == 0 && !whole {
				return b[:start], false, nil
			}
			return append(b, ']'), true, nil
		}
	}
	if !whole {
		return b, false, nil
	}
	switch v := tok.(type) {
	case string:
		b = appendString(b, v)
	case json.Number:
		b = append(b, v...)
	case bool:
		b = strconv.AppendBool(b, v)
	case nil:
		b = append(b, "null"...)
	}
	return b, true, nil
}

// advance returns the patterns that remain after matching key.
func advance(pats [][]string, key string) [][]string {
	var out [][]string
	for _, p := range pats {
		if len(p) == 0 {
			continue
		}
		if p[0] == "**" {
			out = append(out, p) // ** keeps matching deeper
			if len(p) > 1 {
				if ok, _ := path.Match(p[1], key); ok {
					out = append(out, p[2:])
				}
			}
			continue
		}
		if ok, _ := path.Match(p[0], key); ok {
			out = append(out, p[1:])
		}
	}
	return out
}
