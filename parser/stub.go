package parser

// Temporary stubs: the parser implementer replaces this file.

import "github.com/logspool/logspool/spool/record"

// Decoder turns the physical lines of one container log file into records.
// It detects the format (docker json-file or CRI) from the first line, joins
// partial lines, and attaches Kubernetes metadata from the path. Not safe for
// concurrent use; one per file.
type Decoder struct{}

// NewDecoder returns a decoder for the file src.
func NewDecoder(cfg Config, src Source) *Decoder { return &Decoder{} }

// Decode consumes one line and appends the records it completes (zero or one)
// to dst. Malformed input is never dropped: it becomes a record with the raw
// text in message and a flag in log.flags.
func (d *Decoder) Decode(dst []record.Record, ln Line) []record.Record { return dst }

// Pending reports whether a partial message is buffered and, if so, the file
// offset of its first line. The tailer must not checkpoint past that offset
// while a partial is pending: after a restart it re-reads from there.
func (d *Decoder) Pending() (start int64, ok bool) { return 0, false }

// Flush emits a buffered partial message as a record flagged "partial" (for a
// file that is released for good) and appends it to dst.
func (d *Decoder) Flush(dst []record.Record) []record.Record { return dst }
