package estest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// fieldType is the mapped type of a field, reduced to what decides whether
// a value is accepted.
type fieldType uint8

const (
	ftObject  fieldType = iota + 1
	ftText              // dynamic strings: text with a .keyword sub-field
	ftKeyword           // explicit keyword, wildcard, constant_keyword...
	ftLong
	ftFloat
	ftBool
	ftDate
	ftOther // explicit types the server does not model: any concrete value
)

func (t fieldType) String() string {
	switch t {
	case ftObject:
		return "object"
	case ftText:
		return "text"
	case ftKeyword:
		return "keyword"
	case ftLong:
		return "long"
	case ftFloat:
		return "float"
	case ftBool:
		return "boolean"
	case ftDate:
		return "date"
	}
	return "other"
}

// mapping is the per-index field map: dotted path -> type.
type mapping struct {
	fields map[string]fieldType
	total  int // fields counted against index.mapping.total_fields.limit
}

func newMapping() *mapping { return &mapping{fields: map[string]fieldType{}} }

func explicitType(t string) fieldType {
	switch t {
	case "text", "match_only_text", "search_as_you_type":
		return ftText
	case "keyword", "wildcard", "constant_keyword", "version", "ip":
		return ftKeyword
	case "long", "integer", "short", "byte", "unsigned_long":
		return ftLong
	case "double", "float", "half_float", "scaled_float":
		return ftFloat
	case "boolean":
		return ftBool
	case "date", "date_nanos":
		return ftDate
	case "object", "nested":
		return ftObject
	case "flattened", "flat_object":
		// One field holding any object: its keys are never mapped.
		return ftOther
	}
	return ftOther
}

// addExplicit adds the fields of a mappings object
// ({"properties":{...}}) to m.
func (m *mapping) addExplicit(raw json.RawMessage) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
		return nil
	}
	var top struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		return fmt.Errorf("parsing mappings: %w", err)
	}
	return m.addProperties("", top.Properties)
}

