// SPDX-License-Identifier: Apache-2.0

package stdio

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// startProcess starts cmd with a parent-death signal: the kernel sends the
// child SIGKILL when this process dies, even by SIGKILL, so a crashed proxy
// leaves no server behind. Only the direct child gets the signal; helpers it
// spawned see their stdin reach end of file, which is where an MCP stdio
// server stops.
//
// Linux ties the parent-death signal to the thread that forked the child,
// not to the process: the signal also fires when that thread exits. The Go
// runtime ends a thread only when a goroutine exits while locked to it, and
// any goroutine may run on any thread, so every child is started from one
// goroutine that locks its thread for the life of the process and never
// exits.
func startProcess(cmd *exec.Cmd) error {
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	spawnerOnce.Do(func() {
		spawnRequests = make(chan spawnRequest)
		go spawner(spawnRequests)
	})
	done := make(chan error, 1)
	spawnRequests <- spawnRequest{cmd: cmd, done: done}
	return <-done
}

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan<- error
}

var (
	spawnerOnce   sync.Once
	spawnRequests chan spawnRequest
)

// spawner starts children on a thread that no other goroutine uses and that
// lives as long as the process.
func spawner(requests <-chan spawnRequest) {
	runtime.LockOSThread() // never unlocked: the thread must not be reused or end
	for r := range requests {
		r.done <- r.cmd.Start()
	}
}
