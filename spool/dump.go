package spool

// Dump: reading every queued record, for `logspool spool dump`.

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/logspool/logspool/spool/record"
)

// Dump calls fn for every queued record (leased ones included), oldest first.
// The records' Docs and Metas are only valid during the call.
func (s *Spool) Dump(fn func(r record.Record) error) error {
	var segs []segMeta
	err := s.view(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{prefixSegment}
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			m, ok := parseSegKey(it.Item().Key())
			if !ok {
				continue
			}
			if err := it.Item().Value(func(v []byte) error {
				if r, _, isRef, err := decodeIndex(v); err == nil && isRef {
					m.r = r
				}
				return nil
			}); err != nil {
				return err
			}
			segs = append(segs, m)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("spool: listing segments: %w", err)
	}
	var recs []record.Record
	var buf, dbuf []byte
	alloc := func(n int) []byte { // the records are only valid during fn
		if cap(dbuf) < n {
			dbuf = make([]byte, n)
		}
		return dbuf[:n]
	}
	for _, m := range segs {
		var v []byte
		v, buf, err = s.readSegment(m, buf)
		if err != nil {
			var ce *CorruptError
			if errors.As(err, &ce) && ce.Reason == "segment is missing from the database" {
				continue // acked meanwhile
			}
			return fmt.Errorf("spool: reading segment %d: %w", m.seq, err)
		}
		recs, err = decodeSegment(recs[:0], segKey(m), v, m.count, alloc)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}
