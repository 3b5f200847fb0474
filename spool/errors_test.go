//go:build linux

package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs of the given size at a new directory, or skips.
func mountTmpfs(t *testing.T, opts string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// TestOpenErrorsSayWhatIsWrong: permission problems, a read-only file
// system and a full one each get their own error and advice, never
// "corrupt" (a spool held by another process: TestOpenLockedByAnotherProcess;
// damage: TestOpenReportsADamagedSpool).
func TestOpenErrorsSayWhatIsWrong(t *testing.T) {
	t.Run("a directory the agent may not write is a permission problem", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to run the child as another user")
		}
		base := mountTmpfs(t, "size=128m,mode=0755")
		if err := os.Chmod(filepath.Dir(base), 0o755); err != nil { // t.TempDir's parent is 0700
			t.Fatal(err)
		}
		dir := filepath.Join(base, "spool")
		mustClose(t, openSpool(t, Config{Dir: dir}))
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		// The test binary, where the other user may run it.
		bin := filepath.Join(base, "spool.test")
		b, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=open", "LOGSPOOL_SPOOL_TEST_DIR="+dir)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v: %s", err, out)
		}
		if !strings.Contains(string(out), "permission denied") || !strings.Contains(string(out), "is: true false false false") ||
			!strings.Contains(string(out), "chown") || strings.Contains(string(out), "corrupt") {
			t.Fatalf("child said %s; want ErrPermission with advice, not corruption", out)
		}
		t.Log(strings.TrimSpace(string(out)))
	})
	t.Run("a read-only file system is named as such", func(t *testing.T) {
		base := mountTmpfs(t, "size=64m")
		dir := filepath.Join(base, "spool")
		mustClose(t, openSpool(t, Config{Dir: dir}))
		if err := syscall.Mount("", base, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
			t.Skipf("cannot remount read-only: %v", err)
		}
		_, err := Open(Config{Dir: dir, Logger: quietLogger()})
		if !errors.Is(err, ErrReadOnlyFS) || errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "read-only file system") {
			t.Fatalf("Open = %v; want ErrReadOnlyFS", err)
		}
		t.Log(err)
		ro, err := Open(Config{Dir: dir, ReadOnly: true, Logger: quietLogger()})
		if err != nil {
			t.Fatalf("read-only Open on a read-only file system = %v; want it to work for inspection", err)
		}
		mustClose(t, ro)
	})
	t.Run("a full file system is named as such", func(t *testing.T) {
		base := mountTmpfs(t, "size=64k")
		if err := os.WriteFile(filepath.Join(base, "filler"), make([]byte, 60<<10), 0o600); err != nil && !errors.Is(err, syscall.ENOSPC) {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=open", "LOGSPOOL_SPOOL_TEST_DIR="+filepath.Join(base, "spool"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v: %s", err, out) // a SIGBUS would show here
		}
		if !strings.Contains(string(out), "is: false false true false") || !strings.Contains(string(out), "no space") {
			t.Fatalf("child said %s; want ErrNoSpace", out)
		}
		t.Log(strings.TrimSpace(string(out)))
	})
}

// TestFailedSyncRefusesAppends: after an fsync fails (the kernel may have
// dropped the pages it could not write and report the next fsync as a
// success), the spool never claims durability again in this process: appends
// refuse with ErrSyncFailed, and the next Open verifies and keeps what is
// there.
func TestFailedSyncRefusesAppends(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, Config{Dir: dir, SyncInterval: time.Hour})
	mustAppend(t, s, makeRecords(0, 10, 100))
	defer func(f func(*os.File) error) { syncFile = f }(syncFile)
	syncFile = func(*os.File) error { return syscall.EIO }
	if err := s.syncRound(); !errors.Is(err, ErrSyncFailed) {
		t.Fatalf("syncRound with failing fsyncs = %v, want ErrSyncFailed", err)
	}
	syncFile = (*os.File).Sync
	if err := s.syncRound(); !errors.Is(err, ErrSyncFailed) {
		t.Fatalf("the next syncRound = %v, want ErrSyncFailed again", err)
	}
	if err := s.Append(context.Background(), makeRecords(10, 1, 100)); !errors.Is(err, ErrSyncFailed) || !strings.Contains(err.Error(), "restart") {
		t.Fatalf("Append after a failed sync = %v, want ErrSyncFailed saying to restart", err)
	}
	if err := s.Close(); err == nil {
		t.Fatal("Close after a failed sync succeeded")
	}
	s = openSpool(t, Config{Dir: dir})
	if got := dumpNums(t, s); !equalNums(got, seqNums(0, 10)) {
		t.Fatalf("after a restart the spool holds %v, want records 0..9", got)
	}
}

