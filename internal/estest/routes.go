package estest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
)

func (s *Server) buildInfo() []byte {
	o := s.opts
	b := []byte(`{"name":"estest-node","cluster_name":`)
	b = appendString(b, o.ClusterName)
	b = append(b, `,"cluster_uuid":`...)
	b = appendString(b, s.uuid)
	b = append(b, `,"version":{`...)
	if o.Flavor.IsOpenSearch() {
		b = append(b, `"distribution":"opensearch","number":`...)
		b = appendString(b, o.Version)
		b = append(b, `,"build_type":"tar","build_hash":"0000000000000000000000000000000000000000","build_date":"2024-01-01T00:00:00.000000000Z","build_snapshot":false,"lucene_version":`...)
		b = appendString(b, o.Flavor.luceneVersion())
		b = append(b, `,"minimum_wire_compatibility_version":"7.10.0","minimum_index_compatibility_version":"7.0.0"},"tagline":"The OpenSearch Project: https://opensearch.org/"}`...)
		return b
	}
	minWire, minIndex := "7.17.0", "7.0.0"
	if s.major < 8 {
		minWire, minIndex = "6.8.0", "6.0.0-beta1"
	}
	b = append(b, `"number":`...)
	b = appendString(b, o.Version)
	b = append(b, `,"build_flavor":"default","build_type":"docker","build_hash":"0000000000000000000000000000000000000000","build_date":"2024-01-01T00:00:00.000000000Z","build_snapshot":false,"lucene_version":`...)
	b = appendString(b, o.Flavor.luceneVersion())
	b = append(b, `,"minimum_wire_compatibility_version":`...)
	b = appendString(b, minWire)
	b = append(b, `,"minimum_index_compatibility_version":`...)
	b = appendString(b, minIndex)
	b = append(b, `},"tagline":"You Know, for Search"}`...)
	return b
}

// route dispatches a request that passed authentication and pre-faults.
func (s *Server) route(ex *exchange) {
	ex.processed = true
	r := ex.r
	p := strings.Trim(r.URL.Path, "/")
	var segs []string
	if p != "" {
		segs = strings.Split(p, "/")
	}
	m := r.Method
	switch {
	case len(segs) == 0:
		if m == http.MethodGet || m == http.MethodHead {
			s.writeJSON(ex, http.StatusOK, s.infoBody)
			return
		}
		s.methodNotAllowed(ex, "GET, HEAD")
	case last(segs) == "_bulk" && (len(segs) <= 2 || len(segs) == 3 && s.hasTypes()):
		if m != http.MethodPost && m != http.MethodPut {
			s.methodNotAllowed(ex, "POST, PUT")
			return
		}
		idx := ""
		if len(segs) >= 2 {
			idx = segs[0]
		}
		if !s.checkParams(ex, bulkParams) {
			return
		}
		s.handleBulk(ex, idx)
	case segs[0] == "_index_template" && len(segs) <= 2:
		s.handleTemplate(ex, segs[1:])
	default:
		s.noHandler(ex)
	}
}

func last(segs []string) string { return segs[len(segs)-1] }

func (s *Server) noHandler(ex *exchange) {
	reason := "no handler found for uri [" + requestURI(ex.r) + "] and method [" + ex.r.Method + "]"
	if s.opts.Flavor.IsOpenSearch() || s.major < 8 {
		s.writeJSON(ex, http.StatusBadRequest, simpleErrorBody(reason, 0))
		return
	}
	s.writeError(ex, http.StatusBadRequest, illegalArgument(reason))
}

func (s *Server) methodNotAllowed(ex *exchange, allowed string) {
	ex.w.Header().Set("Allow", allowed)
	s.writeJSON(ex, http.StatusMethodNotAllowed, simpleErrorBody("Incorrect HTTP method for uri ["+requestURI(ex.r)+"] and method ["+ex.r.Method+"], allowed: ["+allowed+"]", http.StatusMethodNotAllowed))
}

var acknowledged = []byte(`{"acknowledged":true}`)

// --- index templates ---

// handleTemplate serves PUT (and POST) /_index_template/{name}, the one
// template call the shipper makes.
func (s *Server) handleTemplate(ex *exchange, rest []string) {
	st := s.st
	if len(rest) != 1 || ex.r.Method != http.MethodPut && ex.r.Method != http.MethodPost {
		s.methodNotAllowed(ex, "PUT, POST")
		return
	}
	name := rest[0]
	body, ok := s.readBody(ex)
	if !ok {
		return
	}
	t, e := parseTemplate(name, body)
	if e == nil {
		e = s.checkFieldTypes(t.mappings)
	}
	if e != nil {
		s.writeError(ex, http.StatusBadRequest, e)
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(t.composedOf) > 0 {
		s.writeError(ex, http.StatusBadRequest, illegalArgument("index template ["+name+"] specifies component templates "+fmtList(t.composedOf)+" that do not exist"))
		return
	}
	if ex.r.URL.Query().Get("create") == "true" {
		if _, ok := st.templates[name]; ok {
			s.writeError(ex, http.StatusBadRequest, illegalArgument("index template ["+name+"] already exists"))
			return
		}
	}
	for _, o := range st.templates {
		if o.name == name || o.priority != t.priority {
			continue
		}
		if overlaps(o.patterns, t.patterns) {
			s.writeError(ex, http.StatusBadRequest, illegalArgument("index template ["+name+"] has index patterns "+fmtList(t.patterns)+
				" matching patterns from existing templates ["+o.name+"] with patterns ("+o.name+" => "+fmtList(o.patterns)+") that have the same priority ["+
				strconv.FormatInt(t.priority, 10)+"], multiple index templates may not match during index creation, please use a different priority"))
			return
		}
	}
	st.templates[name] = t
	s.writeJSON(ex, http.StatusOK, acknowledged)
}

func fmtList(xs []string) string { return "[" + strings.Join(xs, ", ") + "]" }

func globMatch(pattern, name string) bool {
	ok, _ := path.Match(pattern, name)
	return ok
}

// overlaps approximates Elasticsearch's automaton intersection of index
// patterns: two pattern lists overlap when a pattern of one matches a
// pattern of the other taken literally.
func overlaps(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y || globMatch(x, y) || globMatch(y, x) {
				return true
			}
		}
	}
	return false
}

