package estest

import (
	"strconv"
	"unicode/utf8"
)

// esError is an Elasticsearch exception as it appears in JSON: a type, a
// reason, extra metadata fields in order, and an optional cause.
type esError struct {
	Type     string
	Reason   string
	Extra    []kv // ordered metadata such as index_uuid, shard, index
	CausedBy *esError
	Header   map[string][]string // the "header" object of security exceptions
}

type kv struct {
	K string
	V any // string, int, or bool
}

// appendObject appends e as a JSON object (the form used for bulk item
// errors and for causes).
func (e *esError) appendObject(b []byte, withCause bool) []byte {
	b = append(b, '{')
	b = e.appendFields(b, withCause)
	return append(b, '}')
}

// appendFields appends the members of e's object without the braces.
func (e *esError) appendFields(b []byte, withCause bool) []byte {
	b = append(b, `"type":`...)
	b = appendString(b, e.Type)
	b = append(b, `,"reason":`...)
	b = appendString(b, e.Reason)
	for _, x := range e.Extra {
		b = append(b, ',')
		b = appendString(b, x.K)
		b = append(b, ':')
		b = appendValue(b, x.V)
	}
	if e.Header != nil {
		b = append(b, `,"header":{`...)
		for i, k := range sortedKeys(e.Header) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ":["...)
			for j, v := range e.Header[k] {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendString(b, v)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	if withCause && e.CausedBy != nil {
		b = append(b, `,"caused_by":`...)
		b = e.CausedBy.appendObject(b, true)
	}
	return b
}

// requestErrorBody renders the body of a request-level error the way
// Elasticsearch does: {"error":{"root_cause":[...],...},"status":N}.
func requestErrorBody(e *esError, status int) []byte {
	b := make([]byte, 0, 256)
	b = append(b, `{"error":{"root_cause":[`...)
	b = e.appendObject(b, false)
	b = append(b, `],`...)
	b = e.appendFields(b, true)
	b = append(b, `},"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	return append(b, '}')
}

// simpleErrorBody renders the older flat form {"error":"...","status":N}
// Elasticsearch still uses for 405, 406 and unknown URIs.
func simpleErrorBody(reason string, status int) []byte {
	b := []byte(`{"error":`)
	b = appendString(b, reason)
	if status != 0 {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(status), 10)
	}
	return append(b, '}')
}

func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case string:
		return appendString(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case bool:
		return strconv.AppendBool(b, x)
	case []byte: // raw JSON
		return append(b, x...)
	}
	return append(b, "null"...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping like encoding/json
// minus the HTML escapes Elasticsearch does not do.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"':
				b = append(b, '\\', '"')
			case '\\':
				b = append(b, '\\', '\\')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Constructors of the exceptions the server produces. Reasons follow the
// texts of Elasticsearch 7.17/8.x.

func indexNotFound(name string) *esError {
	return &esError{Type: "index_not_found_exception", Reason: "no such index [" + name + "]",
		Extra: []kv{{"resource.type", "index_or_alias"}, {"resource.id", name}, {"index_uuid", "_na_"}, {"index", name}}}
}

func illegalArgument(reason string) *esError {
	return &esError{Type: "illegal_argument_exception", Reason: reason}
}

func rejectedExecution() *esError {
	return &esError{Type: "es_rejected_execution_exception",
		Reason: "rejected execution of coordinating operation [coordinating_and_primary_bytes=104857600, replica_bytes=0, all_bytes=104857600, coordinating_operation_bytes=1048576, max_coordinating_and_primary_bytes=107374182]"}
}

func rejectedItem() *esError {
	return &esError{Type: "es_rejected_execution_exception",
		Reason: "rejected execution of org.elasticsearch.action.support.replication.TransportWriteAction$1/WrappedActionListener{org.elasticsearch.action.support.replication.ReplicationOperation$$Lambda$1/0x0000000800a2f000@1b2c3d4e}{org.elasticsearch.action.support.replication.ReplicationOperation$$Lambda$2/0x0000000800a2f228@5e6f7a8b} on EsThreadPoolExecutor[name = estest-node/write, queue capacity = 10000, org.elasticsearch.common.util.concurrent.EsThreadPoolExecutor@9c0d1e2f[Running, pool size = 2, active threads = 2, queued tasks = 10000, completed tasks = 123456]]"}
}
