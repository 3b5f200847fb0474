package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// runStatus prints the running agent's state, read from its metrics
// endpoint, as a short human table.
func runStatus(ctx context.Context, w io.Writer, addr string) error {
	base := addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	fams, err := fetchMetrics(ctx, base+"/metrics")
	if err != nil {
		return fmt.Errorf("is the agent running with --metrics-addr %s? %w", addr, err)
	}
	healthy, why := fetchHealth(ctx, base+"/healthz")
	return printStatus(w, fams, healthy, why)
}

func fetchMetrics(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", url, err)
	}
	return fams, nil
}

func fetchHealth(ctx context.Context, url string) (bool, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode == http.StatusOK, strings.TrimSpace(string(b))
}

// metricView reads values out of parsed metric families.
type metricView map[string]*dto.MetricFamily

func (m metricView) value(name string, labels ...string) float64 {
	var sum float64
	f := m[name]
	if f == nil {
		return 0
	}
	for _, mt := range f.Metric {
		if !hasLabels(mt, labels) {
			continue
		}
		switch {
		case mt.Counter != nil:
			sum += mt.Counter.GetValue()
		case mt.Gauge != nil:
			sum += mt.Gauge.GetValue()
		case mt.Untyped != nil:
			sum += mt.Untyped.GetValue()
		}
	}
	return sum
}

