package testlogs

import (
	"fmt"
	"strconv"
	"time"
)

// state is a generator's workload state: its pools of values and counters.
type state struct {
	w         Workload
	clients   []string // client addresses, by popularity
	lbs       []string // load balancer health checkers
	upstreams []string // backend pod addresses
	local     string   // the pod's own address
	node      string   // the node's address (kubelet probes)
	host      string   // the pod's host name
	pid       int
	users     int // size of the user id space
	machine   [5]byte
	counter   uint32 // xid counter
	offset    uint64 // Kafka offsets, resource versions: counters that only grow
	sess      session
	run       run
}

// session is a client that makes a few requests in a row, as browsers and
// API clients do: the same address, user agent, user and referer.
type session struct {
	left    int
	client  string
	ua      string
	referer string
	user    int
	port    int // the client's source port: one keep-alive connection
	port2   int // the sidecar's own outbound connection
}

func newState(r *rng, w Workload) *state {
	s := &state{w: w, pid: 1 + r.n(40), users: 20_000 + r.n(200_000), counter: uint32(r.n(1 << 24)), offset: 48_000_000 + uint64(r.n(1_000_000))}
	for range 300 {
		s.clients = append(s.clients, ip(r))
	}
	for range 3 {
		s.lbs = append(s.lbs, "10.0."+strconv.Itoa(r.n(4))+"."+strconv.Itoa(2+r.n(250)))
	}
	for range 12 {
		s.upstreams = append(s.upstreams, "10.244."+strconv.Itoa(r.n(64))+"."+strconv.Itoa(2+r.n(250))+":8080")
	}
	s.local = "10.244." + strconv.Itoa(r.n(64)) + "." + strconv.Itoa(2+r.n(250))
	s.node = "10.0." + strconv.Itoa(r.n(4)) + "." + strconv.Itoa(2+r.n(250))
	s.host = "checkout-" + strconv.FormatUint(r.u64()%1e9, 36) + "-" + strconv.FormatUint(r.u64()%1e7, 36)
	m := r.u64()
	for i := range s.machine {
		s.machine[i] = byte(m >> (8 * i))
	}
	return s
}

func ip(r *rng) string {
	switch r.n(4) {
	case 0:
		return "10.244." + strconv.Itoa(r.n(64)) + "." + strconv.Itoa(2+r.n(250))
	case 1:
		return "192.168." + strconv.Itoa(r.n(4)) + "." + strconv.Itoa(2+r.n(250))
	default:
		return strconv.Itoa(20+r.n(200)) + "." + strconv.Itoa(r.n(256)) + "." + strconv.Itoa(r.n(256)) + "." + strconv.Itoa(1+r.n(254))
	}
}

// session returns the current client session, starting a new one when the
// last is over.
func (s *state) session(r *rng) *session {
	if s.sess.left <= 0 {
		s.sess = session{
			left: 2 + r.n(6) + 3*r.geometric(), client: pick(r, s.clients), ua: pick(r, userAgents),
			referer: pick(r, referers), user: r.skew(s.users, 2), port: 32768 + r.n(28000), port2: 32768 + r.n(28000),
		}
	}
	s.sess.left--
	return &s.sess
}

// event appends the next event of the workload to ev.
func (s *state) event(g *Generator, ev *event) {
	switch s.w {
	case Nginx:
		s.nginx(g, ev)
	case Envoy:
		s.envoy(g, ev)
	case Logfmt:
		s.logfmt(g, ev)
	case Klog:
		s.klog(g, ev)
	case JSON:
		s.json(g, ev)
	case Java:
		s.java(g, ev)
	default:
		s.python(g, ev)
	}
}

// appTime is the application's own clock for the event: a little before the
// runtime read the line.
func (g *Generator) appTime() time.Time {
	return time.Unix(0, g.now-int64(g.r.n(300_000))).UTC()
}

