package estest

import (
	"bytes"
	"encoding/json"
	"net/http"
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
	case segs[0] == "_component_template" && len(segs) <= 2:
		s.handleComponentTemplate(ex, segs[1:])
	case segs[0] == "_ingest" && len(segs) >= 2 && len(segs) <= 3 && segs[1] == "pipeline":
		id := ""
		if len(segs) == 3 {
			id = segs[2]
		}
		s.handlePipeline(ex, id)
	case segs[0] == "_data_stream" && len(segs) <= 2:
		s.handleDataStream(ex, segs[1:])
	case segs[0] == "_cluster" && len(segs) >= 2 && segs[1] == "health":
		s.handleHealth(ex)
	case last(segs) == "_count" && len(segs) <= 2:
		s.handleSearch(ex, prefixIndex(segs), true)
	case last(segs) == "_search" && len(segs) <= 2:
		s.handleSearch(ex, prefixIndex(segs), false)
	case last(segs) == "_refresh" && len(segs) <= 2:
		if m != http.MethodPost && m != http.MethodGet {
			s.methodNotAllowed(ex, "POST, GET")
			return
		}
		s.handleRefresh(ex, prefixIndex(segs))
	case len(segs) == 3 && segs[1] == "_doc" && (m == http.MethodGet || m == http.MethodHead):
		s.handleGetDoc(ex, segs[0], segs[2])
	case len(segs) == 1 && !strings.HasPrefix(segs[0], "_"):
		s.handleIndex(ex, segs[0])
	default:
		s.noHandler(ex)
	}
}

func last(segs []string) string { return segs[len(segs)-1] }

func prefixIndex(segs []string) string {
	if len(segs) == 2 {
		return segs[0]
	}
	return ""
}

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

