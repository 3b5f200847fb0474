package main

import (
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/logspool/logspool/parser"
	"github.com/logspool/logspool/spool"
	"github.com/logspool/logspool/systemd"
	"github.com/logspool/logspool/tailer"
)

// TestValidateErrorsNameTheSetting: an error of any package's
// Config.Validate reaches the user in the one configError shape, naming the
// setting as typed (here a config file line, or a flag), never a Go field.
func TestValidateErrorsNameTheSetting(t *testing.T) {
	cfg := writeConfig(t, "containers-glob: [/a/*.log, \"/b/[x\"]\njournal-unit: [ssh, \" \"]\n")
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"a bad glob from the file", (&tailer.Config{Globs: []string{"/a/*.log", "/b/[x"}}).Validate(),
			[]string{"config file " + cfg + ", line 1: containers-glob: ", `"/b/[x"`}},
		{"an empty unit from the file", systemd.Config{Units: []string{"ssh", " "}}.Validate(),
			[]string{"config file " + cfg + ", line 2: journal-unit: is empty"}},
		{"a parser field on the command line", parser.Config{MaxLineBytes: -1}.Validate(),
			[]string{"--max-line-bytes: is -1"}},
		{"the spool directory", spool.Config{}.Validate(), []string{"--spool-dir: is required"}},
	}
	err := parseRun(t, []string{"--config", cfg}, func(c *cli.Context) {
		for _, tc := range tests {
			got := validateError(c, tc.err).Error()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("%s: %q lacks %q", tc.name, got, w)
				}
			}
			for _, leak := range []string{"Globs", "Units", "MaxLineBytes", "Dir:", "invalid config"} {
				if strings.Contains(got, leak) {
					t.Errorf("%s: %q leaks %q", tc.name, got, leak)
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}
