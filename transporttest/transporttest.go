// SPDX-License-Identifier: Apache-2.0

// Package transporttest is a conformance suite for MCP transports that carry
// sessions between a client [mcp.Transport] and a server [bridge.Listener].
// A transport is done when [Run] passes against it.
package transporttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// LargeMessageBytes is the payload size of the large-message check: close
// to the smallest limit of the transports under test (SNS, 256 KiB), leaving
// room for the JSON-RPC framing and message attributes.
const LargeMessageBytes = 240 * 1024

// Sessions is how many sessions the concurrency check runs at once.
const Sessions = 8

// Notifications is how many notifications the ordering check sends.
const Notifications = 100

// hangGuard bounds each check so a broken transport fails instead of
// hanging; it is not a performance assertion.
const hangGuard = 90 * time.Second

// ProtocolVersion is the MCP version the suite's clients ask for.
const ProtocolVersion = "2025-11-25"

// Run runs the suite. newPair is called once per check and returns a client
// transport and a server listener connected to each other, with fresh state
// (registering its own cleanup with t). The client transport's Connect may
// be called several times; each call must open a new, independent session
// that the listener accepts separately.
func Run(t *testing.T, newPair func(t *testing.T) (client mcp.Transport, server bridge.Listener)) {
	t.Run("ToolsCallRoundTrip", func(t *testing.T) { testRoundTrip(t, newPair) })
	t.Run("NotificationOrder", func(t *testing.T) { testOrder(t, newPair) })
	t.Run("ConcurrentSessions", func(t *testing.T) { testConcurrent(t, newPair) })
	t.Run("LargeMessage", func(t *testing.T) { testLarge(t, newPair) })
	t.Run("ClientCloseEndsServerSession", func(t *testing.T) { testClientClose(t, newPair) })
	t.Run("ReadUnblocksOnClose", func(t *testing.T) { testReadUnblocks(t, newPair) })
	t.Run("RawForwarding", func(t *testing.T) { testRaw(t, newPair) })
}

type echoIn struct {
	Text string `json:"text"`
}

