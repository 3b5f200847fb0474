package journalfile

// API CONTRACT (written first so that the directory reader in package systemd
// can be built against it while this package lands). The journalfile
// implementer owns this file and may add to it, but must not change these
// signatures without updating package systemd.

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// Sentinel errors (match with errors.Is).
var (
	// ErrNotJournal: the file does not start with the journal signature "LPKSHHRF".
	ErrNotJournal = errors.New("journalfile: not a journal file (bad signature)")
	// ErrUnsupported: the header carries an incompatible flag this reader does not know.
	ErrUnsupported = errors.New("journalfile: unsupported incompatible flags")
	// ErrTruncatedHeader: the file is shorter than its header (for example a 0-byte file).
	ErrTruncatedHeader = errors.New("journalfile: file shorter than its header")
)

// CorruptionError reports damage found at Offset while reading Path. Entries
// before the damage remain readable (salvage, as journalctl does).
type CorruptionError struct {
	Path   string
	Offset uint64
	Reason string
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("journalfile: %s: corrupt at offset %d: %s", e.Path, e.Offset, e.Reason)
}

// ID128 is a systemd 128-bit id (boot id, machine id, seqnum id, file id).
type ID128 [16]byte

// String returns the id as 32 lower-case hex digits, as journalctl prints it.
func (id ID128) String() string { return hex.EncodeToString(id[:]) }

// File states (Header.State).
const (
	StateOffline  = 0
	StateOnline   = 1
	StateArchived = 2
)

// Header is the decoded file header (fields the format defines for the
// header size present in the file; later fields are zero for older files).
type Header struct {
	CompatibleFlags    uint32
	IncompatibleFlags  uint32
	State              uint8
	FileID             ID128
	MachineID          ID128
	TailEntryBootID    ID128
	SeqnumID           ID128
	HeaderSize         uint64
	ArenaSize          uint64
	NObjects           uint64
	NEntries           uint64
	HeadEntrySeqnum    uint64
	TailEntrySeqnum    uint64
	HeadEntryRealtime  uint64
	TailEntryRealtime  uint64
	TailEntryMonotonic uint64

	// The remaining fields are additions to the contract: the rest of the
	// on-disk header, zero where the file's header_size does not cover them.
	DataHashTableOffset    uint64
	DataHashTableSize      uint64
	FieldHashTableOffset   uint64
	FieldHashTableSize     uint64
	TailObjectOffset       uint64
	EntryArrayOffset       uint64
	NData                  uint64 // header_size >= 224 (systemd 187)
	NFields                uint64
	NTags                  uint64 // header_size >= 240 (systemd 189)
	NEntryArrays           uint64
	DataHashChainDepth     uint64 // header_size >= 256 (systemd 246)
	FieldHashChainDepth    uint64
	TailEntryArrayOffset   uint32 // header_size >= 264 (systemd 252)
	TailEntryArrayNEntries uint32
	TailEntryOffset        uint64 // header_size >= 272 (systemd 254)
}

// Compact reports whether the file uses the compact layout (32-bit entry and
// entry-array items, DATA objects with the tail fields).
func (h *Header) Compact() bool { return h.IncompatibleFlags&IncompatibleCompact != 0 }

// KeyedHash reports whether the hash tables use siphash24 keyed by FileID
// (otherwise Jenkins lookup3).
func (h *Header) KeyedHash() bool { return h.IncompatibleFlags&IncompatibleKeyedHash != 0 }

// Sealed reports whether the file carries TAG objects (forward-secure sealing).
func (h *Header) Sealed() bool { return h.CompatibleFlags&CompatibleSealed != 0 }

// Header flags, as in systemd's journal-def.h.
const (
	IncompatibleCompressedXZ   = 1 << 0
	IncompatibleCompressedLZ4  = 1 << 1
	IncompatibleKeyedHash      = 1 << 2
	IncompatibleCompressedZSTD = 1 << 3
	IncompatibleCompact        = 1 << 4
	// IncompatibleKnown is every incompatible flag this reader understands;
	// Open refuses a file with any other bit set (ErrUnsupported).
	IncompatibleKnown = IncompatibleCompressedXZ | IncompatibleCompressedLZ4 |
		IncompatibleKeyedHash | IncompatibleCompressedZSTD | IncompatibleCompact

	CompatibleSealed           = 1 << 0
	CompatibleTailEntryBootID  = 1 << 1
	CompatibleSealedContinuous = 1 << 2
)

// Field is one DATA item of an entry: NAME=value split at the first '='.
type Field struct {
	Name  string
	Value []byte
}

// EntryMeta is the fixed part of an ENTRY object: enough to order, dedupe
// and seek entries without decoding their fields.
type EntryMeta struct {
	Offset    uint64 // offset of the ENTRY object in the file
	Seqnum    uint64
	Realtime  uint64 // __REALTIME_TIMESTAMP, microseconds since the epoch
	Monotonic uint64 // __MONOTONIC_TIMESTAMP, microseconds since boot
	BootID    ID128
	XorHash   uint64
	SeqnumID  ID128 // from the file header
}

// Cursor returns journalctl's cursor for the entry:
// "s=<seqnum_id>;i=<seqnum hex>;b=<boot_id>;m=<monotonic hex>;t=<realtime hex>;x=<xor_hash hex>".
func (m *EntryMeta) Cursor() string {
	return fmt.Sprintf("s=%s;i=%x;b=%s;m=%x;t=%x;x=%x", m.SeqnumID, m.Seqnum, m.BootID, m.Monotonic, m.Realtime, m.XorHash)
}

// Entry is a decoded ENTRY object with its fields in item order (ascending
// DATA object offset), repeated fields repeated, including the _BOOT_ID=
// data item as stored.
type Entry struct {
	EntryMeta
	Fields []Field
	// Damaged is set when some items could not be read (for example an item
	// offset past the end of the file); Fields then holds the readable ones.
	Damaged bool
	// Problems says, for a Damaged entry, why each missing item was dropped
	// (one *CorruptionError per unreadable item, in item order).
	Problems []*CorruptionError

	// buf holds the bytes the Values of Fields point into; ReadEntry reuses it.
	buf []byte
}
