package shipper

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	elasticsearch "github.com/elastic/go-elasticsearch/v7"
	"github.com/elastic/go-elasticsearch/v7/esapi"
	"github.com/elastic/go-elasticsearch/v7/estransport"
)

// Distributions reported by Flavor.
const (
	DistElasticsearch = "elasticsearch"
	DistOpenSearch    = "opensearch"
	// DistUnknown: GET / was refused (403), so the product is not known;
	// the shipper talks through the module's transport without product
	// check or compatibility headers, which works with every flavour.
	DistUnknown = "unknown"
)

// Flavor is the server product, detected from GET / on start.
type Flavor struct {
	Distribution string // DistElasticsearch, DistOpenSearch or DistUnknown; "" before detection
	Version      string // e.g. "8.15.3"; "" when unknown
	Major        int    // 0 when unknown
}

func (f Flavor) String() string {
	if f.Distribution == "" {
		return "undetected"
	}
	if f.Version == "" {
		return f.Distribution
	}
	return f.Distribution + " " + f.Version
}

// compat reports whether requests use the v7 client's compatibility mode
// (compatible-with=7 media types), which Elasticsearch 8 understands.
// Elasticsearch 9 only accepts compatible-with=8, so it gets plain JSON
// (which every version accepts for the APIs the shipper uses).
func (f Flavor) compat() bool { return f.Distribution == DistElasticsearch && f.Major == 8 }

// plainOnly reports whether compatibility media types must be stripped even
// when the environment (ELASTIC_CLIENT_APIVERSIONING) asks for them.
func (f Flavor) plainOnly() bool {
	return f.Distribution != DistElasticsearch || f.Major >= 9
}

// buildHTTPTransport makes the one *http.Transport every module client of a
// Shipper shares (so they share connections), with TLS as configured.
func buildHTTPTransport(cfg *Config) (*http.Transport, error) {
	base, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return nil, fmt.Errorf("shipper: http.DefaultTransport is a %T", http.DefaultTransport)
	}
	t := base.Clone()
	t.MaxIdleConnsPerHost = cfg.MaxInFlight + 2
	t.ResponseHeaderTimeout = 0 // bounded by RequestTimeout through the context
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("shipper: reading CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("shipper: CA file %s holds no PEM certificate", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("shipper: loading client certificate %s and key %s: %w", cfg.CertFile, cfg.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if cfg.InsecureSkipVerify {
		tc.InsecureSkipVerify = true //nolint:gosec // asked for explicitly, and warned about
	}
	t.TLSClientConfig = tc
	return t, nil
}

// moduleConfig is what both kinds of module client are built from.
type moduleConfig struct {
	urls     []*url.URL
	addrs    []string
	username string
	password string
	header   http.Header
	retries  int
	statuses []int
}

func newModuleConfig(cfg *Config) (*moduleConfig, error) {
	mc := &moduleConfig{header: http.Header{}}
	for _, raw := range cfg.URLs {
		a := strings.TrimRight(raw, "/")
		u, err := url.Parse(a)
		if err != nil {
			return nil, fmt.Errorf("shipper: parsing URL %q: %w", raw, err)
		}
		mc.urls = append(mc.urls, u)
		mc.addrs = append(mc.addrs, a)
	}
	// The module retries a request at once on another node after a
	// connection error or a 502/503/504: that is the failover. Our own
	// retry loop with backoff is above it.
	// With one node an immediate retry on a status only adds load to an
	// overloaded server, so then only connection errors are retried (the
	// module has no "no status" setting; -1 never matches).
	mc.retries = max(1, len(mc.urls))
	mc.statuses = []int{502, 503, 504}
	if len(mc.urls) == 1 {
		mc.statuses = []int{-1}
	}
	switch {
	case cfg.APIKey != "":
		key := cfg.APIKey
		if strings.Contains(key, ":") {
			key = base64.StdEncoding.EncodeToString([]byte(key))
		}
		mc.header.Set("Authorization", "ApiKey "+key)
	case cfg.Username != "":
		mc.username, mc.password = cfg.Username, cfg.Password
	}
	if cfg.NodeName != "" {
		mc.header.Set("X-Opaque-Id", "logspool/"+cfg.NodeName)
	}
	return mc, nil
}

// newRawTransport is the module's transport without product check; used to
// detect the flavour and to talk to OpenSearch (the v7 client's product check
// refuses it: go-elasticsearch issue 782).
func newRawTransport(mc *moduleConfig, rt http.RoundTripper) (*estransport.Client, error) {
	tp, err := estransport.New(estransport.Config{
		URLs:          mc.urls,
		Username:      mc.username,
		Password:      mc.password,
		Header:        mc.header.Clone(),
		RetryOnStatus: mc.statuses,
		MaxRetries:    mc.retries,
		Transport:     rt,
	})
	if err != nil {
		return nil, fmt.Errorf("shipper: creating transport: %w", err)
	}
	return tp, nil
}

