package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v2"

	"github.com/logspool/logspool/internal/membudget"
	"github.com/logspool/logspool/parser"
	"github.com/logspool/logspool/spool"
	"github.com/logspool/logspool/spool/record"
	"github.com/logspool/logspool/systemd"
	"github.com/logspool/logspool/tailer"
)

// actor is one long-running component: it runs until its context is done.
type actor struct {
	name string
	run  func(ctx context.Context) error
}

// runAgent is `logspool run`: inputs -> spool -> output until SIGTERM.
//
// Shutdown is in two phases: first the inputs stop reading (their positions
// are already in the spool with their records), then the output finishes or
// releases its in-flight batches within --shutdown-timeout, then the spool is
// synced and closed.
func runAgent(c *cli.Context, stdout, stderr io.Writer) error {
	log, level, err := newLogger(c, stderr)
	if err != nil {
		return cli.Exit(err, 2)
	}
	node, err := nodeName(c)
	if err != nil {
		return cli.Exit(err, 2)
	}
	maxSpool, err := sizeSetting(c, "spool-max-bytes")
	if err != nil {
		return cli.Exit(err, 2)
	}
	maxLine, err := sizeSetting(c, "max-line-bytes")
	if err != nil {
		return cli.Exit(err, 2)
	}
	readFrom, err := checkSetting(c, "read-from")
	if err != nil {
		return cli.Exit(err, 2)
	}
	readFrom = strings.ToLower(readFrom)
	since, err := parseSince(c.String("journal-since"), time.Now())
	if err != nil {
		return cli.Exit(settingError(c, "journal-since", c.String("journal-since"), sinceShape), 2)
	}
	outCfg, err := outputConfig(c, node, log)
	if err != nil {
		return cli.Exit(err, 2)
	}
	limit, err := setMemoryLimit(c)
	if err != nil {
		return cli.Exit(err, 2)
	}
	maxOpen := c.Int("max-open-files")
	if maxOpen < 0 {
		return cli.Exit(settingError(c, "max-open-files", fmt.Sprint(maxOpen), shape{want: "a number of files, 0 for the default", example: "1024"}), 2)
	}
	closeInactive := c.Duration("close-inactive")
	if closeInactive <= 0 {
		return cli.Exit(settingError(c, "close-inactive", closeInactive.String(), shape{want: "a duration above 0", example: "1m"}), 2)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// One memory budget for all input in flight (both inputs' buffers,
	// batches and pending messages): readers wait beyond it.
	budget := membudget.New(inputBudget(limit))
	reg.MustRegister(budget.Collector())

	// /healthz answers from the start: while the spool refuses to open (a
	// damaged spool, a permission problem), it says why.
	hl := newHealth(c.Duration("health-es-grace"), time.Now, nil)
	stopMetrics, err := serveMetrics(c.String("metrics-addr"), reg, hl, log)
	if err != nil {
		return err
	}
	defer stopMetrics()

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	sp, err := openSpool(c.Context, spool.Config{
		Dir:      c.String("spool-dir"),
		MaxBytes: maxSpool,
		Logger:   log,
		Metrics:  spool.NewMetrics(reg),
	}, hl, log, sigs)
	if err != nil {
		return fmt.Errorf("opening spool: %w", err)
	}
	if sp == nil {
		return nil // stopped by a signal while the spool refused
	}
	defer func() {
		if err := sp.Close(); err != nil {
			log.Error("closing spool", "err", err)
		}
	}()

	out, err := newOutput(outCfg, sp, stdout, reg)
	if err != nil {
		return err
	}

	hl.setSample(func() progress {
		st := sp.Stats()
		p := progress{Queued: st.QueuedRecords, Delivered: out.acked.Load()}
		if h, ok := out.health(); ok && !h.Reachable {
			p.UnreachableSince, p.LastError = h.UnreachableSince, h.LastError
		}
		return p
	})
	// A sink that marks the agent unhealthy when the spool refuses writes.
	sink := &healthSink{Spool: sp, health: hl}

	km, err := newKubeMeta(c, node, log, reg)
	if err != nil {
		return cli.Exit(fmt.Errorf("configuring the Kubernetes metadata: %w", err), 2)
	}
	pcfg := parser.Config{NodeName: node, MaxLineBytes: int(maxLine), Metrics: parser.NewMetrics(reg)}
	if km != nil {
		pcfg.Kube = km
	}

	tl, err := tailer.New(tailer.Config{
		Globs:         c.StringSlice("containers-glob"),
		ReadFrom:      readFrom,
		NodeName:      node,
		MaxLineBytes:  int(maxLine),
		Parser:        pcfg,
		Logger:        log,
		Metrics:       tailer.NewMetrics(reg),
		Budget:        budget,
		MaxOpenFiles:  maxOpen,
		CloseInactive: closeInactive,
	}, sink)
	if err != nil {
		return cli.Exit(fmt.Errorf("configuring the container input: %w", err), 2)
	}
	// Liveness: /healthz, `status` and logspool_input_stalled{input}; one
	// line per input.
	reg.MustRegister(hl)
	hl.watchInput(tailer.InputName, tl.Stalled)
	inputs := []actor{{"tailer", tl.Run}}
	if km != nil {
		// The metadata watch runs and stops with the inputs it serves.
		inputs = append(inputs, actor{"k8s-metadata", km.Run})
	}
	if !c.Bool("no-journal") {
		jn, err := systemd.NewInput(systemd.Config{
			Dirs:         c.StringSlice("journal-dir"),
			Units:        c.StringSlice("journal-unit"),
			ExcludeUnits: c.StringSlice("journal-exclude-unit"),
			Since:        since,
			NodeName:     node,
			Logger:       log.With("component", "journal"),
			Metrics:      systemd.NewMetrics(reg),
			Budget:       budget,
		}, sink)
		if err != nil {
			return cli.Exit(fmt.Errorf("configuring the journal input: %w", err), 2)
		}
		hl.watchInput("journal", jn.Stalled)
		inputs = append(inputs, actor{"journal", jn.Run})
	}

	var journalDirs []string // summarized, and served as metrics, for status
	if !c.Bool("no-journal") {
		journalDirs = c.StringSlice("journal-dir")
	}
	reg.MustRegister(newInputsCollector(c.StringSlice("containers-glob"), journalDirs))

	inCtx, stopInputs := context.WithCancel(c.Context)
	outCtx, stopOutput := context.WithCancel(context.WithoutCancel(c.Context))
	defer stopOutput()
	var wg sync.WaitGroup
	errc := make(chan error, len(inputs)+1)
	start := func(ctx context.Context, a actor) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("%s: %w", a.name, err)
				return
			}
			errc <- nil
		}()
	}
	var inWG sync.WaitGroup
	for _, a := range inputs {
		inWG.Add(1)
		a := a
		start(inCtx, actor{a.name, func(ctx context.Context) error { defer inWG.Done(); return a.run(ctx) }})
	}
	outDone := make(chan error, 1)
	go func() { outDone <- out.run(outCtx) }()
	if out.name == "stdout" && os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		log.Warn("no --es-url inside Kubernetes: records go to stdout, which lands in /var/log/containers and may be read back")
	}
	log.Info("logspool started", "version", version, "node", node, "spool", c.String("spool-dir"), "output", out.name)
	summarizeInputs(c.StringSlice("containers-glob"), journalDirs).log(log)

	var runErr error
