//go:build linux || darwin || freebsd || netbsd || openbsd

package tailer

import (
	"fmt"
	"os"
	"syscall"
)

// statOf returns the identity and link count of fi, which must come from
// os.Stat, os.Lstat or (*os.File).Stat.
func statOf(fi os.FileInfo) (fileID, uint64, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, 0, fmt.Errorf("tailer: no device and inode for %s", fi.Name())
	}
	return fileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)}, uint64(st.Nlink), nil //nolint:unconvert // types differ per platform
}

// stampOfInfo is the part of fi that changes when a failing path is fixed.
func stampOfInfo(fi os.FileInfo) statStamp {
	s := statStamp{ok: true, mode: fi.Mode()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.dev, s.ino = uint64(st.Dev), uint64(st.Ino) //nolint:unconvert // types differ per platform
		s.uid, s.gid = uint64(st.Uid), uint64(st.Gid)
		s.ctime = ctimeOf(st)
	}
	return s
}
