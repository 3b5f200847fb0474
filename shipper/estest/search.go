package estest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"strings"
)

func pathMatch(pattern, name string) (bool, error) { return path.Match(pattern, name) }

// query is the supported subset of the query DSL: match_all, term, terms,
// ids, and bool with must/filter/should/must_not of those.
type query struct {
	kind   string // all, term, terms, ids, bool
	field  string
	values []any
	must   []*query
	should []*query
	not    []*query
}

func parseQuery(raw json.RawMessage) (*query, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return &query{kind: "all"}, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if len(m) != 1 {
		return nil, fmt.Errorf("[_na] query malformed, must start with start_object")
	}
	for k, v := range m {
		switch k {
		case "match_all":
			return &query{kind: "all"}, nil
		case "term", "match", "match_phrase":
			var f map[string]json.RawMessage
			if err := json.Unmarshal(v, &f); err != nil || len(f) != 1 {
				return nil, fmt.Errorf("[%s] query malformed", k)
			}
			for field, fv := range f {
				var val any
				if bytes.HasPrefix(bytes.TrimSpace(fv), []byte("{")) {
					var obj map[string]any
					if err := json.Unmarshal(fv, &obj); err != nil {
						return nil, err
					}
					val = obj["value"]
					if val == nil {
						val = obj["query"]
					}
				} else if err := json.Unmarshal(fv, &val); err != nil {
					return nil, err
				}
				return &query{kind: "term", field: field, values: []any{val}}, nil
			}
		case "terms":
			var f map[string][]any
			if err := json.Unmarshal(v, &f); err != nil || len(f) != 1 {
				return nil, fmt.Errorf("[terms] query malformed")
			}
			for field, vals := range f {
				return &query{kind: "terms", field: field, values: vals}, nil
			}
		case "ids":
			var f struct {
				Values []any `json:"values"`
			}
			if err := json.Unmarshal(v, &f); err != nil {
				return nil, err
			}
			return &query{kind: "terms", field: "_id", values: f.Values}, nil
		case "bool":
			var b map[string]json.RawMessage
			if err := json.Unmarshal(v, &b); err != nil {
				return nil, err
			}
			q := &query{kind: "bool"}
			for clause, cv := range b {
				var subs []json.RawMessage
				if bytes.HasPrefix(bytes.TrimSpace(cv), []byte("[")) {
					if err := json.Unmarshal(cv, &subs); err != nil {
						return nil, err
					}
				} else {
					subs = []json.RawMessage{cv}
				}
				for _, sv := range subs {
					sq, err := parseQuery(sv)
					if err != nil {
						return nil, err
					}
					switch clause {
					case "must", "filter":
						q.must = append(q.must, sq)
					case "should":
						q.should = append(q.should, sq)
					case "must_not":
						q.not = append(q.not, sq)
					}
				}
			}
			return q, nil
		default:
			return nil, fmt.Errorf("unknown query [%s]", k)
		}
	}
	return nil, fmt.Errorf("empty query")
}

func (q *query) match(id string, src map[string]any) bool {
	switch q.kind {
	case "all":
		return true
	case "term", "terms":
		var got []any
		if q.field == "_id" {
			got = []any{id}
		} else {
			got = lookup(src, strings.TrimSuffix(q.field, ".keyword"))
		}
		for _, g := range got {
			for _, w := range q.values {
				if scalarEqual(g, w) {
					return true
				}
			}
		}
		return false
	case "bool":
		for _, m := range q.must {
			if !m.match(id, src) {
				return false
			}
		}
		for _, m := range q.not {
			if m.match(id, src) {
				return false
			}
		}
		if len(q.should) > 0 && len(q.must) == 0 {
			for _, m := range q.should {
				if m.match(id, src) {
					return true
				}
			}
			return false
		}
		return true
	}
	return false
}

// lookup returns the values at a dotted path, flattening arrays and
// honouring dotted keys.
func lookup(v any, p string) []any {
	if p == "" {
		if arr, ok := v.([]any); ok {
			return arr
		}
		return []any{v}
	}
	switch x := v.(type) {
	case map[string]any:
		if val, ok := x[p]; ok {
			return lookup(val, "")
		}
		var out []any
		for i := 0; i < len(p); i++ {
			if p[i] == '.' {
				if val, ok := x[p[:i]]; ok {
					out = append(out, lookup(val, p[i+1:])...)
				}
			}
		}
		return out
	case []any:
		var out []any
		for _, e := range x {
			out = append(out, lookup(e, p)...)
		}
		return out
	}
	return nil
}

