// SPDX-License-Identifier: Apache-2.0

// Package proxybench holds the throughput and latency benchmark of
// `asyncmcp proxy` in front of a fast Go stdio MCP server, measured against
// the same tool served directly over Streamable HTTP by the Go MCP SDK,
// for session-based clients (BenchmarkProxy, BenchmarkProxySerial) and for
// 2026-07-28 clients through the proxy's child pool against the SDK's
// stateless handler (BenchmarkProxyModern).
//
// Run it with:
//
//	go test -run XXX -bench . ./bench/proxybench
//
// Without -bench nothing in this package runs.
package proxybench
