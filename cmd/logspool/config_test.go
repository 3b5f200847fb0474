package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// writeConfig writes body to a config file and returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "logspool.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// valueOf renders a flag's value the way the tables below spell it: lists
// joined with commas.
func valueOf(c *cli.Context, name string) string {
	switch v := c.Value(name).(type) {
	case cli.StringSlice:
		return strings.Join(v.Value(), ",")
	case time.Duration:
		return v.String()
	case bool:
		if v {
			return "true"
		}
		return "false"
	case int:
		return strconv.Itoa(v)
	default:
		return c.String(name)
	}
}

// TestConfigFileAcceptsWhatTheDocsDescribe: every form the README, the
// example config and the flags' help describe is accepted from the file and
// reaches the flag as the flag's own type.
func TestConfigFileAcceptsWhatTheDocsDescribe(t *testing.T) {
	tests := []struct {
		name, yaml, key, want string
	}{
		{"an int for a byte size", "max-line-bytes: 65536\n", "max-line-bytes", "65536"},
		{"a small int for the spool cap", "spool-max-bytes: 100\n", "spool-max-bytes", "100"},
		{"a size with a unit", "spool-max-bytes: 2GiB\n", "spool-max-bytes", "2GiB"},
		{"a quoted size", "max-line-bytes: \"64KiB\"\n", "max-line-bytes", "64KiB"},
		{"0 turns the memory limit off", "memory-limit: 0\n", "memory-limit", "0"},
		{"an unquoted RFC 3339 time", "journal-since: 2024-05-01T00:00:00Z\n", "journal-since", "2024-05-01T00:00:00Z"},
		{"an unquoted RFC 3339 time with an offset", "journal-since: 2024-05-01T02:00:00+02:00\n", "journal-since", "2024-05-01T02:00:00+02:00"},
		{"a duration for since", "journal-since: 24h\n", "journal-since", "24h"},
		{"an empty value turns the metrics endpoint off", "metrics-addr:\n", "metrics-addr", ""},
		{"an empty string turns the metrics endpoint off", "metrics-addr: \"\"\n", "metrics-addr", ""},
		{"a tilde is empty", "metrics-addr: ~\n", "metrics-addr", ""},
		{"a single string for a list key", "containers-glob: /path/*.log\n", "containers-glob", "/path/*.log"},
		{"a flow list", "es-url: [http://a:9200, http://b:9200]\n", "es-url", "http://a:9200,http://b:9200"},
		{"a block list", "journal-unit:\n  - kubelet.service\n  - containerd.service\n", "journal-unit", "kubelet.service,containerd.service"},
		{"an empty list key means none", "journal-dir:\n", "journal-dir", ""},
		{"an empty flow list means none", "journal-dir: []\n", "journal-dir", ""},
		{"yes for a boolean", "no-journal: yes\n", "no-journal", "true"},
		{"no for a boolean", "es-setup: no\n", "es-setup", "false"},
		{"on for a boolean", "no-journal: on\n", "no-journal", "true"},
		{"Off for a boolean", "es-setup: Off\n", "es-setup", "false"},
		{"true for a boolean", "no-journal: true\n", "no-journal", "true"},
		{"a quoted boolean", "no-journal: \"yes\"\n", "no-journal", "true"},
		{"an int for an int flag", "es-max-in-flight: 4\n", "es-max-in-flight", "4"},
		{"a quoted int for an int flag", "es-max-in-flight: \"4\"\n", "es-max-in-flight", "4"},
		{"a duration", "health-es-grace: 7m\n", "health-es-grace", "7m0s"},
		{"a number for a string flag", "node-name: 1234\n", "node-name", "1234"},
		{"a boolean-looking word for a string flag stays as written", "es-username: yes\n", "es-username", "yes"},
		{"a comment after the value", "read-from: tail   # only new lines\n", "read-from", "tail"},
		{"a value with a comma in a list stays whole", "containers-glob: [\"/a/x,y/*.log\"]\n", "containers-glob", "/a/x,y/*.log"},
		{"an empty file changes nothing", "", "spool-dir", "/var/lib/logspool"},
		{"a file of comments changes nothing", "# nothing yet\n", "spool-dir", "/var/lib/logspool"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeConfig(t, tc.yaml)
			var got string
			if err := parseRun(t, []string{"--config", cfg}, func(c *cli.Context) { got = valueOf(c, tc.key) }); err != nil {
				t.Fatalf("config %q refused: %v", tc.yaml, err)
			}
			if got != tc.want {
				t.Fatalf("config %q: %s = %q, want %q", tc.yaml, tc.key, got, tc.want)
			}
		})
	}
}

