// SPDX-License-Identifier: Apache-2.0

//go:build unix

package testenv

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// KillGroupOnCancel makes cmd the leader of a new process group (a process
// tree on Windows) and sets cmd.Cancel to kill the whole group, so a
// command started with exec.CommandContext takes its helpers with it.
func KillGroupOnCancel(cmd *exec.Cmd) {
	setGroup(cmd)
	cmd.Cancel = func() error { return KillGroup(cmd.Process.Pid) }
}

// setGroup starts cmd as the leader of a new process group.
func setGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
}

// KillGroup kills (SIGKILL) the process group led by pid.
func KillGroup(pid int) error { return syscall.Kill(-pid, syscall.SIGKILL) }

// terminateGroup asks the process group led by pid to stop (SIGTERM).
func terminateGroup(pid int) error { return syscall.Kill(-pid, syscall.SIGTERM) }

// Terminate asks p to stop: SIGTERM on Unix; on Windows, which has no such
// request for a program without a console, it kills p.
func Terminate(p *os.Process) error { return p.Signal(syscall.SIGTERM) }

// KillPID kills (SIGKILL) the process pid, ignoring errors: for cleanups.
func KillPID(pid int) { syscall.Kill(pid, syscall.SIGKILL) }

// ProcessAlive reports whether process pid exists and has not exited. A
// zombie (exited, not yet reaped) counts as exited on Linux, where that can
// be told apart.
func ProcessAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	return !IsZombie(pid)
}

// IsZombie reports whether pid has exited but its parent has not reaped it
// (Linux only; false elsewhere).
func IsZombie(pid int) bool {
	if runtime.GOOS != "linux" {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// lockFD takes an exclusive lock on f, waiting for it.
func lockFD(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }

// unlockFD releases the lock taken by lockFD.
func unlockFD(f *os.File) { syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
