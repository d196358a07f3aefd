// SPDX-License-Identifier: Apache-2.0

package stdio_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/stdio"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// waitLimit bounds every wait for an event in these tests; it is a
// deadlock guard, not a performance assertion.
const waitLimit = 60 * time.Second

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func newCommand(t *testing.T, path string, args []string, poolSize int) *stdio.Command {
	t.Helper()
	c := &stdio.Command{Path: path, Args: args, PoolSize: poolSize, Logger: testLogger()}
	t.Cleanup(func() { c.Close() })
	return c
}

func goEverything(t *testing.T, poolSize int) *stdio.Command {
	return newCommand(t, testenv.GoEverythingServer(t), nil, poolSize)
}

func echoServer(t *testing.T, poolSize int) *stdio.Command {
	return newCommand(t, testenv.EchoServer(t), nil, poolSize)
}

func mustID(t testing.TB, v any) jsonrpc.ID {
	t.Helper()
	if n, ok := v.(int); ok {
		v = float64(n)
	}
	id, err := jsonrpc.MakeID(v)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// modern builds a 2026-07-28 request: params plus the _meta envelope, and a
// progress token when token is not nil.
func modern(t testing.TB, id any, method string, params map[string]any, token any) *jsonrpc.Request {
	t.Helper()
	if params == nil {
		params = map[string]any{}
	}
	meta := map[string]any{
		rpcmsg.MetaProtocolVersion:    rpcmsg.ModernVersion,
		rpcmsg.MetaClientCapabilities: map[string]any{},
		rpcmsg.MetaClientInfo:         map[string]any{"name": "stdio-test", "version": "0"},
	}
	if token != nil {
		meta["progressToken"] = token
	}
	params["_meta"] = meta
	raw, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	return &jsonrpc.Request{ID: mustID(t, id), Method: method, Params: raw}
}

func toolCall(t testing.TB, id any, tool string, args map[string]any, token any) *jsonrpc.Request {
	if args == nil {
		args = map[string]any{}
	}
	return modern(t, id, "tools/call", map[string]any{"name": tool, "arguments": args}, token)
}

// collector gathers the notifications passed to notify.
type collector struct {
	mu    sync.Mutex
	notes []*jsonrpc.Request
	added chan struct{}
}

func newCollector() *collector { return &collector{added: make(chan struct{}, 1)} }

func (c *collector) notify(r *jsonrpc.Request) {
	c.mu.Lock()
	c.notes = append(c.notes, r)
	c.mu.Unlock()
	select {
	case c.added <- struct{}{}:
	default:
	}
}

func (c *collector) all() []*jsonrpc.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*jsonrpc.Request(nil), c.notes...)
}

// waitFor waits until some notification satisfies ok.
func (c *collector) waitFor(t *testing.T, what string, ok func(*jsonrpc.Request) bool) *jsonrpc.Request {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		for _, n := range c.all() {
			if ok(n) {
				return n
			}
		}
		select {
		case <-c.added:
		case <-deadline:
			t.Fatalf("no %s within %s; got %s", what, waitLimit, describe(c.all()))
		}
	}
}

func describe(ns []*jsonrpc.Request) string {
	var b strings.Builder
	for _, n := range ns {
		fmt.Fprintf(&b, "\n  %s %s", n.Method, n.Params)
	}
	return b.String()
}

func roundTrip(t *testing.T, c *stdio.Command, req *jsonrpc.Request, notify func(*jsonrpc.Request)) *jsonrpc.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	resp, err := c.RoundTrip(ctx, req, notify)
	if err != nil {
		t.Fatalf("RoundTrip %s: %v", req.Method, err)
	}
	if resp.ID != req.ID {
		t.Fatalf("RoundTrip %s: response id %v, want %v", req.Method, resp.ID.Raw(), req.ID.Raw())
	}
	return resp
}

func wireError(t *testing.T, resp *jsonrpc.Response) *jsonrpc.Error {
	t.Helper()
	var we *jsonrpc.Error
	if resp.Error == nil || !errors.As(resp.Error, &we) {
		t.Fatalf("want a JSON-RPC error, got result %s (err %v)", resp.Result, resp.Error)
	}
	return we
}

