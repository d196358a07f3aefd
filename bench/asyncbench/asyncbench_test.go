// SPDX-License-Identifier: Apache-2.0

package asyncbench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	asyncsqs "github.com/asyncmcp/asyncmcp-go/sqs"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	// concurrentSessions is the number of sessions of part (c), each with
	// one call in flight.
	concurrentSessions = 16
	// serialPerRound is how many bare ping-pongs (a) and serial calls (b)
	// one round makes.
	serialPerRound = 20
	// concurrentPerSession is how many calls each session makes per round in
	// part (c).
	concurrentPerSession = 10
	// warmupCalls is how many calls each session makes before measuring.
	warmupCalls = 5
	// idleSessions is the number of idle sessions of part (d).
	idleSessions = 1000
	// idleConnectors is how many of those sessions are being opened at once.
	idleConnectors = 32
	// rssTargetMiB is the target for the proxy's RSS with idleSessions open
	// (printed, not asserted).
	rssTargetMiB = 100
	// echoText is the argument of every echo call.
	echoText = "hello, asyncmcp over SQS"
	// waitTime is the long-poll wait used by every receiver in the run.
	waitTime = 20 * time.Second
)

// BenchmarkSQSChain measures, in one run against one fauxqs emulator:
//
//	(a) pingpong: the bare aws-sdk-go-v2 round trip, SendMessage to queue A,
//	    a responder long-polls A, sends the body to queue B and deletes it
//	    from A, the pinger long-polls B (and then deletes the pong, untimed):
//	    the limit for any request/response over SQS;
//	(b) call: one tools/call echo round trip through
//	    `asyncmcp proxy --backend sqs` → SQS → `asyncmcp serve --transport
//	    sqs` → echo-server, one session, one call at a time;
//	(c) calls/s with 16 sessions, each with one call in flight, through the
//	    same chain;
//
// interleaved in rounds (one b.Loop iteration each), so all parts see the
// same background load; and after the loop
//
//	(d) the resident memory (VmRSS) of a fresh proxy process with 1,000 idle
//	    sessions open (initialize + notifications/initialized, standalone
//	    GET stream open, then nothing), served by an in-process Go SDK server
//	    behind an sqs.Listener (the proxy has no children with an SQS back).
//
// It reports the figures as metrics and prints them with their ratios.
// Nothing is asserted about them.
func BenchmarkSQSChain(b *testing.B) {
	fq := testenv.StartFauxqs(b)
	asyncmcp := testenv.BuildAsyncmcp(b)
	echoServer := testenv.EchoServer(b)
	env := fq.Env()

	pp := startPingPong(b, fq)

	reqQ := fq.CreateQueue(b, "bench-requests", nil)
	respQ := fq.CreateQueue(b, "bench-responses", nil)
	wait := waitTime.String()
	start(b, env, "asyncmcp: serving ", asyncmcp, "serve", "--transport", "sqs", "--queue-url", reqQ, "--wait-time", wait, "--log-level", "warn", "--", echoServer)
	base, _ := start(b, env, "asyncmcp: listening on ", asyncmcp, "proxy", "--port", "0", "--backend", "sqs",
		"--queue-url", reqQ, "--response-queue-url", respQ, "--wait-time", wait, "--log-level", "warn")
	sessions := connect(b, base+"/mcp", concurrentSessions)
	for i, cs := range sessions {
		for range warmupCalls {
			if err := call(b.Context(), cs); err != nil {
				b.Fatalf("warm-up call on session %d: %v", i, err)
			}
		}
	}
	for range warmupCalls {
		if _, err := pp.once(b.Context()); err != nil {
			b.Fatalf("warm-up ping-pong: %v", err)
		}
	}

	var ping, serial []time.Duration
	var concCalls int
	var concElapsed time.Duration
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
					if err := call(ctx, sessions[0]); err != nil {
						return fmt.Errorf("serial call: %w", err)
					}
					serial = append(serial, time.Since(t0))
				}
				return nil
			},
			func() error {
				n, d, err := concurrent(ctx, sessions, concurrentPerSession)
				concCalls += n
				concElapsed += d
				return err
			},
		}
		if round%2 == 1 { // alternate the order, so no part always goes first
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
	concRate := float64(concCalls) / concElapsed.Seconds()
	serialRate := float64(len(serial)) / sum(serial).Seconds()
	pingRate := float64(len(ping)) / sum(ping).Seconds()

	rss, hwm, base0 := idleRSS(b, fq, asyncmcp)

	b.ReportMetric(ms(pingP50), "pingpong-p50-ms")
	b.ReportMetric(ms(callP50), "call-p50-ms")
	b.ReportMetric(ms(callP50)/ms(pingP50), "call/pingpong")
	b.ReportMetric(concRate, "calls/s-16sess")
	b.ReportMetric(float64(rss)/(1<<20), "idle1000-rss-MiB")
	b.ReportMetric(0, "ns/op") // a round's duration means nothing

	w := os.Stdout
	fmt.Fprintf(w, "\nasyncbench: %d rounds on one fauxqs (long-poll wait %v everywhere)\n", round, waitTime)
	fmt.Fprintf(w, "%-44s %8s %9s %9s %10s %14s\n", "part", "n", "p50 ms", "p99 ms", "per s", "x ping-pong")
	fmt.Fprintf(w, "%-44s %8d %9.2f %9.2f %10.1f %14s\n", "(a) bare SQS ping-pong (serial)", len(ping), ms(pingP50), ms(percentile(ping, 0.99)), pingRate, "1.00x")
	fmt.Fprintf(w, "%-44s %8d %9.2f %9.2f %10.1f %13.2fx\n", "(b) tools/call via proxy→SQS→serve (serial)", len(serial), ms(callP50), ms(percentile(serial, 0.99)), serialRate, ms(callP50)/ms(pingP50))
	fmt.Fprintf(w, "%-44s %8d %9s %9s %10.1f %13.2fx\n", fmt.Sprintf("(c) same chain, %d sessions", concurrentSessions), concCalls, "-", "-", concRate, concRate/pingRate)
	fmt.Fprintf(w, "(b) adds %.2f ms to the bare ping-pong p50; (c) is %.1fx the serial call rate of (b)\n", ms(callP50-pingP50), concRate/serialRate)
	fmt.Fprintf(w, "(d) proxy RSS: %.1f MiB with %d idle sessions open (%.1f MiB before any session, peak %.1f MiB, %.1f KiB per session); target < %d MiB\n\n",
		mib(rss), idleSessions, mib(base0), mib(hwm), float64(rss-base0)/1024/idleSessions, rssTargetMiB)
}

