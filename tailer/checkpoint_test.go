package tailer

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/logspool/logspool/internal/testenv"
)

func TestPositionV2RoundTrip(t *testing.T) {
	p := position{Resume: 10, Consumed: 20, Size: 30, ID: fileID{Dev: 1, Ino: 2}, Gen: 3, FP: []byte("x\n"), Path: "/a", Resolved: "/b",
		Ident: fsIdentity{Gen: 77, HasGen: true, Birth: 1_700_000_000_123456789, HasBirth: true},
		Nonce: []byte("12345678"), Tail: tailSum{N: 9, Sum: 42}}
	got, err := decodePosition(encodePosition(p))
	if err != nil {
		t.Fatal(err)
	}
	if got.Ident != p.Ident || !bytes.Equal(got.Nonce, p.Nonce) || got.Tail != p.Tail || got.fromV1 {
		t.Fatalf("round trip = %+v, want %+v", got, p)
	}
}

func TestVersion1CheckpointsAreStillRead(t *testing.T) {
	p := position{Resume: 5, Consumed: 9, Size: 12, ID: fileID{Dev: 1, Ino: 2}, Gen: 1, FP: []byte("ab\n"), Path: "/p"}
	b := encodePositionV1(p)
	if b[0] != 1 {
		t.Fatalf("version byte %d", b[0])
	}
	got, err := decodePosition(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.fromV1 || got.Resume != 5 || got.Consumed != 9 || got.Nonce != nil || got.Tail.N != 0 {
		t.Fatalf("decoded %+v", got)
	}
}

// TestUpgradeFromAVersion1CheckpointNeitherLosesNorRepeats resumes a file
// from a checkpoint written by the previous version: the lines after it are
// read once, under the file key the previous version used.
func TestUpgradeFromAVersion1CheckpointNeitherLosesNorRepeats(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.containers, "app.log")
	lines := seqLines("u", 0, 20)
	mustWriteLines(t, path, lines...)
	id := inodeOf(t, path)
	off := int64(10 * (len(lines[0]) + 1))
	fp := []byte(lines[0] + "\n")
	e.sink.cps[id.checkpointKey()] = encodePositionV1(position{Resume: off, Consumed: off, Size: off, ID: id, FP: fp, Path: path})
	e.start()
	waitUntilCount(t, e.sink, 10)
	mustWriteLines(t, path, seqLines("u", 20, 25)...)
	waitUntilCount(t, e.sink, 15)
	// Lines 0-9 were appended by the old version: only 10-24 are read.
	if got, want := sorted(e.sink.messages()), sorted(seqLines("u", 10, 25)); !slices.Equal(got, want) {
		t.Fatalf("records %q, want %q", got, want)
	}
	want := fileKey(id, 0, fp, nil)
	var keys []string
	e.sources.Range(func(k, _ any) bool { keys = append(keys, k.(string)); return true })
	if len(keys) != 1 || keys[0] != want {
		t.Errorf("file keys %v, want the version 1 key %s", keys, want)
	}
	// The checkpoint is rewritten as version 2 and keeps the version 1 key.
	waitFor(t, 5*time.Second, "a version 2 checkpoint", func() bool {
		b, _ := e.sink.Checkpoint(id.checkpointKey())
		return len(b) > 0 && b[0] == checkpointVersion
	})
	b, _ := e.sink.Checkpoint(id.checkpointKey())
	if p, err := decodePosition(b); err != nil || p.Nonce != nil {
		t.Errorf("rewritten checkpoint %+v %v: want no nonce (the version 1 key)", p, err)
	}
}

// TestIdentityOnTmpfs runs restart and copytruncate-while-stopped on tmpfs,
// where FS_IOC_GETVERSION fails: identity falls back to the fingerprint and
// the hash of the bytes before the resume offset.
func TestIdentityOnTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "needs root to mount a tmpfs")
	}
	e := newEnv(t)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", e.containers).CombinedOutput(); err != nil {
		testenv.Missing(t, "cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", e.containers).Run() })
	path := filepath.Join(e.containers, "app.log")
	mustWriteLines(t, path, append([]string{banner(1)}, seqLines("old", 0, 20)...)...)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tmpfs identity: %+v", fsIdentityOf(f))
	f.Close()
	tl := e.start()
	waitUntilCount(t, e.sink, 21)
	tl.stop(t)
	mustWriteLines(t, path, seqLines("old", 20, 30)...)
	tl = e.start()
	waitUntilCount(t, e.sink, 31)
	tl.stop(t)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	mustWriteLines(t, path, append([]string{banner(1)}, seqLines("new", 0, 40)...)...)
	e.start()
	waitUntilCount(t, e.sink, 31+41)
	checkExactlyOnce(t, e.sink.messages(), "old", 30)
	checkExactlyOnce(t, e.sink.messages(), "new", 40)
}
