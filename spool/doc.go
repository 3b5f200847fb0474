// Package spool is logspool's durable, capped queue: a Badger database that
// holds the records read from sources together with the source positions
// (checkpoints) they advance, hands batches of them to the shipper under
// leases, and deletes them when the shipper has settled every record.
//
// # The ack story
//
//  1. A reader (tailer, systemd) emits records, each with the position just
//     past it (a byte offset or a journal cursor). A partial last line is held
//     back; its offset does not advance.
//  2. Append stores a batch of records and the source's new position in ONE
//     Badger transaction. A crash before the commit stores neither, so the
//     lines are read again; after the commit both are stored. A reader's
//     position therefore never moves past records that are not in the spool,
//     and after a crash the reader resumes exactly at the last committed
//     position (Checkpoint / Checkpoints).
//  3. When QueuedBytes is at or over Config.MaxBytes, Append blocks (honouring
//     its ctx); the reader stops reading and the files wait on disk. An Append
//     is admitted whenever the spool is below the cap, even if the batch
//     overshoots it, so a batch bigger than the cap cannot deadlock.
//  4. The shipper leases batches (Lease, several in flight), sends them and
//     sorts every item: delivered, retried, or dead.
//  5. Lease.Done deletes the leased segments only when every record is
//     delivered or dead-lettered, and stores the dead letters in the same
//     transaction. Lease.Release (a nack, or shutdown) hands the records back;
//     they are leased again first, oldest first. Lease state lives in memory
//     only: leases outstanding when the process died are redelivered after
//     the next Open. Redelivery is safe because record IDs are deterministic
//     and the shipper indexes with op_type=create, so Elasticsearch answers a
//     second copy with 409.
//
// # Durability and the crash window
//
// Writes are group-committed: Badger runs with SyncWrites=false and a
// background goroutine calls db.Sync every Config.SyncInterval (default 1s)
// when something was written since the last sync; Close syncs too.
//
//   - kill -9 (or a panic) loses nothing committed: the write is in the
//     operating system's page cache, which survives the process.
//   - A power loss or kernel crash may lose the batches committed during the
//     last SyncInterval. They are lost together with the checkpoints committed
//     with them (same transaction, same write-ahead log, replayed in order), so
//     the readers resume at an older position and read those lines again:
//     re-read, not lost. Acks (Done) lost the same way cause redelivery, which
//     Elasticsearch dedupes by _id.
//
// # On-disk layout
//
// The directory is a Badger v4 database (MANIFEST, *.sst, *.vlog, *.mem,
// KEYREGISTRY, DISCARD, LOCK). Keys are byte strings; integers are big-endian
// so that key order is numeric order:
//
//	"m" "version"                        -> 1 byte layout version (currently 1)
//	"c" <checkpoint key>                 -> checkpoint value (opaque bytes)
//	"q" seq[8] count[4] bytes[8]         -> segment (see below)
//	"d" first[8] last[8] count[4] bytes[8] -> dead-letter entry (see below)
//
// A segment holds the records of one Append (an Append is cut into one or a
// few segments). seq increases with every segment; count is the number of
// records and bytes the sum of record.Size() over them, kept in the key so
// that Open rebuilds the queue's in-memory index (seq, count, bytes per
// segment, never the records) by iterating keys only. The segment value is
//
//	version[1]=2 s2(body)
//	crc32c[4, little-endian, Castagnoli, over everything before it]
//
// where s2(body) is one S2 block (github.com/klauspost/compress/s2) of
//
//	body = count[uvarint] count * ( id[16] time[zigzag varint] doclen[uvarint] doc[doclen] )
//
// Log documents shrink several times under S2, and so does every byte Badger
// writes, maps, reads back and garbage-collects: compressing is cheaper than
// not. Version 1 (the body stored uncompressed) is still read. The cap
// (Config.MaxBytes) counts record.Size(), uncompressed.
//
// A dead-letter entry holds the dead letters of one Lease.Done (cut into
// entries of a few MiB). Every dead letter has its own number (the key that
// DeadLetters reports, increasing); first and last are the smallest and
// largest numbers in the entry, count and bytes as for segments. The value is
//
//	version[1]=1 count[uvarint]
//	count * ( key-first[uvarint] at[zigzag varint unix ns] reasonlen[uvarint]
//	          reason id[16] time[zigzag varint] doclen[uvarint] doc )
//	crc32c[4]
//
// The dead-letter area is capped by Config.MaxDeadLetterBytes (default 256
// MiB): past it the oldest entries are deleted, logged and counted in
// Stats.DeadLettersDropped, so that a cluster that rejects everything cannot
// fill the disk. Records are never dropped from the queue itself.
//
// Retrying or dropping some dead letters of an entry rewrites the entry with
// the remaining ones (under a new key with the narrowed first/last) in the
// same transaction that moves or deletes them.
//
// Invariants:
//   - A segment key and its value are written and deleted in the same
//     transactions as the checkpoints and dead letters that go with them.
//   - A value whose version byte, length or crc32c does not match is reported
//     as a *CorruptError naming the key; it is never decoded into records.
//   - Segment keys never repeat within one process lifetime; after a restart
//     numbering continues after the largest key present.
//
// # Space reclamation
//
// Badger reclaims space poorly under queue workloads (dgraph-io/badger#1995):
// a deletion only frees space when a compaction brings it together with the
// data it deletes, value-log GC needs discard statistics that only such
// compactions produce, and a queue's recent deletions sit in the memtable,
// which is only flushed when it fills (with values in the value log, a 4 MiB
// memtable of keys and pointers holds gigabytes of segments). The spool works
// with that instead of hoping:
//
//   - Segments (up to 256 KiB, typically one per Append) go to the value log
//     (ValueThreshold 4 KiB, 8 MiB files): each byte is written once, the
//     LSM tree holds only keys and pointers, and compactions stay cheap. This
//     measured about eight times faster than keeping segments inline in the
//     LSM tree, where every byte is rewritten at every level. Checkpoints and
//     tiny segments stay inline.
//   - NumLevelZeroTables=1: every memtable flush is compacted at once.
//   - After every 16 MiB acked, and every 10s (or GCInterval if shorter), the
//     spool compares what Badger stores (SST files plus sealed value-log
//     files) with the live bytes (queued plus dead letters). When the garbage
//     is over 8 MiB and over half the live bytes it runs Compact: it flushes
//     the memtable (a DropPrefix of a marker key, Badger's only public flush;
//     appends and acks wait for it, a few milliseconds) and flattens the tree,
//     so that deletions meet their data, both are dropped, and the discard
//     statistics tell value-log GC which files are dead.
//   - Value-log GC (discard ratio 0.5, repeated until nothing is left to
//     rewrite, at most 10s a run) runs after each Compact and every
//     GCInterval. A queue's value-log files die whole, in order, so GC mostly
//     deletes files; a file still half live is rewritten once. Each GC round
//     (one file, milliseconds) holds off commits: Badger's GC reads the
//     memtable's max version unsynchronised.
//
// A test pushes 1 GiB (4 GiB with LOGSPOOL_LONG_TESTS=1) of random,
// incompressible documents through append + lease + ack, keeping up,
// carrying a 64 MiB backlog, and with 3 MiB batches,
// and checks that the directory returns to within 20 MiB (the newest
// value-log file and the live memtable's log) of its empty size. While data
// flows the directory also holds garbage: up to about twice the live data
// plus 16 MiB.
//
// # A full disk
//
// Badger writes its value log and memtables through memory maps of sparse
// files: on a file system with no space left, a write into such a mapping is
// a SIGBUS that kills the process, not an error. Append therefore refuses
// (ErrDiskFull) while the file system has less than Config.MinFreeBytes free
// (default 64 MiB, read with statfs at most every 250 ms); callers retry and
// their readers pause. Lease, Done and Release keep working, so shipping
// frees space and appends resume.
//
// # Memory
//
// In memory the spool keeps per-segment metadata (seq, count, bytes: 24 bytes
// per segment) and per-dead-letter-entry metadata; records are only held in
// the buffer of an outstanding lease (one buffer per lease, records sub-slice
// it). Badger is tuned small: 4 MiB memtables (two at most), no block cache,
// no Badger compression (segments are S2-compressed by the spool itself), two
// compactors, 8 MiB value-log files.
//
// Badger memory-maps its files (MAP_SHARED), so every value-log page the
// process writes or reads would count towards its RSS until the file is
// deleted: a full spool would look like a 1 GiB process. After every 16 MiB
// appended and every 10s the spool therefore drops its page-table entries for
// those mappings with madvise(MADV_DONTNEED) (Linux only). No data is lost:
// the pages stay in the page cache, dirty ones are still written back, and
// the next access faults them in again. Measured in the reclaim test (the
// test process, 1 GiB of incompressible documents through, one run): peak
// RSS 69 MiB keeping up, 88 MiB with a 64 MiB backlog, 90 MiB with 3 MiB
// batches; the anonymous part is what GOMEMLIMIT keeps in check.
//
// # Opening
//
// Open fails with an error wrapping ErrLocked when another process (a running
// agent) holds the directory, and with a *OpenError naming the directory and
// the cause when the directory is unreadable or corrupt (a garbled MANIFEST,
// SST or value-log file, a file where the directory should be). ReadOnly
// opens a stopped agent's spool for inspection; a spool left behind by a
// crash must be opened read-write once (which replays its write-ahead log)
// before it can be opened read-only.
package spool
