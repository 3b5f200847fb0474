package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"sync"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/logspool/logspool/internal/freelist"
	"github.com/logspool/logspool/spool/record"
)

// Key prefixes and layout constants; see FORMAT.md.
const (
	prefixMeta       = 'm'
	prefixCheckpoint = 'c'
	prefixSegment    = 'q'
	prefixDead       = 'd'

	// layoutVersion is the version this build writes; it reads
	// minLayoutVersion..layoutVersion (see FORMAT.md).
	layoutVersion    = 3
	minLayoutVersion = 1
	valueVersion     = 1 // an uncompressed body (dead-letter entries; segments of older versions)
	// valueVersionS2 is a segment whose body is one S2 block
	// (github.com/klauspost/compress/s2): log documents shrink 3-6 times, and
	// so do the bytes Badger writes, maps, reads back and garbage-collects.
	valueVersionS2 = 2
	// valueVersionRef is an index value: where the entry lives in a data
	// file, and (segments) the positions its Append moved from.
	valueVersionRef = 3
	// valueVersionMeta is a segment whose S2 body starts with a table of the
	// per-source metadata (record.Meta) its records share, each stored once,
	// and whose records refer to it (issue 14).
	valueVersionMeta = 4
	// maxDecodedSegment bounds the decoded size of a compressed segment.
	maxDecodedSegment = 256 << 20

	segKeyLen  = 1 + 8 + 4 + 8
	deadKeyLen = 1 + 8 + 8 + 4 + 8
	crcLen     = 4
)

var (
	metaVersionKey = []byte("mversion")
	metaIDKey      = []byte("mid")
	metaCommitKey  = []byte("mcommit")
	castagnoli     = crc32.MakeTable(crc32.Castagnoli)
)

// CorruptError reports a stored value that failed its integrity check. The
// value is not decoded; the key says which segment or dead-letter entry.
type CorruptError struct {
	Key    []byte // Badger key of the damaged value
	Reason string // what is wrong
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("spool: corrupt value at key %x: %s", e.Key, e.Reason)
}

// ErrCorrupt is matched by every *CorruptError (errors.Is(err, ErrCorrupt)).
var ErrCorrupt = errors.New("spool: corrupt value")

// Is makes errors.Is(err, ErrCorrupt) true for a *CorruptError.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// segMeta is what the spool keeps in memory per segment.
type segMeta struct {
	seq   uint64
	count uint32
	bytes int64
	r     ref // where the segment lives; zero for a version 1 spool's segment stored in Badger
}

func segKey(m segMeta) []byte {
	k := make([]byte, segKeyLen)
	k[0] = prefixSegment
	binary.BigEndian.PutUint64(k[1:], m.seq)
	binary.BigEndian.PutUint32(k[9:], m.count)
	binary.BigEndian.PutUint64(k[13:], uint64(m.bytes))
	return k
}

func parseSegKey(k []byte) (segMeta, bool) {
	if len(k) != segKeyLen || k[0] != prefixSegment {
		return segMeta{}, false
	}
	return segMeta{
		seq:   binary.BigEndian.Uint64(k[1:]),
		count: binary.BigEndian.Uint32(k[9:]),
		bytes: int64(binary.BigEndian.Uint64(k[13:])),
	}, true
}

// deadMeta is what the spool keeps in memory per dead-letter entry.
type deadMeta struct {
	first, last uint64
	count       uint32
	bytes       int64
	r           ref // zero for a version 1 spool's entry stored in Badger
}

func deadKey(m deadMeta) []byte {
	k := make([]byte, deadKeyLen)
	k[0] = prefixDead
	binary.BigEndian.PutUint64(k[1:], m.first)
	binary.BigEndian.PutUint64(k[9:], m.last)
	binary.BigEndian.PutUint32(k[17:], m.count)
	binary.BigEndian.PutUint64(k[21:], uint64(m.bytes))
	return k
}

func parseDeadKey(k []byte) (deadMeta, bool) {
	if len(k) != deadKeyLen || k[0] != prefixDead {
		return deadMeta{}, false
	}
	return deadMeta{
		first: binary.BigEndian.Uint64(k[1:]),
		last:  binary.BigEndian.Uint64(k[9:]),
		count: binary.BigEndian.Uint32(k[17:]),
		bytes: int64(binary.BigEndian.Uint64(k[21:])),
	}, true
}