// TestConfigFileErrorsSayWhereAndWhat: a wrong value is refused with the
// file, the line, the key, what was expected and an example.
func TestConfigFileErrorsSayWhereAndWhat(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // each must appear in the error
	}{
		{"a word for a size", "spool-dir: /x\nmax-line-bytes: lots\n", []string{"line 2", "max-line-bytes", `"lots"`, "size", "max-line-bytes: 1MiB"}},
		{"a zero spool cap", "spool-max-bytes: 0\n", []string{"line 1", "spool-max-bytes", "size", "spool-max-bytes: 1GiB"}},
		{"a word for an int", "es-max-in-flight: many\n", []string{"line 1", "es-max-in-flight", `"many"`, "whole number", "es-max-in-flight: 2"}},
		{"a number without a unit for a duration", "\n\nhealth-es-grace: 300\n", []string{"line 3", "health-es-grace", `"300"`, "duration", "health-es-grace: 5m"}},
		{"a word for a boolean", "no-journal: maybe\n", []string{"line 1", "no-journal", `"maybe"`, "true or false", "no-journal: true"}},
		{"a word outside a choice", "read-from: middle\n", []string{"line 1", "read-from", `"middle"`, "head or tail", "read-from: head"}},
		{"an unknown log level", "log-level: loud\n", []string{"line 1", "log-level", "debug, info, warn or error", "log-level: info"}},
		{"an unknown index mode", "es-index-mode: weekly\n", []string{"line 1", "es-index-mode", "datastream or daily"}},
		{"a word for since", "journal-since: yesterday\n", []string{"line 1", "journal-since", "RFC 3339", "journal-since: 24h"}},
		{"a list for a single value", "es-index: [a, b]\n", []string{"line 1", "es-index", "not a list", "es-index: logs-logspool-default"}},
		{"a mapping for a list", "containers-glob:\n  a: b\n", []string{"line 2", "containers-glob", "list"}},
		{"a nested list", "es-url: [[http://a:9200]]\n", []string{"line 1", "es-url", "list"}},
		{"an empty value for an int", "es-max-in-flight:\n", []string{"line 1", "es-max-in-flight", "whole number"}},
		{"an unknown key", "spool-dir: /x\nes-urls: [http://a:9200]\n", []string{"line 2", "es-urls", "unknown key", "es-url"}},
		{"a key given twice", "spool-dir: /x\nspool-dir: /y\n", []string{"line 2", "spool-dir", "twice", "line 1"}},
		{"the config key itself", "config: /other.yaml\n", []string{"line 1", "config"}},
		{"a list at the top", "- spool-dir: /x\n", []string{"line 1", "key: value"}},
		{"broken YAML", "spool-dir: [/x\n", []string{"line"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeConfig(t, tc.yaml)
			err := parseRun(t, []string{"--config", cfg}, func(*cli.Context) {})
			if err == nil {
				t.Fatalf("config %q accepted, want an error", tc.yaml)
			}
			for _, w := range append([]string{cfg}, tc.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("config %q: error %q does not contain %q", tc.yaml, err, w)
				}
			}
			for _, leak := range []string{"strconv.", "Mismatched type", "parse error", "time: "} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("config %q: error %q leaks %q", tc.yaml, err, leak)
				}
			}
		})
	}
}

// TestConfigFileWinsOnlyOverDefaults: a value from the command line or the
// environment is kept when the file sets the same key, lists included.
func TestConfigFileWinsOnlyOverDefaults(t *testing.T) {
	cfg := writeConfig(t, "containers-glob: /file/*.log\nno-journal: yes\nes-max-in-flight: 4\n")
	t.Setenv("LOGSPOOL_ES_MAX_IN_FLIGHT", "3")
	var glob, inflight, nj string
	err := parseRun(t, []string{"--config", cfg, "--containers-glob", "/flag/*.log"}, func(c *cli.Context) {
		glob, inflight, nj = valueOf(c, "containers-glob"), valueOf(c, "es-max-in-flight"), valueOf(c, "no-journal")
	})
	if err != nil {
		t.Fatal(err)
	}
	if glob != "/flag/*.log" || inflight != "3" || nj != "true" {
		t.Fatalf("containers-glob %q es-max-in-flight %q no-journal %q; want /flag/*.log 3 true", glob, inflight, nj)
	}
}

// TestTheIssuesConfigFileRuns: the forms a new user tried (issue 12) in one
// file, through the binary: the agent starts and ships.
func TestTheIssuesConfigFileRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	pt := newPodTree(t)
	p := pt.newPodLog(t, 1)
	p.write(10)
	p.close()
	cfg := writeConfig(t, strings.Join([]string{
		"max-line-bytes: 65536",
		"spool-max-bytes: 104857600",
		"memory-limit: 0",
		"journal-since: 2024-05-01T00:00:00Z",
		"metrics-addr:",
		"containers-glob: " + pt.glob(),
		"no-journal: yes",
		"spool-dir: " + filepath.Join(t.TempDir(), "spool"),
	}, "\n")+"\n")
	var out lockedWriter
	out.w = new(bytes.Buffer)
	cmd := exec.Command(binary(t), "run", "--config", cfg)
	var stderr lockedWriter
	stderr.w = new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	cmd.Env = append(os.Environ(), "NODE_NAME=test-node")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
	}()
	waitFor(t, 30*time.Second, "10 documents on stdout", func() bool {
		select {
		case err := <-done:
			t.Fatalf("agent exited: %v; stderr:\n%s", err, stderr.String())
		default:
		}
		return strings.Count(out.String(), `"message":"file=1 seq=`) == 10
	})
}
