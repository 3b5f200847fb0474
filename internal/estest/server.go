package estest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Server is an in-process Elasticsearch-compatible HTTP server for tests.
// All methods are safe for concurrent use.
type Server struct {
	opts   Options
	log    *slog.Logger
	scheme string
	major  int
	minor  int
	uuid   string

	lifeMu  sync.Mutex // guards addr, http, serving, closed, outage
	addr    string     // host:port, fixed at the first listen
	http    *http.Server
	serving chan struct{} // closed when the current Serve returns
	outage  bool
	closed  bool

	outageTimer *time.Timer // ends a timed outage (admin API)

	// handlers in flight, so Close and outages return after them
	inflightMu sync.Mutex
	inflight   int
	idle       *sync.Cond

	st     *store
	faults *faultSet

	statMu sync.Mutex
	stats  Stats
	reqLog []Request // ring buffer
	reqPos int
	reqN   int

	infoBody []byte
}

// NewServer starts a server on 127.0.0.1 at a random port. It panics if
// opts is invalid or the listener cannot be opened, like httptest.NewServer;
// use Start for an error instead.
func NewServer(opts Options) *Server {
	s, err := Start(opts)
	if err != nil {
		panic(err)
	}
	return s
}

// Start is NewServer returning an error instead of panicking. addr may be
// empty (127.0.0.1, random port) or a host:port to listen on.
func Start(opts Options) (*Server, error) { return StartOn(opts, "") }

// StartOn is Start listening on addr ("127.0.0.1:0" when empty).
func StartOn(opts Options, addr string) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.setDefaults()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	s := &Server{
		opts:   opts,
		log:    opts.Logger.With("component", "estest", "flavor", opts.Flavor.String()),
		scheme: "http",
		uuid:   randomID(22),
		faults: newFaultSet(opts.Seed),
	}
	s.major, s.minor, _ = parseVersion(opts.Version)
	if opts.TLS != nil {
		s.scheme = "https"
		if opts.RequireClientCert {
			c := opts.TLS.Clone()
			c.ClientAuth = tls.RequireAndVerifyClientCert
			s.opts.TLS = c
		}
	}
	s.st = newStore(s)
	s.idle = sync.NewCond(&s.inflightMu)
	if opts.RequestLog > 0 {
		s.reqLog = make([]Request, opts.RequestLog)
	}
	s.stats.Statuses = map[int]int{}
	s.stats.ItemStatuses = map[int]int{}
	s.infoBody = s.buildInfo()
	if err := s.listen(addr); err != nil {
		return nil, err
	}
	return s, nil
}

// URL returns the base URL, e.g. "http://127.0.0.1:41235". It stays the same
// across outages.
func (s *Server) URL() string {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	return s.scheme + "://" + s.addr
}

// Close stops the server, closes every connection and waits for the serving
// goroutine to end. It is idempotent.
func (s *Server) Close() {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	if s.outageTimer != nil {
		s.outageTimer.Stop()
	}
	s.stopLocked()
}

// SetOutage(true) makes the server unreachable: the listener is closed (new
// connections are refused) and every open connection is closed. SetOutage
// (false) listens again on the same port. Returns an error when the port
// cannot be bound again within a few seconds or the server is closed.
func (s *Server) SetOutage(down bool) error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.closed {
		return errors.New("estest: server closed")
	}
	if down == s.outage {
		return nil
	}
	if down {
		s.stopLocked()
		s.outage = true
		s.log.Info("outage started", "addr", s.addr)
		return nil
	}
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for {
		err = s.listenLocked(s.addr)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("estest: ending outage on %s: %w", s.addr, err)
	}
	s.outage = false
	s.log.Info("outage ended", "addr", s.addr)
	return nil
}

func (s *Server) listen(addr string) error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	return s.listenLocked(addr)
}

