package testlogs

import (
	"syscall"
	"testing"
	"time"
)

// CPUTime is the user+system CPU time this process has used so far: every
// goroutine's and the runtime's. Benchmarks report figures per CPU-second or
// CPU time per line from it, which on a shared machine are steadier than
// wall-clock times (they leave out the time other tenants ran).
func CPUTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ReportMBPerCPUSecond adds the "MB/cpu-s" metric to b: bytesPerOp bytes
// per iteration over the CPU time used since start (a CPUTime value).
func ReportMBPerCPUSecond(b *testing.B, start time.Duration, bytesPerOp int64) {
	if cpu := (CPUTime() - start).Seconds(); cpu > 0 {
		b.ReportMetric(float64(bytesPerOp)*float64(b.N)/cpu/1e6, "MB/cpu-s")
	}
}
