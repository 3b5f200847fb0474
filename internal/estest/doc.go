// Package estest is an in-process Elasticsearch-compatible HTTP server for
// the tests and benchmarks of the shipper and of cmd/logspool (whose tests
// point the logspool binary at it). It lives under internal/ because it is
// test support for the whole module, not part of the shipper.
//
// It answers the three calls the shipper makes, GET /, PUT
// /_index_template/{name} and _bulk, and nothing else ("no handler found"):
// it has the size of what the tests prove. It imitates Elasticsearch 8.x
// (default), Elasticsearch 7.17, OpenSearch 2.x and OpenSearch 1.x on the
// wire: status codes, headers and JSON bodies are shaped like the real
// thing, so a client that works against estest should work against a
// cluster. What is simplified is listed below; a test that needs the real
// behaviour must run against a real cluster (LOGSPOOL_TEST_ES_URL, see the
// shipper's doc).
//
// # Usage
//
//	s := estest.NewServer(estest.Options{Flavor: estest.Elasticsearch7})
//	defer s.Close()
//	// point the client at s.URL()
//	id := s.InjectFault(estest.Fault{Kind: estest.FaultStatus, Status: 429, Count: 2})
//	... s.Count("logs-*"), s.Docs("idx"), s.Has("idx", id), s.DuplicateCreates(),
//	    s.Stats(), s.Requests(), s.Fired(id) ...
//
// Index arguments of the inspection methods are index expressions: a name,
// a data stream (its backing indices), comma-separated lists and wildcards.
//
// # Faithful
//
//   - GET / info document per flavour (version, build_flavor, lucene_version,
//     minimum_*_compatibility_version, tagline; "distribution":"opensearch"
//     for OpenSearch), so the go-elasticsearch v7 client's product check
//     passes for Elasticsearch and fails for OpenSearch as it does for real.
//   - "X-Elastic-Product: Elasticsearch" on every response of the
//     Elasticsearch flavours, never on OpenSearch.
//   - Media types: a body without Content-Type or with an unsupported one is
//     406; the vendor types application/vnd.elasticsearch+json and
//     +x-ndjson with compatible-with=N are accepted for N = major or major-1
//     on 8.x (7 on 7.17), Accept and Content-Type must agree when a body is
//     sent (400 media_type_header_exception otherwise), the answer carries
//     the compatible Content-Type when Accept asked for it. OpenSearch
//     refuses vendor types with 406.
//   - gzip request bodies; gzip responses when the client accepts them over
//     plain HTTP (Elasticsearch's http.compression default; not over TLS).
//   - Unknown query parameters of _bulk are a 400 ("contains unrecognized
//     parameter"); filter_path (including * and **, not exclusions) and
//     pretty apply to every JSON answer; X-Opaque-Id is echoed.
//   - Basic and ApiKey authentication: 401 security_exception with the
//     WWW-Authenticate challenges (OpenSearch: plain "Unauthorized").
//   - _bulk: create and index actions with _index, _id and op_type,
//     per-item status, result, _version, _seq_no, _shards, "errors" and
//     "took"; "_type":"_doc" in 7.x and OpenSearch 1.x items; 409
//     version_conflict_engine_exception for create on an existing _id;
//     request-level errors for malformed bodies (missing final newline,
//     malformed action lines, validation failures such as a missing index);
//     an action without its source line at the very end of the body is
//     dropped, as Elasticsearch does.
//   - Dynamic mapping per index (text+keyword, long, float, boolean, date by
//     date detection, object; dotted field names expand to objects) with
//     mapper_parsing_exception (7.x, OpenSearch) or document_parsing_exception
//     with [line:col] (8.8+) on a conflicting value, metadata fields inside a
//     document, and the total fields limit (1000 by default).
//   - Composable index templates (highest priority wins, same-priority
//     overlap refused), the built-in logs-*-*, metrics-*-*, synthetics-*-*
//     data stream templates of the Elasticsearch flavours, data streams with
//     backing index .ds-<name>-<yyyy.MM.dd>-000001, create-only writes and
//     the mandatory @timestamp.
//   - invalid_index_name_exception, 405 with Allow, "no handler found" 400.
//
// # Simplified
//
//   - One node, one shard per index, primary term 1; _shards always reports
//     total 2 / successful 1.
//   - Only the calls above: no search, count, get, index or data stream
//     management, component templates or ingest pipelines (a user template
//     with composed_of is refused as naming missing components; the built-in
//     ones carry their @timestamp mapping themselves); the inspection
//     methods below are how tests read what was stored.
//   - Bulk action lines are read in the one shape the shipper writes
//     ({"create"|"index":{"k":"string",...}}); update and delete actions,
//     if_seq_no, pipeline and _type are refused as malformed; routing,
//     require_alias and require_data_stream are accepted and ignored.
//   - Date detection approximates strict_date_optional_time; number coercion
//     accepts any string Go parses as a float.
//   - Index pattern overlap is approximated by literal glob matching.
//   - Error reasons follow the real texts where known; stack-dependent parts
//     (thread pool names, lambda ids) are fixed strings.
//   - Discard mode keeps 128-bit id hashes, not sources: no mapping checks
//     (only JSON syntax and a data stream's @timestamp).
//
// # Faults
//
// Faults are data (Fault) injected with InjectFault, consulted in order,
// limited by Count and Fraction (seeded PRNG, reproducible): request-level
// statuses (429 with Retry-After, 500, 502/504 as from a proxy, 503),
// per-item statuses (429 es_rejected_execution_exception by id or fraction,
// 503 unavailable shards, 400), the flood-stage disk block (per-item 429
// cluster_block_exception), connection resets before and after storing,
// latency before handling, a slow answer after storing, garbage and
// truncated bodies, 403 security_exception on index templates (or per item
// on _bulk, as missing index privileges do). SetOutage closes the listener
// and every connection and later listens again on the same port.
//
// # Guarantees
//
// All methods are safe for concurrent use. Close closes every connection
// and returns after the serving goroutine ended (no goroutine leaks). A
// bulk request is applied atomically with respect to inspection methods.
package estest
