// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
)

// memorySupported reports whether groupRSS can measure memory here.
const memorySupported = true

// groupRSS sums VmRSS over the processes of process group pgid (a child
// runs as the leader of its own group, with the helpers it spawned), read
// from /proc. ok is false when nothing could be read.
func groupRSS(pgid int) (total int64, ok bool) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pid != pgid && processGroup(pid) != pgid {
			continue
		}
		if rss, found := vmRSS(pid); found {
			total += rss
			ok = true
		}
	}
	return total, ok
}

// processGroup reads the pgrp field of /proc/PID/stat, or -1.
func processGroup(pid int) int {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// the fields after the last ')' are state, ppid, pgrp, ...
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 3 {
		return -1
	}
	g, err := strconv.Atoi(f[2])
	if err != nil {
		return -1
	}
	return g
}

// vmRSS reads VmRSS of /proc/PID/status in bytes.
func vmRSS(pid int) (int64, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(data)) {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest) // "12345 kB"
		if len(f) == 0 {
			return 0, false
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, false
		}
		return kb << 10, true
	}
	return 0, false
}