wait:
	for {
		select {
		case s := <-sigs:
			if s == syscall.SIGHUP {
				log.Info("SIGHUP: reopening files and reloading the config file")
				tl.Reopen()
				reloadConfig(c, level, log)
				continue
			}
			log.Info("shutting down", "signal", s.String())
			break wait
		case err := <-errc:
			if err != nil {
				runErr = err
				log.Error("input stopped", "err", err)
				break wait
			}
		case err := <-outDone:
			runErr = fmt.Errorf("output stopped: %w", err)
			outDone <- err
			break wait
		}
	}
	// Phase 1: stop reading. Positions are in the spool with their records.
	stopInputs()
	inWG.Wait()
	// Phase 2: the output finishes or releases its in-flight batches.
	timeout := c.Duration("shutdown-timeout")
	stopOutput()
	select {
	case err := <-outDone:
		if err != nil && !errors.Is(err, context.Canceled) && runErr == nil {
			runErr = err
		}
	case <-time.After(timeout + 5*time.Second):
		log.Error("output did not stop within the shutdown timeout", "timeout", timeout)
	}
	wg.Wait()
	return runErr
}

// reloadConfig re-reads the config file and applies the settings that can
// change without a restart (the log level). A changed key that a flag or the
// environment does not override is logged: it needs a restart.
func reloadConfig(c *cli.Context, level *slog.LevelVar, log *slog.Logger) {
	path := c.String("config")
	if path == "" {
		return
	}
	next, err := loadConfigFile(path, c.Command.Flags)
	if err != nil {
		log.Error("reloading the config file: keeping the running settings", "err", err)
		return
	}
	prev, _ := c.App.Metadata["logspool.config-file"].(*configFile)
	if prev == nil {
		prev = &configFile{path: path, values: map[string]fileValue{}}
	}
	for _, k := range prev.changedKeys(next) {
		if _, fromFile := origins(c)[k]; !fromFile && c.IsSet(k) {
			continue // a flag or the environment wins over the file anyway
		}
		if k != "log-level" {
			log.Warn("config change needs a restart to take effect", "key", k)
			continue
		}
		v := c.Value(k)
		if fv, ok := next.values[k]; ok {
			v = fv.items[0]
		} else if f := flagNamed(c, k); f != nil {
			v = defaultText(f)
		}
		if err := level.UnmarshalText([]byte(fmt.Sprint(v))); err != nil {
			log.Error("reloading the config file: log-level", "value", v, "err", err)
			continue
		}
		log.Info("log level changed", "level", level.Level())
	}
	c.App.Metadata["logspool.config-file"] = next
}

