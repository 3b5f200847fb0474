package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/urfave/cli/v2"

	"github.com/logspool/logspool/parser"
	"github.com/logspool/logspool/shipper"
	"github.com/logspool/logspool/spool"
	"github.com/logspool/logspool/systemd"
	"github.com/logspool/logspool/tailer"
)

// envName maps a flag name to its environment variable: LOGSPOOL_<NAME>.
func envName(flag string) string {
	return "LOGSPOOL_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Flag groups. Each flag also comes from LOGSPOOL_<NAME> and from the YAML
// file named by --config (keys are the flag names): flag over env over file
// over default.
const (
	catInput   = "Inputs"
	catJournal = "Journal"
	catSpool   = "Spool"
	catES      = "Elasticsearch"
	catAgent   = "Agent"
)

func str(name, value, usage, cat string) cli.Flag {
	return &cli.StringFlag{Name: name, Value: value, Usage: usage, Category: cat, EnvVars: []string{envName(name)}}
}

func strs(name string, value []string, usage, cat string) cli.Flag {
	var v *cli.StringSlice
	if value != nil {
		v = cli.NewStringSlice(value...)
	}
	return &cli.StringSliceFlag{Name: name, Value: v, Usage: usage, Category: cat, EnvVars: []string{envName(name)}}
}

func boolean(name string, value bool, usage, cat string) cli.Flag {
	return &cli.BoolFlag{Name: name, Value: value, Usage: usage, Category: cat, EnvVars: []string{envName(name)}}
}

func duration(name string, value time.Duration, usage, cat string) cli.Flag {
	return &cli.DurationFlag{Name: name, Value: value, Usage: usage, Category: cat, EnvVars: []string{envName(name)}}
}

func intFlag(name string, value int, usage, cat string) cli.Flag {
	return &cli.IntFlag{Name: name, Value: value, Usage: usage, Category: cat, EnvVars: []string{envName(name)}}
}

// shaped is a string flag whose values must have shape sh (checked in the
// config file at its line, and by the command for flags and environment).
func shaped(name, value, usage, cat string, sh shape) cli.Flag {
	return &shapedFlag{StringFlag: str(name, value, usage, cat).(*cli.StringFlag), shape: sh}
}

// sizeFlag is a flag holding a byte size such as 1MiB or 65536 (above 0).
func sizeFlag(name, value, usage, cat string) cli.Flag {
	return shaped(name, value, usage, cat, sizeShape(value, false))
}

func sizeShape(example string, zeroOK bool) shape {
	want := "a size in bytes such as 64KiB, 512MiB or 1048576"
	if zeroOK {
		want += ", or 0 for none"
	}
	return shape{want: want, example: example, check: func(s string) error { _, err := parseSize(s, zeroOK); return err }}
}

// oneOf is a flag holding one of a few words (any case).
func oneOf(name, value string, choices []string, usage, cat string) cli.Flag {
	want := strings.Join(choices, " or ")
	if len(choices) > 2 {
		want = strings.Join(choices[:len(choices)-1], ", ") + " or " + choices[len(choices)-1]
	}
	return shaped(name, value, usage, cat, shape{want: want, example: value, check: func(s string) error {
		for _, ch := range choices {
			if strings.EqualFold(s, ch) {
				return nil
			}
		}
		return errors.New("not a choice")
	}})
}

var sinceShape = shape{
	want:    "an RFC 3339 time such as 2024-05-01T00:00:00Z or a duration such as 24h (empty: the whole journal)",
	example: "24h",
	check:   func(s string) error { _, err := parseSince(s, time.Now()); return err },
}

// configFlag names the YAML file; it cannot itself come from the file.
func configFlag() cli.Flag {
	return &cli.StringFlag{Name: "config", Usage: "YAML file whose keys are flag names (flag > env > file > default)", EnvVars: []string{envName("config")}}
}

func spoolDirFlag() cli.Flag {
	return str("spool-dir", defaultSpoolDir, "Badger spool directory", catSpool)
}

// esFlags are the Elasticsearch output's flags, shared by run and replay.
func esFlags() []cli.Flag {
	return []cli.Flag{
		strs("es-url", nil, "Elasticsearch URL (repeatable: several nodes are load-balanced with failover); none: NDJSON to stdout", catES),
		str("es-index", shipper.DefaultIndex, "data stream (or, with --es-index-mode=daily, the index prefix is logspool-)", catES),
		oneOf("es-index-mode", shipper.IndexModeDataStream, []string{shipper.IndexModeDataStream, shipper.IndexModeDaily}, "datastream | daily (logspool-YYYY.MM.DD indices for clusters without data streams)", catES),
		str("es-username", "", "basic auth user", catES),
		str("es-password-file", "", "file holding the basic auth password (or LOGSPOOL_ES_PASSWORD)", catES),
		str("es-api-key-file", "", "file holding a base64 API key (or LOGSPOOL_ES_API_KEY)", catES),
		str("es-ca-file", "", "PEM CA bundle to verify Elasticsearch", catES),
		str("es-cert-file", "", "PEM client certificate (mutual TLS)", catES),
		str("es-key-file", "", "PEM client key (mutual TLS)", catES),
		boolean("es-insecure-skip-verify", false, "do not verify Elasticsearch's certificate (logs a warning)", catES),
		boolean("es-setup", true, "install the index template at start (missing privileges: a warning)", catES),
		str("es-dead-letter-index", "", "also index dead letters into this index", catES),
		sizeFlag("es-batch-bytes", sizeText(shipper.DefaultBatchBytes), "bulk request size", catES),
		duration("es-flush-interval", shipper.DefaultFlushInterval, "longest wait to fill a bulk request", catES),
		intFlag("es-max-in-flight", shipper.DefaultMaxInFlight, "bulk requests in flight", catES),
		str("es-compression", shipper.DefaultCompression, "bulk body compression: gzip (level 1) | gzip-stateless | gzip-huffman | gzip-1 .. gzip-9 | none", catES),
	}
}

func logFlags() []cli.Flag {
	return []cli.Flag{
		oneOf("log-level", "info", []string{"debug", "info", "warn", "error"}, "debug | info | warn | error", catAgent),
		oneOf("log-format", "text", []string{"text", "json"}, "text | json (logs go to stderr)", catAgent),
	}
}

// runFlags are logspool run's flags. The names are a contract that outside
// tests and the deploy/ manifests drive.
func runFlags() []cli.Flag {
	fl := []cli.Flag{
		configFlag(),
		strs("containers-glob", []string{tailer.DefaultGlob}, "container log files to follow (repeatable)", catInput),
		oneOf("read-from", "head", []string{"head", "tail"}, "head | tail: where to start files found at the very first start", catInput),
		sizeFlag("max-line-bytes", sizeText(parser.DefaultMaxLineBytes), "longest message; longer ones are cut, flagged and counted", catInput),
		intFlag("max-open-files", 0, fmt.Sprintf("most container log files held open; more take turns (a file is closed at its end, never with unread bytes); 0: %d, or half of RLIMIT_NOFILE when that is less", tailer.DefaultMaxOpenFiles), catInput),
		duration("close-inactive", tailer.DefaultCloseInactive, "close a container log file read to its end after this long without new lines; it is opened again, by identity, when written to", catInput),
		str("node-name", "", "node name for host.name and record ids (default $NODE_NAME, else the hostname)", catInput),
		boolean("no-journal", false, "do not read the systemd journal", catJournal),
		strs("journal-dir", systemd.DefaultDirs, "journal directory (repeatable)", catJournal),
		strs("journal-unit", nil, "only these units, like journalctl -u (repeatable)", catJournal),
		strs("journal-exclude-unit", nil, "skip these units (repeatable)", catJournal),
		shaped("journal-since", "", "on the very first start, skip entries older than this (RFC 3339 time or a duration like 24h)", catJournal, sinceShape),
		spoolDirFlag(),
		sizeFlag("spool-max-bytes", sizeText(spool.DefaultMaxBytes), "spool cap (KiB, MiB, GiB); when full, reading pauses", catSpool),
		str("metrics-addr", defaultMetricsAddr, "address serving /metrics and /healthz (empty: off)", catAgent),
		duration("health-es-grace", 5*time.Minute, "/healthz fails when Elasticsearch is unreachable, or a backlog does not move, for this long", catAgent),
		duration("shutdown-timeout", shipper.DefaultShutdownTimeout, "on SIGTERM, how long to finish in-flight batches", catAgent),
		shaped("memory-limit", "72MiB", "soft limit of the Go heap (GC works harder near it; 0: none); a quarter of it bounds all input in flight (readers wait beyond it); the GOMEMLIMIT environment variable wins", catAgent, sizeShape("72MiB", true)),
	}
	fl = append(fl, kubeFlags()...)
	fl = append(fl, esFlags()...)
	return append(fl, logFlags()...)
}

// replayFlags are logspool replay's flags.
func replayFlags() []cli.Flag {
	fl := []cli.Flag{configFlag(), spoolDirFlag(),
		str("node-name", "", "node name for dead-letter documents (default $NODE_NAME, else the hostname)", catInput),
		duration("give-up-after", 5*time.Minute, "give up (exit code 3) when nothing has been delivered for this long, e.g. while the cluster is unreachable; 0: never", catAgent),
		duration("timeout", 0, "give up (exit code 3) when not drained after this long in all; 0: no limit", catAgent)}
	fl = append(fl, esFlags()...)
	return append(fl, logFlags()...)
}

// defaultSpoolDir is the spool directory of run, replay and spool.
const defaultSpoolDir = "/var/lib/logspool"

// defaultMetricsAddr is where the agent serves /metrics and /healthz, and
// where `logspool status` looks for them, by default.
const defaultMetricsAddr = "127.0.0.1:2021"

// sizeText writes a default size as the flags show it: 1MiB, 5MiB, 1GiB.
func sizeText(n int64) string {
	for _, u := range []struct {
		unit string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d%s", n/u.size, u.unit)
		}
	}
	return fmt.Sprint(n)
}

