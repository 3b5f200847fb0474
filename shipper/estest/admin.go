package estest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// FaultSpec is the JSON form of a Fault for the admin API: kinds and
// endpoints by name, durations as Go duration strings.
//
//	{"kind":"status","status":429,"retry_after":"2s","count":3}
//	{"kind":"item-status","ids":["abc"],"fraction":0.1}
//	{"kind":"latency","latency":"500ms","endpoint":"any"}
type FaultSpec struct {
	Kind       string   `json:"kind"`
	Endpoint   string   `json:"endpoint,omitempty"` // bulk (default), any, info, index_template, data_stream, search, index, other
	Status     int      `json:"status,omitempty"`
	RetryAfter string   `json:"retry_after,omitempty"`
	Count      int      `json:"count,omitempty"`
	Fraction   float64  `json:"fraction,omitempty"`
	IDs        []string `json:"ids,omitempty"`
	Latency    string   `json:"latency,omitempty"`
	Body       string   `json:"body,omitempty"`
}

var endpointNames = map[string]Endpoint{
	"": EndpointDefault, "bulk": EndpointBulk, "any": EndpointAny, "info": EndpointInfo,
	"index_template": EndpointIndexTemplate, "data_stream": EndpointDataStream,
	"search": EndpointSearch, "index": EndpointIndex, "other": EndpointOther,
}

// Fault converts the spec, naming the bad field on error.
func (fs FaultSpec) Fault() (Fault, error) {
	k, ok := ParseFaultKind(fs.Kind)
	if !ok {
		return Fault{}, fmt.Errorf("estest: fault kind: unknown %q", fs.Kind)
	}
	ep, ok := endpointNames[fs.Endpoint]
	if !ok {
		return Fault{}, fmt.Errorf("estest: fault endpoint: unknown %q", fs.Endpoint)
	}
	f := Fault{Kind: k, Endpoint: ep, Status: fs.Status, Count: fs.Count, Fraction: fs.Fraction, IDs: fs.IDs, Body: fs.Body}
	var err error
	if fs.RetryAfter != "" {
		if f.RetryAfter, err = time.ParseDuration(fs.RetryAfter); err != nil {
			return Fault{}, fmt.Errorf("estest: fault retry_after: %w", err)
		}
	}
	if fs.Latency != "" {
		if f.Latency, err = time.ParseDuration(fs.Latency); err != nil {
			return Fault{}, fmt.Errorf("estest: fault latency: %w", err)
		}
	}
	if f.Fraction < 0 || f.Fraction > 1 {
		return Fault{}, fmt.Errorf("estest: fault fraction: %v is not within [0,1]", f.Fraction)
	}
	if f.Count < 0 {
		return Fault{}, fmt.Errorf("estest: fault count: negative")
	}
	return f, nil
}

// AdminHandler returns an HTTP API to drive the server from outside the
// process (scenario tests, cmd/estest). Serve it on a separate listener:
// it keeps working during an outage.
//
//	GET    /stats                    Stats as JSON
//	GET    /requests                 the request log
//	GET    /count?index=expr         {"count":N}
//	GET    /ids?index=expr           {"ids":[...]} (nil in Discard mode)
//	GET    /duplicates               {"duplicate_creates":N}
//	POST   /faults                   body FaultSpec -> {"id":N}
//	GET    /faults/{id}              {"id":N,"fired":N}
//	DELETE /faults/{id}              remove one fault
//	DELETE /faults                   ClearFaults
//	POST   /outage?down=true|false   SetOutage; with &for=5s the outage
//	                                 ends by itself after that long
//	POST   /reset                    Reset
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	fail := func(w http.ResponseWriter, status int, err error) {
		reply(w, status, map[string]string{"error": err.Error()})
	}
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, s.Stats()) })
	mux.HandleFunc("GET /requests", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, s.Requests()) })
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, map[string]int{"count": s.Count(r.URL.Query().Get("index"))})
	})
	mux.HandleFunc("GET /ids", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, map[string][]string{"ids": s.IDs(r.URL.Query().Get("index"))})
	})
	mux.HandleFunc("GET /duplicates", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, map[string]int{"duplicate_creates": s.DuplicateCreates()})
	})
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		var spec FaultSpec
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&spec); err != nil {
			fail(w, 400, fmt.Errorf("decoding fault: %w", err))
			return
		}
		f, err := spec.Fault()
		if err != nil {
			fail(w, 400, err)
			return
		}
		reply(w, 200, map[string]int{"id": int(s.InjectFault(f))})
	})
	mux.HandleFunc("GET /faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.PathValue("id"))
		if err != nil {
			fail(w, 400, fmt.Errorf("fault id: %w", err))
			return
		}
		reply(w, 200, map[string]int{"id": id, "fired": s.Fired(FaultID(id))})
	})
	mux.HandleFunc("DELETE /faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.PathValue("id"))
		if err != nil {
			fail(w, 400, fmt.Errorf("fault id: %w", err))
			return
		}
		s.RemoveFault(FaultID(id))
		reply(w, 200, map[string]bool{"acknowledged": true})
	})
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, r *http.Request) {
		s.ClearFaults()
		reply(w, 200, map[string]bool{"acknowledged": true})
	})
	mux.HandleFunc("POST /outage", func(w http.ResponseWriter, r *http.Request) {
		down, err := strconv.ParseBool(r.URL.Query().Get("down"))
		if err != nil {
			fail(w, 400, fmt.Errorf("down: %w", err))
			return
		}
		var d time.Duration
		if v := r.URL.Query().Get("for"); v != "" {
			if d, err = time.ParseDuration(v); err != nil {
				fail(w, 400, fmt.Errorf("for: %w", err))
				return
			}
		}
		if err := s.SetOutage(down); err != nil {
			fail(w, 500, err)
			return
		}
		if down && d > 0 {
			s.scheduleOutageEnd(d)
		}
		reply(w, 200, map[string]bool{"down": down})
	})
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, r *http.Request) {
		s.Reset()
		reply(w, 200, map[string]bool{"acknowledged": true})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, 404, fmt.Errorf("no admin endpoint %s %s", r.Method, strings.TrimSpace(r.URL.Path)))
	})
	return mux
}

// scheduleOutageEnd ends the outage after d unless the server is closed
// first.
func (s *Server) scheduleOutageEnd(d time.Duration) {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.outageTimer != nil {
		s.outageTimer.Stop()
	}
	s.outageTimer = time.AfterFunc(d, func() {
		if err := s.SetOutage(false); err != nil {
			s.log.Warn("ending a timed outage", "err", err)
		}
	})
}