func scalarEqual(a, b any) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

type searchRequest struct {
	Query json.RawMessage `json:"query"`
	Size  *int            `json:"size"`
	From  int             `json:"from"`
}

func (s *Server) handleSearch(ex *exchange, expr string, count bool) {
	m := ex.r.Method
	if m != http.MethodGet && m != http.MethodPost {
		s.methodNotAllowed(ex, "GET, POST")
		return
	}
	body, ok := s.readBody(ex)
	if !ok {
		return
	}
	var req searchRequest
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			s.writeError(ex, http.StatusBadRequest, &esError{Type: "x_content_parse_exception", Reason: "[1:1] failed to parse search request: " + err.Error()})
			return
		}
	}
	q, err := parseQuery(req.Query)
	if err != nil {
		s.writeError(ex, http.StatusBadRequest, &esError{Type: "parsing_exception", Reason: err.Error()})
		return
	}
	if qs := ex.r.URL.Query().Get("q"); qs != "" {
		field, val, ok := strings.Cut(qs, ":")
		if ok {
			q = &query{kind: "term", field: field, values: []any{strings.Trim(val, `"`)}}
		}
	}
	size := 10
	if req.Size != nil {
		size = *req.Size
	}
	if v := ex.r.URL.Query().Get("size"); v != "" {
		size, _ = strconv.Atoi(v)
	}

	st := s.st
	st.mu.Lock()
	ixs, missing := st.resolve(expr)
	total := 0
	var hits []byte
	nhits := 0
	type7 := s.hasTypes()
	for _, ix := range ixs {
		if ix.docs == nil { // Discard mode
			if q.kind == "all" {
				total += ix.count
			}
			continue
		}
		ids := make([]string, 0, len(ix.docs))
		for id := range ix.docs {
			ids = append(ids, id)
		}
		sortDocs(ids, ix.docs)
		for _, id := range ids {
			d := ix.docs[id]
			if q.kind != "all" {
				var src map[string]any
				_ = json.Unmarshal(d.src, &src)
				if !q.match(id, src) {
					continue
				}
			}
			total++
			if count || total <= req.From || nhits >= size {
				continue
			}
			if nhits > 0 {
				hits = append(hits, ',')
			}
			nhits++
			hits = append(hits, `{"_index":`...)
			hits = appendString(hits, ix.name)
			if type7 {
				hits = append(hits, `,"_type":"_doc"`...)
			}
			hits = append(hits, `,"_id":`...)
			hits = appendString(hits, id)
			hits = append(hits, `,"_score":1.0,"_source":`...)
			hits = append(hits, d.src...)
			hits = append(hits, '}')
		}
	}
	nIdx := len(ixs)
	st.mu.Unlock()
	if missing != "" {
		s.writeError(ex, http.StatusNotFound, indexNotFound(missing))
		return
	}
	shards := []byte(`"_shards":{"total":`)
	shards = strconv.AppendInt(shards, int64(nIdx), 10)
	shards = append(shards, `,"successful":`...)
	shards = strconv.AppendInt(shards, int64(nIdx), 10)
	shards = append(shards, `,"skipped":0,"failed":0}`...)
	if count {
		b := []byte(`{"count":`)
		b = strconv.AppendInt(b, int64(total), 10)
		b = append(b, ',')
		b = append(b, shards...)
		s.writeJSON(ex, http.StatusOK, append(b, '}'))
		return
	}
	b := []byte(`{"took":1,"timed_out":false,`)
	b = append(b, shards...)
	b = append(b, `,"hits":{"total":{"value":`...)
	b = strconv.AppendInt(b, int64(total), 10)
	b = append(b, `,"relation":"eq"},"max_score":`...)
	if nhits > 0 {
		b = append(b, "1.0"...)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"hits":[`...)
	b = append(b, hits...)
	b = append(b, "]}}"...)
	s.writeJSON(ex, http.StatusOK, b)
}
