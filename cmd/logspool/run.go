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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v2"

	"github.com/logspool/logspool/internal/membudget"
	"github.com/logspool/logspool/parser"
	"github.com/logspool/logspool/parser/kubemeta"
	"github.com/logspool/logspool/shipper"
	"github.com/logspool/logspool/spool"
	"github.com/logspool/logspool/spool/record"
	"github.com/logspool/logspool/systemd"
	"github.com/logspool/logspool/tailer"
)

// runSettings are logspool run's settings that are parsed and checked
// before anything starts: a mistake in any of them exits with code 2.
type runSettings struct {
	log           *slog.Logger
	level         *slog.LevelVar
	node          string
	maxSpool      int64
	maxLine       int64
	readFrom      string
	since         time.Time
	out           shipper.Config
	memoryLimit   int64 // in force; 0: none
	maxOpen       int
	closeInactive time.Duration
}

// readRunSettings parses and checks the settings of logspool run.
func readRunSettings(c *cli.Context, stderr io.Writer) (s runSettings, err error) {
	if s.log, s.level, err = newLogger(c, stderr); err != nil {
		return s, err
	}
	if s.node, err = nodeName(c); err != nil {
		return s, err
	}
	if s.maxSpool, err = sizeSetting(c, "spool-max-bytes"); err != nil {
		return s, err
	}
	if s.maxLine, err = sizeSetting(c, "max-line-bytes"); err != nil {
		return s, err
	}
	if s.readFrom, err = checkSetting(c, "read-from"); err != nil {
		return s, err
	}
	s.readFrom = strings.ToLower(s.readFrom)
	if s.since, err = parseSince(c.String("journal-since"), time.Now()); err != nil {
		return s, settingError(c, "journal-since", c.String("journal-since"), sinceShape)
	}
	if s.out, err = outputConfig(c, s.node, s.log); err != nil {
		return s, err
	}
	if s.memoryLimit, err = setMemoryLimit(c); err != nil {
		return s, err
	}
	if s.maxOpen = c.Int("max-open-files"); s.maxOpen < 0 {
		return s, settingError(c, "max-open-files", fmt.Sprint(s.maxOpen), shape{want: "a number of files, 0 for the default", example: "1024"})
	}
	if s.closeInactive = c.Duration("close-inactive"); s.closeInactive <= 0 {
		return s, settingError(c, "close-inactive", s.closeInactive.String(), shape{want: "a duration above 0", example: "1m"})
	}
	return s, nil
}

// runAgent is `logspool run`: inputs -> spool -> output until SIGTERM.
//
// Shutdown is in two phases: first the inputs stop reading (their positions
// are already in the spool with their records), then the output finishes or
// releases its in-flight batches within --shutdown-timeout, then the spool is
// synced and closed. runActors decides that order.
func runAgent(c *cli.Context, stdout, stderr io.Writer) error {
	set, err := readRunSettings(c, stderr)
	if err != nil {
		return cli.Exit(err, 2)
	}
	log := set.log
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// One memory budget for all input in flight (both inputs' buffers,
	// batches and pending messages): readers wait beyond it.
	budget := membudget.New(inputBudget(set.memoryLimit))
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
		MaxBytes: set.maxSpool,
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

	out, err := newOutput(set.out, sp, stdout, reg)
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
	in, err := newInputs(c, set, &healthSink{Spool: sp, health: hl}, hl, reg, budget)
	if err != nil {
		return cli.Exit(err, 2)
	}

	if out.name == "stdout" && os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		log.Warn("no --es-url inside Kubernetes: records go to stdout, which lands in /var/log/containers and may be read back")
	}
	log.Info("logspool started", "version", version, "node", set.node, "spool", c.String("spool-dir"), "output", out.name)
	summarizeInputs(c.StringSlice("containers-glob"), in.journalDirs).log(log)
	return runActors(c, set, in, out, sigs)
}

