// SPDX-License-Identifier: Apache-2.0

package remote_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/asyncmcp/asyncmcp-go/remote"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// upstream is a Go SDK MCP server on stateless Streamable HTTP, which
// serves 2026-07-28 per request and the session-based versions too. It
// records the headers of every POST.
type upstream struct {
	URL       string
	started   chan struct{}
	cancelled chan struct{}

	mu      sync.Mutex
	headers []http.Header
}

func (u *upstream) lastHeader() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.headers[len(u.headers)-1]
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{started: make(chan struct{}, 16), cancelled: make(chan struct{}, 16)}
	server := mcp.NewServer(&mcp.Implementation{Name: "upstream", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, a struct {
		Text string `json:"text"`
	}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
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
	mcp.AddTool(server, &mcp.Tool{Name: "regional", InputSchema: json.RawMessage(`{"type":"object","properties":{
		"where":{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region"}}},
		"count":{"type":"integer","x-mcp-header":"Count"},
		"note":{"type":"string"}}}`)}, func(ctx context.Context, req *mcp.CallToolRequest, _ map[string]any) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server },
		&mcp.StreamableHTTPOptions{Stateless: true, PropagateRequestCancellation: true})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.headers = append(u.headers, r.Header.Clone())
		u.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	u.URL = srv.URL
	return u
}

// serveConn runs bridge.ServeConn with a remote.Streamable back for an
// in-memory client connection and returns the client's transport.
func serveConn(t *testing.T, back *remote.Streamable) mcp.Transport {
	t.Helper()
	ct, st := mcp.NewInMemoryTransports()
	front, err := st.Connect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		bridge.ServeConn(ctx, front, back, back, nil)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ct
}

func echoText(ctx context.Context, cs *mcp.ClientSession, text string) (string, error) {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": text}})
	if err != nil {
		return "", err
	}
	return res.Content[0].(*mcp.TextContent).Text, nil
}

// TestServeConnModern: a Go SDK client with default options, on a
// connection served by bridge.ServeConn, negotiates 2026-07-28 with the
// upstream; its requests run concurrently (a blocked call does not hold up
// another), and cancelling a call (notifications/cancelled on the
// connection) closes its POST, which cancels it at the upstream.
func TestServeConnModern(t *testing.T) {
	up := startUpstream(t)
	c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	cs, err := c.Connect(t.Context(), serveConn(t, &remote.Streamable{URL: up.URL}), nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer cs.Close()
	if v := cs.InitializeResult().ProtocolVersion; v != rpcmsg.ModernVersion {
		t.Fatalf("negotiated %q, want %q", v, rpcmsg.ModernVersion)
	}
	up.mu.Lock()
	seen := append([]http.Header(nil), up.headers...)
	up.mu.Unlock()
	for _, h := range seen {
		if h.Get("Mcp-Session-Id") != "" {
			t.Errorf("a modern POST carried Mcp-Session-Id %q", h.Get("Mcp-Session-Id"))
		}
	}

	blockCtx, cancelBlock := context.WithCancel(t.Context())
	blockErr := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(blockCtx, &mcp.CallToolParams{Name: "block", Arguments: map[string]any{}})
		blockErr <- err
	}()
	select {
	case <-up.started:
	case <-time.After(30 * time.Second):
		t.Fatal("the blocking tool never started")
	}
	if got, err := echoText(t.Context(), cs, "while blocked"); err != nil || got != "while blocked" {
		t.Fatalf("echo while another call blocks = %q, %v", got, err)
	}
	if h := up.lastHeader(); h.Get("Mcp-Method") != "tools/call" || h.Get("Mcp-Name") != "echo" || h.Get("Mcp-Protocol-Version") != rpcmsg.ModernVersion {
		t.Errorf("echo POST headers: method %q name %q version %q", h.Get("Mcp-Method"), h.Get("Mcp-Name"), h.Get("Mcp-Protocol-Version"))
	}
	cancelBlock()
	select {
	case <-up.cancelled:
	case <-time.After(30 * time.Second):
		t.Fatal("cancelling the call did not cancel it at the upstream")
	}
	if err := <-blockErr; err == nil {
		t.Error("the cancelled call returned no error")
	}
	if got, err := echoText(t.Context(), cs, "after cancel"); err != nil || got != "after cancel" {
		t.Fatalf("echo after a cancel = %q, %v", got, err)
	}
}

// TestServeConnLegacy: a client that opens with initialize gets a
// session-based back session through the same ServeConn.
func TestServeConnLegacy(t *testing.T) {
	up := startUpstream(t)
	c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	cs, err := c.Connect(t.Context(), serveConn(t, &remote.Streamable{URL: up.URL}), &mcp.ClientSessionOptions{ProtocolVersion: rpcmsg.LatestLegacyVersion})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer cs.Close()
	if v := cs.InitializeResult().ProtocolVersion; v != rpcmsg.LatestLegacyVersion {
		t.Fatalf("negotiated %q, want %q", v, rpcmsg.LatestLegacyVersion)
	}
	if got, err := echoText(t.Context(), cs, "legacy"); err != nil || got != "legacy" {
		t.Fatalf("echo = %q, %v", got, err)
	}
}