// sizeOf is the response size of a path: fixed for most paths (the same
// page is the same size), varying for the rest.
func sizeOf(r *rng, path []byte) int {
	h := uint64(len(path))
	for _, c := range path {
		h = h*31 + uint64(c)
	}
	if r.n(4) == 0 {
		return r.heavy(3000)
	}
	return 200 + int(mix64(h)%20_000)
}

// run is the context a few consecutive events share: one request, one
// reconcile of an object, one browsing session. Real logs come in such runs,
// which is much of why they compress as well as they do.
type run struct {
	left   int
	id     uint64 // request, trace or reconcile id
	xid    []byte
	method string
	path   []byte
	user   int
	status int
	ms     int
	kind   string
	ns     string
	name   string
	file   string
	line   int
	thread string
	class  string
	cart   int
}

// next returns a fresh value of the line counter (a sequence number, offset
// or resource version: unique per line, growing).
func (s *state) next(r *rng) uint64 {
	s.offset += uint64(1 + r.n(3))
	return s.offset
}

// newRun starts a run of n more events.
func (s *state) newRun(g *Generator, n int) *run {
	r := &g.r
	s.run = run{
		left: n, id: g.uid(), method: pick(r, httpMethods), path: s.path(r, s.run.path[:0]), user: s.session(r).user,
		status: pick(r, statuses), ms: r.heavy(30), kind: pick(r, kinds), ns: pick(r, []string{"shop", "payments", "ml", "ingress-nginx", "monitoring"}),
		name: pick(r, services), file: pick(r, klogFiles), line: 40 + 8*r.n(40), thread: pick(r, javaThreads), class: pick(r, javaClasses),
		cart: 100_000 + r.n(900_000), xid: appendXID(s.run.xid[:0], s, g.appTime()),
	}
	return &s.run
}

func (s *state) nginx(g *Generator, ev *event) {
	r := &g.r
	at := g.appTime()
	l := ev.begin()
	switch n := r.n(1000); {
	case n < 30:
		path := s.path(r, nil)
		l.t(at, "2006/01/02 15:04:05").s(" [error] ").i(s.pid + 30).c('#').i(s.pid + 30).s(": *").u(s.next(r)).
			s(anyOf(r, []string{
				" upstream timed out (110: Operation timed out) while reading response header from upstream",
				" connect() failed (111: Connection refused) while connecting to upstream",
				" upstream prematurely closed connection while reading response header from upstream",
			})).s(", client: ").s(pick(r, s.clients)).s(`, server: shop.example.com, request: "GET `).s(string(path)).
			s(` HTTP/1.1", upstream: "http://`).s(anyOf(r, s.upstreams)).s(string(path)).s(`", host: "shop.example.com"`).end("stderr")
		return
	case n < 250:
		// The cloud load balancer's health checks, through ingress-nginx's
		// default log-format-upstream.
		l.s(anyOf(r, s.lbs)).s(" - - [").t(at, "02/Jan/2006:15:04:05 -0700").
			s(`] "GET /healthz HTTP/1.1" 200 2 "-" "ELB-HealthChecker/2.0" 134 0.00`).i(r.n(2)).
			s(" [upstream-default-backend] [] 127.0.0.1:8181 2 0.00").i(r.n(2)).s(" 200 ").hex128(g.uid()).end("stdout")
		return
	}
	// A browser loads a page, then its assets.
	ss := s.session(r)
	var path []byte
	status, ms := 200, r.heavy(30)
	if ss.left < 2 {
		path = s.path(r, nil)
		status = pick(r, statuses)
	} else {
		path = []byte(anyOf(r, assets))
		ms = r.n(3)
	}
	size := sizeOf(r, path)
	l.s(ss.client).s(" - - [").t(at, "02/Jan/2006:15:04:05 -0700").s(`] "GET `).s(string(path)).
		s(` HTTP/2.0" `).i(status).c(' ').i(size).s(` "`).s(ss.referer).s(`" "`).s(ss.ua).
		s(`" `).i(len(ss.ua) + len(path) + 300).c(' ').secs(ms).s(" [shop-frontend-8080] [] ").
		s(s.upstreams[ss.user%len(s.upstreams)]).c(' ').i(size).c(' ').secs(max(ms-r.n(2), 0)).c(' ').i(status).c(' ').hex128(g.uid()).end("stdout")
}