func checkpointKey(key string) []byte {
	k := make([]byte, 1+len(key))
	k[0] = prefixCheckpoint
	copy(k[1:], key)
	return k
}

// encodedRecordLen is an upper bound of the encoded size of r with its
// whole document (a dead letter).
func encodedRecordLen(r *record.Record) int {
	return len(r.ID) + binary.MaxVarintLen64 + binary.MaxVarintLen64 + r.DocLen()
}

// appendRecord appends r with its whole document (Meta spliced in): the
// layout of dead letters and of version 1 and 2 segments.
func appendRecord(dst []byte, r *record.Record) []byte {
	dst = append(dst, r.ID[:]...)
	dst = binary.AppendVarint(dst, r.Time)
	dst = binary.AppendUvarint(dst, uint64(r.DocLen()))
	return r.AppendDoc(dst)
}

// raws holds the scratch buffers segments are laid out in before they are
// compressed (one per concurrent Append).
var raws = freelist.New[*[]byte](4)

func getRaw() *[]byte {
	if bp, ok := raws.Get(); ok {
		return bp
	}
	b := make([]byte, 0, 256<<10)
	return &b
}

func putRaw(bp *[]byte) {
	if cap(*bp) <= 4<<20 {
		raws.Put(bp)
	}
}

// metaTable is the table of a segment's distinct Metas, in order of first
// use.
type metaTable struct {
	metas []*record.Meta
	last  *record.Meta
	lastI int // 1-based index of last
}

// index returns the 1-based table index of m (0 for nil), adding it.
func (t *metaTable) index(m *record.Meta) int {
	if m == nil {
		return 0
	}
	if m == t.last {
		return t.lastI
	}
	i := slices.Index(t.metas, m)
	if i < 0 {
		// Another pointer with the same bytes (the same source version
		// read back from another segment) shares the entry.
		i = slices.IndexFunc(t.metas, func(x *record.Meta) bool { return string(x.Doc) == string(m.Doc) })
	}
	if i < 0 {
		t.metas = append(t.metas, m)
		i = len(t.metas) - 1
	}
	t.last, t.lastI = m, i+1
	return i + 1
}

func (t *metaTable) reset() {
	clear(t.metas)
	t.metas, t.last, t.lastI = t.metas[:0], nil, 0
}

var metaTablePool = sync.Pool{New: func() any { return new(metaTable) }}

