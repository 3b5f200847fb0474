package parser

// API CONTRACT (written first so that the tailer can be built against it while
// the implementation lands). The parser implementer owns this file and may add
// to it, but must not change these signatures without updating the tailer.

// Config configures decoders. Zero values mean the documented defaults.
type Config struct {
	// NodeName is written to host.name and mixed into record IDs.
	NodeName string
	// MaxLineBytes caps a joined message; longer ones are cut, flagged
	// "truncated" and counted. Default 1 MiB.
	MaxLineBytes int
}

// Source describes the file a decoder reads.
type Source struct {
	// Path is the path as discovered, e.g. /var/log/containers/<pod>_<ns>_<container>-<id>.log.
	Path string
	// Resolved is the symlink target when Path is a symlink, e.g.
	// /var/log/pods/<ns>_<pod>_<uid>/<container>/<restart>.log; else "".
	Resolved string
	// FileKey is the tailer's stable identity of the file's content (it stays
	// the same across renames); record IDs are record.FileID(node, FileKey, off).
	FileKey string
}

// Line is one physical line of a log file.
type Line struct {
	// Bytes is the line without its trailing '\n'. The decoder must not keep a
	// reference to it after Decode returns (the tailer reuses the buffer).
	Bytes []byte
	// Start is the file offset of the line's first byte; End the offset just
	// past its '\n'.
	Start, End int64
	// Truncated is set when the tailer cut a physical line longer than its
	// buffer; Bytes then holds the line's head, and End is still correct.
	Truncated bool
}
