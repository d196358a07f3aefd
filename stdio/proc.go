// SPDX-License-Identifier: Apache-2.0

package stdio

import (
	"os/exec"
	"sync"
)

// A procTree is a started child and the processes it spawns, stopped as one
// (a process group on Unix, a job object on Windows; see sysTree). Once
// released it does nothing, so a late stop can never reach a process group
// id or handle that the system has since given to something else.
type procTree struct {
	mu       sync.Mutex
	released bool
	sys      sysTree
}

// startTree starts cmd as the root of a new tree.
func startTree(cmd *exec.Cmd) (*procTree, error) {
	sys, err := startSysTree(cmd)
	if err != nil {
		return nil, err
	}
	return &procTree{sys: sys}, nil
}

// interrupt asks the tree to stop; errors.ErrUnsupported where there is no
// such request (Windows).
func (t *procTree) interrupt() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.released {
		return nil
	}
	return t.sys.interrupt()
}

// kill stops every process left in the tree.
func (t *procTree) kill() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.released {
		t.sys.kill()
	}
}

// release lets go of the tree; call it once the child has been reaped and
// its leftovers killed.
func (t *procTree) release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.released {
		t.released = true
		t.sys.release()
	}
}
