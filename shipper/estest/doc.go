// Package estest is an in-process Elasticsearch-compatible HTTP server for
// tests and benchmarks of the shipper, and for scenario tests that point a
// logspool binary at it (see cmd/estest).
//
// It imitates Elasticsearch 8.x (default), Elasticsearch 7.17, OpenSearch
// 2.x and OpenSearch 1.x on the wire: status codes, headers and JSON bodies
// are shaped like the real thing, so a client that works against estest
// should work against a cluster. What is simplified is listed below; a test
// that needs the real behaviour must run against a real cluster.
//
// # Usage
//
//	s := estest.NewServer(estest.Options{Flavor: estest.Elasticsearch7})
//	defer s.Close()
//	// point the client at s.URL()
//	id := s.InjectFault(estest.Fault{Kind: estest.FaultStatus, Status: 429, Count: 2})
//	n, err := s.WaitForCount(ctx, "logs-app-default", 1000)
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
//     the compatible Content-Type when Accept asked for it, and _type is
//     accepted in bulk actions under compatible-with=7. OpenSearch refuses
//     vendor types with 406.
//   - gzip request bodies; gzip responses when the client accepts them over
//     plain HTTP (Elasticsearch's http.compression default; not over TLS).
//   - Unknown query parameters of _bulk are a 400 ("contains unrecognized
//     parameter"); filter_path (including * and **, not exclusions) and
//     pretty apply to every JSON answer; X-Opaque-Id is echoed.
//   - Basic and ApiKey authentication: 401 security_exception with the
//     WWW-Authenticate challenges (OpenSearch: plain "Unauthorized").
//   - _bulk: create/index/update/delete, _index/_id/op_type/if_seq_no/
//     if_primary_term, per-item status, result, _version, _seq_no, _shards,
//     "errors" and "took"; "_type":"_doc" in 7.x and OpenSearch 1.x items;
//     409 version_conflict_engine_exception for create on an existing _id;
//     404 not_found deletes (not an error); document_missing_exception for
//     updates of missing documents; request-level errors for malformed
//     bodies (missing final newline, unknown action, unknown parameter,
//     malformed JSON, validation failures such as a missing index); an
//     action without its source line at the very end of the body is
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
//   - Component templates (composed_of must name existing ones; their
//     mappings apply before the index template's), ingest pipelines stored
//     by PUT /_ingest/pipeline/{id} (a bulk naming an unknown pipeline fails
//     per item with "pipeline with id [x] does not exist"; processors are
//     never run).
//   - index_not_found_exception, resource_already_exists_exception,
//     invalid_index_name_exception, 405 with Allow, "no handler found" 400.
//
// # Simplified
//
//   - One node, one shard per index, primary term 1; _shards always reports
//     total 2 / successful 1; cluster health is green.
//   - Documents are searchable at once (no refresh interval); _search knows
//     match_all, term/match on _id or a field, terms, ids and bool; hits are
//     in indexing order; no sorting, aggregations or scoring.
//   - Scripted updates, pipeline processors, routing, aliases, rollover, ILM, and
//     versioning other than if_seq_no are not implemented (pipeline and
//     routing parameters are accepted and ignored).
//   - Date detection approximates strict_date_optional_time; number coercion
//     accepts any string Go parses as a float.
//   - Index pattern overlap is approximated by literal glob matching.
//   - Error reasons follow the real texts where known; stack-dependent parts
//     (thread pool names, lambda ids) are fixed strings.
//   - Discard mode keeps 128-bit id hashes, not sources: no mapping checks
//     (only JSON syntax and a data stream's @timestamp), updates cannot
//     merge, _search returns no hits.
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
// # Driving it from outside
//
// AdminHandler serves a small JSON API (faults, outage, counts, stats,
// reset) meant for a second listener; cmd/estest runs the server as a
// process with that API, for scenario tests of the logspool binary.
//
// # Guarantees
//
// All methods are safe for concurrent use. Close closes every connection
// and returns after the serving goroutine ended (no goroutine leaks). A
// bulk request is applied atomically with respect to inspection methods.
package estest
