package estest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// bulkOp is one parsed action of a _bulk body.
type bulkOp struct {
	action   string // create, index, update, delete
	line     int    // 1-based line of the action
	index    string
	id       string
	create   bool // create semantics: action create, or index with op_type create
	ifSeqNo  int64
	ifTerm   int64
	hasIfSN  bool
	source   []byte // document (create/index) or update body; nil for delete
	pipeline string

	// update only
	upd *updateBody
}

type updateBody struct {
	Doc         json.RawMessage `json:"doc"`
	Upsert      json.RawMessage `json:"upsert"`
	DocAsUpsert bool            `json:"doc_as_upsert"`
	DetectNoop  *bool           `json:"detect_noop"`
	Script      json.RawMessage `json:"script"`
	Scripted    bool            `json:"scripted_upsert"`
	Source      json.RawMessage `json:"_source"`
}

var actionParams = map[string]bool{
	"_index": true, "_id": true, "routing": true, "op_type": true, "version": true,
	"version_type": true, "if_seq_no": true, "if_primary_term": true, "pipeline": true,
	"require_alias": true, "retry_on_conflict": true, "_source": true,
	"dynamic_templates": true, "require_data_stream": true, "list_executed_pipelines": true,
}

// parseBulk splits an NDJSON bulk body into operations, or returns the
// request-level error Elasticsearch would.
func (s *Server) parseBulk(body []byte, defaultIndex string, allowType bool) ([]bulkOp, *esError) {
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
		if nl < 0 {
			break
		}
		actionLine := body[from : from+nl]
		line++
		from += nl + 1
		if len(bytes.TrimSpace(actionLine)) == 0 {
			continue // Elasticsearch skips empty action lines
		}
		op, e := s.parseAction(actionLine, line, allowType)
		if e != nil {
			return nil, e
		}
		if op.index == "" {
			op.index = defaultIndex
		}
		if op.action != "delete" {
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
				if op.action == "update" {
					return nil, &esError{Type: "x_content_parse_exception", Reason: "[" + itoa(line) + ":1] Unexpected end of file"}
				}
				validation = append(validation, "source is missing")
			}
			if op.action == "update" && len(bytes.TrimSpace(op.source)) > 0 {
				var u updateBody
				dec := json.NewDecoder(bytes.NewReader(op.source))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&u); err != nil {
					return nil, &esError{Type: "x_content_parse_exception", Reason: "[" + itoa(line) + ":1] [UpdateRequest] failed to parse: " + err.Error()}
				}
				if u.Doc == nil && u.Script == nil {
					validation = append(validation, "script or doc is missing")
				}
				op.upd = &u
			}
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

// parseAction parses one action/metadata line.
func (s *Server) parseAction(b []byte, line int, allowType bool) (bulkOp, *esError) {
	op := bulkOp{line: line}
	if ok := fastAction(b, &op); ok {
		return op, s.finishAction(&op)
	}
	op = bulkOp{line: line}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	xerr := func(err error) *esError {
		col := int(dec.InputOffset()) + 1
		var se *json.SyntaxError
		if errors.As(err, &se) {
			col = int(se.Offset)
		}
		msg := err.Error()
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			msg = "Unexpected end-of-input"
		}
		return &esError{Type: "x_content_parse_exception", Reason: "[" + itoa(line) + ":" + itoa(col) + "] " + msg}
	}
	tok, err := dec.Token()
	if err != nil {
		return op, xerr(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return op, malformed(line, "expected START_OBJECT but found ["+tokenName(tok)+"]")
	}
	tok, err = dec.Token()
	if err != nil {
		return op, xerr(err)
	}
	if d, ok := tok.(json.Delim); ok && d == '}' {
		return op, malformed(line, "expected FIELD_NAME but found [END_OBJECT]")
	}
	action, _ := tok.(string)
	switch action {
	case "create", "index", "update", "delete":
	default:
		return op, malformed(line, "expected field [create], [delete], [index] or [update] but found ["+action+"]")
	}
	op.action = action
	tok, err = dec.Token()
	if err != nil {
		return op, xerr(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return op, malformed(line, "expected START_OBJECT or END_OBJECT but found ["+tokenName(tok)+"]")
	}
	for dec.More() {
		tok, err = dec.Token()
		if err != nil {
			return op, xerr(err)
		}
		key, _ := tok.(string)
		tok, err = dec.Token()
		if err != nil {
			return op, xerr(err)
		}
		if d, ok := tok.(json.Delim); ok {
			if key == "dynamic_templates" && d == '{' || key == "_source" && d == '{' {
				depth := 1
				for depth > 0 {
					t, err := dec.Token()
					if err != nil {
						return op, xerr(err)
					}
					if dd, ok := t.(json.Delim); ok {
						if dd == '{' || dd == '[' {
							depth++
						} else {
							depth--
						}
					}
				}
				continue
			}
			return op, malformed(line, "expected a simple value for field ["+key+"] but found ["+tokenName(tok)+"]")
		}
		var val string
		switch v := tok.(type) {
		case string:
			val = v
		case json.Number:
			val = string(v)
		case bool:
			val = strconv.FormatBool(v)
		case nil:
			continue // null values are ignored, whatever the key
		}
		if e := s.setParam(&op, key, val, allowType); e != nil {
			return op, e
		}
	}
	if _, err := dec.Token(); err != nil { // inner '}'
		return op, xerr(err)
	}
	tok, err = dec.Token() // outer '}'
	if err != nil {
		return op, xerr(err)
	}
	if d, ok := tok.(json.Delim); (!ok || d != '}') && s.major >= 8 && !s.opts.Flavor.IsOpenSearch() {
		return op, malformed(line, "expected END_OBJECT but found ["+tokenName(tok)+"]")
	}
	return op, s.finishAction(&op)
}

func tokenName(tok any) string {
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			return "START_OBJECT"
		case '}':
			return "END_OBJECT"
		case '[':
			return "START_ARRAY"
		case ']':
			return "END_ARRAY"
		}
	case string:
		return "VALUE_STRING"
	case json.Number:
		return "VALUE_NUMBER"
	case bool:
		if v {
			return "VALUE_TRUE"
		}
		return "VALUE_FALSE"
	case nil:
		return "VALUE_NULL"
	}
	return "null"
}