// start runs a program with [testenv.StartProcess] and waits for its stdout
// line starting with prefix; it returns the rest of the line and the pid.
func start(b *testing.B, env []string, prefix string, args ...string) (string, int) {
	b.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	lines := make(chan string, 1)
	p := testenv.StartProcess(b, cmd, func(line string) {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			select {
			case lines <- strings.TrimSpace(rest):
			default:
			}
		}
	})
	select {
	case rest := <-lines:
		return rest, p.Cmd.Process.Pid
	case <-p.Exited():
		b.Fatalf("%s exited (%v) before printing %q:\n%s", cmd, p.Err(), prefix, p.Log())
	case <-time.After(time.Minute):
		b.Fatalf("%s printed no %q within a minute:\n%s", cmd, prefix, p.Log())
	}
	return "", 0
}

// connect opens n Go SDK client sessions to endpoint, at most
// idleConnectors at a time. They are closed by a b.Cleanup.
func connect(b *testing.B, endpoint string, n int) []*mcp.ClientSession {
	b.Helper()
	// Enough idle connections for every session's POSTs and GET stream
	// (the default keeps 2 per host).
	tr := &http.Transport{MaxIdleConns: 2 * n, MaxIdleConnsPerHost: 2 * n}
	b.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}
	client := mcp.NewClient(&mcp.Implementation{Name: "asyncbench", Version: "1.0.0"}, nil)
	sessions := make([]*mcp.ClientSession, n)
	errs := make([]error, n)
	sem := make(chan struct{}, idleConnectors)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(b.Context(), 2*time.Minute)
			defer cancel()
			cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc},
				&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
			if err != nil {
				errs[i] = fmt.Errorf("session %d: connect to %s: %w", i, endpoint, err)
				return
			}
			sessions[i] = cs
		})
	}
	wg.Wait()
	b.Cleanup(func() {
		var cw sync.WaitGroup
		for _, cs := range sessions {
			if cs != nil {
				cw.Go(func() { cs.Close() })
			}
		}
		cw.Wait()
	})
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	return sessions
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

