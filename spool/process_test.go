package spool

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logspool/logspool/spool/record"
)

const killCheckpointKey = "f/kill-test"

// childHold opens the spool in dir, says "ready" and holds it until stdin closes.
func childHold(dir string) {
	s, err := Open(Config{Dir: dir, Logger: quietLogger()})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = s.Close()
}

// childOpen (a child role) opens the spool in dir and prints the error.
func childOpen(dir string) {
	s, err := Open(Config{Dir: dir, Logger: quietLogger()})
	if err != nil {
		fmt.Println("error:", err)
		fmt.Println("is:", errors.Is(err, ErrPermission), errors.Is(err, ErrReadOnlyFS), errors.Is(err, ErrNoSpace), errors.Is(err, ErrCorrupt))
		os.Exit(0)
	}
	_ = s.Close()
	fmt.Println("opened")
}

// childResume opens the spool in a child process and returns the record
// number stored in its checkpoint (0 when there is none).
func childResume(dir string) (*Spool, uint64) {
	s, err := Open(Config{Dir: dir, Logger: quietLogger(), SyncInterval: 50 * time.Millisecond})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	cp, err := s.Checkpoint(killCheckpointKey)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	var next uint64
	if cp != nil {
		next = binary.BigEndian.Uint64(cp)
	}
	return s, next
}

// childAppendBatch appends 1 to most records numbered from next with the
// checkpoint just past them, in one Append, and returns the new checkpoint.
func childAppendBatch(s *Spool, next uint64, most int) uint64 {
	n := 1 + rand.IntN(most)
	end := next + uint64(n)
	v := binary.BigEndian.AppendUint64(nil, end)
	if err := s.Append(context.Background(), makeRecords(next, n, 170), record.Checkpoint{Key: killCheckpointKey, Value: v}); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	return end
}

// childAppend resumes at the stored checkpoint and appends batches of records
// with the checkpoint just past them, printing the checkpoint of each commit,
// until it is killed.
func childAppend(dir string) {
	s, next := childResume(dir)
	out := bufio.NewWriter(os.Stdout)
	for {
		next = childAppendBatch(s, next, 400)
		fmt.Fprintln(out, next)
		_ = out.Flush()
	}
}

// childAppendAck is childAppend that also leases and acks like a shipper,
// dead-lettering every record whose number is a multiple of 7.
func childAppendAck(dir string) {
	s, next := childResume(dir)
	out := bufio.NewWriter(os.Stdout)
	for {
		next = childAppendBatch(s, next, 300)
		if rand.IntN(2) == 0 {
			l, err := s.TryLease(1 + rand.IntN(100<<10))
			if err != nil {
				fmt.Println("error:", err)
				os.Exit(1)
			}
			if l != nil {
				var dead []DeadLetter
				for _, r := range l.Records {
					if numOf(r.ID)%7 == 0 {
						dead = append(dead, DeadLetter{Record: r, Reason: "seven", Time: time.Now()})
					}
				}
				if err := l.Done(dead); err != nil {
					fmt.Println("error:", err)
					os.Exit(1)
				}
			}
		}
		fmt.Fprintln(out, next)
		_ = out.Flush()
	}
}

// startChild re-executes the test binary in the given role.
func startChild(t *testing.T, role, dir string) (*exec.Cmd, *bufio.Scanner, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+role, "LOGSPOOL_SPOOL_TEST_DIR="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting child %s: %v", role, err)
	}
	return cmd, bufio.NewScanner(stdout), stdin
}

func TestOpenLockedByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	cmd, out, stdin := startChild(t, "hold", dir)
	defer func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}()
	if !out.Scan() || out.Text() != "ready" {
		t.Fatalf("child did not get ready: %q %v", out.Text(), out.Err())
	}
	for _, ro := range []bool{false, true} {
		_, err := Open(Config{Dir: dir, ReadOnly: ro, Logger: quietLogger()})
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("Open(ReadOnly=%v) of a held directory = %v, want ErrLocked", ro, err)
		}
		if !strings.Contains(err.Error(), "running logspool agent") || !strings.Contains(err.Error(), dir) {
			t.Fatalf("error %q does not say that a running agent holds %s", err, dir)
		}
	}
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	s := openSpool(t, Config{Dir: dir}) // free again
	mustClose(t, s)
}

