// Package record defines the unit that flows through logspool: a Record (one
// log event, already encoded as an ECS JSON document, with a deterministic id)
// and a Checkpoint (the position in a source that a batch of records advances).
//
// It is a leaf package: inputs (tailer, systemd) create records, the spool
// stores them, the shipper delivers them. It imports nothing of logspool.
//
// Guarantees:
//   - An ID is a pure function of (node name, source identity, position). A
//     line read twice, after a crash or a replay, gets the same ID, so
//     Elasticsearch's op_type=create turns the second delivery into a 409.
//   - The document (Doc, with Meta.Doc spliced in at At when Meta is set) is
//     a complete JSON object in valid UTF-8 without a trailing newline; the
//     shipper copies it into a _bulk body or an NDJSON stream verbatim.
//   - A Meta is immutable once a record refers to it: a source whose
//     constant fields change (a pod's labels, a journal boot) makes a new
//     *Meta, a new version, for the records that follow.
package record

import (
	"encoding/base64"
	"encoding/binary"

	"github.com/zeebo/xxh3"
)

// Record is one log event ready to ship.
type Record struct {
	// ID identifies the event across re-reads; see FileID and JournalID.
	ID ID
	// Time is the event's @timestamp in Unix nanoseconds. The shipper uses it
	// to pick a daily index; 0 means unknown.
	Time int64
	// Doc is the ECS document: a JSON object, valid UTF-8, no trailing
	// newline. When Meta is set, Doc is the document without Meta.Doc, which
	// belongs at byte At of it: the record's own part.
	Doc []byte
	// Meta, when set, is the part of the document that every record of one
	// source version shares (a container log file's path and Kubernetes
	// metadata, a journal boot's host fields). The spool stores it once per
	// segment instead of once per record; the outputs splice it back.
	Meta *Meta
	// At is where Meta.Doc goes into Doc (0 <= At <= len(Doc)); ignored
	// without Meta.
	At int
}

// Meta is the constant part of the documents of one source version: JSON
// text that Record.Document splices into each record's Doc. It is never
// changed once a record refers to it.
type Meta struct {
	Doc []byte
}

// DocLen is the length of the record's whole document.
func (r *Record) DocLen() int {
	if r.Meta == nil {
		return len(r.Doc)
	}
	return len(r.Doc) + len(r.Meta.Doc)
}

// AppendDoc appends the record's whole document to dst.
func (r *Record) AppendDoc(dst []byte) []byte {
	if r.Meta == nil {
		return append(dst, r.Doc...)
	}
	at := min(max(r.At, 0), len(r.Doc))
	dst = append(dst, r.Doc[:at]...)
	dst = append(dst, r.Meta.Doc...)
	return append(dst, r.Doc[at:]...)
}

// Document returns the record's whole document: Doc itself without Meta,
// else a new slice.
func (r *Record) Document() []byte {
	if r.Meta == nil {
		return r.Doc
	}
	return r.AppendDoc(make([]byte, 0, r.DocLen()))
}

// Whole returns r with its whole document in Doc (a copy when r has a
// Meta) and no Meta.
func (r Record) Whole() Record {
	if r.Meta != nil {
		r.Doc, r.Meta, r.At = r.Document(), nil, 0
	}
	return r
}

// Size is the number of bytes the record accounts for in the spool and in a
// bulk request (whole document plus fixed overhead).
func (r *Record) Size() int { return r.DocLen() + len(r.ID) + 8 }

// Checkpoint is a source position stored atomically with the records that
// advance it. Key names the source ("f/..." for files, "j/..." for journal
// directories); Value is opaque to everything but the input that wrote it.
// A nil Value deletes the checkpoint.
type Checkpoint struct {
	Key   string
	Value []byte
}

// ID is a 128-bit deterministic record identifier.
type ID [16]byte

// idEncoding is base64url without padding: 22 characters, safe in _id and URLs.
var idEncoding = base64.RawURLEncoding

// IDLen is the length of ID.String().
const IDLen = 22

// String returns the 22-character base64url form used as the Elasticsearch _id.
func (id ID) String() string { return idEncoding.EncodeToString(id[:]) }

// AppendString appends the String form of id to dst without allocating.
func (id ID) AppendString(dst []byte) []byte {
	return idEncoding.AppendEncode(dst, id[:])
}

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { return id == ID{} }

// FileID is the ID of the record that starts at byte offset off of the file
// identified by fileKey (a content fingerprint chosen by the tailer that stays
// the same across renames) on node. A reader of one file uses FileIDs, which
// computes the same IDs without encoding node and fileKey for each.
func FileID(node, fileKey string, off int64) ID {
	f := NewFileIDs(node, fileKey)
	return f.At(off)
}

// FileIDs computes the FileIDs of one file: the hash input up to the offset
// is encoded once, so each ID is one hash of a short buffer. Not safe for
// concurrent use.
type FileIDs struct {
	buf    []byte // "f", node and fileKey as writeField writes them, then the offset
	prefix int
}

// NewFileIDs returns the FileIDs of the file fileKey on node.
func NewFileIDs(node, fileKey string) FileIDs {
	b := appendField(nil, "f")
	b = appendField(b, node)
	b = appendField(b, fileKey)
	return FileIDs{buf: b, prefix: len(b)}
}

// At returns FileID(node, fileKey, off).
func (f *FileIDs) At(off int64) ID {
	f.buf = binary.LittleEndian.AppendUint64(f.buf[:f.prefix], uint64(off))
	return fromUint128(xxh3.Hash128(f.buf))
}

// JournalID is the ID of the journal entry with the given cursor on node. Use
// a cursor that is the same in every copy of the entry (journalctl's cursor is).
func JournalID(node, cursor string) ID {
	var h xxh3.Hasher128
	writeField(&h, "j")
	writeField(&h, node)
	writeField(&h, cursor)
	return fromUint128(h.Sum128())
}

// writeField writes a length-prefixed string so that field boundaries are
// unambiguous ("ab"+"c" differs from "a"+"bc"): a 4-byte little-endian length,
// then the bytes, as appendField appends them.
func writeField(h *xxh3.Hasher128, s string) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(len(s)))
	_, _ = h.Write(b[:])
	_, _ = h.WriteString(s)
}

// appendField appends s as writeField writes it.
func appendField(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func fromUint128(u xxh3.Uint128) ID {
	var id ID
	binary.BigEndian.PutUint64(id[:8], u.Hi)
	binary.BigEndian.PutUint64(id[8:], u.Lo)
	return id
}
