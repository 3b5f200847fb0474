package spool

import (
	"fmt"
	"time"
)

// freeCheckEvery is how long a reading of the free disk space is trusted.
const freeCheckEvery = 250 * time.Millisecond

// checkDisk fails with ErrDiskFull while the spool's file system has less
// than MinFreeBytes free. The reading is cached briefly: one statfs per
// quarter second, not per Append.
func (s *Spool) checkDisk() error {
	if s.cfg.MinFreeBytes < 0 {
		return nil
	}
	s.freeMu.Lock()
	defer s.freeMu.Unlock()
	if now := time.Now(); now.Sub(s.freeAt) >= freeCheckEvery {
		free, err := s.cfg.freeBytes(s.cfg.Dir)
		if err != nil {
			// Unknown free space must not stop the spool: Badger reports
			// write errors itself.
			s.log.Warn("reading the free space of the spool's file system", "dir", s.cfg.Dir, "err", err)
			free = s.cfg.MinFreeBytes
		}
		s.free, s.freeAt = free, now
	}
	if s.free < s.cfg.MinFreeBytes {
		return fmt.Errorf("%w: %d MiB free on the file system of %s, below the %d MiB the spool keeps in reserve; reading pauses until acknowledgements free space",
			ErrDiskFull, s.free>>20, s.cfg.Dir, s.cfg.MinFreeBytes>>20)
	}
	return nil
}
