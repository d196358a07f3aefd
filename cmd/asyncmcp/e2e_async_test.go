// SPDX-License-Identifier: Apache-2.0

package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// This file tests the asyncmcp proxy in front of asynchronous backs
// (`asyncmcp proxy --backend sqs|sns-sqs|webhook`) with `asyncmcp serve` on
// the other side, end to end with real peers: the official TypeScript SDK
// client, the Go SDK client, raw HTTP, and the official conformance suite.

// asyncStart starts the asyncmcp binary with args and env (added to this
// process's environment), waits until it prints a stdout line starting with
// prefix, and returns the rest of that line. The process is stopped by a
// cleanup of t.
func asyncStart(t *testing.T, env []string, prefix string, args ...string) (string, *testenv.Process) {
	t.Helper()
	cmd := exec.Command(testenv.BuildAsyncmcp(t), args...)
	cmd.Env = append(os.Environ(), env...)
	lines := make(chan string, 1)
	p := testenv.StartProcess(t, cmd, func(line string) {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			select {
			case lines <- strings.TrimSpace(rest):
			default:
			}
		}
	})
	select {
	case rest := <-lines:
		return rest, p
	case <-p.Exited():
		t.Fatalf("%s exited (%v) before printing %q:\n%s", cmd, p.Err(), prefix, p.Log())
	case <-time.After(time.Minute):
		t.Fatalf("%s printed no %q line within a minute:\n%s", cmd, prefix, p.Log())
	}
	return "", nil
}

// asyncServe starts `asyncmcp serve ARGS...` and returns what it printed
// after "asyncmcp: serving " (for webhook: the endpoint URL).
func asyncServe(t *testing.T, env []string, args ...string) (string, *testenv.Process) {
	t.Helper()
	return asyncStart(t, env, "asyncmcp: serving ", append([]string{"serve"}, args...)...)
}

// asyncProxy starts `asyncmcp proxy --port 0 ARGS...` with env and returns
// it once it accepts connections.
func asyncProxy(t *testing.T, env []string, args ...string) *e2eProxy {
	t.Helper()
	base, p := asyncStart(t, env, e2eListening, append([]string{"proxy", "--port", "0"}, args...)...)
	testenv.WaitTCP(t, strings.TrimPrefix(base, "http://"), p)
	return &e2eProxy{Base: base, p: p}
}

// asyncChildren returns the ids of the processes whose parent is pid, read
// from /proc.
func asyncChildren(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Errorf("reading /proc: %v", err)
		return nil
	}
	var kids []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...; comm may contain spaces and parentheses.
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == pid {
			kids = append(kids, n)
		}
	}
	return kids
}

