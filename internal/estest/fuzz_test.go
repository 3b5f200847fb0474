package estest

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
)

// FuzzBulkBody feeds arbitrary bodies to the bulk handler: it must answer
// 200 with a JSON item list of the right length or a 4xx JSON error, and
// never panic.
func FuzzBulkBody(f *testing.F) {
	seeds := []string{
		createLines("a", "1", "2"),
		`{"index":{"_index":"a","_id":"x","op_type":"create"}}` + "\n" + `{"a.b":1,"a":{"c":[1,{"d":"2024-01-01"}]}}` + "\n",
		`{"update":{"_index":"a","_id":"x"}}` + "\n" + `{"doc":{"n":1},"doc_as_upsert":true}` + "\n",
		`{"delete":{"_index":"a","_id":"x"}}` + "\n",
		`{"create":{"_index":"a","_id":"\u00e9\"q"}}` + "\n" + `{"m":"\ud83d\ude00","n":-1.5e3,"b":true,"z":null}` + "\n",
		"\n\n", `{"create":{}}` + "\n{}\n", `{"create":{"_index":"a"}}` + "\n[1]\n", `{"create":{"_index":"a"}}` + "\n" + `{"m":` + "\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	s, err := Start(Options{RequestLog: -1, Logger: discardLogger()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(s.Close)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/_bulk", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-ndjson")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("status %d with a non-JSON body %q", w.Code, w.Body.Bytes())
		}
		switch {
		case w.Code == 200:
			var br bulkResponse
			if err := json.Unmarshal(w.Body.Bytes(), &br); err != nil {
				t.Fatal(err)
			}
			if len(br.Items) == 0 {
				t.Fatalf("200 without items")
			}
		case w.Code >= 400 && w.Code < 500:
		default:
			t.Fatalf("status %d", w.Code)
		}
	})
}

// FuzzDocumentChecker runs the mapping walker on arbitrary sources: it must
// accept exactly the JSON objects and never panic.
func FuzzDocumentChecker(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":{"b":[1,2,{"c":"x"}]},"a.d":"2024-01-01T00:00:00Z"}`, `{"a":"\"\\"}`, `[]`, `{"a":}`, ` {"x" : [ ] , "y":{} } `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		m := newMapping()
		for i := 0; i < 2; i++ { // the second pass checks against the first's mapping
			c := &docChecker{m: m, src: src, id: "x", style8: i == 0}
			e := c.check()
			var v any
			isObject := json.Unmarshal(src, &v) == nil
			if _, ok := v.(map[string]any); !ok {
				isObject = false
			}
			if e == nil && !isObject {
				t.Fatalf("accepted a non-object %q", src)
			}
			if e == nil {
				m.commit(c)
			}
		}
	})
}