func (s *Server) handleTemplate(ex *exchange, rest []string) {
	m := ex.r.Method
	st := s.st
	if len(rest) == 0 {
		if m != http.MethodGet {
			s.methodNotAllowed(ex, "GET")
			return
		}
		st.mu.Lock()
		body := st.templatesJSON(func(string) bool { return true })
		st.mu.Unlock()
		s.writeJSON(ex, http.StatusOK, body)
		return
	}
	name := rest[0]
	switch m {
	case http.MethodGet, http.MethodHead:
		st.mu.Lock()
		var found bool
		body := st.templatesJSON(func(n string) bool {
			ok := n == name || strings.ContainsAny(name, "*") && globMatch(name, n)
			found = found || ok
			return ok
		})
		st.mu.Unlock()
		if !found {
			s.writeError(ex, http.StatusNotFound, &esError{Type: "resource_not_found_exception", Reason: "index template matching [" + name + "] not found"})
			return
		}
		s.writeJSON(ex, http.StatusOK, body)
	case http.MethodPut, http.MethodPost:
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
		var missing []string
		for _, c := range t.composedOf {
			if _, ok := st.components[c]; !ok {
				missing = append(missing, c)
			}
		}
		if len(missing) > 0 {
			s.writeError(ex, http.StatusBadRequest, illegalArgument("index template ["+name+"] specifies component templates "+fmtList(missing)+" that do not exist"))
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
	case http.MethodDelete:
		st.mu.Lock()
		defer st.mu.Unlock()
		if _, ok := st.templates[name]; !ok {
			s.writeError(ex, http.StatusNotFound, &esError{Type: "resource_not_found_exception", Reason: "index_template matching [" + name + "] not found"})
			return
		}
		for _, ds := range st.dataStreams {
			if ds.template == name {
				s.writeError(ex, http.StatusBadRequest, illegalArgument("unable to remove composable templates ["+name+"] as they are in use by a data streams ["+ds.name+"]"))
				return
			}
		}
		delete(st.templates, name)
		s.writeJSON(ex, http.StatusOK, acknowledged)
	default:
		s.methodNotAllowed(ex, "GET, HEAD, PUT, POST, DELETE")
	}
}

func fmtList(xs []string) string { return "[" + strings.Join(xs, ", ") + "]" }

func globMatch(pattern, name string) bool {
	ok, _ := pathMatch(pattern, name)
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
	t.settings = raw.Template.Settings
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

func (st *store) templatesJSON(keep func(string) bool) []byte {
	b := []byte(`{"index_templates":[`)
	first := true
	for _, name := range sortedKeys(st.templates) {
		if !keep(name) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, `{"name":`...)
		b = appendString(b, name)
		b = append(b, `,"index_template":`...)
		b = append(b, st.templates[name].raw...)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// --- data streams ---

func (s *Server) handleDataStream(ex *exchange, rest []string) {
	st := s.st
	m := ex.r.Method
	name := ""
	if len(rest) == 1 {
		name = rest[0]
	}
	switch m {
	case http.MethodGet:
		st.mu.Lock()
		defer st.mu.Unlock()
		var list []*dataStream
		for _, n := range sortedKeys(st.dataStreams) {
			if name == "" || name == "*" || name == "_all" || n == name || globMatch(name, n) {
				list = append(list, st.dataStreams[n])
			}
		}
		if name != "" && !strings.Contains(name, "*") && name != "_all" && len(list) == 0 {
			s.writeError(ex, http.StatusNotFound, indexNotFound(name))
			return
		}
		b := []byte(`{"data_streams":[`)
		for i, ds := range list {
			if i > 0 {
				b = append(b, ',')
			}
			b = ds.appendJSON(b)
		}
		b = append(b, "]}"...)
		s.writeJSON(ex, http.StatusOK, b)
	case http.MethodPut:
		if name == "" {
			s.methodNotAllowed(ex, "GET")
			return
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		if _, ok := st.dataStreams[name]; ok {
			s.writeError(ex, http.StatusBadRequest, &esError{Type: "resource_already_exists_exception", Reason: "data_stream [" + name + "] already exists"})
			return
		}
		if e := validIndexName(name); e != nil {
			s.writeError(ex, http.StatusBadRequest, e)
			return
		}
		if ix, ok := st.indices[name]; ok {
			s.writeError(ex, http.StatusBadRequest, &esError{Type: "resource_already_exists_exception", Reason: "index [" + name + "/" + ix.uuid + "] already exists",
				Extra: []kv{{"index_uuid", ix.uuid}, {"index", name}}})
			return
		}
		t := st.matchTemplate(name)
		if t == nil || !t.dataStream {
			s.writeError(ex, http.StatusBadRequest, illegalArgument("no matching index template found for data stream ["+name+"]"))
			return
		}
		if _, err := st.createDataStream(name, t); err != nil {
			s.writeError(ex, http.StatusBadRequest, &esError{Type: "mapper_parsing_exception", Reason: err.Error()})
			return
		}
		s.writeJSON(ex, http.StatusOK, acknowledged)
	case http.MethodDelete:
		st.mu.Lock()
		defer st.mu.Unlock()
		ds, ok := st.dataStreams[name]
		if !ok {
			s.writeError(ex, http.StatusNotFound, indexNotFound(name))
			return
		}
		for _, ix := range ds.indices {
			delete(st.indices, ix.name)
		}
		delete(st.dataStreams, name)
		s.writeJSON(ex, http.StatusOK, acknowledged)
	default:
		s.methodNotAllowed(ex, "GET, PUT, DELETE")
	}
}

func (ds *dataStream) appendJSON(b []byte) []byte {
	b = append(b, `{"name":`...)
	b = appendString(b, ds.name)
	b = append(b, `,"timestamp_field":{"name":"@timestamp"},"indices":[`...)
	for i, ix := range ds.indices {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"index_name":`...)
		b = appendString(b, ix.name)
		b = append(b, `,"index_uuid":`...)
		b = appendString(b, ix.uuid)
		b = append(b, '}')
	}
	b = append(b, `],"generation":`...)
	b = strconv.AppendInt(b, int64(ds.generation), 10)
	b = append(b, `,"status":"GREEN","template":`...)
	b = appendString(b, ds.template)
	return append(b, `,"hidden":false,"system":false,"allow_custom_routing":false,"replicated":false}`...)
}

// --- indices ---

func (s *Server) handleIndex(ex *exchange, name string) {
	st := s.st
	switch ex.r.Method {
	case http.MethodPut:
		body, ok := s.readBody(ex)
		if !ok {
			return
		}
		var req struct {
			Mappings json.RawMessage `json:"mappings"`
			Settings json.RawMessage `json:"settings"`
		}
		if len(bytes.TrimSpace(body)) > 0 {
			if err := json.Unmarshal(body, &req); err != nil {
				s.writeError(ex, http.StatusBadRequest, &esError{Type: "x_content_parse_exception", Reason: "[1:1] failed to parse: " + err.Error()})
				return
			}
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		if e := validIndexName(name); e != nil {
			s.writeError(ex, http.StatusBadRequest, e)
			return
		}
		if ix, ok := st.indices[name]; ok {
			s.writeError(ex, http.StatusBadRequest, &esError{Type: "resource_already_exists_exception", Reason: "index [" + name + "/" + ix.uuid + "] already exists",
				Extra: []kv{{"index_uuid", ix.uuid}, {"index", name}}})
			return
		}
		if _, ok := st.dataStreams[name]; ok {
			s.writeError(ex, http.StatusBadRequest, &esError{Type: "resource_already_exists_exception", Reason: "data stream [" + name + "] already exists"})
			return
		}
		t := st.matchTemplate(name)
		if t != nil && t.dataStream {
			s.writeError(ex, http.StatusBadRequest, illegalArgument("cannot create index with name ["+name+"], because it matches with template ["+t.name+"] that creates data streams only, use create data stream api instead"))
			return
		}
		if _, err := st.newIndex(name, t, req.Mappings); err != nil {
			s.writeError(ex, http.StatusBadRequest, &esError{Type: "mapper_parsing_exception", Reason: "Failed to parse mapping: " + err.Error()})
			return
		}
		b := []byte(`{"acknowledged":true,"shards_acknowledged":true,"index":`)
		b = appendString(b, name)
		s.writeJSON(ex, http.StatusOK, append(b, '}'))
	case http.MethodGet, http.MethodHead:
		st.mu.Lock()
		ixs, missing := st.resolve(name)
		var b []byte
		if missing == "" {
			b = []byte{'{'}
			for i, ix := range ixs {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendString(b, ix.name)
				b = append(b, `:{"aliases":{},"mappings":`...)
				b = ix.mapping.appendJSON(b)
				b = append(b, `,"settings":{"index":{"number_of_shards":"1","number_of_replicas":"1","uuid":`...)
				b = appendString(b, ix.uuid)
				b = append(b, `,"provided_name":`...)
				b = appendString(b, ix.name)
				b = append(b, `,"creation_date":`...)
				b = appendString(b, strconv.FormatInt(ix.created.UnixMilli(), 10))
				b = append(b, "}}}"...)
			}
			b = append(b, '}')
		}
		st.mu.Unlock()
		if missing != "" {
			s.writeError(ex, http.StatusNotFound, indexNotFound(missing))
			return
		}
		s.writeJSON(ex, http.StatusOK, b)
	case http.MethodDelete:
		st.mu.Lock()
		defer st.mu.Unlock()
		ix, ok := st.indices[name]
		if !ok {
			s.writeError(ex, http.StatusNotFound, indexNotFound(name))
			return
		}
		if ix.dataStream != "" {
			ds := st.dataStreams[ix.dataStream]
			if ds != nil && ds.writeIndex() == ix {
				s.writeError(ex, http.StatusBadRequest, illegalArgument("index ["+ix.name+"] is the write index for data stream ["+ds.name+"] and cannot be deleted"))
				return
			}
		}
		delete(st.indices, name)
		s.writeJSON(ex, http.StatusOK, acknowledged)
	default:
		s.methodNotAllowed(ex, "GET, HEAD, PUT, DELETE")
	}
}

func (m *mapping) appendJSON(b []byte) []byte {
	// Flat rendering as nested properties.
	type node struct {
		t        fieldType
		children map[string]*node
	}
	root := &node{children: map[string]*node{}}
	for _, p := range sortedKeys(m.fields) {
		parts := strings.Split(p, ".")
		n := root
		for _, part := range parts {
			c, ok := n.children[part]
			if !ok {
				c = &node{t: ftObject, children: map[string]*node{}}
				n.children[part] = c
			}
			n = c
		}
		n.t = m.fields[p]
	}
	var render func(b []byte, n *node) []byte
	render = func(b []byte, n *node) []byte {
		b = append(b, `{"properties":{`...)
		for i, k := range sortedKeys(n.children) {
			if i > 0 {
				b = append(b, ',')
			}
			c := n.children[k]
			b = appendString(b, k)
			b = append(b, ':')
			switch c.t {
			case ftObject:
				b = render(b, c)
			case ftText:
				b = append(b, `{"type":"text","fields":{"keyword":{"type":"keyword","ignore_above":256}}}`...)
			case ftOther:
				b = append(b, `{"type":"object","enabled":false}`...)
			default:
				b = append(b, `{"type":"`...)
				b = append(b, c.t.String()...)
				b = append(b, `"}`...)
			}
		}
		return append(b, "}}"...)
	}
	if len(root.children) == 0 {
		return append(b, "{}"...)
	}
	return render(b, root)
}

func (s *Server) handleGetDoc(ex *exchange, indexName, id string) {
	st := s.st
	st.mu.Lock()
	ixs, missing := st.resolve(indexName)
	var found *index
	var d *doc
	var version int64
	for _, ix := range ixs {
		if v, dd, ok := ix.get(id); ok {
			found, d, version = ix, dd, v
			break
		}
	}
	st.mu.Unlock()
	if missing != "" {
		s.writeError(ex, http.StatusNotFound, indexNotFound(missing))
		return
	}
	b := []byte(`{"_index":`)
	if found != nil {
		b = appendString(b, found.name)
	} else {
		b = appendString(b, indexName)
	}
	if s.hasTypes() {
		b = append(b, `,"_type":"_doc"`...)
	}
	b = append(b, `,"_id":`...)
	b = appendString(b, id)
	if found == nil {
		s.writeJSON(ex, http.StatusNotFound, append(b, `,"found":false}`...))
		return
	}
	b = append(b, `,"_version":`...)
	b = strconv.AppendInt(b, version, 10)
	seq := int64(0)
	if d != nil {
		seq = d.seq
	}
	b = append(b, `,"_seq_no":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"_primary_term":1,"found":true`...)
	if d != nil {
		b = append(b, `,"_source":`...)
		b = append(b, d.src...)
	}
	s.writeJSON(ex, http.StatusOK, append(b, '}'))
}

// --- cluster ---

func (s *Server) handleHealth(ex *exchange) {
	s.st.mu.Lock()
	n := len(s.st.indices)
	s.st.mu.Unlock()
	b := []byte(`{"cluster_name":`)
	b = appendString(b, s.opts.ClusterName)
	b = append(b, `,"status":"green","timed_out":false,"number_of_nodes":1,"number_of_data_nodes":1,"active_primary_shards":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `,"active_shards":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `,"relocating_shards":0,"initializing_shards":0,"unassigned_shards":0,"delayed_unassigned_shards":0,"number_of_pending_tasks":0,"number_of_in_flight_fetch":0,"task_max_waiting_in_queue_millis":0,"active_shards_percent_as_number":100.0}`...)
	s.writeJSON(ex, http.StatusOK, b)
}

func (s *Server) handleRefresh(ex *exchange, expr string) {
	s.st.mu.Lock()
	ixs, missing := s.st.resolve(expr)
	s.st.mu.Unlock()
	if missing != "" {
		s.writeError(ex, http.StatusNotFound, indexNotFound(missing))
		return
	}
	n := int64(len(ixs))
	b := []byte(`{"_shards":{"total":`)
	b = strconv.AppendInt(b, 2*n, 10)
	b = append(b, `,"successful":`...)
	b = strconv.AppendInt(b, n, 10)
	b = append(b, `,"failed":0}}`...)
	s.writeJSON(ex, http.StatusOK, b)
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
