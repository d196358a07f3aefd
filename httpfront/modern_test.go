// SPDX-License-Identifier: Apache-2.0

package httpfront_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/httpfront"
	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/asyncmcp/asyncmcp-go/remote"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// modernUpstream is a Go SDK MCP server served over stateless Streamable
// HTTP (the only way the Go SDK serves 2026-07-28 over HTTP), with tools
// that echo, report progress, and block until cancelled.
type modernUpstream struct {
	URL       string
	started   chan struct{} // a "block" call began
	cancelled chan struct{} // a "block" call saw its context end
}

func startModernUpstream(t *testing.T) *modernUpstream {
	t.Helper()
	u := &modernUpstream{started: make(chan struct{}, 16), cancelled: make(chan struct{}, 16)}
	server := mcp.NewServer(&mcp.Implementation{Name: "upstream", Version: "1"}, nil)
	type echoArgs struct {
		Text string `json:"text"`
	}
	mcp.AddTool(server, &mcp.Tool{Name: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, a echoArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
	})
	mcp.AddTool(server, &mcp.Tool{Name: "progress"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		tok := req.Params.GetProgressToken()
		for i := 1; i <= 3 && tok != nil; i++ {
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: float64(i), Total: 3}); err != nil {
				return nil, nil, err
			}
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
	})
	mcp.AddTool(server, &mcp.Tool{Name: "block"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		u.started <- struct{}{}
		select {
		case <-ctx.Done():
			u.cancelled <- struct{}{}
			return nil, nil, ctx.Err()
		case <-time.After(time.Minute):
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "not cancelled"}}}, nil, nil
		}
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server },
		&mcp.StreamableHTTPOptions{Stateless: true, PropagateRequestCancellation: true})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u.URL = srv.URL
	return u
}

// startModernFront serves back at /mcp of a fresh httpfront.Server.
func startModernFront(t *testing.T, opts httpfront.Options, back bridge.Dialer) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	front := httpfront.New(srv.Listener.Addr().String(), opts)
	front.Handle("", back, nil)
	srv.Config.Handler = front
	srv.Start()
	t.Cleanup(func() {
		front.Close()
		srv.Close()
	})
	return srv.URL + "/mcp"
}

// warnRecorder is a slog handler that keeps warnings and errors.
type warnRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (w *warnRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnRecorder) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(w.lines, r.Message)
	return nil
}
func (w *warnRecorder) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnRecorder) WithGroup(string) slog.Handler      { return w }
func (w *warnRecorder) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.lines...)
}

// TestModernGoClient: a Go SDK client with default options negotiates
// 2026-07-28 through the front (no fallback, nothing logged), and its calls,
// with progress, reach the upstream through remote.Streamable.RoundTrip.
func TestModernGoClient(t *testing.T) {
	up := startModernUpstream(t)
	for _, stateless := range []bool{false, true} {
		name := "sessions"
		if stateless {
			name = "stateless"
		}
		t.Run(name, func(t *testing.T) {
			url := startModernFront(t, httpfront.Options{Stateless: stateless}, &remote.Streamable{URL: up.URL})
			rec := &warnRecorder{}
			progress := make(chan float64, 16)
			c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, &mcp.ClientOptions{
				Logger: slog.New(rec),
				ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
					progress <- r.Params.Progress
				},
			})
			cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: url}, nil)
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer cs.Close()
			if v := cs.InitializeResult().ProtocolVersion; v != rpcmsg.ModernVersion {
				t.Fatalf("negotiated %q, want %q", v, rpcmsg.ModernVersion)
			}
			got, err := callText(t.Context(), cs, "echo", map[string]any{"text": "héllo"})
			if err != nil || got != "héllo" {
				t.Fatalf("echo = %q, %v", got, err)
			}
			res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "progress", Arguments: map[string]any{}, Meta: mcp.Meta{"progressToken": "p1"}})
			if err != nil || res.IsError {
				t.Fatalf("progress tool: %+v, %v", res, err)
			}
			// The client runs notification handlers on their own goroutines,
			// so they may finish after the call returns.
			seen := map[float64]bool{}
			for i := 1; i <= 3; i++ {
				select {
				case p := <-progress:
					if seen[p] || p < 1 || p > 3 {
						t.Errorf("unexpected progress value %v (seen %v)", p, seen)
					}
					seen[p] = true
				case <-time.After(30 * time.Second):
					t.Fatalf("client saw %d progress notifications, want 3", i-1)
				}
			}
			if w := rec.all(); len(w) > 0 {
				t.Errorf("client logged warnings: %q", w)
			}
		})
	}
}

