package proxybench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	sessions []*mcp.ClientSession
}

// A result is what one measured run of a side produced.
type result struct {
	calls    int
	elapsed  time.Duration
	p50, p99 time.Duration
}

func (r result) throughput() float64 { return float64(r.calls) / r.elapsed.Seconds() }

// BenchmarkProxy measures tools/call echo with 8 concurrent sessions, each
// with one call in flight, against the echo tool served directly by the Go
// SDK over Streamable HTTP (sub-benchmark "direct", the limit) and through
// `asyncmcp proxy -- echo-server` (sub-benchmark "proxy"). Both servers are
// separate processes on 127.0.0.1. Each sub-benchmark reports calls/s,
// p50-ms and p99-ms; at the end the benchmark prints a table and the ratios
// proxy/direct. Targets (printed, not asserted): at least 0.6x the direct
// throughput and under 0.5 ms added p50.
func BenchmarkProxy(b *testing.B) {
	bin := buildAll(b)

	sides := []*side{
		startDirect(b, bin),
		startProxy(b, bin),
	}
	results := map[string]result{}
	for _, s := range sides {
		b.Run(s.name, func(b *testing.B) {
			results[s.name] = s.measure(b)
		})
	}
	printTable(sides, results)
}

// binaries holds the paths of the programs a benchmark runs.
type binaries struct {
	asyncmcp, echoServer, directServer string
}

func buildAll(b *testing.B) binaries {
	b.Helper()
	dir := b.TempDir()
	root := testenv.RepoRoot(b)
	build := func(pkg, name string) string {
		out := filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("go build -o %s %s: %v\n%s", out, pkg, err, msg)
		}
		return out
	}
	return binaries{
		asyncmcp:     build("./cmd/asyncmcp", "asyncmcp"),
		echoServer:   build("./examples/echo-server", "echo-server"),
		directServer: build("./bench/proxybench/directserver", "directserver"),
	}
}

// startServer starts cmd with [testenv.StartProcess], waits for the stdout
// line starting with prefix followed by the base URL, and returns base+"/mcp".
func startServer(b *testing.B, cmd *exec.Cmd, prefix string) string {
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
		return u + "/mcp"
	case <-p.Exited():
		b.Fatalf("%s exited before printing its URL (%v):\n%s", cmd, p.Err(), p.Log())
	case <-time.After(readyTimeout):
		b.Fatalf("%s printed no URL within %v:\n%s", cmd, readyTimeout, p.Log())
	}
	return ""
}

func startDirect(b *testing.B, bin binaries) *side {
	b.Helper()
	u := startServer(b, exec.Command(bin.directServer), "directserver: listening on ")
	return connectSide(b, "direct", u)
}

func startProxy(b *testing.B, bin binaries) *side {
	b.Helper()
	u := startServer(b, exec.Command(bin.asyncmcp, "proxy", "--port", "0", "--", bin.echoServer), "asyncmcp: listening on ")
	return connectSide(b, "proxy", u)
}

// connectSide opens the client sessions to endpoint and warms them up. The
// sessions are closed by a b.Cleanup, which runs before the cleanup that
// stops the server process.
func connectSide(b *testing.B, name, endpoint string) *side {
	b.Helper()
	// One transport per side, with enough idle connections for every
	// session's POSTs and standalone GET streams (the default keeps 2).
	tr := &http.Transport{MaxIdleConns: 4 * sessions, MaxIdleConnsPerHost: 4 * sessions}
	b.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}
	client := mcp.NewClient(&mcp.Implementation{Name: "proxybench", Version: "1.0.0"}, nil)
	s := &side{name: name, endpoint: endpoint}
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

// measure makes b.N calls spread over the side's sessions, each session
// with one call in flight, and reports throughput and latency percentiles.
func (s *side) measure(b *testing.B) result {
	ctx := b.Context()
	var next atomic.Int64
	lat := make([][]time.Duration, len(s.sessions))
	errs := make([]error, len(s.sessions))
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i, cs := range s.sessions {
		lat[i] = make([]time.Duration, 0, b.N/len(s.sessions)+1)
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
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
	elapsed := time.Since(start)
	b.StopTimer()
	for _, err := range errs {
		if err != nil {
			b.Fatalf("%s: %v", s.name, err)
		}
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	r := result{calls: len(all), elapsed: elapsed, p50: percentile(all, 0.50), p99: percentile(all, 0.99)}
	b.ReportMetric(r.throughput(), "calls/s")
	b.ReportMetric(ms(r.p50), "p50-ms")
	b.ReportMetric(ms(r.p99), "p99-ms")
	return r
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

// printTable prints the figures of every side and the ratios to "direct".
func printTable(sides []*side, results map[string]result) {
	base, ok := results["direct"]
	if !ok {
		return
	}
	w := os.Stdout
	fmt.Fprintf(w, "\n%d sessions, tools/call echo, one call in flight per session\n", sessions)
	fmt.Fprintf(w, "%-14s %8s %11s %9s %9s %12s %14s\n", "side", "calls", "calls/s", "p50 ms", "p99 ms", "x direct", "added p50 ms")
	for _, s := range sides {
		r, ok := results[s.name]
		if !ok {
			continue
		}
		fmt.Fprintf(w, "%-14s %8d %11.0f %9.3f %9.3f %11.2fx %14.3f\n", s.name, r.calls, r.throughput(),
			ms(r.p50), ms(r.p99), r.throughput()/base.throughput(), ms(r.p50-base.p50))
	}
	if r, ok := results["proxy"]; ok {
		fmt.Fprintf(w, "asyncmcp proxy: %.2fx direct throughput (target >= 0.6x), %+.3f ms p50 (target < 0.5 ms)\n\n",
			r.throughput()/base.throughput(), ms(r.p50-base.p50))
	}
}
