package systemd

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/logspool/logspool/systemd/journalfile"
)

// maxSeqnumIDs bounds the per-writer marks kept in a checkpoint; the marks of
// the writers seen longest ago are forgotten first (their entries then fall
// back to the cursor's time).
const maxSeqnumIDs = 256

// seqMark is the highest seqnum shipped of one seqnum_id and its realtime.
type seqMark struct {
	Seqnum   uint64
	Realtime uint64
}

// position is how far the merged stream has been consumed: the cursor of
// the last entry and, per seqnum_id, the highest seqnum. Because every
// writer's entries are consumed in seqnum order, "all of S up to N" is exact
// regardless of clocks, archival and deletion.
type position struct {
	cursor    Cursor
	hasCursor bool
	seqnums   map[journalfile.ID128]seqMark
	trimmed   bool // some marks were forgotten (see maxSeqnumIDs)
}

func newPosition() *position {
	return &position{seqnums: make(map[journalfile.ID128]seqMark)}
}

// advance records that the entry m has been consumed.
func (p *position) advance(m *journalfile.EntryMeta) {
	p.cursor = CursorOf(m)
	p.hasCursor = true
	p.seqnums[m.SeqnumID] = seqMark{Seqnum: m.Seqnum, Realtime: m.Realtime}
}

// startIndex returns the index of the first entry of j (n entries) that has
// not been consumed: for a seqnum_id with a mark, the first entry above it.
// A seqnum_id without a mark has had nothing consumed (every consumed
// entry's seqnum_id is marked), so it starts at its first entry; only when
// marks were forgotten (trimmed) does it fall back to the cursor, located by
// boot and monotonic time or realtime.
func (p *position) startIndex(j journal, n int) int {
	if n == 0 {
		return 0
	}
	sid := j.Header().SeqnumID
	if mark, ok := p.seqnums[sid]; ok {
		return searchFirst(j, 0, n, func(m *journalfile.EntryMeta) bool { return m.Seqnum > mark.Seqnum })
	}
	if p.trimmed && p.hasCursor {
		c := p.cursor
		return searchFirst(j, 0, n, func(m *journalfile.EntryMeta) bool { return c.after(m) })
	}
	return 0
}

// checkpointV1 is the stored form of a position (JSON, in the spool).
type checkpointV1 struct {
	V       int                  `json:"v"`
	Cursor  string               `json:"cursor,omitempty"`
	Seqnums map[string][2]uint64 `json:"seqnums,omitempty"` // seqnum_id hex -> [seqnum, realtime]
	Trimmed bool                 `json:"trimmed,omitempty"`
}

// marshal encodes p for the spool, keeping at most maxSeqnumIDs marks.
func (p *position) marshal() []byte {
	p.trim()
	cp := checkpointV1{V: 1, Seqnums: make(map[string][2]uint64, len(p.seqnums)), Trimmed: p.trimmed}
	if p.hasCursor {
		cp.Cursor = p.cursor.String()
	}
	for sid, m := range p.seqnums {
		cp.Seqnums[hex.EncodeToString(sid[:])] = [2]uint64{m.Seqnum, m.Realtime}
	}
	b, err := json.Marshal(cp)
	if err != nil {
		panic(fmt.Sprintf("systemd: encoding checkpoint: %v", err)) // cannot happen: plain types
	}
	return b
}

func (p *position) trim() {
	if len(p.seqnums) <= maxSeqnumIDs {
		return
	}
	type kv struct {
		sid journalfile.ID128
		rt  uint64
	}
	all := make([]kv, 0, len(p.seqnums))
	for sid, m := range p.seqnums {
		all = append(all, kv{sid, m.Realtime})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].rt < all[j].rt })
	for _, x := range all[:len(all)-maxSeqnumIDs] {
		if p.hasCursor && p.cursor.SeqnumID == x.sid {
			continue
		}
		delete(p.seqnums, x.sid)
		p.trimmed = true
	}
}

// parsePosition decodes a checkpoint written by marshal.
func parsePosition(b []byte) (*position, error) {
	var cp checkpointV1
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, fmt.Errorf("decoding journal checkpoint: %w", err)
	}
	if cp.V != 1 {
		return nil, fmt.Errorf("decoding journal checkpoint: unknown version %d", cp.V)
	}
	p := newPosition()
	p.trimmed = cp.Trimmed
	if cp.Cursor != "" {
		c, err := ParseCursor(cp.Cursor)
		if err != nil {
			return nil, fmt.Errorf("decoding journal checkpoint: %w", err)
		}
		p.cursor, p.hasCursor = c, true
	}
	for s, v := range cp.Seqnums {
		sid, err := parseID128(s)
		if err != nil {
			return nil, fmt.Errorf("decoding journal checkpoint: seqnum id: %w", err)
		}
		p.seqnums[sid] = seqMark{Seqnum: v[0], Realtime: v[1]}
	}
	return p, nil
}
