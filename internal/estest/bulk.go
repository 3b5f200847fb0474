package estest

import (
	"bytes"
	"encoding/json"

	"net/http"
	"strconv"
	"strings"
	"time"
)

// bulkOp is one parsed action of a _bulk body.
type bulkOp struct {
	action string // create or index
	line   int    // 1-based line of the action
	index  string
	id     string
	create bool   // create semantics: action create, or index with op_type create
	source []byte // the document
}

// parseBulk splits an NDJSON bulk body into operations, or returns the
// request-level error Elasticsearch would.
func (s *Server) parseBulk(body []byte, defaultIndex string) ([]bulkOp, *esError) {
	if len(body) == 0 {
		return nil, &esError{Type: "parse_exception", Reason: "request body is required"}
	}
	if body[len(body)-1] != '\n' {
		return nil, illegalArgument(`The bulk request must be terminated by a newline [\n]`)
	}
	ops := make([]bulkOp, 0, bytes.Count(body, []byte{'\n'})/2+1)
	line := 0
	var validation []string
	for from := 0; from < len(body); {
		nl := bytes.IndexByte(body[from:], '\n')
		actionLine := body[from : from+nl]
		line++
		from += nl + 1
		if len(bytes.TrimSpace(actionLine)) == 0 {
			continue // Elasticsearch skips empty action lines
		}
		op := bulkOp{line: line}
		if !parseAction(actionLine, &op) {
			return nil, malformed(line, "estest takes only create and index actions with _index, _id, op_type, routing, require_alias or require_data_stream")
		}
		if op.index == "" {
			op.index = defaultIndex
		}
		nl = bytes.IndexByte(body[from:], '\n')
		if nl < 0 {
			// Like Elasticsearch: an action without its source line at
			// the very end is dropped.
			break
		}
		op.source = bytes.TrimRight(body[from:from+nl], "\r")
		line++
		from += nl + 1
		if len(bytes.TrimSpace(op.source)) == 0 {
			validation = append(validation, "source is missing")
		}
		if op.index == "" {
			validation = append(validation, "index is missing")
		}
		if len(op.id) > 512 {
			validation = append(validation, "id ["+op.id+"] is too long, must be no longer than 512 bytes but was: "+itoa(len(op.id)))
		}
		ops = append(ops, op)
	}
	if len(ops) == 0 {
		validation = append(validation, "no requests added")
	}
	if len(validation) > 0 {
		var sb strings.Builder
		sb.WriteString("Validation Failed: ")
		for i, v := range validation {
			sb.WriteString(itoa(i + 1))
			sb.WriteString(": ")
			sb.WriteString(v)
			sb.WriteString(";")
		}
		return nil, &esError{Type: "action_request_validation_exception", Reason: sb.String()}
	}
	return ops, nil
}

func malformed(line int, what string) *esError {
	return illegalArgument("Malformed action/metadata line [" + itoa(line) + "], " + what)
}

// parseAction parses the action lines the shipper writes,
// {"create"|"index":{"k":"v",...}}, without allocating; it returns false on
// anything else (update and delete actions, other metadata), which estest
// refuses as malformed: a test that sends those needs a real cluster.
func parseAction(b []byte, op *bulkOp) bool {
	sc := scanner{b: b}
	if !sc.lit('{') {
		return false
	}
	action, ok := sc.str()
	if !ok || !sc.lit(':') || !sc.lit('{') {
		return false
	}
	switch action {
	case "create", "index":
	default:
		return false
	}
	op.action, op.create = action, action == "create"
	if sc.lit('}') {
		return sc.lit('}') && sc.end()
	}
	for {
		key, ok := sc.str()
		if !ok || !sc.lit(':') {
			return false
		}
		val, ok := sc.str()
		if !ok {
			return false
		}
		switch key {
		case "_index":
			op.index = val
		case "_id":
			op.id = val
		case "op_type":
			if action != "index" || val != "create" && val != "index" {
				return false
			}
			op.create = val == "create"
		case "routing", "require_alias", "require_data_stream":
		default:
			return false
		}
		if sc.lit(',') {
			continue
		}
		if sc.lit('}') {
			return sc.lit('}') && sc.end()
		}
		return false
	}
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) lit(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// str reads a JSON string; escapes are decoded by encoding/json.
func (s *scanner) str() (string, bool) {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return "", false
	}
	start := s.i
	s.i++
	escaped := false
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '\\':
			escaped = true
			s.i += 2
			continue
		case c == '"':
			s.i++
			if !escaped {
				return string(s.b[start+1 : s.i-1]), true
			}
			var out string
			if err := json.Unmarshal(s.b[start:s.i], &out); err != nil {
				return "", false
			}
			return out, true
		case c < 0x20:
			return "", false
		}
		s.i++
	}
	return "", false
}

