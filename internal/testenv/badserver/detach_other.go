// SPDX-License-Identifier: Apache-2.0

//go:build !unix

package main

import (
	"fmt"
	"os"
	"os/exec"
)

// detach is Unix only: a Windows job does not let a child leave it.
func detach(*exec.Cmd) {
	fmt.Fprintln(os.Stderr, "badserver: orphan-detached needs Unix")
	os.Exit(2)
}
