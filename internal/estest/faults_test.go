package estest

import (
	"encoding/json"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v7"
)

func TestRequestLevelFaults(t *testing.T) {
	cases := []struct {
		name        string
		fault       Fault
		wantStatus  int
		wantType    string // error.type of a JSON body; "" for non-JSON bodies
		wantHeader  map[string]string
		noProduct   bool
		wantStored  int // documents stored by the faulty request
		wantFiredOn int // requests (of 3) the fault fires on
	}{
		{
			name:       "a 429 with Retry-After fires for the next two requests only",
			fault:      Fault{Kind: FaultStatus, Status: 429, RetryAfter: 1500 * time.Millisecond, Count: 2},
			wantStatus: 429, wantType: "es_rejected_execution_exception",
			wantHeader:  map[string]string{"Retry-After": "2"},
			wantFiredOn: 2,
		},
		{
			name:       "a 500 answers an exception body",
			fault:      Fault{Kind: FaultStatus, Status: 500, Count: 1},
			wantStatus: 500, wantType: "exception", wantFiredOn: 1,
		},
		{
			name:       "a 503 without status given is a cluster block",
			fault:      Fault{Kind: FaultStatus, Count: 1},
			wantStatus: 503, wantType: "cluster_block_exception", wantFiredOn: 1,
		},
		{
			name:       "a 502 looks like a proxy: html and no product header",
			fault:      Fault{Kind: FaultStatus, Status: 502, Count: 1},
			wantStatus: 502, noProduct: true, wantFiredOn: 1,
			wantHeader: map[string]string{"Content-Type": "text/html"},
		},
		{
			name:       "a garbage body is a 200 that is not JSON and stores nothing",
			fault:      Fault{Kind: FaultGarbageBody, Count: 1},
			wantStatus: 200, wantFiredOn: 1,
		},
		{
			name:       "a truncated body is a 200 cut in half after storing",
			fault:      Fault{Kind: FaultTruncatedBody, Count: 1},
			wantStatus: 200, wantStored: 2, wantFiredOn: 1,
		},
		{
			name:       "an unlimited fault fires on every request",
			fault:      Fault{Kind: FaultStatus, Status: 503},
			wantStatus: 503, wantType: "cluster_block_exception", wantFiredOn: 3,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, Options{})
			hc := httpClient(t)
			id := s.InjectFault(tc.fault)
			res := do(t, hc, s, "POST", "/_bulk", createLines("f", "1", "2"))
			if res.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d: %s", res.status, tc.wantStatus, res.body)
			}
			for k, v := range tc.wantHeader {
				if got := res.header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if got := res.header.Get("X-Elastic-Product") == ""; got != tc.noProduct {
				t.Errorf("product header absent = %v, want %v", got, tc.noProduct)
			}
			isJSON := json.Valid(res.body)
			if tc.wantType != "" {
				if got := errorType(t, res.body); got != tc.wantType {
					t.Errorf("error type = %q, want %q", got, tc.wantType)
				}
			} else if isJSON && tc.wantStatus == 200 {
				t.Errorf("body of a %v fault is valid JSON: %s", tc.fault.Kind, res.body)
			}
			if n := s.Count("f"); n != tc.wantStored {
				t.Errorf("stored %d documents, want %d", n, tc.wantStored)
			}
			do(t, hc, s, "POST", "/_bulk", createLines("g", "1"))
			do(t, hc, s, "POST", "/_bulk", createLines("h", "1"))
			if got := s.Fired(id); got != tc.wantFiredOn {
				t.Errorf("fired %d times, want %d", got, tc.wantFiredOn)
			}
			s.ClearFaults()
			if res := do(t, hc, s, "POST", "/_bulk", createLines("i", "1")); res.status != 200 {
				t.Errorf("after ClearFaults: status %d", res.status)
			}
		})
	}
}