// modernBody is a tools/call request of the 2026-07-28 revision.
func modernBody(method string, params map[string]any) string {
	if params == nil {
		params = map[string]any{}
	}
	if _, ok := params["_meta"]; !ok {
		params["_meta"] = map[string]any{
			rpcmsg.MetaProtocolVersion:    rpcmsg.ModernVersion,
			rpcmsg.MetaClientCapabilities: map[string]any{},
			rpcmsg.MetaClientInfo:         map[string]any{"name": "raw", "version": "1"},
		}
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 7, "method": method, "params": params})
	return string(b)
}

// rpcReply is the JSON-RPC answer of a POST.
type rpcReply struct {
	ID     any             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int64           `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	} `json:"error"`
}

func postModern(t *testing.T, url, body string, hdr map[string]string) (int, rpcReply, http.Header) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var rep rpcReply
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		// The last data line holds the response.
		sc := bufio.NewScanner(bytes.NewReader(raw))
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				json.Unmarshal([]byte(d), &rep)
			}
		}
	} else if len(raw) > 0 {
		if err := json.Unmarshal(raw, &rep); err != nil {
			t.Fatalf("answer is not JSON (%d): %s", resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, rep, resp.Header
}

// TestModernHeaderValidation: the front checks a modern request's headers
// against its body before anything reaches the back.
func TestModernHeaderValidation(t *testing.T) {
	up := startModernUpstream(t)
	url := startModernFront(t, httpfront.Options{}, &remote.Streamable{URL: up.URL})
	std := func(method, name string) map[string]string {
		h := map[string]string{"Mcp-Protocol-Version": rpcmsg.ModernVersion, "Mcp-Method": method}
		if name != "" {
			h["Mcp-Name"] = name
		}
		return h
	}
	with := func(h map[string]string, k, v string) map[string]string {
		out := map[string]string{}
		for kk, vv := range h {
			out[kk] = vv
		}
		out[k] = v
		return out
	}
	echo := modernBody("tools/call", map[string]any{"name": "echo", "arguments": map[string]any{"text": "x"}})
	noCaps := modernBody("tools/list", map[string]any{"_meta": map[string]any{rpcmsg.MetaProtocolVersion: rpcmsg.ModernVersion}})
	cases := []struct {
		name       string
		body       string
		hdr        map[string]string
		wantStatus int
		wantCode   int64
	}{
		{"ok", echo, std("tools/call", "echo"), 200, 0},
		{"base64 name", echo, std("tools/call", "=?base64?ZWNobw==?="), 200, 0},
		{"no version header", echo, with(std("tools/call", "echo"), "Mcp-Protocol-Version", ""), 400, rpcmsg.CodeHeaderMismatch},
		{"version mismatch", echo, with(std("tools/call", "echo"), "Mcp-Protocol-Version", "2025-11-25"), 400, rpcmsg.CodeHeaderMismatch},
		{"no method header", echo, with(std("tools/call", "echo"), "Mcp-Method", ""), 400, rpcmsg.CodeHeaderMismatch},
		{"method mismatch", echo, with(std("tools/call", "echo"), "Mcp-Method", "tools/list"), 400, rpcmsg.CodeHeaderMismatch},
		{"no name header", echo, std("tools/call", ""), 400, rpcmsg.CodeHeaderMismatch},
		{"name mismatch", echo, std("tools/call", "other"), 400, rpcmsg.CodeHeaderMismatch},
		{"bad base64 name", echo, std("tools/call", "=?base64?!!!?="), 400, rpcmsg.CodeHeaderMismatch},
		{"no capabilities", noCaps, std("tools/list", ""), 400, -32602},
		{"meta missing, modern header", `{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}}`, std("tools/list", ""), 400, -32602},
		{"task id", modernBody("tasks/get", map[string]any{"taskId": "t-1"}), std("tasks/get", "t-2"), 400, rpcmsg.CodeHeaderMismatch},
		{"unknown method", modernBody("no/such", nil), std("no/such", ""), 404, -32601},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, rep, h := postModern(t, url, c.body, c.hdr)
			if status != c.wantStatus {
				t.Errorf("status %d, want %d (%+v)", status, c.wantStatus, rep.Error)
			}
			if h.Get("Mcp-Session-Id") != "" {
				t.Errorf("modern answer carries Mcp-Session-Id %q", h.Get("Mcp-Session-Id"))
			}
			switch {
			case c.wantCode == 0 && rep.Error != nil:
				t.Errorf("error %+v, want a result", rep.Error)
			case c.wantCode == 0 && len(rep.Result) == 0:
				t.Errorf("no result")
			case c.wantCode != 0 && (rep.Error == nil || rep.Error.Code != c.wantCode):
				t.Errorf("error %+v, want code %d", rep.Error, c.wantCode)
			}
			if rep.ID != float64(7) {
				t.Errorf("answer id %v, want 7", rep.ID)
			}
		})
	}
	t.Run("notification", func(t *testing.T) {
		body := `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}}`
		status, _, _ := postModern(t, url, body, std("notifications/cancelled", ""))
		if status != http.StatusAccepted {
			t.Errorf("status %d, want 202", status)
		}
	})
}

// TestModernWithoutRoundTripper: a back that only speaks sessions answers
// modern requests with -32022 listing the legacy versions, so a Go SDK
// client probing server/discover falls back to initialize cleanly.
func TestModernWithoutRoundTripper(t *testing.T) {
	server := mcp.NewServer(&mcp.Implementation{Name: "legacy", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, a struct {
		Text string `json:"text"`
	}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
	})
	// A bare Dialer (no RoundTrip method): each session is a fresh
	// in-memory connection to the server.
	dialer := bridge.DialerFunc(func(ctx context.Context) (mcp.Connection, error) {
		st, ct := mcp.NewInMemoryTransports()
		if _, err := server.Connect(context.Background(), st, nil); err != nil {
			return nil, err
		}
		return ct.Connect(ctx)
	})
	url := startModernFront(t, httpfront.Options{}, dialer)

	status, rep, _ := postModern(t, url, modernBody("server/discover", nil), map[string]string{"Mcp-Protocol-Version": rpcmsg.ModernVersion, "Mcp-Method": "server/discover"})
	if status != 400 || rep.Error == nil || rep.Error.Code != rpcmsg.CodeUnsupportedProtocolVersion {
		t.Fatalf("server/discover: status %d, error %+v; want 400 and -32022", status, rep.Error)
	}
	var data struct {
		Supported []string `json:"supported"`
		Requested string   `json:"requested"`
	}
	if err := json.Unmarshal(rep.Error.Data, &data); err != nil || len(data.Supported) == 0 || data.Requested != rpcmsg.ModernVersion {
		t.Fatalf("error data %s: want supported versions and requested %q", rep.Error.Data, rpcmsg.ModernVersion)
	}
	for _, v := range data.Supported {
		if rpcmsg.IsModernVersion(v) {
			t.Errorf("supported lists modern version %q", v)
		}
	}

	c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: url, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatalf("connect (expected a fallback to initialize): %v", err)
	}
	defer cs.Close()
	if v := cs.InitializeResult().ProtocolVersion; v != rpcmsg.LatestLegacyVersion {
		t.Errorf("negotiated %q, want %q after the fallback", v, rpcmsg.LatestLegacyVersion)
	}
	if got, err := callText(t.Context(), cs, "echo", map[string]any{"text": "legacy"}); err != nil || got != "legacy" {
		t.Errorf("echo after fallback = %q, %v", got, err)
	}
}

// TestModernDisconnectCancels: closing a modern request's stream cancels the
// request at the upstream server (the POST to it is closed).
func TestModernDisconnectCancels(t *testing.T) {
	up := startModernUpstream(t)
	url := startModernFront(t, httpfront.Options{}, &remote.Streamable{URL: up.URL})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	body := modernBody("tools/call", map[string]any{"name": "block", "arguments": map[string]any{}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", rpcmsg.ModernVersion)
	req.Header.Set("Mcp-Method", "tools/call")
	req.Header.Set("Mcp-Name", "block")
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		errc <- err
	}()
	select {
	case <-up.started:
	case <-time.After(30 * time.Second):
		t.Fatal("the blocking tool never started")
	}
	cancel()
	select {
	case <-up.cancelled:
	case <-time.After(30 * time.Second):
		t.Fatal("the upstream tool was not cancelled after the client closed its stream")
	}
	<-errc
}

// TestModernListenKeepAlive: a subscriptions/listen stream opens at once,
// carries the acknowledgement, stays open with keep-alive comments, and ends
// at the upstream when the client goes away.
func TestModernListenKeepAlive(t *testing.T) {
	up := startModernUpstream(t)
	url := startModernFront(t, httpfront.Options{KeepAlive: 20 * time.Millisecond}, &remote.Streamable{URL: up.URL})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	body := modernBody("subscriptions/listen", map[string]any{"notifications": map[string]any{"toolsListChanged": true}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", rpcmsg.ModernVersion)
	req.Header.Set("Mcp-Method", "subscriptions/listen")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST listen: %v", err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("listen answered %s %q, want an SSE stream", resp.Status, ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sawAck, sawKeepAlive := false, false
	for sc.Scan() && !(sawAck && sawKeepAlive) {
		line := sc.Text()
		if strings.HasPrefix(line, ": keep-alive") {
			sawKeepAlive = true
		}
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			var n struct {
				Method string `json:"method"`
				Params struct {
					Meta map[string]any `json:"_meta"`
				} `json:"params"`
			}
			json.Unmarshal([]byte(d), &n)
			if n.Method == "notifications/subscriptions/acknowledged" {
				if n.Params.Meta[rpcmsg.MetaSubscriptionID] != float64(7) {
					t.Errorf("acknowledgement carries subscription id %v, want 7", n.Params.Meta[rpcmsg.MetaSubscriptionID])
				}
				sawAck = true
			}
		}
	}
	if !sawAck || !sawKeepAlive {
		t.Fatalf("stream ended (%v) with ack=%v keep-alive=%v", sc.Err(), sawAck, sawKeepAlive)
	}
}

// TestModernCORSPreflight: a browser may send the revision's headers,
// including the Mcp-Param-* ones its tool schema names.
func TestModernCORSPreflight(t *testing.T) {
	up := startModernUpstream(t)
	url := startModernFront(t, httpfront.Options{AllowOrigins: []string{"https://app.example"}}, &remote.Streamable{URL: up.URL})
	req, _ := http.NewRequest(http.MethodOptions, url, nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "mcp-method, mcp-name, mcp-param-region, x-other")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	allowed := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
	for _, h := range []string{"mcp-method", "mcp-name", "mcp-param-region", "mcp-protocol-version"} {
		if !strings.Contains(allowed, h) {
			t.Errorf("Access-Control-Allow-Headers %q lacks %s", allowed, h)
		}
	}
	if strings.Contains(allowed, "x-other") {
		t.Errorf("Access-Control-Allow-Headers %q allows an unrelated header", allowed)
	}
}
