package tailer

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fsIocGetVersion is FS_IOC_GETVERSION, _IOR('v', 1, long): the kernel
// writes the inode generation as an int.
const fsIocGetVersion = 0x80007601 | uint(unsafe.Sizeof(uintptr(0)))<<16

// fsIdentityOf asks the file system for f's inode generation
// (FS_IOC_GETVERSION) and birth time (statx); what it cannot tell stays
// unknown.
func fsIdentityOf(f *os.File) fsIdentity {
	var id fsIdentity
	sc, err := f.SyscallConn()
	if err != nil {
		return id
	}
	_ = sc.Control(func(fd uintptr) {
		if v, err := unix.IoctlGetUint32(int(fd), fsIocGetVersion); err == nil {
			id.Gen, id.HasGen = uint64(v), true
		}
		var st unix.Statx_t
		if err := unix.Statx(int(fd), "", unix.AT_EMPTY_PATH, unix.STATX_BTIME, &st); err == nil && st.Mask&unix.STATX_BTIME != 0 {
			id.Birth, id.HasBirth = st.Btime.Sec*1e9+int64(st.Btime.Nsec), true
		}
	})
	return id
}