func TestKill9NeitherLosesNorDuplicates(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	var acked uint64 // records numbered below acked were delivered and acked
	rounds := 10
	if os.Getenv("LOGSPOOL_LONG_TESTS") != "" {
		rounds = 30
	}
	for round := 0; round < rounds; round++ {
		cmd, out, stdin := startChild(t, "append", dir)
		commits := 5 + rng.IntN(300)
		var reported uint64
		for i := 0; i < commits && out.Scan(); i++ {
			line := out.Text()
			n, err := strconv.ParseUint(line, 10, 64)
			if err != nil {
				t.Fatalf("child said %q", line)
			}
			reported = n
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		_ = stdin.Close()

		// Inspecting a crashed agent's spool read-only either works or says
		// why not; it never changes what the next read-write open sees.
		var oe *OpenError
		switch ro, err := Open(Config{Dir: dir, ReadOnly: true, Logger: quietLogger()}); {
		case err == nil:
			if round == 0 {
				t.Logf("read-only open after kill -9: %+v", ro.Stats())
			}
			mustClose(t, ro)
		case !errors.As(err, &oe) || !errors.Is(err, ErrUnclean) || !strings.Contains(err.Error(), "not closed cleanly"):
			t.Fatalf("round %d: read-only Open after kill -9 = %v, want success or a not-closed-cleanly *OpenError", round, err)
		case round == 0:
			t.Logf("read-only open after kill -9: %v", err)
		}

		s := openSpool(t, Config{Dir: dir})
		cp, err := s.Checkpoint(killCheckpointKey)
		if err != nil || len(cp) != 8 {
			t.Fatalf("round %d: checkpoint = %x, %v", round, cp, err)
		}
		stored := binary.BigEndian.Uint64(cp)
		if stored < reported {
			t.Fatalf("round %d: checkpoint %d is behind the committed %d: a commit was lost", round, stored, reported)
		}
		got := dumpNums(t, s)
		if want := seqNums(acked, int(stored-acked)); !equalNums(got, want) {
			t.Fatalf("round %d: queue holds %d records (first %v), want exactly %d..%d", round, len(got), got[:min(len(got), 5)], acked, stored-1)
		}
		// Ack some of it, like a shipper would, before the next kill.
		for i := rng.IntN(4); i > 0; i-- {
			l, err := s.TryLease(1 + rng.IntN(200<<10))
			if err != nil {
				t.Fatal(err)
			}
			if l == nil {
				break
			}
			if nums := leaseNums(l); nums[0] != acked {
				t.Fatalf("round %d: lease starts at %d, want %d", round, nums[0], acked)
			}
			acked += uint64(len(l.Records))
			mustDone(t, l)
		}
		mustClose(t, s)
	}
}

// TestKill9KeepsAcksAndDeadLettersAtomic kills a process that appends,
// leases and acks with dead letters: after every restart the queue is one
// contiguous run [x, checkpoint) and the dead letters are exactly the
// multiples of 7 below x, each once. A Done that stored its dead letters but
// not its deletions (or the reverse) would break that.
func TestKill9KeepsAcksAndDeadLettersAtomic(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	rounds := 8
	if os.Getenv("LOGSPOOL_LONG_TESTS") != "" {
		rounds = 30
	}
	for round := 0; round < rounds; round++ {
		cmd, out, stdin := startChild(t, "appendack", dir)
		commits := 5 + rng.IntN(300)
		var reported uint64
		for i := 0; i < commits && out.Scan(); i++ {
			n, err := strconv.ParseUint(out.Text(), 10, 64)
			if err != nil {
				t.Fatalf("child said %q", out.Text())
			}
			reported = n
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		_ = stdin.Close()

		s := openSpool(t, Config{Dir: dir})
		cp, err := s.Checkpoint(killCheckpointKey)
		if err != nil || len(cp) != 8 {
			t.Fatalf("round %d: checkpoint = %x, %v", round, cp, err)
		}
		stored := binary.BigEndian.Uint64(cp)
		if stored < reported {
			t.Fatalf("round %d: checkpoint %d is behind the committed %d", round, stored, reported)
		}
		queued := dumpNums(t, s)
		x := stored
		if len(queued) > 0 {
			x = queued[0]
		}
		if want := seqNums(x, int(stored-x)); !equalNums(queued, want) {
			t.Fatalf("round %d: queue is not the contiguous run %d..%d: %d records", round, x, stored-1, len(queued))
		}
		var dead []uint64
		if err := s.DeadLetters(func(_ uint64, dl DeadLetter) error {
			dead = append(dead, numOf(dl.Record.ID))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var want []uint64
		for n := uint64(0); n < x; n += 7 {
			want = append(want, n)
		}
		if !equalNums(dead, want) {
			t.Fatalf("round %d: %d dead letters, want the %d multiples of 7 below %d", round, len(dead), len(want), x)
		}
		if st := s.Stats(); st.DeadLetters != int64(len(want)) || st.QueuedRecords != int64(len(queued)) {
			t.Fatalf("round %d: stats %+v disagree with the contents", round, st)
		}
		if round == rounds-1 {
			t.Logf("after %d kills: %d records appended, %d acked, %d dead letters", rounds, stored, x, len(dead))
		}
		mustClose(t, s)
	}
}
