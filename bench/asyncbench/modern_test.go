// SPDX-License-Identifier: Apache-2.0

package asyncbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/stdio"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// modernClients is the number of concurrent clients of BenchmarkSQSChainModern.
const modernClients = 8

// BenchmarkSQSChainModern measures 2026-07-28 (stateless) tools/call over
// the SQS chain, in one run against one fauxqs emulator:
//
//	(a) the bare SQS ping-pong of BenchmarkSQSChain;
//	(b) one modern tools/call echo at a time, Go SDK client (default options,
//	    so it negotiates 2026-07-28) → `asyncmcp proxy --backend sqs` → SQS →
//	    `asyncmcp serve --transport sqs` (its pool of shared echo-server
//	    children) and back;
//	(c) calls/s with 8 modern clients, one call in flight each;
//	(d) the same with 8 session-based (2025-11-25) clients, each with its own
//	    child behind serve;
//
// interleaved in rounds, with the CPU time that serve (with its children)
// and the proxy spent per call in (c) and (d). Nothing is asserted. It
// skips until stdio.Command serves stateless requests (bridge.RoundTripper).
func BenchmarkSQSChainModern(b *testing.B) {
	if _, ok := any(&stdio.Command{}).(bridge.RoundTripper); !ok {
		b.Skip("needs stdio.Command to implement bridge.RoundTripper (the modern child pool)")
	}
	fq := testenv.StartFauxqs(b)
	asyncmcp := testenv.BuildAsyncmcp(b)
	echoServer := testenv.EchoServer(b)
	env := fq.Env()
	pp := startPingPong(b, fq)
	reqQ := fq.CreateQueue(b, "modern-requests", nil)
	respQ := fq.CreateQueue(b, "modern-responses", nil)
	wait := waitTime.String()
	_, servePID := start(b, env, "asyncmcp: serving ", asyncmcp, "serve", "--transport", "sqs", "--queue-url", reqQ, "--wait-time", wait, "--log-level", "warn", "--", echoServer)
	base, proxyPID := start(b, env, "asyncmcp: listening on ", asyncmcp, "proxy", "--port", "0", "--backend", "sqs",
		"--queue-url", reqQ, "--response-queue-url", respQ, "--wait-time", wait, "--log-level", "warn")
	modern := connectModern(b, base+"/mcp", modernClients)
	legacy := connect(b, base+"/mcp", modernClients)
	for _, cs := range append(slices.Clone(modern), legacy...) {
		for range warmupCalls {
			if err := call(b.Context(), cs); err != nil {
				b.Fatalf("warm-up call: %v", err)
			}
		}
	}
	for range warmupCalls {
		if _, err := pp.once(b.Context()); err != nil {
			b.Fatalf("warm-up ping-pong: %v", err)
		}
	}

	type conc struct {
		calls            int
		elapsed          time.Duration
		serveCPU, pxyCPU time.Duration
	}
	measure := func(ctx context.Context, sessions []*mcp.ClientSession, into *conc) error {
		s0, _ := treeCPU(servePID)
		p0, _ := treeCPU(proxyPID)
		n, d, err := concurrent(ctx, sessions, concurrentPerSession)
		s1, _ := treeCPU(servePID)
		p1, _ := treeCPU(proxyPID)
		into.calls += n
		into.elapsed += d
		into.serveCPU += s1 - s0
		into.pxyCPU += p1 - p0
		return err
	}
	var ping, serial []time.Duration
	var cm, cl conc
	round := 0
	for b.Loop() {
		ctx := b.Context()
		parts := []func() error{
			func() error {
				for range serialPerRound {
					d, err := pp.once(ctx)
					if err != nil {
						return fmt.Errorf("ping-pong: %w", err)
					}
					ping = append(ping, d)
				}
				return nil
			},
			func() error {
				for range serialPerRound {
					t0 := time.Now()
					if err := call(ctx, modern[0]); err != nil {
						return fmt.Errorf("serial modern call: %w", err)
					}
					serial = append(serial, time.Since(t0))
				}
				return nil
			},
			func() error { return measure(ctx, modern, &cm) },
			func() error { return measure(ctx, legacy, &cl) },
		}
		if round%2 == 1 {
			slices.Reverse(parts)
		}
		for _, part := range parts {
			if err := part(); err != nil {
				b.Fatal(err)
			}
		}
		round++
	}
	slices.Sort(ping)
	slices.Sort(serial)
	pingP50, callP50 := percentile(ping, 0.5), percentile(serial, 0.5)
	pingRate := float64(len(ping)) / sum(ping).Seconds()
	serialRate := float64(len(serial)) / sum(serial).Seconds()
	mRate := float64(cm.calls) / cm.elapsed.Seconds()
	lRate := float64(cl.calls) / cl.elapsed.Seconds()
	perCall := func(d time.Duration, n int) float64 { return ms(d) / float64(max(n, 1)) }

	b.ReportMetric(ms(pingP50), "pingpong-p50-ms")
	b.ReportMetric(ms(callP50), "modern-call-p50-ms")
	b.ReportMetric(ms(callP50)/ms(pingP50), "modern-call/pingpong")
	b.ReportMetric(mRate, "modern-calls/s-8")
	b.ReportMetric(lRate, "legacy-calls/s-8")
	b.ReportMetric(perCall(cm.serveCPU, cm.calls), "serve-cpu-ms/modern-call")
	b.ReportMetric(0, "ns/op")

	w := os.Stdout
	fmt.Fprintf(w, "\nasyncbench modern: %d rounds on one fauxqs (long-poll wait %v everywhere)\n", round, waitTime)
	fmt.Fprintf(w, "%-48s %6s %8s %8s %9s %12s %14s %14s\n", "part", "n", "p50 ms", "p99 ms", "per s", "x ping-pong", "serve CPU/call", "proxy CPU/call")
	fmt.Fprintf(w, "%-48s %6d %8.2f %8.2f %9.1f %12s\n", "(a) bare SQS ping-pong (serial)", len(ping), ms(pingP50), ms(percentile(ping, 0.99)), pingRate, "1.00x")
	fmt.Fprintf(w, "%-48s %6d %8.2f %8.2f %9.1f %11.2fx\n", "(b) modern tools/call via proxy→SQS→serve", len(serial), ms(callP50), ms(percentile(serial, 0.99)), serialRate, ms(callP50)/ms(pingP50))
	fmt.Fprintf(w, "%-48s %6d %8s %8s %9.1f %11.2fx %11.2f ms %11.2f ms\n", fmt.Sprintf("(c) modern, %d clients", modernClients), cm.calls, "-", "-", mRate, mRate/pingRate, perCall(cm.serveCPU, cm.calls), perCall(cm.pxyCPU, cm.calls))
	fmt.Fprintf(w, "%-48s %6d %8s %8s %9.1f %11.2fx %11.2f ms %11.2f ms\n", fmt.Sprintf("(d) sessions (2025-11-25), %d clients", modernClients), cl.calls, "-", "-", lRate, lRate/pingRate, perCall(cl.serveCPU, cl.calls), perCall(cl.pxyCPU, cl.calls))
	fmt.Fprintf(w, "(c)/(d) call rate: %.2f; CPU time from /proc (10 ms ticks: small per-call figures are coarse)\n\n", mRate/lRate)
}

