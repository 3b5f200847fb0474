// Package tailer follows Kubernetes container log files (docker json-file and
// CRI) and appends their records, each batch together with the file's new
// position, to a Sink (the spool) in one atomic write.
//
// Files by role: tailer.go (the Tailer, Run and its event loop), scan.go
// (discovery: globs, scans, descriptor slots, rotated files found by name),
// recover.go (opening a file at its checkpoint, files left by an earlier
// run, releases and checkpoint deletion), reader.go (one reader per file),
// identity.go, fingerprint.go and checkpoint.go (a file's identity and its
// checkpoint codec), compressed.go (compressed copies), clock.go (the time
// seam).
//
// # Discovery
//
// Files matching Config.Globs (default /var/log/containers/*.log) are found
// by fsnotify events on the glob directories and on the directories of the
// symlink targets (/var/log/pods/<ns>_<pod>_<uid>/<container>/) of the open
// and closed ("parked") files, watched as soon as a file is opened, also
// outside a scan (a descriptor slot freed), backed by a
// glob+stat scan every PollInterval (1 s) while something needs polling and
// every ResyncInterval (1 min) otherwise. A matched symlink whose target does
// not exist yet (kubelet links a container's log when it creates the
// container, the runtime creates the file when it starts it; no watched
// directory sees that) makes the scan poll while the link is younger than 10
// minutes, so the file is found within a PollInterval. Symlinks are followed; a file
// reached by two paths is read once. Compressed rotations (.gz, .bz2, .xz,
// .zst, .zip, .lz4) and .tmp files are never read.
//
// # Identity
//
// A file is located by device and inode and identified by (identity.go; the
// fingerprint and the tail window in fingerprint.go):
//
//   - what the file system says: the inode generation (FS_IOC_GETVERSION;
//     ext4, xfs, btrfs) and the birth time (statx), each where available
//     (tmpfs has a birth time and no generation, overlayfs neither on some
//     kernels);
//   - its fingerprint: the first line including the '\n', up to 4 KiB (a
//     docker json-file line has its "time" field at its end);
//   - the tail: a hash of the bytes just before the resume offset, from the
//     start of the last line before it, at most 4 KiB. It is checked on
//     every resume (a restart, a file reopened after it was closed), and the
//     same window is re-read and compared before every read of new bytes, so
//     a file cut and rewritten behind the reader (copytruncate, also while
//     it waited for a full spool) is caught before a byte of the new content
//     is taken for the old.
//
// A stored position whose file does not pass these checks belongs to
// another file (inode reuse, or the same inode rewritten): the file is read
// from 0 under a new key, never from the old offset and never under the old
// key. The file key given to the parser (parser.Source.FileKey, mixed into
// record IDs) is the hex of an xxh3-128 hash of device, inode, truncation
// generation, a nonce given to the file when it is first read from its
// start, and the fingerprint; everything in it is in the checkpoint, so it
// survives renames and restarts, and two files never share it, also when one
// replaced the other at the same inode with the same first line. The nonce is
// derived from the inode generation and birth time where the file system has
// them, so a file read again after its checkpoint was lost keeps its record
// IDs; without either it is random. Where
// neither generation nor birth time is known and a rewritten file has the
// same first line and the same bytes before the resume offset, the
// replacement cannot be told and reading goes on at the offset.
//
// # Reading
//
// Each open file has one goroutine reading it with pread in 256 KiB chunks
// and splitting lines with bytes.IndexByte. A partial last line is held back
// and its offset does not advance, until the file has produced nothing for
// PartialIdle (5 s) while still matched (and its size, taken just before,
// shows nothing past what was read: a reader that waited that long for the
// spool or for memory has not seen the file idle): then the unterminated bytes go to
// the parser as a line with parser.Line.Partial (its records are flagged
// partial), the parser's pending partial messages are flushed, and the
// position moves past them. Bytes appended to that line later start a new
// line, also flagged partial up to its '\n': a line completed after its head
// was flushed ships as two records, nothing twice and nothing lost (after a
// restart in between, the rest is not flagged). A physical line longer than
// MaxLineBytes+64 KiB is cut: its head goes to the parser with
// parser.Line.Truncated, the rest up to its '\n' is skipped without being
// buffered and counted in logspool_input_lost_bytes_total{reason="line_cut"}.
// Memory per file is one pooled 256 KiB buffer while it is being read (none
// while it is idle and holds no partial line), and at most MaxLineBytes plus
// 320 KiB while a long line is pending.
//
// # Positions
//
// After each BatchBytes (256 KiB) of input, and at the end of the file (at
// most every 50 ms per file, so that a file written line by line does not
// cost one spool transaction per line), the records and ONE checkpoint for
// the file are appended together. The
// checkpoint key is "f/<dev hex>:<inode hex>"; its value (checkpoint.go,
// version 2; version 1, written before, is still read):
//
//	byte     version (2)
//	uvarint  resume    where reading restarts: the end of the last decoded
//	                   line, or the start of the parser's pending partial
//	                   message (Decoder.Pending) when it holds one
//	uvarint  consumed  the end of the last decoded line (>= resume)
//	uvarint  size      the file size last observed
//	uvarint  dev, inode, generation (truncations seen)
//	uvarint  len, fingerprint bytes (at most 4096)
//	uvarint  len, path as discovered
//	uvarint  len, symlink target
//	uvarint  flags: 1 inode generation known, 2 birth time known
//	uvarint  inode generation, birth time (unix ns)
//	uvarint  len (0 or 8), nonce (none: the file keeps its version 1 key)
//	uvarint  tail length (<= 4096), 8 bytes little-endian xxh3-64 of the
//	         tail bytes before resume
//	uvarint  when the checkpoint was written (unix ns)
//
// A version 1 checkpoint is the same up to the symlink target. Its file
// resumes at its offset, its fingerprint (256 bytes at most) and key are
// kept, so an upgrade neither loses nor repeats a line; the next commit
// writes version 2.
//
// After a restart, reading resumes at resume; lines up to consumed are decoded
// again to rebuild the pending partial, but the records they produce are
// dropped because they were appended before. So a crash at any point neither
// loses nor re-emits a line (the spool's append is atomic). When the sink is
// full Append blocks and the reader stops; nothing is buffered without bound.
// A failed Append is retried with backoff and never moves a position.
//
// # Rotation
//
//   - Rename (kubelet 0.log -> 0.log.<timestamp> behind the unchanged
//     symlink; docker x-json.log -> .1 -> .2): the open descriptor is read to
//     its end while the runtime may still write it; once the file is no
//     longer matched by the globs, and has been unmatched and produced
//     nothing for RotatedIdle (5 s), it is released. A generation that was created and rotated away
//     between two scans is found next to its successor by name and drained.
//   - Copytruncate: a size below the read offset, a changed fingerprint
//     (checked whenever the size changes and every PollInterval), or tail
//     bytes before the read offset that changed (checked before every read,
//     so also after the reader waited for a full spool) restart the file at
//     0 with a new generation. Bytes the file held past the read offset when
//     it was truncated are lost: counted (reason="truncated") with the
//     largest size the reader or a scan saw before the cut, also when the
//     reader had not read a byte yet (it waited for memory or the spool):
//     then a scan that saw the size drop, or a read that ends before a size
//     the reader saw, tells the cut. When the
//     copytruncate ran while the tailer was down, the copy next to the file
//     (app.log.1, or app.log-20261206 with dateext) is swept at the restart: one that
//     starts with a checkpointed file's fingerprint and holds its bytes
//     before the offset is read on from that offset, never from its start
//     (which would ship the lines before the offset again, under the copy's
//     _ids). A compressed copy (copytruncate with compress: app.log.1.gz)
//     is found like a gzipped rotation (below): the rest is read from it
//     under the file's key first, and the file's new content, which waits
//     meanwhile, starts at the next generation.
//   - Deletion: the open descriptor is drained, then released.
//
// A released file's pending partial is flushed (flagged partial by the
// parser) and a last unterminated line is decoded as it is. A released file
// that was deleted has its checkpoint deleted in the same append; one that
// still exists under a rotated name keeps its checkpoint ("retired") until no
// file in its directory has its inode any more (checked every 30 scans), so
// that no restart and no sweep reads it again; if it has grown by then (a
// runtime writing very late), it is opened again from its checkpoint.
//
// A generation missed entirely (created and rotated away between two scans,
// or while the tailer was down) is found by name next to its successor or
// predecessor: a sibling "<name>.<suffix>" (or "<name>-<suffix>", logrotate's dateext) that is not compressed, has no
// checkpoint describing it and was modified after the last scan (or after the
// last known generation) is drained from 0. At a restart every matched file's
// siblings are swept that way with the newest checkpoint's write time as the
// bound (generations rotated while the tailer ran but could not commit, a
// full spool, before it was killed). A sibling that cannot be opened keeps
// its sweep pending: it is retried at later scans until it is read. A
// sibling that its checkpoint describes is read on from the checkpoint when
// nothing follows it and it holds bytes past it (its open had failed, or its
// reader had panicked, when it was rotated); a file with a checkpoint that
// waited for a descriptor slot when it was rotated is kept as a released
// rotated file ("retired", below) and read on from its checkpoint.
//
// After a crash mid-rotation, a checkpoint whose file the globs no longer find
// is looked up by device and inode among the files next to its last known
// path and drained from its position. A file that is gone from its
// directory (rotated and compressed while the tailer was down, or while it
// was parked or retired) is looked for among the gzip files next to its last
// path (0.log.<time>.gz, x-json.log.1.gz): one whose decompressed content
// starts with the file's fingerprint and has the checkpoint's tail bytes just
// before its offset is stream-decompressed from there and read on under the
// file's key, its checkpoint advanced with every batch and deleted with the
// last one (compressed.go). Meanwhile no file is opened at that device and
// inode. Only when no copy holds it, what it held unread is counted as lost,
// with the largest size known for it (its checkpoint, or a later scan), as
// reason="rotated_unread" (its name now leads to another file) or
// "deleted_unread", logged as a WARN naming the file, and its checkpoint
// deleted.
//
// # Faults
//
// Every failure is local to its path (or directory): a stat, open, read,
// listing or inotify error (EACCES, ELOOP, ENAMETOOLONG, ENOTDIR, EIO, ...),
// and a FIFO, directory, socket or device matching the globs, is counted in
// logspool_input_errors_total{input="containers",reason} (reason: the errno's
// name, not_regular, panic), logged once with its errno until the failure
// changes or the path works again, and retried with exponential backoff (1 s
// to 1 min) or at once when the path's metadata changes (a chmod, a new file
// at the path). The rest of the files go on. A path the scan could not
// examine keeps its reader's state (it is not taken for rotated).
//
// Running out of descriptors (EMFILE, ENFILE) slows reading, never stops it:
// for a while after an open failed that way, at most as many files as were
// open then, less 16, are held open; a matched reader at the end of its
// file, everything committed, closes it ("parks"), after one more look at the
// file (a wait for a full spool may have hidden a write or a copytruncate:
// it reads on, or counts the cut as any truncation); the open readers are
// woken when a file starts to wait for a slot; the scanner opens parked
// files again by their checkpoint (identity checked as after a restart) when
// their size changes (a file that grew between the reader's last look and
// its close is queued at once), those parked longest first. So every file is
// read by turns.
//
// # Supervision and liveness
//
// A panic in a reader is recovered, logged with its stack, counted
// (reason="panic") and the file opened again from its checkpoint after a
// backoff, as after a restart; a panic in the scanner is recovered the same
// way and the scan runs again at the next tick. Every lock is released by a
// deferred unlock and Run cancels its readers before it waits for them, so
// neither recovery nor shutdown can wait for a lock a panicking frame held.
// Tailer.Stalled reports a scan loop that has not completed a scan for
// max(5 poll intervals, 30 s) (capped at StallGrace), a reader with unread
// bytes that has not moved for StallGrace (2 min), and a reader that panicked
// 3 times in a row; waiting for a full spool is not a stall.
//
// # Start
//
// Config.ReadFrom ("head" or "tail") applies only to the files found at the
// very first start, when the sink holds no "f/" checkpoint at all; "tail"
// starts after the last complete line. Files found later are read from 0.
//
// # Limits
//
// A generation rotated away before the tailer ever committed a checkpoint
// (at the very first start), or a file created and deleted between two scans
// or while the tailer was down, cannot be seen and is not counted; nor can a
// generation between two rotations that the scans did not tell apart, when
// the newest file got the inode of a closed generation deleted meanwhile
// (two rotations and a deletion between two scans: the path seems to lead
// to the same file). Bytes written to a copytruncated file after the last
// size observation (at most one PollInterval before the truncation) are not
// counted either, nor what a
// tailer killed while the spool was full had observed since its last commit
// (the count is a lower bound). A file that replaced another at the same
// inode waits, unread, while the other is read on from a compressed copy. A
// rotated file that stays unreadable until after a restart is not found
// again (not matched, and modified before the newest checkpoint). Lines a runtime writes to a released rotated
// file are read up to 30 scans late. Device numbers are part of a file's
// identity: a filesystem that comes back under another device number after a
// reboot makes its files look new, so they are read again from 0 under new
// record IDs. A deleted file is held open until it is drained; while the
// spool is full that keeps its disk space allocated.
package tailer
