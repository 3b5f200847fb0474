// Command logspool is a node-level log shipper: it follows container log
// files and the systemd journal, keeps every record with its source position
// in a crash-safe Badger spool, and ships the spool to Elasticsearch (or to
// stdout as NDJSON when no Elasticsearch is configured).
//
// This package is wiring only: configuration -> components -> one run group,
// signals, and the /metrics and /healthz endpoint.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := newApp(os.Stdout, os.Stderr).Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "logspool:", err)
		os.Exit(exitCode(err))
	}
}

func newApp(stdout, stderr io.Writer) *cli.App {
	rf, pf := runFlags(), replayFlags()
	return &cli.App{
		Name:      "logspool",
		Usage:     "ship container logs and the systemd journal to Elasticsearch, crash-safe",
		Version:   version,
		Writer:    stdout,
		ErrWriter: stderr,
		// Errors are printed once, by main.
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{
			{
				Name:   "run",
				Usage:  "follow the inputs and ship them (NDJSON to stdout without --es-url)",
				Flags:  rf,
				Before: withConfigFile(rf),
				Action: func(c *cli.Context) error { return runAgent(c, stdout, stderr) },
			},
			{
				Name:   "replay",
				Usage:  "ship what a stopped agent left in a spool directory, then exit",
				Flags:  pf,
				Before: withConfigFile(pf),
				Action: func(c *cli.Context) error { return runReplay(c, stdout, stderr) },
			},
			{
				Name:  "status",
				Usage: "print the running agent's state from its metrics endpoint",
				Flags: []cli.Flag{&cli.StringFlag{Name: "metrics-addr", Value: "127.0.0.1:2021", EnvVars: []string{envName("metrics-addr")}, Usage: "the agent's --metrics-addr"}},
				Action: func(c *cli.Context) error {
					return runStatus(c.Context, stdout, c.String("metrics-addr"))
				},
			},
			spoolCommand(stdout, stderr),
			{
				Name:  "version",
				Usage: "print the version",
				Action: func(c *cli.Context) error {
					_, err := fmt.Fprintf(stdout, "logspool %s %s %s/%s\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
					return err
				},
			},
		},
	}
}

// exitCode maps an error to the process exit code: 2 for usage errors, 1 else.
func exitCode(err error) int {
	if ec, ok := err.(cli.ExitCoder); ok {
		return ec.ExitCode()
	}
	return 1
}

// newLogger builds the agent's logger from --log-level and --log-format.
func newLogger(c *cli.Context, w io.Writer) (*slog.Logger, *slog.LevelVar, error) {
	lv := new(slog.LevelVar)
	if err := lv.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(c.String("log-format")) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), lv, nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), lv, nil
	default:
		return nil, nil, fmt.Errorf("--log-format %q: want text or json", c.String("log-format"))
	}
}