// concurrent makes perSession calls on every session, the sessions running
// at once with one call in flight each, and returns the number of calls and
// the wall time.
func concurrent(ctx context.Context, sessions []*mcp.ClientSession, perSession int) (int, time.Duration, error) {
	errs := make([]error, len(sessions))
	var wg sync.WaitGroup
	t0 := time.Now()
	for i, cs := range sessions {
		wg.Go(func() {
			for range perSession {
				if err := call(ctx, cs); err != nil {
					errs[i] = fmt.Errorf("session %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	return len(sessions) * perSession, time.Since(t0), errors.Join(errs...)
}

// pingPong is the bare SQS round trip: a responder goroutine (owned by the
// pingPong, stopped by a b.Cleanup) echoes every message of queue ping to
// queue pong.
type pingPong struct {
	c          *sqs.Client
	ping, pong string
	n          int
}

func startPingPong(b *testing.B, fq *testenv.Fauxqs) *pingPong {
	b.Helper()
	pp := &pingPong{c: fq.SQS(b), ping: fq.CreateQueue(b, "bench-ping", nil), pong: fq.CreateQueue(b, "bench-pong", nil)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	b.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			out, err := pp.c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
				QueueUrl: aws.String(pp.ping), MaxNumberOfMessages: 10, WaitTimeSeconds: int32(waitTime / time.Second),
			})
			if err != nil {
				if ctx.Err() == nil {
					b.Logf("ping-pong responder: receive: %v", err)
					time.Sleep(100 * time.Millisecond)
				}
				continue
			}
			for _, m := range out.Messages {
				if _, err := pp.c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(pp.pong), MessageBody: m.Body}); err != nil && ctx.Err() == nil {
					b.Logf("ping-pong responder: send: %v", err)
				}
				if _, err := pp.c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(pp.ping), ReceiptHandle: m.ReceiptHandle}); err != nil && ctx.Err() == nil {
					b.Logf("ping-pong responder: delete: %v", err)
				}
			}
		}
	}()
	return pp
}

// once sends one ping and returns the time until its pong was received; it
// then deletes the pong (untimed).
func (pp *pingPong) once(ctx context.Context) (time.Duration, error) {
	pp.n++
	body := `{"jsonrpc":"2.0","id":` + strconv.Itoa(pp.n) + `,"method":"ping"}`
	t0 := time.Now()
	if _, err := pp.c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(pp.ping), MessageBody: aws.String(body)}); err != nil {
		return 0, fmt.Errorf("send ping %d: %w", pp.n, err)
	}
	for {
		out, err := pp.c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(pp.pong), MaxNumberOfMessages: 1, WaitTimeSeconds: int32(waitTime / time.Second),
		})
		if err != nil {
			return 0, fmt.Errorf("receive pong %d: %w", pp.n, err)
		}
		if len(out.Messages) == 0 {
			continue
		}
		d := time.Since(t0)
		m := out.Messages[0]
		if _, err := pp.c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(pp.pong), ReceiptHandle: m.ReceiptHandle}); err != nil {
			return 0, fmt.Errorf("delete pong %d: %w", pp.n, err)
		}
		if aws.ToString(m.Body) != body {
			return 0, fmt.Errorf("pong %q, want %q", aws.ToString(m.Body), body)
		}
		return d, nil
	}
}