// number reads true, false or a plain integer as text.
// itemResult is the outcome of one bulk item.
type itemResult struct {
	action  string
	index   string
	id      string
	status  int
	version int64
	result  string
	seq     int64
	err     *esError
}

func (s *Server) handleBulk(ex *exchange, defaultIndex string) {
	start := time.Now()
	body, ok := s.readBody(ex)
	if !ok {
		return
	}
	ops, perr := s.parseBulk(body, defaultIndex)
	s.statMu.Lock()
	s.stats.BulkRequests++
	s.stats.BulkBytes += ex.wireBytes
	s.stats.BulkDecodedBytes += int64(len(body))
	s.stats.BulkItems += len(ops)
	s.statMu.Unlock()
	if perr != nil {
		status := http.StatusBadRequest
		s.writeError(ex, status, perr)
		return
	}
	faults := s.faults.itemFaults()
	results := make([]itemResult, len(ops))
	st := s.st
	st.mu.Lock()
	for i := range ops {
		results[i] = st.apply(&ops[i], faults)
	}
	st.notifyLocked()
	st.mu.Unlock()

	hasErr := false
	statuses := map[int]int{}
	dups := 0
	for i := range results {
		statuses[results[i].status]++
		if results[i].err != nil {
			hasErr = true
			if results[i].status == http.StatusConflict && ops[i].create {
				dups++
			}
		}
	}
	s.statMu.Lock()
	for k, v := range statuses {
		s.stats.ItemStatuses[k] += v
	}
	s.stats.DuplicateCreates += dups
	s.statMu.Unlock()

	out := make([]byte, 0, 64+len(results)*(200+len(defaultIndex)))
	out = append(out, `{"took":`...)
	out = strconv.AppendInt(out, time.Since(start).Milliseconds(), 10)
	out = append(out, `,"errors":`...)
	out = strconv.AppendBool(out, hasErr)
	out = append(out, `,"items":[`...)
	type7 := s.hasTypes()
	for i := range results {
		if i > 0 {
			out = append(out, ',')
		}
		out = results[i].append(out, type7)
	}
	out = append(out, "]}"...)
	s.writeJSON(ex, http.StatusOK, out)
}

func (r *itemResult) append(b []byte, type7 bool) []byte {
	b = append(b, `{"`...)
	b = append(b, r.action...)
	b = append(b, `":{"_index":`...)
	b = appendString(b, r.index)
	if type7 {
		b = append(b, `,"_type":"_doc"`...)
	}
	b = append(b, `,"_id":`...)
	if r.id == "" && r.err != nil {
		b = append(b, "null"...)
	} else {
		b = appendString(b, r.id)
	}
	if r.err != nil {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(r.status), 10)
		b = append(b, `,"error":`...)
		b = r.err.appendObject(b, true)
		return append(b, "}}"...)
	}
	b = append(b, `,"_version":`...)
	b = strconv.AppendInt(b, r.version, 10)
	b = append(b, `,"result":"`...)
	b = append(b, r.result...)
	b = append(b, `","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":`...)
	b = strconv.AppendInt(b, r.seq, 10)
	b = append(b, `,"_primary_term":1,"status":`...)
	b = strconv.AppendInt(b, int64(r.status), 10)
	return append(b, "}}"...)
}

// style8 reports whether document errors use document_parsing_exception
// (Elasticsearch 8.8 and later).
func (s *Server) style8() bool {
	return !s.opts.Flavor.IsOpenSearch() && (s.major > 8 || s.major == 8 && s.minor >= 8)
}

