package estest

import (
	"encoding/json"
	"maps"
	"net/http"
	"sort"
	"time"
)

// Doc is one stored document.
type Doc struct {
	// Index is the concrete index (a backing index for data streams).
	Index   string
	ID      string
	Version int64
	Source  json.RawMessage
}

// Stats are counters since the server started.
type Stats struct {
	// Requests is every request, whatever its outcome.
	Requests int
	// BulkRequests counts _bulk requests that reached the handler (not those
	// answered by a request-level fault or refused by authentication).
	BulkRequests int
	// BulkItems is the number of actions parsed from bulk bodies.
	BulkItems int
	// BulkBytes is the bulk bodies' size on the wire (compressed if gzip);
	// BulkDecodedBytes after decompression.
	BulkBytes        int64
	BulkDecodedBytes int64
	// GzipRequests counts requests with Content-Encoding: gzip.
	GzipRequests int
	// Statuses counts HTTP response statuses.
	Statuses map[int]int
	// ItemStatuses counts bulk item statuses.
	ItemStatuses map[int]int
	// DuplicateCreates counts creates answered 409 because the _id existed.
	DuplicateCreates int
	// Resets counts connections closed by a reset fault.
	Resets int
}

// Request is a record of one request, for asserting on headers.
type Request struct {
	Time      time.Time
	Method    string
	Path      string
	RawQuery  string
	Header    http.Header
	BodyBytes int64 // on the wire
	Gzip      bool
	Status    int    // 0 when the connection was reset
	Fault     string // the fault applied, if any
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.statMu.Lock()
	defer s.statMu.Unlock()
	st := s.stats
	st.Statuses = maps.Clone(s.stats.Statuses)
	st.ItemStatuses = maps.Clone(s.stats.ItemStatuses)
	return st
}

// Requests returns the most recent requests, oldest first (at most
// Options.RequestLog of them).
func (s *Server) Requests() []Request {
	s.statMu.Lock()
	defer s.statMu.Unlock()
	out := make([]Request, 0, s.reqN)
	start := (s.reqPos - s.reqN + len(s.reqLog)) % max(len(s.reqLog), 1)
	for i := 0; i < s.reqN; i++ {
		out = append(out, s.reqLog[(start+i)%len(s.reqLog)])
	}
	return out
}

// DuplicateCreates returns how many create actions were answered 409
// version_conflict_engine_exception because the _id already existed.
func (s *Server) DuplicateCreates() int {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.st.dupCreates
}

// Count returns the number of documents in an index, data stream, or
// index expression (comma-separated, wildcards, "" or "_all" for all).
func (s *Server) Count(index string) int {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	ixs, _ := s.st.resolve(index)
	n := 0
	for _, ix := range ixs {
		n += ix.count
	}
	return n
}

// Docs returns the documents of an index expression in indexing order per
// index, indices sorted by name. It returns nil in Discard mode.
func (s *Server) Docs(index string) []Doc {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	ixs, _ := s.st.resolve(index)
	var out []Doc
	for _, ix := range ixs {
		if ix.docs == nil {
			continue
		}
		ids := make([]string, 0, len(ix.docs))
		for id := range ix.docs {
			ids = append(ids, id)
		}
		sortDocs(ids, ix.docs)
		for _, id := range ids {
			d := ix.docs[id]
			out = append(out, Doc{Index: ix.name, ID: id, Version: d.version, Source: json.RawMessage(d.src)})
		}
	}
	return out
}

// IDs returns the sorted _ids of an index expression. It returns nil in
// Discard mode (use Has instead).
func (s *Server) IDs(index string) []string {
	docs := s.Docs(index)
	if docs == nil {
		return nil
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	sort.Strings(ids)
	return ids
}

// Has reports whether any index of the expression holds id; it works in
// Discard mode too.
func (s *Server) Has(index, id string) bool {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	ixs, _ := s.st.resolve(index)
	for _, ix := range ixs {
		if _, _, ok := ix.get(id); ok {
			return true
		}
	}
	return false
}

// Template is an index template as stored.
type Template struct {
	Name          string
	IndexPatterns []string
	Priority      int64
	DataStream    bool
	Builtin       bool
	// Body is the template as GET /_index_template returns it.
	Body json.RawMessage
}

// Templates returns the index templates sorted by name, built-in ones
// included.
func (s *Server) Templates() []Template {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	var out []Template
	for _, n := range sortedKeys(s.st.templates) {
		t := s.st.templates[n]
		out = append(out, Template{Name: n, IndexPatterns: append([]string(nil), t.patterns...),
			Priority: t.priority, DataStream: t.dataStream, Builtin: t.builtin, Body: append(json.RawMessage(nil), t.raw...)})
	}
	return out
}

// DataStream describes a data stream.
type DataStream struct {
	Name           string
	Template       string
	BackingIndices []string
}

// DataStreams returns the data streams sorted by name.
func (s *Server) DataStreams() []DataStream {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	var out []DataStream
	for _, n := range sortedKeys(s.st.dataStreams) {
		ds := s.st.dataStreams[n]
		d := DataStream{Name: n, Template: ds.template}
		for _, ix := range ds.indices {
			d.BackingIndices = append(d.BackingIndices, ix.name)
		}
		out = append(out, d)
	}
	return out
}

// Reset deletes every index, data stream and user template and zeroes the
// counters; faults and the request log stay.
func (s *Server) Reset() {
	s.st.mu.Lock()
	fresh := newStore(s)
	s.st.indices, s.st.dataStreams, s.st.templates, s.st.dupCreates = fresh.indices, fresh.dataStreams, fresh.templates, 0
	s.st.notifyLocked()
	s.st.mu.Unlock()
	s.statMu.Lock()
	s.stats = Stats{Statuses: map[int]int{}, ItemStatuses: map[int]int{}}
	s.statMu.Unlock()
}