// idleRSS starts a fresh `asyncmcp proxy --backend sqs` in front of an
// in-process Go SDK server behind an sqs.Listener, opens idleSessions idle
// sessions through it, and returns the proxy's VmRSS then, its VmHWM, and its
// VmRSS before the first session.
func idleRSS(b *testing.B, fq *testenv.Fauxqs, asyncmcp string) (rss, hwm, before int64) {
	b.Helper()
	reqQ := fq.CreateQueue(b, "idle-requests", nil)
	respQ := fq.CreateQueue(b, "idle-responses", nil)
	l, err := asyncsqs.Listen(asyncsqs.ServerConfig{
		Client: fq.SQS(b), QueueURL: reqQ, WaitTime: waitTime,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		b.Fatalf("sqs.Listen %s: %v", reqQ, err)
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "asyncbench-idle", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, a struct {
		Text string `json:"text"`
	}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var mu sync.Mutex
	var served []*mcp.ServerSession
	go func() {
		defer close(done)
		for {
			ss, err := server.Connect(ctx, bridge.ListenerTransport{L: l}, nil)
			if err != nil {
				return // listener closed or ctx done
			}
			mu.Lock()
			served = append(served, ss)
			mu.Unlock()
		}
	}()
	b.Cleanup(func() {
		l.Close()
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, ss := range served {
			ss.Close()
		}
	})

	base, pid := start(b, fq.Env(), "asyncmcp: listening on ", asyncmcp, "proxy", "--port", "0", "--backend", "sqs",
		"--queue-url", reqQ, "--response-queue-url", respQ, "--wait-time", waitTime.String(), "--log-level", "warn")
	before, _ = procStatus(b, pid)
	sessions := connect(b, base+"/mcp", idleSessions)
	if err := call(b.Context(), sessions[len(sessions)-1]); err != nil {
		b.Fatalf("call on the last idle session: %v", err)
	}
	open := openSessions(b, base)
	if open != idleSessions {
		b.Fatalf("proxy /status shows %d sessions, want %d", open, idleSessions)
	}
	if kids := children(pid); kids != 0 {
		b.Logf("note: the proxy has %d child processes (not counted)", kids)
	}
	// Let the proxy settle (GC) before reading; the sessions stay idle.
	time.Sleep(3 * time.Second)
	rss, hwm = procStatus(b, pid)
	return rss, hwm, before
}

// openSessions returns servers.default.sessions of the proxy's /status.
func openSessions(b *testing.B, base string) int {
	b.Helper()
	resp, err := http.Get(base + "/status")
	if err != nil {
		b.Fatalf("GET /status: %v", err)
	}
	defer resp.Body.Close()
	var st struct {
		Servers map[string]struct {
			Sessions int `json:"sessions"`
		} `json:"servers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		b.Fatalf("GET /status: decode: %v", err)
	}
	return st.Servers["default"].Sessions
}

// procStatus returns VmRSS and VmHWM of process pid, in bytes.
func procStatus(b *testing.B, pid int) (rss, hwm int64) {
	b.Helper()
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		b.Fatalf("reading the proxy's memory: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var kb int64
		fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			hwm = kb << 10
		}
	}
	if rss == 0 {
		b.Fatalf("no VmRSS in /proc/%d/status", pid)
	}
	return rss, hwm
}

// children counts the processes whose parent is pid.
func children(pid int) int {
	entries, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		if f := strings.Fields(s[i+1:]); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			n++
		}
	}
	return n
}

// percentile returns the q-quantile (nearest rank) of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func sum(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(n int64) float64 { return float64(n) / (1 << 20) }