// inputs are the agent's configured inputs.
type inputs struct {
	tailer      *tailer.Tailer
	kube        *kubemeta.Provider // nil: no Kubernetes metadata
	journal     *systemd.Input     // nil: --no-journal
	journalDirs []string           // summarized, and served as metrics, for status
}

// newInputs configures the container files, the Kubernetes metadata and the
// journal, appending to sink, and registers their liveness with hl.
func newInputs(c *cli.Context, set runSettings, sink *healthSink, hl *health, reg *prometheus.Registry, budget *membudget.Budget) (in inputs, err error) {
	in.kube, err = newKubeMeta(c, set.node, set.log, reg)
	if err != nil {
		return in, validateError(c, fmt.Errorf("configuring the Kubernetes metadata: %w", err))
	}
	pcfg := parser.Config{NodeName: set.node, MaxLineBytes: int(set.maxLine), Metrics: parser.NewMetrics(reg)}
	if in.kube != nil {
		pcfg.Kube = in.kube
	}
	in.tailer, err = tailer.New(tailer.Config{
		Globs:         c.StringSlice("containers-glob"),
		ReadFrom:      set.readFrom,
		NodeName:      set.node,
		MaxLineBytes:  int(set.maxLine),
		Parser:        pcfg,
		Logger:        set.log,
		Metrics:       tailer.NewMetrics(reg),
		Budget:        budget,
		MaxOpenFiles:  set.maxOpen,
		CloseInactive: set.closeInactive,
	}, sink)
	if err != nil {
		return in, validateError(c, fmt.Errorf("configuring the container input: %w", err))
	}
	// Liveness: /healthz, `status` and logspool_input_stalled{input}; one
	// line per input.
	reg.MustRegister(hl)
	hl.watchInput(tailer.InputName, in.tailer.Stalled)
	if !c.Bool("no-journal") {
		in.journal, err = systemd.NewInput(systemd.Config{
			Dirs:         c.StringSlice("journal-dir"),
			Units:        c.StringSlice("journal-unit"),
			ExcludeUnits: c.StringSlice("journal-exclude-unit"),
			Since:        set.since,
			NodeName:     set.node,
			Logger:       set.log.With("component", "journal"),
			Metrics:      systemd.NewMetrics(reg),
			Budget:       budget,
		}, sink)
		if err != nil {
			return in, validateError(c, fmt.Errorf("configuring the journal input: %w", err))
		}
		hl.watchInput("journal", in.journal.Stalled)
		in.journalDirs = c.StringSlice("journal-dir")
	}
	reg.MustRegister(newInputsCollector(c.StringSlice("containers-glob"), in.journalDirs))
	return in, nil
}

// runActors runs the agent: one run group block per actor, until a
// SIGTERM or SIGINT, or until an input or the output fails.
//
// The stop order is decided here, by the order of the g.Add calls:
// run.Group calls the actors' interrupts one after the other, in that order,
// and then waits for every actor to return.
//
//  1. The inputs stop reading, all at once, and are waited for. Each Append
//     commits records and their source positions in one transaction before
//     it returns, so once they have returned everything read is in the
//     spool: the spool needs no flush step of its own.
//  2. Only then the output stops: it finishes or releases its in-flight
//     batches within --shutdown-timeout (the shipper's own deadline), plus
//     5 s for the releases; an output that has not returned by then is
//     logged and left behind. Stopping it first would leave the inputs'
//     last appends to wait for the next start.
//  3. The signal handler stops, then the idle memory release.
//
// Then runAgent's deferred Close syncs and closes the spool, which nothing
// uses any more.
func runActors(c *cli.Context, set runSettings, in inputs, out *output, sigs <-chan os.Signal) error {
	var g run.Group
	reading := newReadGroup(c.Context, set.log)
	defer reading.stop(nil)
	// Container log files.
	g.Add(reading.actor("tailer", in.tailer.Run))
	if in.kube != nil {
		// Kubernetes metadata: it runs and stops with the inputs it serves.
		g.Add(reading.actor("k8s-metadata", in.kube.Run))
	}
	if in.journal != nil {
		// The systemd journal.
		g.Add(reading.actor("journal", in.journal.Run))
	}
	// Output: ships the spool until the inputs have stopped, then drains.
	var drainErr error // the output's error once asked to stop
	g.Add(outputActor(c.Context, out, c.Duration("shutdown-timeout"), set.log, &drainErr))
	// Signals: SIGHUP reopens the container files and reloads the config
	// file; SIGTERM or SIGINT stops the agent.
	g.Add(signalActor(sigs, set.log, func() {
		in.tailer.Reopen()
		reloadConfig(c, set.level, set.log)
	}))
	// Memory: gives the heap a burst left behind back to the system once the
	// agent has gone quiet (membudget.ReleaseWhenIdle). It stops last.
	idleCtx, stopIdle := context.WithCancel(context.Background())
	g.Add(func() error { membudget.ReleaseWhenIdle(idleCtx); return nil }, func(error) { stopIdle() })
	if err := g.Run(); err != nil {
		return err
	}
	return drainErr
}

