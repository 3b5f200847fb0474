package estest

import (
	"math/rand"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FaultKind says what an injected fault does.
type FaultKind int

const (
	// FaultStatus answers the request with Fault.Status (default 503) and
	// the body Elasticsearch (or, for 502 and 504, a proxy) sends, without
	// storing anything. With RetryAfter set the response carries a
	// Retry-After header.
	FaultStatus FaultKind = iota + 1
	// FaultItemStatus fails single bulk items with Fault.Status (default
	// 429 es_rejected_execution_exception) while the rest of the request
	// succeeds; failed items are not stored. Items are chosen by IDs, by
	// Fraction, or all; Count limits the number of items failed.
	FaultItemStatus
	// FaultResetBeforeStore reads the request body, stores nothing, and
	// closes the connection with a TCP reset instead of answering.
	FaultResetBeforeStore
	// FaultResetAfterStore processes and stores the request, then closes
	// the connection with a TCP reset instead of answering: the client sees
	// a transport error although the documents were indexed.
	FaultResetAfterStore
	// FaultLatency delays the request by Fault.Latency before it is
	// handled (cut short if the client gives up). It combines with other
	// faults.
	FaultLatency
	// FaultGarbageBody answers 200 with a body that is not JSON (Fault.Body
	// or an HTML page, as from a misconfigured proxy) and stores nothing.
	FaultGarbageBody
	// FaultTruncatedBody stores the documents and answers 200 with the real
	// JSON response cut in half (Content-Length matches the cut body).
	FaultTruncatedBody
	// FaultForbidden answers 403 security_exception as for a user without
	// the privilege (by default on the index template endpoints). On the
	// bulk endpoint it fails items instead, as missing index privileges do
	// (chosen like FaultItemStatus).
	FaultForbidden
	// FaultFloodStage fails bulk items with 429 cluster_block_exception, as
	// Elasticsearch does when the disk passed the flood-stage watermark and
	// the index got a read-only-allow-delete block. Items are chosen like
	// FaultItemStatus (IDs, Fraction, Count).
	FaultFloodStage
	// FaultSlowResponse processes and stores the request, then waits
	// Fault.Latency before answering (or until the client gives up): the
	// client's timeout fires although the documents were indexed.
	FaultSlowResponse
)

var faultNames = map[FaultKind]string{
	FaultStatus: "status", FaultItemStatus: "item-status", FaultResetBeforeStore: "reset-before-store",
	FaultResetAfterStore: "reset-after-store", FaultLatency: "latency", FaultGarbageBody: "garbage-body",
	FaultTruncatedBody: "truncated-body", FaultForbidden: "forbidden", FaultFloodStage: "flood-stage",
	FaultSlowResponse: "slow-response",
}

// String returns the kind's name ("status", "reset-after-store", ...).
func (k FaultKind) String() string {
	if n, ok := faultNames[k]; ok {
		return n
	}
	return "fault(" + strconv.Itoa(int(k)) + ")"
}

// Endpoint classifies requests for fault matching.
type Endpoint int

const (
	// EndpointDefault means EndpointBulk, or EndpointIndexTemplate for
	// FaultForbidden.
	EndpointDefault Endpoint = iota
	// EndpointBulk is POST/PUT /_bulk and /{index}/_bulk.
	EndpointBulk
	// EndpointAny matches every request.
	EndpointAny
	// EndpointInfo is GET and HEAD /.
	EndpointInfo
	// EndpointIndexTemplate is /_index_template and /_index_template/{name}.
	EndpointIndexTemplate
	// EndpointOther is everything else.
	EndpointOther
)

func classify(r *http.Request) Endpoint {
	p := strings.Trim(r.URL.Path, "/")
	if p == "" {
		return EndpointInfo
	}
	segs := strings.Split(p, "/")
	last := segs[len(segs)-1]
	switch {
	case last == "_bulk":
		return EndpointBulk
	case segs[0] == "_index_template":
		return EndpointIndexTemplate
	}
	return EndpointOther
}

// Fault is one injected misbehaviour, described as data. The zero values of
// the optional fields mean: every matching request (or item), forever,
// on the bulk endpoint.
type Fault struct {
	Kind FaultKind
	// Endpoint restricts the fault to a class of requests; see Endpoint.
	Endpoint Endpoint
	// Status is the HTTP status for FaultStatus (default 503) and the item
	// status for FaultItemStatus (default 429). FaultStatus knows 400, 401,
	// 403, 404, 413, 429, 500, 502, 503 and 504 bodies; others get a
	// generic exception body.
	Status int
	// RetryAfter, when positive, adds "Retry-After: <seconds>" (rounded up)
	// to FaultStatus responses.
	RetryAfter time.Duration
	// Count is how many times the fault fires (requests, or items for
	// FaultItemStatus); zero means unlimited.
	Count int
	// Fraction, in (0,1), is the probability that a matching request (or
	// item) is affected; zero or 1 means always. Choices come from a PRNG
	// seeded by Options.Seed.
	Fraction float64
	// IDs restricts FaultItemStatus to items with these _id values.
	IDs []string
	// Latency is the delay of FaultLatency.
	Latency time.Duration
	// Body replaces the response body of FaultStatus and FaultGarbageBody.
	Body string
}

// FaultID identifies an injected fault.
type FaultID int

type activeFault struct {
	id    FaultID
	f     Fault
	ids   map[string]bool
	fired int
}

type faultSet struct {
	mu     sync.Mutex
	rng    *rand.Rand
	next   FaultID
	active []*activeFault
	fired  map[FaultID]int // survives removal
}

func newFaultSet(seed int64) *faultSet {
	return &faultSet{rng: rand.New(rand.NewSource(seed)), fired: map[FaultID]int{}}
}

// InjectFault adds a fault; faults are consulted in the order injected and
// the first request-level fault that fires decides the response (latency
// faults add up and combine with others). It returns an id for Fired and
// RemoveFault.
func (s *Server) InjectFault(f Fault) FaultID {
	if f.Endpoint == EndpointDefault {
		if f.Kind == FaultForbidden {
			f.Endpoint = EndpointIndexTemplate
		} else {
			f.Endpoint = EndpointBulk
		}
	}
	fs := s.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.next++
	af := &activeFault{id: fs.next, f: f}
	if len(f.IDs) > 0 {
		af.ids = make(map[string]bool, len(f.IDs))
		for _, id := range f.IDs {
			af.ids[id] = true
		}
	}
	fs.active = append(fs.active, af)
	s.log.Info("fault injected", "id", int(af.id), "kind", f.Kind.String(), "status", f.Status, "count", f.Count, "fraction", f.Fraction)
	return af.id
}

// ClearFaults removes every injected fault (not an outage).
func (s *Server) ClearFaults() {
	fs := s.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.active = nil
}

// Fired returns how many times the fault fired (requests, or items for
// FaultItemStatus).
func (s *Server) Fired(id FaultID) int {
	fs := s.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.fired[id]
}

// take decides under fs.mu whether af fires once more and counts it.
func (fs *faultSet) take(af *activeFault) bool {
	if af.f.Count > 0 && af.fired >= af.f.Count {
		return false
	}
	if af.f.Fraction > 0 && af.f.Fraction < 1 && fs.rng.Float64() >= af.f.Fraction {
		return false
	}
	af.fired++
	fs.fired[af.id]++
	return true
}

func matches(f *Fault, ep Endpoint) bool {
	return f.Endpoint == EndpointAny || f.Endpoint == ep
}

// pick returns the first request-level fault of the given kinds that fires
// for ep, and the summed latency of firing latency faults when withLatency.
func (fs *faultSet) pick(ep Endpoint, kinds ...FaultKind) *Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, af := range fs.active {
		if !matches(&af.f, ep) {
			continue
		}
		for _, k := range kinds {
			if af.f.Kind == k && fs.take(af) {
				f := af.f
				return &f
			}
		}
	}
	return nil
}

