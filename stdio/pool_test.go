// SPDX-License-Identifier: Apache-2.0

package stdio_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

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
