package shipper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/logspool/logspool/internal/configerr"
)

// Index modes.
const (
	// IndexModeDataStream writes every record into one data stream (Index).
	IndexModeDataStream = "datastream"
	// IndexModeDaily writes into daily indices <Index>-YYYY.MM.DD picked from
	// Record.Time in UTC.
	IndexModeDaily = "daily"
)

// Defaults applied to zero-valued Config fields.
const (
	DefaultIndex           = "logs-logspool-default"
	DefaultDailyPrefix     = "logspool"
	DefaultBatchBytes      = 5 << 20
	DefaultFlushInterval   = time.Second
	DefaultMaxInFlight     = 2
	DefaultRequestTimeout  = 90 * time.Second
	DefaultShutdownTimeout = 30 * time.Second
	DefaultBackoffInit     = time.Second
	DefaultBackoffMax      = 60 * time.Second
	// maxRetryAfter caps a server's Retry-After so a bogus header cannot stall
	// the shipper for hours.
	maxRetryAfter = 5 * time.Minute
)

// Config configures a Shipper. Zero values mean the documented defaults; cmd
// maps flags, files and environment onto it (the shipper reads none itself).
type Config struct {
	// URLs are the Elasticsearch or OpenSearch nodes, e.g.
	// "https://es-1:9200". Requests are spread over them round-robin; a node
	// that fails is skipped until it recovers. Required (at least one).
	URLs []string
	// Index is the data stream (IndexModeDataStream, default
	// "logs-logspool-default") or the prefix of the daily indices
	// (IndexModeDaily, default "logspool", giving "logspool-2026.11.25").
	Index string
	// IndexMode is IndexModeDataStream (default) or IndexModeDaily.
	IndexMode string

	// Username and Password enable HTTP basic authentication.
	Username string
	Password string
	// APIKey is sent as "Authorization: ApiKey <APIKey>". Give either the
	// encoded key Elasticsearch returns (base64 of "id:key") or "id:key",
	// which is encoded for you. It takes precedence over Username/Password.
	APIKey string

	// CAFile is a PEM file of certificate authorities to trust in addition to
	// the system pool.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key (mTLS); both
	// or neither.
	CertFile string
	KeyFile  string
	// InsecureSkipVerify disables server certificate verification (a warning
	// is logged). For tests only.
	InsecureSkipVerify bool

	// BatchBytes is the target size of one _bulk request before compression
	// (sum of record.Size()). Default 5 MiB.
	BatchBytes int
	// FlushInterval is how long a request that is not yet full waits for more
	// records. Default 1s.
	FlushInterval time.Duration
	// MaxInFlight is the number of _bulk requests outstanding at once.
	// Default 2. Memory is bounded by about MaxInFlight * BatchBytes of
	// leased records plus their compressed bodies.
	MaxInFlight int
	// RequestTimeout bounds one HTTP request. Default 90s.
	RequestTimeout time.Duration
	// ShutdownTimeout is how long Run waits, after its context is cancelled,
	// for in-flight requests before it releases their leases. Default 30s
	// (logspool run's --shutdown-timeout default).
	ShutdownTimeout time.Duration
	// BackoffInit and BackoffMax bound the exponential backoff (with jitter)
	// between retries. Defaults 1s and 60s.
	BackoffInit time.Duration
	BackoffMax  time.Duration
	// Compression is how request bodies are compressed: CompressionNone,
	// CompressionGzip (gzip level 1), CompressionGzipHuffman,
	// CompressionGzipStateless, or "gzip-1" to "gzip-9". Default
	// DefaultCompression. Every compressed mode is sent as
	// Content-Encoding: gzip, which Elasticsearch and OpenSearch accept.
	Compression string

	// Setup installs the index template on start. Nil means true; use
	// SetupOff() or a pointer to false to disable.
	Setup *bool
	// DeadLetterIndex, when set, also indexes every dead-lettered record into
	// this index as a document holding the original as a string, the error
	// and the time. The spool's dead-letter area is written either way.
	DeadLetterIndex string
	// NodeName is written into dead-letter documents and the X-Opaque-Id
	// header. Optional.
	NodeName string

	// Logger receives the shipper's messages. Default slog.Default().
	Logger *slog.Logger
	// Metrics receives the shipper's metrics; nil disables them.
	Metrics *Metrics
	// Clock is the time seam for backoff; nil means the real clock.
	Clock Clock
}

// Clock is the time seam used for backoff sleeps and timestamps.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done, returning ctx.Err() then.
	Sleep(ctx context.Context, d time.Duration) error
}

