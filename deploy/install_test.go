package deploy_test

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logspool/logspool/internal/testenv"
)

// runMake runs a Makefile target of the repository with vars, never
// rebuilding the binary (the build target is the lead's; -o skips it).
func runMake(t *testing.T, target string, vars ...string) string {
	t.Helper()
	mk, err := exec.LookPath("make")
	if err != nil {
		testenv.Missing(t, "make not found: skipping the install target checks")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append([]string{"-C", "..", "--no-print-directory", "-o", "build", target}, vars...)
	cmd := exec.CommandContext(ctx, mk, args...)
	// A parent make (make test) exports its flags; keep them out.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "MAKEFLAGS" && k != "MFLAGS" && k != "MAKELEVEL" &&
			k != "DESTDIR" && k != "PREFIX" && k != "BIN" && k != "SYSCONFDIR" && k != "UNITDIR" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s %v: %v\n%s", target, vars, err, out)
	}
	return string(out)
}

func mustFakeBinary(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "fake-logspool")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n# "+body+"\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustHaveFile(t *testing.T, path string, mode fs.FileMode, want string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("installed file: %v", err)
	}
	if got := fi.Mode().Perm(); got != mode {
		t.Errorf("%s has mode %04o, want %04o", path, got, mode)
	}
	if want != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(data) != want {
			t.Errorf("%s content differs from what was expected (%d bytes, want %d)", path, len(data), len(want))
		}
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func mustWrite(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestMakeInstallStagesIntoDestdir(t *testing.T) {
	tmp := t.TempDir()
	root := filepath.Join(tmp, "root")
	bin := mustFakeBinary(t, tmp, "first")
	vars := []string{"BIN=" + bin, "DESTDIR=" + root, "PREFIX=/usr"}
	runMake(t, "install", vars...)

	unit := mustRead(t, unitPath)
	wantUnit := strings.ReplaceAll(unit, "/usr/local/bin/logspool", "/usr/bin/logspool")
	mustHaveFile(t, root+"/usr/bin/logspool", 0o755, mustRead(t, bin))
	mustHaveFile(t, root+"/usr/lib/systemd/system/logspool.service", 0o644, wantUnit)
	mustHaveFile(t, root+"/etc/logspool/logspool.yaml", 0o644, mustRead(t, "systemd/logspool.yaml"))
	mustHaveFile(t, root+"/etc/default/logspool", 0o600, mustRead(t, "systemd/logspool.default"))

	t.Run("a second install keeps the admin's config and secrets", func(t *testing.T) {
		mustWrite(t, root+"/etc/logspool/logspool.yaml", "es-url: [https://mine:9200]\n")
		mustWrite(t, root+"/etc/default/logspool", "LOGSPOOL_ES_PASSWORD=secret\n")
		bin2 := mustFakeBinary(t, t.TempDir(), "second")
		out := runMake(t, "install", "BIN="+bin2, "DESTDIR="+root, "PREFIX=/usr")
		if !strings.Contains(out, "keeping existing") {
			t.Errorf("install did not say it kept the existing files:\n%s", out)
		}
		if got := mustRead(t, root+"/etc/logspool/logspool.yaml"); got != "es-url: [https://mine:9200]\n" {
			t.Errorf("config overwritten: %q", got)
		}
		if got := mustRead(t, root+"/etc/default/logspool"); got != "LOGSPOOL_ES_PASSWORD=secret\n" {
			t.Errorf("secrets overwritten: %q", got)
		}
		mustHaveFile(t, root+"/usr/bin/logspool", 0o755, mustRead(t, bin2))
	})
	t.Run("uninstall removes the binary and unit and keeps config and secrets", func(t *testing.T) {
		runMake(t, "uninstall", "DESTDIR="+root, "PREFIX=/usr")
		for _, gone := range []string{"/usr/bin/logspool", "/usr/lib/systemd/system/logspool.service"} {
			if _, err := os.Stat(root + gone); !os.IsNotExist(err) {
				t.Errorf("%s still there after uninstall (err %v)", gone, err)
			}
		}
		for _, kept := range []string{"/etc/logspool/logspool.yaml", "/etc/default/logspool"} {
			if _, err := os.Stat(root + kept); err != nil {
				t.Errorf("%s removed by uninstall: %v", kept, err)
			}
		}
	})
}

// TestMakeInstallWithPrefixProducesAVerifiableUnit installs with PREFIX and
// SYSCONFDIR inside a temp dir (no DESTDIR), so the installed unit points at
// files that exist, and systemd-analyze can verify it as installed.
func TestMakeInstallWithPrefixProducesAVerifiableUnit(t *testing.T) {
	tmp := t.TempDir()
	prefix, etc := filepath.Join(tmp, "opt"), filepath.Join(tmp, "etc")
	runMake(t, "install", "BIN="+mustFakeBinary(t, tmp, "x"), "PREFIX="+prefix, "SYSCONFDIR="+etc, "DESTDIR=")
	unitFile := filepath.Join(prefix, "lib/systemd/system/logspool.service")
	u := mustParseUnit(t, unitFile)
	argv := strings.Fields(u.value("Service", "ExecStart"))
	if len(argv) < 3 || argv[0] != prefix+"/bin/logspool" {
		t.Fatalf("ExecStart %v does not run %s/bin/logspool", argv, prefix)
	}
	if !strings.Contains(u.value("Service", "ExecStart"), "--config="+etc+"/logspool/logspool.yaml") {
		t.Errorf("ExecStart %v does not read the config from SYSCONFDIR", argv)
	}
	if got := u.value("Service", "EnvironmentFile"); got != "-"+etc+"/default/logspool" {
		t.Errorf("EnvironmentFile=%s, want -%s/default/logspool", got, etc)
	}
	analyze := needSystemdAnalyze(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := verifyUnit(ctx, analyze, unitFile); err != nil {
		t.Fatal(err)
	}
}
