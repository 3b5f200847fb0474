package deploy_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction with continuations joined.
type instruction struct {
	Line int
	Cmd  string // upper case: FROM, RUN, ...
	Args string
}

// stage is one FROM and the instructions under it.
type stage struct {
	Base, Name string
	Insts      []instruction
}

// parseDockerfile parses the subset of Dockerfile syntax this repository
// uses: comments, parser directives, backslash continuations, and
// instructions. No docker engine is needed (or present).
func parseDockerfile(data string) ([]stage, error) {
	var (
		stages []stage
		cur    strings.Builder
		start  int
	)
	emit := func() error {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		if s == "" {
			return nil
		}
		cmd, args, _ := strings.Cut(s, " ")
		in := instruction{Line: start, Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)}
		if in.Cmd == "FROM" {
			f := strings.Fields(in.Args)
			f = slices.DeleteFunc(f, func(w string) bool { return strings.HasPrefix(w, "--") })
			st := stage{}
			switch {
			case len(f) == 1:
				st.Base = f[0]
			case len(f) == 3 && strings.EqualFold(f[1], "AS"):
				st.Base, st.Name = f[0], f[2]
			default:
				return fmt.Errorf("line %d: malformed FROM %q", start, in.Args)
			}
			stages = append(stages, st)
			return nil
		}
		if len(stages) == 0 {
			if in.Cmd == "ARG" {
				return nil // global ARG before the first FROM
			}
			return fmt.Errorf("line %d: %s before the first FROM", start, in.Cmd)
		}
		stages[len(stages)-1].Insts = append(stages[len(stages)-1].Insts, in)
		return nil
	}
	sc := bufio.NewScanner(strings.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "#") {
			continue // comments and parser directives; allowed inside continuations too
		}
		if cur.Len() == 0 {
			if t == "" {
				continue
			}
			start = n
		}
		if strings.HasSuffix(t, `\`) {
			cur.WriteString(strings.TrimSuffix(t, `\`) + " ")
			continue
		}
		cur.WriteString(t)
		if err := emit(); err != nil {
			return nil, err
		}
	}
	if cur.Len() > 0 {
		return nil, fmt.Errorf("line %d: continuation runs past the end of the file", start)
	}
	return stages, sc.Err()
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.Insts {
		if in.Cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// execForm decodes a JSON-array (exec form) instruction argument.
func execForm(args string) ([]string, error) {
	var v []string
	if err := json.Unmarshal([]byte(args), &v); err != nil {
		return nil, fmt.Errorf("not exec form (a JSON array): %q: %w", args, err)
	}
	return v, nil
}

func mustParseDockerfile(t *testing.T) []stage {
	t.Helper()
	data, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	stages, err := parseDockerfile(string(data))
	if err != nil {
		t.Fatalf("parsing Dockerfile: %v", err)
	}
	return stages
}

func TestParseDockerfile(t *testing.T) {
	cases := []struct {
		name       string
		in         string
		wantStages int
		wantErr    string
	}{
		{name: "continuations join into one instruction", in: "FROM a AS b\nRUN x \\\n  y\n", wantStages: 1},
		{name: "comments inside a continuation are skipped", in: "FROM a\nRUN x \\\n# note\n  y\n", wantStages: 1},
		{name: "a platform flag on FROM is accepted", in: "FROM --platform=$BUILDPLATFORM a AS b\nFROM c\n", wantStages: 2},
		{name: "an instruction before FROM is an error", in: "RUN x\nFROM a\n", wantErr: "before the first FROM"},
		{name: "a dangling continuation is an error", in: "FROM a\nRUN x \\\n", wantErr: "past the end"},
		{name: "a malformed FROM is an error", in: "FROM a b\n", wantErr: "malformed FROM"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, err := parseDockerfile(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(st) != tc.wantStages {
				t.Fatalf("%d stages, want %d", len(st), tc.wantStages)
			}
		})
	}
}

func TestDockerfileBuildsAStaticBinaryOnAMinimalBase(t *testing.T) {
	stages := mustParseDockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a multi-stage build", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]

	t.Run("the build stage is golang 1.26", func(t *testing.T) {
		if !regexp.MustCompile(`^golang:1\.26(\.\d+)?(-[a-z0-9]+)?$`).MatchString(build.Base) || build.Name == "" {
			t.Fatalf("FROM %s AS %q", build.Base, build.Name)
		}
	})
	var goBuild instruction
	for _, in := range build.all("RUN") {
		if strings.Contains(in.Args, "go build") {
			goBuild = in
		}
	}
	var outPath string
	t.Run("go build is static, trimmed and stripped", func(t *testing.T) {
		a := goBuild.Args
		if a == "" {
			t.Fatal("no RUN with go build in the build stage")
		}
		for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "./cmd/logspool"} {
			if !strings.Contains(a, want) {
				t.Errorf("go build line %d lacks %s: %s", goBuild.Line, want, a)
			}
		}
		if m := regexp.MustCompile(`-ldflags[= ]"([^"]*)"`).FindStringSubmatch(a); m == nil || !strings.Contains(m[1], "-s") || !strings.Contains(m[1], "-w") {
			t.Errorf("go build line %d: -ldflags must hold -s -w: %s", goBuild.Line, a)
		}
		if m := regexp.MustCompile(`-o\s+(\S+)`).FindStringSubmatch(a); m != nil {
			outPath = m[1]
		} else {
			t.Errorf("go build line %d has no -o", goBuild.Line)
		}
	})
	t.Run("the final stage is distroless static or scratch", func(t *testing.T) {
		if final.Base != "scratch" && !strings.HasPrefix(final.Base, "gcr.io/distroless/static") {
			t.Fatalf("final FROM %s", final.Base)
		}
		if len(final.all("RUN")) > 0 {
			t.Errorf("the final stage RUNs commands; its base has no shell")
		}
	})
	var binPath string
	t.Run("the binary and an empty spool dir are all the final stage copies", func(t *testing.T) {
		copies := final.all("COPY")
		if len(copies) == 0 || len(copies) > 2 {
			t.Fatalf("%d COPY in the final stage, want the binary and at most the spool dir", len(copies))
		}
		for _, c := range copies {
			f := strings.Fields(c.Args)
			from := slices.IndexFunc(f, func(w string) bool { return w == "--from="+build.Name })
			if from < 0 {
				t.Errorf("line %d: COPY %s does not come from the %s stage", c.Line, c.Args, build.Name)
				continue
			}
			var chown string
			var paths []string
			for _, w := range f {
				switch {
				case strings.HasPrefix(w, "--chown="):
					chown = strings.TrimPrefix(w, "--chown=")
				case strings.HasPrefix(w, "--"):
				default:
					paths = append(paths, w)
				}
			}
			if len(paths) != 2 {
				t.Errorf("line %d: COPY %s: want one source and one destination", c.Line, c.Args)
				continue
			}
			switch {
			case outPath != "" && path.Clean(paths[0]) == path.Clean(outPath):
				binPath = paths[1]
			case path.Clean(paths[1]) == defaultSpoolDir:
				users := final.all("USER")
				if len(users) == 0 || chown != users[len(users)-1].Args {
					t.Errorf("line %d: the spool dir is owned by %q, not by the image USER", c.Line, chown)
				}
			default:
				t.Errorf("line %d: COPY %s is neither the binary (%s) nor the spool dir", c.Line, c.Args, outPath)
			}
		}
		if binPath == "" {
			t.Fatalf("no COPY of the built binary %s", outPath)
		}
	})
	t.Run("ENTRYPOINT is /logspool and CMD is run, both exec form", func(t *testing.T) {
		eps, cmds := final.all("ENTRYPOINT"), final.all("CMD")
		if len(eps) != 1 || len(cmds) != 1 {
			t.Fatalf("%d ENTRYPOINT and %d CMD, want one each", len(eps), len(cmds))
		}
		ep, err := execForm(eps[0].Args)
		if err != nil {
			t.Fatal(err)
		}
		cmd, err := execForm(cmds[0].Args)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ep, []string{"/logspool"}) || !slices.Equal(cmd, []string{"run"}) {
			t.Fatalf("ENTRYPOINT %q CMD %q, want [/logspool] [run]", ep, cmd)
		}
		if binPath != "" && path.Clean(binPath) != ep[0] {
			t.Errorf("ENTRYPOINT runs %s, the binary is copied to %s", ep[0], binPath)
		}
	})
	t.Run("a numeric non-root USER is the image default", func(t *testing.T) {
		users := final.all("USER")
		if len(users) == 0 {
			t.Fatal("no USER: the image would run as root by default")
		}
		u := users[len(users)-1].Args
		if !regexp.MustCompile(`^[1-9][0-9]*(:[0-9]+)?$`).MatchString(u) {
			t.Fatalf("USER %q, want a numeric non-root uid (runAsNonRoot can only check numbers)", u)
		}
	})
}

func TestDockerignoreKeepsTheSources(t *testing.T) {
	data, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		p := strings.TrimSpace(line)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		for _, needed := range []string{"go.mod", "go.sum", "cmd/logspool/main.go", "spool/spool.go", "parser/parser.go"} {
			if ok, _ := path.Match(p, needed); ok || p == "*" || strings.HasPrefix(needed, strings.TrimSuffix(p, "/")+"/") {
				t.Errorf(".dockerignore pattern %q excludes %s, which the build needs", p, needed)
			}
		}
	}
}
