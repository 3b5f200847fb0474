package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRunServesUntilTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-flavor", "es7",
			"-fault", `{"kind":"status","status":503,"count":1}`}, pw)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the address line: %v", err)
	}
	go io.Copy(io.Discard, pr)
	var addrs map[string]string
	if err := json.Unmarshal([]byte(line), &addrs); err != nil {
		t.Fatalf("address line %q: %v", line, err)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	post := func() int {
		req, _ := http.NewRequest("POST", addrs["url"]+"/_bulk", strings.NewReader(`{"create":{"_index":"a","_id":"1"}}`+"\n{}\n"))
		req.Header.Set("Content-Type", "application/x-ndjson")
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := post(); got != 503 {
		t.Errorf("first bulk = %d, want the injected 503", got)
	}
	if got := post(); got != 200 {
		t.Errorf("second bulk = %d", got)
	}
	res, err := hc.Get(addrs["admin"] + "/count?index=a")
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Count int }
	_ = json.NewDecoder(res.Body).Decode(&c)
	res.Body.Close()
	if c.Count != 1 {
		t.Errorf("admin count = %d", c.Count)
	}
	tr.CloseIdleConnections()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	cases := []struct {
		name string
		args []string
	}{
		{name: "an unknown flavour", args: []string{"-flavor", "solr"}},
		{name: "an unknown fault kind", args: []string{"-fault", `{"kind":"meteor"}`}},
		{name: "a password without a user", args: []string{"-password", "x", "-addr", "127.0.0.1:0", "-admin-addr", ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := run(context.Background(), tc.args, io.Discard); err == nil {
				t.Fatalf("run accepted %v", tc.args)
			}
		})
	}
}
