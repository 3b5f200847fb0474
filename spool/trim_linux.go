package spool

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// trimMappings drops this process's page-table entries for Badger's
// memory-mapped files in dir (value log, memtable logs, tables) with
// madvise(MADV_DONTNEED). Badger maps them MAP_SHARED, so no data is lost:
// the pages stay in the page cache (and dirty ones are still written back)
// and the next access faults them in again. Without this, every page of the
// value log that the process wrote or read counts towards its RSS until the
// file is deleted, so a full 1 GiB spool would show as a 1 GiB process.
// It returns the number of bytes advised.
func trimMappings(dir string) int64 {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return 0
	}
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0
	}
	var total int64
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		// 7f2c1c000000-7f2c1e000000 rw-s 00000000 fd:01 1234   /path/000001.vlog
		f := strings.Fields(sc.Text())
		if len(f) < 6 || len(f[1]) < 4 || f[1][3] != 's' {
			continue
		}
		path := strings.Join(f[5:], " ")
		if filepath.Dir(path) != dir {
			continue
		}
		switch filepath.Ext(path) {
		case ".vlog", ".mem", ".sst":
		default:
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(start), uintptr(end-start), syscall.MADV_DONTNEED); errno == 0 {
			total += int64(end - start)
		}
	}
	return total
}
