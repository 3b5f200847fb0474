package estest

import (
	"encoding/json"
	"net/http"
	"strings"
)

// component is a component template: mappings and settings that index
// templates pull in through composed_of.
type component struct {
	name     string
	raw      json.RawMessage
	mappings json.RawMessage
	builtin  bool
}

// builtinComponents are the component templates the built-in logs,
// metrics and synthetics index templates are composed of.
func builtinComponents() map[string]*component {
	out := map[string]*component{}
	for _, name := range []string{"logs-mappings", "logs-settings", "metrics-mappings", "metrics-settings",
		"synthetics-mappings", "synthetics-settings", "data-streams-mappings"} {
		c := &component{name: name, builtin: true, raw: json.RawMessage(`{"template":{},"version":1,"_meta":{"managed":true}}`)}
		if name == "data-streams-mappings" {
			c.mappings = json.RawMessage(`{"properties":{"@timestamp":{"type":"date"}}}`)
			c.raw = json.RawMessage(`{"template":{"mappings":{"properties":{"@timestamp":{"type":"date"}}}},"version":1,"_meta":{"managed":true}}`)
		}
		out[name] = c
	}
	return out
}

func (s *Server) handleComponentTemplate(ex *exchange, rest []string) {
	st := s.st
	name := ""
	if len(rest) == 1 {
		name = rest[0]
	}
	switch ex.r.Method {
	case http.MethodGet, http.MethodHead:
		st.mu.Lock()
		b := []byte(`{"component_templates":[`)
		n := 0
		for _, k := range sortedKeys(st.components) {
			if name != "" && k != name && !globMatch(name, k) {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = append(b, `{"name":`...)
			b = appendString(b, k)
			b = append(b, `,"component_template":`...)
			b = append(b, st.components[k].raw...)
			b = append(b, '}')
		}
		st.mu.Unlock()
		if name != "" && !strings.Contains(name, "*") && n == 0 {
			s.writeError(ex, http.StatusNotFound, &esError{Type: "resource_not_found_exception", Reason: "component template matching [" + name + "] not found"})
			return
		}
		s.writeJSON(ex, http.StatusOK, append(b, "]}"...))
	case http.MethodPut, http.MethodPost:
		if name == "" {
			s.methodNotAllowed(ex, "GET")
			return
		}
		body, ok := s.readBody(ex)
		if !ok {
			return
		}
		var req struct {
			Template *struct {
				Mappings json.RawMessage `json:"mappings"`
			} `json:"template"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			s.writeError(ex, http.StatusBadRequest, &esError{Type: "x_content_parse_exception", Reason: "[1:1] [component_template] failed to parse: " + err.Error()})
			return
		}
		if req.Template == nil {
			s.writeError(ex, http.StatusBadRequest, &esError{Type: "x_content_parse_exception", Reason: "[1:1] Required [template]"})
			return
		}
		if !isValidMappings(req.Template.Mappings) {
			s.writeError(ex, http.StatusBadRequest, &esError{Type: "mapper_parsing_exception", Reason: "Failed to parse mapping: Root mapping definition has unsupported parameters"})
			return
		}
		st.mu.Lock()
		st.components[name] = &component{name: name, raw: append(json.RawMessage(nil), body...), mappings: req.Template.Mappings}
		st.mu.Unlock()
		s.writeJSON(ex, http.StatusOK, acknowledged)
	case http.MethodDelete:
		st.mu.Lock()
		defer st.mu.Unlock()
		if _, ok := st.components[name]; !ok {
			s.writeError(ex, http.StatusNotFound, &esError{Type: "resource_not_found_exception", Reason: name})
			return
		}
		var users []string
		for _, t := range sortedKeys(st.templates) {
			for _, c := range st.templates[t].composedOf {
				if c == name {
					users = append(users, t)
				}
			}
		}
		if len(users) > 0 {
			s.writeError(ex, http.StatusBadRequest, illegalArgument("component templates ["+name+"] cannot be removed as they are still in use by index templates ["+strings.Join(users, ", ")+"]"))
			return
		}
		delete(st.components, name)
		s.writeJSON(ex, http.StatusOK, acknowledged)
	default:
		s.methodNotAllowed(ex, "GET, HEAD, PUT, POST, DELETE")
	}
}

// handlePipeline stores ingest pipelines so that bulk requests naming one
// pass; the processors are never run.
func (s *Server) handlePipeline(ex *exchange, id string) {
	st := s.st
	switch ex.r.Method {
	case http.MethodGet:
		st.mu.Lock()
		b := []byte{'{'}
		n := 0
		for _, k := range sortedKeys(st.pipelines) {
			if id != "" && k != id && !globMatch(id, k) {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = appendString(b, k)
			b = append(b, ':')
			b = append(b, st.pipelines[k]...)
		}
		st.mu.Unlock()
		if n == 0 && id != "" {
			s.writeJSON(ex, http.StatusNotFound, []byte("{}"))
			return
		}
		s.writeJSON(ex, http.StatusOK, append(b, '}'))
	case http.MethodPut:
		if id == "" {
			s.methodNotAllowed(ex, "GET")
			return
		}
		body, ok := s.readBody(ex)
		if !ok {
			return
		}
		var p struct {
			Processors json.RawMessage `json:"processors"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			s.writeError(ex, http.StatusBadRequest, &esError{Type: "parse_exception", Reason: "[processors] required property is missing"})
			return
		}
		if p.Processors == nil {
			s.writeError(ex, http.StatusBadRequest, &esError{Type: "parse_exception", Reason: "[processors] required property is missing",
				Extra: []kv{{"property_name", "processors"}}})
			return
		}
		st.mu.Lock()
		st.pipelines[id] = append(json.RawMessage(nil), body...)
		st.mu.Unlock()
		s.writeJSON(ex, http.StatusOK, acknowledged)
	case http.MethodDelete:
		st.mu.Lock()
		_, ok := st.pipelines[id]
		delete(st.pipelines, id)
		st.mu.Unlock()
		if !ok {
			s.writeError(ex, http.StatusNotFound, &esError{Type: "resource_not_found_exception", Reason: "pipeline [" + id + "] is missing"})
			return
		}
		s.writeJSON(ex, http.StatusOK, acknowledged)
	default:
		s.methodNotAllowed(ex, "GET, PUT, DELETE")
	}
}
