package tailer

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"syscall"
	"time"

	"github.com/logspool/logspool/internal/configerr"
	"github.com/logspool/logspool/internal/membudget"
	"github.com/logspool/logspool/parser"
)

// Defaults for the zero values of Config.
const (
	DefaultGlob         = "/var/log/containers/*.log"
	DefaultMaxLineBytes = 1 << 20
	DefaultPollInterval = time.Second
	DefaultRotatedIdle  = 5 * time.Second
	DefaultBatchBytes   = 256 << 10
	DefaultPartialIdle  = 5 * time.Second

	// DefaultBatchDocBytes caps the document bytes of one batch: a file
	// of empty lines makes a ~400-byte document of each 1-byte line.
	DefaultBatchDocBytes = 1 << 20
	// DefaultMaxOpenFiles is the most files held open, when the
	// descriptor limit allows (see MaxOpenFilesFor).
	DefaultMaxOpenFiles = 1024
	// DefaultCloseInactive is how long a matched file read to its end
	// stays open without new bytes before it is closed.
	DefaultCloseInactive = time.Minute
	// DefaultResyncInterval is the period of the full scan that backs up
	// working notifications.
	DefaultResyncInterval = time.Minute
	// DefaultMemoryBytes is the size of the tailer's own memory budget when
	// Config.Budget is nil.
	DefaultMemoryBytes = 16 << 20

	// cutSlack is how far past MaxLineBytes a physical line may grow before
	// the tailer cuts it (the parser needs some room for the JSON or CRI
	// envelope around a message of MaxLineBytes).
	cutSlack = 64 << 10
)

// Config configures a Tailer. The zero value of every field means its
// documented default.
type Config struct {
	// Globs are the file patterns to follow (filepath.Match syntax; symlinks
	// are followed). Default [DefaultGlob].
	Globs []string
	// ReadFrom is where to start in files found at the very first start, when
	// the sink holds no file checkpoint at all: "head" (default) or "tail".
	// Files discovered later are always read from the head.
	ReadFrom string
	// NodeName is mixed into record IDs and written to host.name. It is copied
	// into Parser.NodeName when that is empty.
	NodeName string
	// MaxLineBytes caps a message. A physical line longer than MaxLineBytes
	// plus 64 KiB is cut: its head is decoded (flagged truncated) and the rest
	// is skipped without being buffered and counted as lost with
	// reason="line_cut". Copied into Parser.MaxLineBytes when that is zero.
	// Default 1 MiB.
	MaxLineBytes int
	// Parser configures the default decoder (parser.NewDecoder). NodeName,
	// MaxLineBytes, Logger and CutBytes (the line_cut child of
	// logspool_input_lost_bytes_total) are filled in from this Config when
	// zero.
	Parser parser.Config
	// PollInterval is the period of the glob+stat scan where filesystem
	// notifications are missing (no inotify, the watch limit reached, a
	// directory that cannot be watched) or something is to be retried (a
	// failing path, a sweep of rotated files, files waiting for a
	// descriptor): a file's size change seen by it wakes its reader.
	// Default 1s.
	PollInterval time.Duration
	// ResyncInterval is the period of the full glob+stat scan while
	// notifications work: a safety net, one stat per matched file. Default
	// 1m.
	ResyncInterval time.Duration
	// MaxOpenFiles caps the files held open. Files beyond it wait for a
	// slot: a reader that reaches the end of its file, everything
	// committed, closes it while others wait, and the file is opened again
	// from its checkpoint when it is written to; a file with unread bytes is
	// never closed. Default MaxOpenFilesFor(RLIMIT_NOFILE).
	MaxOpenFiles int
	// CloseInactive is how long a matched file read to its end (complete
	// last line, everything committed) stays open without new bytes before
	// it is closed; it is opened again by identity when it is written to.
	// Default 1m.
	CloseInactive time.Duration
	// BatchDocBytes caps the document bytes of one batch (besides
	// BatchBytes of input). Default 1 MiB.
	BatchDocBytes int
	// Budget is the memory budget of all input in flight, shared with the
	// other inputs: every reader's buffer, batch and pending partial
	// messages draw from it. Nil: a budget of DefaultMemoryBytes of the
	// tailer's own.
	Budget *membudget.Budget
	// RotatedIdle is how long a file that is no longer matched by the globs
	// (rotated away or deleted) must have produced no new bytes, once read to
	// its end, before it is released. Default 5s.
	RotatedIdle time.Duration
	// PartialIdle is how long a matched file must have produced nothing
	// while it ends in an unterminated line before that line is handed to
	// the parser as it is, flagged partial (a file that never writes a '\n'
	// is read all the same). When the line is completed later, the rest
	// becomes a record of its own, also flagged partial. Default 5s.
	PartialIdle time.Duration
	// StallGrace is how long a file may have unread bytes while its reader
	// makes no progress (and is not waiting for the spool) before Stalled
	// reports the tailer stalled; it also caps how long the scan loop may
	// go without completing a scan. Default 2m.
	StallGrace time.Duration
	// BatchBytes is how many input bytes are decoded before the records and
	// the file's checkpoint are appended to the sink (also done at every end
	// of file). Default 256 KiB.
	BatchBytes int
	// Logger receives the tailer's messages. Default slog.Default().
	Logger *slog.Logger
	// Metrics receives the tailer's metrics; nil records nothing.
	Metrics *Metrics
	// NewDecoder makes the decoder of one file. Default: parser.NewDecoder
	// with Parser.
	NewDecoder func(parser.Source) Decoder
	// Clock is the time seam of the scan loop's tick and the readers' waits
	// and idle times (see Clock); nil means the real clock.
	Clock Clock
}

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("tailer: invalid config")

