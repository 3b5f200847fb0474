//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package tailer

import (
	"fmt"
	"os"
)

// statOf is unsupported here: the tailer identifies files by device and inode.
func statOf(fi os.FileInfo) (fileID, uint64, error) {
	return fileID{}, 0, fmt.Errorf("tailer: file identity (device, inode) unsupported on this platform for %s", fi.Name())
}

func stampOfInfo(fi os.FileInfo) statStamp {
	return statStamp{ok: true, mode: fi.Mode(), ctime: fi.ModTime().UnixNano()}
}
