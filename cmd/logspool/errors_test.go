package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUserErrorsNameWhatTheUserTyped runs the binary with one mistake at a
// time: each is refused with exit code 2 and one message naming the flag,
// environment variable, config key or command as typed, never Go internals.
func TestUserErrorsNameWhatTheUserTyped(t *testing.T) {
	dir := t.TempDir()
	base := []string{"--spool-dir", filepath.Join(dir, "spool"), "--no-journal", "--metrics-addr", "", "--containers-glob", filepath.Join(dir, "*.log")}
	run := func(args ...string) []string { return append(append([]string{"run"}, base...), args...) }
	tests := []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{"an empty size", nil, run("--spool-max-bytes", ""), []string{`--spool-max-bytes ""`, "size", "e.g. --spool-max-bytes 1GiB"}},
		{"a size from the environment", []string{"LOGSPOOL_MAX_LINE_BYTES=lots"}, run(), []string{`LOGSPOOL_MAX_LINE_BYTES "lots"`, "LOGSPOOL_MAX_LINE_BYTES=1MiB"}},
		{"a word for an int flag", nil, run("--es-max-in-flight", "many"), []string{`--es-max-in-flight "many"`, "whole number"}},
		{"a word for a bool variable", []string{"LOGSPOOL_NO_JOURNAL=maybe"}, run(), []string{`LOGSPOOL_NO_JOURNAL "maybe"`, "true or false"}},
		{"a flag without its value", nil, []string{"run", "--spool-dir"}, []string{"--spool-dir needs a value"}},
		{"an unknown flag", nil, run("--frobnicate"), []string{"unknown flag --frobnicate", "logspool run --help"}},
		{"a stray argument", nil, run("extra"), []string{"takes no arguments", `"extra"`}},
		{"an unknown command", nil, []string{"frobnicate"}, []string{`unknown command "frobnicate"`, "run, replay, status, spool, version"}},
		{"an unknown spool subcommand", nil, []string{"spool", "frob"}, []string{`unknown command "frob"`, "stats, dump, salvage, dlq"}},
		{"an unknown index mode", nil, run("--es-url", "http://127.0.0.1:1", "--es-index-mode", "weekly"), []string{`--es-index-mode "weekly"`, "datastream or daily"}},
		{"a negative in-flight limit", nil, run("--es-url", "http://127.0.0.1:1", "--es-max-in-flight", "-1"), []string{"--es-max-in-flight", "negative"}},
		{"a certificate without its key", nil, run("--es-url", "http://127.0.0.1:1", "--es-cert-file", "/c.pem"), []string{"--es-cert-file and --es-key-file"}},
		{"a bad URL", nil, run("--es-url", "ftp://es:9200"), []string{"--es-url", "ftp://es:9200", "http or https"}},
		{"a password without a user", []string{"LOGSPOOL_ES_PASSWORD=x"}, run("--es-url", "http://127.0.0.1:1"), []string{"LOGSPOOL_ES_PASSWORD", "--es-username"}},
		{"an unknown log level", nil, run("--log-level", "loud"), []string{`--log-level "loud"`, "debug, info, warn or error"}},
		{"a bad since", nil, run("--journal-since", "yesterday"), []string{`--journal-since "yesterday"`, "RFC 3339"}},
		{"a bad memory limit", nil, run("--memory-limit", "lots"), []string{`--memory-limit "lots"`, "or 0 for none"}},
		{"a bad read-from", nil, run("--read-from", "middle"), []string{`--read-from "middle"`, "head or tail"}},
	}
	leaks := []string{"strconv.", "IndexMode", "MaxInFlight", "URLs", "CertFile", "KeyFile", "Username", "BatchBytes",
		"parse error", "No help topic", "Incorrect Usage", "invalid config", "NAME:"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A mistake the binary accepted would start the agent: bound it.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary(t), tc.args...)
			cmd.Env = append(append(os.Environ(), "NODE_NAME=test-node"), tc.env...)
			out, err := cmd.CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 2 {
				t.Fatalf("%v: %v, want exit code 2; output:\n%s", tc.args, err, out)
			}
			msg := strings.TrimSpace(string(out))
			if strings.Count(msg, "\n") > 0 {
				t.Errorf("%v: a %d-line answer, want one line:\n%s", tc.args, strings.Count(msg, "\n")+1, msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%v: %q lacks %q", tc.args, msg, w)
				}
			}
			for _, l := range leaks {
				if strings.Contains(msg, l) {
					t.Errorf("%v: %q leaks %q", tc.args, msg, l)
				}
			}
		})
	}
}

// TestHelpHasNoPlaceholderLeak: the dlq --key flag's help shows a KEY
// placeholder, not a word from its usage text.
func TestHelpHasNoPlaceholderLeak(t *testing.T) {
	out, _, code := runCLI(t, "spool", "dlq", "retry", "--help")
	if code != 0 || !strings.Contains(out, "--key KEY") || strings.Contains(out, "--key dlq") {
		t.Fatalf("exit %d, help:\n%s", code, out)
	}
}