func modernRequest(t *testing.T, method string, params map[string]any) *jsonrpc.Request {
	t.Helper()
	params["_meta"] = map[string]any{
		rpcmsg.MetaProtocolVersion:    rpcmsg.ModernVersion,
		rpcmsg.MetaClientCapabilities: map[string]any{},
	}
	b, _ := json.Marshal(params)
	id, _ := jsonrpc.MakeID(float64(9))
	return &jsonrpc.Request{ID: id, Method: method, Params: b}
}

// TestRoundTripHeaders: the POST of each modern request carries the
// headers derived from its body, Base64-wrapped where the value is not
// plain ASCII, and the Mcp-Param-* headers an HTTP front put in ctx (and no
// other header from it). Only the tools/call answer is checked: the Go SDK
// v1.8.0 server compares Mcp-Name without decoding Base64.
func TestRoundTripHeaders(t *testing.T) {
	up := startUpstream(t)
	rt := &remote.Streamable{URL: up.URL}
	cases := []struct {
		method   string
		params   map[string]any
		wantName string
	}{
		{"tools/call", map[string]any{"name": "echo", "arguments": map[string]any{"text": "x"}}, "echo"},
		{"resources/read", map[string]any{"uri": "file:///été"}, "=?base64?ZmlsZTovLy/DqXTDqQ==?="},
		{"prompts/get", map[string]any{"name": " padded "}, "=?base64?IHBhZGRlZCA=?="},
		{"tasks/get", map[string]any{"taskId": "task-42"}, "task-42"},
		{"tools/list", map[string]any{}, ""},
	}
	for _, c := range cases {
		ctx := bridge.WithHeader(t.Context(), http.Header{"Mcp-Param-Region": {"eu"}, "Authorization": {"Bearer leak"}})
		resp, err := rt.RoundTrip(ctx, modernRequest(t, c.method, c.params), nil)
		if err != nil {
			t.Fatalf("%s: %v", c.method, err)
		}
		if resp.ID.Raw() != int64(9) {
			t.Errorf("%s: response id %v, want 9", c.method, resp.ID.Raw())
		}
		h := up.lastHeader()
		if h.Get("Mcp-Method") != c.method || h.Get("Mcp-Protocol-Version") != rpcmsg.ModernVersion {
			t.Errorf("%s: Mcp-Method %q, MCP-Protocol-Version %q", c.method, h.Get("Mcp-Method"), h.Get("Mcp-Protocol-Version"))
		}
		if got := h.Get("Mcp-Name"); got != c.wantName {
			t.Errorf("%s: Mcp-Name %q, want %q", c.method, got, c.wantName)
		}
		if h.Get("Mcp-Param-Region") != "eu" {
			t.Errorf("%s: Mcp-Param-Region not forwarded", c.method)
		}
		if h.Get("Authorization") != "" {
			t.Errorf("%s: the client's Authorization header was forwarded", c.method)
		}
		if c.method == "tools/call" && (resp.Error != nil || !strings.Contains(string(resp.Result), `"x"`)) {
			t.Errorf("tools/call: %s %v", resp.Result, resp.Error)
		}
	}
}

// TestRoundTripBoundsAnswer: an answer larger than MaxMessageBytes is not
// read whole; the caller gets a JSON-RPC error saying so.
func TestRoundTripBoundsAnswer(t *testing.T) {
	up := startUpstream(t)
	rt := &remote.Streamable{URL: up.URL, MaxMessageBytes: 4096}
	resp, err := rt.RoundTrip(t.Context(), modernRequest(t, "tools/call", map[string]any{"name": "echo", "arguments": map[string]any{"text": strings.Repeat("x", 10000)}}), nil)
	if err != nil {
		t.Fatalf("RoundTrip: %v", err)
	}
	werr, _ := resp.Error.(*jsonrpc.Error)
	if werr == nil || werr.Code != bridge.CodeServerUnavailable || !strings.Contains(werr.Message, "4096") {
		t.Fatalf("answer %s / %v, want a -32000 error naming the 4096-byte bound", resp.Result, resp.Error)
	}
}

