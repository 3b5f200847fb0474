package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// parseRun parses args as `logspool run` would and returns the context's
// values through get.
func parseRun(t *testing.T, args []string, get func(c *cli.Context)) error {
	t.Helper()
	fl := runFlags()
	app := &cli.App{Name: "logspool", ExitErrHandler: func(*cli.Context, error) {}, Commands: []*cli.Command{{
		Name: "run", Flags: fl, Before: withConfigFile(fl),
		Action: func(c *cli.Context) error { get(c); return nil },
	}}}
	return app.Run(append([]string{"logspool", "run"}, args...))
}

func TestSettingPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "logspool.yaml")
	if err := os.WriteFile(cfg, []byte("spool-dir: /from/file\nspool-max-bytes: 2GiB\nes-url: [http://a:9200, http://b:9200]\nhealth-es-grace: 7m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		key  string
		want string
	}{
		{"the default applies when nothing sets a value", nil, nil, "spool-dir", "/var/lib/logspool"},
		{"the file overrides the default", nil, []string{"--config", cfg}, "spool-dir", "/from/file"},
		{"the environment overrides the file", map[string]string{"LOGSPOOL_SPOOL_DIR": "/from/env"}, []string{"--config", cfg}, "spool-dir", "/from/env"},
		{"a flag overrides the environment", map[string]string{"LOGSPOOL_SPOOL_DIR": "/from/env"}, []string{"--config", cfg, "--spool-dir", "/from/flag"}, "spool-dir", "/from/flag"},
		{"a list comes from the file", nil, []string{"--config", cfg}, "es-url", "http://a:9200,http://b:9200"},
		{"a duration comes from the file", nil, []string{"--config", cfg}, "health-es-grace", "7m0s"},
		{"the config file itself comes from the environment", map[string]string{"LOGSPOOL_CONFIG": cfg}, nil, "spool-max-bytes", "2GiB"},
		{"the default glob is kubelet's", nil, nil, "containers-glob", "/var/log/containers/*.log"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var got string
			err := parseRun(t, tc.args, func(c *cli.Context) {
				switch v := c.Value(tc.key).(type) {
				case cli.StringSlice:
					got = strings.Join(v.Value(), ",")
				case time.Duration:
					got = v.String()
				default:
					got = c.String(tc.key)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("%s = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
}

func TestConfigFileRefusesUnknownKeys(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "logspool.yaml")
	if err := os.WriteFile(cfg, []byte("spool-dir: /x\nes-urls: [http://a:9200]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := parseRun(t, []string{"--config", cfg}, func(*cli.Context) {})
	if err == nil || !strings.Contains(err.Error(), "es-urls") {
		t.Fatalf("err = %v, want one naming the unknown key es-urls", err)
	}
}

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		bad  bool
	}{
		{"1GiB", 1 << 30, false},
		{"512MiB", 512 << 20, false},
		{"100KiB", 100 << 10, false},
		{"1000", 1000, false},
		{"1MB", 1000000, false},
		{"lots", 0, true},
		{"0", 0, true},
	}
	for _, tc := range tests {
		got, err := parseSize(tc.in, false)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, bad=%v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func TestSecretsComeFromFilesOrEnvironment(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LOGSPOOL_ES_PASSWORD", "from-env")
	var fromFile, fromEnv string
	if err := parseRun(t, []string{"--es-password-file", pw}, func(c *cli.Context) {
		fromFile, _ = secret(c, "es-password-file", "LOGSPOOL_ES_PASSWORD")
	}); err != nil {
		t.Fatal(err)
	}
	if err := parseRun(t, nil, func(c *cli.Context) {
		fromEnv, _ = secret(c, "es-password-file", "LOGSPOOL_ES_PASSWORD")
	}); err != nil {
		t.Fatal(err)
	}
	if fromFile != "s3cret" || fromEnv != "from-env" {
		t.Fatalf("file %q env %q", fromFile, fromEnv)
	}
	for _, f := range runFlags() {
		for _, n := range f.Names() {
			if n == "es-password" || n == "es-api-key" {
				t.Errorf("flag --%s puts a secret on the command line", n)
			}
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	got, err := parseSince("24h", now)
	if err != nil || !got.Equal(now.Add(-24*time.Hour)) {
		t.Fatalf("24h: %v %v", got, err)
	}
	got, err = parseSince("2025-12-31T00:00:00Z", now)
	if err != nil || got.Year() != 2025 {
		t.Fatalf("rfc3339: %v %v", got, err)
	}
	if _, err := parseSince("yesterday", now); err == nil {
		t.Fatal("want an error for yesterday")
	}
}
