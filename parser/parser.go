package parser

// API CONTRACT (written first so that the tailer can be built against it while
// the implementation lands). The parser implementer owns this file and may add
// to it, but must not change these signatures without updating the tailer.

import (
	"errors"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/logspool/logspool/internal/configerr"
)

// DefaultMaxLineBytes is the default cap of a joined message.
const DefaultMaxLineBytes = 1 << 20

// ErrInvalidConfig is wrapped by every error Config.Validate returns.
var ErrInvalidConfig = errors.New("parser: invalid config")

// ConfigError is the error Config.Validate returns: the bad field and why,
// wrapping ErrInvalidConfig.
type ConfigError = configerr.Error

// Config configures decoders. Zero values mean the documented defaults.
type Config struct {
	// NodeName is written to host.name and mixed into record IDs.
	NodeName string
	// MaxLineBytes caps a joined message; longer ones are cut, flagged
	// "truncated" and counted. Default 1 MiB.
	MaxLineBytes int

	// Metrics receives the parser metrics; nil records none. One *Metrics is
	// shared by all decoders.
	Metrics *Metrics
	// CutBytes, when set, is increased by the number of message bytes the
	// decoder cuts off messages longer than MaxLineBytes (the tailer passes
	// its logspool_input_lost_bytes_total{reason="line_cut"} child).
	CutBytes prometheus.Counter
	// Logger receives warnings about malformed input; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock used for @timestamp of lines without a usable
	// timestamp; nil means time.Now.
	Now func() time.Time
	// Kube, when set, adds metadata from the Kubernetes API (labels,
	// owners, ...) to every document of a file whose path names a pod, and
	// flags them k8s_metadata_missing while the pod is unknown. See
	// KubeLookup and parser/kubemeta.
	Kube KubeLookup
}

// Validate reports the first invalid field of c.
func (c Config) Validate() error {
	if c.MaxLineBytes < 0 {
		return configerr.New(ErrInvalidConfig, "MaxLineBytes", "is %d, must be >= 0 (0 means %d)", c.MaxLineBytes, DefaultMaxLineBytes)
	}
	if !utf8.ValidString(c.NodeName) {
		return configerr.New(ErrInvalidConfig, "NodeName", "%q is not valid UTF-8", c.NodeName)
	}
	return nil
}

// withDefaults returns c with zero values replaced by defaults. Invalid
// values that NewDecoder cannot reject are replaced by defaults too.
func (c Config) withDefaults() Config {
	if c.MaxLineBytes <= 0 {
		c.MaxLineBytes = DefaultMaxLineBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Source describes the file a decoder reads.
type Source struct {
	// Path is the path as discovered, e.g. /var/log/containers/<pod>_<ns>_<container>-<id>.log.
	Path string
	// Resolved is the symlink target when Path is a symlink, e.g.
	// /var/log/pods/<ns>_<pod>_<uid>/<container>/<restart>.log; else "".
	Resolved string
	// FileKey is the tailer's stable identity of the file's content (it stays
	// the same across renames); record IDs are record.FileID(node, FileKey, off).
	FileKey string
}

// Line is one physical line of a log file.
type Line struct {
	// Bytes is the line without its trailing '\n'. The decoder must not keep a
	// reference to it after Decode returns (the tailer reuses the buffer).
	Bytes []byte
	// Start is the file offset of the line's first byte; End the offset just
	// past its '\n'.
	Start, End int64
	// Truncated is set when the tailer cut a physical line longer than its
	// buffer; Bytes then holds the line's head, and End is still correct.
	Truncated bool
	// Tail, for a Truncated line, holds the last bytes of the physical line
	// before its '\n' (up to TailBytes; nil if the tailer did not keep
	// them). docker writes "log" first, so a cut docker line's "stream" and
	// "time" are only there. Like Bytes, it is not kept after Decode.
	Tail []byte
	// Partial is set when the tailer hands over bytes that did not end in a
	// '\n' (a file idle after an unterminated line, or one that went away),
	// or the rest of such a line completed later; End is then the offset
	// just past the last byte. The records the line emits are flagged
	// "partial".
	Partial bool
}

// TailBytes is how many bytes of a cut line's end Line.Tail should hold:
// enough for docker's "stream", "time" and a few "attrs".
const TailBytes = 4096