type toolResult struct {
	ResultType string `json:"resultType"`
	Content    []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"content"`
	IsError bool `json:"isError"`
}

func resultText(t *testing.T, resp *jsonrpc.Response) string {
	t.Helper()
	if resp.Error != nil {
		t.Fatalf("want a result, got error %v", resp.Error)
	}
	var r toolResult
	if err := json.Unmarshal(resp.Result, &r); err != nil {
		t.Fatalf("decoding result %s: %v", resp.Result, err)
	}
	if r.ResultType != "complete" {
		t.Errorf("resultType %q in %s", r.ResultType, resp.Result)
	}
	var parts []string
	for _, c := range r.Content {
		parts = append(parts, c.Text)
	}
	return strings.Join(parts, "")
}

func TestModernToolsCallAndDiscover(t *testing.T) {
	c := goEverything(t, 2)
	resp := roundTrip(t, c, modern(t, "d-1", "server/discover", nil, nil), nil)
	var disc struct {
		SupportedVersions []string `json:"supportedVersions"`
		ResultType        string   `json:"resultType"`
	}
	if resp.Error != nil || json.Unmarshal(resp.Result, &disc) != nil {
		t.Fatalf("server/discover: %v %s", resp.Error, resp.Result)
	}
	if !strings.Contains(strings.Join(disc.SupportedVersions, ","), rpcmsg.ModernVersion) {
		t.Errorf("server/discover supportedVersions %v lacks %s", disc.SupportedVersions, rpcmsg.ModernVersion)
	}
	if got := c.ModernStatus().Era; got != "modern" {
		t.Errorf("era %q, want modern", got)
	}
	got := resultText(t, roundTrip(t, c, toolCall(t, 7, "test_simple_text", nil, nil), nil))
	if !strings.Contains(got, "This is a simple text response for testing.") {
		t.Errorf("test_simple_text: %q", got)
	}
	// The probe ran in a child of its own: no pool child saw server/discover
	// before the first request... and the pool did not grow past its size.
	if st := c.ModernStatus(); st.Started > 2 || len(st.Children) > 2 {
		t.Errorf("pool of 2 started %d children, %d live", st.Started, len(st.Children))
	}
}

func progressTokens(t *testing.T, notes []*jsonrpc.Request) []string {
	t.Helper()
	var toks []string
	for _, n := range notes {
		if n.Method != "notifications/progress" {
			t.Errorf("unexpected notification %s %s", n.Method, n.Params)
			continue
		}
		var p struct {
			Token json.RawMessage `json:"progressToken"`
		}
		if err := json.Unmarshal(n.Params, &p); err != nil {
			t.Fatalf("progress params %s: %v", n.Params, err)
		}
		toks = append(toks, string(p.Token))
	}
	return toks
}

func TestProgressTokensRestored(t *testing.T) {
	c := goEverything(t, 1)
	for _, tok := range []any{"client-token-A", float64(42)} {
		col := newCollector()
		resp := roundTrip(t, c, toolCall(t, "p", "test_tool_with_progress", nil, tok), col.notify)
		resultText(t, resp)
		want, _ := json.Marshal(tok)
		toks := progressTokens(t, col.all())
		if len(toks) != 3 {
			t.Errorf("token %s: %d progress notifications, want 3: %v", want, len(toks), toks)
		}
		for _, got := range toks {
			if got != string(want) {
				t.Errorf("progress token %s, want the caller's %s", got, want)
			}
		}
	}
}

// Two hundred callers through a pool of two: at most two children, and
// each caller sees only its own answers and progress.
func TestPoolManyConcurrentCallers(t *testing.T) {
	c := goEverything(t, 2)
	const callers = 200
	var wg sync.WaitGroup
	errs := make(chan error, callers*2)
	ctx, cancel := context.WithTimeout(t.Context(), 3*waitLimit)
	defer cancel()
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Every caller uses the same JSON-RPC ids as every other.
			tok := fmt.Sprintf("caller-%d", i)
			col := newCollector()
			resp, err := c.RoundTrip(ctx, toolCall(t, 1, "test_tool_with_progress", nil, tok), col.notify)
			if err != nil {
				errs <- fmt.Errorf("caller %d: %w", i, err)
				return
			}
			if resp.Error != nil || resp.ID != mustID(t, 1) {
				errs <- fmt.Errorf("caller %d: answer %v id %v", i, resp.Error, resp.ID.Raw())
				return
			}
			notes := col.all()
			if len(notes) != 3 {
				errs <- fmt.Errorf("caller %d: %d notifications, want 3:%s", i, len(notes), describe(notes))
			}
			for _, n := range notes {
				if !strings.Contains(string(n.Params), `"progressToken":"`+tok+`"`) {
					errs <- fmt.Errorf("caller %d got someone else's notification %s %s", i, n.Method, n.Params)
				}
			}
			arg := fmt.Sprintf("value-of-caller-%d", i)
			resp, err = c.RoundTrip(ctx, modern(t, 1, "prompts/get", map[string]any{
				"name": "test_prompt_with_arguments", "arguments": map[string]string{"arg1": arg, "arg2": "x"},
			}, nil), col.notify)
			if err != nil || resp.Error != nil {
				errs <- fmt.Errorf("caller %d: prompts/get: %v %v", i, err, resp.Error)
				return
			}
			var pr struct {
				Messages []struct {
					Content struct {
						Text string `json:"text"`
					} `json:"content"`
				} `json:"messages"`
			}
			if err := json.Unmarshal(resp.Result, &pr); err != nil || len(pr.Messages) != 1 {
				errs <- fmt.Errorf("caller %d: prompts/get result %s: %v", i, resp.Result, err)
				return
			}
			if got, want := pr.Messages[0].Content.Text, "Prompt with arguments: arg1='"+arg+"', arg2='x'"; got != want {
				errs <- fmt.Errorf("caller %d got %q, want its own %q", i, got, want)
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 10 {
			t.Error(err)
		}
	}
	st := c.ModernStatus()
	if st.Started > 2 || len(st.Children) > 2 {
		t.Errorf("pool of 2 started %d children (%d live)", st.Started, len(st.Children))
	}
	if all := c.Status(); all.Started > 3 {
		t.Errorf("%d processes started in all (1 era probe + 2 pool children expected)", all.Started)
	}
	t.Logf("pool children started: %d; processes started in all: %d", st.Started, c.Status().Started)
}

// listenResult is what a subscriptions/listen RoundTrip ended with.
type listenResult struct {
	resp *jsonrpc.Response
	err  error
}

func startListen(t *testing.T, ctx context.Context, c *stdio.Command, id any, filter map[string]any) (*collector, <-chan listenResult) {
	t.Helper()
	col := newCollector()
	done := make(chan listenResult, 1)
	req := modern(t, id, "subscriptions/listen", map[string]any{"notifications": filter}, nil)
	go func() {
		resp, err := c.RoundTrip(ctx, req, col.notify)
		done <- listenResult{resp, err}
	}()
	return col, done
}

func subscriptionID(n *jsonrpc.Request) string {
	var p struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	json.Unmarshal(n.Params, &p)
	return string(p.Meta[rpcmsg.MetaSubscriptionID])
}

func waitListen(t *testing.T, done <-chan listenResult) listenResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(waitLimit):
		t.Fatalf("listen did not end within %s", waitLimit)
	}
	return listenResult{}
}

// Two callers listen at once with different filters, through a pool of two
// children: each gets its own acknowledgement first, then the list changes
// it asked for, stamped with its own listen id, whichever child they come
// from.
func TestListenTwoCallers(t *testing.T) {
	c := goEverything(t, 2)
	ctxA, cancelA := context.WithCancel(t.Context())
	defer cancelA()
	isAck := func(n *jsonrpc.Request) bool { return n.Method == "notifications/subscriptions/acknowledged" }
	colA, doneA := startListen(t, ctxA, c, "listen-A", map[string]any{"toolsListChanged": true})
	ackA := colA.waitFor(t, "acknowledgement for A", isAck)
	// B asks for more than A: the pool re-opens its upstream listens with
	// the union, ending the old ones first (the Go SDK drops every
	// subscription of a connection when any listen on it ends), and A
	// keeps receiving.
	colB, doneB := startListen(t, t.Context(), c, 99, map[string]any{"toolsListChanged": true, "promptsListChanged": true})
	ackB := colB.waitFor(t, "acknowledgement for B", isAck)
	for name, tc := range map[string]struct {
		col  *collector
		ack  *jsonrpc.Request
		id   string
		want string
	}{
		"A": {colA, ackA, `"listen-A"`, `{"toolsListChanged":true}`},
		"B": {colB, ackB, `99`, `{"promptsListChanged":true,"toolsListChanged":true}`},
	} {
		if first := tc.col.all()[0]; first != tc.ack {
			t.Errorf("%s: first message %s %s, want the acknowledgement", name, first.Method, first.Params)
		}
		if got := subscriptionID(tc.ack); got != tc.id {
			t.Errorf("%s: acknowledgement subscriptionId %s, want %s", name, got, tc.id)
		}
		var p struct {
			Notifications json.RawMessage `json:"notifications"`
		}
		json.Unmarshal(tc.ack.Params, &p)
		if string(p.Notifications) != tc.want {
			t.Errorf("%s: honored %s, want %s", name, p.Notifications, tc.want)
		}
	}

	// A tool-list change made by a call on one child reaches both listens.
	resultText(t, roundTrip(t, c, toolCall(t, 1, "test_trigger_tool_change", nil, nil), nil))
	isTools := func(n *jsonrpc.Request) bool { return n.Method == "notifications/tools/list_changed" }
	if n := colA.waitFor(t, "tools/list_changed for A", isTools); subscriptionID(n) != `"listen-A"` {
		t.Errorf("A: list_changed stamped %s", subscriptionID(n))
	}
	if n := colB.waitFor(t, "tools/list_changed for B", isTools); subscriptionID(n) != `99` {
		t.Errorf("B: list_changed stamped %s", subscriptionID(n))
	}
	// A prompt-list change reaches only B, which asked for it. The pool fans
	// a notification out to every listen at once, so once B has it, A
	// would have it too if it were going to.
	resultText(t, roundTrip(t, c, toolCall(t, 2, "test_trigger_prompt_change", nil, nil), nil))
	colB.waitFor(t, "prompts/list_changed for B", func(n *jsonrpc.Request) bool { return n.Method == "notifications/prompts/list_changed" })
	for _, n := range colA.all() {
		if n.Method == "notifications/prompts/list_changed" {
			t.Errorf("A got %s, which it did not ask for", n.Method)
		}
	}
	for name, col := range map[string]*collector{"A": colA, "B": colB} {
		for _, n := range col.all() {
			if n.Method == "notifications/progress" || n.Method == "notifications/message" {
				t.Errorf("%s: %s on a listen stream", name, n.Method)
			}
		}
	}
	if st := c.ModernStatus(); st.Listens != 2 {
		t.Errorf("%d listens open, want 2", st.Listens)
	}

	// A's caller goes away: RoundTrip returns ctx.Err(); B is unaffected.
	cancelA()
	if r := waitListen(t, doneA); !errors.Is(r.err, context.Canceled) {
		t.Errorf("A ended with %v %v, want context.Canceled", r.resp, r.err)
	}
	before := len(colB.all())
	resultText(t, roundTrip(t, c, toolCall(t, 3, "test_trigger_tool_change", nil, nil), nil))
	colB.waitFor(t, "tools/list_changed for B after A left", func(n *jsonrpc.Request) bool {
		return isTools(n) && len(colB.all()) > before
	})

	// Shutdown ends B's listen with the graceful listen result.
	c.Close()
	r := waitListen(t, doneB)
	if r.err != nil || r.resp == nil || r.resp.Error != nil {
		t.Fatalf("B ended with %v %v", r.resp, r.err)
	}
	if r.resp.ID != mustID(t, 99) {
		t.Errorf("listen result id %v", r.resp.ID.Raw())
	}
	var res struct {
		ResultType string                     `json:"resultType"`
		Meta       map[string]json.RawMessage `json:"_meta"`
	}
	if json.Unmarshal(r.resp.Result, &res) != nil || res.ResultType != "complete" || string(res.Meta[rpcmsg.MetaSubscriptionID]) != "99" {
		t.Errorf("listen result %s", r.resp.Result)
	}
}

// A resource subscription reaches only the listen that named the resource.
func TestListenResourceUpdated(t *testing.T) {
	c := goEverything(t, 2)
	const uri = "test://watched-resource"
	colR, _ := startListen(t, t.Context(), c, "res", map[string]any{"resourceSubscriptions": []string{uri}})
	colT, _ := startListen(t, t.Context(), c, "tools", map[string]any{"toolsListChanged": true})
	colR.waitFor(t, "acknowledgement", func(n *jsonrpc.Request) bool { return n.Method == "notifications/subscriptions/acknowledged" })
	// The server announces an update of the watched resource every 3s.
	n := colR.waitFor(t, "resources/updated", func(n *jsonrpc.Request) bool { return n.Method == "notifications/resources/updated" })
	if subscriptionID(n) != `"res"` || !strings.Contains(string(n.Params), uri) {
		t.Errorf("resources/updated %s", n.Params)
	}
	for _, n := range colT.all() {
		if n.Method == "notifications/resources/updated" {
			t.Errorf("the tools listen got %s %s", n.Method, n.Params)
		}
	}
}

// waitUntil polls cond until it holds (a guard against deadlock, not a
// timing assertion).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, waitLimit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type callResult struct {
	resp *jsonrpc.Response
	err  error
}

func startCall(ctx context.Context, c *stdio.Command, req *jsonrpc.Request, notify func(*jsonrpc.Request)) <-chan callResult {
	done := make(chan callResult, 1)
	go func() {
		resp, err := c.RoundTrip(ctx, req, notify)
		done <- callResult{resp, err}
	}()
	return done
}

// A slow call does not hold up another on the same child.
func TestSlowCallDoesNotBlockOthers(t *testing.T) {
	c := echoServer(t, 1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	col := newCollector()
	slow := startCall(ctx, c, toolCall(t, 1, "slow", map[string]any{"seconds": 3600}, "slow-token"), col.notify)
	col.waitFor(t, "progress from the slow call", func(n *jsonrpc.Request) bool { return n.Method == "notifications/progress" })
	if got := resultText(t, roundTrip(t, c, toolCall(t, 2, "echo", map[string]any{"text": "fast"}, nil), nil)); got != "fast" {
		t.Errorf("echo: %q", got)
	}
	select {
	case r := <-slow:
		t.Fatalf("the slow call ended early: %v %v", r.resp, r.err)
	default:
	}
	if st := c.ModernStatus(); len(st.Children) != 1 || st.Children[0].InFlight != 1 {
		t.Errorf("status %+v, want one child with the slow call in flight", st)
	}
}

// When the caller gives up, RoundTrip returns ctx.Err() and the child gets
// notifications/cancelled for the request, which stops the tool: the SDK
// server answers the cancelled request, and that late answer is counted.
func TestCancellationReachesChild(t *testing.T) {
	c := echoServer(t, 1)
	ctx, cancel := context.WithCancel(t.Context())
	col := newCollector()
	slow := startCall(ctx, c, toolCall(t, 1, "slow", map[string]any{"seconds": 3600}, "tok"), col.notify)
	col.waitFor(t, "progress", func(n *jsonrpc.Request) bool { return n.Method == "notifications/progress" })
	cancel()
	var r callResult
	select {
	case r = <-slow:
	case <-time.After(waitLimit):
		t.Fatal("RoundTrip did not return after cancel")
	}
	if !errors.Is(r.err, context.Canceled) || r.resp != nil {
		t.Fatalf("cancelled RoundTrip returned %v, %v; want nil, context.Canceled", r.resp, r.err)
	}
	if st := c.ModernStatus(); st.Cancelled != 1 {
		t.Errorf("%d cancellations sent, want 1", st.Cancelled)
	}
	// The tool was asked to run for an hour: an answer now means the
	// child cancelled it.
	waitUntil(t, "the child's answer to the cancelled request", func() bool { return c.ModernStatus().LateAnswers == 1 })
	if st := c.ModernStatus(); st.Children[0].InFlight != 0 {
		t.Errorf("%d requests still in flight", st.Children[0].InFlight)
	}
}

// A child killed mid-call fails only its own calls, at once, and is
// replaced.
func TestChildKilledMidCall(t *testing.T) {
	c := echoServer(t, 2)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	resultText(t, roundTrip(t, c, toolCall(t, "warm", "echo", map[string]any{"text": "up"}, nil), nil))
	waitUntil(t, "two children running", func() bool { return len(c.ModernStatus().Children) == 2 })
	// Two slow calls: the least-loaded rule puts one on each child.
	inFlight := func() int {
		n := 0
		for _, ch := range c.ModernStatus().Children {
			n += ch.InFlight
		}
		return n
	}
	cols := []*collector{newCollector(), newCollector()}
	var calls []<-chan callResult
	for i, col := range cols {
		calls = append(calls, startCall(ctx, c, toolCall(t, fmt.Sprintf("s%d", i), "slow", map[string]any{"seconds": 3600}, fmt.Sprintf("t%d", i)), col.notify))
		waitUntil(t, "the slow call in flight", func() bool { return inFlight() == i+1 })
	}
	for i, col := range cols {
		col.waitFor(t, fmt.Sprintf("progress of call %d", i), func(n *jsonrpc.Request) bool { return n.Method == "notifications/progress" })
	}
	st := c.ModernStatus()
	if len(st.Children) != 2 || st.Children[0].InFlight != 1 || st.Children[1].InFlight != 1 {
		t.Fatalf("status %+v: want two children with one call each", st)
	}
	victim := st.Children[0].PID
	if err := kill(victim); err != nil {
		t.Fatal(err)
	}
	// Exactly one of the calls fails with CodeServerUnavailable; the other
	// keeps running.
	var failed callResult
	var survivor int
	select {
	case failed = <-calls[0]:
		survivor = 1
	case failed = <-calls[1]:
		survivor = 0
	case <-time.After(waitLimit):
		t.Fatal("no call failed after its child was killed")
	}
	if failed.err != nil {
		t.Fatalf("failed call: err %v, want a JSON-RPC error response", failed.err)
	}
	if we := wireError(t, failed.resp); we.Code != bridge.CodeServerUnavailable {
		t.Errorf("failed call: code %d, want %d (%s)", we.Code, bridge.CodeServerUnavailable, we.Message)
	}
	if want := mustID(t, fmt.Sprintf("s%d", 1-survivor)); failed.resp.ID != want {
		t.Errorf("failed call answered with id %v, want %v", failed.resp.ID.Raw(), want.Raw())
	}
	select {
	case r := <-calls[survivor]:
		t.Fatalf("the call on the other child ended too: %v %v", r.resp, r.err)
	default:
	}
	// The dead child is replaced, and the pool answers again.
	waitUntil(t, "a replacement child", func() bool {
		st := c.ModernStatus()
		return len(st.Children) == 2 && st.Children[0].PID != victim && st.Children[1].PID != victim
	})
	if got := resultText(t, roundTrip(t, c, toolCall(t, 3, "echo", map[string]any{"text": "after"}, nil), nil)); got != "after" {
		t.Errorf("echo after replacement: %q", got)
	}
	if st := c.ModernStatus(); st.Started != 3 {
		t.Errorf("%d pool children started, want 3 (2 + 1 replacement)", st.Started)
	}
	select {
	case r := <-calls[survivor]:
		t.Fatalf("the surviving call ended: %v %v", r.resp, r.err)
	default:
	}
}

// The in-flight bound gives a clear error rather than queueing without end.
func TestMaxInFlight(t *testing.T) {
	c := echoServer(t, 1)
	c.MaxInFlight = 1
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	col := newCollector()
	startCall(ctx, c, toolCall(t, 1, "slow", map[string]any{"seconds": 3600}, "tok"), col.notify)
	col.waitFor(t, "progress", func(n *jsonrpc.Request) bool { return n.Method == "notifications/progress" })
	resp := roundTrip(t, c, toolCall(t, 2, "echo", map[string]any{"text": "x"}, nil), nil)
	we := wireError(t, resp)
	if we.Code != bridge.CodeServerUnavailable || !strings.Contains(we.Message, "in flight") {
		t.Errorf("over the bound: %d %q", we.Code, we.Message)
	}
}

// server-everything speaks only the session-based revisions: a probing
// client gets its own answer to server/discover (method not found) with its
// own id, any other modern request -32022, and sessions still work.
func TestLegacyChild(t *testing.T) {
	c := newCommand(t, testenv.Node(t), []string{testenv.ServerEverything(t)}, 2)
	resp := roundTrip(t, c, modern(t, "probe-7", "server/discover", nil, nil), nil)
	if we := wireError(t, resp); we.Code != jsonrpc.CodeMethodNotFound {
		t.Errorf("server/discover: code %d %q, want %d", we.Code, we.Message, jsonrpc.CodeMethodNotFound)
	}
	if got := c.ModernStatus().Era; got != "legacy" {
		t.Errorf("era %q", got)
	}
	resp = roundTrip(t, c, toolCall(t, 8, "echo", map[string]any{"message": "hi"}, nil), nil)
	we := wireError(t, resp)
	if we.Code != rpcmsg.CodeUnsupportedProtocolVersion {
		t.Errorf("tools/call: code %d %q, want %d", we.Code, we.Message, rpcmsg.CodeUnsupportedProtocolVersion)
	}
	var data struct {
		Supported []string `json:"supported"`
		Requested string   `json:"requested"`
	}
	if err := json.Unmarshal(we.Data, &data); err != nil || data.Requested != rpcmsg.ModernVersion || strings.Join(data.Supported, ",") != strings.Join(rpcmsg.LegacyVersions, ",") {
		t.Errorf("-32022 data %s", we.Data)
	}
	if st := c.ModernStatus(); st.Started != 0 {
		t.Errorf("%d pool children started for a legacy server", st.Started)
	}
	// A session of the session-based revision, through Dial, as before.
	conn, err := c.Dial(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	init := &jsonrpc.Request{ID: mustID(t, 1), Method: "initialize", Params: json.RawMessage(`{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"}}`)}
	if err := conn.Write(t.Context(), init); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	for {
		msg, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("reading the initialize answer: %v", err)
		}
		if r, ok := msg.(*jsonrpc.Response); ok {
			if r.Error != nil || !strings.Contains(string(r.Result), `"protocolVersion":"2025-11-25"`) {
				t.Errorf("initialize: %v %s", r.Error, r.Result)
			}
			break
		}
	}
}

