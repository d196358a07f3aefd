// SPDX-License-Identifier: Apache-2.0

package proxybench

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ,
// 100 on every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// treeCPU returns the CPU time (user + system) used so far by the process
// root and all its living descendants, read from /proc. ok is false where
// /proc is not available.
func treeCPU(root int) (cpu time.Duration, ok bool) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	type proc struct {
		ppid  int
		ticks int64
	}
	procs := map[int]proc{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// The command name, in parentheses, may hold spaces: fields are
		// counted after its closing parenthesis. There, field 0 is the state,
		// 1 the ppid, 11 utime and 12 stime.
		i := bytes.LastIndexByte(data, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(data[i+1:])
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(string(f[1]))
		ut, _ := strconv.ParseInt(string(f[11]), 10, 64)
		st, _ := strconv.ParseInt(string(f[12]), 10, 64)
		procs[pid] = proc{ppid: ppid, ticks: ut + st}
	}
	if _, found := procs[root]; !found {
		return 0, false
	}
	var ticks int64
	for pid, p := range procs {
		// Walk up to the root (or to init); a short chain, bounded anyway.
		for q, n := pid, 0; q > 1 && n < 64; q, n = procs[q].ppid, n+1 {
			if q == root {
				ticks += p.ticks
				break
			}
			if _, found := procs[q]; !found {
				break
			}
		}
	}
	return time.Duration(ticks) * clockTick, true
}

// ownCPU returns the CPU time (user + system) used so far by process pid
// alone, without its children; ok is false where /proc is not available.
func ownCPU(pid int) (cpu time.Duration, ok bool) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(data[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	st, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(ut+st) * clockTick, true
}
