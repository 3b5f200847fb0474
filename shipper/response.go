package shipper

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// outcome is what happened to one bulk item.
type outcome uint8

const (
	outDelivered outcome = iota // 2xx: created
	outDuplicate                // 409: already there (a re-send); counts as delivered
	outRetry                    // 429, 5xx, es_rejected_execution_exception
	outDead                     // any other status: refused for good
)

// bulkFilterPath trims the response to what the shipper reads, which makes
// large responses much cheaper to transfer and parse.
var bulkFilterPath = []string{"errors", "items.*.status", "items.*.error"}

type bulkResponse struct {
	Errors bool       `json:"errors"`
	Items  []bulkItem `json:"-"`
}

// wireResponse is the JSON shape; a struct per item, not a map, so the
// common path allocates nothing per item.
type wireResponse struct {
	Errors bool `json:"errors"`
	Items  []struct {
		Create bulkItemBody `json:"create"`
		Index  bulkItemBody `json:"index"`
	} `json:"items"`
}

// bulkItem is one element of "items": {"<op>":{"status":N,"error":{...}}}.
// The shipper only sends create; index is accepted as well.
type bulkItem struct {
	Status int
	Error  json.RawMessage
}

type bulkItemBody struct {
	Status int             `json:"status"`
	Error  json.RawMessage `json:"error"`
}

// parseBulkResponse decodes a 2xx _bulk response body and checks that it
// answers exactly n items.
func parseBulkResponse(body []byte, n int) (*bulkResponse, error) {
	if items, ok := parseCleanBulkResponse(body, n); ok {
		return &bulkResponse{Items: items}, nil
	}
	return decodeBulkResponse(body, n)
}

// decodeBulkResponse is parseBulkResponse without the fast path.
func decodeBulkResponse(body []byte, n int) (*bulkResponse, error) {
	var w wireResponse
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, &BadResponseError{Reason: "decoding bulk response: " + err.Error(), Body: snippet(body)}
	}
	if len(w.Items) != n {
		return nil, &BadResponseError{Reason: fmt.Sprintf("bulk response has %d items for %d requested", len(w.Items), n), Body: snippet(body)}
	}
	r := &bulkResponse{Errors: w.Errors, Items: make([]bulkItem, n)}
	for i := range w.Items {
		c, x := &w.Items[i].Create, &w.Items[i].Index
		switch {
		case c.Status != 0 && x.Status != 0:
			return nil, &BadResponseError{Reason: fmt.Sprintf("bulk item %d has 2 operations, want 1", i), Body: snippet(body)}
		case x.Status != 0:
			r.Items[i] = bulkItem{Status: x.Status, Error: x.Error}
		default:
			r.Items[i] = bulkItem{Status: c.Status, Error: c.Error}
		}
		if s := r.Items[i].Status; s < 100 || s > 599 {
			return nil, &BadResponseError{Reason: fmt.Sprintf("bulk item %d has status %d", i, s), Body: snippet(body)}
		}
	}
	return r, nil
}