func (s *Server) setParam(op *bulkOp, key, val string, allowType bool) *esError {
	if !actionParams[key] && !(key == "_type" && (s.hasTypes() || allowType)) {
		return illegalArgument("Action/metadata line [" + itoa(op.line) + "] contains an unknown parameter [" + key + "]")
	}
	switch key {
	case "_index":
		op.index = val
	case "_id":
		op.id = val
	case "op_type":
		if op.action != "index" {
			break
		}
		switch val {
		case "create":
			op.create = true
		case "index":
		default:
			return illegalArgument("opType must be 'create' or 'index', found: [" + val + "]")
		}
	case "if_seq_no":
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return illegalArgument("Failed to parse value [" + val + "] for [if_seq_no]")
		}
		op.ifSeqNo, op.hasIfSN = n, true
	case "pipeline":
		op.pipeline = val
	case "if_primary_term":
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return illegalArgument("Failed to parse value [" + val + "] for [if_primary_term]")
		}
		op.ifTerm = n
	}
	return nil
}

func (s *Server) finishAction(op *bulkOp) *esError {
	if op.action == "create" {
		op.create = true
	}
	return nil
}

// fastAction parses the common shape {"action":{"k":"v",...}} without
// allocating; it returns false on anything unusual so the careful parser
// can produce Elasticsearch's error.
func fastAction(b []byte, op *bulkOp) bool {
	sc := scanner{b: b}
	if !sc.lit('{') {
		return false
	}
	action, ok := sc.str()
	if !ok || !sc.lit(':') || !sc.lit('{') {
		return false
	}
	switch action {
	case "create", "index", "update", "delete":
	default:
		return false
	}
	op.action = action
	if sc.lit('}') {
		return sc.lit('}') && sc.end()
	}
	for {
		key, ok := sc.str()
		if !ok || !sc.lit(':') {
			return false
		}
		sc.ws()
		var val string
		if sc.i < len(sc.b) && sc.b[sc.i] == '"' {
			val, ok = sc.str()
		} else {
			val, ok = sc.number()
		}
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
		case "pipeline":
			op.pipeline = val
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
func (s *scanner) number() (string, bool) {
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c >= '0' && c <= '9' || c == '-' || c >= 'a' && c <= 'z' {
			s.i++
			continue
		}
		break
	}
	v := string(s.b[start:s.i])
	if v == "true" || v == "false" {
		return v, true
	}
	if _, err := strconv.ParseInt(v, 10, 64); err != nil {
		return "", false
	}
	return v, true
}

// itemResult is the outcome of one bulk item.
type itemResult struct {
	action  string
	index   string
	id      string
	status  int
	version int64
	result  string
	seq     int64
	noop    bool
	err     *esError
}

func (s *Server) handleBulk(ex *exchange, defaultIndex string) {
	start := time.Now()
	body, ok := s.readBody(ex)
	if !ok {
		return
	}
	ops, perr := s.parseBulk(body, defaultIndex, ex.compat7)
	if p := ex.r.URL.Query().Get("pipeline"); p != "" {
		for i := range ops {
			if ops[i].pipeline == "" {
				ops[i].pipeline = p
			}
		}
	}
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
	if r.noop {
		b = append(b, `","_shards":{"total":0,"successful":0,"failed":0},"_seq_no":`...)
	} else {
		b = append(b, `","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":`...)
	}
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
	if r.id == "" && op.action != "delete" && op.action != "update" {
		r.id = randomID(20)
	}
	if op.action == "update" && op.id == "" {
		return fail(http.StatusBadRequest, &esError{Type: "action_request_validation_exception", Reason: "Validation Failed: 1: id is missing;"})
	}
	if op.action == "delete" && op.id == "" {
		return fail(http.StatusBadRequest, &esError{Type: "action_request_validation_exception", Reason: "Validation Failed: 1: id is missing;"})
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
		if op.action == "delete" {
			return fail(http.StatusNotFound, indexNotFound(op.index))
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
			x, err := st.newIndex(op.index, t, nil)
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
	if p := op.pipeline; p != "" && p != "_none" && op.action != "delete" {
		if _, ok := st.pipelines[p]; !ok {
			return fail(http.StatusBadRequest, illegalArgument("pipeline with id ["+p+"] does not exist"))
		}
	}
	if st, kind := faults.check(r.id); st != 0 {
		return fail(st, s.itemFaultError(st, kind, ix.name))
	}

	curVersion, cur, exists := ix.get(r.id)
	if op.hasIfSN {
		var curSeq int64 = -2
		if cur != nil {
			curSeq = cur.seq
		}
		if !exists || curSeq != op.ifSeqNo || op.ifTerm != 1 {
			curDesc := "document does not exist (expected [" + strconv.FormatInt(op.ifSeqNo, 10) + "])"
			if exists {
				curDesc = "required seqNo [" + strconv.FormatInt(op.ifSeqNo, 10) + "], primary term [" + strconv.FormatInt(op.ifTerm, 10) + "]. current document has seqNo [" + strconv.FormatInt(curSeq, 10) + "] and primary term [1]"
			}
			return fail(http.StatusConflict, conflictErr("version conflict, "+curDesc))
		}
	}

	switch op.action {
	case "delete":
		if !exists {
			r.status, r.result, r.version = http.StatusNotFound, "not_found", 1
			r.seq = ix.seq
			ix.seq++
			return r
		}
		r.seq = ix.remove(r.id)
		r.status, r.result, r.version = http.StatusOK, "deleted", curVersion+1
		return r

	case "create", "index":
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

	case "update":
		u := op.upd
		if u.Script != nil {
			return fail(http.StatusBadRequest, illegalArgument("estest: scripted updates are not supported"))
		}
		var newSrc []byte
		switch {
		case exists && cur != nil:
			merged, err := mergeDoc(cur.src, u.Doc)
			if err != nil {
				return fail(http.StatusBadRequest, &esError{Type: "mapper_parsing_exception", Reason: "failed to parse", CausedBy: &esError{Type: "json_parse_exception", Reason: err.Error()}})
			}
			detect := u.DetectNoop == nil || *u.DetectNoop
			if detect && jsonEqual(merged, cur.src) {
				r.status, r.result, r.version, r.noop = http.StatusOK, "noop", curVersion, true
				r.seq = cur.seq
				return r
			}
			newSrc = merged
		case exists: // Discard mode: no source to merge
			newSrc = u.Doc
		case u.DocAsUpsert:
			newSrc = u.Doc
		case u.Upsert != nil:
			newSrc = u.Upsert
		default:
			reason := "[" + r.id + "]: document missing"
			if s.hasTypes() {
				reason = "[_doc][" + r.id + "]: document missing"
			}
			return fail(http.StatusNotFound, &esError{Type: "document_missing_exception", Reason: reason,
				Extra: []kv{{"index_uuid", ix.uuid}, {"shard", "0"}, {"index", ix.name}}})
		}
		checker, e := st.checkDoc(ix, newSrc, r.id)
		if e != nil {
			return fail(http.StatusBadRequest, e)
		}
		if checker != nil {
			ix.mapping.commit(checker)
		}
		r.version = curVersion + 1
		r.seq = ix.put(r.id, st.keep(newSrc), r.version)
		if exists {
			r.status, r.result = http.StatusOK, "updated"
		} else {
			r.status, r.result = http.StatusCreated, "created"
		}
		return r
	}
	return fail(http.StatusBadRequest, illegalArgument("unknown action ["+op.action+"]"))
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

// mergeDoc merges patch into src recursively, as a partial update does.
func mergeDoc(src, patch []byte) ([]byte, error) {
	var a, b map[string]any
	if err := json.Unmarshal(src, &a); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(patch, &b); err != nil {
		return nil, err
	}
	mergeMaps(a, b)
	return json.Marshal(a)
}

func mergeMaps(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeMaps(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}
