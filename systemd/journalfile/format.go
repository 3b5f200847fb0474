package journalfile

import (
	"encoding/binary"
	"fmt"
)

// On-disk layout constants, from systemd's src/libsystemd/sd-journal/journal-def.h.
const (
	signature = "LPKSHHRH"

	// headerSizeMin is offsetof(Header, n_data): the header of the oldest
	// files systemd still reads (HEADER_SIZE_MIN).
	headerSizeMin = 208
	// headerSizeMax is the largest header this reader decodes (systemd 254+).
	headerSizeMax = 272

	objectHeaderSize = 16

	objectUnused         = 0
	objectData           = 1
	objectField          = 2
	objectEntry          = 3
	objectDataHashTable  = 4
	objectFieldHashTable = 5
	objectEntryArray     = 6
	objectTag            = 7
	objectTypeMax        = 8

	objectCompressedXZ   = 1 << 0
	objectCompressedLZ4  = 1 << 1
	objectCompressedZSTD = 1 << 2
	objectCompressedMask = objectCompressedXZ | objectCompressedLZ4 | objectCompressedZSTD

	// DATA object: header, hash, next_hash_offset, next_field_offset,
	// entry_offset, entry_array_offset, n_entries, then the payload (regular)
	// or tail_entry_array_offset(le32), tail_entry_array_n_entries(le32) and
	// the payload (compact).
	dataPayloadRegular = 64
	dataPayloadCompact = 72

	// ENTRY object: header, seqnum, realtime, monotonic, boot_id(16), xor_hash, items.
	entryItemsOffset      = 64
	entryItemSizeRegular  = 16 // le64 object_offset + le64 hash
	entryItemSizeCompact  = 4  // le32 object_offset
	entryArrayItemsOffset = 24 // header, next_entry_array_offset, items
	entryArrayItemRegular = 8
	entryArrayItemCompact = 4

	// validRealtimeMax mirrors VALID_REALTIME/VALID_MONOTONIC (< 2^55).
	validTimeMax = 1 << 55
)

var le = binary.LittleEndian

// objectTypeName names an object type for error messages.
func objectTypeName(t uint8) string {
	switch t {
	case objectUnused:
		return "UNUSED"
	case objectData:
		return "DATA"
	case objectField:
		return "FIELD"
	case objectEntry:
		return "ENTRY"
	case objectDataHashTable:
		return "DATA_HASH_TABLE"
	case objectFieldHashTable:
		return "FIELD_HASH_TABLE"
	case objectEntryArray:
		return "ENTRY_ARRAY"
	case objectTag:
		return "TAG"
	}
	return fmt.Sprintf("type %d", t)
}

// decodeHeader decodes b (at least headerSizeMin bytes, at most
// headerSizeMax are looked at) into h. Fields beyond the file's header_size
// stay zero. It checks the signature, the header size and the incompatible
// flags; errors are sentinels to be wrapped by the caller.
func decodeHeader(b []byte, h *Header) error {
	if len(b) < 8 {
		return ErrTruncatedHeader
	}
	if string(b[:8]) != signature {
		return ErrNotJournal
	}
	if len(b) < headerSizeMin {
		return ErrTruncatedHeader
	}
	*h = Header{
		CompatibleFlags:      le.Uint32(b[8:]),
		IncompatibleFlags:    le.Uint32(b[12:]),
		State:                b[16],
		HeaderSize:           le.Uint64(b[88:]),
		ArenaSize:            le.Uint64(b[96:]),
		DataHashTableOffset:  le.Uint64(b[104:]),
		DataHashTableSize:    le.Uint64(b[112:]),
		FieldHashTableOffset: le.Uint64(b[120:]),
		FieldHashTableSize:   le.Uint64(b[128:]),
		TailObjectOffset:     le.Uint64(b[136:]),
		NObjects:             le.Uint64(b[144:]),
		NEntries:             le.Uint64(b[152:]),
		TailEntrySeqnum:      le.Uint64(b[160:]),
		HeadEntrySeqnum:      le.Uint64(b[168:]),
		EntryArrayOffset:     le.Uint64(b[176:]),
		HeadEntryRealtime:    le.Uint64(b[184:]),
		TailEntryRealtime:    le.Uint64(b[192:]),
		TailEntryMonotonic:   le.Uint64(b[200:]),
	}
	copy(h.FileID[:], b[24:40])
	copy(h.MachineID[:], b[40:56])
	copy(h.TailEntryBootID[:], b[56:72])
	copy(h.SeqnumID[:], b[72:88])
	if h.HeaderSize < headerSizeMin {
		return fmt.Errorf("%w: header_size %d below the minimum %d", ErrTruncatedHeader, h.HeaderSize, headerSizeMin)
	}
	if unknown := h.IncompatibleFlags &^ IncompatibleKnown; unknown != 0 {
		return fmt.Errorf("%w: 0x%x", ErrUnsupported, unknown)
	}
	n := h.HeaderSize
	if n > uint64(len(b)) {
		n = uint64(len(b))
	}
	if n >= 224 {
		h.NData = le.Uint64(b[208:])
		h.NFields = le.Uint64(b[216:])
	}
	if n >= 240 {
		h.NTags = le.Uint64(b[224:])
		h.NEntryArrays = le.Uint64(b[232:])
	}
	if n >= 256 {
		h.DataHashChainDepth = le.Uint64(b[240:])
		h.FieldHashChainDepth = le.Uint64(b[248:])
	}
	if n >= 264 {
		h.TailEntryArrayOffset = le.Uint32(b[256:])
		h.TailEntryArrayNEntries = le.Uint32(b[260:])
	}
	if n >= 272 {
		h.TailEntryOffset = le.Uint64(b[264:])
	}
	return nil
}

// entryMetaFrom decodes the fixed part of an ENTRY object (b holds at least
// entryItemsOffset bytes starting at the object header).
func entryMetaFrom(b []byte, off uint64, seqnumID ID128) EntryMeta {
	m := EntryMeta{
		Offset:    off,
		Seqnum:    le.Uint64(b[16:]),
		Realtime:  le.Uint64(b[24:]),
		Monotonic: le.Uint64(b[32:]),
		XorHash:   le.Uint64(b[56:]),
		SeqnumID:  seqnumID,
	}
	copy(m.BootID[:], b[40:56])
	return m
}
