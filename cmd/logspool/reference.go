package main

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"

	"github.com/logspool/logspool/internal/membudget"
	"github.com/logspool/logspool/parser"
	"github.com/logspool/logspool/parser/kubemeta"
	"github.com/logspool/logspool/shipper"
	"github.com/logspool/logspool/spool"
	"github.com/logspool/logspool/systemd"
	"github.com/logspool/logspool/tailer"
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
	section("replay", replayFlags(), shared)
	b.WriteString("`logspool replay` also takes `--config`, `--spool-dir`, `--node-name`, the `--es-*` flags and the `--log-*` flags, with the same meanings. It exits 0 when the spool is drained, 3 when it gave up (records are left; run it again to resume), 2 on a usage error and 1 on any other error, and prints what was and was not delivered.\n\n")
	b.WriteString("Secrets: `LOGSPOOL_ES_PASSWORD` and `LOGSPOOL_ES_API_KEY` (environment) or `--es-password-file` and `--es-api-key-file`; never a plain flag.\n")
	return b.String()
}

// recorder is a prometheus.Registerer that only records what is registered,
// so the metrics reference is generated from the components' own metrics.
type recorder struct{ descs []*prometheus.Desc }

func (r *recorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 256)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		r.descs = append(r.descs, d)
	}
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = r.Register(c)
	}
}

func (r *recorder) Unregister(prometheus.Collector) bool { return true }

var descRE = regexp.MustCompile(`fqName: "([^"]+)", help: "((?:[^"\\]|\\.)*)", unit: "[^"]*", constLabels: \{[^}]*\}, variableLabels: \{([^}]*)\}`)

// metricsReference renders every logspool_* metric the components register.
func metricsReference() string {
	r := &recorder{}
	spool.NewMetrics(r)
	parser.NewMetrics(r)
	kubemeta.NewMetrics(r)
	tailer.NewMetrics(r)
	systemd.NewMetrics(r)
	shipper.NewMetrics(r)
	r.MustRegister(newHealth(0, time.Now, nil))
	newOutputMetrics(r)
	r.MustRegister(newInputsCollector(nil, nil))
	r.MustRegister(membudget.New(1).Collector())
	type row struct{ name, labels, help string }
	var rows []row
	seen := map[string]bool{}
	for _, d := range r.descs {
		m := descRE.FindStringSubmatch(d.String())
		if m == nil || seen[m[1]] {
			continue
		}
		seen[m[1]] = true
		help, _ := strconv.Unquote(`"` + m[2] + `"`)
		rows = append(rows, row{m[1], m[3], help})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].name < rows[j].name })
	var b strings.Builder
	b.WriteString("| metric | labels | meaning |\n|---|---|---|\n")
	for _, r := range rows {
		labels := " "
		if r.labels != "" {
			labels = "`" + r.labels + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", r.name, labels, strings.ReplaceAll(r.help, "|", "\\|"))
	}
	b.WriteString("\nPlus the Go runtime (`go_*`) and process (`process_*`) collectors.\n")
	return b.String()
}