// Servers that exit on an unknown pre-initialize request, or stay silent,
// are legacy; the probe's child is disposable either way.
func TestProbeExitOrSilenceMeansLegacy(t *testing.T) {
	for name, script := range map[string]string{
		"exits":                      `read line; exit 1`,
		"silent":                     `while read line; do :; done`,
		"closes stdout and lives on": `exec cat >/dev/null`,
	} {
		t.Run(name, func(t *testing.T) {
			c := newCommand(t, "/bin/sh", []string{"-c", script}, 1)
			c.ProbeTimeout = 500 * time.Millisecond
			era, err := c.Era(t.Context())
			if err != nil || era != stdio.EraLegacy {
				t.Fatalf("Era = %v, %v; want legacy", era, err)
			}
			resp := roundTrip(t, c, modern(t, 1, "server/discover", nil, nil), nil)
			if we := wireError(t, resp); we.Code != jsonrpc.CodeMethodNotFound {
				t.Errorf("server/discover: %d %q", we.Code, we.Message)
			}
		})
	}
}

// A child that dies is replaced and its upstream listen opened again: the
// caller's listen carries on.
func TestListenSurvivesChildRestart(t *testing.T) {
	c := goEverything(t, 1)
	col, done := startListen(t, t.Context(), c, "L", map[string]any{"toolsListChanged": true})
	col.waitFor(t, "acknowledgement", func(n *jsonrpc.Request) bool { return n.Method == "notifications/subscriptions/acknowledged" })
	victim := c.ModernStatus().Children[0].PID
	if err := kill(victim); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a replacement child", func() bool {
		st := c.ModernStatus()
		return len(st.Children) == 1 && st.Children[0].PID != victim
	})
	// The listen on the new child may not be open yet when the trigger
	// runs; trigger until a notification arrives.
	deadline := time.Now().Add(waitLimit)
	for i := 0; ; i++ {
		resultText(t, roundTrip(t, c, toolCall(t, i, "test_trigger_tool_change", nil, nil), nil))
		if slices.ContainsFunc(col.all(), func(n *jsonrpc.Request) bool { return n.Method == "notifications/tools/list_changed" }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no tools/list_changed after the restart: %s", describe(col.all()))
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case r := <-done:
		t.Fatalf("the listen ended: %v %v", r.resp, r.err)
	default:
	}
	if n := len(slices.DeleteFunc(col.all(), func(n *jsonrpc.Request) bool { return n.Method != "notifications/subscriptions/acknowledged" })); n != 1 {
		t.Errorf("%d acknowledgements, want 1", n)
	}
}

