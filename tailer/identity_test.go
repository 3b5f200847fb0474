package tailer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logspool/logspool/spool/record"
)

// inodeOf returns the inode of path.
func inodeOf(t *testing.T, path string) fileID {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := statOf(fi)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// createAtInode creates path with content on the inode want (freed before):
// it creates files next to it until the file system hands out that inode
// again (ext4 and xfs reuse a freed inode at once in the same directory), or
// skips the test.
func createAtInode(t *testing.T, path string, want fileID, content string) {
	t.Helper()
	dir := filepath.Dir(path)
	var junk []string
	defer func() {
		for _, j := range junk {
			os.Remove(j)
		}
	}()
	for i := 0; i < 200; i++ {
		tmp := filepath.Join(dir, fmt.Sprintf(".try-%d", i))
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if inodeOf(t, tmp) == want {
			mustRename(t, tmp, path)
			return
		}
		junk = append(junk, tmp)
	}
	t.Skip("the file system did not reuse the inode")
}

// banner is a first line longer than the old 256-byte fingerprint whose
// first 256 bytes are the same in every file (a docker line with a long
// message has its time field at the end).
func banner(n int) string {
	return `{"log":"` + strings.Repeat("B", 260) + `\n","stream":"stdout","time":"2024-05-01T10:00:0` + fmt.Sprint(n) + `Z"}`
}

func fileText(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

func TestARecreatedFileAtAReusedInodeNeverSharesAnID(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.containers, "app.log")
	mustWriteLines(t, path, append([]string{banner(1)}, seqLines("old", 0, 50)...)...)
	id := inodeOf(t, path)
	e.start()
	waitUntilCount(t, e.sink, 51)
	mustRemove(t, path)
	waitFor(t, 10*time.Second, "the deleted file to be released", func() bool { return e.sink.checkpointCount() == 0 })
	createAtInode(t, path, id, fileText(append([]string{banner(2)}, seqLines("new", 0, 50)...)...))
	waitUntilCount(t, e.sink, 102)
	ids := map[record.ID]string{}
	for _, r := range e.sink.records() {
		if prev, dup := ids[r.ID]; dup {
			t.Fatalf("records %q and %q share the _id %s", prev, r.Doc, r.ID)
		}
		ids[r.ID] = string(r.Doc)
	}
	checkExactlyOnce(t, e.sink.messages(), "new", 50)
}

func TestCopytruncateWhileStoppedWithTheSameFirstLineReadsTheNewContentFromZero(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.containers, "app.log")
	mustWriteLines(t, path, append([]string{banner(1)}, seqLines("old", 0, 100)...)...)
	tl := e.start()
	waitUntilCount(t, e.sink, 101)
	tl.stop(t)
	// copytruncate while stopped; the program writes the same banner again
	// and more lines than the file had.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	mustWriteLines(t, path, append([]string{banner(1)}, seqLines("new", 0, 150)...)...)
	e.start()
	waitUntilCount(t, e.sink, 101+151)
	checkExactlyOnce(t, e.sink.messages(), "new", 150)
	checkExactlyOnce(t, e.sink.messages(), "old", 100)
}

func TestDeleteAndRecreateAtAReusedInodeWhileStoppedReadsTheNewFileFromZero(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.containers, "app.log")
	mustWriteLines(t, path, append([]string{banner(1)}, seqLines("old", 0, 50)...)...)
	id := inodeOf(t, path)
	tl := e.start()
	waitUntilCount(t, e.sink, 51)
	tl.stop(t)
	mustRemove(t, path)
	createAtInode(t, path, id, fileText(append([]string{banner(1)}, seqLines("new", 0, 100)...)...))
	e.start()
	waitUntilCount(t, e.sink, 51+101)
	checkExactlyOnce(t, e.sink.messages(), "new", 100)
	ids := map[record.ID]bool{}
	for _, r := range e.sink.records() {
		if ids[r.ID] {
			t.Fatalf("two records share the _id %s", r.ID)
		}
		ids[r.ID] = true
	}
}

func TestCopytruncateWhileTheSpoolIsFullNeitherDuplicatesNorHidesLoss(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.containers, "app.log")
	const oldN, newN = 2000, 3000
	mustWriteLines(t, path, seqLines("old", 0, oldN)...)
	lineLen := len(seqLine("old", 0)) + 1
	e.sink.gate = make(chan struct{}, 1)
	e.sink.gate <- struct{}{} // one append passes, the next blocks
	tl := e.start(func(c *Config) { c.BatchBytes = 100 * lineLen })
	waitUntilCount(t, e.sink, 100)
	waitFor(t, 5*time.Second, "the next batch to be decoded", func() bool { return e.decoded.Load() >= 200 })
	// copytruncate: the copy is not matched by the glob; the file starts over
	// and grows past where the reader was.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".1", b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	mustWriteLines(t, path, seqLines("new", 0, newN)...)
	close(e.sink.gate) // room again: every append passes
	waitUntilCount(t, e.sink, 200+newN)
	tl.settle(t, e.clock) // let a wrong duplicate show up (no sleep: see settle)
	msgs := e.sink.messages()
	checkExactlyOnce(t, msgs, "new", newN)
	oldSeen := 0
	for _, m := range msgs {
		if strings.HasPrefix(m, "old-") {
			oldSeen++
		}
	}
	if want := float64((oldN - oldSeen) * lineLen); e.lost(LostTruncated) != want {
		t.Errorf("truncated = %v bytes, want %v: the %d old lines not shipped", e.lost(LostTruncated), want, oldN-oldSeen)
	}
	if e.sink.count() != oldSeen+newN {
		t.Errorf("%d records, want %d", e.sink.count(), oldSeen+newN)
	}
}

// TestALostSpoolReadsTheFileAgainUnderTheSameIDs: record IDs depend on the
// file, not on the spool. When the spool (and every checkpoint in it) is
// lost and a file is read again from its start, its lines get the IDs they
// had, so Elasticsearch answers the second copies with 409 instead of
// indexing duplicates. (Only where the file system gives an identity: the
// inode generation or the birth time.)
func TestALostSpoolReadsTheFileAgainUnderTheSameIDs(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.containers, "app.log")
	mustWriteLines(t, path, seqLines("line", 0, 100)...)
	if f, err := os.Open(path); err != nil {
		t.Fatal(err)
	} else {
		id := fsIdentityOf(f)
		f.Close()
		if !id.HasGen && !id.HasBirth {
			t.Skipf("the file system of %s gives neither an inode generation nor a birth time", path)
		}
	}
	ids := func() map[record.ID]string {
		m := map[record.ID]string{}
		for _, r := range e.sink.records() {
			m[r.ID] = string(r.Doc)
		}
		return m
	}
	tl := e.start()
	waitUntilCount(t, e.sink, 100)
	tl.stop(t)
	first := ids()

	e.sink = newMemSink() // the spool is lost
	e.start()
	waitUntilCount(t, e.sink, 100)
	second := ids()
	for id, doc := range first {
		if second[id] != doc {
			t.Fatalf("%q was read again under another _id (first %s)", doc, id)
		}
	}
}
