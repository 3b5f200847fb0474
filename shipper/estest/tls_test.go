package estest

import (
	"crypto/tls"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/elastic/go-elasticsearch/v7"
)

func TestTLSAndMutualTLS(t *testing.T) {
	cases := []struct {
		name          string
		requireClient bool
		sendCert      bool
		wantErr       bool
	}{
		{name: "https with the generated CA works", requireClient: false, sendCert: false},
		{name: "mtls with the client certificate works", requireClient: true, sendCert: true},
		{name: "mtls without a client certificate is refused", requireClient: true, sendCert: false, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, certs := NewTLSServer(Options{RequireClientCert: tc.requireClient}, dir)
			t.Cleanup(s.Close)
			if !strings.HasPrefix(s.URL(), "https://127.0.0.1:") {
				t.Fatalf("URL = %s", s.URL())
			}
			for _, f := range []string{certs.CAFile, certs.ServerCert, certs.ServerKey, certs.ClientCert, certs.ClientKey} {
				if _, err := os.Stat(f); err != nil {
					t.Fatalf("missing %s: %v", f, err)
				}
			}
			cfg, err := certs.ClientTLSConfig(tc.sendCert)
			if err != nil {
				t.Fatal(err)
			}
			tr := &http.Transport{TLSClientConfig: cfg}
			t.Cleanup(tr.CloseIdleConnections)
			c := newESClient(t, s, elasticsearch.Config{Transport: tr, DisableRetry: true})
			res, err := c.Bulk(strings.NewReader(createLines("tls", "1")))
			if tc.wantErr {
				if err == nil {
					res.Body.Close()
					t.Fatalf("bulk without client certificate succeeded: %d", res.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("bulk over TLS: %v", err)
			}
			res.Body.Close()
			if s.Count("tls") != 1 {
				t.Fatalf("count = %d", s.Count("tls"))
			}
		})
	}
}

func TestTLSRefusesUntrustedClients(t *testing.T) {
	s, _ := NewTLSServer(Options{}, t.TempDir())
	t.Cleanup(s.Close)
	tr := &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	_, err := tryDo(&http.Client{Transport: tr}, s, "GET", "/", "")
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("request trusting nothing = %v, want a certificate error", err)
	}
}

func TestTLSThroughTheClientCACertOption(t *testing.T) {
	s, certs := NewTLSServer(Options{Flavor: Elasticsearch7}, t.TempDir())
	t.Cleanup(s.Close)
	ca, err := os.ReadFile(certs.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := elasticsearch.Config{Addresses: []string{s.URL()}, CACert: ca}
	c, err := elasticsearch.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Info()
	if err != nil {
		t.Fatalf("Info over TLS with CACert: %v", err)
	}
	res.Body.Close()
	if tr, ok := c.Transport.(interface{ CloseIdleConnections() }); ok {
		tr.CloseIdleConnections()
	}
	// The default transport used by CACert is a clone; its idle connections
	// are closed by the server's Close at cleanup.
	if len(certs.CAFingerprint) != 64 {
		t.Errorf("fingerprint = %q", certs.CAFingerprint)
	}
}
