package spool

import (
	"fmt"
	"time"
)

// freeCheckEvery is how long a reading of the free disk space is trusted.
const freeCheckEvery = 250 * time.Millisecond

// checkDisk fails with ErrDiskFull while the spool's file system has less
// than MinFreeBytes free, counting the n bytes about to be appended. A
// reading is trusted for a quarter second minus what was appended since (the
// uncompressed size, an upper bound of what it adds to the disk), so a fast
// reader cannot overshoot the reserve between two readings.
func (s *Spool) checkDisk(n int64) error {
	if s.cfg.MinFreeBytes < 0 {
		return nil
	}
	s.freeMu.Lock()
	defer s.freeMu.Unlock()
	now := time.Now()
	if now.Sub(s.freeAt) >= freeCheckEvery || s.free-s.freeUsed-n < s.cfg.MinFreeBytes {
		free, err := s.cfg.freeBytes(s.cfg.Dir)
		if err != nil {
			// Unknown free space must not stop the spool: Badger reports
			// write errors itself.
			s.log.Warn("reading the free space of the spool's file system", "dir", s.cfg.Dir, "err", err)
			free = s.cfg.MinFreeBytes + n
		}
		s.free, s.freeAt, s.freeUsed = free, now, 0
	}
	full := s.free-s.freeUsed-n < s.cfg.MinFreeBytes
	s.metrics.setDiskFull(full)
	if full {
		return fmt.Errorf("%w: %d MiB free on the file system of %s, below the %d MiB the spool keeps in reserve; reading pauses until acknowledgements free space",
			ErrDiskFull, (s.free-s.freeUsed)>>20, s.cfg.Dir, s.cfg.MinFreeBytes>>20)
	}
	s.freeUsed += n
	return nil
}
