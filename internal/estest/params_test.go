package estest

import (
	"strings"
	"testing"
)

func TestResponseParameters(t *testing.T) {
	s := startServer(t, Options{})
	hc := httpClient(t)
	do(t, hc, s, "POST", "/_bulk", createLines("p", "1"))
	body := createLines("p", "1", "2")
	cases := []struct {
		name   string
		path   string
		status int
		want   string
	}{
		{name: "filter_path keeps only the selected item fields", path: "/_bulk?filter_path=errors,items.*.status,items.*.error.type",
			status: 200, want: `{"errors":true,"items":[{"create":{"status":409,"error":{"type":"version_conflict_engine_exception"}}},{"create":{"status":201}}]}`},
		{name: "filter_path with ** reaches any depth", path: "/_bulk?filter_path=**.type",
			status: 200, want: `{"items":[{"create":{"error":{"type":"version_conflict_engine_exception"}}}]}`},
		{name: "filter_path selecting nothing gives an empty object", path: "/_bulk?filter_path=nothing",
			status: 200, want: `{}`},
		{name: "an unknown query parameter is refused", path: "/_bulk?colour=red",
			status: 400, want: "request [/_bulk] contains unrecognized parameter: [colour]"},
		{name: "refresh and timeout are accepted", path: "/_bulk?refresh=wait_for&timeout=1m&filter_path=errors",
			status: 200, want: `{"errors":true}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.Reset()
			do(t, hc, s, "POST", "/_bulk", createLines("p", "1"))
			res := do(t, hc, s, "POST", tc.path, body)
			if res.status != tc.status {
				t.Fatalf("status = %d, want %d: %s", res.status, tc.status, res.body)
			}
			if tc.status == 200 && string(res.body) != tc.want || !strings.Contains(string(res.body), tc.want) {
				t.Errorf("body = %s\nwant %s", res.body, tc.want)
			}
		})
	}
	res := do(t, hc, s, "GET", "/?pretty", "")
	if !strings.Contains(string(res.body), "\n  \"cluster_name\"") {
		t.Errorf("pretty body = %s", res.body)
	}
	res = do(t, hc, s, "GET", "/", "", "X-Opaque-Id: trace-42")
	if res.header.Get("X-Opaque-Id") != "trace-42" {
		t.Errorf("X-Opaque-Id not echoed")
	}
}

func TestOpenSearch1ShowsTypes(t *testing.T) {
	s := startServer(t, Options{Flavor: OpenSearch1})
	hc := httpClient(t)
	r := bulkRaw(t, hc, s, createLines("a", "1"))
	if _, it := r.item(t, 0); it.Type == nil || *it.Type != "_doc" || it.Status != 201 {
		t.Errorf("item = %+v", it)
	}
	s2 := startServer(t, Options{Flavor: OpenSearch2})
	r = bulkRaw(t, hc, s2, createLines("a", "1"))
	if _, it := r.item(t, 0); it.Type != nil {
		t.Errorf("OpenSearch 2 item has _type")
	}
}
