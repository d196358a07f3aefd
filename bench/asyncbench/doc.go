// SPDX-License-Identifier: Apache-2.0

// Package asyncbench holds the benchmark of `asyncmcp proxy --backend sqs`
// in front of `asyncmcp serve --transport sqs -- echo-server`, measured
// against a bare SQS ping-pong on the same fauxqs emulator in the same run,
// and the proxy's resident memory with 1,000 idle sessions open.
//
// Run it with:
//
//	go test -run XXX -bench . -benchtime 5x ./bench/asyncbench
//
// Without -bench nothing in this package runs. See README.md for figures.
package asyncbench