var assets = []string{"/static/js/app.3f9a1c2e.js", "/static/js/vendor.3f9a1c2e.js", "/static/css/main.77c1a0d4.css", "/favicon.ico", "/static/img/logo.svg"}

// path appends a request path with its query to b.
func (s *state) path(r *rng, b []byte) []byte {
	p := func(x ...string) []byte {
		for _, v := range x {
			b = append(b, v...)
		}
		return b
	}
	switch r.skew(10, 2) {
	case 0:
		return p("/api/v1/products/", strconv.Itoa(r.skew(60_000, 3)))
	case 1:
		return p("/api/v1/cart")
	case 2:
		return p("/api/v2/search?q=", pick(r, words), "+", pick(r, words), "&page=", strconv.Itoa(1+r.skew(20, 3)), "&sort=relevance")
	case 3:
		return p("/api/v1/cart/items")
	case 4:
		return p("/api/v1/recommendations?limit=20&currency=", pick(r, currencies))
	case 5:
		return p("/api/v1/orders/", strconv.Itoa(5_000_000+r.n(1_000_000)), "/status")
	case 6:
		return p("/graphql")
	case 7:
		return p("/api/v1/session/refresh")
	case 8:
		return p("/api/v1/products/", strconv.Itoa(r.skew(60_000, 3)), "/reviews?page=", strconv.Itoa(1+r.skew(30, 3)))
	default:
		return p("/api/v1/checkout")
	}
}

func (s *state) envoy(g *Generator, ev *event) {
	r := &g.r
	at := g.appTime()
	l := ev.begin()
	if r.chance(20) {
		// Envoy's own log, tab-separated as istio-proxy writes it.
		l.t(at, "2006-01-02T15:04:05.000000Z").s(anyOf(r, []string{
			"\twarning\tenvoy config external/envoy/source/extensions/config_subscription/grpc/grpc_stream.h:193\t[C",
			"\twarning\tenvoy upstream external/envoy/source/common/upstream/health_checker_impl.cc:357\t[C",
		})).u(s.next(r)).s("] StreamAggregatedResources gRPC config stream to xds-grpc closed since ").i(r.heavy(60)).
			s("s ago: 14, connection error: desc = \"transport: Error while dialing: dial tcp 10.96.0.15:15012: i/o timeout\"\tthread=").i(14 + r.n(4)).end("stderr")
		return
	}
	// Envoy's default access log format (Istio's TEXT encoding): a request
	// in, and the requests it makes to other services out.
	ss := s.session(r)
	svc := services[ss.user%len(services)]
	path := s.path(r, nil)
	status := pick(r, statuses)
	ms := r.heavy(12)
	method := pick(r, httpMethods)
	l = l.c('[').t(at, "2006-01-02T15:04:05.000Z").s(`] "`).s(method).c(' ').s(string(path)).s(` HTTP/1.1" `).i(status)
	switch {
	case status >= 500 && r.n(2) == 0:
		l = l.s(` UF upstream_reset_before_response_started{connection_failure} - "-" 0 `)
	case method == "GET" || method == "HEAD" || method == "DELETE":
		l = l.s(` - via_upstream - "-" 0 `)
	default:
		l = l.s(` - via_upstream - "-" `).i(r.skew(800, 3)).c(' ')
	}
	l = l.i(sizeOf(r, path)).c(' ').i(ms).c(' ').i(max(ms-r.n(2), 0)).s(` "`).s(ss.client).s(`" "`).s(ss.ua).s(`" "`).uuid(g.uid()).
		s(`" "`).s(svc).s(`.shop.svc.cluster.local:8080" "`).s(s.upstreams[ss.user%len(s.upstreams)])
	if r.n(2) == 0 {
		l = l.s(`" outbound|8080||`).s(svc).s(".shop.svc.cluster.local ").s(s.local).c(':').i(ss.port2).
			s(" 10.96.").i(ss.user % 64).s(".7:8080 - default")
	} else {
		l = l.s(`" inbound|8080|| 127.0.0.6:`).i(ss.port).c(' ').s(s.local).s(":8080 ").s(ss.client).
			s(" outbound_.8080_._.").s(svc).s(".shop.svc.cluster.local default")
	}
	l.end("stdout")
}

