package estest

import (
	"encoding/json"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/zeebo/xxh3"
)

// store holds indices, data streams and templates. One mutex guards all of
// it; bulk requests parse outside the lock and apply under it.
type store struct {
	s  *Server
	mu sync.Mutex

	indices     map[string]*index
	dataStreams map[string]*dataStream
	templates   map[string]*template
	dupCreates  int
	now         func() time.Time
	changed     chan struct{} // closed and replaced after every write
}

type index struct {
	name       string
	uuid       string
	created    time.Time
	dataStream string // set on backing indices
	hidden     bool

	docs   map[string]*doc     // without Discard
	hashes map[[16]byte]uint32 // with Discard: id hash -> version
	count  int
	seq    int64

	mapping *mapping
}

type doc struct {
	src     []byte
	version int64
	seq     int64
}

type dataStream struct {
	name     string
	template string
	indices  []*index
	created  time.Time
}

func (d *dataStream) writeIndex() *index { return d.indices[len(d.indices)-1] }

type template struct {
	name       string
	patterns   []string
	priority   int64
	dataStream bool
	builtin    bool
	composedOf []string
	raw        json.RawMessage // as returned by GET
	mappings   json.RawMessage // template.mappings
}

func newStore(s *Server) *store {
	st := &store{
		s:           s,
		indices:     map[string]*index{},
		dataStreams: map[string]*dataStream{},
		templates:   map[string]*template{},
		now:         time.Now,
		changed:     make(chan struct{}),
	}
	if !s.opts.Flavor.IsOpenSearch() && !s.opts.NoBuiltinTemplates {
		for _, name := range []string{"logs", "metrics", "synthetics"} {
			raw := `{"index_patterns":["` + name + `-*-*"],"composed_of":["` + name + `-mappings","data-streams-mappings","` + name + `-settings"],"priority":100,"version":1,"_meta":{"managed":true,"description":"default ` + name + ` template installed by x-pack"},"data_stream":{"hidden":false,"allow_custom_routing":false},"allow_auto_create":true}`
			st.templates[name] = &template{
				name: name, patterns: []string{name + "-*-*"}, priority: 100, dataStream: true, builtin: true,
				composedOf: []string{name + "-mappings", "data-streams-mappings", name + "-settings"},
				raw:        json.RawMessage(raw),
				mappings:   json.RawMessage(`{"properties":{"@timestamp":{"type":"date"}}}`),
			}
		}
	}
	return st
}

func (st *store) newIndex(name string, tpl *template) (*index, error) {
	ix := &index{name: name, uuid: randomID(22), created: st.now(), mapping: newMapping()}
	if st.s.opts.Discard {
		ix.hashes = map[[16]byte]uint32{}
	} else {
		ix.docs = map[string]*doc{}
	}
	if tpl != nil {
		if err := ix.mapping.addExplicit(tpl.mappings); err != nil {
			return nil, err
		}
	}
	st.indices[name] = ix
	return ix, nil
}

// matchTemplate returns the matching template with the highest priority.
func (st *store) matchTemplate(name string) *template {
	var best *template
	for _, t := range st.templates {
		for _, p := range t.patterns {
			if ok, _ := path.Match(p, name); ok {
				if best == nil || t.priority > best.priority || t.priority == best.priority && t.name < best.name {
					best = t
				}
				break
			}
		}
	}
	if best != nil && strings.HasPrefix(name, ".") && !strings.HasPrefix(best.patterns[0], ".") {
		// Hidden (dot) names do not match wildcard-only patterns in
		// Elasticsearch when the pattern is a global "*".
		for _, p := range best.patterns {
			if p == "*" {
				return nil
			}
		}
	}
	return best
}

// createDataStream creates a data stream and its first backing index.
func (st *store) createDataStream(name string, t *template) (*dataStream, error) {
	now := st.now()
	ds := &dataStream{name: name, template: t.name, created: now}
	bi, err := st.newIndex(backingIndexName(name, now, 1), t)
	if err != nil {
		return nil, err
	}
	bi.dataStream, bi.hidden = name, true
	if _, ok := bi.mapping.fields["@timestamp"]; !ok { // data streams map it as date
		bi.mapping.fields["@timestamp"] = ftDate
		bi.mapping.total++
	}
	ds.indices = []*index{bi}
	st.dataStreams[name] = ds
	return ds, nil
}

