// SPDX-License-Identifier: Apache-2.0

//go:build unix

package stdio

import (
	"os/exec"
	"syscall"
)

// A procTree is a started child and whatever it spawns. On Unix it is the
// child's process group: the child is started as the leader of a new group,
// and signals go to the whole group, so helpers it spawned (npx, uvx) stop
// too unless they moved to a group of their own.
type procTree struct {
	pgid int
}

// startTree starts cmd as the leader of a new process group. On Linux the
// child also gets SIGKILL when this process dies (see startProcess).
func startTree(cmd *exec.Cmd) (*procTree, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := startProcess(cmd); err != nil {
		return nil, err
	}
	return &procTree{pgid: cmd.Process.Pid}, nil
}

// interruptName names the polite stop request in logs.
const interruptName = "SIGTERM"

// interrupt asks the group to stop (SIGTERM).
func (t *procTree) interrupt() error { return syscall.Kill(-t.pgid, syscall.SIGTERM) }

// kill stops every process left in the group (SIGKILL).
func (t *procTree) kill() error { return syscall.Kill(-t.pgid, syscall.SIGKILL) }

// release frees what the tree holds; on Unix there is nothing.
func (t *procTree) release() {}