func (fs *faultSet) latency(ep Endpoint) time.Duration {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var d time.Duration
	for _, af := range fs.active {
		if af.f.Kind == FaultLatency && matches(&af.f, ep) && fs.take(af) {
			d += af.f.Latency
		}
	}
	return d
}

// itemFaults is a snapshot of the active item faults for one bulk request.
type itemFaults struct {
	fs  *faultSet
	afs []*activeFault
}

func (fs *faultSet) itemFaults() *itemFaults {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var afs []*activeFault
	for _, af := range fs.active {
		if (af.f.Kind == FaultItemStatus || af.f.Kind == FaultFloodStage || af.f.Kind == FaultForbidden) && matches(&af.f, EndpointBulk) {
			afs = append(afs, af)
		}
	}
	if afs == nil {
		return nil
	}
	return &itemFaults{fs: fs, afs: afs}
}

// check returns the status an item with this id must fail with and the
// kind of fault, or 0.
func (it *itemFaults) check(id string) (int, FaultKind) {
	if it == nil {
		return 0, 0
	}
	it.fs.mu.Lock()
	defer it.fs.mu.Unlock()
	for _, af := range it.afs {
		if af.ids != nil && !af.ids[id] {
			continue
		}
		if it.fs.take(af) {
			switch {
			case af.f.Kind == FaultForbidden:
				return http.StatusForbidden, af.f.Kind
			case af.f.Status == 0 || af.f.Kind == FaultFloodStage:
				return http.StatusTooManyRequests, af.f.Kind
			}
			return af.f.Status, af.f.Kind
		}
	}
	return 0, 0
}

