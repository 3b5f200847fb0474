package estest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestAdminAPIDrivesTheServer(t *testing.T) {
	s := startServer(t, Options{})
	admin := httptest.NewServer(s.AdminHandler())
	t.Cleanup(admin.Close)
	hc := httpClient(t)
	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, admin.URL+path, strings.NewReader(body))
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return res.StatusCode, m
	}
	cases := []struct {
		name   string
		method string
		path   string
		body   string
		status int
	}{
		{name: "an unknown fault kind is refused", method: "POST", path: "/faults", body: `{"kind":"meteor"}`, status: 400},
		{name: "an unknown field is refused", method: "POST", path: "/faults", body: `{"kind":"status","colour":1}`, status: 400},
		{name: "a bad duration is refused", method: "POST", path: "/faults", body: `{"kind":"latency","latency":"soon"}`, status: 400},
		{name: "a fraction above one is refused", method: "POST", path: "/faults", body: `{"kind":"status","fraction":2}`, status: 400},
		{name: "an unknown admin path is a 404", method: "GET", path: "/nope", status: 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if st, m := call(tc.method, tc.path, tc.body); st != tc.status {
				t.Errorf("status = %d, want %d: %v", st, tc.status, m)
			}
		})
	}

	st, m := call("POST", "/faults", `{"kind":"status","status":429,"count":1,"retry_after":"2s"}`)
	if st != 200 {
		t.Fatalf("inject: %d %v", st, m)
	}
	id := int(m["id"].(float64))
	if res := do(t, hc, s, "POST", "/_bulk", createLines("a", "1")); res.status != 429 || res.header.Get("Retry-After") != "2" {
		t.Fatalf("injected 429 not served: %d", res.status)
	}
	if _, m := call("GET", "/faults/"+itoa(id), ""); m["fired"].(float64) != 1 {
		t.Errorf("fired = %v", m["fired"])
	}
	do(t, hc, s, "POST", "/_bulk", createLines("a", "1", "2"))
	do(t, hc, s, "POST", "/_bulk", createLines("a", "2"))
	if _, m := call("GET", "/count?index=a", ""); m["count"].(float64) != 2 {
		t.Errorf("count = %v", m)
	}
	if _, m := call("GET", "/duplicates", ""); m["duplicate_creates"].(float64) != 1 {
		t.Errorf("duplicates = %v", m)
	}
	if st, _ := call("POST", "/outage?down=true&for=50ms", ""); st != 200 {
		t.Fatalf("outage: %d", st)
	}
	waitUntil(t, 5*time.Second, "the timed outage to end", func() bool { return !s.InOutage() })
	if res := do(t, hc, s, "GET", "/", ""); res.status != 200 {
		t.Errorf("after outage: %d", res.status)
	}
	if st, _ := call("POST", "/reset", ""); st != 200 || s.Count("a") != 0 {
		t.Errorf("reset left %d documents", s.Count("a"))
	}
	if st, _ := call("GET", "/stats", ""); st != 200 {
		t.Errorf("stats: %d", st)
	}
}
