package spool

// Checkpoints: the source positions committed with the records (see
// append.go) and read back by the inputs at start.

import (
	"slices"
	"strings"

	"github.com/logspool/logspool/spool/record"
)

// encodeCpEntry is the value of a checkpoint entry in a data file: 1 and the
// value, or 0 for a deleted checkpoint.
func encodeCpEntry(cp record.Checkpoint) []byte {
	if cp.Value == nil {
		return []byte{0}
	}
	return append([]byte{1}, cp.Value...)
}

// Checkpoint returns the stored value for key, or nil when there is none.
func (s *Spool) Checkpoint(key string) ([]byte, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	if v := s.cpCur[key]; v.ok {
		return slices.Clone(v.val), nil
	}
	return nil, nil
}

// Checkpoints returns every stored checkpoint whose key starts with prefix.
func (s *Spool) Checkpoints(prefix string) (map[string][]byte, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	out := make(map[string][]byte)
	for k, v := range s.cpCur {
		if v.ok && strings.HasPrefix(k, prefix) {
			out[k] = slices.Clone(v.val)
		}
	}
	return out, nil
}