// readGroup runs the inputs under one context: the first interrupt stops
// them all, and every interrupt waits until all of them have returned.
type readGroup struct {
	ctx      context.Context
	cancel   context.CancelFunc
	running  sync.WaitGroup
	stopping atomic.Bool
	log      *slog.Logger
}

func newReadGroup(parent context.Context, log *slog.Logger) *readGroup {
	ctx, cancel := context.WithCancel(parent)
	return &readGroup{ctx: ctx, cancel: cancel, log: log}
}

// stop stops every input and waits for them: the interrupt of each.
func (rg *readGroup) stop(error) {
	rg.stopping.Store(true)
	rg.cancel()
	rg.running.Wait()
}

// actor is the run group block of the input name. An input that fails
// stops the agent; one that ends by itself leaves the agent running.
func (rg *readGroup) actor(name string, run func(context.Context) error) (func() error, func(error)) {
	rg.running.Add(1)
	return func() error {
		err := run(rg.ctx)
		rg.running.Done()
		if err != nil && !errors.Is(err, context.Canceled) {
			err = fmt.Errorf("%s: %w", name, err)
			if !rg.stopping.Load() {
				rg.log.Error("input stopped", "err", err)
			}
			return err
		}
		<-rg.ctx.Done()
		return nil
	}, rg.stop
}

// outputActor is the output's run group block: out runs (under a context
// that only the interrupt cancels) until it fails, which stops the agent, or
// until it is asked to stop; then it has timeout (the shipper's own
// deadline) plus 5 s to finish or release its batches, and its error is
// kept in *drainErr.
func outputActor(parent context.Context, out *output, timeout time.Duration, log *slog.Logger, drainErr *error) (func() error, func(error)) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	stopped := make(chan struct{})
	return func() error {
			done := make(chan error, 1)
			go func() { done <- out.run(ctx) }()
			select {
			case err := <-done:
				return fmt.Errorf("output stopped: %w", err)
			case <-stopped:
			}
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					*drainErr = err
				}
			case <-time.After(timeout + 5*time.Second):
				log.Error("output did not stop within the shutdown timeout", "timeout", timeout)
			}
			return nil
		}, func(error) {
			cancel()
			close(stopped)
		}
}

// signalActor is the signal handler's run group block: SIGHUP calls
// reload; SIGTERM or SIGINT stops the agent.
func signalActor(sigs <-chan os.Signal, log *slog.Logger, reload func()) (func() error, func(error)) {
	quit := make(chan struct{})
	return func() error {
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGHUP {
					log.Info("SIGHUP: reopening files and reloading the config file")
					reload()
					continue
				}
				log.Info("shutting down", "signal", s.String())
				return nil
			case <-quit:
				return nil
			}
		}
	}, func(error) { close(quit) }
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
// the spool fails (a full disk, I/O errors): the input then retries. It stays
// here because the spool keeps no outcome of its last append: its Failure
// reports only what stops it until a restart, while /healthz must also fail
// for a transient failure (a full disk) until an append succeeds again.
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
