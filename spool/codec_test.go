package spool

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/logspool/logspool/spool/record"
)

// encodeSegmentV1 lays out an uncompressed (version 1) segment, as older
// spools stored them: the decoder still reads them.
func encodeSegmentV1(recs []record.Record) []byte {
	dst := []byte{valueVersion}
	dst = binary.AppendUvarint(dst, uint64(len(recs)))
	for i := range recs {
		dst = appendRecord(dst, &recs[i])
	}
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst, castagnoli))
}

// encodeSegmentV2 lays out a version 2 segment (S2, no Meta table), as the
// spool wrote them before issue 14.
func encodeSegmentV2(recs []record.Record) []byte {
	v1 := encodeSegmentV1(recs)
	dst := append([]byte{valueVersionS2}, s2.Encode(nil, v1[1:len(v1)-crcLen])...)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst, castagnoli))
}

func TestDecodeSegmentReadsEveryVersion(t *testing.T) {
	recs := makeRecords(0, 20, 170)
	key := segKey(segMeta{seq: 1, count: 20})
	v1, v2, v4 := encodeSegmentV1(recs), encodeSegmentV2(recs), encodeSegment(nil, recs)
	if v2[0] != valueVersionS2 || len(v2) >= len(v1) || v4[0] != valueVersionMeta || len(v4) >= len(v1) {
		t.Fatalf("compressed segments: versions %d and %d, %d and %d bytes vs %d uncompressed", v2[0], v4[0], len(v2), len(v4), len(v1))
	}
	for _, v := range [][]byte{v1, v2, v4} {
		got, err := decodeSegment(nil, key, v, 20, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkRecords(t, got, 170, seqNums(0, 20))
	}
}

// metaRecords are records of two sources whose documents end (or, for the
// second, hold in the middle) the Meta of their source version; source 0
// changes version half-way.
func metaRecords(n int) (recs []record.Record, whole []string) {
	metas := []*record.Meta{
		{Doc: []byte(`,"file":{"path":"/var/log/a.log"}},"kubernetes":{"labels":{"v":"1"}}}`)},
		{Doc: []byte(`,"file":{"path":"/var/log/a.log"}},"kubernetes":{"labels":{"v":"2"}}}`)},
		{Doc: []byte(`,"event":{"dataset":"journald"},"host":{"name":"n1"}`)},
	}
	for _, r := range makeRecords(0, n, 120) {
		switch i := int(numOf(r.ID)); {
		case i%3 == 2: // a journal-like record: Meta after "n"
			r.Meta, r.At = metas[2], bytes.IndexByte(r.Doc, ',')
		case i%3 == 1: // no Meta
		default:
			r.Doc = r.Doc[:len(r.Doc)-1] // the Meta closes the document
			r.Meta, r.At = metas[0], len(r.Doc)
			if i >= n/2 {
				r.Meta = metas[1]
			}
		}
		recs = append(recs, r)
		whole = append(whole, string(r.Document()))
	}
	return recs, whole
}

func TestSegmentsStoreEachMetaOnceAndSpliceItBack(t *testing.T) {
	recs, whole := metaRecords(300)
	key := segKey(segMeta{seq: 1, count: 300})
	v := encodeSegment(nil, recs)
	body, err := s2.Decode(nil, v[1:len(v)-crcLen])
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(body, []byte(`"path":"/var/log/a.log"`)); n != 2 {
		t.Errorf("the body holds the file Metas %d times, want once per version (2)", n)
	}
	if n := bytes.Count(body, []byte(`"dataset":"journald"`)); n != 1 {
		t.Errorf("the body holds the journal Meta %d times, want once", n)
	}
	if max := 1 + s2.MaxEncodedLen(planSize(recs)) + crcLen; len(v) > max {
		t.Errorf("encoded %d bytes, more than the bound %d", len(v), max)
	}
	got, err := decodeSegment(nil, key, v, 300, nil)
	if err != nil {
		t.Fatal(err)
	}
	metas := map[*record.Meta]bool{}
	for i := range got {
		if got[i].ID != recs[i].ID || got[i].Time != recs[i].Time || string(got[i].Document()) != whole[i] || got[i].Size() != recs[i].Size() {
			t.Fatalf("record %d: %s, want %s", i, got[i].Document(), whole[i])
		}
		if (got[i].Meta == nil) != (recs[i].Meta == nil) {
			t.Fatalf("record %d: Meta %v, want %v", i, got[i].Meta, recs[i].Meta)
		}
		if got[i].Meta != nil {
			metas[got[i].Meta] = true
		}
	}
	if len(metas) != 3 {
		t.Errorf("%d Metas decoded, want the records of one version to share one (3)", len(metas))
	}
}

// metaSegment is a version 4 segment of three records, the last with a
// Meta (so the body ends in its reference and position), whose
// uncompressed body edit changed; sealed with a good checksum, so that only
// the decoder's own checks can refuse it.
func metaSegment(edit func(body []byte) []byte) []byte {
	recs := makeRecords(0, 3, 50)
	recs[2].Meta, recs[2].At = &record.Meta{Doc: []byte(`,"m":1`)}, 10
	v := encodeSegment(nil, recs)
	body, err := s2.Decode(nil, v[1:len(v)-crcLen])
	if err != nil {
		panic(err)
	}
	out := append([]byte{valueVersionMeta}, s2.Encode(nil, edit(body))...)
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
}

func TestDecodeSegmentRejectsDamage(t *testing.T) {
	recs := makeRecords(0, 3, 50)
	good := encodeSegmentV1(recs)
	compressed := encodeSegment(nil, recs)
	key := segKey(segMeta{seq: 1, count: 3})
	reseal := func(v []byte) []byte { // fix the checksum after editing the body
		binary.LittleEndian.PutUint32(v[len(v)-4:], crc32.Checksum(v[:len(v)-4], castagnoli))
		return v
	}
	tests := []struct {
		name  string
		value []byte
		count uint32
		want  string
	}{
		{"an empty value is too short", nil, 3, "too short"},
		{"a flipped bit fails the checksum", func() []byte { v := bytes.Clone(good); v[20] ^= 1; return v }(), 3, "crc32c mismatch"},
		{"an unknown version is refused", func() []byte { v := bytes.Clone(good); v[0] = 9; return v }(), 3, "unknown value version"},
		{"a count that disagrees with the key is refused", bytes.Clone(good), 4, "key says 4"},
		{"a truncated value fails the checksum", good[:len(good)-10], 3, "crc32c mismatch"},
		{"a flipped bit in a compressed value fails the checksum", func() []byte { v := bytes.Clone(compressed); v[3] ^= 1; return v }(), 3, "crc32c mismatch"},
		{"a garbled compressed body is refused even with a good checksum", func() []byte {
			v := bytes.Clone(compressed)
			for i := 1; i < len(v)-4; i++ {
				v[i] = 0xff
			}
			return reseal(v)
		}(), 3, "compressed"},
		{"a document length past the end is refused even with a good checksum", func() []byte {
			v := bytes.Clone(good)
			v[2+16+varintLen(recs[0].Time)] = 0x7f // first doc length
			return reseal(v)
		}(), 3, "record"},
		// Version 4: the Meta table and the records' references to it.
		{"a Meta table longer than the body is refused", metaSegment(func(b []byte) []byte { return append([]byte{0x7f}, b[1:]...) }), 3, "metadata"},
		{"a Meta whose length runs past the body is refused", metaSegment(func(b []byte) []byte { return b[:4] }), 3, "metadata 0: bad length"},
		{"a reference past the Meta table is refused", metaSegment(func(b []byte) []byte { b[len(b)-2] = 5; return b }), 3, "bad metadata reference (5 of 1)"},
		{"a Meta position past the record's own part is refused", metaSegment(func(b []byte) []byte { b[len(b)-1] = 0x7f; return b }), 3, "bad metadata position"},
		{"a record cut before its Meta reference is refused", metaSegment(func(b []byte) []byte { return b[:len(b)-2] }), 3, "bad metadata reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeSegment(nil, key, tt.value, tt.count, nil)
			var ce *CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || !bytes.Contains([]byte(err.Error()), []byte(tt.want)) {
				t.Fatalf("decodeSegment = %v, want a *CorruptError saying %q", err, tt.want)
			}
		})
	}
	got, err := decodeSegment(nil, key, good, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, got, 50, seqNums(0, 3))
}

