package tailer

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAFileWithoutANewlineIsReadAfterAnIdlePeriod(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.containers, "app.log")
	mustAppend(t, path, "no newline here")
	tl := e.start(func(c *Config) { c.PartialIdle = 200 * time.Millisecond })
	waitUntilCount(t, e.sink, 1)
	// The writer completes the line later, then writes more: the rest is a
	// record of its own, flagged too; nothing twice, nothing lost.
	mustAppend(t, path, " after all\nnext\n")
	waitUntilCount(t, e.sink, 3)
	tl.settle(t, e.clock) // let a wrong repeat show up (no sleep: see settle)
	want := "PARTIAL-LINE:no newline here|PARTIAL-LINE: after all|next"
	if got := strings.Join(e.sink.messages(), "|"); got != want {
		t.Fatalf("records %q, want %q", got, want)
	}
	// A restart resumes after what was flushed.
	tl.stop(t)
	mustAppend(t, path, "last\n")
	tl2 := e.start(func(c *Config) { c.PartialIdle = 200 * time.Millisecond })
	waitUntilCount(t, e.sink, 4)
	tl2.settle(t, e.clock) // let a wrong repeat show up (no sleep: see settle)
	if got := strings.Join(e.sink.messages(), "|"); got != want+"|last" {
		t.Fatalf("records %q, want %q", got, want+"|last")
	}
}

func TestAnUnterminatedLineIsHeldWhileTheFileIsActive(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.containers, "app.log")
	mustAppend(t, path, "first\nhel")
	tl := e.start(func(c *Config) { c.PartialIdle = time.Hour })
	waitUntilCount(t, e.sink, 1)
	waitFor(t, 5*time.Second, "the first line committed", func() bool {
		f := tl.Files()
		return len(f) == 1 && f[0].Offset == 6
	})
	mustAppend(t, path, "lo\n")
	waitUntilCount(t, e.sink, 2)
	if got := e.sink.messages()[1]; got != "hello" {
		t.Fatalf("second record %q, want hello", got)
	}
}
