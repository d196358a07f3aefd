// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package main

// memorySupported reports whether groupRSS can measure memory here.
const memorySupported = false

// groupRSS is not implemented outside Linux.
func groupRSS(pgid int) (int64, bool) { return 0, false }