// NewServer returns the MCP server the suite serves: tool "echo" returns
// its text argument, tool "progress" sends n progress notifications first.
func NewServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "transporttest", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "returns text"}, func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
	})
	type progIn struct {
		N int `json:"n"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "progress", Description: "sends n progress notifications"}, func(ctx context.Context, req *mcp.CallToolRequest, in progIn) (*mcp.CallToolResult, any, error) {
		tok := req.Params.GetProgressToken()
		for i := 1; i <= in.N && tok != nil; i++ {
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: float64(i), Total: float64(in.N)}); err != nil {
				return nil, nil, err
			}
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
	})
	return s
}

// ServeMCP serves server on every session l accepts until the test ends,
// then closes the listener and the sessions.
func ServeMCP(t testing.TB, l bridge.Listener, server *mcp.Server) {
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu       sync.Mutex
		sessions []*mcp.ServerSession
		wg       sync.WaitGroup
	)
	wg.Go(func() {
		for {
			ss, err := server.Connect(ctx, bridge.ListenerTransport{L: l}, nil)
			if err != nil {
				if ctx.Err() == nil && !strings.Contains(err.Error(), "closed") {
					t.Logf("transporttest: accepting session: %v", err)
				}
				return
			}
			mu.Lock()
			sessions = append(sessions, ss)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		l.Close()
		cancel()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, ss := range sessions {
			ss.Close()
		}
	})
}

func connectClient(t testing.TB, ctx context.Context, tr mcp.Transport, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "transporttest-client", Version: "1"}, opts)
	cs, err := c.Connect(ctx, tr, &mcp.ClientSessionOptions{ProtocolVersion: ProtocolVersion})
	if err != nil {
		t.Fatalf("connecting MCP client: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func callEcho(ctx context.Context, cs *mcp.ClientSession, text string) (string, error) {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": text}})
	if err != nil {
		return "", err
	}
	if res.IsError || len(res.Content) != 1 {
		return "", fmt.Errorf("echo returned error or %d contents: %+v", len(res.Content), res)
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		return "", fmt.Errorf("echo returned %T, want text", res.Content[0])
	}
	return tc.Text, nil
}

func testRoundTrip(t *testing.T, newPair func(t *testing.T) (mcp.Transport, bridge.Listener)) {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	tr, l := newPair(t)
	ServeMCP(t, l, NewServer())
	cs := connectClient(t, ctx, tr, nil)
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	if len(tools.Tools) != 2 {
		t.Errorf("tools/list returned %d tools, want 2", len(tools.Tools))
	}
	got, err := callEcho(ctx, cs, "hello queue")
	if err != nil {
		t.Fatalf("tools/call echo: %v", err)
	}
	if got != "hello queue" {
		t.Errorf("echo = %q, want %q", got, "hello queue")
	}
}

// rawServer answers raw messages on every session l accepts: initialize
// gets a minimal result, "burst" gets params.n notifications
// "test/seq" {"i":k} before its result, any other request gets
// {"method":M,"params":P} echoed. Every message read is passed to seen.
func rawServer(t testing.TB, l bridge.Listener, seen func(mcp.Connection, jsonrpc.Message)) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []mcp.Connection
	wg.Go(func() {
		for {
			conn, err := l.Accept(ctx)
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Go(func() {
				defer conn.Close()
				for {
					msg, err := conn.Read(ctx)
					if err != nil {
						return
					}
					if seen != nil {
						seen(conn, msg)
					}
					req, ok := msg.(*jsonrpc.Request)
					if !ok || !req.IsCall() {
						continue
					}
					var result any
					switch req.Method {
					case "initialize":
						result = map[string]any{"protocolVersion": ProtocolVersion, "capabilities": map[string]any{}, "serverInfo": map[string]any{"name": "raw", "version": "1"}}
					case "burst":
						var p struct{ N int }
						json.Unmarshal(req.Params, &p)
						for i := range p.N {
							params, _ := json.Marshal(map[string]int{"i": i})
							if err := conn.Write(ctx, &jsonrpc.Request{Method: "test/seq", Params: params}); err != nil {
								t.Errorf("raw server: writing notification %d: %v", i, err)
								return
							}
						}
						result = map[string]any{"sent": p.N}
					default:
						result = map[string]any{"method": req.Method, "params": req.Params}
					}
					b, _ := json.Marshal(result)
					if err := conn.Write(ctx, &jsonrpc.Response{ID: req.ID, Result: b}); err != nil {
						t.Errorf("raw server: writing response to %s: %v", req.Method, err)
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		cancel()
		wg.Wait()
	})
}

// rawInit opens a session on tr and initializes it with raw messages.
func rawInit(t testing.TB, ctx context.Context, tr mcp.Transport, initParams string) mcp.Connection {
	t.Helper()
	conn, err := tr.Connect(ctx)
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	if initParams == "" {
		initParams = `{"protocolVersion":"` + ProtocolVersion + `","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}`
	}
	id, _ := jsonrpc.MakeID("init-1")
	if err := conn.Write(ctx, &jsonrpc.Request{ID: id, Method: "initialize", Params: json.RawMessage(initParams)}); err != nil {
		t.Fatalf("writing initialize: %v", err)
	}
	resp := readResponse(t, ctx, conn, id)
	if resp.Error != nil {
		t.Fatalf("initialize failed: %v", resp.Error)
	}
	if err := conn.Write(ctx, &jsonrpc.Request{Method: "notifications/initialized", Params: json.RawMessage(`{}`)}); err != nil {
		t.Fatalf("writing notifications/initialized: %v", err)
	}
	return conn
}

func readResponse(t testing.TB, ctx context.Context, conn mcp.Connection, id jsonrpc.ID) *jsonrpc.Response {
	t.Helper()
	for {
		msg, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("reading response to %v: %v", id.Raw(), err)
		}
		if r, ok := msg.(*jsonrpc.Response); ok && r.ID == id {
			return r
		}
		t.Logf("skipping message while waiting for response %v: %T", id.Raw(), msg)
	}
}

func testOrder(t *testing.T, newPair func(t *testing.T) (mcp.Transport, bridge.Listener)) {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	tr, l := newPair(t)
	rawServer(t, l, nil)
	conn := rawInit(t, ctx, tr, "")
	id, _ := jsonrpc.MakeID(float64(2))
	if err := conn.Write(ctx, &jsonrpc.Request{ID: id, Method: "burst", Params: json.RawMessage(fmt.Sprintf(`{"n":%d}`, Notifications))}); err != nil {
		t.Fatalf("writing burst: %v", err)
	}
	next := 0
	for {
		msg, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("reading after %d notifications: %v", next, err)
		}
		switch m := msg.(type) {
		case *jsonrpc.Request:
			var p struct{ I int }
			json.Unmarshal(m.Params, &p)
			if m.Method != "test/seq" || p.I != next {
				t.Fatalf("got %s %s, want test/seq {\"i\":%d}", m.Method, m.Params, next)
			}
			next++
		case *jsonrpc.Response:
			if next != Notifications {
				t.Fatalf("response arrived after %d of %d notifications", next, Notifications)
			}
			return
		}
	}
}

