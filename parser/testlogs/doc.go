// Package testlogs generates production-like Kubernetes container logs for
// benchmarks and tests: the bytes a container runtime writes under
// /var/log/pods, in docker json-file or CRI format, deterministic from a seed.
//
// It is test support: import it from _test.go files only, never from the
// production binary (TestNotInTheBinary checks `go list -deps` of
// cmd/logspool). It imports nothing of logspool, so the tests of every
// package may use it.
//
// # What a node's logs look like here
//
// Each Container runs one Workload, which fixes the shape of what it writes:
//
//	Nginx    ingress-nginx access lines (its default log-format-upstream, random $req_id),
//	         load-balancer health checks, error lines on stderr
//	Envoy    Istio sidecar access lines (Envoy's default format, x-request-id UUIDs), warnings
//	Logfmt   a Go service logging logfmt (log/slog), requests of a few lines sharing an xid
//	         request id, health checks, a rare panic with its goroutine dump
//	Klog     a controller logging klog with controller-runtime's structured values: runs of
//	         lines about one object sharing a reconcileID, watch warnings, reconciler errors
//	JSON     a service logging JSON (zap style) with escapes and unicode, requests sharing a
//	         trace or request id, Kafka consumer lines, an escaped stack trace in errors, and
//	         rarely (1 event in 20,000) a 20-60 KiB payload dump
//	Java     a Spring Boot 3 service (its console pattern with trace ids) with multi-line
//	         Java stack traces ("\tat ..." frames, "Caused by:")
//	Python   gunicorn access lines, kubelet probes, Django app lines, multi-line tracebacks
//	Mixed    blocks of 16-127 events from one workload after another, by the share each has
//	         on the node (nginx 18%, json 20%, logfmt 15%, klog 14%, java 13%, envoy 10%,
//	         python 10% of events): one file standing for a node, for single-file benchmarks
//
// Node(seed, n) returns n containers in the rotation nginx, json, logfmt,
// java, envoy, klog, python, json, with kubelet-style pod names, UIDs and
// container ids, so that a benchmark can lay out /var/log/pods and
// /var/log/containers as the kubelet does.
//
// Every event (one log call of the application) carries an id of its own:
// a sequence number, Kafka offset, resource version, connection number, xid
// (github.com/rs/xid: time, machine, counter) or a random request or trace
// id, so no two events are alike. The lines of one request or reconcile
// share its request id as well, and the continuation lines of a multi-line
// event (stack frames, goroutine dumps, traceback lines) have no id of their
// own, as in real logs.
//
// Values vary the way production values do: clients, paths and user agents
// drawn with a skew from pools, browser sessions of several requests from one
// client, response sizes fixed per path most of the time, latencies and sizes
// from long-tailed distributions. Lines average 339 bytes in docker json-file
// and 294 in CRI for Node(1, 8) (messages of 40 bytes to a few KiB). Messages
// over 16 KiB are split into partial lines (docker: a "log" without the
// final "\n"; CRI: the P tag) as dockerd and containerd do.
//
// # Compressibility, and how it was chosen
//
// Real container logs shrink 6-9 times with S2 (github.com/klauspost/compress/s2,
// the spool's codec, default level, on 256 KiB blocks, the tailer's batch);
// measured the same way, this machine's dpkg.log shrinks 7.7 times and its
// apt term.log 5.2 times.
// The generator was tuned to the lower half of that range, since each event
// carries an id of its own: the docker json-file files of Node(1, 8) shrink
// 6.7 times, the CRI files 6.0 times (nginx 4.8 and envoy 5.2, with their
// random request ids, up to JSON 8.9). TestCompressionRatio pins it. What got
// it there from the 4x of independent random lines is what real logs have:
// runs of lines about one request or object, sessions, constant logger
// fields, and multi-line traces. The old benchmark lines shrank 17 times,
// which hid the cost of every byte the spool and the shipper move.
//
// # Format details kept as the runtimes write them
//
// docker json-file: {"log":"...\n","stream":"stdout","time":"..."} with the
// time in RFC 3339 with exactly 9 fraction digits, and the "log" string
// escaped as dockerd does (", \, control characters, and <, >, & as
// \u003c \u003e \u0026). CRI: "<time> <stream> <P|F> <message>" with
// RFC 3339 nano time (trailing zeros trimmed, as containerd's time.RFC3339Nano).
package testlogs