func TestFractionalFaultsAreReproducible(t *testing.T) {
	fire := func() (int, []int) {
		s := startServer(t, Options{Seed: 42})
		hc := httpClient(t)
		id := s.InjectFault(Fault{Kind: FaultStatus, Status: 429, Fraction: 0.3})
		var statuses []int
		for i := 0; i < 60; i++ {
			statuses = append(statuses, do(t, hc, s, "POST", "/_bulk", createLines("f", "x")).status)
		}
		return s.Fired(id), statuses
	}
	n1, st1 := fire()
	n2, st2 := fire()
	if n1 != n2 || len(st1) != len(st2) {
		t.Fatalf("runs differ: %d vs %d", n1, n2)
	}
	for i := range st1 {
		if st1[i] != st2[i] {
			t.Fatalf("request %d: %d vs %d", i, st1[i], st2[i])
		}
	}
	if n1 < 6 || n1 > 30 {
		t.Errorf("fraction 0.3 fired %d of 60 times", n1)
	}
}

func TestItemFaults(t *testing.T) {
	cases := []struct {
		name       string
		fault      Fault
		ids        []string
		wantFailed []string
		wantStatus int
		wantType   string
	}{
		{
			name:       "items chosen by id get 429 es_rejected_execution_exception",
			fault:      Fault{Kind: FaultItemStatus, IDs: []string{"b", "d"}},
			ids:        []string{"a", "b", "c", "d"},
			wantFailed: []string{"b", "d"},
			wantStatus: 429, wantType: "es_rejected_execution_exception",
		},
		{
			name:       "count limits the number of failed items",
			fault:      Fault{Kind: FaultItemStatus, Count: 1},
			ids:        []string{"a", "b", "c"},
			wantFailed: []string{"a"},
			wantStatus: 429, wantType: "es_rejected_execution_exception",
		},
		{
			name:       "a 503 item is an unavailable shard",
			fault:      Fault{Kind: FaultItemStatus, Status: 503, IDs: []string{"c"}},
			ids:        []string{"a", "b", "c"},
			wantFailed: []string{"c"},
			wantStatus: 503, wantType: "unavailable_shards_exception",
		},
		{
			name:       "a 400 item is a permanent failure",
			fault:      Fault{Kind: FaultItemStatus, Status: 400, IDs: []string{"a"}},
			ids:        []string{"a", "b"},
			wantFailed: []string{"a"},
			wantStatus: 400, wantType: "illegal_argument_exception",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, Options{})
			c := newESClient(t, s, elasticsearch.Config{DisableRetry: true})
			s.InjectFault(tc.fault)
			r := mustBulk(t, c, createLines("it", tc.ids...))
			if !r.Errors {
				t.Errorf("errors flag is false")
			}
			var failed []string
			for i := range r.Items {
				_, it := r.item(t, i)
				if it.Error == nil {
					if it.Status != 201 {
						t.Errorf("item %s status %d", it.ID, it.Status)
					}
					continue
				}
				failed = append(failed, it.ID)
				if it.Status != tc.wantStatus || it.Error.Type != tc.wantType {
					t.Errorf("item %s = %d %s, want %d %s", it.ID, it.Status, it.Error.Type, tc.wantStatus, tc.wantType)
				}
				if s.Has("it", it.ID) {
					t.Errorf("failed item %s was stored", it.ID)
				}
			}
			if strings.Join(failed, ",") != strings.Join(tc.wantFailed, ",") {
				t.Errorf("failed items = %v, want %v", failed, tc.wantFailed)
			}
			if s.Count("it") != len(tc.ids)-len(tc.wantFailed) {
				t.Errorf("count = %d", s.Count("it"))
			}
			if st := s.Stats(); st.ItemStatuses[tc.wantStatus] != len(tc.wantFailed) {
				t.Errorf("item statuses = %v", st.ItemStatuses)
			}
		})
	}
}