func FuzzSegmentRoundTrip(f *testing.F) {
	f.Add([]byte("0123456789abcdef"), int64(0), []byte(`{"a":1}`), 1)
	f.Add([]byte{}, int64(-1), []byte{}, 3)
	f.Add([]byte{0xff}, int64(1<<62), []byte("\x00\xff"), 0)
	f.Fuzz(func(t *testing.T, id []byte, tm int64, doc []byte, n int) {
		n = n%8 + 1
		if n < 1 {
			n = -n + 1
		}
		recs := make([]record.Record, n)
		for i := range recs {
			copy(recs[i].ID[:], id)
			recs[i].ID[15] = byte(i)
			recs[i].Time = tm + int64(i)
			recs[i].Doc = doc
		}
		v := encodeSegment([]byte("prefix"), recs)[len("prefix"):]
		if max := 1 + s2.MaxEncodedLen(planSize(recs)) + crcLen; len(v) > max {
			t.Fatalf("encoded %d bytes, more than the bound %d", len(v), max)
		}
		got, err := decodeSegment(nil, []byte("k"), v, uint32(n), nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range recs {
			if got[i].ID != recs[i].ID || got[i].Time != recs[i].Time || !bytes.Equal(got[i].Doc, recs[i].Doc) {
				t.Fatalf("record %d: got %+v, want %+v", i, got[i], recs[i])
			}
		}
	})
}

// FuzzDecodeSegment feeds arbitrary values to the decoder: it must never
// panic, and what it accepts must survive a re-encode.
func FuzzDecodeSegment(f *testing.F) {
	f.Add(encodeSegment(nil, makeRecords(0, 2, 40)), uint32(2))
	f.Add([]byte{1, 0, 0, 0, 0, 0}, uint32(0))
	f.Add([]byte{}, uint32(1))
	f.Fuzz(func(t *testing.T, v []byte, count uint32) {
		got, err := decodeSegment(nil, []byte("k"), v, count, nil)
		if err != nil {
			return
		}
		again, err := decodeSegment(nil, []byte("k"), encodeSegment(nil, got), count, nil)
		if err != nil || len(again) != len(got) {
			t.Fatalf("re-encoded segment does not decode: %v", err)
		}
	})
}

func FuzzDecodeDead(f *testing.F) {
	items := []deadItem{
		{key: 5, dl: DeadLetter{Record: makeRecords(5, 1, 30)[0], Reason: "x", Time: time.Unix(1, 2)}},
		{key: 9, dl: DeadLetter{Record: makeRecords(9, 1, 30)[0], Reason: ""}},
	}
	f.Add(encodeDead(nil, items), uint32(2))
	f.Add([]byte{1, 1, 0}, uint32(1))
	f.Fuzz(func(t *testing.T, v []byte, count uint32) {
		m := deadMeta{first: 5, last: 9, count: count}
		got, err := decodeDead([]byte("k"), v, m)
		if err != nil || len(got) == 0 {
			return
		}
		again, err := decodeDead([]byte("k"), encodeDead(nil, got), deadMeta{first: got[0].key, count: count})
		if err != nil || len(again) != len(got) {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		for i := range got {
			if again[i].key != got[i].key || again[i].dl.Reason != got[i].dl.Reason || !bytes.Equal(again[i].dl.Record.Doc, got[i].dl.Record.Doc) {
				t.Fatalf("dead letter %d changed in a round trip", i)
			}
		}
	})
}
