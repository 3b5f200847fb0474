package systemd

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/logspool/logspool/spool/record"
	"github.com/logspool/logspool/systemd/journalfile"
)

// ErrBadCursor is wrapped by every cursor parse error.
var ErrBadCursor = errors.New("systemd: bad cursor")

// Cursor is a parsed journalctl cursor
// ("s=<seqnum_id>;i=<seqnum>;b=<boot_id>;m=<monotonic>;t=<realtime>;x=<xor_hash>",
// numbers in hex). Like sd_journal_seek_cursor, any subset of the parts is
// accepted in any order, unknown single-letter parts are ignored, and a cursor
// must locate an entry by at least one of seqnum (s+i), boot time (b+m) or
// realtime (t).
type Cursor struct {
	SeqnumID  journalfile.ID128
	Seqnum    uint64
	BootID    journalfile.ID128
	Monotonic uint64
	Realtime  uint64
	XorHash   uint64

	HasSeqnum    bool // SeqnumID and Seqnum are set
	HasMonotonic bool // BootID and Monotonic are set
	HasRealtime  bool
	HasXorHash   bool
}

// CursorOf returns the complete cursor of an entry.
func CursorOf(m *journalfile.EntryMeta) Cursor {
	return Cursor{
		SeqnumID: m.SeqnumID, Seqnum: m.Seqnum,
		BootID: m.BootID, Monotonic: m.Monotonic,
		Realtime: m.Realtime, XorHash: m.XorHash,
		HasSeqnum: true, HasMonotonic: true, HasRealtime: true, HasXorHash: true,
	}
}

// ParseCursor parses a journalctl cursor.
func ParseCursor(s string) (Cursor, error) {
	var c Cursor
	var hasSID, hasSeq, hasBoot, hasMono bool
	if s == "" {
		return c, fmt.Errorf("%w: empty", ErrBadCursor)
	}
	for part := range strings.SplitSeq(s, ";") {
		if len(part) < 2 || part[1] != '=' {
			return Cursor{}, fmt.Errorf("%w: part %q is not k=v", ErrBadCursor, part)
		}
		k, v := part[0], part[2:]
		var err error
		switch k {
		case 's':
			c.SeqnumID, err = parseID128(v)
			hasSID = true
		case 'i':
			c.Seqnum, err = strconv.ParseUint(v, 16, 64)
			hasSeq = true
		case 'b':
			c.BootID, err = parseID128(v)
			hasBoot = true
		case 'm':
			c.Monotonic, err = strconv.ParseUint(v, 16, 64)
			hasMono = true
		case 't':
			c.Realtime, err = strconv.ParseUint(v, 16, 64)
			c.HasRealtime = true
		case 'x':
			c.XorHash, err = strconv.ParseUint(v, 16, 64)
			c.HasXorHash = true
		default:
			// Unknown parts are ignored, as sd_journal_seek_cursor does.
		}
		if err != nil {
			return Cursor{}, fmt.Errorf("%w: part %q: %v", ErrBadCursor, part, err)
		}
	}
	c.HasSeqnum = hasSID && hasSeq
	c.HasMonotonic = hasBoot && hasMono
	// Half a pair locates nothing: forget it, as sd_journal_seek_cursor does.
	if !c.HasSeqnum {
		c.SeqnumID, c.Seqnum = journalfile.ID128{}, 0
	}
	if !c.HasMonotonic {
		c.BootID, c.Monotonic = journalfile.ID128{}, 0
	}
	if !c.HasSeqnum && !c.HasMonotonic && !c.HasRealtime {
		return Cursor{}, fmt.Errorf("%w: %q locates nothing (needs s+i, b+m or t)", ErrBadCursor, s)
	}
	return c, nil
}

