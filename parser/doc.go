// Package parser turns the physical lines of Kubernetes container log files
// into records: it decodes docker json-file and CRI (containerd, CRI-O) lines,
// joins partial lines, attaches Kubernetes metadata taken from the file's path
// and encodes each message as an ECS JSON document.
//
// # Formats
//
// A Decoder detects the file's format from its first non-empty line, and each
// line by its first byte: '{' is docker json-file
//
//	{"log":"hello\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}
//
// (optionally with "attrs"), a digit is CRI
//
//	2024-05-01T10:00:00.123456789Z stdout F hello
//
// with any RFC 3339 timestamp (years 0000 to 9999, fraction of any length,
// "Z" or a ±hh:mm offset). A file that mixes both is decoded line by line.
//
// # Timestamps outside @timestamp's range
//
// The index template maps @timestamp as date_nanos, which Elasticsearch
// stores as nanoseconds since the epoch in a signed long: it refuses a
// document whose @timestamp is before 1970-01-01 or after
// 2262-04-11T23:47:16.854775807Z. A line whose timestamp is valid RFC 3339
// but outside that range (docker's zero time 0001-01-01T00:00:00Z, a clock
// set to 1960 or 2300) is decoded like any other (message, stream, joins);
// its @timestamp is the time it was read, the runtime's timestamp is kept
// as written in log.original_time (at most 64 bytes), and the record is
// flagged "timestamp_out_of_range" and counted under that reason in
// logspool_parser_malformed_lines_total.
//
// # Line ends
//
// The runtimes split a program's output at '\n' and write the rest as is,
// so a program that ends its lines with "\r\n" leaves a '\r' at the end of
// each CRI message. One '\r' at the end of a complete CRI message (after
// joining) is dropped, as Filebeat's and Fluent Bit's line readers drop
// "\r\n"; a '\r' anywhere else is content.
//
// # Partial lines
//
// CRI "P" lines are joined until the "F" line of the same stream; docker
// lines whose "log" does not end in "\n" (docker splits at 16 KiB) are joined
// until one does, and that final "\n" is not part of the message. Runtimes
// interleave stdout and stderr partials in one file, so each stream has its own
// pending buffer. A joined message takes the timestamp of its first line; its
// record ID is record.FileID(NodeName, FileKey, start offset of its first
// physical line) and log.offset is that same offset, so a re-read after a
// restart reproduces the same ID and Elasticsearch's op_type=create drops the
// duplicate.
//
// Pending reports the offset a re-read must start from while messages are
// pending: the smallest start of the pending messages, moved back to the
// start of any completed multi-line message of another stream that straddles
// it (resuming in the middle of such a message would ship its tail as a
// message of its own). The tailer must not checkpoint past it. Flush emits
// every pending partial, flagged "partial", for a file released for good.
// A Decoder must see a file's lines in order; after a restart the tailer
// re-reads from the stored offset with a new Decoder, which reproduces the
// records of a continuous read: the same IDs, and the same documents except
// for malformed lines (their @timestamp is the reading time, and a line of
// neither format is reported against the format seen first in the read).
// Records re-emitted that way are duplicates by ID, which Elasticsearch's
// op_type=create turns into 409s.
//
// At most 8 streams can have a message pending (runtimes write two; the
// bound only matters for hostile docker files); a ninth flushes the oldest
// pending message, flagged "partial".
//
// # Limits
//
// A message longer than Config.MaxLineBytes is cut (at a UTF-8 boundary),
// flagged "truncated", counted in logspool_parser_truncated_messages_total
// and the cut bytes are added to Config.CutBytes. It is emitted as soon as it
// is cut; the remaining physical lines of that message are skipped until its
// final line and never merged into the next message. The message stays
// pending (Pending reports its start) until that final line, so that a
// re-read emits the same truncated record again rather than the tail as a new
// message. A line the tailer cut (Line.Truncated) flags its message
// "truncated" the same way.
//
// # Malformed input is never dropped
//
// A line that is not valid JSON, a JSON object without a "log" string, a CRI
// line without the "<time> <stream> <P|F>" header (stream stdout or stderr),
// or a line with an unparsable timestamp is shipped as a record whose message
// is the raw line, whose log.flags name the reason ("invalid_json",
// "malformed_cri", "invalid_timestamp") and whose @timestamp is the time it
// was read. It is counted in logspool_parser_malformed_lines_total{reason}.
// A malformed line never joins or ends a pending message. A docker line the
// tailer cut, whose JSON is therefore incomplete, ships the head of its "log"
// value (flagged "truncated") when that can be recovered, else the raw line.
// docker writes "log" first, so the line's "stream", "time" and "attrs" are
// taken from its last bytes, which the tailer hands over in Line.Tail: the
// cut line then keeps its stream and timestamp and takes part in joins like
// any line (a message cut that way skips its remaining 16 KiB parts). Without
// a usable tail the head is shipped alone at the reading time.
//
// # Invalid UTF-8
//
// Elasticsearch requires valid UTF-8, so every invalid byte of a message is
// replaced by U+FFFD in "message", the record is flagged "invalid_utf8"
// (and counted under that reason), and the exact original bytes of the message
// are kept losslessly in "log.original_base64" (standard base64 with padding).
// Decoding original_base64 gives back the message bytes as they were in the
// file (after JSON unescaping for docker, and after a cut at MaxLineBytes;
// docker itself already replaces invalid UTF-8 when it writes, so this mostly
// concerns CRI). Replacing invalid bytes keeps message searchable while the
// exact bytes stay recoverable; the alternatives (dropping the record, or
// shipping base64 only) would lose either the data or its usefulness. Control
// characters and NUL are kept, JSON-escaped; U+2028 and U+2029 are escaped as
// encoding/json does.
//
// # Documents
//
// Each Record.Doc is one JSON object in valid UTF-8 with the ECS names of
// Filebeat's container input, nested:
//
//	@timestamp                          RFC 3339, UTC, 9 fractional digits
//	message, stream
//	docker.attrs.*                      docker "attrs", when present
//	log.offset, log.flags, log.original_base64, log.original_time,
//	log.file.path
//	kubernetes.namespace, kubernetes.pod.name, kubernetes.pod.uid,
//	kubernetes.container.name, kubernetes.container.restart_count
//	container.id, container.runtime     "docker" for json-file, "cri" for CRI
//	host.name                           Config.NodeName
//	event.dataset                       "kubernetes.container_logs"
//
// With Config.Kube (parser/kubemeta), the Kubernetes API's metadata of the
// file's pod is spliced in: kubernetes.labels, annotations,
// namespace_labels, node.name, pod.ip, the owner's replicaset, deployment,
// statefulset, daemonset, job and cronjob names, and container.image.name.
// The decoder looks the pod up once (KubeLookup) and checks one pointer per
// line (KubeHandle); a new snapshot re-encodes the cached document tail.
// While the pod is unknown, records carry the path metadata only and the flag
// "k8s_metadata_missing", counted in logspool_parser_k8s_metadata_missing_total.
//
// Empty fields are omitted; log.flags appears only when non-empty. Record.Time
// is @timestamp in Unix nanoseconds. The metadata comes from the path (see
// ParsePath) and the API, and is encoded once per Decoder and snapshot: the
// document's tail from log.file on (log.file.path, kubernetes, container,
// host, event) is the records' shared record.Meta, and Record.Doc is the
// rest, the line's own part, with At = len(Doc): the whole document is
// Record.Document(). A new API snapshot (a label changed mid-file) makes a
// new Meta, a new version, for the records after it; the spool stores each
// Meta once per segment and the outputs splice it back, byte for byte.
//
// Documents' own parts are allocated from chunks (4 KiB for a new decoder,
// doubling up to 64 KiB) that are never reused until the caller says so
// (Recycle: the tailer, once the spool has copied a batch), so a Record.Doc
// stays valid and unchanged after Decode returns, and its capacity equals
// its length (an append to it copies). After Recycle, chunks of 64 KiB come
// from and go back to a pool shared by all decoders. Documents over 16 KiB
// get their own allocation.
//
// # Memory
//
// A decoder holds its current chunk (none between batches once it
// recycles), one pending buffer per stream with a message pending (at most MaxLineBytes each, at most 8 streams) and a
// scratch buffer; buffers that grew past 32 KiB are dropped once their
// message is done, so a quiet file's decoder holds a few KiB.
//
// # Metrics
//
// NewMetrics registers (names fixed; listed in the README):
//
//	logspool_parser_lines_total{format="docker|cri"}
//	logspool_parser_records_total
//	logspool_parser_malformed_lines_total{reason="invalid_json|malformed_cri|invalid_timestamp|invalid_utf8|timestamp_out_of_range"}
//	logspool_parser_truncated_messages_total
//	logspool_parser_partial_lines_total
//
// Bytes cut from messages go to Config.CutBytes, the tailer's
// logspool_input_lost_bytes_total{reason="line_cut"}.
//
// # Speed
//
// The common docker object and CRI lines are decoded by hand (JSON strings
// including \uXXXX escapes and surrogate pairs, exactly as encoding/json
// decodes them); anything unusual falls back to encoding/json. A complete
// docker line whose "log" is valid UTF-8 with only well-formed escapes is
// copied into the document still escaped, without decoding and re-encoding.
// Timestamps are parsed and formatted by hand, and the record ID hashes a
// per-decoder prefix (record.FileIDs, which record.FileID uses too).
package parser
