// SPDX-License-Identifier: Apache-2.0

package proxybench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// sessions is the number of concurrent client sessions, each with one call in
// flight at a time.
const sessions = 8

// warmupCalls is how many calls each session makes before measuring.
const warmupCalls = 20

// readyTimeout bounds how long a server process may take to print its URL.
const readyTimeout = time.Minute

// echoText is the argument of every echo call.
const echoText = "hello, asyncmcp"

// A side is one way of serving the echo tool over Streamable HTTP, with
// sessions connected to it.
type side struct {
	name     string
	endpoint string
	pid      int // the server process; its descendants count towards its CPU time
	sessions []*mcp.ClientSession
}

// BenchmarkProxy measures tools/call echo with 8 concurrent sessions, each
// with one call in flight, against the echo tool served directly by the Go
// SDK over Streamable HTTP ("direct", the limit) and through
// `asyncmcp proxy -- echo-server` ("proxy"). Both servers are separate
// processes on 127.0.0.1 and are measured in the same run, interleaved in
// short rounds so that both see the same background load. It reports, per
// side, calls/s and p50/p99 latency, and for the proxy the ratio to direct
// throughput and the added p50; it also prints them as a table. Targets
// (printed, not asserted): at least 0.6x the direct throughput and under
// 0.5 ms added p50.
func BenchmarkProxy(b *testing.B) { benchmark(b, sessions) }

// BenchmarkProxySerial is [BenchmarkProxy] with one session making one call
// at a time: the latency a proxy adds to a call when the CPU is not
// saturated.
func BenchmarkProxySerial(b *testing.B) { benchmark(b, 1) }

// callsPerRound is how many calls each session in use makes per side in
// one round (one b.Loop iteration).
const callsPerRound = 25

func benchmark(b *testing.B, conc int) {
	bin := buildAll(b)
	sides := []*side{
		startDirect(b, bin),
		startProxy(b, "proxy", bin.asyncmcp, bin.echoServer),
	}
	if alt := os.Getenv("PROXYBENCH_ASYNCMCP_B"); alt != "" {
		sides = append(sides, startProxy(b, "proxy-b", alt, bin.echoServer))
	}
	sides = append(sides, nodeSides(b, bin.echoServer)...)
	tallies := make([]tally, len(sides))
	round := 0
	for b.Loop() {
		for i := range sides {
			if round%2 == 1 { // alternate the order, so neither side always goes first
				i = len(sides) - 1 - i
			}
			if err := sides[i].round(b.Context(), conc, callsPerRound, &tallies[i]); err != nil {
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
		b.ReportMetric(ms(r.p99), s.name+"-p99-ms")
		if r.cpuPerCall > 0 {
			b.ReportMetric(float64(r.cpuPerCall)/float64(time.Microsecond), s.name+"-cpu-us/call")
		}
		if i > 0 {
			b.ReportMetric(r.throughput()/base.throughput(), s.name+"/direct")
			b.ReportMetric(ms(r.p50-base.p50), s.name+"-added-p50-ms")
		}
	}
	printTable(conc, sides, results)
}

// A tally accumulates the calls of one side over the rounds of a run.
type tally struct {
	elapsed time.Duration
	lat     []time.Duration
	cpu     time.Duration // CPU time of the server processes during the rounds
	own     time.Duration // of which the server process itself, without its children
	noCPU   bool          // CPU time could not be read
}

// A result is what one side measured in a run.
type result struct {
	calls      int
	elapsed    time.Duration
	p50, p99   time.Duration
	cpuPerCall time.Duration // server-side CPU time per call; 0 if unknown
	ownPerCall time.Duration // of which the server process alone (not its children)
}

func (t *tally) result() result {
	lat := slices.Sorted(slices.Values(t.lat))
	r := result{calls: len(lat), elapsed: t.elapsed, p50: percentile(lat, 0.50), p99: percentile(lat, 0.99)}
	if !t.noCPU && len(lat) > 0 {
		r.cpuPerCall = t.cpu / time.Duration(len(lat))
		r.ownPerCall = t.own / time.Duration(len(lat))
	}
	return r
}

func (r result) throughput() float64 { return float64(r.calls) / r.elapsed.Seconds() }

// binaries holds the paths of the programs a benchmark runs.
// $PROXYBENCH_ASYNCMCP_B, if set, names a second asyncmcp binary, measured
// as the side "proxy-b" in the same interleaved run: an A/B comparison of a
// change to the proxy.
type binaries struct {
	asyncmcp, echoServer, directServer string
}

// buildAll builds the programs once per test binary (see
// [testenv.BuildPackage]). $PROXYBENCH_ASYNCMCP, if set, names an asyncmcp
// binary to use instead (for example one built with profiling hooks).
func buildAll(b *testing.B) binaries {
	b.Helper()
	proxy := os.Getenv("PROXYBENCH_ASYNCMCP")
	if proxy == "" {
		proxy = testenv.BuildAsyncmcp(b)
	}
	return binaries{
		asyncmcp:     proxy,
		echoServer:   testenv.EchoServer(b),
		directServer: testenv.BuildPackage(b, "./bench/proxybench/directserver"),
	}
}

// startServer starts cmd with [testenv.StartProcess], waits for the stdout
// line starting with prefix followed by the base URL, and returns base+"/mcp".
func startServer(b *testing.B, cmd *exec.Cmd, prefix string) (endpoint string, pid int) {
	b.Helper()
	urlc := make(chan string, 1)
	p := testenv.StartProcess(b, cmd, func(line string) {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			select {
			case urlc <- strings.TrimSpace(rest):
			default:
			}
		}
	})
	select {
	case u := <-urlc:
		return u + "/mcp", p.Cmd.Process.Pid
	case <-p.Exited():
		b.Fatalf("%s exited before printing its URL (%v):\n%s", cmd, p.Err(), p.Log())
	case <-time.After(readyTimeout):
		b.Fatalf("%s printed no URL within %v:\n%s", cmd, readyTimeout, p.Log())
	}
	return "", 0
}

func startDirect(b *testing.B, bin binaries) *side {
	b.Helper()
	u, pid := startServer(b, exec.Command(bin.directServer), "directserver: listening on ")
	return connectSide(b, "direct", u, pid)
}

func startProxy(b *testing.B, name, asyncmcp, echoServer string) *side {
	b.Helper()
	u, pid := startServer(b, exec.Command(asyncmcp, "proxy", "--port", "0", "--", echoServer), "asyncmcp: listening on ")
	return connectSide(b, name, u, pid)
}

// connectSide opens the client sessions to endpoint and warms them up. The
// sessions are closed by a b.Cleanup, which runs before the cleanup that
// stops the server process.
func connectSide(b *testing.B, name, endpoint string, pid int) *side {
	b.Helper()
	// One transport per side, with enough idle connections for every
	// session's POSTs and standalone GET streams (the default keeps 2).
	tr := &http.Transport{MaxIdleConns: 4 * sessions, MaxIdleConnsPerHost: 4 * sessions}
	b.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}
	client := mcp.NewClient(&mcp.Implementation{Name: "proxybench", Version: "1.0.0"}, nil)
	s := &side{name: name, endpoint: endpoint, pid: pid}
	ctx := b.Context()
	for i := range sessions {
		cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc},
			&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		if err != nil {
			b.Fatalf("%s: connect session %d to %s: %v", name, i, endpoint, err)
		}
		s.sessions = append(s.sessions, cs)
		b.Cleanup(func() { cs.Close() })
	}
	for i, cs := range s.sessions {
		for range warmupCalls {
			if err := call(ctx, cs); err != nil {
				b.Fatalf("%s: warm-up call on session %d: %v", name, i, err)
			}
		}
	}
	return s
}