// encodeSegment encodes recs as a segment value, appending to dst: the
// version byte, the S2-compressed body (the Meta table, the record count,
// then the records) and a crc32c of both.
func encodeSegment(dst []byte, recs []record.Record) []byte {
	tbl := metaTablePool.Get().(*metaTable)
	for i := range recs {
		tbl.index(recs[i].Meta)
	}
	bp := getRaw()
	body := binary.AppendUvarint((*bp)[:0], uint64(len(tbl.metas)))
	for _, m := range tbl.metas {
		body = binary.AppendUvarint(body, uint64(len(m.Doc)))
		body = append(body, m.Doc...)
	}
	body = binary.AppendUvarint(body, uint64(len(recs)))
	for i := range recs {
		r := &recs[i]
		body = append(body, r.ID[:]...)
		body = binary.AppendVarint(body, r.Time)
		body = binary.AppendUvarint(body, uint64(len(r.Doc)))
		body = append(body, r.Doc...)
		mi := tbl.index(r.Meta)
		body = binary.AppendUvarint(body, uint64(mi))
		if mi > 0 {
			body = binary.AppendUvarint(body, uint64(min(max(r.At, 0), len(r.Doc))))
		}
	}
	tbl.reset()
	metaTablePool.Put(tbl)
	start := len(dst)
	dst = append(dst, valueVersionMeta)
	dst = slices.Grow(dst, s2.MaxEncodedLen(len(body))+crcLen)
	enc := s2.Encode(dst[len(dst):cap(dst)], body)
	dst = dst[:len(dst)+len(enc)]
	*bp = body
	putRaw(bp)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// checkValue verifies the version byte and checksum of v and returns the body
// after the version byte, without the checksum.
func checkValue(key, v []byte) ([]byte, error) {
	if len(v) < 1+crcLen {
		return nil, &CorruptError{Key: key, Reason: fmt.Sprintf("value of %d bytes is too short", len(v))}
	}
	if v[0] != valueVersion && v[0] != valueVersionS2 && v[0] != valueVersionMeta {
		return nil, &CorruptError{Key: key, Reason: fmt.Sprintf("unknown value version %d", v[0])}
	}
	body := v[:len(v)-crcLen]
	want := binary.LittleEndian.Uint32(v[len(v)-crcLen:])
	if got := crc32.Checksum(body, castagnoli); got != want {
		return nil, &CorruptError{Key: key, Reason: fmt.Sprintf("crc32c mismatch (stored %08x, computed %08x)", want, got)}
	}
	return body[1:], nil
}

// decodeSegment decodes the segment value v (stored under key) and appends
// its records to dst. The records' Docs (and Metas) sub-slice v
// (uncompressed segments) or a buffer of their own (compressed ones), which
// alloc returns (nil: make).
func decodeSegment(dst []record.Record, key, v []byte, wantCount uint32, alloc func(n int) []byte) ([]record.Record, error) {
	body, err := checkValue(key, v)
	if err != nil {
		return dst, err
	}
	if v[0] == valueVersionS2 || v[0] == valueVersionMeta {
		// The records sub-slice a buffer of their own: v may be reused.
		n, err := s2.DecodedLen(body)
		if err != nil || n > maxDecodedSegment {
			return dst, &CorruptError{Key: key, Reason: fmt.Sprintf("bad compressed body (decoded length %d): %v", n, err)}
		}
		var out []byte
		if alloc != nil {
			out = alloc(n)
		} else {
			out = make([]byte, n)
		}
		if body, err = s2.Decode(out, body); err != nil {
			return dst, &CorruptError{Key: key, Reason: fmt.Sprintf("decompressing: %v", err)}
		}
	}
	var metas []*record.Meta
	if v[0] == valueVersionMeta {
		if metas, body, err = decodeMetaTable(body); err != nil {
			return dst, &CorruptError{Key: key, Reason: err.Error()}
		}
	}
	n, k := binary.Uvarint(body)
	if k <= 0 {
		return dst, &CorruptError{Key: key, Reason: "bad record count"}
	}
	if n != uint64(wantCount) {
		return dst, &CorruptError{Key: key, Reason: fmt.Sprintf("value holds %d records, key says %d", n, wantCount)}
	}
	body = body[k:]
	dst = slices.Grow(dst, int(min(n, uint64(len(body)/(len(record.ID{})+3)+1))))
	for i := uint64(0); i < n; i++ {
		var r record.Record
		body, err = decodeRecord(&r, body)
		if err == nil && v[0] == valueVersionMeta {
			body, err = decodeRecordMeta(&r, body, metas)
		}
		if err != nil {
			return dst, &CorruptError{Key: key, Reason: fmt.Sprintf("record %d: %v", i, err)}
		}
		dst = append(dst, r)
	}
	if len(body) != 0 {
		return dst, &CorruptError{Key: key, Reason: fmt.Sprintf("%d trailing bytes", len(body))}
	}
	return dst, nil
}

func decodeRecord(r *record.Record, b []byte) ([]byte, error) {
	if len(b) < len(r.ID) {
		return nil, errors.New("truncated id")
	}
	copy(r.ID[:], b)
	b = b[len(r.ID):]
	t, k := binary.Varint(b)
	if k <= 0 {
		return nil, errors.New("bad time")
	}
	r.Time = t
	b = b[k:]
	l, k := binary.Uvarint(b)
	if k <= 0 || l > uint64(len(b)-k) {
		return nil, errors.New("bad document length")
	}
	b = b[k:]
	r.Doc = b[:l:l]
	return b[l:], nil
}

// decodeMetaTable decodes the Meta table at the start of a version 4 body;
// the Metas sub-slice b.
func decodeMetaTable(b []byte) ([]*record.Meta, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, nil, errors.New("bad metadata count")
	}
	b = b[k:]
	if n == 0 {
		return nil, b, nil
	}
	metas := make([]*record.Meta, n)
	ms := make([]record.Meta, n)
	for i := range metas {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, nil, fmt.Errorf("metadata %d: bad length", i)
		}
		ms[i].Doc = b[k : k+int(l) : k+int(l)]
		metas[i] = &ms[i]
		b = b[k+int(l):]
	}
	return metas, b, nil
}