// applyPreFaults applies latency and the faults that act before the
// request is handled. It reports whether handling should continue.
func (s *Server) applyPreFaults(ex *exchange) bool {
	if d := s.faults.latency(ex.ep); d > 0 {
		ex.fault = "latency"
		// Reading the body first lets the server notice a client that
		// hangs up during the delay.
		if _, ok := s.readBody(ex); !ok {
			return false
		}
		sleepCtx(ex.r.Context(), d)
	}
	kinds := []FaultKind{FaultStatus, FaultForbidden, FaultResetBeforeStore, FaultGarbageBody}
	if ex.ep == EndpointBulk {
		// Missing index privileges fail bulk items, not the request.
		kinds = []FaultKind{FaultStatus, FaultResetBeforeStore, FaultGarbageBody}
	}
	f := s.faults.pick(ex.ep, kinds...)
	if f == nil {
		return true
	}
	ex.fault = f.Kind.String()
	switch f.Kind {
	case FaultResetBeforeStore:
		_, _ = s.readBody(ex)
		s.hijackAndReset(ex)
	case FaultGarbageBody:
		_, _ = s.readBody(ex)
		body := f.Body
		if body == "" {
			body = "<html>\r\n<head><title>200 OK</title></head>\r\n<body>\r\n<center><h1>It works!</h1></center>\r\n</body>\r\n</html>\r\n"
		}
		ex.w.Header().Set("Content-Type", "text/html")
		s.writeRaw(ex, http.StatusOK, []byte(body))
	case FaultForbidden:
		_, _ = s.readBody(ex)
		s.writeError(ex, http.StatusForbidden, forbidden(actionName(ex), s.opts.Username))
	case FaultStatus:
		_, _ = s.readBody(ex)
		s.writeStatusFault(ex, f)
	}
	return false
}

func actionName(ex *exchange) string {
	switch ex.ep {
	case EndpointIndexTemplate:
		return "indices:admin/index_template/put"
	case EndpointBulk:
		return "indices:data/write/bulk"
	case EndpointInfo:
		return "cluster:monitor/main"
	}
	return "indices:admin/create"
}

func (s *Server) writeStatusFault(ex *exchange, f *Fault) {
	status := f.Status
	if status == 0 {
		status = http.StatusServiceUnavailable
	}
	if f.RetryAfter > 0 {
		secs := int64((f.RetryAfter + time.Second - 1) / time.Second)
		ex.w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	if f.Body != "" {
		ex.w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		s.writeRaw(ex, status, []byte(f.Body))
		return
	}
	var e *esError
	switch status {
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		// These come from a proxy in front of the cluster, not from
		// Elasticsearch: an HTML body and no product header.
		ex.w.Header().Del("X-Elastic-Product")
		ex.w.Header().Set("Content-Type", "text/html")
		text := strconv.Itoa(status) + " " + http.StatusText(status)
		s.writeRaw(ex, status, []byte("<html>\r\n<head><title>"+text+"</title></head>\r\n<body>\r\n<center><h1>"+text+"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"))
		return
	case http.StatusTooManyRequests:
		e = rejectedExecution()
		if s.opts.Flavor.IsOpenSearch() {
			e.Type = "rejected_execution_exception"
		}
	case http.StatusServiceUnavailable:
		e = &esError{Type: "cluster_block_exception", Reason: "blocked by: [SERVICE_UNAVAILABLE/2/no master];"}
	case http.StatusInternalServerError:
		e = &esError{Type: "exception", Reason: "estest: injected internal server error"}
	case http.StatusUnauthorized:
		s.unauthorized(ex, "unable to authenticate with provided credentials and anonymous access is not allowed for this request")
		return
	case http.StatusForbidden:
		e = forbidden(actionName(ex), s.opts.Username)
	case http.StatusNotFound:
		e = indexNotFound("estest-injected")
	case http.StatusRequestEntityTooLarge:
		s.writeRaw(ex, status, nil)
		return
	case http.StatusBadRequest:
		e = illegalArgument("estest: injected bad request")
	default:
		e = &esError{Type: "exception", Reason: "estest: injected status " + strconv.Itoa(status)}
	}
	s.writeError(ex, status, e)
}

// itemFaultError builds the error object of a bulk item failed by a fault.
func (s *Server) itemFaultError(status int, kind FaultKind, index string) *esError {
	if kind == FaultForbidden {
		user := s.opts.Username
		if user == "" {
			user = "logspool"
		}
		return &esError{Type: "security_exception",
			Reason: "action [indices:data/write/bulk[s]] is unauthorized for user [" + user + "] with effective roles [logspool_writer] on indices [" + index + "], this action is granted by the index privileges [create_doc,create,index,write,all]"}
	}
	if kind == FaultFloodStage {
		return &esError{Type: "cluster_block_exception",
			Reason: "index [" + index + "] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];"}
	}
	switch status {
	case http.StatusTooManyRequests:
		e := rejectedItem()
		if s.opts.Flavor.IsOpenSearch() {
			e.Type = "rejected_execution_exception"
		}
		return e
	case http.StatusServiceUnavailable:
		return &esError{Type: "unavailable_shards_exception",
			Reason: "[" + index + "][0] primary shard is not active Timeout: [1m], request: [BulkShardRequest [[" + index + "][0]] containing [1] requests]"}
	case http.StatusBadRequest:
		return illegalArgument("estest: injected item failure")
	case http.StatusNotFound:
		return indexNotFound(index)
	}
	return &esError{Type: "exception", Reason: "estest: injected item status " + strconv.Itoa(status)}
}
