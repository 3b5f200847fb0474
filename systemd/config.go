package systemd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/logspool/logspool/internal/configerr"
	"github.com/logspool/logspool/internal/membudget"
	"github.com/logspool/logspool/spool/record"
)

// Defaults for Config.
const (
	DefaultPollInterval = 250 * time.Millisecond
	DefaultBatchSize    = 512
	DefaultName         = "journal"
)

// DefaultDirs are the journal directories read when Config.Dirs is empty:
// journald's persistent and volatile storage.
var DefaultDirs = []string{"/var/log/journal", "/run/log/journal"}

// Sink stores records together with the checkpoint they advance, in one
// atomic write (*spool.Spool satisfies it). Append must not keep the
// records' documents after it returns (it copies what it keeps): the Input
// reuses their memory. Their Metas may be kept.
type Sink interface {
	Append(ctx context.Context, recs []record.Record, cps ...record.Checkpoint) error
	Checkpoint(key string) ([]byte, error)
}

// Config configures an Input. Zero values mean the documented defaults.
type Config struct {
	// Dirs are the journal directories; every *.journal and *.journal~ file
	// in each and in its machine-id sub-directories is read. Default
	// DefaultDirs. A directory that does not exist (yet) is not an error.
	Dirs []string
	// Units keeps only the entries of these units, matched like
	// `journalctl -u NAME` (a name without a unit suffix gets ".service";
	// globs such as "kube*" are matched as given). Empty keeps all.
	Units []string
	// ExcludeUnits drops the entries of these units (same matching).
	ExcludeUnits []string
	// Since skips entries older than it on a first start (no checkpoint
	// stored yet). Zero ships everything present.
	Since time.Time
	// NodeName goes to host.name and into every record ID.
	NodeName string
	// Name tells apart several Inputs sharing one spool: the checkpoint key
	// is "j/" + Name. Default DefaultName.
	Name string
	// PollInterval is the shortest time between two polls (refresh the
	// files, rescan the directories) while inotify reports changes, so a
	// busy journal is polled at most this often; and how often the journal
	// is polled where inotify is unavailable. Default DefaultPollInterval.
	PollInterval time.Duration
	// ResyncInterval is how often the journal is polled while inotify
	// reports nothing: the safety net for lost events. Default
	// DefaultResyncInterval.
	ResyncInterval time.Duration
	// BatchSize is the most records stored in one Append. Default DefaultBatchSize.
	BatchSize int
	// MaxFieldBytes cuts longer field values (flagged "truncated" in the
	// document). Default DefaultMaxFieldBytes; negative means no limit.
	MaxFieldBytes int
	// Logger receives the Input's messages. Default slog.Default().
	Logger *slog.Logger
	// Metrics receives the Input's metrics; nil records none.
	Metrics *Metrics
	// Budget is the memory budget of all input in flight, shared with the
	// container files' readers: a batch being read and encoded draws from
	// it (at most a quarter of it, and 4 MiB), and the Input waits for it
	// (nothing is read meanwhile; the journal waits on disk). Nil: no bound
	// but the batch's own (4 MiB of documents).
	Budget *membudget.Budget
}

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("systemd: invalid config")

// Validate reports the first bad field of c as a *configerr.Error.
func (c Config) Validate() error {
	for i, d := range c.Dirs {
		if strings.TrimSpace(d) == "" {
			return configerr.New(ErrInvalidConfig, fmt.Sprintf("Dirs[%d]", i), "is empty")
		}
	}
	if _, err := newUnitFilter(c.Units, c.ExcludeUnits); err != nil {
		return err // a *configerr.Error naming Units[i] or ExcludeUnits[i]
	}
	if c.PollInterval < 0 {
		return configerr.New(ErrInvalidConfig, "PollInterval", "%v is negative", c.PollInterval)
	}
	if c.ResyncInterval < 0 {
		return configerr.New(ErrInvalidConfig, "ResyncInterval", "%v is negative", c.ResyncInterval)
	}
	if c.BatchSize < 0 {
		return configerr.New(ErrInvalidConfig, "BatchSize", "%d is negative", c.BatchSize)
	}
	if strings.ContainsAny(c.Name, "/\x00") {
		return configerr.New(ErrInvalidConfig, "Name", "%q contains '/' or NUL", c.Name)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if len(c.Dirs) == 0 {
		c.Dirs = append([]string(nil), DefaultDirs...)
	}
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.ResyncInterval == 0 {
		c.ResyncInterval = DefaultResyncInterval
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.MaxFieldBytes == 0 {
		c.MaxFieldBytes = DefaultMaxFieldBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