func (s *state) logfmt(g *Generator, ev *event) {
	r := &g.r
	at := g.appTime()
	if r.chance(2) {
		s.goPanic(g, ev)
		return
	}
	l := ev.begin().s("time=").t(at, "2006-01-02T15:04:05.000Z07:00")
	if n := r.n(100); n < 25 || s.run.left > 0 {
		// A request: started, a few steps, served; one request id.
		q := &s.run
		switch {
		case q.left == 0:
			q = s.newRun(g, 2+r.n(3))
			l = l.s(` level=INFO msg="request started" method=`).s(q.method).s(" path=").s(string(q.path)).
				s(" remote=").s(s.sess.client)
		case q.left == 1:
			l = l.s(` level=INFO msg="request served" method=`).s(q.method).s(" path=").s(string(q.path)).
				s(" status=").i(q.status).s(" dur=").dur(q.ms*1000 + r.n(1000)).s(" bytes=").i(sizeOf(r, q.path))
		default:
			l = l.s(anyOf(r, []string{` level=DEBUG msg="cache hit" key=order:`, ` level=DEBUG msg="fetched from database" table=orders id=`})).
				i(q.cart)
		}
		q.left--
		l.s(" request_id=").s(string(q.xid)).s(" user_id=").i(q.user).s(" seq=").u(s.next(r)).s(logfmtAttrs).end("stderr")
		return
	} else if n < 60 {
		l = l.s(` level=DEBUG msg="health check" db=ok redis=ok kafka=ok seq=`).u(s.next(r))
	} else if n < 80 {
		l = l.s(` level=INFO msg="ledger batch committed" entries=`).i(r.skew(500, 2)).s(" seq=").u(s.next(r))
	} else if n < 93 {
		l = l.s(` level=WARN msg="slow query" query="SELECT id, status, amount_cents FROM payments WHERE order_id = $1 AND status = ANY($2)" dur=`).
			dur(200_000+r.heavy(400_000)).s(" rows=").i(r.n(40)).s(" request_id=").xid(s, at)
	} else {
		l = l.s(` level=ERROR msg="capture failed" err="`).json(pick(r, goErrors)).s(`" order_id=`).i(5_000_000+r.n(1_000_000)).
			s(" attempt=").i(1+r.geometric()).s(" request_id=").xid(s, at)
	}
	l.s(logfmtAttrs).end("stderr")
}

// logfmtAttrs are the attributes the service's logger adds to every line.
const logfmtAttrs = " service=payments-api version=1.8.3 env=production region=eu-west-1"

// goPanic is a Go runtime panic with its goroutine dump, on stderr.
func (s *state) goPanic(g *Generator, ev *event) {
	r := &g.r
	line := func(parts ...string) {
		l := ev.begin()
		for _, p := range parts {
			l = l.s(p)
		}
		l.end("stderr")
	}
	line("panic: runtime error: invalid memory address or nil pointer dereference")
	line("[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x6d2f1a]")
	line("")
	line("goroutine ", strconv.FormatUint(s.next(r), 10), " [running]:")
	for _, f := range goFrames[:3+r.n(len(goFrames)-3)] {
		line(f.fn)
		line("\t", f.file)
	}
	for range r.n(3) {
		line("")
		line("goroutine ", strconv.Itoa(1+r.n(200)), " [IO wait]:")
		line("internal/poll.runtime_pollWait(0x7f2b8c1e5eb8, 0x72)")
		line("\t/usr/local/go/src/runtime/netpoll.go:351 +0x85")
		line("net.(*netFD).Read(0xc00028a000, {0xc0002e2000, 0x1000, 0x1000})")
		line("\t/usr/local/go/src/net/fd_posix.go:55 +0x25")
	}
}