func hasLabels(mt *dto.Metric, kv []string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		found := false
		for _, lp := range mt.Label {
			if lp.GetName() == kv[i] && lp.GetValue() == kv[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// byLabel returns label value -> metric value for one family.
func (m metricView) byLabel(name, label string) map[string]float64 {
	out := map[string]float64{}
	f := m[name]
	if f == nil {
		return out
	}
	for _, mt := range f.Metric {
		for _, lp := range mt.Label {
			if lp.GetName() != label {
				continue
			}
			switch {
			case mt.Counter != nil:
				out[lp.GetValue()] += mt.Counter.GetValue()
			case mt.Gauge != nil:
				out[lp.GetValue()] += mt.Gauge.GetValue()
			}
		}
	}
	return out
}

func printStatus(w io.Writer, fams map[string]*dto.MetricFamily, healthy bool, why string) error {
	m := metricView(fams)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	state := "healthy"
	if !healthy {
		state = "UNHEALTHY"
	}
	fmt.Fprintf(tw, "health\t%s\t%s\n", state, why)
	fmt.Fprintf(tw, "containers\t%.0f files\t%s lines, %s read%s\n", m.value("logspool_tailer_files_watched"),
		count(m.value("logspool_tailer_lines_total")), size(m.value("logspool_tailer_bytes_total")), m.inputNotes("containers"))
	globs := m.byLabel("logspool_input_glob_files", "glob")
	for _, g := range sortedKeys(globs) {
		found := fmt.Sprintf("%.0f files match", globs[g])
		if globs[g] == 0 {
			found = "NO FILE MATCHES"
		}
		fmt.Fprintf(tw, "  glob\t%s\t%s\n", g, found)
	}
	fmt.Fprintf(tw, "journal\t%.0f files\t%s entries, lag %.0fs%s%s\n", m.value("logspool_journal_files"),
		count(m.value("logspool_journal_entries_total")), m.value("logspool_journal_lag_seconds"), m.inputNotes("journal"),
		journalPolling(m.value("logspool_journal_unwatched_dirs")))
	dirs, missing := m.byLabel("logspool_journal_dir_files", "dir"), m.byLabel("logspool_journal_dir_missing", "dir")
	for _, d := range sortedKeys(dirs) {
		found := fmt.Sprintf("%.0f journal files", dirs[d])
		switch {
		case missing[d] > 0:
			found = "MISSING (or unreadable)"
		case dirs[d] == 0:
			found = "EMPTY: no journal file"
		}
		fmt.Fprintf(tw, "  dir\t%s\t%s\n", d, found)
	}
	lost := m.byLabel("logspool_input_lost_bytes_total", "reason")
	fmt.Fprintf(tw, "lost\t%s\t%s\n", size(sum(lost)), kvs(lost, size))
	var spoolState string
	switch {
	case m.value("logspool_spool_disk_full") > 0:
		spoolState = ", DISK FULL: reading paused"
	case m.value("logspool_spool_blocked") > 0:
		spoolState = ", FULL: reading paused"
	}
	fmt.Fprintf(tw, "spool\t%s of %s on disk\t%s records (%s), %s dead letters%s\n",
		size(m.value("logspool_spool_disk_bytes")), size(m.value("logspool_spool_max_bytes")),
		count(m.value("logspool_spool_records")), size(m.value("logspool_spool_bytes")),
		count(m.value("logspool_spool_dead_letters")), spoolState)
	items := m.byLabel("logspool_shipper_items_total", "outcome")
	_, hasES := fams["logspool_shipper_es_up"]
	switch {
	case m.value("logspool_output_info", "output", "stdout") > 0 || !hasES && fams["logspool_output_info"] != nil:
		fmt.Fprintf(tw, "output\tstdout\t%s documents written (%s)\n",
			count(m.value("logspool_output_documents_total")), size(m.value("logspool_output_document_bytes_total")))
	case hasES:
		up := map[bool]string{true: "reachable", false: "UNREACHABLE"}[m.value("logspool_shipper_es_up") > 0]
		fmt.Fprintf(tw, "shipper\telasticsearch %s\t%s\n", up, kvs(items, count))
	default:
		fmt.Fprintf(tw, "shipper\tn/a\t%s\n", kvs(items, count))
	}
	lag := m.byLabel("logspool_tailer_lag_bytes", "path")
	if len(lag) > 0 {
		fmt.Fprintf(tw, "\nfile\tlag\t\n")
		paths := make([]string, 0, len(lag))
		for p := range lag {
			paths = append(paths, p)
		}
		sort.Slice(paths, func(i, j int) bool { return lag[paths[i]] > lag[paths[j]] })
		for i, p := range paths {
			if i == 10 {
				fmt.Fprintf(tw, "... %d more\t\t\n", len(paths)-10)
				break
			}
			fmt.Fprintf(tw, "%s\t%s\t\n", p, size(lag[p]))
		}
	}
	return tw.Flush()
}

// journalPolling is what logspool_journal_unwatched_dirs says: the journal
// (or some of its directories) is polled every poll interval for want of
// inotify.
func journalPolling(unwatched float64) string {
	switch {
	case unwatched < 0:
		return ", POLLING: inotify unavailable"
	case unwatched > 0:
		return fmt.Sprintf(", POLLING %.0f dirs: no inotify", unwatched)
	}
	return ""
}

// inputNotes is what the liveness gauge and the error counter say about
// one input: ", STALLED" and ", errors eacces=2 ...".
func (m metricView) inputNotes(input string) string {
	var b strings.Builder
	if m.value("logspool_input_stalled", "input", input) > 0 {
		b.WriteString(", STALLED (see health)")
	}
	errs := map[string]float64{}
	if f := m["logspool_input_errors_total"]; f != nil {
		for _, mt := range f.Metric {
			if !hasLabels(mt, []string{"input", input}) {
				continue
			}
			for _, lp := range mt.Label {
				if lp.GetName() == "reason" {
					errs[lp.GetValue()] += mt.GetCounter().GetValue()
				}
			}
		}
	}
	if len(errs) > 0 {
		b.WriteString(", errors " + kvs(errs, count))
	}
	return b.String()
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sum(m map[string]float64) float64 {
	var s float64
	for _, v := range m {
		s += v
	}
	return s
}

func kvs(m map[string]float64, f func(float64) string) string {
	keys := sortedKeys(m)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+f(m[k]))
	}
	return strings.Join(parts, " ")
}

func count(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.1fG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func size(v float64) string {
	const k = 1024.0
	switch {
	case v >= k*k*k:
		return fmt.Sprintf("%.1fGiB", v/(k*k*k))
	case v >= k*k:
		return fmt.Sprintf("%.1fMiB", v/(k*k))
	case v >= k:
		return fmt.Sprintf("%.1fKiB", v/k)
	}
	return fmt.Sprintf("%.0fB", v)
}