// newESClient is the module's Elasticsearch client, in compatibility mode for
// Elasticsearch 8.
func newESClient(mc *moduleConfig, rt http.RoundTripper, compat bool) (*elasticsearch.Client, error) {
	c, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses:               mc.addrs,
		Username:                mc.username,
		Password:                mc.password,
		Header:                  mc.header.Clone(),
		RetryOnStatus:           mc.statuses,
		MaxRetries:              mc.retries,
		EnableCompatibilityMode: compat,
		Transport:               rt,
	})
	if err != nil {
		return nil, fmt.Errorf("shipper: creating client: %w", err)
	}
	return c, nil
}

// plainMediaTypes is a RoundTripper that replaces Elasticsearch's
// compatibility media types by plain JSON. OpenSearch does not know them, and
// the module adds them to every request when the process environment has
// ELASTIC_CLIENT_APIVERSIONING=true.
type plainMediaTypes struct{ next http.RoundTripper }

const vndPrefix = "application/vnd.elasticsearch+"

func (t plainMediaTypes) RoundTrip(req *http.Request) (*http.Response, error) {
	ct, acc := req.Header.Get("Content-Type"), req.Header.Get("Accept")
	if !strings.HasPrefix(ct, vndPrefix) && !strings.HasPrefix(acc, vndPrefix) {
		return t.next.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	if strings.HasPrefix(ct, vndPrefix) {
		if strings.HasSuffix(r.URL.Path, "/_bulk") {
			r.Header.Set("Content-Type", "application/x-ndjson")
		} else {
			r.Header.Set("Content-Type", "application/json")
		}
	}
	if strings.HasPrefix(acc, vndPrefix) {
		r.Header.Set("Accept", "application/json")
	}
	return t.next.RoundTrip(r)
}

// bodyAware sits in front of a module transport: for request bodies over a
// pooled buffer, or streamed from the records (plainBody), it sets the
// length and GetBody (so the module can retry without copying), each retry
// reading with its own reader.
type bodyAware struct{ next esapi.Transport }

func (p bodyAware) Perform(req *http.Request) (*http.Response, error) {
	switch r := req.Body.(type) {
	case *bodyReader:
		b := r.b
		req.ContentLength = int64(len(b.buf))
		req.GetBody = func() (io.ReadCloser, error) { return b.reader(), nil }
	case *plainReader:
		b := r.b
		req.ContentLength = int64(b.length)
		req.GetBody = func() (io.ReadCloser, error) { return b.reader(), nil }
	}
	return p.next.Perform(req)
}

const maxInfoBody = 1 << 20

// detect asks GET / which product and version the cluster runs.
func detect(ctx context.Context, tp esapi.Transport) (Flavor, error) {
	res, err := esapi.InfoRequest{}.Do(ctx, tp)
	if err != nil {
		return Flavor{}, fmt.Errorf("shipper: requesting cluster info: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxInfoBody))
	if err != nil {
		return Flavor{}, fmt.Errorf("shipper: reading cluster info: %w", err)
	}
	switch {
	case res.StatusCode == http.StatusForbidden:
		// Credentials are valid but may not read cluster info (no monitor
		// privilege). Shipping may still be allowed.
		if res.Header.Get("X-Elastic-Product") == "Elasticsearch" {
			return Flavor{Distribution: DistElasticsearch}, nil
		}
		return Flavor{Distribution: DistUnknown}, nil
	case res.StatusCode < 200 || res.StatusCode > 299:
		return Flavor{}, &StatusError{Op: "info", Status: res.StatusCode, Text: requestErrorText(res.StatusCode, body)}
	}
	var info struct {
		Version struct {
			Number       string `json:"number"`
			Distribution string `json:"distribution"`
		} `json:"version"`
		Tagline string `json:"tagline"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return Flavor{}, fmt.Errorf("shipper: decoding cluster info %q: %w", snippet(body), err)
	}
	f := Flavor{Distribution: DistElasticsearch, Version: info.Version.Number}
	if strings.EqualFold(info.Version.Distribution, "opensearch") || strings.Contains(info.Tagline, "OpenSearch") {
		f.Distribution = DistOpenSearch
	}
	if i := strings.IndexByte(f.Version, '.'); i > 0 {
		f.Major, _ = strconv.Atoi(f.Version[:i])
	}
	if f.Distribution == DistElasticsearch && f.Major == 0 {
		return Flavor{}, fmt.Errorf("shipper: cluster info has no usable version number: %q", snippet(body))
	}
	return f, nil
}
