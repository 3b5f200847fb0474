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
	"regexp"
	"runtime"
	"slices"
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
	app := &cli.App{
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
				Flags: []cli.Flag{&cli.StringFlag{Name: "metrics-addr", Value: defaultMetricsAddr, EnvVars: []string{envName("metrics-addr")}, Usage: "the agent's --metrics-addr"}},
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
	app.Action = unknownCommand(app.Name, app.Commands)
	app.OnUsageError = usageError
	for _, cmd := range app.Commands {
		plainErrors(app.Name, cmd)
	}
	return app
}

// plainErrors makes cmd and its subcommands answer usage mistakes with one
// line naming the flag or command as typed, instead of a parse error and the
// whole help.
func plainErrors(path string, cmd *cli.Command) {
	path += " " + cmd.Name
	cmd.OnUsageError = usageError
	if len(cmd.Subcommands) > 0 && cmd.Action == nil {
		cmd.Action = unknownCommand(path, cmd.Subcommands)
	}
	if len(cmd.Subcommands) == 0 && cmd.Action != nil {
		action := cmd.Action
		cmd.Action = func(c *cli.Context) error {
			if c.Args().Present() {
				return cli.Exit(fmt.Errorf("%s takes no arguments, got %q (flags start with --; see %s --help)", path, c.Args().First(), path), 2)
			}
			return action(c)
		}
	}
	for _, sub := range cmd.Subcommands {
		plainErrors(path, sub)
	}
}

// unknownCommand shows the help of a command that has subcommands, or says
// that the one typed does not exist.
func unknownCommand(path string, cmds []*cli.Command) cli.ActionFunc {
	return func(c *cli.Context) error {
		if !c.Args().Present() {
			return cli.ShowSubcommandHelp(c)
		}
		var names []string
		for _, cmd := range cmds {
			if cmd.Name != "help" && !cmd.Hidden {
				names = append(names, cmd.Name)
			}
		}
		return cli.Exit(fmt.Errorf("unknown command %q: %s has %s (see %s --help)", c.Args().First(), path, strings.Join(names, ", "), path), 2)
	}
}

var (
	invalidFlagRE = regexp.MustCompile(`^invalid value "(.*)" for flag -([a-z0-9-]+): `)
	envFlagRE     = regexp.MustCompile(`^could not parse "(.*)" as \w+ value from environment variable "?([A-Z0-9_]+)"? for flag ([a-z0-9-]+)`)
	undefinedRE   = regexp.MustCompile(`^flag provided but not defined: -+([^ ]+)`)
	noArgRE       = regexp.MustCompile(`^flag needs an argument: -+([^ ]+)`)
)

// usageError rewrites the flag parser's errors into one line that names the
// flag (or environment variable) as the user typed it, what it wants and an
// example.
func usageError(c *cli.Context, err error, _ bool) error {
	path := c.App.Name
	if c.Command != nil && c.Command.FullName() != "" {
		path += " " + c.Command.FullName()
	}
	msg := err.Error()
	shapeFor := func(name string) shape {
		if c.Command != nil {
			for _, f := range c.Command.Flags {
				if slices.Contains(f.Names(), name) {
					return flagShape(f)
				}
			}
		}
		return shape{want: "a valid value", example: "..."}
	}
	switch {
	case invalidFlagRE.MatchString(msg):
		m := invalidFlagRE.FindStringSubmatch(msg)
		sh := shapeFor(m[2])
		err = badSetting("--"+m[2], m[2], m[1], sh)
	case envFlagRE.MatchString(msg):
		m := envFlagRE.FindStringSubmatch(msg)
		sh := shapeFor(m[3])
		err = badSetting(m[2], m[3], m[1], sh)
	case undefinedRE.MatchString(msg):
		err = fmt.Errorf("unknown flag --%s (see %s --help)", undefinedRE.FindStringSubmatch(msg)[1], path)
	case noArgRE.MatchString(msg):
		name := noArgRE.FindStringSubmatch(msg)[1]
		sh := shapeFor(name)
		err = fmt.Errorf("--%s needs a value: %s (e.g. --%s %s)", name, sh.want, name, sh.example)
	}
	return cli.Exit(err, 2)
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
	level, err := checkSetting(c, "log-level")
	if err != nil {
		return nil, nil, err
	}
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, nil, settingError(c, "log-level", level, shapeOf(c, "log-level"))
	}
	format, err := checkSetting(c, "log-format")
	if err != nil {
		return nil, nil, err
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), lv, nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), lv, nil
	default:
		return nil, nil, settingError(c, "log-format", format, shapeOf(c, "log-format"))
	}
}
