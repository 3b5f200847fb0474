// Package shipper drains the spool into Elasticsearch (7.17, 8.x) or
// OpenSearch (1.x, 2.x) with _bulk, or into a writer as NDJSON (Stdout).
//
// # Data flow
//
// A Shipper leases batches from a Source (the spool, adapted by cmd/logspool;
// the shipper does not import it; Batch states the lease contract),
// combines leases into one _bulk request of up to Config.BatchBytes (a small
// lease waits up to Config.FlushInterval for more), and keeps up to
// Config.MaxInFlight requests outstanding. Each lease is finished on its own,
// in any order, as soon as all of its records are settled:
//
//   - 2xx: delivered. 409: already delivered (a re-send); counted as
//     delivered ("duplicate").
//   - 429, 5xx and es_rejected_execution_exception: only those items are sent
//     again, after exponential backoff with jitter (Config.BackoffInit
//     doubling to Config.BackoffMax), and never sooner than the response's
//     Retry-After.
//   - Any other status (mapper_parsing_exception, ...): dead-lettered. The
//     record and the error text go to Batch.Done(dead), which stores them in
//     the spool's dead-letter area; with Config.DeadLetterIndex set a copy
//     (original document as a string, the error, the time) is also indexed
//     there. Nothing is retried forever, nothing is dropped silently.
//
// A whole request that fails (connection error, timeout, 429, 5xx, 401/403, a
// body that is not JSON, truncated, or whose items do not match the request)
// keeps all its leases and is retried with backoff, without an attempt limit,
// until it succeeds or the shipper stops. A 413 splits the request in halves;
// a single record still too large is dead-lettered, and so is a record with an
// empty document (it would break every request it is in). On shutdown (Run's
// context cancelled) the shipper stops leasing, gives in-flight requests
// Config.ShutdownTimeout, and Releases every lease not finished: the records
// are delivered again after a restart. A lease whose acknowledgement fails
// (Batch.Done returns an error) has been released by the source: its records
// are leased and sent again after a backoff and answered 409.
//
// # Exactly once
//
// Every action is {"create":{"_index":...,"_id":<Record.ID>}}: the id is a
// hash of node, source identity and position, computed by the inputs, so a
// record re-read after a crash or re-sent after a timeout, a reset
// connection, a lost acknowledgement or a restart has the same _id, and
// Elasticsearch answers the second copy with 409, which counts as delivered.
// The one remaining window: a data stream (or an alias) that rolls over to a
// new backing index between the first send and the re-send. _id uniqueness
// is per backing index, so the second copy is then created in the new one and
// the document exists twice. In daily mode the index comes from Record.Time,
// so a re-send lands in the same index; a record without a time (Time == 0)
// uses the current date and can land in the next day's index when re-sent
// across midnight.
//
// # Backpressure and memory
//
// While the cluster is slow or down, batches stay leased in the spool and
// nothing new is leased beyond MaxInFlight requests; the spool fills up to its
// cap and then pauses the readers. Memory is bounded by about MaxInFlight
// requests of BatchBytes of leased records, plus their compressed bodies and
// responses; an uncompressed body is not held besides its records (see
// below). When the
// cluster comes back the backlog drains at full speed, oldest first.
//
// # Cluster flavour
//
// Run first sends GET / (through the module's transport, go-elasticsearch
// estransport) and retries it with backoff for as long as the cluster cannot
// be reached; the spool keeps filling meanwhile. Elasticsearch is then driven
// through the v7 client (elasticsearch.Client), in compatibility mode
// (compatible-with=7 media types) when the major version is 8; version 9,
// which only knows compatible-with=8, gets plain JSON.
// OpenSearch is driven through estransport.Client directly, because the v7
// client's product check refuses it (go-elasticsearch issue 782); any
// compatibility media type (ELASTIC_CLIENT_APIVERSIONING=true in the
// environment) is replaced by plain JSON for it. Several URLs are used
// round-robin; a failing node is skipped (the module retries a failed
// request once per node at once, before the shipper's own backoff).
//
// # Setup
//
// With Config.Setup (default on), a composable index template (named by
// TemplateName, body TemplateBody) is PUT before shipping: priority 200 (the
// built-in "logs" template has 100), index_patterns matching the data stream
// (data_stream enabled) or "<prefix>-*" for daily indices, with ECS mappings:
// date_nanos @timestamp, text message, long log.offset, keyword (ignore_above
// 1024) for the metadata and for every other string; kubernetes.labels,
// kubernetes.annotations and kubernetes.namespace_labels as one field each
// (flattened on Elasticsearch, flat_object on OpenSearch 2.7+, else an object
// of keywords), so that the keys users choose cannot explode the mapping.
// 401/403 or another refusal: a warning, and shipping goes on without it.
//
// # Bulk body encoding
//
// The body is appended into pooled buffers and compressed as
// Config.Compression says (klauspost/compress, pooled writers): gzip at its
// BestSpeed by default, gzip with Huffman coding only, gzip from the
// stateless encoder, gzip at levels 1-9, or none. An uncompressed body is
// not built whole: it is encoded from the leased records in parts of 32 KiB
// as the HTTP transport reads it (its length computed beforehand, so it is
// sent with a Content-Length, byte for byte as a body built whole), and no
// reader touches the records once its request is over. Every compressed mode is
// sent as Content-Encoding: gzip, the one encoding Elasticsearch and
// OpenSearch clients use and both servers accept. A pooled buffer goes back
// to the pool only when
// the HTTP transport has closed every reader over it. A document spread over
// several lines is compacted so it cannot break the NDJSON framing.
//
// # Stdout
//
// Stdout writes each leased batch as NDJSON, flushes, and only then
// acknowledges it. A write error releases the batch and stops the output, and
// so does a failed acknowledgement; the lines of that batch already written
// are written again on the next run, so
// stdout is at-least-once, not exactly-once.
//
// # Tests
//
// The unit tests use an in-memory Source and a small fake cluster; the
// integration tests use internal/estest (faults, flavours, TLS, auth) and the
// real spool. With LOGSPOOL_TEST_ES_URL (and optionally
// LOGSPOOL_TEST_ES_USERNAME, _PASSWORD, _API_KEY, _CA_FILE) the delivery tests
// also run against that cluster, in indices named logs-logspooltest-* and
// logspooltest-* that they delete afterwards. LOGSPOOL_SOAK=1 (or a record
// count) makes the chaos test of exactly-once delivery much longer.
//
// # Metrics
//
// logspool_shipper_items_total{outcome="delivered|duplicate|retried|dead_letter"},
// logspool_shipper_bulk_requests_total{result="ok|error"},
// logspool_shipper_bulk_duration_seconds, logspool_shipper_bulk_bytes_total,
// logspool_shipper_retries_total, logspool_shipper_es_up,
// logspool_shipper_last_success_timestamp_seconds,
// logspool_shipper_inflight_requests.
package shipper
