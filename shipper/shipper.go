package shipper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v7/esapi"
)

// Shipper drains a Source into Elasticsearch or OpenSearch with _bulk.
type Shipper struct {
	cfg     Config
	src     Source
	log     *slog.Logger
	m       *Metrics
	httpTr  *http.Transport
	mc      *moduleConfig
	detectT esapi.Transport // raw module transport, plain media types
	comp    *compressor     // Config.Compression
	running atomic.Bool

	mu     sync.Mutex
	flavor Flavor
	api    esapi.Transport // set once connected
	health Health

	delivered, duplicates, dead, retries, bytes atomic.Int64
	respSize                                    atomic.Int64 // of the last _bulk response (readResponse)
	// ackFailures counts the acknowledgements that failed in a row; pump
	// backs off by it before leasing again (the failed batches were
	// released and come back, so a source that keeps failing must not make
	// the shipper send them again at full speed).
	ackFailures atomic.Int64
}

// Health is the shipper's view of the cluster, for /healthz.
type Health struct {
	// Reachable: the last request (detection, setup or _bulk) succeeded.
	Reachable bool
	// LastSuccess is when a request last succeeded.
	LastSuccess time.Time
	// LastError is the last request failure, "" if none yet.
	LastError     string
	LastErrorTime time.Time
	// UnreachableSince is when the current run of failures began; zero
	// while Reachable.
	UnreachableSince time.Time
	// Flavor is the detected product.
	Flavor Flavor
}

// Summary counts what a Drain (or Run) did.
type Summary struct {
	Delivered    int64 // items created
	Duplicates   int64 // items answered 409: already delivered before (a re-send)
	DeadLettered int64 // items refused for good, kept in the dead-letter area
	Retries      int64 // retry rounds (a whole request, or its retryable items, sent again)
	Bytes        int64 // record.Size() of the records finished (delivered, duplicate or dead)
	Elapsed      time.Duration
}

// Progress is a Summary so far, given to Drain's progress callback.
type Progress = Summary

// New validates cfg and prepares a Shipper. It does not contact the cluster
// and starts no goroutine.
func New(cfg Config, src Source) (*Shipper, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if src == nil {
		return nil, fmt.Errorf("%w: source is nil", ErrInvalidConfig)
	}
	cfg = cfg.withDefaults()
	tr, err := buildHTTPTransport(&cfg)
	if err != nil {
		return nil, err
	}
	mc, err := newModuleConfig(&cfg)
	if err != nil {
		return nil, err
	}
	raw, err := newRawTransport(mc, plainMediaTypes{tr})
	if err != nil {
		return nil, err
	}
	comp, err := compressorFor(cfg.Compression)
	if err != nil {
		return nil, fmt.Errorf("%w: Compression: %v", ErrInvalidConfig, err)
	}
	if cfg.InsecureSkipVerify {
		cfg.Logger.Warn("shipper: TLS certificate verification is disabled (InsecureSkipVerify); the connection can be intercepted")
	}
	return &Shipper{cfg: cfg, src: src, log: cfg.Logger, m: cfg.Metrics, httpTr: tr, mc: mc, detectT: bodyAware{raw}, comp: comp}, nil
}

// Flavor returns the detected product; the zero Flavor before detection.
func (s *Shipper) Flavor() Flavor {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flavor
}

// Health returns the shipper's view of the cluster.
func (s *Shipper) Health() Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.health
	h.Flavor = s.flavor
	return h
}

func (s *Shipper) markSuccess() {
	now := s.cfg.Clock.Now()
	s.mu.Lock()
	s.health.Reachable = true
	s.health.LastSuccess = now
	s.health.UnreachableSince = time.Time{}
	s.mu.Unlock()
	s.m.setUp(true, now)
}

func (s *Shipper) markFailure(err error) {
	now := s.cfg.Clock.Now()
	s.mu.Lock()
	if s.health.Reachable || s.health.UnreachableSince.IsZero() {
		s.health.UnreachableSince = now
	}
	s.health.Reachable = false
	s.health.LastError = err.Error()
	s.health.LastErrorTime = now
	s.mu.Unlock()
	s.m.setUp(false, now)
}

