package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// cpuTimes is a snapshot of the machine's and this process's CPU time, in
// clock ticks, to tell how much of the machine the benchmark had: other
// processes on a 2-core box move latencies a lot.
type cpuTimes struct {
	busy, steal, total uint64 // all CPUs, from /proc/stat
	own                uint64 // this process and its waited-for children
	ok                 bool
}

func readCPUTimes() cpuTimes {
	var t cpuTimes
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return t
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return t
	}
	var v [8]uint64 // user nice system idle iowait irq softirq steal
	for i := range v {
		v[i], _ = strconv.ParseUint(f[i+1], 10, 64)
	}
	t.busy = v[0] + v[1] + v[2] + v[5] + v[6]
	t.steal = v[7]
	t.total = t.busy + v[3] + v[4] + t.steal
	b, err = os.ReadFile("/proc/self/stat")
	if err != nil {
		return t
	}
	s := string(b)
	rest := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(rest) < 15 {
		return t
	}
	for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime
		n, _ := strconv.ParseUint(rest[i], 10, 64)
		t.own += n
	}
	t.ok = true
	return t
}

// loadSince describes CPU use since t0 in cores (of runtime.NumCPU).
func loadSince(t0 cpuTimes) string {
	t1 := readCPUTimes()
	if !t0.ok || !t1.ok || t1.total <= t0.total {
		return "machine load: unknown"
	}
	cores := float64(runtime.NumCPU())
	total := float64(t1.total - t0.total)
	busy := float64(t1.busy-t0.busy) / total * cores
	own := min(float64(t1.own-t0.own)/total*cores, busy)
	steal := float64(t1.steal-t0.steal) / total * 100
	return fmt.Sprintf("CPU use during this benchmark, in cores of %d: bench %.2f, other processes %.2f; steal %.1f%%.", runtime.NumCPU(), own, busy-own, steal)
}
