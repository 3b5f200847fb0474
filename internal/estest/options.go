package estest

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
)

// Flavor selects which server product and major version the test server
// imitates: the info document, the product header, error types and the shape
// of bulk items all follow it.
type Flavor int

const (
	// Elasticsearch8 imitates Elasticsearch 8.x (the default).
	Elasticsearch8 Flavor = iota
	// Elasticsearch7 imitates Elasticsearch 7.17 (bulk items carry "_type").
	Elasticsearch7
	// OpenSearch2 imitates OpenSearch 2.x: no X-Elastic-Product header and
	// "distribution":"opensearch" in the info document.
	OpenSearch2
	// OpenSearch1 imitates OpenSearch 1.x.
	OpenSearch1
)

// String returns a short name of the flavour ("elasticsearch-8", ...).
func (f Flavor) String() string {
	switch f {
	case Elasticsearch8:
		return "elasticsearch-8"
	case Elasticsearch7:
		return "elasticsearch-7"
	case OpenSearch2:
		return "opensearch-2"
	case OpenSearch1:
		return "opensearch-1"
	}
	return "flavor(" + strconv.Itoa(int(f)) + ")"
}

// IsOpenSearch reports whether f is an OpenSearch flavour.
func (f Flavor) IsOpenSearch() bool { return f == OpenSearch1 || f == OpenSearch2 }

// DefaultVersion is the version number the flavour reports unless
// Options.Version overrides it.
func (f Flavor) DefaultVersion() string {
	switch f {
	case Elasticsearch7:
		return "7.17.25"
	case OpenSearch2:
		return "2.17.1"
	case OpenSearch1:
		return "1.3.19"
	}
	return "8.15.3"
}

func (f Flavor) luceneVersion() string {
	switch f {
	case Elasticsearch7:
		return "8.11.3"
	case OpenSearch1:
		return "8.10.1"
	}
	return "9.11.1"
}

// Options configures a Server. The zero value is an Elasticsearch 8.x server
// over plain HTTP without authentication that keeps every document.
type Options struct {
	// Flavor is the product imitated; zero means Elasticsearch8.
	Flavor Flavor
	// Version overrides the version number reported by GET / (for example
	// "7.13.4" to exercise the client's older product check). Empty means
	// Flavor.DefaultVersion().
	Version string
	// ClusterName is reported by GET / and _cluster/health; empty means
	// "estest".
	ClusterName string

	// Username and Password, when Username is set, require HTTP basic
	// authentication on every request (401 security_exception otherwise).
	Username string
	Password string
	// APIKey, when set, is accepted as "Authorization: ApiKey
	// base64(APIKey)"; APIKey has the form "id:key" as returned by the
	// create API key API. When both APIKey and Username are set either
	// credential is accepted.
	APIKey string

	// TLS, when non-nil, makes the server speak HTTPS with this
	// configuration (see NewTLSServer and GenerateCerts for a ready one).
	TLS *tls.Config
	// RequireClientCert requires and verifies a client certificate signed by
	// TLS.ClientCAs (mTLS). Ignored without TLS.
	RequireClientCert bool

	// Discard keeps no document sources: documents are counted and their ids
	// remembered as 128-bit hashes so duplicates are still detected, but
	// Docs returns nil, mapping conflicts are not checked, updates act on
	// ids only and _search returns no hits. For benchmarks with bounded
	// memory.
	Discard bool

	// NoBuiltinTemplates removes the built-in index templates the
	// Elasticsearch flavours install (logs, metrics, synthetics: data
	// streams for logs-*-*, metrics-*-*, synthetics-*-*).
	NoBuiltinTemplates bool

	// CompressResponses gzips responses when the request says
	// Accept-Encoding: gzip, as Elasticsearch does by default over plain
	// HTTP (http.compression). The zero value compresses over HTTP and not
	// over HTTPS, like Elasticsearch; set it to CompressNever or
	// CompressAlways to force a behaviour.
	CompressResponses Compression

	// MaxFieldsPerIndex is index.mapping.total_fields.limit; zero means
	// 1000 as in Elasticsearch.
	MaxFieldsPerIndex int

	// RequestLog is how many recent requests Requests() returns; zero means
	// 256, a negative value keeps none.
	RequestLog int

	// MaxBodyBytes is http.max_content_length; a larger request body gets
	// 413. Zero means 100 MiB as in Elasticsearch.
	MaxBodyBytes int64

	// Seed seeds the random choices of fractional faults; zero means 1, so
	// runs are reproducible.
	Seed int64

	// Logger receives one debug line per request and info lines for faults;
	// nil means slog.Default().
	Logger *slog.Logger
}

// Compression says when responses are gzip-compressed.
type Compression int

const (
	// CompressDefault compresses over HTTP, not over HTTPS.
	CompressDefault Compression = iota
	// CompressNever never compresses responses.
	CompressNever
	// CompressAlways compresses whenever the client accepts gzip.
	CompressAlways
)

// Validate reports the first invalid field of o.
func (o Options) Validate() error {
	if o.Flavor < Elasticsearch8 || o.Flavor > OpenSearch1 {
		return fmt.Errorf("estest: Options.Flavor: unknown flavor %d", int(o.Flavor))
	}
	if o.Version != "" {
		if _, _, ok := parseVersion(o.Version); !ok {
			return fmt.Errorf("estest: Options.Version: %q is not major.minor.patch", o.Version)
		}
	}
	if o.Password != "" && o.Username == "" {
		return fmt.Errorf("estest: Options.Password: set without Options.Username")
	}
	if o.APIKey != "" && !strings.Contains(o.APIKey, ":") {
		return fmt.Errorf("estest: Options.APIKey: want the form id:key")
	}
	if o.RequireClientCert && o.TLS == nil {
		return fmt.Errorf("estest: Options.RequireClientCert: needs Options.TLS")
	}
	if o.RequireClientCert && o.TLS.ClientCAs == nil {
		return fmt.Errorf("estest: Options.RequireClientCert: Options.TLS.ClientCAs is nil")
	}
	if o.CompressResponses < CompressDefault || o.CompressResponses > CompressAlways {
		return fmt.Errorf("estest: Options.CompressResponses: unknown value %d", int(o.CompressResponses))
	}
	if o.MaxFieldsPerIndex < 0 {
		return fmt.Errorf("estest: Options.MaxFieldsPerIndex: negative")
	}
	if o.MaxBodyBytes < 0 {
		return fmt.Errorf("estest: Options.MaxBodyBytes: negative")
	}
	return nil
}

func (o *Options) setDefaults() {
	if o.Version == "" {
		o.Version = o.Flavor.DefaultVersion()
	}
	if o.ClusterName == "" {
		o.ClusterName = "estest"
	}
	if o.MaxFieldsPerIndex == 0 {
		o.MaxFieldsPerIndex = 1000
	}
	if o.RequestLog == 0 {
		o.RequestLog = 256
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 100 << 20
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// parseVersion returns major and minor of "major.minor.patch[-suffix]".
func parseVersion(v string) (major, minor int, ok bool) {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 3 {
		return 0, 0, false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	p := parts[2]
	if i := strings.IndexAny(p, "-+"); i >= 0 {
		p = p[:i]
	}
	_, err3 := strconv.Atoi(p)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, false
	}
	return ma, mi, true
}