func parseID128(s string) (journalfile.ID128, error) {
	var id journalfile.ID128
	if len(s) != 32 {
		return id, fmt.Errorf("id %q is not 32 hex digits", s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("id %q: %w", s, err)
	}
	return id, nil
}

// String returns the cursor in journalctl's format (only the parts that are set).
func (c Cursor) String() string {
	return string(c.AppendTo(make([]byte, 0, 128)))
}

// AppendTo appends the String form of c to dst.
func (c Cursor) AppendTo(dst []byte) []byte {
	start := len(dst)
	sep := func() {
		if len(dst) > start {
			dst = append(dst, ';')
		}
	}
	if c.HasSeqnum {
		dst = append(dst, "s="...)
		dst = hex.AppendEncode(dst, c.SeqnumID[:])
		dst = append(dst, ";i="...)
		dst = strconv.AppendUint(dst, c.Seqnum, 16)
	}
	if c.HasMonotonic {
		sep()
		dst = append(dst, "b="...)
		dst = hex.AppendEncode(dst, c.BootID[:])
		dst = append(dst, ";m="...)
		dst = strconv.AppendUint(dst, c.Monotonic, 16)
	}
	if c.HasRealtime {
		sep()
		dst = append(dst, "t="...)
		dst = strconv.AppendUint(dst, c.Realtime, 16)
	}
	if c.HasXorHash {
		sep()
		dst = append(dst, "x="...)
		dst = strconv.AppendUint(dst, c.XorHash, 16)
	}
	return dst
}

// after reports whether the entry m of a file with seqnum_id m.SeqnumID lies
// strictly after the location c, judged the way sd-journal locates a cursor
// in one file: by seqnum when the seqnum_id matches, else by monotonic time
// when the boot matches, else by realtime, then by xor hash. An entry equal
// to c in every part that is set is not after it.
func (c *Cursor) after(m *journalfile.EntryMeta) bool {
	if c.HasSeqnum && m.SeqnumID == c.SeqnumID && m.Seqnum != c.Seqnum {
		return m.Seqnum > c.Seqnum
	}
	if c.HasMonotonic && m.BootID == c.BootID && m.Monotonic != c.Monotonic {
		return m.Monotonic > c.Monotonic
	}
	if c.HasRealtime && m.Realtime != c.Realtime {
		return m.Realtime > c.Realtime
	}
	if c.HasXorHash && m.XorHash != c.XorHash {
		return m.XorHash > c.XorHash
	}
	return false
}

// compareEntries orders two entries the way journalctl 252 merges files
// (sd-journal.c compare_entry): same seqnum_id -> seqnum; else same boot ->
// monotonic time; else realtime; then xor hash. On inconsistent clocks the
// order is not transitive; the merge copes (see merge.go).
func compareEntries(a, b *journalfile.EntryMeta) int {
	if a.SeqnumID == b.SeqnumID && a.Seqnum != b.Seqnum {
		return cmpU64(a.Seqnum, b.Seqnum)
	}
	if a.BootID == b.BootID && a.Monotonic != b.Monotonic {
		return cmpU64(a.Monotonic, b.Monotonic)
	}
	if a.Realtime != b.Realtime {
		return cmpU64(a.Realtime, b.Realtime)
	}
	return cmpU64(a.XorHash, b.XorHash)
}

// identical reports whether a and b are the same entry (journalctl shows one
// of them): same seqnum_id and seqnum, boot, monotonic, realtime and xor hash.
func identical(a, b *journalfile.EntryMeta) bool {
	return a.SeqnumID == b.SeqnumID && a.Seqnum == b.Seqnum && a.BootID == b.BootID &&
		a.Monotonic == b.Monotonic && a.Realtime == b.Realtime && a.XorHash == b.XorHash
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// RecordID is the ID of the record of entry m on node: record.JournalID of
// the entry's cursor without its seqnum_id ("i=…;b=…;m=…;t=…;x=…"). That
// part of the cursor is the same in every copy of an entry that keeps its
// seqnum under another seqnum_id (the boot, timestamps and xor hash are
// always kept), so such a copy read again gets the same ID and
// Elasticsearch's op_type=create keeps one. (journald's flush from /run to
// /var numbers its copies anew: see doc.go.) Two different entries never
// share it: seqnum, boot, both timestamps and the content hash would all
// have to be equal.
func RecordID(node string, m *journalfile.EntryMeta) record.ID {
	var buf [128]byte
	return record.JournalID(node, string(appendIdentity(buf[:0], m)))
}

func appendIdentity(dst []byte, m *journalfile.EntryMeta) []byte {
	dst = append(dst, "i="...)
	dst = strconv.AppendUint(dst, m.Seqnum, 16)
	dst = append(dst, ";b="...)
	dst = hex.AppendEncode(dst, m.BootID[:])
	dst = append(dst, ";m="...)
	dst = strconv.AppendUint(dst, m.Monotonic, 16)
	dst = append(dst, ";t="...)
	dst = strconv.AppendUint(dst, m.Realtime, 16)
	dst = append(dst, ";x="...)
	return strconv.AppendUint(dst, m.XorHash, 16)
}