func TestConnectionResets(t *testing.T) {
	cases := []struct {
		name       string
		kind       FaultKind
		wantStored int
	}{
		{name: "a reset before storing loses the request", kind: FaultResetBeforeStore, wantStored: 0},
		{name: "a reset after storing keeps the documents", kind: FaultResetAfterStore, wantStored: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, Options{})
			c := newESClient(t, s, elasticsearch.Config{DisableRetry: true})
			s.InjectFault(Fault{Kind: tc.kind, Count: 1})
			res, err := c.Bulk(strings.NewReader(createLines("r", "1", "2", "3")))
			if err == nil {
				res.Body.Close()
				t.Fatalf("bulk succeeded with status %d, want a transport error", res.StatusCode)
			}
			if s.Count("r") != tc.wantStored {
				t.Fatalf("stored %d, want %d", s.Count("r"), tc.wantStored)
			}
			// The client retries the same batch: the stored ones are 409s.
			r := mustBulk(t, c, createLines("r", "1", "2", "3"))
			if got := s.DuplicateCreates(); got != tc.wantStored {
				t.Errorf("duplicate creates = %d, want %d", got, tc.wantStored)
			}
			if s.Count("r") != 3 || len(r.Items) != 3 {
				t.Errorf("after retry count = %d", s.Count("r"))
			}
			if st := s.Stats(); st.Resets != 1 {
				t.Errorf("resets = %d", st.Resets)
			}
			reqs := s.Requests()
			var sawReset bool
			for _, rq := range reqs {
				if rq.Status == 0 && rq.Fault == tc.kind.String() {
					sawReset = true
				}
			}
			if !sawReset {
				t.Errorf("request log does not show the reset: %+v", reqs)
			}
		})
	}
}

func TestLatencyFault(t *testing.T) {
	s := startServer(t, Options{})
	hc := httpClient(t)
	hc.Timeout = time.Second
	s.InjectFault(Fault{Kind: FaultLatency, Latency: time.Minute, Count: 1})
	_, err := tryDo(hc, s, "POST", "/_bulk", createLines("l", "1"))
	if err == nil {
		t.Fatalf("request with a minute of latency beat a 1s client timeout")
	}
	hc.Timeout = 10 * time.Second
	s.InjectFault(Fault{Kind: FaultLatency, Latency: 50 * time.Millisecond, Count: 1})
	start := time.Now()
	res := do(t, hc, s, "POST", "/_bulk", createLines("l", "2"))
	if res.status != 200 || time.Since(start) < 50*time.Millisecond {
		t.Errorf("latency fault: status %d after %v", res.status, time.Since(start))
	}
	// The delayed request that the client abandoned is still processed,
	// like a slow cluster would.
	waitUntil(t, 10*time.Second, "the abandoned request to be applied", func() bool { return s.Count("l") == 2 })
}

func TestForbiddenTemplateFault(t *testing.T) {
	s := startServer(t, Options{Username: "logspool", Password: "pw"})
	c := newESClient(t, s, elasticsearch.Config{Username: "logspool", Password: "pw"})
	s.InjectFault(Fault{Kind: FaultForbidden})
	res, err := c.Indices.PutIndexTemplate("t", strings.NewReader(`{"index_patterns":["x-*"]}`))
	if err != nil {
		t.Fatal(err)
	}
	body := decodeES(t, res)
	if res.StatusCode != 403 {
		t.Fatalf("status %d", res.StatusCode)
	}
	e := body["error"].(map[string]any)
	if e["type"] != "security_exception" || !strings.Contains(e["reason"].(string), "indices:admin/index_template/put") {
		t.Errorf("error = %v", e)
	}
	if r := mustBulk(t, c, createLines("x-1", "1")); r.Errors {
		t.Errorf("bulk affected by a template fault")
	}
	if len(s.Templates()) != 3 { // the built-in ones only
		t.Errorf("templates = %d", len(s.Templates()))
	}
}

func TestOutage(t *testing.T) {
	s := startServer(t, Options{})
	hc := httpClient(t)
	url := s.URL()
	if res := do(t, hc, s, "POST", "/_bulk", createLines("o", "1")); res.status != 200 {
		t.Fatal(res.status)
	}
	if err := s.SetOutage(true); err != nil {
		t.Fatal(err)
	}
	// The kept-alive connection was closed: the old client sees EOF or a
	// reset, a new connection is refused.
	if _, err := tryDo(hc, s, "POST", "/_bulk", createLines("o", "2")); err == nil {
		t.Fatalf("request on a kept-alive connection during outage succeeded")
	}
	_, err := tryDo(httpClient(t), s, "POST", "/_bulk", createLines("o", "2"))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("error during outage = %v, want connection refused", err)
	}
	if err := s.SetOutage(false); err != nil {
		t.Fatal(err)
	}
	if s.URL() != url {
		t.Errorf("URL changed from %s to %s", url, s.URL())
	}
	if res := do(t, hc, s, "POST", "/_bulk", createLines("o", "3")); res.status != 200 {
		t.Fatal(res.status)
	}
	if got := s.IDs("o"); strings.Join(got, ",") != "1,3" {
		t.Errorf("ids after outage = %v", got)
	}
}

