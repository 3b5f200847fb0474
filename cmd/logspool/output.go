package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"

	"github.com/logspool/logspool/shipper"
	"github.com/logspool/logspool/spool"
)

// outputConfig maps the --es-* flags (and the secrets from files or the
// environment) onto a shipper.Config. No --es-url means stdout.
func outputConfig(c *cli.Context, node string, log *slog.Logger) (shipper.Config, error) {
	batch, err := sizeSetting(c, "es-batch-bytes")
	if err != nil {
		return shipper.Config{}, err
	}
	mode, err := checkSetting(c, "es-index-mode")
	if err != nil {
		return shipper.Config{}, err
	}
	password, err := secret(c, "es-password-file", "LOGSPOOL_ES_PASSWORD")
	if err != nil {
		return shipper.Config{}, err
	}
	apiKey, err := secret(c, "es-api-key-file", "LOGSPOOL_ES_API_KEY")
	if err != nil {
		return shipper.Config{}, err
	}
	setup := c.Bool("es-setup")
	cfg := shipper.Config{
		URLs:               c.StringSlice("es-url"),
		Index:              c.String("es-index"),
		IndexMode:          strings.ToLower(mode),
		Username:           c.String("es-username"),
		Password:           password,
		APIKey:             apiKey,
		CAFile:             c.String("es-ca-file"),
		CertFile:           c.String("es-cert-file"),
		KeyFile:            c.String("es-key-file"),
		InsecureSkipVerify: c.Bool("es-insecure-skip-verify"),
		BatchBytes:         int(batch),
		FlushInterval:      c.Duration("es-flush-interval"),
		MaxInFlight:        c.Int("es-max-in-flight"),
		Compression:        c.String("es-compression"),
		Setup:              &setup,
		DeadLetterIndex:    c.String("es-dead-letter-index"),
		NodeName:           node,
		Logger:             log.With("component", "shipper"),
	}
	if c.IsSet("shutdown-timeout") || c.Duration("shutdown-timeout") > 0 {
		cfg.ShutdownTimeout = c.Duration("shutdown-timeout")
	}
	if cfg.IndexMode == shipper.IndexModeDaily && !c.IsSet("es-index") {
		cfg.Index = "" // the shipper's daily default prefix, logspool-
	}
	if len(cfg.URLs) == 0 {
		return cfg, nil
	}
	if err := cfg.Validate(); err != nil {
		return cfg, validateError(c, err)
	}
	return cfg, nil
}

// output drains the spool: Elasticsearch, or stdout when no URL is set.
type output struct {
	name   string
	run    func(ctx context.Context) error
	drain  func(ctx context.Context, progress func(shipper.Progress)) (shipper.Summary, error)
	health func() (shipper.Health, bool) // false: no Elasticsearch
	acked  *atomic.Int64                 // records finished (delivered or dead-lettered)
}

func newOutput(cfg shipper.Config, sp *spool.Spool, stdout io.Writer, reg prometheus.Registerer) (*output, error) {
	src := &countingSource{Source: spoolSource{sp}, acked: new(atomic.Int64)}
	var m *shipper.Metrics
	name := "elasticsearch"
	if len(cfg.URLs) == 0 {
		name = "stdout"
		src.newline = 1
	}
	if reg != nil {
		om := newOutputMetrics(reg)
		om.info.WithLabelValues(name).Set(1)
		src.metrics = om
		if name == "stdout" {
			// No Elasticsearch: none of its metrics (es_up at 0 would read
			// as an outage); written documents count as delivered items.
			reg = onlyMetrics{Registerer: reg, allowed: map[string]bool{"logspool_shipper_items_total": true}}
		}
		m = shipper.NewMetrics(reg)
	}
	if name == "stdout" {
		o, err := shipper.NewStdout(stdout, src, shipper.StdoutConfig{Logger: cfg.Logger, Metrics: m})
		if err != nil {
			return nil, fmt.Errorf("configuring stdout output: %w", err)
		}
		return &output{name: name, run: o.Run, drain: o.Drain, acked: src.acked,
			health: func() (shipper.Health, bool) { return shipper.Health{}, false }}, nil
	}
	cfg.Metrics = m
	s, err := shipper.New(cfg, src)
	if err != nil {
		return nil, fmt.Errorf("configuring the elasticsearch output: %w", err)
	}
	return &output{name: name, run: s.Run, drain: s.Drain, acked: src.acked,
		health: func() (shipper.Health, bool) { return s.Health(), true }}, nil
}

// countingSource counts the records whose batches were finished, so that
// /healthz can tell a moving backlog from a stuck one, and the output's
// documents and bytes. It stays at the output's edge: the spool counts acked
// records only into a metric it does not read back, and neither output
// counts the bytes of finished documents (stdout's newlines included).
type countingSource struct {
	shipper.Source
	acked   *atomic.Int64
	metrics *outputMetrics // nil: none
	newline int            // bytes added per document (stdout's newline)
}

func (s *countingSource) Lease(ctx context.Context, maxBytes int) (shipper.Batch, error) {
	b, err := s.Source.Lease(ctx, maxBytes)
	if b == nil || err != nil {
		return b, err
	}
	return &countingBatch{Batch: b, src: s}, nil
}

func (s *countingSource) TryLease(maxBytes int) (shipper.Batch, error) {
	b, err := s.Source.TryLease(maxBytes)
	if b == nil || err != nil {
		return b, err
	}
	return &countingBatch{Batch: b, src: s}, nil
}

type countingBatch struct {
	shipper.Batch
	src *countingSource
}

func (b *countingBatch) Done(dead []spool.DeadLetter) error {
	// Counted before: a finished lease's records are no longer valid.
	recs := b.Records()
	n := 0
	for i := range recs {
		n += recs[i].DocLen() + b.src.newline
	}
	err := b.Batch.Done(dead)
	if err == nil {
		b.src.acked.Add(int64(len(recs)))
		if m := b.src.metrics; m != nil {
			m.documents.Add(float64(len(recs)))
			m.bytes.Add(float64(n))
		}
	}
	return err
}