func testConcurrent(t *testing.T, newPair func(t *testing.T) (mcp.Transport, bridge.Listener)) {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	tr, l := newPair(t)
	ServeMCP(t, l, NewServer())
	const calls = 5
	var wg sync.WaitGroup
	errs := make(chan error, Sessions*calls)
	sessions := make([]*mcp.ClientSession, Sessions)
	for i := range Sessions {
		sessions[i] = connectClient(t, ctx, tr, nil)
	}
	ids := map[string]bool{}
	for _, cs := range sessions {
		if ids[cs.ID()] {
			t.Errorf("two sessions share id %q", cs.ID())
		}
		ids[cs.ID()] = true
	}
	for i, cs := range sessions {
		wg.Go(func() {
			for k := range calls {
				want := fmt.Sprintf("session %d call %d", i, k)
				got, err := callEcho(ctx, cs, want)
				if err != nil {
					errs <- fmt.Errorf("session %d call %d: %w", i, k, err)
					return
				}
				if got != want {
					errs <- fmt.Errorf("cross-talk: session %d call %d got %q", i, k, got)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testLarge(t *testing.T, newPair func(t *testing.T) (mcp.Transport, bridge.Listener)) {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	tr, l := newPair(t)
	ServeMCP(t, l, NewServer())
	cs := connectClient(t, ctx, tr, nil)
	big := strings.Repeat("abcdefghijklmnopqrstuvwxyz012345", LargeMessageBytes/32)
	got, err := callEcho(ctx, cs, big)
	if err != nil {
		t.Fatalf("echo of %d bytes: %v", len(big), err)
	}
	if got != big {
		t.Errorf("echo of %d bytes returned %d bytes, different", len(big), len(got))
	}
}

func testClientClose(t *testing.T, newPair func(t *testing.T) (mcp.Transport, bridge.Listener)) {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	tr, l := newPair(t)
	t.Cleanup(func() { l.Close() })
	accepted := make(chan mcp.Connection, 1)
	go func() {
		c, err := l.Accept(ctx)
		if err == nil {
			accepted <- c
		}
	}()
	client, err := tr.Connect(ctx)
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	id, _ := jsonrpc.MakeID(float64(1))
	if err := client.Write(ctx, &jsonrpc.Request{ID: id, Method: "initialize", Params: json.RawMessage(`{"protocolVersion":"` + ProtocolVersion + `","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}`)}); err != nil {
		t.Fatalf("writing initialize: %v", err)
	}
	var server mcp.Connection
	select {
	case server = <-accepted:
	case <-ctx.Done():
		t.Fatal("server never accepted the session")
	}
	defer server.Close()
	msg, err := server.Read(ctx)
	if err != nil {
		t.Fatalf("server reading initialize: %v", err)
	}
	if r, ok := msg.(*jsonrpc.Request); !ok || r.Method != "initialize" {
		t.Fatalf("server read %+v, want initialize", msg)
	}
	b, _ := json.Marshal(map[string]any{"protocolVersion": ProtocolVersion, "capabilities": map[string]any{}, "serverInfo": map[string]any{"name": "raw", "version": "1"}})
	if err := server.Write(ctx, &jsonrpc.Response{ID: id, Result: b}); err != nil {
		t.Fatalf("server writing initialize result: %v", err)
	}
	readResponse(t, ctx, client, id)
	if err := client.Close(); err != nil {
		t.Fatalf("closing client: %v", err)
	}
	if _, err := client.Read(ctx); err == nil {
		t.Error("client Read after Close returned no error")
	}
	for {
		msg, err := server.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("server Read did not end after the client closed: %v", err)
			}
			return // ended: io.EOF or another error
		}
		t.Logf("server read %T after client close", msg)
	}
}

func testReadUnblocks(t *testing.T, newPair func(t *testing.T) (mcp.Transport, bridge.Listener)) {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	tr, l := newPair(t)
	var (
		mu     sync.Mutex
		server mcp.Connection
		got    = make(chan struct{})
	)
	rawServer(t, l, func(c mcp.Connection, m jsonrpc.Message) {
		mu.Lock()
		defer mu.Unlock()
		if server == nil {
			server = c
			close(got)
		}
	})
	conn := rawInit(t, ctx, tr, "")
	readErr := make(chan error, 1)
	go func() {
		_, err := conn.Read(ctx)
		readErr <- err
	}()
	conn.Close()
	select {
	case err := <-readErr:
		if err == nil {
			t.Error("client Read returned a message after Close, want an error")
		}
	case <-ctx.Done():
		t.Fatal("client Read did not unblock on Close")
	}
	if err := conn.Write(ctx, &jsonrpc.Request{Method: "notifications/x"}); err == nil {
		t.Error("client Write after Close succeeded, want an error")
	}

	// The server side: a fresh session whose server conn is closed by the
	// server unblocks its own pending Read.
	<-got
	tr2, l2 := newPair(t)
	accepted := make(chan mcp.Connection, 1)
	go func() {
		if c, err := l2.Accept(ctx); err == nil {
			accepted <- c
		}
	}()
	t.Cleanup(func() { l2.Close() })
	c2, err := tr2.Connect(ctx)
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	defer c2.Close()
	id, _ := jsonrpc.MakeID(float64(1))
	c2.Write(ctx, &jsonrpc.Request{ID: id, Method: "initialize", Params: json.RawMessage(`{"protocolVersion":"` + ProtocolVersion + `","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}`)})
	var s2 mcp.Connection
	select {
	case s2 = <-accepted:
	case <-ctx.Done():
		t.Fatal("server never accepted the session")
	}
	if _, err := s2.Read(ctx); err != nil {
		t.Fatalf("server reading initialize: %v", err)
	}
	sErr := make(chan error, 1)
	go func() {
		_, err := s2.Read(ctx)
		sErr <- err
	}()
	s2.Close()
	select {
	case err := <-sErr:
		if err == nil {
			t.Error("server Read returned a message after Close, want an error")
		}
	case <-ctx.Done():
		t.Fatal("server Read did not unblock on Close")
	}
}

func testRaw(t *testing.T, newPair func(t *testing.T) (mcp.Transport, bridge.Listener)) {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	tr, l := newPair(t)
	var mu sync.Mutex
	var serverSaw []*jsonrpc.Request
	rawServer(t, l, func(_ mcp.Connection, m jsonrpc.Message) {
		if r, ok := m.(*jsonrpc.Request); ok {
			mu.Lock()
			serverSaw = append(serverSaw, r)
			mu.Unlock()
		}
	})
	initParams := `{"protocolVersion":"` + ProtocolVersion + `","capabilities":{"tasks":{"list":{},"requests":{"sampling":{"createMessage":{}}}},"x-future":[1,2]},"clientInfo":{"name":"raw","version":"1"},"_meta":{"com.example/trace":"abc"}}`
	conn := rawInit(t, ctx, tr, initParams)

	cases := []struct{ method, params string }{
		{"tasks/get", `{"taskId":"t-123","_meta":{"io.modelcontextprotocol/related-task":{"taskId":"t-123"},"com.example/k":{"n":1}}}`},
		{"tools/call", `{"name":"slow","arguments":{"a":1},"task":{"ttl":60000},"_meta":{"progressToken":"p1","custom":true}}`},
		{"x-vendor/custom", `{"unknown":{"nested":[null,true,1.5,"s"]}}`},
	}
	for i, c := range cases {
		id, _ := jsonrpc.MakeID(fmt.Sprintf("raw-%d", i))
		if err := conn.Write(ctx, &jsonrpc.Request{ID: id, Method: c.method, Params: json.RawMessage(c.params)}); err != nil {
			t.Fatalf("writing %s: %v", c.method, err)
		}
		resp := readResponse(t, ctx, conn, id)
		if resp.Error != nil {
			t.Fatalf("%s failed: %v", c.method, resp.Error)
		}
		var got struct {
			Method string
			Params json.RawMessage
		}
		if err := json.Unmarshal(resp.Result, &got); err != nil {
			t.Fatalf("%s result %s: %v", c.method, resp.Result, err)
		}
		if got.Method != c.method || !jsonEqual(got.Params, []byte(c.params)) {
			t.Errorf("server saw %s %s, want %s %s", got.Method, got.Params, c.method, c.params)
		}
	}
	// initialize: everything the client sent is still there (a transport may
	// add its own keys to _meta).
	mu.Lock()
	defer mu.Unlock()
	if len(serverSaw) == 0 || serverSaw[0].Method != "initialize" {
		t.Fatalf("server did not see initialize first: %v", serverSaw)
	}
	var sent, saw map[string]any
	json.Unmarshal([]byte(initParams), &sent)
	json.Unmarshal(serverSaw[0].Params, &saw)
	for k, v := range sent {
		if k == "_meta" {
			sm, _ := saw["_meta"].(map[string]any)
			for mk, mv := range v.(map[string]any) {
				if !jsonEqualAny(sm[mk], mv) {
					t.Errorf("initialize _meta.%s = %v, want %v", mk, sm[mk], mv)
				}
			}
			continue
		}
		if !jsonEqualAny(saw[k], v) {
			t.Errorf("initialize params.%s = %v, want %v", k, saw[k], v)
		}
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return jsonEqualAny(x, y)
}

func jsonEqualAny(x, y any) bool {
	a, err1 := json.Marshal(x)
	b, err2 := json.Marshal(y)
	return err1 == nil && err2 == nil && bytes.Equal(a, b)
}