// TestARemovedDirectoryIsRefusedAndCloseReturns: the spool directory removed
// (or replaced) under a running spool, as an admin's rm -rf or a lost mount
// does. Writes would go to unlinked files and Badger would retry flushing
// its memtable into the missing directory forever, so Close never returned.
// The spool must notice within a sync round, refuse appends saying why, report
// it in Failure, and Close must return.
func TestARemovedDirectoryIsRefusedAndCloseReturns(t *testing.T) {
	for _, replace := range []bool{false, true} {
		name := "removed"
		if replace {
			name = "replaced by an empty directory"
		}
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "spool")
			s, err := Open(Config{Dir: dir, Logger: quietLogger(), SyncInterval: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			mustAppend(t, s, makeRecords(0, 100, 100))
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			if replace {
				mustMkdirAll(t, dir)
			}
			var aerr error
			waitUntil(t, 10*time.Second, "appends refused", func() bool {
				aerr = s.Append(context.Background(), makeRecords(100, 1, 100))
				return aerr != nil
			})
			if !errors.Is(aerr, ErrSyncFailed) || !strings.Contains(aerr.Error(), dir) || !strings.Contains(aerr.Error(), "restart") {
				t.Fatalf("Append = %v, want ErrSyncFailed naming %s and saying to restart", aerr, dir)
			}
			if f := s.Failure(); f == nil {
				t.Fatal("Failure() = nil after the directory went away")
			}
			done := make(chan error, 1)
			go func() { done <- s.Close() }()
			select {
			case err := <-done:
				t.Logf("Close: %v", err)
			case <-time.After(60 * time.Second):
				t.Fatal("Close did not return within 60s")
			}
			if replace {
				if ents, _ := os.ReadDir(dir); len(ents) > 0 {
					t.Fatalf("Close wrote %d files into the directory that replaced the spool (first %s)", len(ents), ents[0].Name())
				}
			}
			// Close left Badger open (it cannot flush into a missing
			// directory); give it one so that its goroutines end.
			mustMkdirAll(t, dir)
			if err := s.db.Close(); err != nil {
				t.Logf("closing the index left open: %v", err)
			}
		})
	}
}

func mustMkdirAll(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
}

// TestRunningOutOfDescriptorsIsNotAFailedSync: a sync round opens the
// spool's directories (and Badger's logs) by name to fsync them. When the
// process is out of descriptors (EMFILE: many log files open, a low
// RLIMIT_NOFILE) that open fails, but nothing was lost: the round must fail
// and be retried, never refuse appends until a restart as a failed fsync
// does (the agent stopped reading for good while the README says running
// out of descriptors only slows it).
func TestRunningOutOfDescriptorsIsNotAFailedSync(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	s := openSpool(t, Config{Dir: dir, SyncInterval: time.Hour})
	mustAppend(t, s, makeRecords(0, 10, 100))
	func() {
		var old syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
			t.Fatal(err)
		}
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skipf("no /proc/self/fd: %v", err)
		}
		maxFD := 0
		for _, e := range ents {
			var fd int
			if _, err := fmt.Sscan(e.Name(), &fd); err == nil {
				maxFD = max(maxFD, fd)
			}
		}
		lim := old
		lim.Cur = uint64(maxFD + 1)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Skipf("setrlimit: %v", err)
		}
		defer func() {
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
				t.Fatal(err)
			}
		}()
		// Fill the holes below the limit: every open now fails with EMFILE.
		var fill []*os.File
		defer func() {
			for _, f := range fill {
				_ = f.Close()
			}
		}()
		for {
			f, err := os.Open(os.DevNull)
			if err != nil {
				if !errors.Is(err, syscall.EMFILE) {
					t.Fatalf("filling the descriptor table: %v", err)
				}
				break
			}
			fill = append(fill, f)
		}
		if err := s.syncRound(); err == nil {
			t.Log("the sync round succeeded without a descriptor")
		} else {
			t.Logf("sync round out of descriptors: %v", err)
		}
	}()
	if f := s.Failure(); f != nil {
		t.Fatalf("Failure() = %v after a sync round ran out of descriptors, want nil: nothing was lost", f)
	}
	mustAppend(t, s, makeRecords(10, 10, 100))
	if err := s.syncRound(); err != nil {
		t.Fatalf("sync round with descriptors again: %v", err)
	}
}
