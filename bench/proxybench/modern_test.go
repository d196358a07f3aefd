// SPDX-License-Identifier: Apache-2.0

package proxybench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkProxyModern measures 2026-07-28 (stateless) tools/call echo with
// 8 concurrent clients, each with one call in flight, in one run:
//
//   - "direct": the echo tool served by the Go SDK's own stateless
//     StreamableHTTPHandler (directserver -stateless), the limit;
//   - "proxy": `asyncmcp proxy -- examples/echo-server`, whose modern
//     requests go to the pool of shared stdio children (default size 2);
//   - "proxy-sessions": the same proxy with 2025-11-25 session clients, one
//     stdio child per session, for comparison.
//
// The clients are Go SDK clients with default options (they probe
// server/discover and negotiate 2026-07-28; the benchmark fails if one falls
// back), except for proxy-sessions. The sides are interleaved in rounds. It
// reports calls/s, p50/p99, the ratio to direct (issue 8's target for the
// proxy is at least 0.9) and the server-side CPU time per call: the proxy
// process with its children against the direct server process, from /proc.
// Nothing is asserted.
func BenchmarkProxyModern(b *testing.B) {
	bin := buildAll(b)
	sides := []*side{
		startDirectStateless(b, bin),
		startProxyModern(b, "proxy", bin, true),
		startProxyModern(b, "proxy-sessions", bin, false),
	}
	tallies := make([]tally, len(sides))
	round := 0
	for b.Loop() {
		for i := range sides {
			if round%2 == 1 {
				i = len(sides) - 1 - i
			}
			if err := sides[i].round(b.Context(), sessions, callsPerRound, &tallies[i]); err != nil {
				b.Fatalf("%s: %v", sides[i].name, err)
			}
		}
		round++
	}
	results := make([]result, len(sides))
	for i, t := range tallies {
		results[i] = t.result()
	}
	base := results[0]
	for i, s := range sides {
		r := results[i]
		b.ReportMetric(r.throughput(), s.name+"-calls/s")
		b.ReportMetric(ms(r.p50), s.name+"-p50-ms")
		if r.cpuPerCall > 0 {
			b.ReportMetric(float64(r.cpuPerCall)/float64(time.Microsecond), s.name+"-cpu-us/call")
		}
		if i > 0 {
			b.ReportMetric(r.throughput()/base.throughput(), s.name+"/direct")
		}
	}
	b.ReportMetric(0, "ns/op")

	w := os.Stdout
	fmt.Fprintf(w, "\nmodern (%s) tools/call echo, %d clients with one call in flight each, %d rounds, sides interleaved\n",
		rpcmsg.ModernVersion, sessions, round)
	fmt.Fprintf(w, "%-16s %8s %9s %9s %9s %10s %18s %14s\n", "side", "calls", "calls/s", "p50 ms", "p99 ms", "x direct",
		"server CPU us/call", "of which proc")
	for i, s := range sides {
		r := results[i]
		cpu, own := "n/a", "n/a"
		if r.cpuPerCall > 0 {
			cpu = fmt.Sprintf("%.0f", float64(r.cpuPerCall)/float64(time.Microsecond))
			own = fmt.Sprintf("%.0f", float64(r.ownPerCall)/float64(time.Microsecond))
		}
		fmt.Fprintf(w, "%-16s %8d %9.0f %9.3f %9.3f %9.2fx %18s %14s\n", s.name, r.calls, r.throughput(),
			ms(r.p50), ms(r.p99), r.throughput()/base.throughput(), cpu, own)
	}
	fmt.Fprintln(w, "(server CPU: the server process with its children, from /proc; \"of which proc\": the proxy or direct server process alone, the rest is stdio children)")
	fmt.Fprintf(w, "asyncmcp proxy (modern, pooled): %.2fx the direct stateless throughput (target >= 0.9x)\n\n",
		results[1].throughput()/base.throughput())
}

func startDirectStateless(b *testing.B, bin binaries) *side {
	b.Helper()
	u, pid := startServer(b, exec.Command(bin.directServer, "-stateless"), "directserver: listening on ")
	return connectSideWith(b, "direct", u, pid, true)
}

func startProxyModern(b *testing.B, name string, bin binaries, modern bool) *side {
	b.Helper()
	u, pid := startServer(b, exec.Command(bin.asyncmcp, "proxy", "--port", "0", "--log-level", "warn", "--", bin.echoServer),
		"asyncmcp: listening on ")
	return connectSideWith(b, name, u, pid, modern)
}

// connectSideWith is [connectSide] for either era: with modern, the clients
// use the Go SDK's default options and must negotiate 2026-07-28; otherwise
// they open 2025-11-25 sessions.
func connectSideWith(b *testing.B, name, endpoint string, pid int, modern bool) *side {
	b.Helper()
	if !modern {
		return connectSide(b, name, endpoint, pid)
	}
	tr := &http.Transport{MaxIdleConns: 4 * sessions, MaxIdleConnsPerHost: 4 * sessions}
	b.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}
	client := mcp.NewClient(&mcp.Implementation{Name: "proxybench-modern", Version: "1.0.0"}, nil)
	s := &side{name: name, endpoint: endpoint, pid: pid, sessions: make([]*mcp.ClientSession, sessions)}
	b.Cleanup(func() {
		for _, cs := range s.sessions {
			if cs != nil {
				cs.Close()
			}
		}
	})
	var errs []error
	for i := range sessions {
		ctx, cancel := context.WithTimeout(b.Context(), readyTimeout)
		cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc}, nil)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("client %d: connect to %s: %w", i, endpoint, err))
			continue
		}
		s.sessions[i] = cs
		if v := cs.InitializeResult().ProtocolVersion; v != rpcmsg.ModernVersion {
			errs = append(errs, fmt.Errorf("client %d negotiated %q, not %s", i, v, rpcmsg.ModernVersion))
		}
	}
	if err := errors.Join(errs...); err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	var wg sync.WaitGroup
	werrs := make([]error, sessions)
	for i, cs := range s.sessions {
		wg.Go(func() {
			for range warmupCalls {
				if err := call(b.Context(), cs); err != nil {
					werrs[i] = fmt.Errorf("warm-up call on client %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(werrs...); err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	return s
}
