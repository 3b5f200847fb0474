package deploy_test

import (
	"bufio"
	"encoding/json"
	"errors"
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

// checkDockerfile returns every way the parsed Dockerfile breaks the image
// contract: a build stage on the golang image of exactly the toolchain go.mod
// pins (its toolchain line; a floating tag such as golang:1.27 is refused)
// that builds ./cmd/logspool static,
// trimmed and stripped; a distroless static (or scratch) final stage that
// copies only the binary (and an empty spool dir owned by its user);
// ENTRYPOINT ["/logspool"], CMD ["run"] in exec form; a numeric non-root USER.
func checkDockerfile(stages []stage, toolchain string) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(stages) < 2 {
		fail("%d stages, want a multi-stage build", len(stages))
		return errs
	}
	build, final := stages[0], stages[len(stages)-1]
	want := "golang:" + strings.TrimPrefix(toolchain, "go")
	if !regexp.MustCompile(`^`+regexp.QuoteMeta(want)+`(-[a-z0-9.]+)?(@sha256:[0-9a-f]{64})?$`).MatchString(build.Base) || build.Name == "" {
		fail("build stage FROM %s AS %q, want %s (go.mod's toolchain) with a name", build.Base, build.Name, want)
	}

	var goBuild *instruction
	for i, in := range build.Insts {
		if in.Cmd == "RUN" && strings.Contains(in.Args, "go build") {
			goBuild = &build.Insts[i]
		}
	}
	var outPath string
	if goBuild == nil {
		fail("no RUN with go build in the build stage")
	} else {
		a := goBuild.Args
		for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "./cmd/logspool"} {
			if !strings.Contains(a, want) {
				fail("go build (line %d) lacks %s", goBuild.Line, want)
			}
		}
		if strings.Contains(a, "CGO_ENABLED=1") {
			fail("go build (line %d) enables cgo", goBuild.Line)
		}
		if m := regexp.MustCompile(`-ldflags[= ]"([^"]*)"`).FindStringSubmatch(a); m == nil ||
			!slices.Contains(strings.Fields(m[1]), "-s") || !slices.Contains(strings.Fields(m[1]), "-w") {
			fail("go build (line %d): -ldflags must hold -s -w", goBuild.Line)
		}
		if m := regexp.MustCompile(`-o\s+(\S+)`).FindStringSubmatch(a); m != nil {
			outPath = m[1]
		} else {
			fail("go build (line %d) has no -o", goBuild.Line)
		}
	}

	if final.Base != "scratch" && !strings.HasPrefix(final.Base, "gcr.io/distroless/static") {
		fail("final FROM %s, want gcr.io/distroless/static* or scratch", final.Base)
	}
	if len(final.all("RUN")) > 0 {
		fail("the final stage RUNs commands; its base has no shell")
	}
	users := final.all("USER")
	user := ""
	if len(users) == 0 {
		fail("no USER in the final stage: the image would run as root by default")
	} else {
		user = users[len(users)-1].Args
		if !regexp.MustCompile(`^[1-9][0-9]*(:[0-9]+)?$`).MatchString(user) {
			fail("USER %q, want a numeric non-root uid (runAsNonRoot can only check numbers)", user)
		}
	}

	var binPath string
	copies := final.all("COPY")
	if len(copies) == 0 || len(copies) > 2 {
		fail("%d COPY in the final stage, want the binary and at most the spool dir", len(copies))
	}
	for _, c := range copies {
		f := strings.Fields(c.Args)
		if !slices.Contains(f, "--from="+build.Name) {
			fail("line %d: COPY %s does not come from the %s stage", c.Line, c.Args, build.Name)
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
		switch {
		case len(paths) != 2:
			fail("line %d: COPY %s: want one source and one destination", c.Line, c.Args)
		case outPath != "" && path.Clean(paths[0]) == path.Clean(outPath):
			binPath = paths[1]
		case path.Clean(paths[1]) == defaultSpoolDir:
			if chown != user {
				fail("line %d: the spool dir is owned by %q, not by the image USER %q", c.Line, chown, user)
			}
		default:
			fail("line %d: COPY %s is neither the binary (%s) nor the spool dir", c.Line, c.Args, outPath)
		}
	}
	if binPath == "" {
		fail("no COPY of the built binary %s into the final stage", outPath)
	}

	eps, cmds := final.all("ENTRYPOINT"), final.all("CMD")
	if len(eps) != 1 || len(cmds) != 1 {
		fail("%d ENTRYPOINT and %d CMD, want one each", len(eps), len(cmds))
		return errs
	}
	ep, err := execForm(eps[0].Args)
	if err != nil {
		fail("ENTRYPOINT: %v", err)
		return errs
	}
	cmd, err := execForm(cmds[0].Args)
	if err != nil {
		fail("CMD: %v", err)
		return errs
	}
	if !slices.Equal(ep, []string{"/logspool"}) || !slices.Equal(cmd, []string{"run"}) {
		fail("ENTRYPOINT %q CMD %q, want [/logspool] [run]", ep, cmd)
	}
	if binPath != "" && path.Clean(binPath) != ep[0] {
		fail("ENTRYPOINT runs %s, the binary is copied to %s", ep[0], binPath)
	}
	return errs
}