// Children that keep dying make the pool check the era again; the server
// is still modern, so the pool carries on and serves the next call.
func TestPoolRecoversFromRepeatedCrashes(t *testing.T) {
	c := echoServer(t, 1)
	for i := range 3 {
		resp := roundTrip(t, c, toolCall(t, i, "crash", nil, nil), nil)
		if we := wireError(t, resp); we.Code != bridge.CodeServerUnavailable {
			t.Fatalf("crash %d: code %d %q", i, we.Code, we.Message)
		}
	}
	// The re-probe may find the command in its crash back-off and report
	// the server unavailable for a while; it must come back.
	deadline := time.Now().Add(waitLimit)
	for {
		resp := roundTrip(t, c, toolCall(t, 9, "echo", map[string]any{"text": "back"}, nil), nil)
		if resp.Error == nil {
			if got := resultText(t, resp); got != "back" {
				t.Errorf("echo: %q", got)
			}
			break
		}
		if we := wireError(t, resp); we.Code != bridge.CodeServerUnavailable || time.Now().After(deadline) {
			t.Fatalf("echo after the crashes: %d %q", we.Code, we.Message)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st := c.ModernStatus(); st.Era != "modern" {
		t.Errorf("era %q after the re-probe", st.Era)
	}
}

// A request that is not of the stateless revision never reaches a shared
// child: the child's connection would take that era for everyone.
func TestPoolRefusesSessionRequests(t *testing.T) {
	c := goEverything(t, 1)
	resultText(t, roundTrip(t, c, toolCall(t, 1, "test_simple_text", nil, nil), nil))
	legacy := &jsonrpc.Request{ID: mustID(t, 2), Method: "initialize", Params: json.RawMessage(`{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2025-11-25"}}`)}
	if we := wireError(t, roundTrip(t, c, legacy, nil)); we.Code != rpcmsg.CodeUnsupportedProtocolVersion {
		t.Errorf("session-based request: %d %q", we.Code, we.Message)
	}
	bare := &jsonrpc.Request{ID: mustID(t, 3), Method: "tools/list", Params: json.RawMessage(`{}`)}
	if we := wireError(t, roundTrip(t, c, bare, nil)); we.Code != jsonrpc.CodeInvalidParams {
		t.Errorf("request without _meta: %d %q", we.Code, we.Message)
	}
	resultText(t, roundTrip(t, c, toolCall(t, 4, "test_simple_text", nil, nil), nil))
}

// A listen that asks for nothing, or for nothing the server honors, gets
// its acknowledgement and then its result, as from the server itself.
func TestListenHonoringNothingEnds(t *testing.T) {
	c := goEverything(t, 2)
	for name, filter := range map[string]map[string]any{
		"empty":       {},
		"not honored": {"taskIds": []string{"no-such-task"}},
	} {
		t.Run(name, func(t *testing.T) {
			col, done := startListen(t, t.Context(), c, name, filter)
			r := waitListen(t, done)
			if r.err != nil || r.resp == nil || r.resp.Error != nil {
				t.Fatalf("listen ended with %v %v", r.resp, r.err)
			}
			if !strings.Contains(string(r.resp.Result), `"resultType":"complete"`) {
				t.Errorf("result %s", r.resp.Result)
			}
			notes := col.all()
			if len(notes) != 1 || notes[0].Method != "notifications/subscriptions/acknowledged" || subscriptionID(notes[0]) != fmt.Sprintf("%q", name) {
				t.Fatalf("notifications:%s", describe(notes))
			}
			if !strings.Contains(string(notes[0].Params), `"notifications":{}`) {
				t.Errorf("acknowledgement %s", notes[0].Params)
			}
		})
	}
}

// An HTTP client's Mcp-Param-* headers (handed over in the context) are
// checked against the arguments with the tool's x-mcp-header schema, which
// the stdio child never sees; clients that cannot send headers (no header
// context) are not checked.
func TestParamHeadersChecked(t *testing.T) {
	c := goEverything(t, 1)
	call := func(id int, region any, header string) *jsonrpc.Response {
		h := http.Header{}
		if header != "" {
			h.Set("Mcp-Param-Region", header)
		}
		args := map[string]any{}
		if region != nil {
			args["region"] = region
		}
		ctx, cancel := context.WithTimeout(bridge.WithHeader(t.Context(), h), waitLimit)
		defer cancel()
		resp, err := c.RoundTrip(ctx, toolCall(t, id, "test_x_mcp_header", args, nil), nil)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	accept := []struct {
		region any
		header string
	}{
		{"eu-west", "eu-west"},
		{"Hello", "=?base64?SGVsbG8=?="},
		{"=?base64?SGVsbG8=", "=?base64?SGVsbG8="}, // no suffix: literal
		{nil, ""},
	}
	for i, a := range accept {
		if resp := call(i, a.region, a.header); resp.Error != nil {
			t.Errorf("region %v, header %q: refused: %v", a.region, a.header, resp.Error)
		}
	}
	reject := []struct {
		region any
		header string
	}{
		{"eu-west", "us-east"},              // mismatch
		{"eu-west", ""},                     // missing
		{nil, "eu-west"},                    // header without argument
		{"Hello", "=?base64?SGVsbG8?="},     // bad padding
		{"Hello", "=?base64?SGVs!!!bG8=?="}, // not Base64
	}
	for i, r := range reject {
		resp := call(10+i, r.region, r.header)
		if we := wireError(t, resp); we.Code != rpcmsg.CodeHeaderMismatch {
			t.Errorf("region %v, header %q: code %d %q, want %d", r.region, r.header, we.Code, we.Message, rpcmsg.CodeHeaderMismatch)
		}
	}
	// No header context: a stdio or queue client, not checked.
	resultText(t, roundTrip(t, c, toolCall(t, 30, "test_x_mcp_header", map[string]any{"region": "eu-west"}, nil), nil))
}

// kill ends a process at once.
func kill(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}