func (s *Server) listenLocked(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("estest: listening on %s: %w", addr, err)
	}
	s.addr = ln.Addr().String()
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		// Elasticsearch speaks HTTP/1.1 only.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	if s.opts.TLS != nil {
		hs.TLSConfig = s.opts.TLS
		ln = tls.NewListener(ln, s.opts.TLS)
	}
	done := make(chan struct{})
	s.http, s.serving = hs, done
	go func() {
		defer close(done)
		_ = hs.Serve(ln)
	}()
	return nil
}

func (s *Server) stopLocked() {
	if s.http == nil {
		return
	}
	_ = s.http.Close()
	<-s.serving
	s.http, s.serving = nil, nil
	// Closing the connections cancels the handlers' contexts; wait for
	// them so no goroutine of the server outlives Close.
	s.inflightMu.Lock()
	for s.inflight > 0 {
		s.idle.Wait()
	}
	s.inflightMu.Unlock()
}

// ServeHTTP implements http.Handler; the server can also be mounted in
// another mux or httptest.Server.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.inflightMu.Lock()
	s.inflight++
	s.inflightMu.Unlock()
	defer func() {
		s.inflightMu.Lock()
		s.inflight--
		if s.inflight == 0 {
			s.idle.Broadcast()
		}
		s.inflightMu.Unlock()
	}()
	rw := &recorder{ResponseWriter: w}
	ex := &exchange{s: s, w: rw, r: r, start: time.Now()}
	if !s.opts.Flavor.IsOpenSearch() {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
	}
	if id := r.Header.Get("X-Opaque-Id"); id != "" {
		w.Header().Set("X-Opaque-Id", id)
	}
	s.serve(ex)
	if !ex.finished {
		s.finish(ex)
	}
}

// exchange is one request in flight.
type exchange struct {
	s         *Server
	w         *recorder
	r         *http.Request
	ep        Endpoint
	wireBytes int64
	gzipBody  bool
	fault     string
	hijacked  bool
	acceptV   int  // compatible-with version from Accept, 0 if none
	processed bool // the request reached its handler
	body      []byte
	bodyRead  bool
	postDone  bool // post-processing faults were consulted
	start     time.Time
	finished  bool // counted and logged (a reset is, before its connection closes)
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(p)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) serve(ex *exchange) {
	r := ex.r
	ex.ep = classify(r)
	if !s.checkMediaTypes(ex) {
		return
	}
	if !s.authenticate(ex) {
		return
	}
	if !s.applyPreFaults(ex) {
		return
	}
	s.route(ex)
}

func (s *Server) finish(ex *exchange) {
	start := ex.start
	status := ex.w.status
	if ex.hijacked {
		status = 0
	}
	s.statMu.Lock()
	s.stats.Requests++
	if status != 0 {
		s.stats.Statuses[status]++
	} else {
		s.stats.Resets++
	}
	if ex.gzipBody {
		s.stats.GzipRequests++
	}
	if s.reqLog != nil {
		s.reqLog[s.reqPos] = Request{
			Time:      start,
			Method:    ex.r.Method,
			Path:      ex.r.URL.Path,
			RawQuery:  ex.r.URL.RawQuery,
			Header:    ex.r.Header.Clone(),
			BodyBytes: ex.wireBytes,
			Gzip:      ex.gzipBody,
			Status:    status,
			Fault:     ex.fault,
		}
		s.reqPos = (s.reqPos + 1) % len(s.reqLog)
		if s.reqN < len(s.reqLog) {
			s.reqN++
		}
	}
	s.statMu.Unlock()
	s.log.Debug("request", "method", ex.r.Method, "path", ex.r.URL.Path, "status", status,
		"bytes", ex.wireBytes, "fault", ex.fault, "took", time.Since(start))
}