// connectModern opens n Go SDK clients with default options, which probe
// server/discover and speak 2026-07-28; it fails if one falls back.
func connectModern(b *testing.B, endpoint string, n int) []*mcp.ClientSession {
	b.Helper()
	tr := &http.Transport{MaxIdleConns: 2 * n, MaxIdleConnsPerHost: 2 * n}
	b.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}
	client := mcp.NewClient(&mcp.Implementation{Name: "asyncbench-modern", Version: "1.0.0"}, nil)
	sessions := make([]*mcp.ClientSession, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(b.Context(), 2*time.Minute)
			defer cancel()
			cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc}, nil)
			if err != nil {
				errs[i] = fmt.Errorf("client %d: connect to %s: %w", i, endpoint, err)
				return
			}
			if v := cs.InitializeResult().ProtocolVersion; v != "2026-07-28" {
				cs.Close()
				errs[i] = fmt.Errorf("client %d negotiated %q, not 2026-07-28", i, v)
				return
			}
			sessions[i] = cs
		})
	}
	wg.Wait()
	b.Cleanup(func() {
		for _, cs := range sessions {
			if cs != nil {
				cs.Close()
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	return sessions
}

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ).
const clockTick = 10 * time.Millisecond

// treeCPU returns the user+system CPU time used so far by root and its
// living descendants, from /proc; ok is false without /proc.
func treeCPU(root int) (cpu time.Duration, ok bool) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	type proc struct {
		ppid  int
		ticks int64
	}
	procs := map[int]proc{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(data, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(data[i+1:])
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(string(f[1]))
		ut, _ := strconv.ParseInt(string(f[11]), 10, 64)
		st, _ := strconv.ParseInt(string(f[12]), 10, 64)
		procs[pid] = proc{ppid: ppid, ticks: ut + st}
	}
	if _, found := procs[root]; !found {
		return 0, false
	}
	var ticks int64
	for pid, p := range procs {
		for q, n := pid, 0; q > 1 && n < 64; q, n = procs[q].ppid, n+1 {
			if q == root {
				ticks += p.ticks
				break
			}
			if _, found := procs[q]; !found {
				break
			}
		}
	}
	return time.Duration(ticks) * clockTick, true
}
