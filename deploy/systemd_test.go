package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logspool/logspool/internal/testenv"
)

const unitPath = "systemd/logspool.service"

// unitFile is a parsed systemd unit: section -> key -> values in order.
type unitFile map[string]map[string][]string

func (u unitFile) values(section, key string) []string { return u[section][key] }

// value returns the last assignment of key, as systemd applies it.
func (u unitFile) value(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// words returns every space-separated word assigned to a list-valued key.
func (u unitFile) words(section, key string) []string {
	var ws []string
	for _, v := range u[section][key] {
		ws = append(ws, strings.Fields(v)...)
	}
	return ws
}

func parseUnit(data []byte) (unitFile, error) {
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		for strings.HasSuffix(line, `\`) && sc.Scan() {
			n++
			line = strings.TrimSuffix(line, `\`) + " " + strings.TrimSpace(sc.Text())
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				return nil, fmt.Errorf("line %d: %q is neither a section nor key=value", n, line)
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			u[section][k] = append(u[section][k], v)
		}
	}
	return u, sc.Err()
}

func mustParseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u, err := parseUnit(data)
	if err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	return u
}

// systemdDuration parses the subset of systemd time spans units use here:
// "45", "45s", "1min 30s", "2m".
func systemdDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	s = strings.ReplaceAll(strings.ReplaceAll(s, " ", ""), "min", "m")
	return time.ParseDuration(s)
}

func TestSystemdUnitDirectives(t *testing.T) {
	u := mustParseUnit(t, unitPath)
	const svc = "Service"
	argv := strings.Fields(u.value(svc, "ExecStart"))
	yes := func(key string) (string, bool) {
		v := u.value(svc, key)
		return v, v == "yes" || v == "true"
	}
	cases := []struct {
		name  string
		check func() (got string, ok bool)
	}{
		{"ExecStart runs the installed binary's run subcommand", func() (string, bool) {
			return strings.Join(argv, " "), len(argv) > 1 && argv[0] == "/usr/local/bin/logspool" && argv[1] == "run"
		}},
		{"the spool is the StateDirectory", func() (string, bool) {
			return u.value(svc, "StateDirectory"), u.value(svc, "StateDirectory") == "logspool" && slices.Contains(argv, "--spool-dir=%S/logspool")
		}},
		{"the config file is /etc/logspool/logspool.yaml", func() (string, bool) {
			return strings.Join(argv, " "), slices.Contains(argv, "--config=/etc/logspool/logspool.yaml")
		}},
		{"secrets come from an optional environment file", func() (string, bool) {
			return u.value(svc, "EnvironmentFile"), u.value(svc, "EnvironmentFile") == "-/etc/default/logspool"
		}},
		{"it runs as a transient unprivileged user", func() (string, bool) {
			v, ok := yes("DynamicUser")
			return v, ok || (u.value(svc, "User") != "" && u.value(svc, "User") != "root")
		}},
		{"the journal and adm groups are supplementary", func() (string, bool) {
			g := u.words(svc, "SupplementaryGroups")
			return strings.Join(g, " "), slices.Contains(g, "systemd-journal") && slices.Contains(g, "adm")
		}},
		{"CAP_DAC_READ_SEARCH is the only capability, ambient and bounding", func() (string, bool) {
			a, b := u.words(svc, "AmbientCapabilities"), u.words(svc, "CapabilityBoundingSet")
			return fmt.Sprint(a, b), slices.Equal(a, []string{"CAP_DAC_READ_SEARCH"}) && slices.Equal(b, []string{"CAP_DAC_READ_SEARCH"})
		}},
		{"the file system is strict", func() (string, bool) {
			return u.value(svc, "ProtectSystem"), u.value(svc, "ProtectSystem") == "strict"
		}},
		{"home directories are hidden", func() (string, bool) {
			v, ok := yes("ProtectHome")
			return v, ok || v == "tmpfs"
		}},
		{"logs are read-only paths", func() (string, bool) {
			ro := map[string]bool{}
			for _, w := range u.words(svc, "ReadOnlyPaths") {
				ro[strings.TrimLeft(w, "-+")] = true
			}
			return strings.Join(u.words(svc, "ReadOnlyPaths"), " "),
				ro["/var/log"] && ro["/run/log/journal"] && ro["/var/lib/docker/containers"]
		}},
		{"only internet and unix sockets", func() (string, bool) {
			f := u.words(svc, "RestrictAddressFamilies")
			slices.Sort(f)
			return strings.Join(f, " "), slices.Equal(f, []string{"AF_INET", "AF_INET6", "AF_UNIX"})
		}},
		{"system calls are filtered to @system-service", func() (string, bool) {
			return strings.Join(u.values(svc, "SystemCallFilter"), "; "), slices.Contains(u.values(svc, "SystemCallFilter"), "@system-service")
		}},
		{"only native system calls", func() (string, bool) {
			return u.value(svc, "SystemCallArchitectures"), u.value(svc, "SystemCallArchitectures") == "native"
		}},
		{"new files are private", func() (string, bool) {
			v := u.value(svc, "UMask")
			return v, v == "0077" || v == "0027"
		}},
		{"memory is capped", func() (string, bool) {
			return u.value(svc, "MemoryMax"), u.value(svc, "MemoryMax") != "" && u.value(svc, "MemoryMax") != "infinity"
		}},
		{"it restarts on failure", func() (string, bool) {
			return u.value(svc, "Restart"), u.value(svc, "Restart") == "on-failure"
		}},
		{"the stop timeout outlasts the drain", func() (string, bool) {
			v := u.value(svc, "TimeoutStopSec")
			d, err := systemdDuration(v)
			return v, err == nil && d >= defaultShutdownTimeout+5*time.Second
		}},
		{"it starts with the system", func() (string, bool) {
			return u.value("Install", "WantedBy"), u.value("Install", "WantedBy") == "multi-user.target"
		}},
	}
	for _, key := range []string{
		"NoNewPrivileges", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
		"ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock",
		"ProtectHostname", "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID",
		"LockPersonality", "MemoryDenyWriteExecute",
	} {
		cases = append(cases, struct {
			name  string
			check func() (string, bool)
		}{key + " is on", func() (string, bool) { return yes(key) }})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got, ok := tc.check(); !ok {
				t.Fatalf("got %q", got)
			}
		})
	}
}

// needSystemdAnalyze skips the test when systemd-analyze is not installed.
func needSystemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		testenv.Missing(t, "systemd-analyze not found (apt-get install systemd; .ci/run does): skipping the unit's verify and security checks")
	}
	return p
}

// stageUnit writes a copy of the unit into a temp dir with ExecStart (and
// any extra edits) rewritten to a throwaway executable, since verify checks
// that the binary exists. It returns the unit's path.
func stageUnit(t *testing.T, edit func(string) string) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "logspool")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(data), "/usr/local/bin/logspool", bin)
	if edit != nil {
		s = edit(s)
	}
	p := filepath.Join(dir, "logspool.service")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// verifyUnit runs systemd-analyze verify on unit and returns an error for a
// non-zero exit or for any message about the unit file (unknown directives
// are only warnings, with exit code 0).
func verifyUnit(ctx context.Context, analyze, unit string) error {
	cmd := exec.CommandContext(ctx, analyze, "verify", "--man=no", unit)
	out, err := cmd.CombinedOutput()
	var about []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, filepath.Base(unit)) || strings.Contains(line, unit) {
			about = append(about, line)
		}
	}
	if err != nil {
		return fmt.Errorf("systemd-analyze verify %s: %w\n%s", unit, err, out)
	}
	if len(about) > 0 {
		return fmt.Errorf("systemd-analyze verify %s warns:\n%s", unit, strings.Join(about, "\n"))
	}
	return nil
}

var exposureLine = regexp.MustCompile(`Overall exposure level for \S+: ([0-9]+(?:\.[0-9]+)?)`)

// exposure runs systemd-analyze security offline and returns the score.
func exposure(ctx context.Context, analyze, unit string) (float64, error) {
	cmd := exec.CommandContext(ctx, analyze, "security", "--offline=true", "--no-pager", unit)
	out, err := cmd.CombinedOutput()
	// security exits non-zero when the score is above --threshold (default
	// 100): never for a parseable report, so an error here is real.
	if err != nil {
		return 0, fmt.Errorf("systemd-analyze security %s: %w\n%s", unit, err, out)
	}
	m := exposureLine.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no \"Overall exposure level\" line in:\n%s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

func TestSystemdUnitVerifies(t *testing.T) {
	analyze := needSystemdAnalyze(t)
	cases := []struct {
		name    string
		edit    func(string) string
		wantErr string
	}{
		{name: "the shipped unit verifies cleanly"},
		{
			name: "a misspelled directive is caught",
			edit: func(s string) string {
				return regexp.MustCompile(`(?m)^ProtectSystem=`).ReplaceAllString(s, "ProtectSytem=")
			},
			wantErr: "ProtectSytem",
		},
		{
			name: "a missing binary is caught",
			edit: func(s string) string {
				return regexp.MustCompile(`(?m)^ExecStart=\S+`).ReplaceAllString(s, "ExecStart=/nonexistent/logspool")
			},
			wantErr: "/nonexistent/logspool",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := verifyUnit(ctx, analyze, stageUnit(t, tc.edit))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("verify passed, want a complaint about %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error does not mention %q: %v", tc.wantErr, err)
			}
		})
	}
}

func TestSystemdUnitExposureScore(t *testing.T) {
	analyze := needSystemdAnalyze(t)
	const maxExposure = 2.0
	stripHardening := func(s string) string {
		var keep []string
		for _, line := range strings.Split(s, "\n") {
			if strings.HasPrefix(line, "Protect") || strings.HasPrefix(line, "Private") ||
				strings.HasPrefix(line, "Restrict") || strings.HasPrefix(line, "SystemCall") ||
				strings.HasPrefix(line, "Capability") || strings.HasPrefix(line, "DynamicUser") {
				continue
			}
			keep = append(keep, line)
		}
		return strings.Join(keep, "\n")
	}
	cases := []struct {
		name    string
		edit    func(string) string
		wantMax bool // true: score must be <= maxExposure; false: above it
	}{
		{name: "the shipped unit is at most 2.0 exposed", wantMax: true},
		{name: "the unit without hardening scores above 2.0 (the parse is real)", edit: stripHardening},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			score, err := exposure(ctx, analyze, stageUnit(t, tc.edit))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("exposure %.1f", score)
			if tc.wantMax && score > maxExposure {
				t.Fatalf("exposure %.1f, want <= %.1f", score, maxExposure)
			}
			if !tc.wantMax && score <= maxExposure {
				t.Fatalf("exposure %.1f without hardening, want > %.1f", score, maxExposure)
			}
		})
	}
}
