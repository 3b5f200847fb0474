// Package systemd ships the systemd journal: it reads the journal files of
// one or more directories in pure Go (package journalfile; no cgo, no
// libsystemd, no journalctl), merges them into one stream in journalctl's
// order, turns every entry into an ECS JSON document and stores it in the
// spool together with the position just past it, in one atomic Append.
//
// # Files and directories
//
// Every *.journal and *.journal~ file directly in each configured directory
// and in its machine-id sub-directories (32 hex digits) is read, as
// journalctl --directory does. Files are identified by device and inode, so
// a rename (journald archiving system.journal as system@….journal, or
// disposing a damaged file as ….journal~) is followed, never re-read. A file
// that is deleted or vacuumed is read to its end through the descriptor
// still held, then closed. An archived file read to its end is closed and
// not opened again.
//
// # Notifications and polling
//
// The Input polls (refreshes the open files, rescans the directories, ships
// what is new: see "Merge order") when inotify says the journal changed, and
// otherwise costs nothing: no timer per file, no periodic work but a poll
// every ResyncInterval (30 s) as a safety net. One watch per directory (each
// configured one and its machine-id sub-directories) reports the changes of
// the files in it, as sd_journal_get_fd (journalctl -f) watches. journald
// writes entries through mmap, which makes no inotify event, and after each
// change (coalesced over 250 ms) truncates the file to its own size, which
// makes IN_MODIFY (systemd's journal_file_post_change; see notifier);
// creation, renames (archival, .journal~) and deletion (vacuum) are events of
// the directory. An event makes a poll at once, or PollInterval after the
// previous one: a burst of events makes one poll, so a busy journal is
// polled at most every PollInterval (250 ms), as before. An entry is stored
// within about half a second of journald's write. A poll also follows at
// PollInterval while entries are held back (see below), a half-written entry
// waits for its writer, a directory was just watched, and at the retry time
// of a failed path or entry.
//
// Where inotify cannot be had — it cannot be set up (EMFILE when
// fs.inotify.max_user_instances is reached, ENOSYS), a directory cannot be
// watched (ENOSPC when fs.inotify.max_user_watches is reached, EACCES) or it
// is on a network file system (NFS, CIFS, 9p, …: remote changes make no
// event) — the Input polls every PollInterval, logs it once, counts it once
// in logspool_input_errors_total{input="journal",reason} (emfile, enospc,
// network_fs, …) and shows it in logspool_journal_unwatched_dirs (-1:
// inotify unavailable; logspool status says POLLING). Watching is tried again
// at every scan, setting inotify up every ResyncInterval. When the event
// queue overflows (IN_Q_OVERFLOW) events are lost: the Input polls at once,
// a full rescan (counted as reason "overflow"). A configured directory that
// does not exist yet is looked for at every poll; its creation is seen by
// the next one (at the latest ResyncInterval later).
//
// Every directory entry stands alone. A machine-id sub-directory that
// cannot be listed, a journal file name that cannot be stat'ed (ELOOP,
// ENOTDIR, EACCES, EIO, …) or names a FIFO or directory, a file that cannot
// be opened (EACCES, EMFILE, …): each is logged once with its errno, counted
// once in logspool_input_errors_total{input="journal",reason} and retried
// after a backoff that doubles from PollInterval to 30 s (logged again when
// it works); the other entries are scanned and read as usual, and the files
// already open below a failing path are kept. A file refused for what it
// holds (not a journal, unknown flags, shorter than its header) is retried
// when its size, mtime or inode changes instead.
//
// # Merge order and duplicates
//
// The entries of one writer (one seqnum_id) are taken in seqnum order, over
// all of its files. Between writers, the head entries are compared the way
// journalctl 252 does (same seqnum_id: seqnum; else same boot: monotonic
// time; else realtime; then the xor hash) and the smallest is taken. On
// consistent data that is exactly journalctl's output. When clocks disagree
// the order is not transitive; journalctl then drops entries, this package
// never does: an entry is skipped only when its (seqnum_id, seqnum) was
// already taken from another file (a copy of the same entry).
//
// One writer may fill several files at once: since systemd 254 journald
// numbers the entries of system.journal and of every user-UID.journal in
// one sequence under one seqnum_id. Each poll therefore refreshes every
// open file and notes the highest seqnum each shows, then lists the
// directories and refreshes the files again, and takes each writer's entries
// only up to the seqnum noted: a writer completes its entries one at a time
// in seqnum order, so every entry up to that seqnum is visible by then,
// whichever file it is in, and none is passed over. Entries written during
// the poll wait for the next one: their writer's event, read after the poll,
// brings it, and entries held back make one PollInterval later (a file
// opened by the scan was not observed before it). Events only decide when a
// poll runs; what a poll does is the same.
//
// # Position and checkpoint
//
// The position is the cursor of the last entry taken and, per seqnum_id, the
// highest seqnum taken. Since each writer's entries are taken in seqnum
// order, "every entry of seqnum_id S up to N has been taken" is exact,
// whatever the clocks, file names, archival or deletion. It is stored under
// the key "j/"+Config.Name with every batch of records (record.Checkpoint),
// so records and position are committed together: after a crash, kill -9 or
// power loss the Input resumes right after the last stored entry, with no
// loss and no duplicate. The stored value is JSON:
//
//	{"v":1,
//	 "cursor":"s=<seqnum_id>;i=<seqnum>;b=<boot_id>;m=<monotonic>;t=<realtime>;x=<xor>",
//	 "seqnums":{"<seqnum_id hex>":[<highest seqnum>,<its realtime µs>], ...},
//	 "trimmed":true}   (only when marks were forgotten, see below)
//
// On resume a file whose seqnum_id has a mark starts after it; a file whose
// seqnum_id has none starts at its first entry (nothing of that writer was
// taken: every entry taken marks its seqnum_id). At most 256 marks are kept,
// the least recently advanced are forgotten first; once that happened
// ("trimmed"), unmarked writers fall back to the cursor (boot+monotonic or
// realtime, like sd_journal_seek_cursor). Entries that produce no record
// (filtered out, older than Since, unreadable) still advance the position;
// it is stored with the next batch or, when no record follows, at most every
// 2 s on its own (Append with no records).
//
// A failed Append is retried with backoff until it succeeds or the context
// ends; the batch is never skipped. Record IDs are record.JournalID(node,
// cursor without its seqnum_id) (see RecordID), so an entry read again
// (after a restart before its batch was committed, or from a copy that
// keeps its seqnum under another seqnum_id) gets the same ID and
// Elasticsearch's op_type=create turns it into a 409. journald numbers the
// copies it makes when it flushes /run/log/journal into /var/log/journal
// anew (systemd 254 and later in its one sequence): those are new entries
// with new IDs.
//
// Reader is the one-shot, journalctl-compatible reader for tools and tests:
// ReaderConfig.After behaves exactly like journalctl --after-cursor (seek to
// the cursor, then drop the first entry found, whether or not it is the
// cursor's; journalctl does that, and the corpus oracles pin it).
//
// # Damage
//
// A damaged file is read up to the damage (journalfile salvages as
// journalctl does, and further: a truncated file yields what it still
// holds). The damage is logged once per file and counted in
// logspool_journal_corrupt_files_total; unreadable entries are skipped and
// counted in logspool_journal_errors_total{reason="corrupt_entry"}; an entry
// missing unreadable fields is shipped with the rest and the flag
// "damaged_entry". An unreadable entry at the tail of a file that is still
// written (state ONLINE) is retried for a few polls first: a live writer may
// not have finished it. A file that cannot be opened at all (bad signature,
// unknown incompatible flag, shorter than its header) is reported once and
// retried only when its size, mtime or inode changes. Nothing stops the
// other files or the Input.
//
// An I/O error (EIO, a network file system gone away) is not damage: an
// entry that cannot be read for one is read again, in its place in its
// writer's order, after a backoff doubling from PollInterval to 30 s; only
// after maxIORetries (8) failures is it skipped as unreadable. A header or
// entry arrays that cannot be read make the file be reopened, or walked
// again, after a backoff. Each such failure is logged once with its errno
// and counted in logspool_input_errors_total{input="journal",reason}.
//
// # Supervision and liveness
//
// A panic inside the Input is recovered, logged with its stack, counted
// (logspool_journal_panics_total); every file is closed and, after a
// backoff, the Input starts again from its stored position (the batch being
// built is dropped, so nothing is shipped twice). Stalled reports an Input
// whose work made no progress (a poll not finished, no batch stored, no run
// of entries read) for 40 poll intervals and at least 30 s; one waiting for
// its next poll after a completed one (an idle journal: no event, nothing
// to retry) or for the spool to accept a batch is not stalled (the spool
// reports itself).
//
// # Filters
//
// Config.Units keeps the entries of the given units, matched like
// journalctl -u (add_matches_for_unit): _SYSTEMD_UNIT=U; or MESSAGE_ID of a
// coredump, _UID=0 and COREDUMP_UNIT=U; or _PID=1 and UNIT=U; or _UID=0 and
// OBJECT_SYSTEMD_UNIT=U; or, for a slice, _SYSTEMD_SLICE=U. A name without a
// unit suffix gets ".service"; globs ("kube*") are matched as given.
// ExcludeUnits drops matching entries. Since skips older entries on a first
// start (no checkpoint yet). There is no priority filter.
//
// # Documents
//
// One JSON object per entry, in this order (absent fields are left out):
//
//	@timestamp                 _SOURCE_REALTIME_TIMESTAMP, else __REALTIME_TIMESTAMP;
//	                           RFC 3339 UTC with microseconds
//	message                    MESSAGE
//	message_id                 MESSAGE_ID
//	event.dataset, event.kind  "journald", "event"
//	host.name                  Config.NodeName
//	host.hostname, host.id     _HOSTNAME, _MACHINE_ID
//	host.boot.id               the entry's boot id
//	systemd.unit, .user_unit, .slice, .user_slice, .cgroup, .transport,
//	  .invocation_id, .owner_uid, .session      _SYSTEMD_*, _TRANSPORT
//	process.pid, .thread.id, .name, .executable, .command_line
//	                           _PID, TID, _COMM, _EXE, _CMDLINE
//	log.syslog.priority, .facility.code, .identifier
//	                           PRIORITY, SYSLOG_FACILITY, SYSLOG_IDENTIFIER
//	log.flags                  see below
//	syslog.pid                 SYSLOG_PID
//	user.id, user.group.id     _UID, _GID (strings, ECS keywords)
//	container.*                docker's journald fields (CONTAINER_ID_FULL, …)
//	journald.cursor            journalctl's cursor of the entry
//	journald.*                 Filebeat's names for the remaining well-known
//	                           fields (journald.code.*, journald.object.*,
//	                           journald.kernel.*, journald.audit.*, …)
//	journald.custom.<name>     every other field; name lower-cased with leading
//	                           underscores trimmed (Filebeat's rule)
//	journald.invalid_fields    the fields whose name systemd itself would refuse
//	                           (journal_field_valid: 1-64 bytes of A-Z, 0-9, '_',
//	                           not starting with a digit), which only damage or
//	                           a foreign writer produces: the exact NAME=value
//	                           payload of each in standard base64 (cut to
//	                           MaxFieldBytes), flag "invalid_field_name",
//	                           counted in logspool_journal_invalid_field_names_total;
//	                           such names never become keys
//	journald.base64.<path>     the exact bytes (standard base64) of every value
//	                           of a field that has a value that is not UTF-8,
//	                           keyed by the field's document path ("message",
//	                           "journald.custom.bin"): unique by construction
//	journald.truncated         document paths of the fields cut to MaxFieldBytes
//
// A field that appears more than once becomes an array (item order). Numbers
// (PRIORITY, _PID, …) are JSON numbers when they are canonical decimals, and
// otherwise stay text under journald.custom, so nothing is lost in
// conversion. Values are escaped losslessly (control characters, NUL,
// newlines); invalid UTF-8 is replaced by U+FFFD in the text field and kept
// exactly in journald.base64, with log.flags "invalid_utf8". Other flags:
// "truncated" (a value was cut to MaxFieldBytes, default 1 MiB),
// "damaged_entry" (unreadable fields are missing), "invalid_timestamp"
// (realtime beyond year 9999, clamped), "invalid_field_name" (see
// journald.invalid_fields). _BOOT_ID is taken from the entry
// header and not repeated; a valid _SOURCE_REALTIME_TIMESTAMP is only in
// @timestamp. Every document is valid JSON and valid UTF-8; the test suite
// checks, for every entry of the corpus, that the document reverses to
// exactly the fields journalctl -o json --all prints.
//
// The members a boot's entries share, event and host (Encoder.MetaSpan), go
// to the records' record.Meta instead of each Record.Doc (which keeps the
// rest, with At where they belong): the spool stores them once per segment
// and the outputs splice them back, byte for byte. Entries whose host
// members differ (another boot, a hostname changed) get another Meta.
//
// # Metrics
//
//	logspool_journal_files                 gauge, files open
//	logspool_journal_entries_total         entries stored as records
//	logspool_journal_bytes_total           document bytes stored
//	logspool_journal_corrupt_files_total   files found damaged
//	logspool_journal_errors_total{reason}  open, scan, refresh, read,
//	                                       corrupt_entry, append, checkpoint
//	logspool_input_errors_total{input="journal",reason}
//	                                       a path that failed, by errno word
//	                                       (eacces, eloop, emfile, eio,
//	                                       not_regular, not_journal, …); shared
//	                                       with the container input
//	logspool_journal_panics_total          panics recovered (the Input restarted)
//	logspool_journal_invalid_field_names_total
//	                                       fields shipped in journald.invalid_fields
//	logspool_journal_lag_seconds           gauge, now minus the realtime of the
//	                                       last entry stored
//	logspool_journal_unwatched_dirs        gauge, directories without inotify,
//	                                       polled every PollInterval (-1: inotify
//	                                       unavailable)
//
// Input.Run starts no goroutines of its own (fsnotify's reader runs while
// it does); it returns when its context is done.
package systemd