func (s *state) klog(g *Generator, ev *event) {
	r := &g.r
	at := g.appTime()
	q := &s.run
	first := q.left <= 0
	if first {
		q = s.newRun(g, 3+r.n(6))
	}
	q.left--
	n := r.n(100)
	lvl := "I"
	switch {
	case first:
	case n >= 94:
		lvl = "E"
	case n >= 80:
		lvl = "W"
	}
	l := ev.begin().s(lvl).t(at, "0102 15:04:05.000000").s("       1 ").s(q.file).c(':').i(q.line + 8*r.n(3)).s("] ")
	switch {
	case lvl == "E":
		l = l.s(`"Reconciler error" err="Operation cannot be fulfilled on `).lower(q.kind).s(`s.cert-manager.io \"`).s(q.name).
			s(`-tls\": the object has been modified; please apply your changes to the latest version and try again" controller="`)
	case lvl == "W":
		l.s("k8s.io/client-go@v0.31.2/tools/cache/reflector.go:243: watch of *v1.").s(q.kind).
			s(` ended with: an error on the server ("unable to decode an event from the watch stream: http2: client connection lost") has prevented the request from succeeding (resourceVersion `).
			u(s.next(r)).c(')').end("stderr")
		return
	case first:
		l = l.s(`"Reconciling" controller="`)
	default:
		l = l.s(anyOf(r, []string{`"Updated status" controller="`, `"Skipping: object is up to date" controller="`, `"Found secret" controller="`, `"Issuing certificate" controller="`}))
	}
	l.lower(q.kind).s(`" `).s(q.kind).s(`="{\"name\":\"`).s(q.name).
		s(`-tls\",\"namespace\":\"`).s(q.ns).s(`\"}" namespace="`).s(q.ns).s(`" name="`).s(q.name).s(`-tls" reconcileID="`).uuid(q.id).
		s(`" resourceVersion="`).u(s.next(r)).c('"').end("stderr")
}

func (s *state) json(g *Generator, ev *event) {
	r := &g.r
	at := g.appTime()
	q := &s.run
	n := r.n(1000)
	level := "info"
	switch {
	case q.left > 0:
	case n >= 975:
		level = "error"
	case n >= 935:
		level = "warn"
	case n >= 850:
		level = "debug"
	}
	logger, caller := "checkout.http", "http/server.go:214"
	if q.left == 0 && level == "info" && n < 400 {
		logger, caller = "checkout.kafka", "kafka/consumer.go:302"
	}
	l := ev.begin().s(`{"level":"`).s(level).s(`","ts":"`).t(at, "2006-01-02T15:04:05.000Z07:00").s(`","logger":"`).
		s(logger).s(`","caller":"`).s(caller).s(`","service":"checkout","env":"production","hostname":"`).
		s(s.host).s(`","msg":"`)
	switch level {
	case "error":
		l = l.s(`payment authorization failed","error":"`).json(pick(r, goErrors)).s(`","order_id":`).i(5_000_000 + r.n(1_000_000)).
			s(`,"trace_id":"`).hex128(g.uid()).s(`","stacktrace":"`)
		for _, f := range goFrames[:2+r.n(len(goFrames)-2)] {
			l = l.json(f.fn + "\n\t" + f.file + "\n")
		}
		l = l.c('"')
	case "debug":
		if r.n(dumpOdds) == 0 {
			l = l.s(`upstream response","body":"`)
			l = appendPayload(r, l, 20<<10+r.n(40<<10))
			l = l.s(`","seq":`).u(s.next(r))
			break
		}
		l = l.s(`cache refreshed","entries":`).i(r.skew(5000, 2)).s(`,"seq":`).u(s.next(r))
	case "warn":
		l = l.s(`retrying request","attempt":`).i(1+r.geometric()).s(`,"url":"http://`).s(pick(r, services)).
			s(`.shop.svc.cluster.local:8080/api/v1/`).s(pick(r, words)).s(`","error":"`).json(pick(r, goErrors)).
			s(`","request_id":"`).xid(s, at).c('"')
	default:
		if q.left == 0 && n < 400 {
			l = l.s(`message consumed","topic":"orders","partition":`).i(r.n(12)).s(`,"offset":`).u(s.next(r)).s(`,"lag":`).i(r.geometric())
			break
		}
		// A request: received, a step or two, completed.
		first := q.left == 0
		if first {
			q = s.newRun(g, 2+r.n(3))
		}
		q.left--
		switch {
		case first:
			l = l.s(`request received","method":"`).s(q.method).s(`","path":"`).s(string(q.path)).s(`","user_id":"u_`).i(q.user)
			if r.n(4) == 0 {
				l = l.s(`","customer":"`).json(pick(r, intlWords)).c(' ').s(pick(r, words)).s(`","note":"`).json("deliver to \"back door\"\tring twice\\")
			}
			l = l.c('"')
		case q.left == 0:
			l = l.s(`request completed","method":"`).s(q.method).s(`","path":"`).s(string(q.path)).s(`","status":`).i(q.status).
				s(`,"latency_ms":`).i(q.ms)
		default:
			l = l.s(anyOf(r, []string{"order placed", "address validated", "email queued", "cart merged"})).s(`","cart_id":`).i(q.cart)
		}
		l = l.s(`,"seq":`).u(s.next(r))
		if q.id%5 < 2 {
			l = l.s(`,"trace_id":"`).hex128(q.id).c('"')
		} else {
			l = l.s(`,"request_id":"`).s(string(q.xid)).c('"')
		}
	}
	l.c('}').end("stdout")
}