// authenticate enforces basic or API-key authentication when configured.
func (s *Server) authenticate(ex *exchange) bool {
	if s.opts.Username == "" && s.opts.APIKey == "" {
		return true
	}
	h := ex.r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	cred = strings.TrimSpace(cred)
	switch {
	case h == "":
		s.unauthorized(ex, "missing authentication credentials for REST request ["+requestURI(ex.r)+"]")
		return false
	case strings.EqualFold(scheme, "Basic") && s.opts.Username != "":
		raw, err := base64.StdEncoding.DecodeString(cred)
		if err == nil {
			u, p, _ := strings.Cut(string(raw), ":")
			if u == s.opts.Username && subtle.ConstantTimeCompare([]byte(p), []byte(s.opts.Password)) == 1 {
				return true
			}
			s.unauthorized(ex, "unable to authenticate user ["+u+"] for REST request ["+requestURI(ex.r)+"]")
			return false
		}
	case strings.EqualFold(scheme, "ApiKey") && s.opts.APIKey != "":
		want := base64.StdEncoding.EncodeToString([]byte(s.opts.APIKey))
		if subtle.ConstantTimeCompare([]byte(cred), []byte(want)) == 1 {
			return true
		}
		s.unauthorized(ex, "unable to authenticate with provided credentials and anonymous access is not allowed for this request")
		return false
	}
	s.unauthorized(ex, "unable to authenticate with provided credentials and anonymous access is not allowed for this request")
	return false
}

func (s *Server) unauthorized(ex *exchange, reason string) {
	if s.opts.Flavor.IsOpenSearch() {
		// The OpenSearch security plugin answers in plain text.
		ex.w.Header().Set("WWW-Authenticate", `Basic realm="OpenSearch Security"`)
		ex.w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		ex.w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(ex.w, "Unauthorized")
		return
	}
	challenges := []string{`Basic realm="security" charset="UTF-8"`}
	if s.major >= 8 {
		challenges = append(challenges, `Bearer realm="security"`)
	}
	challenges = append(challenges, "ApiKey")
	for _, c := range challenges {
		ex.w.Header().Add("WWW-Authenticate", c)
	}
	e := &esError{Type: "security_exception", Reason: reason,
		Header: map[string][]string{"WWW-Authenticate": challenges}}
	s.writeError(ex, http.StatusUnauthorized, e)
}

func forbidden(action, user string) *esError {
	if user == "" {
		user = "logspool"
	}
	return &esError{Type: "security_exception",
		Reason: "action [" + action + "] is unauthorized for user [" + user + "] with effective roles [logspool_writer], this action is granted by the cluster privileges [manage_index_templates,manage,all]"}
}

// checkMediaTypes validates Content-Type and Accept the way Elasticsearch
// does (RestController, RestCompatibleVersionHelper) and remembers a
// requested compatible-with version.
func (s *Server) checkMediaTypes(ex *exchange) bool {
	r := ex.r
	ct, accept := r.Header.Get("Content-Type"), r.Header.Get("Accept")
	hasContent := r.ContentLength != 0 && r.Method != http.MethodGet && r.Method != http.MethodHead ||
		r.ContentLength > 0
	notAcceptable := func(reason string) bool {
		ex.w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		s.writeRaw(ex, http.StatusNotAcceptable, simpleErrorBody(reason, http.StatusNotAcceptable))
		return false
	}
	if hasContent {
		if ct == "" {
			return notAcceptable("Content-Type header is missing")
		}
		mt := strings.ToLower(strings.TrimSpace(strings.SplitN(ct, ";", 2)[0]))
		switch mt {
		case "application/json", "application/x-ndjson", "application/yaml", "application/cbor", "application/smile":
		case "application/vnd.elasticsearch+json", "application/vnd.elasticsearch+x-ndjson",
			"application/vnd.elasticsearch+yaml", "application/vnd.elasticsearch+cbor", "application/vnd.elasticsearch+smile":
			if s.opts.Flavor.IsOpenSearch() { // forked before vendor media types
				return notAcceptable("Content-Type header [" + ct + "] is not supported")
			}
		default:
			return notAcceptable("Content-Type header [" + ct + "] is not supported")
		}
	}
	if s.opts.Flavor.IsOpenSearch() {
		return true
	}
	aV, aOK := vendorVersion(accept)
	cV, cOK := vendorVersion(ct)
	current := s.major
	acceptVersion, ctVersion := current, current
	if aOK {
		acceptVersion = aV
	}
	if cOK {
		ctVersion = cV
	}
	bad := func(reason string) bool {
		s.writeError(ex, http.StatusBadRequest, &esError{Type: "media_type_header_exception",
			Reason:   "Invalid media-type value on headers [Accept, Content-Type]",
			CausedBy: &esError{Type: "status_exception", Reason: reason}})
		return false
	}
	minimum := current - 1
	if current < 8 {
		minimum = current // 7.x knows compatible-with=7 only
	}
	if acceptVersion > current || acceptVersion < minimum {
		return bad("Accept version must be either version " + itoa(current) + " or " + itoa(minimum) + ", but found " + itoa(acceptVersion) + ". Accept=" + accept)
	}
	if hasContent {
		if ctVersion > current || ctVersion < minimum {
			return bad("Content-Type version must be either version " + itoa(current) + " or " + itoa(minimum) + ", but found " + itoa(ctVersion) + ". Content-Type=" + ct)
		}
		if ctVersion != acceptVersion {
			return bad("A compatible version is required on both Content-Type and Accept headers if either one has requested a compatible version and the compatible versions must match. Accept=" + accept + ", Content-Type=" + ct)
		}
		if aOK != cOK {
			return bad("A compatible version is required on both Content-Type and Accept headers if either one has requested a compatible version. Accept=" + accept + ", Content-Type=" + ct)
		}
	}
	if aOK {
		ex.acceptV = aV
	}
	return true
}

