// SPDX-License-Identifier: Apache-2.0

package testenv

import (
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/windows"
)

// KillGroupOnCancel starts cmd in a new process group and sets cmd.Cancel
// to kill it. Windows has no signal to a group: only cmd's own process is
// killed.
func KillGroupOnCancel(cmd *exec.Cmd) {
	setGroup(cmd)
	cmd.Cancel = func() error { return cmd.Process.Kill() }
}

func setGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.CreationFlags |= windows.CREATE_NEW_PROCESS_GROUP
}

// KillGroup kills the process pid (Windows has no process group signal).
func KillGroup(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	defer p.Release()
	return p.Kill()
}

func terminateGroup(pid int) error { return KillGroup(pid) }

// Terminate kills p: Windows has no stop request for a program without a
// console.
func Terminate(p *os.Process) error { return p.Kill() }

// KillPID kills the process pid, ignoring errors: for cleanups.
func KillPID(pid int) { KillGroup(pid) }

// ProcessAlive reports whether process pid exists and has not exited.
func ProcessAlive(pid int) bool {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return false
	}
	defer windows.CloseHandle(h)
	var code uint32
	if err := windows.GetExitCodeProcess(h, &code); err != nil {
		return false
	}
	const stillActive = 259
	return code == stillActive
}

// IsZombie is always false on Windows, which has no zombies.
func IsZombie(pid int) bool { return false }

func lockFD(f *os.File) error {
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK, 0, 1, 0, &windows.Overlapped{})
}

func unlockFD(f *os.File) {
	windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, &windows.Overlapped{})
}