// ConfigError reports an invalid Config field, wrapping ErrInvalidConfig.
type ConfigError = configerr.Error

// Validate reports the first invalid field as a *ConfigError.
func (c *Config) Validate() error {
	for i, g := range c.Globs {
		if g == "" {
			return configerr.New(ErrInvalidConfig, fmt.Sprintf("Globs[%d]", i), "empty pattern")
		}
		if _, err := filepath.Match(g, ""); err != nil {
			return configerr.New(ErrInvalidConfig, fmt.Sprintf("Globs[%d]", i), "pattern %q: %v", g, err)
		}
	}
	switch c.ReadFrom {
	case "", "head", "tail":
	default:
		return configerr.New(ErrInvalidConfig, "ReadFrom", "must be \"head\" or \"tail\", got %q", c.ReadFrom)
	}
	// Sizes, counts and durations: none may be negative (zero: the default).
	for _, f := range []struct {
		name     string
		negative bool
		value    any
	}{
		{"MaxLineBytes", c.MaxLineBytes < 0, c.MaxLineBytes},
		{"PollInterval", c.PollInterval < 0, c.PollInterval},
		{"RotatedIdle", c.RotatedIdle < 0, c.RotatedIdle},
		{"PartialIdle", c.PartialIdle < 0, c.PartialIdle},
		{"StallGrace", c.StallGrace < 0, c.StallGrace},
		{"BatchBytes", c.BatchBytes < 0, c.BatchBytes},
		{"BatchDocBytes", c.BatchDocBytes < 0, c.BatchDocBytes},
		{"MaxOpenFiles", c.MaxOpenFiles < 0, c.MaxOpenFiles},
		{"CloseInactive", c.CloseInactive < 0, c.CloseInactive},
		{"ResyncInterval", c.ResyncInterval < 0, c.ResyncInterval},
	} {
		if f.negative {
			return configerr.New(ErrInvalidConfig, f.name, "must not be negative, got %v", f.value)
		}
	}
	return nil
}

// MaxOpenFilesFor is the default of Config.MaxOpenFiles under a descriptor
// limit (RLIMIT_NOFILE) of limit: DefaultMaxOpenFiles, or half the limit
// when that is less (the spool, the journal, connections and the rest of the
// process keep the other half), at least 16.
func MaxOpenFilesFor(limit uint64) int {
	return int(max(min(DefaultMaxOpenFiles, limit/2), 16))
}

// descriptorLimit returns the process's RLIMIT_NOFILE (the soft limit, which
// the Go runtime raises to the hard limit at start), or a guess.
func descriptorLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 1024
	}
	return rl.Cur
}

// withDefaults returns a copy of c with every zero value replaced by its default.
func (c Config) withDefaults() Config {
	if len(c.Globs) == 0 {
		c.Globs = []string{DefaultGlob}
	}
	if c.ReadFrom == "" {
		c.ReadFrom = "head"
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	if c.MaxLineBytes == 0 {
		c.MaxLineBytes = DefaultMaxLineBytes
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.ResyncInterval == 0 {
		c.ResyncInterval = DefaultResyncInterval
	}
	if c.MaxOpenFiles == 0 {
		c.MaxOpenFiles = MaxOpenFilesFor(descriptorLimit())
	}
	if c.CloseInactive == 0 {
		c.CloseInactive = DefaultCloseInactive
	}
	if c.BatchDocBytes == 0 {
		c.BatchDocBytes = DefaultBatchDocBytes
	}
	if c.RotatedIdle == 0 {
		c.RotatedIdle = DefaultRotatedIdle
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = DefaultBatchBytes
	}
	if c.PartialIdle == 0 {
		c.PartialIdle = DefaultPartialIdle
	}
	if c.StallGrace == 0 {
		c.StallGrace = DefaultStallGrace
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Parser.NodeName == "" {
		c.Parser.NodeName = c.NodeName
	}
	if c.Parser.MaxLineBytes == 0 {
		c.Parser.MaxLineBytes = c.MaxLineBytes
	}
	if c.Parser.CutBytes == nil {
		c.Parser.CutBytes = c.Metrics.LineCut()
	}
	if c.Parser.Logger == nil {
		c.Parser.Logger = c.Logger
	}
	if c.NewDecoder == nil {
		pc := c.Parser
		c.NewDecoder = func(src parser.Source) Decoder { return parser.NewDecoder(pc, src) }
	}
	return c
}