// appendPayload appends about n bytes of an escaped JSON document in a JSON
// string: the shape of a logged HTTP response body. It is ASCII, so the
// runtime's 16 KiB splits never cut a character.
func appendPayload(r *rng, l lb, n int) lb {
	end := len(l.ev.buf) + n
	l = l.s(`{\"items\":[`)
	for i := 0; len(l.ev.buf) < end; i++ {
		if i > 0 {
			l = l.c(',')
		}
		l = l.s(`{\"id\":`).i(r.n(1_000_000)).s(`,\"name\":\"`).s(pick(r, words)).c(' ').s(pick(r, words)).
			s(`\",\"price\":`).i(r.heavy(3000)).s(`,\"currency\":\"`).s(pick(r, currencies)).s(`\",\"stock\":`).i(r.n(500)).c('}')
	}
	return l.s(`]}`)
}

func (s *state) java(g *Generator, ev *event) {
	r := &g.r
	at := g.appTime()
	q := &s.run
	failed := q.left <= 0 && r.chance(60)
	if q.left <= 0 {
		q = s.newRun(g, 2+r.n(4))
	}
	q.left--
	l := ev.begin().t(at, "2006-01-02T15:04:05.000Z07:00")
	switch {
	case failed:
		l = l.s(" ERROR ")
	case r.chance(80):
		l = l.s("  WARN ")
	default:
		l = l.s("  INFO ")
	}
	l = l.i(s.pid).s(" --- [cart-service] [").pad(q.thread, 15).s("] ")
	if q.id%10 < 3 {
		l = l.c('[').hex128(q.id).c('-').hex64(mix64(q.id + 1)).s("] ")
	} else {
		l = l.s("[                                                 ] ")
	}
	l = l.pad(q.class, -40).s(" : ")
	if failed {
		q.left = 0
		ex := pick(r, javaExceptions)
		l.s("Servlet.service() for servlet [dispatcherServlet] in context with path [] threw exception [Request processing failed: ").
			s(ex.class).s("] with root cause (request ").u(s.next(r)).c(')').end("stdout")
		trace := func(x string) { ev.begin().s(x).end("stdout") }
		trace("")
		// A message with a newline in it goes on as lines of the trace.
		first, rest, _ := cut(fmt.Sprintf(ex.msg, r.n(100)), '\n')
		trace(ex.class + ": " + first)
		if rest != "" {
			trace(rest)
		}
		from := r.skew(12, 2)
		to := min(len(javaFrames), from+8+r.n(len(javaFrames)-from))
		for _, f := range javaFrames[from:to] {
			trace("\tat " + f)
		}
		if r.n(3) == 0 {
			trace("Caused by: java.net.SocketTimeoutException: Read timed out")
			trace("\tat java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:278)")
			trace("\tat java.base/sun.nio.ch.NioSocketImpl.implRead(NioSocketImpl.java:304)")
			trace("\t... " + strconv.Itoa(to-from) + " common frames omitted")
		}
		return
	}
	switch r.n(4) {
	case 0:
		l = l.s("Added product ").i(r.skew(60_000, 3)).s(" to cart ").i(q.cart).s(" (qty=").i(1 + r.geometric()).s(", user=").i(q.user).s(") request ").u(s.next(r))
	case 1:
		l = l.s("HikariPool-1 - Pool stats (total=10, active=").i(r.n(11)).s(", idle=").i(r.n(11)).s(", waiting=").i(r.geometric()).
			s(") seq=").u(s.next(r))
	case 2:
		l = l.s("Price lookup for cart ").i(q.cart).s(" took ").i(r.heavy(25)).s(" ms (cache hit ratio 0.").i(10 + r.n(90)).
			s(") request ").u(s.next(r))
	default:
		l = l.s("Published CartUpdated event for cart ").i(q.cart).s(" to topic cart-events partition ").i(q.cart % 12).s(" offset ").u(s.next(r))
	}
	l.end("stdout")
}