// parseCleanBulkResponse is the fast path for the common answers, in the
// exact compact shape filter_path produces: every item created, or already
// there (409, the answer to a re-send after a crash or a timeout):
//
//	{"errors":false,"items":[{"create":{"status":201}},...]}
//	{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409,"error":{...}}},...]}
//
// A 409's error object is skipped, not decoded (a duplicate needs no reason);
// a body holding any is checked with json.Valid first. It accepts nothing
// else (ok false), leaving every other body to the full decoder, which is the
// authority.
func parseCleanBulkResponse(body []byte, n int) (items []bulkItem, ok bool) {
	const item, created, conflict = `{"create":{"status":`, `}}`, `,"error":`
	body = bytes.TrimRight(body, " \r\n")
	p, found := bytes.CutPrefix(body, []byte(`{"errors":false,"items":[`))
	errs := false
	if !found {
		if p, found = bytes.CutPrefix(body, []byte(`{"errors":true,"items":[`)); !found {
			return nil, false
		}
		errs = true
	}
	if n <= 0 {
		return nil, false
	}
	items = bulkItemPool.get(min(n, len(p)/len(item)+1))
	conflicts := 0
	for {
		if p, found = bytes.CutPrefix(p, []byte(item)); !found || len(p) < 3 {
			return nil, false
		}
		if p[0] < '1' || p[0] > '5' || p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9' {
			return nil, false
		}
		st := int(p[0]-'0')*100 + int(p[1]-'0')*10 + int(p[2]-'0')
		p = p[3:]
		switch {
		case st >= 200 && st < 300:
			if p, found = bytes.CutPrefix(p, []byte(created)); !found {
				return nil, false
			}
		case st == http.StatusConflict:
			if p, found = bytes.CutPrefix(p, []byte(conflict)); !found {
				return nil, false
			}
			if p = skipObject(p); p == nil {
				return nil, false
			}
			if p, found = bytes.CutPrefix(p, []byte(created)); !found {
				return nil, false
			}
			conflicts++
		default:
			return nil, false // a real error: let the decoder judge
		}
		items = append(items, bulkItem{Status: st})
		if len(items) > n {
			return nil, false
		}
		switch {
		case len(p) > 0 && p[0] == ',':
			p = p[1:]
		case string(p) == "]}":
			if len(items) != n || errs != (conflicts > 0) || (conflicts > 0 && !json.Valid(body)) {
				return nil, false
			}
			return items, true
		default:
			return nil, false
		}
	}
}

// skipObject returns p after the JSON object it starts with, or nil when p
// does not start with one that closes. It tracks nesting and strings only;
// the caller validates the whole body.
func skipObject(p []byte) []byte {
	if len(p) == 0 || p[0] != '{' {
		return nil
	}
	depth, inStr := 0, false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case inStr:
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				return p[i+1:]
			}
		}
	}
	return nil
}

// classify sorts a bulk item, following Filebeat's bulkCollectPublishFails.
func classify(it *bulkItem) outcome {
	switch s := it.Status; {
	case s >= 200 && s < 300:
		return outDelivered
	case s == http.StatusConflict:
		return outDuplicate
	case s == http.StatusTooManyRequests || s >= 500:
		return outRetry
	}
	if errorType(it.Error) == "es_rejected_execution_exception" {
		return outRetry
	}
	return outDead
}

type esError struct {
	Type     string   `json:"type"`
	Reason   string   `json:"reason"`
	CausedBy *esError `json:"caused_by"`
}

func errorType(raw json.RawMessage) string {
	if len(raw) == 0 || raw[0] != '{' {
		return ""
	}
	var e esError
	if json.Unmarshal(raw, &e) != nil {
		return ""
	}
	return e.Type
}

// itemReason renders an item's error for a dead letter: status, type,
// reason and the chain of causes.
func itemReason(it *bulkItem) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(it.Status))
	if len(it.Error) == 0 {
		b.WriteString(" (no error detail)")
		return b.String()
	}
	var e esError
	if it.Error[0] != '{' || json.Unmarshal(it.Error, &e) != nil || e.Type == "" {
		b.WriteString(": ")
		b.Write(snippet(it.Error))
		return b.String()
	}
	for c, depth := &e, 0; c != nil && depth < 8; c, depth = c.CausedBy, depth+1 {
		if depth > 0 {
			b.WriteString("; caused by")
		}
		b.WriteString(" ")
		b.WriteString(c.Type)
		if c.Reason != "" {
			b.WriteString(": ")
			b.WriteString(c.Reason)
		}
	}
	return b.String()
}

// requestErrorText summarises the body of a failed request.
func requestErrorText(status int, body []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && len(e.Error) > 0 {
		if e.Error[0] == '"' {
			var s string
			_ = json.Unmarshal(e.Error, &s)
			return fmt.Sprintf("%d: %s", status, s)
		}
		return itemReason(&bulkItem{Status: status, Error: e.Error})
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return strconv.Itoa(status) + " " + http.StatusText(status)
	}
	return fmt.Sprintf("%d: %s", status, snippet(body))
}

const snippetLen = 512

// snippet returns a copy of the start of b (b may be a pooled buffer).
func snippet(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if len(b) > snippetLen {
		return append(bytes.Clone(b[:snippetLen]), "..."...)
	}
	return bytes.Clone(b)
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d < 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}