func backingIndexName(ds string, t time.Time, gen int) string {
	g := []byte("000000")
	n := gen
	for i := len(g) - 1; i >= 0 && n > 0; i-- {
		g[i] = byte('0' + n%10)
		n /= 10
	}
	return ".ds-" + ds + "-" + t.UTC().Format("2006.01.02") + "-" + string(g)
}

// resolve expands an index expression (comma-separated names, wildcards,
// data stream names, _all) into indices. missing is the first name that
// matched nothing.
func (st *store) resolve(expr string) (out []*index, missing string) {
	if expr == "" || expr == "_all" || expr == "*" {
		// Data streams are included, so their backing indices are too.
		for _, ix := range st.indices {
			out = append(out, ix)
		}
		sortIndices(out)
		return out, ""
	}
	seen := map[*index]bool{}
	add := func(ix *index) {
		if !seen[ix] {
			seen[ix] = true
			out = append(out, ix)
		}
	}
	for _, part := range strings.Split(expr, ",") {
		if part == "" {
			continue
		}
		if strings.ContainsAny(part, "*?") {
			for name, ix := range st.indices {
				if ok, _ := path.Match(part, name); ok && (!ix.hidden || strings.HasPrefix(part, ".")) {
					add(ix)
				}
			}
			for name, ds := range st.dataStreams {
				if ok, _ := path.Match(part, name); ok {
					for _, ix := range ds.indices {
						add(ix)
					}
				}
			}
			continue
		}
		if ds, ok := st.dataStreams[part]; ok {
			for _, ix := range ds.indices {
				add(ix)
			}
			continue
		}
		if ix, ok := st.indices[part]; ok {
			add(ix)
			continue
		}
		if missing == "" {
			missing = part
		}
	}
	sortIndices(out)
	return out, missing
}

func sortIndices(ixs []*index) {
	sort.Slice(ixs, func(i, j int) bool { return ixs[i].name < ixs[j].name })
}

func idHash(id string) [16]byte {
	return xxh3.HashString128(id).Bytes()
}

// has reports whether the index holds id, with its version.
func (ix *index) get(id string) (version int64, d *doc, ok bool) {
	if ix.docs != nil {
		d, ok = ix.docs[id]
		if ok {
			return d.version, d, true
		}
		return 0, nil, false
	}
	v, ok := ix.hashes[idHash(id)]
	return int64(v), nil, ok
}

func (ix *index) put(id string, src []byte, version int64) int64 {
	seq := ix.seq
	ix.seq++
	if ix.docs != nil {
		if _, ok := ix.docs[id]; !ok {
			ix.count++
		}
		ix.docs[id] = &doc{src: src, version: version, seq: seq}
		return seq
	}
	h := idHash(id)
	if _, ok := ix.hashes[h]; !ok {
		ix.count++
	}
	ix.hashes[h] = uint32(version)
	return seq
}

// validIndexName returns an error for names Elasticsearch refuses.
func validIndexName(name string) *esError {
	bad := func(why string) *esError {
		return &esError{Type: "invalid_index_name_exception", Reason: "Invalid index name [" + name + "], " + why,
			Extra: []kv{{"index_uuid", "_na_"}, {"index", name}}}
	}
	switch {
	case name == "":
		return bad("must not be empty")
	case name == "." || name == "..":
		return bad("must not be '.' or '..'")
	case strings.ToLower(name) != name:
		return bad("must be lowercase")
	case strings.HasPrefix(name, "_") || strings.HasPrefix(name, "-") || strings.HasPrefix(name, "+"):
		return bad("must not start with '_', '-', or '+'")
	case len(name) > 255:
		return bad("index name is too long, (" + itoa(len(name)) + " > 255)")
	case strings.ContainsAny(name, `\/*?"<>| ,#:`):
		return bad(`must not contain the following characters [ , ", *, \, <, |, ,, >, /, ?]`)
	}
	return nil
}

// notifyLocked wakes WaitForCount callers; st.mu must be held.
func (st *store) notifyLocked() {
	close(st.changed)
	st.changed = make(chan struct{})
}