// goModToolchain returns the toolchain go.mod pins (its toolchain line).
func goModToolchain(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^toolchain (go1\.\d+\.\d+)$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("go.mod has no toolchain line pinning a patch release (toolchain go1.N.P)")
	}
	return string(m[1])
}

func TestDockerfileBuildsAStaticBinaryOnAMinimalBase(t *testing.T) {
	for _, err := range checkDockerfile(mustParseDockerfile(t), goModToolchain(t)) {
		t.Error(err)
	}
}

// TestDockerfileChecksCatchMistakes breaks the real Dockerfile one way at a
// time: each must be reported.
func TestDockerfileChecksCatchMistakes(t *testing.T) {
	data, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	orig := string(data)
	cases := []struct {
		name, old, new, wantErr string
	}{
		{"cgo left on", "CGO_ENABLED=0", "CGO_ENABLED=1", "lacks CGO_ENABLED=0"},
		{"no -trimpath", "-trimpath ", "", "lacks -trimpath"},
		{"symbols kept", `-ldflags "-s -w`, `-ldflags "`, "-s -w"},
		{"another package built", "./cmd/logspool", "./cmd/other", "lacks ./cmd/logspool"},
		{"an older Go", "golang:1.27.3 ", "golang:1.26 ", "want golang:1.27.3"},
		{"a floating Go tag", "golang:1.27.3 ", "golang:1.27 ", "want golang:1.27.3"},
		{"another patch release", "golang:1.27.3 ", "golang:1.27.2 ", "want golang:1.27.3"},
		{"a distro base with a shell", "gcr.io/distroless/static-debian12:nonroot", "debian:12", "want gcr.io/distroless/static"},
		{"the shell form of ENTRYPOINT", `ENTRYPOINT ["/logspool"]`, "ENTRYPOINT /logspool", "not exec form"},
		{"the binary copied elsewhere", "/out/logspool /logspool", "/out/logspool /usr/bin/logspool", "ENTRYPOINT runs /logspool"},
		{"no subcommand", `CMD ["run"]`, `CMD ["version"]`, "want [/logspool] [run]"},
		{"a root user", "USER 65532:65532", "USER root", "numeric non-root"},
		{"a spool dir owned by another user", "--chown=65532:65532", "--chown=0:0", "not by the image USER"},
		{"a single stage", "FROM gcr.io/distroless/static-debian12:nonroot\n", "", "want a multi-stage build"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(orig, tc.old) {
				t.Fatalf("the Dockerfile no longer contains %q: update this case", tc.old)
			}
			stages, err := parseDockerfile(strings.Replace(orig, tc.old, tc.new, 1))
			var errs []error
			if err != nil {
				errs = []error{err}
			} else {
				errs = checkDockerfile(stages, goModToolchain(t))
			}
			joined := errors.Join(errs...)
			if joined == nil {
				t.Fatalf("no complaint, want one containing %q", tc.wantErr)
			}
			if !strings.Contains(joined.Error(), tc.wantErr) {
				t.Fatalf("complaints %q do not contain %q", joined, tc.wantErr)
			}
		})
	}
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
