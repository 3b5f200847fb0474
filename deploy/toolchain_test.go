package deploy_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestToolchainIsPinnedEverywhere: go.mod's toolchain line, the Makefile,
// .ci/run and the README's set-up section name the same patched toolchain
// (the Dockerfile is checked by TestDockerfileBuildsAStaticBinaryOnAMinimalBase),
// and the set-up section still has exactly two commands.
func TestToolchainIsPinnedEverywhere(t *testing.T) {
	want := goModToolchain(t)
	read := func(path string) string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, tc := range []struct{ file, want string }{
		{"../Makefile", "export GOTOOLCHAIN := " + want + "\n"},
		{"../.ci/run", "export GOTOOLCHAIN=" + want + "\n"},
	} {
		if !strings.Contains(read(tc.file), tc.want) {
			t.Errorf("%s lacks %q (go.mod pins %s)", tc.file, strings.TrimSpace(tc.want), want)
		}
	}

	readme := read("../README.md")
	_, setup, ok := strings.Cut(readme, "\n## Set-up\n")
	if !ok {
		t.Fatal("README.md has no ## Set-up section")
	}
	setup, _, _ = strings.Cut(setup, "\n## ")
	if !strings.Contains(setup, want) || !strings.Contains(setup, "GOTOOLCHAIN="+want) {
		t.Errorf("README's set-up section does not state the toolchain %s and GOTOOLCHAIN=%s", want, want)
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(setup, -1)
	if len(blocks) == 0 {
		t.Fatal("README's set-up section has no sh block")
	}
	var cmds []string
	for _, line := range strings.Split(strings.TrimSpace(blocks[0][1]), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			cmds = append(cmds, line)
		}
	}
	if len(cmds) != 2 {
		t.Errorf("README's set-up block has %d commands, want exactly two:\n%s", len(cmds), strings.Join(cmds, "\n"))
	}
}