// decodeRecordMeta decodes the Meta reference that follows a version 4
// record.
func decodeRecordMeta(r *record.Record, b []byte, metas []*record.Meta) ([]byte, error) {
	mi, k := binary.Uvarint(b)
	if k <= 0 || mi > uint64(len(metas)) {
		return nil, fmt.Errorf("bad metadata reference (%d of %d)", mi, len(metas))
	}
	b = b[k:]
	if mi == 0 {
		return b, nil
	}
	at, k := binary.Uvarint(b)
	if k <= 0 || at > uint64(len(r.Doc)) {
		return nil, errors.New("bad metadata position")
	}
	r.Meta, r.At = metas[mi-1], int(at)
	return b[k:], nil
}

// deadItem is one dead letter with its number.
type deadItem struct {
	key uint64
	dl  DeadLetter
}

func deadSize(dl *DeadLetter) int64 { return int64(dl.Record.Size()) }

func encodedDeadLen(dl *DeadLetter) int {
	return 3*binary.MaxVarintLen64 + len(dl.Reason) + encodedRecordLen(&dl.Record)
}

// encodeDead encodes items (numbers increasing, items[0].key == first) as a
// dead-letter entry value.
func encodeDead(dst []byte, items []deadItem) []byte {
	start := len(dst)
	dst = append(dst, valueVersion)
	dst = binary.AppendUvarint(dst, uint64(len(items)))
	first := items[0].key
	for i := range items {
		it := &items[i]
		dst = binary.AppendUvarint(dst, it.key-first)
		var at int64
		if !it.dl.Time.IsZero() {
			at = it.dl.Time.UnixNano()
		}
		dst = binary.AppendVarint(dst, at)
		dst = binary.AppendUvarint(dst, uint64(len(it.dl.Reason)))
		dst = append(dst, it.dl.Reason...)
		dst = appendRecord(dst, &it.dl.Record)
	}
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// decodeDead decodes a dead-letter entry. Docs sub-slice v, so v must be a
// copy the caller owns.
func decodeDead(key, v []byte, m deadMeta) ([]deadItem, error) {
	body, err := checkValue(key, v)
	if err != nil {
		return nil, err
	}
	n, k := binary.Uvarint(body)
	if k <= 0 || n != uint64(m.count) {
		return nil, &CorruptError{Key: key, Reason: fmt.Sprintf("value holds %d dead letters, key says %d", n, m.count)}
	}
	body = body[k:]
	items := make([]deadItem, 0, n)
	for i := uint64(0); i < n; i++ {
		var it deadItem
		d, k := binary.Uvarint(body)
		if k <= 0 {
			return nil, &CorruptError{Key: key, Reason: fmt.Sprintf("dead letter %d: bad number", i)}
		}
		it.key = m.first + d
		body = body[k:]
		at, k := binary.Varint(body)
		if k <= 0 {
			return nil, &CorruptError{Key: key, Reason: fmt.Sprintf("dead letter %d: bad time", i)}
		}
		if at != 0 {
			it.dl.Time = time.Unix(0, at).UTC()
		}
		body = body[k:]
		l, k := binary.Uvarint(body)
		if k <= 0 || l > uint64(len(body)-k) {
			return nil, &CorruptError{Key: key, Reason: fmt.Sprintf("dead letter %d: bad reason length", i)}
		}
		it.dl.Reason = string(body[k : k+int(l)])
		body = body[k+int(l):]
		body, err = decodeRecord(&it.dl.Record, body)
		if err != nil {
			return nil, &CorruptError{Key: key, Reason: fmt.Sprintf("dead letter %d: %v", i, err)}
		}
		items = append(items, it)
	}
	if len(body) != 0 {
		return nil, &CorruptError{Key: key, Reason: fmt.Sprintf("%d trailing bytes", len(body))}
	}
	return items, nil
}
