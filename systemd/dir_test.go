package systemd

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logspool/logspool/systemd/journalfile"
)

// TestInputIsolatesABadDirectoryEntry is issue 8, defect 7: one entry of a
// journal directory that cannot be examined (a symlink loop named like a
// journal file, a machine-id sub-directory that cannot be listed) must not
// hide the valid files beside it. Each bad entry is reported and counted on
// its own.
func TestInputIsolatesABadDirectoryEntry(t *testing.T) {
	tests := []struct {
		name   string
		breakf func(t *testing.T, dir string)
		reason string
	}{
		{"a symlink loop named like a journal file", func(t *testing.T, dir string) {
			mustSymlink(t, "loop.journal", filepath.Join(dir, "loop.journal"))
		}, "eloop"},
		{"a machine-id directory that is a symlink loop", func(t *testing.T, dir string) {
			mustSymlink(t, "0123456789abcdef0123456789abcdef", filepath.Join(dir, "0123456789abcdef0123456789abcdef"))
		}, "eloop"},
		{"a journal name whose symlink goes through a file", func(t *testing.T, dir string) {
			mustSymlink(t, "good.journal/x", filepath.Join(dir, "through.journal"))
		}, "enotdir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.breakf(t, dir)
			if err := mustCopyFile(files("basic-compact.journal"), filepath.Join(dir, "good.journal")); err != nil {
				t.Fatal(err)
			}
			sink := newMemSink()
			cfg := testConfig(dir)
			cfg.Metrics = NewMetrics(nil)
			in, _ := NewInput(cfg, sink)
			runInput(t, in, 10*time.Second, func() bool { return sink.count() >= 240 && in.polls.Load() > 3 })
			if n := sink.count(); n != 240 {
				t.Fatalf("shipped %d entries, want the good file's 240", n)
			}
			if got := metricValue(t, cfg.Metrics.inputErrors.WithLabelValues("journal", tt.reason)); got != 1 {
				t.Errorf("logspool_input_errors_total{input=journal,reason=%s} = %v, want 1 (reported once)", tt.reason, got)
			}
		})
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// TestInputKeepsDamagedFieldNamesOutOfTheDocumentKeys is issue 8, defect 9:
// a real journal file whose DATA objects were damaged so that field names
// hold NUL and control bytes. No such name may become a document key; each
// field is kept exactly (base64 in journald.invalid_fields) and counted.
func TestInputKeepsDamagedFieldNamesOutOfTheDocumentKeys(t *testing.T) {
	b, err := os.ReadFile(files("basic-compact.journal"))
	if err != nil {
		t.Fatal(err)
	}
	damaged := bytes.ReplaceAll(b, []byte("SYSLOG_IDENTIFIER="), []byte("SYS\x00\x01\x1b[7mENTIFIER="))
	damaged = bytes.ReplaceAll(damaged, []byte("_COMM="), []byte("_c\xffm\n="))
	if bytes.Equal(damaged, b) {
		t.Fatal("the corpus file changed: nothing to damage")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "damaged.journal"), damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	sink := newMemSink()
	cfg := testConfig(dir)
	cfg.Metrics = NewMetrics(nil)
	in, _ := NewInput(cfg, sink)
	runInput(t, in, 10*time.Second, func() bool { return sink.count() >= 240 })
	bad := 0
	for _, r := range sink.records() {
		var d struct {
			Log struct {
				Flags []string `json:"flags"`
			} `json:"log"`
			Journald struct {
				Custom        map[string]json.RawMessage `json:"custom"`
				InvalidFields []string                   `json:"invalid_fields"`
			} `json:"journald"`
		}
		if err := json.Unmarshal(r.Doc, &d); err != nil {
			t.Fatalf("invalid document: %v\n%s", err, r.Doc)
		}
		for k := range d.Journald.Custom {
			if !validFieldName(strings.ToUpper(k)) && !validFieldName("_"+strings.ToUpper(k)) {
				t.Fatalf("damaged name became the key %q", k)
			}
		}
		for _, f := range d.Journald.InvalidFields {
			raw, err := base64.StdEncoding.DecodeString(f)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(raw, []byte("SYS\x00\x01\x1b[7mENTIFIER=")) && !bytes.HasPrefix(raw, []byte("_c\xffm\n=")) {
				t.Fatalf("invalid field %q is not one of the damaged ones", raw)
			}
			bad++
		}
		if len(d.Journald.InvalidFields) > 0 && !slices.Contains(d.Log.Flags, "invalid_field_name") {
			t.Fatalf("flags %v lack invalid_field_name", d.Log.Flags)
		}
	}
	if bad == 0 {
		t.Fatal("no damaged field was shipped")
	}
	if got := metricValue(t, cfg.Metrics.badNames); got != float64(bad) {
		t.Errorf("invalid_field_names_total = %v, want %d", got, bad)
	}
}

// TestInputReadsANewFileAtAFinishedFilesInode: an archived file read to its
// end is remembered by inode so that it is not opened again; once it is
// deleted, a new journal file can get the same inode (ext4 reuses freed
// inodes at once). That file must be read, not taken for the old one. Here
// the old placeholder is rewritten in place under a new name: the same
// inode, a new size and mtime.
func TestInputReadsANewFileAtAFinishedFilesInode(t *testing.T) {
	d := newFakeDir(t)
	old := d.create("system@old.journal", 7, journalfile.StateArchived)
	d.append(old, 1, 2)
	sink := newMemSink()
	_, stop := d.runInput(t, testConfig(d.dir), sink)
	waitUntil(t, 5*time.Second, func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return sink.count() == 2 && old.closed
	})
	newPath := filepath.Join(d.dir, "system@new.journal")
	if err := os.Rename(old.path, newPath); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(newPath, []byte("another journal file, longer than the first"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	next := &fakeJournal{path: newPath, hdr: journalfile.Header{State: journalfile.StateArchived}}
	next.hdr.SeqnumID[0] = 8
	d.byFn[newPath] = next
	d.mu.Unlock()
	d.append(next, 1, 2, 3)
	waitUntil(t, 5*time.Second, func() bool { return sink.count() == 5 })
	stop()
}
