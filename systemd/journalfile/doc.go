// Package journalfile reads one systemd journal file in pure Go: no cgo, no
// libsystemd, no journalctl, no mmap. Package systemd builds directory
// merging, cursors, following and filters on top of it.
//
// # What it reads
//
// The format is systemd's (docs/JOURNAL_FILE_FORMAT.md and
// src/libsystemd/sd-journal/journal-def.h), as written by systemd 187 to 254+:
//
//   - headers of 208 to 272 bytes (256 in 247, 264 in 252, 272 in 254);
//     fields beyond the file's header_size read as zero;
//   - the regular layout (64-bit entry items with a hash, 64-bit entry array
//     items, DATA payload at 64) and the compact layout (flag COMPACT: 32-bit
//     entry and entry array items, DATA payload at 72);
//   - DATA objects compressed with XZ, LZ4 (systemd's framing: le64
//     uncompressed size, then one LZ4 block) or ZSTD;
//   - sealed files (TAG objects are never reached through the entry arrays
//     and are not verified); online, offline and archived states; journald's
//     "*.journal~" files, which are ordinary journal files.
//
// A file with an incompatible flag this reader does not know is refused
// (ErrUnsupported); a file without the signature "LPKSHHRH" is ErrNotJournal;
// a file shorter than its header ErrTruncatedHeader.
//
// # On-disk layout relied upon
//
//	header      signature[8] compatible_flags(le32) incompatible_flags(le32)
//	            state(u8) reserved[7] file_id machine_id tail_entry_boot_id
//	            seqnum_id (16 bytes each) header_size arena_size ... (le64)
//	            entry_array_offset at 176, n_entries at 152
//	object      type(u8) flags(u8) reserved[6] size(le64) payload; 8-aligned
//	ENTRY       seqnum realtime monotonic boot_id[16] xor_hash items[]
//	ENTRY_ARRAY next_entry_array_offset items[]
//	DATA        hash next_hash next_field entry entry_array n_entries
//	            [compact: tail_entry_array_offset(le32) n(le32)] payload
//
// Entries are enumerated through the global entry array chain that starts
// at header.entry_array_offset: file order, which is ascending seqnum. The
// hash tables are not needed to read entries and are not used.
//
// # Guarantees
//
//   - Every read goes through ReaderAt (pread) and is bounded by the file
//     size as stat'ed by Open or Refresh, never by header fields alone: a
//     header that claims more than the file holds yields a *CorruptionError,
//     never a read past the end or a panic. Archived files truncated under a
//     live reader are safe to read.
//   - The entry array chain is walked once; entry offsets are cached, so
//     EntryMeta and EntryAt cost one object read (from a small cache of file
//     windows) plus one per field. Refresh re-reads the header, stats the
//     file (in that order, so every entry the header counts lies within the
//     size seen) and continues the walk where it stopped: entries appended
//     by a live writer appear, nothing already read is read again.
//   - The walk stops at the first damage (an empty item before n_entries, an
//     item outside the file or not ascending, a broken or backwards chain);
//     the entries before it stay readable and Err reports the
//     *CorruptionError. A later Refresh retries from the same point.
//   - No input makes the reader panic or allocate without bound: offsets are
//     checked for alignment and range, sizes for overflow, chains must move
//     forward (so they cannot loop), and a field larger than
//     Config.MaxFieldSize after decompression is refused (a decompression
//     bomb costs at most that much memory).
//
// # Damage, compared with journalctl 252
//
//   - An entry whose ENTRY object is unreadable (bad type, size, seqnum or
//     timestamps; past the end of the file) makes EntryMeta and EntryAt
//     return a *CorruptionError; callers skip it, as journalctl does.
//   - An item whose DATA object is unreadable (offset outside the file or
//     inside the header, wrong type, undecompressable payload, larger than
//     MaxFieldSize, payload without '=') is left out: the Entry is returned
//     with Damaged set, the readable fields in item order and one Problem per
//     missing item. journalctl prints such an entry the same way, without
//     the field, and so does AppendExport.
//   - A truncated file is salvaged: the entries whose objects lie in what
//     is left are returned (journalctl refuses the file outright).
//   - A corrupted compressed payload is a damaged field, not garbage: where
//     libzstd silently produces garbled text (the frames carry no checksum)
//     our zstd decoder usually detects the damage; the field is then left
//     out. Config.VerifyData additionally recomputes each DATA object's hash
//     (Jenkins lookup3 or siphash24 keyed by the file id, as the header
//     says) and drops a field whose payload does not match, which catches
//     any garbling, at some cost in speed.
//
// # Cost
//
// Open walks the entry arrays once (a few reads per 64 KiB of arrays).
// After that EntryMeta is one cached 64-byte read; ReadEntry, the call for
// hot loops, decodes an entry without allocating (about 1.5 million entries
// of ~15 fields per CPU-second on many.journal); EntryAt allocates three
// blocks per entry. Compressed fields cost what their decompressor costs
// (zstd dominates large-zstd.journal); the last four decompressed values are
// kept by offset, so a large value repeated by many entries (one DATA
// object) is decompressed once. BenchmarkEntryAt and BenchmarkReadEntry
// report entries/s and entries per CPU-second.
//
// A File is safe for use by one goroutine at a time. The package starts no
// goroutines and keeps no metrics; package systemd counts.
package journalfile