// SetupOff returns a Setup value that disables template installation.
func SetupOff() *bool { f := false; return &f }

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("shipper: invalid config")

// Validate reports the first invalid field of c, naming it.
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return configerr.New(ErrInvalidConfig, field, format, args...)
	}
	if len(c.URLs) == 0 {
		return bad("URLs", "at least one URL is required")
	}
	for i, raw := range c.URLs {
		u, err := url.Parse(strings.TrimRight(raw, "/"))
		if err != nil {
			return bad(fmt.Sprintf("URLs[%d]", i), "parsing %q: %v", raw, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return bad(fmt.Sprintf("URLs[%d]", i), "%q: scheme must be http or https", raw)
		}
		if u.Host == "" {
			return bad(fmt.Sprintf("URLs[%d]", i), "%q: no host", raw)
		}
	}
	switch c.IndexMode {
	case "", IndexModeDataStream, IndexModeDaily:
	default:
		return bad("IndexMode", "%q: want %q or %q", c.IndexMode, IndexModeDataStream, IndexModeDaily)
	}
	if c.Index != "" {
		if err := checkIndexName(c.Index); err != nil {
			return bad("Index", "%v", err)
		}
	}
	if c.DeadLetterIndex != "" {
		if err := checkIndexName(c.DeadLetterIndex); err != nil {
			return bad("DeadLetterIndex", "%v", err)
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return bad("CertFile", "CertFile and KeyFile must be given together")
	}
	if c.Password != "" && c.Username == "" {
		return bad("Password", "set without Username")
	}
	if c.BatchBytes < 0 {
		return bad("BatchBytes", "negative (%d)", c.BatchBytes)
	}
	if c.Compression != "" {
		if _, _, err := gzipLevel(c.Compression); err != nil {
			return bad("Compression", "%v", err)
		}
	}
	if c.FlushInterval < 0 {
		return bad("FlushInterval", "negative (%s)", c.FlushInterval)
	}
	if c.MaxInFlight < 0 {
		return bad("MaxInFlight", "negative (%d)", c.MaxInFlight)
	}
	if c.RequestTimeout < 0 {
		return bad("RequestTimeout", "negative (%s)", c.RequestTimeout)
	}
	if c.ShutdownTimeout < 0 {
		return bad("ShutdownTimeout", "negative (%s)", c.ShutdownTimeout)
	}
	if c.BackoffInit < 0 {
		return bad("BackoffInit", "negative (%s)", c.BackoffInit)
	}
	if c.BackoffMax < 0 {
		return bad("BackoffMax", "negative (%s)", c.BackoffMax)
	}
	if c.BackoffInit > 0 && c.BackoffMax > 0 && c.BackoffMax < c.BackoffInit {
		return bad("BackoffMax", "%s is below BackoffInit %s", c.BackoffMax, c.BackoffInit)
	}
	return nil
}

// withDefaults returns c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	if c.IndexMode == "" {
		c.IndexMode = IndexModeDataStream
	}
	if c.Index == "" {
		if c.IndexMode == IndexModeDaily {
			c.Index = DefaultDailyPrefix
		} else {
			c.Index = DefaultIndex
		}
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = DefaultBatchBytes
	}
	if c.Compression == "" {
		c.Compression = DefaultCompression
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.BackoffInit == 0 {
		c.BackoffInit = DefaultBackoffInit
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = DefaultBackoffMax
		if c.BackoffMax < c.BackoffInit {
			c.BackoffMax = c.BackoffInit
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	return c
}

func (c Config) setup() bool { return c.Setup == nil || *c.Setup }

// checkIndexName applies Elasticsearch's rules for index and data stream
// names, so that names can be written into bulk action lines unescaped.
func checkIndexName(name string) error {
	if name == "." || name == ".." {
		return fmt.Errorf("%q is not allowed", name)
	}
	if len(name) > 255-len("-2006.01.02") {
		return fmt.Errorf("%q is too long", name)
	}
	switch name[0] {
	case '-', '_', '+':
		return fmt.Errorf("%q must not start with %q", name, name[0])
	}
	for _, r := range name {
		switch {
		case r >= 'A' && r <= 'Z':
			return fmt.Errorf("%q must be lower case", name)
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("%q contains a control character", name)
		case strings.ContainsRune(`\/*?"<>| ,#:`, r):
			return fmt.Errorf("%q must not contain %q", name, r)
		}
	}
	return nil
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