// serveMetrics serves /metrics and /healthz on addr ("" disables it). It
// fails at start when the address cannot be bound.
func serveMetrics(addr string, reg *prometheus.Registry, hl http.Handler, log *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on --metrics-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.Handle("/healthz", hl)
	if os.Getenv("LOGSPOOL_PPROF") == "1" {
		// Profiling for diagnosis only; off unless asked for.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// spoolRetry is how often the agent tries again to open a spool that
// refused: after `logspool spool salvage`, or a fixed permission, it starts
// without a restart.
var spoolRetry = 10 * time.Second

// openSpool opens the spool. When the spool refuses (damage, permissions,
// a read-only or full file system, another agent holding it), the agent
// stays up with /healthz failing and the reason logged, and tries again
// every spoolRetry, until it opens or a signal stops the agent (nil, nil).
func openSpool(ctx context.Context, cfg spool.Config, hl *health, log *slog.Logger, sigs <-chan os.Signal) (*spool.Spool, error) {
	var last string
	for {
		sp, err := spool.Open(cfg)
		if err == nil {
			if last != "" {
				log.Info("spool opened after it had refused", "dir", cfg.Dir)
			}
			hl.setSpoolErr(nil)
			return sp, nil
		}
		var ve interface{ Unwrap() error }
		if !errors.As(err, &ve) && !errors.Is(err, spool.ErrLocked) {
			return nil, err // a bad configuration: nothing to wait for
		}
		hl.setSpoolErr(err)
		if msg := err.Error(); msg != last {
			log.Error("the spool refuses to open; reading is stopped and /healthz fails until it opens (retrying)", "err", err, "retry", spoolRetry)
			last = msg
		}
		select {
		case s := <-sigs:
			if s == syscall.SIGHUP {
				continue
			}
			log.Info("shutting down while the spool refuses to open", "signal", s.String())
			return nil, nil
		case <-ctx.Done():
			return nil, err
		case <-time.After(spoolRetry):
		}
	}
}

// healthSink passes appends to the spool and marks the agent unhealthy when
// the spool fails (a full disk, I/O errors): the input then retries.
type healthSink struct {
	*spool.Spool
	health *health
}

func (s *healthSink) Append(ctx context.Context, recs []record.Record, cps ...record.Checkpoint) error {
	err := s.Spool.Append(ctx, recs, cps...)
	if ctx.Err() == nil {
		s.health.setSpoolErr(err)
	}
	return err
}

// setMemoryLimit applies --memory-limit as the Go runtime's soft memory limit,
// unless GOMEMLIMIT is set (the runtime already applied it). It returns the
// limit in force (0: none).
func setMemoryLimit(c *cli.Context) (int64, error) {
	v := c.String("memory-limit")
	n, err := parseSize(v, true)
	if v != "" && err != nil {
		return 0, settingError(c, "memory-limit", v, shapeOf(c, "memory-limit"))
	}
	if os.Getenv("GOMEMLIMIT") == "" && v != "" && n > 0 {
		debug.SetMemoryLimit(n)
	}
	if cur := debug.SetMemoryLimit(-1); cur != math.MaxInt64 {
		return cur, nil
	}
	return 0, nil
}

// inputBudget is the memory budget of all input in flight under a memory
// limit (0: none): a quarter of it, at least 4 MiB; 16 MiB without a limit.
// The rest of the limit is the spool's and the output's (Badger's tables,
// bulk requests in flight) and the runtime's.
func inputBudget(limit int64) int64 {
	if limit <= 0 {
		return 16 << 20
	}
	return max(limit/4, 4<<20)
}