// asyncWaitChildren waits until the process p has exactly want children,
// failing the test if that does not happen within a minute. (A wait for a
// state; the deadline only bounds a hang.)
func asyncWaitChildren(t *testing.T, p *testenv.Process, want int, what string) {
	t.Helper()
	start := time.Now()
	for {
		kids := asyncChildren(t, p.Cmd.Process.Pid)
		if len(kids) == want {
			t.Logf("%s: %d children after %v", what, want, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("%s: %d children %v after a minute, want %d", what, len(kids), kids, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// asyncChain is a proxy in front of an asynchronous back, with `asyncmcp
// serve` and its children on the other side.
type asyncChain struct {
	proxy *e2eProxy
	serve *testenv.Process
	fq    *testenv.Fauxqs
}

// startAsyncChain starts `asyncmcp serve --transport KIND -- server...` and
// `asyncmcp proxy --backend KIND` joined through fq (for sqs and sns-sqs)
// or HTTP webhooks (for webhook). For sqs the proxy shares one response
// queue between all sessions; for sns-sqs, one response topic.
func startAsyncChain(t *testing.T, fq *testenv.Fauxqs, kind string, server ...string) *asyncChain {
	t.Helper()
	name := strings.NewReplacer("-", "", "/", "").Replace(t.Name())
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	var env []string
	if fq != nil {
		env = fq.Env()
	}
	c := &asyncChain{fq: fq}
	switch kind {
	case "sqs":
		reqQ := fq.CreateQueue(t, name+"-req", nil)
		respQ := fq.CreateQueue(t, name+"-resp", nil)
		_, c.serve = asyncServe(t, env, append([]string{"--transport", "sqs", "--queue-url", reqQ, "--wait-time", "1s", "--"}, server...)...)
		c.proxy = asyncProxy(t, env, "--backend", "sqs", "--queue-url", reqQ, "--response-queue-url", respQ, "--wait-time", "1s")
	case "sns-sqs":
		reqTopic := fq.CreateTopic(t, name+"-req")
		serverQ := fq.CreateQueue(t, name+"-server", nil)
		fq.Subscribe(t, reqTopic, serverQ, false, "")
		respTopic := fq.CreateTopic(t, name+"-resp")
		_, c.serve = asyncServe(t, env, append([]string{"--transport", "sns-sqs", "--queue-url", serverQ, "--wait-time", "1s", "--"}, server...)...)
		c.proxy = asyncProxy(t, env, "--backend", "sns-sqs", "--topic-arn", reqTopic, "--response-topic-arn", respTopic, "--wait-time", "1s")
	case "webhook":
		line, p := asyncServe(t, nil, append([]string{"--transport", "webhook", "--listen", "127.0.0.1:0", "--allow-loopback-webhooks", "--"}, server...)...)
		c.serve = p
		c.proxy = asyncProxy(t, nil, "--backend", "webhook", "--server-url", line)
	default:
		t.Fatalf("unknown back %q", kind)
	}
	return c
}

// TestTSClientThroughAsyncProxy: the official TypeScript SDK client →
// `asyncmcp proxy --backend KIND` → (fauxqs | HTTP webhooks) → `asyncmcp
// serve --transport KIND -- <Go SDK everything-server>`: initialize,
// tools/list, tools/call with progress, a sampling and an elicitation
// request answered by the client, then DELETE (terminateSession), which
// must end the back session and stop its child on the serve side.
func TestTSClientThroughAsyncProxy(t *testing.T) {
	e2eNode(t)
	server := testenv.GoEverythingServer(t)
	fq := testenv.StartFauxqs(t)
	for _, kind := range []string{"sqs", "sns-sqs", "webhook"} {
		t.Run(kind, func(t *testing.T) {
			c := startAsyncChain(t, fq, kind, server)
			tag := "async-" + kind
			// Watch serve's children while the client runs: one child for
			// the one session.
			watch := make(chan struct{})
			most := make(chan int, 1)
			go func() {
				m := 0
				for {
					m = max(m, len(asyncChildren(t, c.serve.Cmd.Process.Pid)))
					select {
					case <-watch:
						most <- m
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			}()
			s := e2eRunTSClient(t, "streamable", c.proxy.Base, tag)
			e2eCheckStreamable(t, s, tag)
			// The DELETE ended the front session at once (the POST after it
			// got 404); the back session ends too: serve stops the child.
			asyncWaitChildren(t, c.serve, 0, "serve after DELETE")
			close(watch)
			if m := <-most; m != 1 {
				t.Errorf("serve ran at most %d children during the session, want 1", m)
			}
			if kind != "webhook" && !strings.Contains(c.serve.Log(), "client ended the session") {
				t.Errorf("serve did not log that the client ended the session:\n%s", c.serve.Log())
			}
			c.proxy.e2eWaitNoChildren(t)
			c.proxy.Stop(t)
		})
	}
}

// asyncCountingTransport wraps a transport and records every JSON-RPC
// response its connection reads, so a test can see duplicates that the SDK
// client would drop silently.
type asyncCountingTransport struct {
	mcp.Transport
	mu        sync.Mutex
	responses map[string]int // response id -> times read
}

func (c *asyncCountingTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	conn, err := c.Transport.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &asyncCountingConn{Connection: conn, t: c}, nil
}

type asyncCountingConn struct {
	mcp.Connection
	t *asyncCountingTransport
}

func (c *asyncCountingConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	msg, err := c.Connection.Read(ctx)
	if resp, ok := msg.(*jsonrpc.Response); ok && err == nil {
		c.t.mu.Lock()
		c.t.responses[fmt.Sprint(resp.ID.Raw())]++
		c.t.mu.Unlock()
	}
	return msg, err
}

// asyncManySessions is how many client sessions share one queue pair in
// TestManySessionsOneQueuePair, and asyncCallsPerSession how many echo
// calls each makes.
const (
	asyncManySessions    = 100
	asyncCallsPerSession = 5
)

// TestManySessionsOneQueuePair: 100 concurrent Go SDK client sessions
// through ONE `asyncmcp proxy --backend sqs` with one request queue and one
// response queue → `asyncmcp serve --transport sqs` → echo-server. Each
// session echoes texts unique to it; every result must reach the session
// that asked, exactly once (every response read by every client connection
// is counted), and no queue other than the pair may exist.
func TestManySessionsOneQueuePair(t *testing.T) {
	fq := testenv.StartFauxqs(t)
	c := startAsyncChain(t, fq, "sqs", testenv.EchoServer(t))

	type outcome struct {
		sid       string
		got       map[string]int // echoed text -> times returned
		responses map[string]int
		err       error
	}
	outs := make([]outcome, asyncManySessions)
	sessions := make([]*mcp.ClientSession, asyncManySessions)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	// One HTTP transport for all sessions, closed when they are, as a
	// client program that exits would: an unused keep-alive connection left
	// open delays the proxy's http.Server.Shutdown by up to 5 s (net/http
	// treats a connection that never sent a request as busy for 5 s).
	htr := &http.Transport{MaxIdleConns: 4 * asyncManySessions, MaxIdleConnsPerHost: 4 * asyncManySessions}
	defer htr.CloseIdleConnections()
	hc := &http.Client{Transport: htr}
	var wg sync.WaitGroup
	for i := range asyncManySessions {
		wg.Go(func() {
			o := &outs[i]
			o.got = map[string]int{}
			tr := &asyncCountingTransport{
				Transport: &mcp.StreamableClientTransport{Endpoint: c.proxy.Base + "/mcp", HTTPClient: hc, MaxRetries: -1},
				responses: map[string]int{},
			}
			cl := mcp.NewClient(&mcp.Implementation{Name: fmt.Sprintf("many-%03d", i), Version: "1"}, nil)
			cs, err := cl.Connect(ctx, tr, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
			if err != nil {
				o.err = fmt.Errorf("session %d: connect: %w", i, err)
				return
			}
			sessions[i] = cs
			o.sid = cs.ID()
			for j := range asyncCallsPerSession {
				text := fmt.Sprintf("session %03d call %d", i, j)
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": text}})
				if err != nil {
					o.err = fmt.Errorf("session %d: echo %q: %w", i, text, err)
					return
				}
				if len(res.Content) != 1 {
					o.err = fmt.Errorf("session %d: echo %q: %d content items", i, text, len(res.Content))
					return
				}
				tc, ok := res.Content[0].(*mcp.TextContent)
				if !ok {
					o.err = fmt.Errorf("session %d: echo %q: content %T", i, text, res.Content[0])
					return
				}
				o.got[tc.Text]++
			}
			tr.mu.Lock()
			o.responses = tr.responses
			tr.mu.Unlock()
		})
	}
	wg.Wait()

	sids := map[string]int{}
	total, wrong, dupResponses := 0, 0, 0
	for i, o := range outs {
		if o.err != nil {
			t.Error(o.err)
			continue
		}
		if prev, dup := sids[o.sid]; dup {
			t.Errorf("sessions %d and %d got the same Mcp-Session-Id %s", prev, i, o.sid)
		}
		sids[o.sid] = i
		for j := range asyncCallsPerSession {
			want := fmt.Sprintf("session %03d call %d", i, j)
			if n := o.got[want]; n != 1 {
				t.Errorf("session %d: %q came back %d times", i, want, n)
			}
		}
		for text, n := range o.got {
			total += n
			if !strings.HasPrefix(text, fmt.Sprintf("session %03d ", i)) {
				wrong++
				t.Errorf("session %d received %q, which another session asked for", i, text)
			}
		}
		// initialize + the calls: one response each, read exactly once.
		if len(o.responses) != asyncCallsPerSession+1 {
			t.Errorf("session %d: its connection read responses for %d ids, want %d: %v", i, len(o.responses), asyncCallsPerSession+1, o.responses)
		}
		for id, n := range o.responses {
			if n != 1 {
				dupResponses++
				t.Errorf("session %d: response id %s read %d times", i, id, n)
			}
		}
	}
	t.Logf("%d sessions, %d distinct session ids, %d echo results received (want %d), %d misrouted, %d duplicated responses",
		asyncManySessions, len(sids), total, asyncManySessions*asyncCallsPerSession, wrong, dupResponses)

	// One request queue and one response queue, however many sessions.
	lq, err := fq.SQS(t).ListQueues(ctx, &sqs.ListQueuesInput{})
	if err != nil {
		t.Fatalf("ListQueues: %v", err)
	}
	t.Logf("queues on the emulator: %v", lq.QueueUrls)
	if len(lq.QueueUrls) != 2 {
		t.Errorf("%d queues exist, want the 2 of the pair: %v", len(lq.QueueUrls), lq.QueueUrls)
	}
	if n := len(asyncChildren(t, c.serve.Cmd.Process.Pid)); n != asyncManySessions {
		t.Errorf("serve runs %d children, want one per session (%d)", n, asyncManySessions)
	}

	var cw sync.WaitGroup
	for _, cs := range sessions {
		if cs != nil {
			cw.Go(func() { cs.Close() })
		}
	}
	cw.Wait()
	htr.CloseIdleConnections()
	asyncWaitChildren(t, c.serve, 0, "serve after all sessions closed")
	c.proxy.e2eWaitNoChildren(t)
	c.proxy.Stop(t)
}

// asyncSSEEvent is one SSE event: its id and data.
type asyncSSEEvent struct {
	id   string
	data string
}

// asyncReadEvents reads SSE events from r and calls f with each (comments
// skipped) until f returns false, EOF, or a read error.
func asyncReadEvents(r *bufio.Reader, f func(asyncSSEEvent) bool) error {
	var ev asyncSSEEvent
	var data []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if ev.id != "" || len(data) > 0 {
				ev.data = strings.Join(data, "\n")
				if !f(ev) {
					return nil
				}
			}
			ev, data = asyncSSEEvent{}, nil
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id:"):
			ev.id = strings.TrimSpace(strings.TrimPrefix(line, "id:"))
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
}

// TestResumeLongCallThroughQueues: a raw HTTP client starts a 10-second
// `slow` call through `asyncmcp proxy --backend sqs` → fauxqs → serve →
// echo-server, hangs up after the first progress event (keeping its event
// id), and once the call has ended reconnects with GET + Last-Event-ID: it
// receives the progress it missed and the result.
func TestResumeLongCallThroughQueues(t *testing.T) {
	fq := testenv.StartFauxqs(t)
	c := startAsyncChain(t, fq, "sqs", testenv.EchoServer(t))
	url := c.proxy.Base + "/mcp"
	hs := &e2eHTTPSession{t: t, url: url}
	hs.call("initialize", map[string]any{
		"protocolVersion": "2025-11-25",
		"capabilities":    map[string]any{},
		"clientInfo":      map[string]any{"name": "resume-test", "version": "1"},
	})
	if resp, _ := hs.post(map[string]any{"jsonrpc": "2.0", "method": "notifications/initialized"}); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("notifications/initialized: HTTP %d, want 202", resp.StatusCode)
	}

	const callID = 42
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": callID, "method": "tools/call", "params": map[string]any{
		"name": "slow", "arguments": map[string]any{"seconds": 10}, "_meta": map[string]any{"progressToken": "resume-1"},
	}})
	postCtx, hangUp := context.WithCancel(t.Context())
	defer hangUp()
	req, _ := http.NewRequestWithContext(postCtx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	req.Header.Set("Mcp-Session-Id", hs.sid)
	started := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST tools/call slow: %v", err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("POST tools/call slow: HTTP %d %q, want an SSE stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var lastID string
	var before []e2eMsg
	err = asyncReadEvents(bufio.NewReader(resp.Body), func(ev asyncSSEEvent) bool {
		if ev.id != "" {
			lastID = ev.id
		}
		if strings.TrimSpace(ev.data) == "" {
			return true // priming event
		}
		var m e2eMsg
		if err := json.Unmarshal([]byte(ev.data), &m); err != nil {
			t.Errorf("event %q: %v", ev.data, err)
			return false
		}
		before = append(before, m)
		return m.Method != "notifications/progress" // stop after the first progress
	})
	if err != nil {
		t.Fatalf("reading the POST stream: %v", err)
	}
	hangUp()
	resp.Body.Close()
	if lastID == "" || len(before) != 1 || before[0].Method != "notifications/progress" {
		t.Fatalf("before hanging up: last event id %q, messages %+v; want one progress notification with an id", lastID, before)
	}
	t.Logf("hung up %v into the call, after event %s", time.Since(started).Round(time.Millisecond), lastID)

	// Wait until the call has certainly ended on the server (10 s of work
	// plus the queue hops), then resume.
	time.Sleep(time.Until(started.Add(13 * time.Second)))
	greq, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	greq.Header.Set("Accept", "text/event-stream")
	greq.Header.Set("MCP-Protocol-Version", "2025-11-25")
	greq.Header.Set("Mcp-Session-Id", hs.sid)
	greq.Header.Set("Last-Event-ID", lastID)
	getCtx, stopGet := context.WithTimeout(t.Context(), time.Minute)
	defer stopGet()
	gresp, err := http.DefaultClient.Do(greq.WithContext(getCtx))
	if err != nil {
		t.Fatalf("GET with Last-Event-ID: %v", err)
	}
	defer gresp.Body.Close()
	if gresp.StatusCode != http.StatusOK {
		t.Fatalf("GET with Last-Event-ID %s: HTTP %d", lastID, gresp.StatusCode)
	}
	var progress []float64
	var result *e2eMsg
	err = asyncReadEvents(bufio.NewReader(gresp.Body), func(ev asyncSSEEvent) bool {
		if strings.TrimSpace(ev.data) == "" {
			return true
		}
		var m e2eMsg
		if err := json.Unmarshal([]byte(ev.data), &m); err != nil {
			t.Errorf("event %q: %v", ev.data, err)
			return false
		}
		switch {
		case m.Method == "notifications/progress":
			var p struct{ Progress float64 }
			json.Unmarshal(m.Params, &p)
			progress = append(progress, p.Progress)
		case string(m.ID) == strconv.Itoa(callID):
			result = &m
			return false
		default:
			t.Errorf("unexpected message on the resumed stream: %+v", m)
		}
		return true
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Logf("resumed stream ended: %v", err)
	}
	t.Logf("resumed with Last-Event-ID %s %v after the call started: %d progress notifications %v, result %v",
		lastID, time.Since(started).Round(time.Millisecond), len(progress), progress, result != nil)
	if result == nil {
		t.Fatalf("the resumed stream did not carry the response to id %d", callID)
	}
	if result.Error != nil {
		t.Fatalf("slow returned JSON-RPC error %d: %s", result.Error.Code, result.Error.Message)
	}
	var res struct {
		Content []struct{ Text string }
	}
	if err := json.Unmarshal(result.Result, &res); err != nil || len(res.Content) != 1 || res.Content[0].Text != "done after 10s" {
		t.Errorf("slow result %s, want the text \"done after 10s\"", result.Result)
	}
	// The progress missed while away is replayed, from after the last event
	// seen; the first one is not repeated.
	if len(progress) == 0 || progress[0] != 2 || progress[len(progress)-1] != 10 {
		t.Errorf("replayed progress %v, want 2..10", progress)
	}
	c.proxy.Stop(t)
}

// TestConformanceOverSQS runs the official MCP conformance suite (active
// scenarios, spec 2025-11-25) against `asyncmcp proxy --backend sqs` →
// fauxqs → `asyncmcp serve --transport sqs -- <Go SDK everything-server>`:
// every scenario must pass, as for the direct proxy (TestConformanceProxy).
func TestConformanceOverSQS(t *testing.T) {
	e2eNode(t)
	fq := testenv.StartFauxqs(t)
	c := startAsyncChain(t, fq, "sqs", testenv.GoEverythingServer(t))
	e2eConformance(t, c.proxy.Base+"/mcp", e2eMinActiveScenarios, nil, "--spec-version", "2025-11-25")
	c.proxy.Stop(t)
}