// apply executes one operation under st.mu.
func (st *store) apply(op *bulkOp, faults *itemFaults) itemResult {
	s := st.s
	r := itemResult{action: op.action, index: op.index, id: op.id}
	fail := func(status int, e *esError) itemResult {
		r.status, r.err = status, e
		return r
	}
	if r.id == "" {
		r.id = randomID(20)
	}

	// Resolve the target.
	var ix *index
	var ds *dataStream
	if d, ok := st.dataStreams[op.index]; ok {
		ds = d
	} else if x, ok := st.indices[op.index]; ok {
		ix = x
		if ix.dataStream != "" && op.create {
			return fail(http.StatusBadRequest, illegalArgument("index request with op_type=create targeting backing indices is disallowed, target corresponding data stream ["+ix.dataStream+"] instead"))
		}
	} else {
		if e := validIndexName(op.index); e != nil {
			return fail(http.StatusBadRequest, e)
		}
		t := st.matchTemplate(op.index)
		if t != nil && t.dataStream {
			if !op.create {
				return fail(http.StatusBadRequest, illegalArgument("only write ops with an op_type of create are allowed in data streams"))
			}
			d, err := st.createDataStream(op.index, t)
			if err != nil {
				return fail(http.StatusBadRequest, &esError{Type: "mapper_parsing_exception", Reason: err.Error()})
			}
			ds = d
		} else {
			x, err := st.newIndex(op.index, t)
			if err != nil {
				return fail(http.StatusBadRequest, &esError{Type: "mapper_parsing_exception", Reason: err.Error()})
			}
			ix = x
		}
	}
	if ds != nil {
		if !op.create {
			return fail(http.StatusBadRequest, illegalArgument("only write ops with an op_type of create are allowed in data streams"))
		}
		ix = ds.writeIndex()
		r.index = ix.name
	}
	conflictErr := func(reason string) *esError {
		return &esError{Type: "version_conflict_engine_exception", Reason: "[" + r.id + "]: " + reason,
			Extra: []kv{{"index_uuid", ix.uuid}, {"shard", "0"}, {"index", ix.name}}}
	}
	if st, kind := faults.check(r.id); st != 0 {
		return fail(st, s.itemFaultError(st, kind, ix.name))
	}

	curVersion, _, exists := ix.get(r.id)
	if exists && op.create {
		st.dupCreates++
		return fail(http.StatusConflict, conflictErr("version conflict, document already exists (current version ["+strconv.FormatInt(curVersion, 10)+"])"))
	}
	checker, e := st.checkDoc(ix, op.source, r.id)
	if e != nil {
		return fail(http.StatusBadRequest, e)
	}
	if checker != nil {
		ix.mapping.commit(checker)
	}
	r.version = curVersion + 1
	r.seq = ix.put(r.id, st.keep(op.source), r.version)
	if exists {
		r.status, r.result = http.StatusOK, "updated"
	} else {
		r.status, r.result = http.StatusCreated, "created"
	}
	return r
}

// keep copies a source for storage (the request body is not retained).
func (st *store) keep(src []byte) []byte {
	if st.s.opts.Discard {
		return nil
	}
	return bytes.Clone(src)
}

// checkDoc validates a document against the index's mapping. In Discard
// mode only the JSON syntax and a data stream's @timestamp are checked.
func (st *store) checkDoc(ix *index, src []byte, id string) (*docChecker, *esError) {
	s := st.s
	if s.opts.Discard {
		c := &docChecker{src: src, id: id, style8: s.style8()}
		if !json.Valid(src) {
			return nil, c.syntaxFailure()
		}
		if ix.dataStream != "" && !bytes.Contains(src, []byte(`"@timestamp"`)) {
			return nil, missingTimestamp(c, len(src))
		}
		return nil, nil
	}
	c := &docChecker{m: ix.mapping, src: src, id: id, style8: s.style8()}
	if e := c.check(); e != nil {
		return nil, e
	}
	if ix.dataStream != "" {
		if !c.sawTimestamp {
			return nil, missingTimestamp(c, len(src))
		}
	}
	if limit := s.opts.MaxFieldsPerIndex; c.nAdded > 0 && ix.mapping.total+c.nAdded > limit {
		if s.major >= 8 && !s.opts.Flavor.IsOpenSearch() {
			reason := "Limit of total fields [" + itoa(limit) + "] has been exceeded while adding new fields [" + itoa(c.nAdded) + "]"
			return nil, c.wrap(len(src), "failed to parse: "+reason, illegalArgument(reason))
		}
		return nil, illegalArgument("Limit of total fields [" + itoa(limit) + "] in index [" + ix.name + "] has been exceeded")
	}
	return c, nil
}

func missingTimestamp(c *docChecker, col int) *esError {
	reason := "data stream timestamp field [@timestamp] is missing"
	if c.style8 {
		return c.wrap(col, "failed to parse: "+reason, illegalArgument(reason))
	}
	return c.wrap(col, "failed to parse", illegalArgument(reason))
}
