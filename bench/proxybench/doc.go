// SPDX-License-Identifier: Apache-2.0

// Package proxybench holds the throughput and latency benchmark of
// `asyncmcp proxy` in front of a fast Go stdio MCP server, measured against
// the same tool served directly over Streamable HTTP by the Go MCP SDK.
//
// Run it with:
//
//	go test -run XXX -bench . ./bench/proxybench
//
// Without -bench nothing in this package runs.
package proxybench