// TestRoundTripUnreachable: a server that cannot be reached gives a
// JSON-RPC error, not a Go error, so fronts forward it as an answer; a
// cancelled ctx gives ctx.Err().
func TestRoundTripUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	rt := &remote.Streamable{URL: url}
	resp, err := rt.RoundTrip(t.Context(), modernRequest(t, "tools/list", map[string]any{}), nil)
	if err != nil || resp == nil || resp.Error == nil {
		t.Fatalf("RoundTrip to a closed port: %v, %v; want a JSON-RPC error", resp, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := rt.RoundTrip(ctx, modernRequest(t, "tools/list", map[string]any{}), nil); err != context.Canceled {
		t.Fatalf("RoundTrip with a cancelled ctx: %v, want context.Canceled", err)
	}
}

// TestRoundTripParamHeaders: with no HTTP client behind it (no headers in
// ctx), RoundTrip sends the Mcp-Param-* headers that the tool's
// x-mcp-header annotations call for, fetching tools/list itself when it
// has not seen the tool; behind an HTTP front (headers in ctx, here none)
// it adds nothing, so the server's verdict on the client's headers stands.
func TestRoundTripParamHeaders(t *testing.T) {
	up := startUpstream(t)
	call := func() *jsonrpc.Request {
		return modernRequest(t, "tools/call", map[string]any{"name": "regional", "arguments": map[string]any{
			"where": map[string]any{"region": "Zürich"}, "count": 12, "note": "n"}})
	}
	rt := &remote.Streamable{URL: up.URL}
	resp, err := rt.RoundTrip(bridge.WithHeader(t.Context(), http.Header{}), call(), nil)
	if err != nil || !isCode(resp, rpcmsg.CodeHeaderMismatch) {
		t.Fatalf("behind an HTTP front with no Mcp-Param headers: %s %v %v; want the server's -32020", resp.Result, resp.Error, err)
	}
	resp, err = rt.RoundTrip(t.Context(), call(), nil)
	if err != nil || resp.Error != nil {
		t.Fatalf("stdio-style call: %v %v", resp.Error, err)
	}
	h := up.lastHeader()
	if got := h.Get("Mcp-Param-Region"); got != "=?base64?WsO8cmljaA==?=" {
		t.Errorf("Mcp-Param-Region %q, want the Base64 form of Zürich", got)
	}
	if got := h.Get("Mcp-Param-Count"); got != "12" {
		t.Errorf("Mcp-Param-Count %q, want 12", got)
	}
	// A null value gets no header.
	req := modernRequest(t, "tools/call", map[string]any{"name": "regional", "arguments": map[string]any{"count": nil}})
	if resp, err = rt.RoundTrip(t.Context(), req, nil); err != nil || resp.Error != nil {
		t.Fatalf("call with a null argument: %v %v", resp.Error, err)
	}
	if h := up.lastHeader(); h.Get("Mcp-Param-Count") != "" || h.Get("Mcp-Param-Region") != "" {
		t.Errorf("headers for absent or null arguments: %v", h)
	}
}

func isCode(resp *jsonrpc.Response, code int64) bool {
	werr, ok := resp.Error.(*jsonrpc.Error)
	return ok && werr.Code == code
}

// TestServeConnModernOnly: with no Dialer, ServeConn serves modern requests
// and refuses initialize with -32022, so a legacy-only client fails at
// once with a clear error instead of hanging; a late notifications/cancelled
// (for a request already answered) is ignored.
func TestServeConnModernOnly(t *testing.T) {
	up := startUpstream(t)
	back := &remote.Streamable{URL: up.URL}
	ct, st := mcp.NewInMemoryTransports()
	front, err := st.Connect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- bridge.ServeConn(t.Context(), front, back, nil, nil) }()
	conn, err := ct.Connect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	call := func(id float64, method string, params string) *jsonrpc.Response {
		t.Helper()
		rid, _ := jsonrpc.MakeID(id)
		if err := conn.Write(t.Context(), &jsonrpc.Request{ID: rid, Method: method, Params: json.RawMessage(params)}); err != nil {
			t.Fatal(err)
		}
		m, err := conn.Read(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		resp, ok := m.(*jsonrpc.Response)
		if !ok || resp.ID != rid {
			t.Fatalf("got %#v, want the response to %v", m, id)
		}
		return resp
	}
	resp := call(1, "initialize", `{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}`)
	if !isCode(resp, rpcmsg.CodeUnsupportedProtocolVersion) {
		t.Fatalf("initialize: %v, want -32022", resp.Error)
	}
	// A late cancellation, then a modern request: only the request is
	// answered.
	conn.Write(t.Context(), &jsonrpc.Request{Method: "notifications/cancelled", Params: json.RawMessage(`{"requestId":1}`)})
	resp = call(2, "tools/list", `{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}`)
	if resp.Error != nil || !strings.Contains(string(resp.Result), `"echo"`) {
		t.Fatalf("tools/list: %s %v", resp.Result, resp.Error)
	}
	conn.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeConn returned %v after the client closed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ServeConn did not return after the client closed")
	}
}