func parseTemplate(name string, body []byte) (*template, *esError) {
	var raw struct {
		IndexPatterns json.RawMessage `json:"index_patterns"`
		Priority      *int64          `json:"priority"`
		DataStream    json.RawMessage `json:"data_stream"`
		Template      struct {
			Mappings json.RawMessage `json:"mappings"`
			Settings json.RawMessage `json:"settings"`
		} `json:"template"`
		ComposedOf []string `json:"composed_of"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, &esError{Type: "x_content_parse_exception", Reason: "[1:1] [index_template] failed to parse: " + err.Error()}
	}
	var patterns []string
	if len(raw.IndexPatterns) > 0 {
		if raw.IndexPatterns[0] == '"' {
			var p string
			_ = json.Unmarshal(raw.IndexPatterns, &p)
			patterns = strings.Split(p, ",")
		} else if err := json.Unmarshal(raw.IndexPatterns, &patterns); err != nil {
			return nil, &esError{Type: "x_content_parse_exception", Reason: "[1:1] [index_template] failed to parse field [index_patterns]"}
		}
	}
	if len(patterns) == 0 {
		return nil, &esError{Type: "action_request_validation_exception", Reason: "Validation Failed: 1: index patterns are missing;"}
	}
	t := &template{name: name, patterns: patterns, raw: normalizeTemplate(body, raw.ComposedOf == nil), composedOf: raw.ComposedOf}
	if raw.Priority != nil {
		t.priority = *raw.Priority
	}
	t.dataStream = len(raw.DataStream) > 0 && string(raw.DataStream) != "null"
	t.mappings = raw.Template.Mappings
	if !isValidMappings(t.mappings) {
		return nil, &esError{Type: "mapper_parsing_exception", Reason: "Failed to parse mapping: Root mapping definition has unsupported parameters"}
	}
	return t, nil
}

// checkFieldTypes refuses field types the imitated product does not have, as
// it does: flattened is Elasticsearch's (7.3+), flat_object OpenSearch's
// (2.7+).
func (s *Server) checkFieldTypes(raw json.RawMessage) *esError {
	var walk func(prefix string, props map[string]json.RawMessage) *esError
	walk = func(prefix string, props map[string]json.RawMessage) *esError {
		for name, p := range props {
			var f struct {
				Type       string                     `json:"type"`
				Properties map[string]json.RawMessage `json:"properties"`
			}
			if json.Unmarshal(p, &f) != nil {
				continue
			}
			os := s.opts.Flavor.IsOpenSearch()
			if f.Type == "flattened" && os || f.Type == "flat_object" && (!os || s.major < 2 || s.major == 2 && s.minor < 7) {
				return &esError{Type: "mapper_parsing_exception", Reason: "Failed to parse mapping: No handler for type [" + f.Type + "] declared on field [" + prefix + name + "]"}
			}
			if e := walk(prefix+name+".", f.Properties); e != nil {
				return e
			}
		}
		return nil
	}
	var top struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &top) != nil {
		return nil
	}
	return walk("", top.Properties)
}

func isValidMappings(raw json.RawMessage) bool {
	if len(raw) == 0 || string(raw) == "null" {
		return true
	}
	return newMapping().addExplicit(raw) == nil
}

// normalizeTemplate adds the defaults Elasticsearch shows on GET.
func normalizeTemplate(body []byte, addComposed bool) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return json.RawMessage(bytes.Clone(body))
	}
	if addComposed {
		m["composed_of"] = json.RawMessage(`[]`)
	}
	out, _ := json.Marshal(m)
	return out
}

// sortDocs orders documents by sequence number within an index.
func sortDocs(ids []string, docs map[string]*doc) {
	sort.Slice(ids, func(i, j int) bool { return docs[ids[i]].seq < docs[ids[j]].seq })
}

var commonParams = map[string]bool{"pretty": true, "human": true, "error_trace": true, "filter_path": true, "source": true, "source_content_type": true}

var bulkParams = map[string]bool{
	"refresh": true, "wait_for_active_shards": true, "timeout": true, "pipeline": true, "routing": true,
	"require_alias": true, "require_data_stream": true, "list_executed_pipelines": true, "_source": true,
	"_source_includes": true, "_source_excludes": true, "include_source_on_error": true,
}

// checkParams refuses unknown query parameters like Elasticsearch does.
func (s *Server) checkParams(ex *exchange, allowed map[string]bool) bool {
	var bad []string
	for k := range ex.r.URL.Query() {
		if !allowed[k] && !commonParams[k] && !(k == "type" && s.hasTypes()) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return true
	}
	sort.Strings(bad)
	what := "parameter: [" + bad[0] + "]"
	if len(bad) > 1 {
		what = "parameters: [" + strings.Join(bad, ", ") + "]"
	}
	s.writeError(ex, http.StatusBadRequest, illegalArgument("request ["+ex.r.URL.Path+"] contains unrecognized "+what))
	return false
}
