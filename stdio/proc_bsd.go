// SPDX-License-Identifier: Apache-2.0

//go:build unix && !linux

package stdio

import "os/exec"

// startProcess starts cmd. macOS and the BSDs have no parent-death signal:
// if this process is killed with SIGKILL its children are not signalled.
// They see their stdin reach end of file, which is where an MCP stdio server
// stops; a server that ignores end of file keeps running.
func startProcess(cmd *exec.Cmd) error { return cmd.Start() }