// parseSize reads a size such as 1GiB, 512MiB, 100KiB or 1000000; 0 only
// when zeroOK.
func parseSize(s string, zeroOK bool) (int64, error) {
	n, err := humanize.ParseBytes(s)
	if err != nil {
		return 0, errors.New("not a size")
	}
	if (n == 0 && !zeroOK) || n > 1<<50 {
		return 0, errors.New("size out of range")
	}
	return int64(n), nil
}

// flagNamed returns the command's flag called name (nil: none).
func flagNamed(c *cli.Context, name string) cli.Flag {
	if c.Command == nil {
		return nil
	}
	for _, f := range c.Command.Flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// shapeOf is the shape of the command's flag name.
func shapeOf(c *cli.Context, name string) shape {
	if f := flagNamed(c, name); f != nil {
		return flagShape(f)
	}
	return shape{want: "a valid value", example: "..."}
}

// checkSetting checks the value of a flag against its shape and says, naming
// the setting as the user gave it, what is wrong.
func checkSetting(c *cli.Context, name string) (string, error) {
	v := c.String(name)
	if sh := shapeOf(c, name); sh.check != nil {
		if err := sh.check(v); err != nil {
			return v, settingError(c, name, v, sh)
		}
	}
	return v, nil
}

// sizeSetting reads a size flag (see sizeFlag) as bytes.
func sizeSetting(c *cli.Context, name string) (int64, error) {
	v := c.String(name)
	n, err := parseSize(v, false)
	if err != nil {
		return 0, settingError(c, name, v, shapeOf(c, name))
	}
	return n, nil
}

// secret returns the value of a secret from a file flag or from an
// environment variable; never from a plain flag.
func secret(c *cli.Context, fileFlag, env string) (string, error) {
	if path := c.String(fileFlag); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", &configError{where: settingName(c, fileFlag), value: path, hasValue: true, why: fmt.Sprintf("cannot read it: %v", err)}
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", &configError{where: settingName(c, fileFlag), value: path, hasValue: true, why: "the file is empty"}
		}
		return v, nil
	}
	return os.Getenv(env), nil
}

// nodeName resolves --node-name: the flag, else $NODE_NAME, else the hostname.
func nodeName(c *cli.Context) (string, error) {
	if n := c.String("node-name"); n != "" {
		return n, nil
	}
	if n := os.Getenv("NODE_NAME"); n != "" {
		return n, nil
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "", errors.Join(errors.New("cannot determine the node name: set --node-name or NODE_NAME"), err)
	}
	return h, nil
}

// parseSince reads --journal-since: an RFC 3339 time or a duration before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			d = -d
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, errors.New("want an RFC 3339 time or a duration like 24h")
	}
	return t, nil
}
