package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// configReference renders the flags of run and replay as the README's
// configuration reference, from the same definitions the CLI parses.
func configReference() string {
	var b strings.Builder
	section := func(title string, flags []cli.Flag, skip map[string]bool) {
		fmt.Fprintf(&b, "### `logspool %s`\n\n", title)
		b.WriteString("| flag | environment | default | meaning |\n|---|---|---|---|\n")
		for _, f := range flags {
			name := f.Names()[0]
			if skip[name] {
				continue
			}
			df, ok := f.(cli.DocGenerationFlag)
			if !ok {
				continue
			}
			def := df.GetDefaultText()
			if def == "" {
				def = df.GetValue()
			}
			def = strings.ReplaceAll(def, "|", "\\|")
			if def == "" {
				def = " "
			} else {
				def = "`" + def + "`"
			}
			usage := strings.ReplaceAll(df.GetUsage(), "|", "\\|")
			if sf, ok := f.(interface{ IsSliceFlag() bool }); ok && sf.IsSliceFlag() {
				usage += " (list in the config file)"
			}
			fmt.Fprintf(&b, "| `--%s` | `%s` | %s | %s |\n", name, strings.Join(df.GetEnvVars(), ", "), def, usage)
		}
		b.WriteString("\n")
	}
	section("run", runFlags(), nil)
	shared := map[string]bool{}
	for _, f := range runFlags() {
		shared[f.Names()[0]] = true
	}
	b.WriteString("`logspool replay` takes `--config`, `--spool-dir`, `--node-name`, the `--es-*` flags and the `--log-*` flags, with the same meanings.\n\n")
	b.WriteString("Secrets: `LOGSPOOL_ES_PASSWORD` and `LOGSPOOL_ES_API_KEY` (environment) or `--es-password-file` and `--es-api-key-file`; never a plain flag.\n")
	return b.String()
}