func (m *mapping) addProperties(prefix string, props map[string]json.RawMessage) error {
	for name, raw := range props {
		var p struct {
			Type       string                     `json:"type"`
			Properties map[string]json.RawMessage `json:"properties"`
			Fields     map[string]json.RawMessage `json:"fields"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return fmt.Errorf("parsing mapping of [%s%s]: %w", prefix, name, err)
		}
		full := prefix + name
		t := ftObject
		if p.Type != "" {
			t = explicitType(p.Type)
		}
		if _, ok := m.fields[full]; !ok {
			m.total++
		}
		m.fields[full] = t
		m.total += len(p.Fields)
		if t == ftObject {
			if err := m.addProperties(full+".", p.Properties); err != nil {
				return err
			}
		}
	}
	return nil
}

// metaFields cannot appear at the top level of a document source.
var metaFields = map[string]bool{
	"_id": true, "_index": true, "_routing": true, "_source": true, "_version": true,
	"_seq_no": true, "_primary_term": true, "_ignored": true, "_field_names": true,
	"_doc_count": true, "_tier": true, "_data_stream_timestamp": true, "_nested_path": true,
	"_feature": true, "_type": true,
}

// docChecker walks one document against a mapping, collecting the dynamic
// fields it would add. Nothing is changed until commit.
type docChecker struct {
	m      *mapping
	src    []byte
	i      int    // read position in src
	path   []byte // dotted path of the field being walked
	id     string
	style8 bool // document_parsing_exception with [line:col] (8.8+)
	added  map[string]fieldType
	nAdded int

	sawTimestamp bool // a non-null top-level @timestamp
}

func (c *docChecker) typeOf(path []byte) (fieldType, bool) {
	if t, ok := c.added[string(path)]; ok {
		return t, true
	}
	t, ok := c.m.fields[string(path)]
	return t, ok
}

func (c *docChecker) add(path []byte, t fieldType) {
	if c.added == nil {
		c.added = map[string]fieldType{}
	}
	c.added[string(path)] = t
	c.nAdded++
	if t == ftText {
		c.nAdded++ // the .keyword multi-field
	}
}

func (c *docChecker) col() int { return c.i + 1 }

func (c *docChecker) wrap(col int, reason string, cause *esError) *esError {
	if c.style8 {
		return &esError{Type: "document_parsing_exception", Reason: "[1:" + itoa(col) + "] " + reason, CausedBy: cause}
	}
	return &esError{Type: "mapper_parsing_exception", Reason: reason, CausedBy: cause}
}

// syntaxFailure describes why src is not JSON, as a per-item error.
func (c *docChecker) syntaxFailure() *esError {
	var v any
	err := json.Unmarshal(c.src, &v)
	col := 1
	msg := "Unexpected end-of-input"
	var se *json.SyntaxError
	if errors.As(err, &se) {
		col = int(se.Offset)
		msg = se.Error()
		if se.Offset >= int64(len(c.src)) {
			msg = "Unexpected end-of-input: " + msg
		}
	} else if err != nil {
		msg = err.Error()
	}
	cause := &esError{Type: "json_parse_exception", Reason: msg}
	if c.style8 {
		return c.wrap(col, "failed to parse: "+msg, cause)
	}
	return c.wrap(col, "failed to parse", cause)
}

func (c *docChecker) fieldFailure(col int, path string, t fieldType, preview string, cause *esError) *esError {
	return c.wrap(col, "failed to parse field ["+path+"] of type ["+t.String()+"] in document with id '"+c.id+"'. Preview of field's value: '"+preview+"'", cause)
}

// check validates src; on success c.added holds the new dynamic fields.
// The walk below runs on JSON known to be valid.
func (c *docChecker) check() *esError {
	if !json.Valid(c.src) {
		return c.syntaxFailure()
	}
	c.i = 0
	c.path = c.path[:0]
	c.ws()
	if c.src[c.i] != '{' {
		return c.wrap(1, "failed to parse", &esError{Type: "not_x_content_exception", Reason: "Compressor detection can only be called on some xcontent bytes or compressed xcontent bytes"})
	}
	c.i++
	return c.object(0, 0)
}

func (c *docChecker) ws() {
	for c.i < len(c.src) {
		switch c.src[c.i] {
		case ' ', '\t', '\r', '\n':
			c.i++
		default:
			return
		}
	}
}

// str reads the string starting at c.i (a quote) and returns it decoded.
func (c *docChecker) str() string { return string(c.strBytes()) }

// strBytes reads the string starting at c.i (a quote) and returns its
// content: a slice of src when it has no escapes, a decoded copy otherwise.
func (c *docChecker) strBytes() []byte {
	start := c.i
	c.i++
	escaped := false
	for {
		ch := c.src[c.i]
		if ch == '\\' {
			escaped = true
			c.i += 2
			continue
		}
		c.i++
		if ch == '"' {
			break
		}
	}
	if !escaped {
		return c.src[start+1 : c.i-1]
	}
	var out string
	_ = json.Unmarshal(c.src[start:c.i], &out)
	return []byte(out)
}

// object walks members after '{' up to and including '}'. The object's
// path is c.path[:prefixLen] (ending in '.' unless it is the root).
func (c *docChecker) object(prefixLen int, depth int) *esError {
	if depth > 20 {
		return c.wrap(c.col(), "The depth of the field has exceeded the allowed limit of [20]", nil)
	}
	c.ws()
	if c.src[c.i] == '}' {
		c.i++
		return nil
	}
	for {
		c.ws()
		key := c.strBytes()
		c.ws()
		c.i++ // ':'
		if prefixLen == 0 && len(key) > 0 && key[0] == '_' && metaFields[string(key)] {
			return c.wrap(c.col(), "Field ["+string(key)+"] is a metadata field and cannot be added inside a document. Use the index API request parameters.", nil)
		}
		if onlyDotsAndSpace(key) {
			return c.wrap(c.col(), "field name cannot be an empty string", nil)
		}
		c.path = append(c.path[:prefixLen], key...)
		leafStart := prefixLen
		if bytes.IndexByte(key, '.') >= 0 {
			segStart := prefixLen
			for j := prefixLen; j <= len(c.path); j++ {
				if j < len(c.path) && c.path[j] != '.' {
					continue
				}
				if j == segStart {
					return c.wrap(c.col(), "field name cannot contain only whitespace: ['"+string(key)+"']", nil)
				}
				if j < len(c.path) { // an intermediate object
					sub := c.path[:j]
					if t, ok := c.typeOf(sub); ok && t != ftObject {
						return c.wrap(c.col(), "Could not dynamically add mapping for field ["+string(c.path)+"]. Existing mapping for ["+string(sub)+"] must be of type object but found ["+t.String()+"].", nil)
					} else if !ok {
						c.add(sub, ftObject)
					}
				}
				segStart = j + 1
			}
			leafStart = segStart
		}
		pathLen := len(c.path)
		if prefixLen == 0 && string(c.path) == "@timestamp" {
			c.sawTimestamp = true
		}
		if e := c.value(pathLen, leafStart, depth); e != nil {
			return e
		}
		c.ws()
		if c.src[c.i] == ',' {
			c.i++
			continue
		}
		c.i++ // '}'
		return nil
	}
}

// value walks the value at c.i for the field c.path[:pathLen], whose last
// segment starts at leafStart.
func (c *docChecker) value(pathLen, leafStart int, depth int) *esError {
	c.ws()
	c.path = c.path[:pathLen]
	start := c.i
	col := c.col()
	t, known := c.typeOf(c.path)
	leaf := func() string { return string(c.path[leafStart:pathLen]) }
	path := func() string { return string(c.path[:pathLen]) }
	switch ch := c.src[c.i]; {
	case ch == '{':
		if known && t != ftObject {
			if t == ftOther {
				c.skipValue()
				return nil
			}
			return c.fieldFailure(col, path(), t, javaPreview(c.src[start:]),
				&esError{Type: "illegal_state_exception", Reason: "Can't get text on a START_OBJECT at 1:" + itoa(col)})
		}
		if !known {
			c.add(c.path, ftObject)
		}
		c.i++
		c.path = append(c.path[:pathLen], '.')
		return c.object(pathLen+1, depth+1)
	case ch == '[':
		c.i++
		c.ws()
		if c.src[c.i] == ']' {
			c.i++
			return nil
		}
		for {
			if e := c.value(pathLen, leafStart, depth+1); e != nil {
				return e
			}
			c.ws()
			if c.src[c.i] == ',' {
				c.i++
				continue
			}
			c.i++ // ']'
			return nil
		}
	case ch == 'n':
		c.i += 4
		if depth == 0 && pathLen == len("@timestamp") && string(c.path) == "@timestamp" {
			c.sawTimestamp = false
		}
		return nil
	case ch == 't' || ch == 'f':
		b := ch == 't'
		if b {
			c.i += 4
		} else {
			c.i += 5
		}
		if !known {
			c.add(c.path, ftBool)
			return nil
		}
		return c.checkBool(col, path(), leaf(), t, b)
	case ch == '"':
		v := c.strBytes()
		if !known {
			if looksLikeDateBytes(v) {
				c.add(c.path[:pathLen], ftDate)
			} else {
				c.add(c.path[:pathLen], ftText)
			}
			return nil
		}
		switch t {
		case ftText, ftKeyword, ftOther:
			return nil
		}
		return c.checkString(col, path(), leaf(), t, string(v))
	default: // number
		float := false
		for c.i < len(c.src) {
			ch := c.src[c.i]
			if ch >= '0' && ch <= '9' || ch == '-' || ch == '+' {
				c.i++
				continue
			}
			if ch == '.' || ch == 'e' || ch == 'E' {
				float = true
				c.i++
				continue
			}
			break
		}
		if !known {
			if float {
				c.add(c.path, ftFloat)
			} else {
				c.add(c.path, ftLong)
			}
			return nil
		}
		switch t {
		case ftObject, ftBool:
			return c.checkNumber(col, path(), leaf(), t, string(c.src[start:c.i]))
		}
		return nil
	}
}

// skipValue skips the value at c.i.
func (c *docChecker) skipValue() {
	c.ws()
	switch c.src[c.i] {
	case '"':
		c.str()
	case '{', '[':
		depth := 0
		for {
			switch c.src[c.i] {
			case '"':
				c.str()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			c.i++
			if depth == 0 {
				return
			}
		}
	default:
		for c.i < len(c.src) && !strings.ContainsRune(",}] \t\r\n", rune(c.src[c.i])) {
			c.i++
		}
	}
}

func (c *docChecker) concreteInObject(col int, path, leaf string) *esError {
	return c.wrap(col, "object mapping for ["+path+"] tried to parse field ["+leaf+"] as object, but found a concrete value", nil)
}

func (c *docChecker) checkString(col int, path, leaf string, t fieldType, s string) *esError {
	switch t {
	case ftObject:
		return c.concreteInObject(col, path, leaf)
	case ftLong, ftFloat:
		if _, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil {
			return c.fieldFailure(col, path, t, s, &esError{Type: "number_format_exception", Reason: `For input string: "` + s + `"`})
		}
	case ftBool:
		if s != "true" && s != "false" && s != "" {
			return c.fieldFailure(col, path, t, s, illegalArgument("Failed to parse value ["+s+"] as only [true] or [false] are allowed."))
		}
	case ftDate:
		if !looksLikeDate(s) && !isDigits(s) {
			return c.fieldFailure(col, path, t, s, illegalArgument("failed to parse date field ["+s+"] with format [strict_date_optional_time||epoch_millis]"))
		}
	}
	return nil
}

func (c *docChecker) checkNumber(col int, path, leaf string, t fieldType, n string) *esError {
	switch t {
	case ftObject:
		return c.concreteInObject(col, path, leaf)
	case ftBool:
		return c.fieldFailure(col, path, t, n, illegalArgument("Failed to parse value ["+n+"] as only [true] or [false] are allowed."))
	}
	return nil
}

func (c *docChecker) checkBool(col int, path, leaf string, t fieldType, b bool) *esError {
	s := strconv.FormatBool(b)
	switch t {
	case ftObject:
		return c.concreteInObject(col, path, leaf)
	case ftLong, ftFloat:
		tok := "VALUE_FALSE"
		if b {
			tok = "VALUE_TRUE"
		}
		return c.fieldFailure(col, path, t, s, illegalArgument("Current token ("+tok+") not numeric, can not use numeric value accessors"))
	case ftDate:
		return c.fieldFailure(col, path, t, s, illegalArgument("failed to parse date field ["+s+"] with format [strict_date_optional_time||epoch_millis]"))
	}
	return nil
}

// commit adds the fields found by a successful check.
func (m *mapping) commit(c *docChecker) {
	for p, t := range c.added {
		m.fields[p] = t
	}
	m.total += c.nAdded
}

var dateRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(T\d{2}(:\d{2}(:\d{2}([.,]\d{1,9})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$`)

// looksLikeDate approximates dynamic date detection with
// strict_date_optional_time.
func looksLikeDate(s string) bool {
	if len(s) < 10 || len(s) > 35 || s[4] != '-' {
		return false
	}
	return dateRE.MatchString(s)
}

func looksLikeDateBytes(b []byte) bool {
	if len(b) < 10 || len(b) > 35 || b[4] != '-' {
		return false
	}
	return dateRE.Match(b)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// javaPreview renders the JSON value at the start of b the way Java's
// Map/List toString does ({a=1, b=x}), as Elasticsearch previews it.
func javaPreview(b []byte) string {
	b = bytes.TrimLeft(b, " \t\r\n:,")
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return ""
	}
	var sb strings.Builder
	writeJava(&sb, v)
	return sb.String()
}

func writeJava(sb *strings.Builder, v any) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		sb.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(k)
			sb.WriteByte('=')
			writeJava(sb, x[k])
		}
		sb.WriteByte('}')
	case []any:
		sb.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				sb.WriteString(", ")
			}
			writeJava(sb, e)
		}
		sb.WriteByte(']')
	case nil:
		sb.WriteString("null")
	default:
		fmt.Fprint(sb, x)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// onlyDotsAndSpace reports whether a field name has no other characters
// than dots and white space (an empty name once split on dots).
func onlyDotsAndSpace(b []byte) bool {
	for _, c := range b {
		switch c {
		case '.', ' ', '\t', '\r', '\n':
		default:
			return false
		}
	}
	return true
}