// Run ships until ctx is cancelled. It first detects the cluster's flavour
// (retrying with backoff for as long as the cluster is unreachable; records
// wait in the source meanwhile) and installs the index template. On
// cancellation it stops leasing, gives in-flight requests up to
// Config.ShutdownTimeout to finish, releases every lease not finished, and
// returns nil. It returns an error only when the source fails for good.
func (s *Shipper) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer s.running.Store(false)
	defer s.httpTr.CloseIdleConnections()
	if err := s.connect(ctx); err != nil {
		return nil // ctx ended before the cluster was reached
	}
	return s.pump(ctx, false, nil)
}

// Drain ships until the source has nothing left (TryLease returns nil) and
// every batch is finished, then returns what it did. It returns an error
// wrapping ErrDrainIncomplete when ctx ends first (for example while the
// cluster is down): batches not finished are released, nothing is lost.
// progress, when non-nil, is called after each request (never concurrently).
func (s *Shipper) Drain(ctx context.Context, progress func(Progress)) (Summary, error) {
	if !s.running.CompareAndSwap(false, true) {
		return Summary{}, ErrRunning
	}
	defer s.running.Store(false)
	defer s.httpTr.CloseIdleConnections()
	start := s.cfg.Clock.Now()
	base := s.summary(time.Time{})
	sum := func() Summary { return s.summary(start).minus(base) }
	if err := s.connect(ctx); err != nil {
		return sum(), fmt.Errorf("%w: cluster not reached: %w", ErrDrainIncomplete, err)
	}
	var report func()
	if progress != nil {
		var pmu sync.Mutex
		report = func() {
			pmu.Lock()
			defer pmu.Unlock()
			progress(sum())
		}
	}
	err := s.pump(ctx, true, report)
	if err != nil {
		return sum(), err
	}
	if ctx.Err() != nil {
		return sum(), fmt.Errorf("%w: %w", ErrDrainIncomplete, ctx.Err())
	}
	return sum(), nil
}

func (s *Shipper) summary(start time.Time) Summary {
	sm := Summary{
		Delivered:    s.delivered.Load(),
		Duplicates:   s.duplicates.Load(),
		DeadLettered: s.dead.Load(),
		Retries:      s.retries.Load(),
		Bytes:        s.bytes.Load(),
	}
	if !start.IsZero() {
		sm.Elapsed = s.cfg.Clock.Now().Sub(start)
	}
	return sm
}

func (a Summary) minus(b Summary) Summary {
	return Summary{
		Delivered:    a.Delivered - b.Delivered,
		Duplicates:   a.Duplicates - b.Duplicates,
		DeadLettered: a.DeadLettered - b.DeadLettered,
		Retries:      a.Retries - b.Retries,
		Bytes:        a.Bytes - b.Bytes,
		Elapsed:      a.Elapsed,
	}
}

// connect detects the flavour, installs the template and builds the client
// to ship with, retrying with backoff until it succeeds or ctx ends.
func (s *Shipper) connect(ctx context.Context) error {
	s.mu.Lock()
	connected := s.api != nil
	s.mu.Unlock()
	if connected {
		return nil
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := s.cfg.Clock.Sleep(ctx, s.backoff(attempt, 0)); err != nil {
				return err
			}
		}
		err := s.tryConnect(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.markFailure(err)
		s.log.Warn("shipper: cluster not reachable yet, retrying", "attempt", attempt+1, "err", err)
	}
}

func (s *Shipper) tryConnect(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	f, err := detect(rctx, s.detectT)
	if err != nil {
		return err
	}
	var api esapi.Transport
	var rt http.RoundTripper = s.httpTr
	if f.plainOnly() {
		rt = plainMediaTypes{s.httpTr}
	}
	if f.Distribution == DistElasticsearch {
		c, err := newESClient(s.mc, rt, f.compat())
		if err != nil {
			return err
		}
		api = bodyAware{c}
	} else {
		raw, err := newRawTransport(s.mc, rt)
		if err != nil {
			return err
		}
		api = bodyAware{raw}
	}
	if s.cfg.setup() {
		err := installTemplate(rctx, api, &s.cfg, f)
		var refused *setupRefusedError
		switch {
		case errors.As(err, &refused):
			s.log.Warn("shipper: cannot install the index template; shipping without it", "template", TemplateName(s.cfg), "err", err)
		case err != nil:
			return err
		default:
			s.log.Info("shipper: installed index template", "template", TemplateName(s.cfg))
		}
	}
	s.mu.Lock()
	s.flavor, s.api = f, api
	s.mu.Unlock()
	s.markSuccess()
	s.log.Info("shipper: connected", "flavor", f.String(), "compat", f.compat(), "index", s.cfg.Index, "mode", s.cfg.IndexMode)
	return nil
}