// vendorVersion returns N of an application/vnd.elasticsearch+...;
// compatible-with=N media type.
func vendorVersion(h string) (int, bool) {
	if !strings.Contains(strings.ToLower(h), "application/vnd.elasticsearch+") {
		return 0, false
	}
	return compatVersion(h)
}

// compatVersion extracts N from "...;compatible-with=N".
func compatVersion(h string) (int, bool) {
	i := strings.Index(strings.ToLower(h), "compatible-with=")
	if i < 0 {
		return 0, false
	}
	rest := h[i+len("compatible-with="):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	v, err := strconv.Atoi(rest[:j])
	return v, err == nil
}

// readBody reads the (possibly gzip-compressed) request body within the
// size limit. On failure it has written the error response.
func (s *Server) readBody(ex *exchange) ([]byte, bool) {
	if ex.bodyRead {
		return ex.body, true
	}
	body, ok := s.readBodyOnce(ex)
	if ok {
		ex.body, ex.bodyRead = body, true
	}
	return body, ok
}

func (s *Server) readBodyOnce(ex *exchange) ([]byte, bool) {
	r := ex.r
	cr := &countingReader{r: r.Body}
	var src io.Reader = cr
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	switch enc {
	case "", "identity":
	case "gzip", "x-gzip":
		ex.gzipBody = true
		zr, err := gzip.NewReader(cr)
		if err != nil {
			ex.wireBytes = cr.n
			s.writeError(ex, http.StatusBadRequest, illegalArgument("failed to decompress request body: "+err.Error()))
			return nil, false
		}
		defer zr.Close()
		src = zr
	default:
		s.writeError(ex, http.StatusBadRequest, illegalArgument("unsupported Content-Encoding ["+enc+"]"))
		return nil, false
	}
	limit := s.opts.MaxBodyBytes
	var buf bytes.Buffer
	if n := r.ContentLength; n > 0 && n <= limit {
		if ex.gzipBody {
			n *= 4 // a guess at the compression ratio
		}
		buf.Grow(int(min(n, limit)) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(io.LimitReader(src, limit+1))
	body := buf.Bytes()
	ex.wireBytes = cr.n
	if err != nil {
		if ex.gzipBody {
			s.writeError(ex, http.StatusBadRequest, illegalArgument("failed to decompress request body: "+err.Error()))
		} else {
			ex.w.WriteHeader(http.StatusBadRequest)
		}
		return nil, false
	}
	if int64(len(body)) > limit {
		s.writeRaw(ex, http.StatusRequestEntityTooLarge, nil)
		return nil, false
	}
	return body, true
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// writeError writes a request-level Elasticsearch error.
func (s *Server) writeError(ex *exchange, status int, e *esError) {
	s.writeJSON(ex, status, requestErrorBody(e, status))
}

// writeJSON writes a JSON body with the flavour's headers, compressing it
// when the client accepts gzip and compression is on.
func (s *Server) writeJSON(ex *exchange, status int, body []byte) {
	if ex.processed && !ex.postDone {
		ex.postDone = true
		if f := s.faults.pick(ex.ep, FaultResetAfterStore, FaultTruncatedBody, FaultSlowResponse); f != nil {
			ex.fault = f.Kind.String()
			switch f.Kind {
			case FaultResetAfterStore:
				s.hijackAndReset(ex)
				return
			case FaultTruncatedBody:
				body = body[:len(body)/2]
			case FaultSlowResponse:
				sleepCtx(ex.r.Context(), f.Latency)
			}
		}
	}
	if len(ex.r.URL.RawQuery) > 0 {
		body = applyResponseParams(ex.r.URL.Query(), body)
	}
	h := ex.w.Header()
	if ex.acceptV != 0 {
		h.Set("Content-Type", "application/vnd.elasticsearch+json;compatible-with="+strconv.Itoa(ex.acceptV))
	} else {
		h.Set("Content-Type", "application/json; charset=UTF-8")
	}
	s.writeRaw(ex, status, body)
}

func (s *Server) writeRaw(ex *exchange, status int, body []byte) {
	h := ex.w.Header()
	if ex.r.Method == http.MethodHead {
		h.Set("Content-Length", strconv.Itoa(len(body)))
		ex.w.WriteHeader(status)
		return
	}
	if len(body) > 0 && s.compress(ex.r) {
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
		zw := gzipWriters.Get().(*gzip.Writer)
		var buf strings.Builder
		zw.Reset(&buf)
		_, _ = zw.Write(body)
		_ = zw.Close()
		gzipWriters.Put(zw)
		h.Set("Content-Length", strconv.Itoa(buf.Len()))
		ex.w.WriteHeader(status)
		_, _ = io.WriteString(ex.w, buf.String())
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	ex.w.WriteHeader(status)
	_, _ = ex.w.Write(body)
}

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return w
}}

func (s *Server) compress(r *http.Request) bool {
	switch s.opts.CompressResponses {
	case CompressNever:
		return false
	case CompressDefault:
		if s.opts.TLS != nil {
			return false
		}
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(name, "gzip") {
			return true
		}
	}
	return false
}

// hijackAndReset takes over the connection and closes it with a TCP RST,
// so the client sees a transport error and no response.
func (s *Server) hijackAndReset(ex *exchange) {
	conn, _, err := http.NewResponseController(ex.w).Hijack()
	if err != nil {
		s.log.Warn("hijacking connection for a reset fault", "err", err)
		return
	}
	ex.hijacked = true
	raw := conn
	if tc, ok := conn.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	// Counted and logged before the client can see the reset, so that what
	// it does next (a retry, a look at the stats) comes after it.
	s.finish(ex)
	ex.finished = true
	_ = conn.Close()
}

func requestURI(r *http.Request) string {
	if r.URL.RawQuery != "" {
		return r.URL.Path + "?" + r.URL.RawQuery
	}
	return r.URL.Path
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// randomID returns n characters of URL-safe base64 randomness.
func randomID(n int) string {
	b := make([]byte, (n*6+7)/8+1)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

// hasTypes reports whether the flavour still shows mapping types ("_type":
// "_doc" in items and hits; "[_doc][id]" in reasons): Elasticsearch 7 and
// OpenSearch 1.
func (s *Server) hasTypes() bool {
	if s.opts.Flavor.IsOpenSearch() {
		return s.major < 2
	}
	return s.major < 8
}