// call makes one tools/call echo and checks the answer.
func call(ctx context.Context, cs *mcp.ClientSession) error {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": echoText}})
	if err != nil {
		return fmt.Errorf("tools/call echo: %w", err)
	}
	if res.IsError || len(res.Content) != 1 {
		return fmt.Errorf("tools/call echo: unexpected result %+v", res)
	}
	if tc, ok := res.Content[0].(*mcp.TextContent); !ok || tc.Text != echoText {
		return fmt.Errorf("tools/call echo: got content %#v, want text %q", res.Content[0], echoText)
	}
	return nil
}

// round makes perSession calls on each of the first conc sessions, the
// sessions running concurrently with one call in flight each, and adds the
// wall time and the latencies to t.
func (s *side) round(ctx context.Context, conc, perSession int, t *tally) error {
	lat := make([][]time.Duration, conc)
	errs := make([]error, conc)
	var wg sync.WaitGroup
	cpu0, ok0 := treeCPU(s.pid)
	own0, _ := ownCPU(s.pid)
	start := time.Now()
	for i, cs := range s.sessions[:conc] {
		lat[i] = make([]time.Duration, 0, perSession)
		wg.Go(func() {
			for range perSession {
				t0 := time.Now()
				if err := call(ctx, cs); err != nil {
					errs[i] = fmt.Errorf("session %d: %w", i, err)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		})
	}
	wg.Wait()
	t.elapsed += time.Since(start)
	cpu1, ok1 := treeCPU(s.pid)
	own1, _ := ownCPU(s.pid)
	t.cpu += cpu1 - cpu0
	t.own += own1 - own0
	t.noCPU = t.noCPU || !ok0 || !ok1
	for _, l := range lat {
		t.lat = append(t.lat, l...)
	}
	return errors.Join(errs...)
}

// percentile returns the q-quantile (nearest rank) of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// printTable prints the figures of every side and the ratios to the first
// side, "direct".
func printTable(conc int, sides []*side, results []result) {
	base := results[0]
	w := os.Stdout
	fmt.Fprintf(w, "\n%d session(s), one tools/call echo in flight per session, sides interleaved\n", conc)
	fmt.Fprintf(w, "%-14s %8s %11s %9s %9s %10s %14s %18s\n", "side", "calls", "calls/s", "p50 ms", "p99 ms", "x direct", "added p50 ms", "server CPU us/call")
	for i, s := range sides {
		r := results[i]
		cpu := "n/a"
		if r.cpuPerCall > 0 {
			cpu = fmt.Sprintf("%.0f", float64(r.cpuPerCall)/float64(time.Microsecond))
		}
		fmt.Fprintf(w, "%-14s %8d %11.0f %9.3f %9.3f %9.2fx %14.3f %18s\n", s.name, r.calls, r.throughput(),
			ms(r.p50), ms(r.p99), r.throughput()/base.throughput(), ms(r.p50-base.p50), cpu)
	}
	for i, s := range sides {
		if s.name == "proxy" {
			r := results[i]
			fmt.Fprintf(w, "asyncmcp proxy: %.2fx direct throughput (target >= 0.6x), %+.3f ms p50 (target < 0.5 ms)\n",
				r.throughput()/base.throughput(), ms(r.p50-base.p50))
		}
	}
	fmt.Fprintln(w)
}