// backoff is the wait before retry attempt n (n >= 1): BackoffInit doubling
// to BackoffMax, with equal jitter, and at least retryAfter.
func (s *Shipper) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := s.cfg.BackoffInit
	for i := 1; i < attempt && d < s.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, s.cfg.BackoffMax)
	half := d / 2
	d = half + time.Duration(rand.Int64N(int64(half)+1))
	return max(d, retryAfter)
}

// pump leases batches and ships them, MaxInFlight requests at a time, until
// ctx ends or (drain) the source is empty.
func (s *Shipper) pump(ctx context.Context, drain bool, report func()) error {
	// In-flight requests may outlive ctx by ShutdownTimeout.
	sendCtx, cancelSend := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSend()
	var shutdownTimer atomic.Pointer[time.Timer]
	stopAfter := context.AfterFunc(ctx, func() {
		shutdownTimer.Store(time.AfterFunc(s.cfg.ShutdownTimeout, cancelSend))
	})
	defer func() {
		stopAfter()
		if t := shutdownTimer.Load(); t != nil {
			t.Stop()
		}
	}()

	sem := make(chan struct{}, s.cfg.MaxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for attempt := 0; ; {
		if n := s.ackFailures.Load(); n > 0 && s.cfg.Clock.Sleep(ctx, s.backoff(int(n), 0)) != nil {
			return nil
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		batches, err := s.assemble(ctx, drain)
		if len(batches) > 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				s.ship(ctx, sendCtx, batches)
				if report != nil {
					report()
				}
			}()
		} else {
			<-sem
		}
		switch {
		case err == nil && len(batches) == 0: // drained
			return nil
		case err == nil:
			attempt = 0
			continue
		case ctx.Err() != nil:
			return nil
		case drain || errors.Is(err, ErrSourceClosed):
			return fmt.Errorf("shipper: leasing records: %w", err)
		}
		attempt++
		s.log.Error("shipper: leasing records failed, retrying", "attempt", attempt, "err", err)
		if s.cfg.Clock.Sleep(ctx, s.backoff(attempt, 0)) != nil {
			return nil
		}
	}
}

// assemble leases the batches of one request: up to BatchBytes, waiting up
// to FlushInterval for more when the first lease is small. In drain mode it
// never waits. On error it returns what it leased so far.
func (s *Shipper) assemble(ctx context.Context, drain bool) ([]Batch, error) {
	limit := s.cfg.BatchBytes
	var first Batch
	var err error
	if drain {
		first, err = s.src.TryLease(limit)
	} else {
		first, err = s.src.Lease(ctx, limit)
	}
	if err != nil || first == nil {
		return nil, err
	}
	batches := []Batch{first}
	total := batchBytes(first)
	if drain {
		for total < limit {
			b, err := s.src.TryLease(limit - total)
			if err != nil || b == nil {
				return batches, err
			}
			batches = append(batches, b)
			total += batchBytes(b)
		}
		return batches, nil
	}
	if total >= limit {
		return batches, nil
	}
	wctx, cancel := context.WithTimeout(ctx, s.cfg.FlushInterval)
	defer cancel()
	for total < limit {
		b, err := s.src.Lease(wctx, limit-total)
		if err != nil {
			if ctx.Err() != nil { // shutting down: not sent, give back
				for _, b := range batches {
					b.Release()
				}
				return nil, ctx.Err()
			}
			if wctx.Err() != nil { // the flush interval is over
				return batches, nil
			}
			return batches, err
		}
		if b == nil {
			return batches, nil
		}
		batches = append(batches, b)
		total += batchBytes(b)
	}
	return batches, nil
}
