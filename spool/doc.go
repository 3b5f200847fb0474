// Package spool is logspool's durable, capped queue: it holds the records
// read from sources (in append-only data files) together with the source
// positions (checkpoints) they advance (in a Badger index), committed
// together, hands batches of records to the shipper under leases, and
// deletes them when the shipper has settled every record.
//
// # The ack story
//
//  1. A reader (tailer, systemd) emits records, each with the position just
//     past it (a byte offset or a journal cursor). A partial last line is held
//     back; its offset does not advance.
//  2. Append stores a batch of records and the source's new position as one
//     unit (see "Durability and the crash window"). A crash before the
//     commit stores neither, so the lines are read again; after it both are
//     stored, and a power loss keeps both or neither. A reader's
//     position therefore never moves past records that are not in the spool,
//     and after a crash the reader resumes exactly at the last committed
//     position (Checkpoint / Checkpoints).
//  3. When the spool's directory is at or over Config.MaxBytes, Append blocks
//     (honouring its ctx); the reader stops reading and the files wait on
//     disk. An Append is admitted whenever the spool is below the cap, even
//     if the batch overshoots it, so a batch bigger than the cap cannot
//     deadlock.
//  4. The shipper leases batches (Lease, several in flight), sends them and
//     sorts every item: delivered, retried, or dead. A lease's records live
//     in memory the spool reuses for the next leases once Done or Release
//     returns.
//  5. Lease.Done deletes the leased segments only when every record is
//     delivered or dead-lettered, and stores the dead letters in the same
//     transaction. Lease.Release (a nack, or shutdown) hands the records back;
//     they are leased again first, oldest first. The consumer calls exactly
//     one of Done or Release, once. A Done that returns an error (its write
//     failed, or the spool closed) has released the lease: the records are
//     leased and delivered again in this process, never held until a
//     restart; a later Done answers ErrLeaseDone (ErrClosed once the spool
//     is closed) and a later Release does nothing. Lease state lives in
//     memory only: leases outstanding when the process died are redelivered
//     after the next Open. Redelivery is safe because record IDs are
//     deterministic and the shipper indexes with op_type=create, so
//     Elasticsearch answers a second copy with 409.
//
// # Durability and the crash window
//
// A record and the position it advances become durable together under any
// crash, power loss included, whatever order the kernel writes pages back
// in. The argument:
//
//   - Records are not in Badger. Each Append writes its segments (and the
//     checkpoints beside them) to the current data file with pwrite, then
//     commits one Badger transaction (a unit) holding the segments' index
//     entries, the checkpoints and a unit record: unit numbers increase
//     under one lock, in commit order. Badger keeps every value inline
//     (value threshold 256 KiB, far above any index entry), so a unit is one
//     atomic entry batch in Badger's write-ahead log: after a crash it is
//     there whole or not at all.
//   - A sync round (the group commit, every Config.SyncInterval, and at
//     Close) first runs a barrier: it fsyncs the data files written since
//     the last one, every Badger memtable log (a retired one may not be
//     flushed yet), the value log and the directories. Then it writes the
//     commit marker: "every unit up to H is durable", H being the last unit
//     committed before the barrier began. A durable marker therefore never
//     claims a unit whose bytes could still be lost. A failed fsync refuses
//     appends until a restart (the kernel may have dropped the pages); a
//     barrier that could not open a file or directory to fsync it for want
//     of descriptors (EMFILE, ENFILE) writes no marker and is retried at the
//     next round, and appends go on. A spool directory removed or replaced
//     under the running spool is caught by the barrier too: appends refuse,
//     and Close leaves Badger unclosed rather than flush it into the
//     missing (or the new) directory.
//   - At Open, units above the durable marker are checked: numbered without
//     a gap, and every segment they wrote intact in its data file. Then they
//     stand (a kill -9 or a crash with the page cache written back: nothing
//     is re-read). Otherwise a power loss wrote them back out of order (a
//     later unit's log page without an earlier one's, an index entry without
//     its data): every Append unit above the marker is rolled back, its
//     segments deleted and each checkpoint it moved set back to its value at
//     the marker: the value just before its first unit above the marker
//     (kept in the unit record), durable with all the records before it.
//     When a unit is missing before that one (it may have moved the
//     checkpoint), the value at the barrier before the unit is used instead
//     (also in the unit record): durable too, at worst older, so that some
//     lines are read twice but none is lost. The readers read those lines
//     again.
//   - Acks (Done), dead-letter edits and drops are units too. Their data
//     (dead letters, retried records) is fsynced before their unit is
//     written, so they are never rolled back: a lost ack is a redelivery.
//   - Data files are unlinked only after the barrier that made the deletion
//     of their last index entry durable; Badger's value-log GC, which moves
//     live values and deletes the old file without a sync, is not used
//     (only a version 1 spool's value log is still collected).
//
// So, after a power loss: every record whose position was durable is there;
// the positions resume at or after the last barrier (at most SyncInterval
// old), and what was appended after them is read again from the sources,
// never queued twice; acks lost the same way cause redelivery, which
// Elasticsearch dedupes by _id. kill -9 loses nothing that Append returned.
// TestCrashStatesKeepRecordsAndPositionsTogether proves it on crash states
// built from the synced and written contents of every file (see its file
// comment); the same test fails on the version 1 design (segments in
// Badger's value log, checkpoints in its write-ahead log).
//
// # Damage
//
// Open verifies, at every start, everything that holds records: the
// MANIFEST replays to its end (a torn last record is allowed only after an
// unclean stop), every table it lists exists and passes its block
// checksums, no table on disk is missing from it (a truncated MANIFEST),
// the identity file (LOGSPOOL) matches the index, a cleanly closed spool's
// index holds exactly the marker and entry count recorded at its close, and
// every index entry's data passes its entry checksum (one read of the live
// data: 1.3 GB/s with a warm page cache in BenchmarkOpenVerify, so about a
// second for a full 1 GiB spool; from a cold disk, its read speed). Damage is refused with a *DamageError (errors.Is
// ErrCorrupt) naming the file, the offset and the records affected, and
// pointing at Salvage (`logspool spool salvage`); a directory that holds
// other files is refused with ErrNotSpool; nothing damaged is ever opened
// as an empty spool. Salvage copies the damaged bytes raw into
// DIR/quarantine, deletes their index entries, and rewinds each affected
// source to the position its first damaged Append moved from (kept in the
// index entry), so the lines still on disk are read again under the same
// _ids. A data file whose header alone is damaged keeps its entries (each
// carries its own checksum and key): the header is copied to DIR/quarantine
// and rewritten. Salvage rewinds the sources before it deletes the damaged
// entries, newest first, so that a salvage interrupted at any point can be
// run again to the same result. A spool a newer logspool wrote is refused,
// never rebuilt. A damaged index is moved to DIR/quarantine and rebuilt from the data
// files, whose entries carry their keys and, per Append, the positions
// reached. Damage that appears while the agent runs is caught by the
// checksums when a segment is leased: the segment becomes a dead letter
// holding its raw bytes.
//
// # On-disk layout
//
// FORMAT.md in this directory is the one description of the on-disk format:
// the files, the Badger keys and values, which versions of each this build
// writes and reads (it writes layout version 3 and reads versions 1 to 3),
// the invariants between them, and a picture of where a record is while it
// is queued, leased and dead. A change to the format changes FORMAT.md in
// the same commit.
//
// # Space and the cap
//
// Config.MaxBytes (--spool-max-bytes) bounds the directory's allocated
// size: Append blocks while the data files (accounted exactly, in 4 KiB
// blocks, whether live or not) plus Badger's files (measured, at most every
// 100 ms while an append waits) are at or over it. An admitted Append may
// overshoot by its own size; Badger holds only the index (about 100 bytes
// per Append) in memtables of 4 MiB, so the directory stays within a few
// percent of the cap: TestCapBoundsTheDirectoryTorture pushes incompressible
// records through a 32 MiB cap with long outages and out-of-order acks and
// checks that it never exceeds it by 10% (peak measured: 101.5% for 96 MiB
// through, 103.3% for 4 GiB under LOGSPOOL_TORTURE=1). Data files
// die whole once every entry in them is acked (or its dead letters dropped),
// and the current file is sealed as soon as everything in it is acked, so
// a drained spool shrinks to its index and a small file
// (TestDiskSpaceIsReclaimedTorture). A file kept alive by one stuck segment
// still counts whole against the cap: reading waits until it is shipped.
//
// # A full disk
//
// Badger writes its memtable logs through memory maps of sparse files: on a
// file system with no space left, a write into such a mapping is a SIGBUS
// that kills the process, not an error. Append therefore refuses
// (ErrDiskFull) while the file system has less than Config.MinFreeBytes free
// (default 64 MiB, read with statfs at most every 250 ms); callers retry and
// their readers pause. The data files are written with pwrite: a full disk
// there is an error. Lease, Done and Release keep working, so shipping frees
// space and appends resume.
//
// # Memory
//
// In memory the spool keeps per-segment metadata (seq, count, bytes and the
// entry's place: about 48 bytes per segment), per-dead-letter-entry
// metadata and the current checkpoints; records are only held in an
// outstanding lease's records. A lease decodes its segments into 1 MiB
// chunks and a records slice that go back to a pool when it is done or
// released, so that shipping allocates nothing per record. Badger is tuned small: 4 MiB memtables (two
// at most), no block cache, no compression, and no compactors of its own
// (each would wake every 50 ms for ever): the spool's compactor (lsm.go)
// flattens the tree from its own goroutine, woken by the spool's commits,
// only while level 0 holds tables, and never writes, so that a write
// waiting for level 0 to drain cannot wait for it. Badger maps its
// files (MAP_SHARED), so the spool drops its page-table entries for those
// mappings with madvise(MADV_DONTNEED) after every 16 MiB appended and every
// 10s (Linux only); data files are read with pread and never mapped.
//
// # Opening
//
// Open fails with an error wrapping ErrLocked when another process (a running
// agent) holds the directory; ErrPermission, ErrReadOnlyFS or ErrNoSpace
// (each with its own advice) when the file system is in the way; ErrNotSpool
// for a directory that holds other files; and ErrCorrupt for damage (above).
// ReadOnly opens a stopped agent's spool for inspection; a spool left behind
// by a crash must be opened read-write once (which replays Badger's log and
// rolls back what a power loss tore) before it can be opened read-only.
package spool