func (s *state) python(g *Generator, ev *event) {
	r := &g.r
	at := g.appTime()
	q := &s.run
	l := ev.begin()
	switch n := r.n(1000); {
	case q.left > 0: // the app's line about the request gunicorn logged
		q.left--
		l.t(at, "2006-01-02 15:04:05,000").s(" INFO [recommender.views:48] [pid=12 thread=ThreadPoolExecutor-0_").i(r.n(8)).s("] served ").i(r.n(50)).s(" items for user ").
			i(q.user).s(" in ").i(q.ms).s("ms (model=v41, segment=").s(pick(r, words)).s(") request_id=").s(string(q.xid)).end("stderr")
	case n < 250: // kubelet's probes through gunicorn's access log
		l.s(s.node).s(" - - [").t(at, "02/Jan/2006:15:04:05 -0700").
			s(`] "GET /healthz HTTP/1.1" 200 15 "-" "kube-probe/1.31" `).xid(s, at).end("stdout")
	case n < 960: // gunicorn's access log
		q = s.newRun(g, 1)
		ss := &s.sess
		l.s(ss.client).s(" - - [").t(at, "02/Jan/2006:15:04:05 -0700").s(`] "GET /recommendations/?user=`).i(q.user).
			s("&limit=").i(anyOf(r, []int{10, 20, 50})).s(` HTTP/1.1" `).i(q.status).c(' ').i(r.heavy(1500)).
			s(` "-" "`).s(ss.ua).s(`" `).s(string(q.xid)).end("stdout")
	default: // an error with its traceback
		l.t(at, "2006-01-02 15:04:05,000").s(" ERROR [django.request] Internal Server Error: /recommendations/ request_id=").
			hex64(g.uid()).end("stderr")
		line := func(x string) { ev.begin().s(x).end("stderr") }
		line("Traceback (most recent call last):")
		for _, f := range pyFrames[:3+r.n(len(pyFrames)-2)] {
			line(`  File "` + f.file + ", in " + f.fn)
			line("    " + f.code)
		}
		line(fmt.Sprintf(pick(r, pyErrors), r.n(100_000)))
	}
}

// cut is strings.Cut for one byte.
func cut(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// dumpOdds: one JSON debug event in dumpOdds is a payload dump (debug lines
// are about 4.5% of the JSON workload's events, so about 1 event in 20,000: 1 in
// 18,900 measured over 2,000,000 events; 1 in 80,000 of Mixed). Tests lower it.
var dumpOdds = 840
