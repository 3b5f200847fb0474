package systemd

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReaderSingleFilesMatchJournalctl(t *testing.T) {
	for _, name := range []string{
		"basic-compact.journal", "basic-regular-jenkins.journal", "basic-regular-keyed.journal",
		"basic-v247.journal", "basic-v254.journal", "binary.journal", "large-lz4.journal",
		"large-xz.journal", "large-zstd.journal", "many.journal", "multiboot.journal", "sealed.journal",
	} {
		t.Run(name, func(t *testing.T) {
			got, problems := readAllCursors(t, ReaderConfig{Files: []string{files(name)}})
			if len(problems) > 0 {
				t.Errorf("problems: %v", problems)
			}
			assertSameList(t, got, oracleCursors(t, name+".cursors"))
		})
	}
}

func TestReaderMergesLikeJournalctl(t *testing.T) {
	il := func(n string) string { return files("interleave/" + n + ".journal") }
	tests := []struct {
		name   string
		cfg    ReaderConfig
		oracle string
	}{
		{"the rotated machine directory merges in journalctl's order", ReaderConfig{Dirs: []string{rotatedDir}}, "rotated.dir.cursors"},
		{"the parent of the machine directory is descended into", ReaderConfig{Dirs: []string{files("rotated")}}, "rotated.root.cursors"},
		{"the interleave directory with a byte copy shows each entry once", ReaderConfig{Dirs: []string{files("interleave")}}, "interleave.dir.cursors"},
		{"files a b u merge like journalctl", ReaderConfig{Files: []string{il("node-a"), il("node-b"), il("node-a-user")}}, "interleave.files-a-b-u.cursors"},
		{"files u b a merge like journalctl", ReaderConfig{Files: []string{il("node-a-user"), il("node-b"), il("node-a")}}, "interleave.files-u-b-a.cursors"},
		{"files a b merge like journalctl", ReaderConfig{Files: []string{il("node-a"), il("node-b")}}, "interleave.files-a-b.cursors"},
		{"files a u merge like journalctl", ReaderConfig{Files: []string{il("node-a"), il("node-a-user")}}, "interleave.files-a-u.cursors"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problems := readAllCursors(t, tt.cfg)
			if len(problems) > 0 {
				t.Errorf("problems: %v", problems)
			}
			assertSameList(t, got, oracleCursors(t, tt.oracle))
		})
	}
}

func TestReaderKeepsEveryEntryWhenClocksDisagree(t *testing.T) {
	a := files("interleave/node-a.journal")
	b := files("interleave/node-b.journal")
	s := files("interleave-skew/node-a-user-skew.journal")
	for _, order := range [][]string{{a, b, s}, {s, b, a}, {b, s, a}} {
		t.Run(strings.Join(baseNames(order), " "), func(t *testing.T) {
			got, _ := readAllCursors(t, ReaderConfig{Files: order})
			want := map[string]bool{}
			for _, f := range []string{"interleave/node-a.journal", "interleave/node-b.journal", "interleave-skew/node-a-user-skew.journal"} {
				one, _ := readAllCursors(t, ReaderConfig{Files: []string{files(f)}})
				for _, c := range one {
					want[c] = true
				}
			}
			seen := map[string]bool{}
			for _, c := range got {
				if seen[c] {
					t.Fatalf("entry %s read twice", c)
				}
				seen[c] = true
				if !want[c] {
					t.Fatalf("entry %s is in no file", c)
				}
			}
			if len(got) != 135 || len(want) != 135 {
				t.Fatalf("got %d entries of %d, want 135", len(got), len(want))
			}
		})
	}
}

func baseNames(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = filepath.Base(p)
	}
	return out
}

func TestReaderResumesAfterCursorLikeJournalctl(t *testing.T) {
	f, err := os.Open(filepath.Join(corpus, "oracle/resume/cases.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) != 3 {
			continue
		}
		name, cursor, args := cols[0], cols[1], cols[2]
		n++
		t.Run(name, func(t *testing.T) {
			cfg := ReaderConfig{After: cursor}
			for _, a := range strings.Fields(args) {
				switch {
				case strings.HasPrefix(a, "--file="):
					cfg.Files = append(cfg.Files, filepath.Join(corpus, strings.TrimPrefix(a, "--file=")))
				case strings.HasPrefix(a, "--directory="):
					cfg.Dirs = append(cfg.Dirs, filepath.Join(corpus, strings.TrimPrefix(a, "--directory=")))
				default:
					t.Fatalf("unknown journalctl argument %q", a)
				}
			}
			got, _ := readAllCursors(t, cfg)
			assertSameList(t, got, oracleCursors(t, "resume/"+name+".after.cursors"))
		})
	}
	if n != 7 {
		t.Fatalf("ran %d resume cases, want 7", n)
	}
}

func TestReaderFiltersUnitsLikeJournalctl(t *testing.T) {
	for _, unit := range []string{"kubelet", "docker", "containerd"} {
		for _, spelled := range []string{unit, unit + ".service"} {
			t.Run("journalctl -u "+spelled, func(t *testing.T) {
				got, _ := readAllCursors(t, ReaderConfig{Files: []string{files("multiboot.journal")}, Units: []string{spelled}})
				want := exportCursors(t, "multiboot.journal.u-"+unit+".export")
				if len(want) == 0 {
					t.Fatal("empty oracle")
				}
				assertSameList(t, got, want)
			})
		}
	}
}
