package deploy_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logspool/logspool/internal/testenv"
)

// lineCollector gathers a process's stdout lines for polling.
type lineCollector struct {
	mu    sync.Mutex
	lines []string
}

func (lc *lineCollector) contains(s string) bool {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	for _, l := range lc.lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

func mustWriteOwned(t *testing.T, path, content string, uid int, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, uid, uid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func mustMkdirOwned(t *testing.T, path string, uid int, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(path, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, uid, uid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// TestPrivilegeProfilesReadProtectedLogs runs the built logspool under the
// two privilege profiles the deploy files give it, using setpriv, and checks
// the claims their comments make:
//
//   - systemd: an unprivileged user (DynamicUser) with CAP_DAC_READ_SEARCH as
//     its only, ambient capability and no_new_privs reads a root-owned 0640
//     log in a 0700 directory, and writes its own spool;
//   - Kubernetes: uid 0 with every capability dropped but DAC_READ_SEARCH and
//     allowPrivilegeEscalation=false reads another user's 0600 log in a 0700
//     directory, and writes a root-owned spool.
//
// Each has a control case without the capability that must read nothing, so
// the test shows the capability is what does it. A world-readable log beside
// the protected one proves logspool scanned before absence is judged.
func TestPrivilegeProfilesReadProtectedLogs(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "needs root to create files owned by other users and to drop into the profiles")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		testenv.Missing(t, "setpriv (util-linux) not found: skipping the privilege profile checks")
	}
	bin := mustBuildLogspool(t)

	const nobody = 65534
	systemdProfile := func(caps bool) []string {
		c := "-all"
		if caps {
			c = "-all,+dac_read_search"
		}
		return []string{"--reuid=65534", "--regid=65534", "--clear-groups",
			"--inh-caps=" + c, "--ambient-caps=" + c, "--bounding-set=" + c, "--no-new-privs"}
	}
	kubernetesProfile := func(caps bool) []string {
		c := "-all"
		if caps {
			c = "-all,+dac_read_search"
		}
		return []string{"--reuid=0", "--regid=0", "--clear-groups",
			"--inh-caps=-all", "--bounding-set=" + c, "--no-new-privs"}
	}
	cases := []struct {
		name        string
		logOwner    int // owner of the protected log and its directory
		logMode     os.FileMode
		spoolOwner  int
		profile     []string
		wantShipped bool
	}{
		{"systemd: the dynamic user with ambient DAC_READ_SEARCH reads a root-owned 0640 log",
			0, 0o640, nobody, systemdProfile(true), true},
		{"systemd: the same user without the capability cannot",
			0, 0o640, nobody, systemdProfile(false), false},
		{"kubernetes: uid 0 with only DAC_READ_SEARCH reads another user's 0600 log",
			1000, 0o600, 0, kubernetesProfile(true), true},
		{"kubernetes: uid 0 with every capability dropped cannot",
			1000, 0o600, 0, kubernetesProfile(false), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root, err := os.MkdirTemp("", "deploy-priv-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(root) })
			if err := os.Chmod(root, 0o755); err != nil {
				t.Fatal(err)
			}
			const id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
			protectedDir, publicDir := filepath.Join(root, "pods"), filepath.Join(root, "public")
			mustMkdirOwned(t, protectedDir, tc.logOwner, 0o700)
			mustMkdirOwned(t, publicDir, 0, 0o755)
			mustWriteOwned(t, filepath.Join(protectedDir, "secret-0_prod_app-"+id+".log"),
				"2026-11-25T04:00:00.000000000Z stdout F protected-line\n", tc.logOwner, tc.logMode)
			mustWriteOwned(t, filepath.Join(publicDir, "open-0_prod_app-"+id+".log"),
				"2026-11-25T04:00:00.000000000Z stdout F public-line\n", 0, 0o644)
			spool := filepath.Join(root, "spool")
			mustMkdirOwned(t, spool, tc.spoolOwner, 0o700)

			want := []string{"public-line"}
			if tc.wantShipped {
				want = append(want, "protected-line")
			}
			lc := runUnderProfile(t, setpriv, tc.profile, []string{bin, "run",
				"--spool-dir=" + spool,
				"--containers-glob=" + filepath.Join(protectedDir, "*.log"),
				"--containers-glob=" + filepath.Join(publicDir, "*.log"),
				"--no-journal", "--metrics-addr=", "--read-from=head", "--shutdown-timeout=5s"}, want, nil)
			if got := lc.contains("protected-line"); got != tc.wantShipped {
				t.Fatalf("protected line shipped = %v, want %v", got, tc.wantShipped)
			}
			fi, err := os.Stat(spool)
			if err != nil {
				t.Fatal(err)
			}
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != tc.spoolOwner {
				t.Fatalf("spool owner changed to %d", st.Uid)
			}
			entries, err := os.ReadDir(spool)
			if err != nil || len(entries) == 0 {
				t.Fatalf("spool %s is empty (%v): logspool did not write it", spool, err)
			}
		})
	}
}

// syncBuffer is a strings.Builder safe for a writer and a poller.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (sb *syncBuffer) Write(p []byte) (int, error) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.b.Write(p)
}

func (sb *syncBuffer) String() string {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.b.String()
}

// runUnderProfile runs argv under setpriv with profile, waits until stdout
// has a line containing each of want and stderr contains each of
// wantStderr (30s at most), then sends SIGTERM and requires a clean exit.
// It returns every stdout line.
func runUnderProfile(t *testing.T, setpriv string, profile, argv, want, wantStderr []string) *lineCollector {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append(append(append([]string{}, profile...), "--"), argv...)
	cmd := exec.CommandContext(ctx, setpriv, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lc := &lineCollector{}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
		for sc.Scan() {
			lc.mu.Lock()
			lc.lines = append(lc.lines, sc.Text())
			lc.mu.Unlock()
		}
	}()
	stop := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-readDone
		return cmd.Wait()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		all := true
		for _, w := range want {
			all = all && lc.contains(w)
		}
		for _, w := range wantStderr {
			all = all && strings.Contains(stderr.String(), w)
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			err := stop()
			t.Fatalf("within 30s stdout lacks one of %v or stderr one of %v (exit %v)\nstderr:\n%s", want, wantStderr, err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\nstderr:\n%s", err, stderr.String())
	}
	t.Logf("%d lines shipped", len(lc.lines))
	return lc
}

// TestJournalGroupReadsTheJournal checks the unit's other read path: the
// supplementary group systemd-journal, with no capability at all, reads a
// root:systemd-journal 0640 journal file in a 2750 directory, and the same
// user without the group reads none of it. The journal is a real file from
// the systemd package's corpus.
func TestJournalGroupReadsTheJournal(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "needs root to create files owned by other users and to drop into the profiles")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		testenv.Missing(t, "setpriv (util-linux) not found: skipping the journal group check")
	}
	grp, err := user.LookupGroup("systemd-journal")
	if err != nil {
		testenv.Missing(t, "no systemd-journal group on this machine (apt-get install systemd): skipping")
	}
	gid, _ := strconv.Atoi(grp.Gid)
	const corpus = "../systemd/testdata/journal/files/basic-compact.journal"
	src, err := os.ReadFile(corpus)
	if err != nil {
		testenv.Missing(t, "journal corpus not available: %v", err)
	}
	bin := mustBuildLogspool(t)
	// The first entry of basic-compact.journal, as journalctl prints it.
	const firstMessage = "Linux version 6.1.0-18-cloud-amd64"

	cases := []struct {
		name        string
		groups      string
		wantJournal bool
	}{
		{"the systemd-journal group reads the journal without capabilities", grp.Gid, true},
		{"without the group nothing of the journal is read", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root, err := os.MkdirTemp("", "deploy-journal-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(root) })
			if err := os.Chmod(root, 0o755); err != nil {
				t.Fatal(err)
			}
			jdir := filepath.Join(root, "journal", "f9566129bfd434ec3d39b3eed37ce010")
			if err := os.MkdirAll(jdir, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, d := range []string{filepath.Dir(jdir), jdir} {
				if err := os.Chown(d, 0, gid); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(d, 0o2750); err != nil {
					t.Fatal(err)
				}
			}
			jf := filepath.Join(jdir, "system.journal")
			if err := os.WriteFile(jf, src, 0o640); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(jf, 0, gid); err != nil {
				t.Fatal(err)
			}
			const id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
			publicDir := filepath.Join(root, "public")
			mustMkdirOwned(t, publicDir, 0, 0o755)
			mustWriteOwned(t, filepath.Join(publicDir, "open-0_prod_app-"+id+".log"),
				"2026-11-25T04:00:00.000000000Z stdout F public-line\n", 0, 0o644)
			spool := filepath.Join(root, "spool")
			mustMkdirOwned(t, spool, 65534, 0o700)

			profile := []string{"--reuid=65534", "--regid=65534", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"}
			if tc.groups != "" {
				profile = append(profile, "--groups="+tc.groups)
			} else {
				profile = append(profile, "--clear-groups")
			}
			want, wantStderr := []string{"public-line"}, []string(nil)
			if tc.wantJournal {
				want = append(want, firstMessage)
			} else {
				// Absence means something only once the journal input has
				// tried and been refused.
				wantStderr = []string{"permission denied"}
			}
			lc := runUnderProfile(t, setpriv, profile, []string{bin, "run",
				"--spool-dir=" + spool,
				"--containers-glob=" + filepath.Join(publicDir, "*.log"),
				"--journal-dir=" + filepath.Dir(jdir),
				"--metrics-addr=", "--shutdown-timeout=5s"}, want, wantStderr)
			if got := lc.contains(firstMessage); got != tc.wantJournal {
				t.Fatalf("journal entry shipped = %v, want %v", got, tc.wantJournal)
			}
		})
	}
}