func TestOutageClosesOpenConnections(t *testing.T) {
	s := startServer(t, Options{})
	id := s.InjectFault(Fault{Kind: FaultLatency, Latency: 30 * time.Second, Endpoint: EndpointInfo})
	hc := httpClient(t)
	errc := make(chan error, 1)
	go func() {
		_, err := tryDo(hc, s, "GET", "/", "")
		errc <- err
	}()
	waitUntil(t, 5*time.Second, "the request to be in flight", func() bool { return s.Fired(id) > 0 })
	if err := s.SetOutage(true); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Errorf("in-flight request succeeded across an outage")
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("in-flight request not cut by the outage")
	}
	if err := s.SetOutage(false); err != nil {
		t.Fatal(err)
	}
	s.ClearFaults()
}

func TestItemFaultsByFraction(t *testing.T) {
	s := startServer(t, Options{Seed: 7})
	hc := httpClient(t)
	id := s.InjectFault(Fault{Kind: FaultItemStatus, Fraction: 0.25})
	ids := make([]string, 200)
	for i := range ids {
		ids[i] = "doc-" + itoa(i)
	}
	r := bulkRaw(t, hc, s, createLines("frac", ids...))
	failed := 0
	for i := range r.Items {
		if _, it := r.item(t, i); it.Status == 429 {
			failed++
		}
	}
	if failed != s.Fired(id) {
		t.Errorf("failed %d items, fault fired %d times", failed, s.Fired(id))
	}
	if failed < 20 || failed > 80 {
		t.Errorf("fraction 0.25 failed %d of 200 items", failed)
	}
	if s.Count("frac") != 200-failed {
		t.Errorf("count = %d, want %d", s.Count("frac"), 200-failed)
	}
}

func TestFloodStageBlocksItems(t *testing.T) {
	s := startServer(t, Options{})
	c := newESClient(t, s, elasticsearch.Config{DisableRetry: true})
	s.InjectFault(Fault{Kind: FaultFloodStage, Count: 2})
	r := mustBulk(t, c, createLines("disk", "1", "2", "3"))
	for i, want := range []int{429, 429, 201} {
		_, it := r.item(t, i)
		if it.Status != want {
			t.Errorf("item %d status %d, want %d", i, it.Status, want)
		}
		if want == 429 && (it.Error == nil || it.Error.Type != "cluster_block_exception" || !strings.Contains(it.Error.Reason, "flood-stage")) {
			t.Errorf("item %d error %+v", i, it.Error)
		}
	}
}

func TestSlowResponseStoresBeforeTheClientGivesUp(t *testing.T) {
	s := startServer(t, Options{})
	hc := httpClient(t)
	hc.Timeout = time.Second
	s.InjectFault(Fault{Kind: FaultSlowResponse, Latency: time.Minute, Count: 1})
	if _, err := tryDo(hc, s, "POST", "/_bulk", createLines("slow", "1", "2")); err == nil {
		t.Fatalf("slow response beat the client timeout")
	}
	waitUntil(t, 10*time.Second, "the documents of the slow request", func() bool { return s.Count("slow") == 2 })
	hc.Timeout = 10 * time.Second
	r := bulkRaw(t, hc, s, createLines("slow", "1", "2"))
	if _, it := r.item(t, 0); it.Status != 409 {
		t.Errorf("retry after timeout = %d, want 409", it.Status)
	}
}

func TestForbiddenOnBulkFailsItems(t *testing.T) {
	s := startServer(t, Options{})
	c := newESClient(t, s, elasticsearch.Config{DisableRetry: true})
	s.InjectFault(Fault{Kind: FaultForbidden, Endpoint: EndpointBulk, IDs: []string{"2"}})
	r := mustBulk(t, c, createLines("sec", "1", "2"))
	if _, it := r.item(t, 0); it.Status != 201 {
		t.Errorf("item 1 = %d", it.Status)
	}
	_, it := r.item(t, 1)
	if it.Status != 403 || it.Error == nil || it.Error.Type != "security_exception" || !strings.Contains(it.Error.Reason, "on indices [sec]") {
		t.Errorf("item 2 = %d %+v", it.Status, it.Error)
	}
}
