package main

import (
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/logspool/logspool/systemd"
	"github.com/logspool/logspool/tailer"
)

// inputSummary is what each input finds on disk: files per container glob,
// journal files per directory. The agent logs it at start (a glob that
// matches nothing, a missing or empty journal directory: a warning) and
// serves it as metrics, which `logspool status` prints.
type inputSummary struct {
	globs []tailer.GlobMatch
	dirs  []systemd.DirSummary // nil with --no-journal
}

func summarizeInputs(globs, journalDirs []string) inputSummary {
	return inputSummary{globs: tailer.MatchGlobs(globs), dirs: systemd.SummarizeDirs(journalDirs)}
}

// log writes the summary: INFO for what was found, WARN for what will stay
// silent.
func (s inputSummary) log(log *slog.Logger) {
	for _, g := range s.globs {
		switch {
		case g.Err != nil:
			log.Warn("containers: bad glob, it matches nothing", "glob", g.Glob, "err", g.Err)
		case g.Files == 0:
			log.Warn("containers: no file matches the glob (yet); check --containers-glob", "glob", g.Glob)
		default:
			log.Info("containers: files found", "glob", g.Glob, "files", g.Files)
		}
	}
	for _, d := range s.dirs {
		switch {
		case d.Err != nil:
			log.Warn("journal: cannot read the directory", "dir", d.Dir, "err", d.Err)
		case !d.Exists:
			log.Warn("journal: the directory does not exist; check --journal-dir", "dir", d.Dir)
		case d.Files == 0:
			log.Warn("journal: no journal file in the directory (yet)", "dir", d.Dir)
		default:
			log.Info("journal: files found", "dir", d.Dir, "files", d.Files)
		}
	}
}

// inputsCollector serves the summary as metrics, computed at scrape time
// (at most every few seconds: it lists directories).
type inputsCollector struct {
	globs, dirs []string
	globFiles   *prometheus.Desc
	dirFiles    *prometheus.Desc
	dirMissing  *prometheus.Desc

	mu   sync.Mutex
	last inputSummary
	at   time.Time
}

func newInputsCollector(globs, journalDirs []string) *inputsCollector {
	return &inputsCollector{
		globs: globs, dirs: journalDirs,
		globFiles: prometheus.NewDesc("logspool_input_glob_files",
			"Files each --containers-glob matches now (0: the glob finds nothing).", []string{"glob"}, nil),
		dirFiles: prometheus.NewDesc("logspool_journal_dir_files",
			"Journal files in each --journal-dir now, machine-id sub-directories included.", []string{"dir"}, nil),
		dirMissing: prometheus.NewDesc("logspool_journal_dir_missing",
			"1 when a --journal-dir does not exist or cannot be read, else 0.", []string{"dir"}, nil),
	}
}

func (c *inputsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.globFiles
	ch <- c.dirFiles
	ch <- c.dirMissing
}

func (c *inputsCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if c.at.IsZero() || time.Since(c.at) > 5*time.Second {
		c.last, c.at = summarizeInputs(c.globs, c.dirs), time.Now()
	}
	s := c.last
	c.mu.Unlock()
	for _, g := range s.globs {
		ch <- prometheus.MustNewConstMetric(c.globFiles, prometheus.GaugeValue, float64(g.Files), g.Glob)
	}
	for _, d := range s.dirs {
		missing := 0.0
		if !d.Exists || d.Err != nil {
			missing = 1
		}
		ch <- prometheus.MustNewConstMetric(c.dirFiles, prometheus.GaugeValue, float64(d.Files), d.Dir)
		ch <- prometheus.MustNewConstMetric(c.dirMissing, prometheus.GaugeValue, missing, d.Dir)
	}
}

// outputMetrics say which output runs and what it finished with, for
// `logspool status` in either mode.
type outputMetrics struct {
	info      *prometheus.GaugeVec
	documents prometheus.Counter
	bytes     prometheus.Counter
}

func newOutputMetrics(reg prometheus.Registerer) *outputMetrics {
	m := &outputMetrics{
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "logspool_output_info",
			Help: "1 for the output in use: stdout (no --es-url) or elasticsearch.",
		}, []string{"output"}),
		documents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logspool_output_documents_total",
			Help: "Documents the output finished with: written to stdout, or delivered, already present or dead-lettered in Elasticsearch.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logspool_output_document_bytes_total",
			Help: "Bytes of the documents in logspool_output_documents_total (stdout: as written, newlines included).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.info, m.documents, m.bytes)
	}
	return m
}

// onlyMetrics is a Registerer that registers only the collectors whose
// metrics are all in allowed: stdout mode leaves out the Elasticsearch
// metrics (logspool_shipper_es_up at 0 would read as an outage).
type onlyMetrics struct {
	prometheus.Registerer
	allowed map[string]bool
}

func (r onlyMetrics) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 16)
	go func() { c.Describe(ch); close(ch) }()
	ok := true
	for d := range ch {
		if !r.allowed[descName(d)] {
			ok = false
		}
	}
	if !ok {
		return nil
	}
	return r.Registerer.Register(c)
}

func (r onlyMetrics) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// descRE reads a *prometheus.Desc's String(): its name, help and labels.
var descRE = regexp.MustCompile(`fqName: "([^"]+)", help: "((?:[^"\\]|\\.)*)", unit: "[^"]*", constLabels: \{[^}]*\}, variableLabels: \{([^}]*)\}`)

// descName is the metric name of d.
func descName(d *prometheus.Desc) string {
	if m := descRE.FindStringSubmatch(d.String()); m != nil {
		return m[1]
	}
	return fmt.Sprint(d)
}
