// SPDX-License-Identifier: Apache-2.0

//go:build unix

package stdio

import (
	"os/exec"
	"syscall"
)

// A sysTree is a started child and whatever it spawns. On Unix it is the
// child's process group: the child is started as the leader of a new group,
// and signals go to the whole group, so helpers it spawned (npx, uvx) stop
// too unless they moved to a group of their own.
type sysTree struct {
	pgid int
}

// startSysTree starts cmd as the leader of a new process group. On Linux the
// child also gets SIGKILL when this process dies (see startProcess).
func startSysTree(cmd *exec.Cmd) (sysTree, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := startProcess(cmd); err != nil {
		return sysTree{}, err
	}
	return sysTree{pgid: cmd.Process.Pid}, nil
}

// interruptName names the polite stop request in logs.
const interruptName = "SIGTERM"

// interrupt asks the group to stop (SIGTERM).
func (t sysTree) interrupt() error { return syscall.Kill(-t.pgid, syscall.SIGTERM) }

// kill stops every process left in the group (SIGKILL).
func (t sysTree) kill() error { return syscall.Kill(-t.pgid, syscall.SIGKILL) }

// release frees what the tree holds; on Unix there is nothing.
func (t sysTree) release() {}
