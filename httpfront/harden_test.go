// SPDX-License-Identifier: Apache-2.0

package httpfront_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/httpfront"
	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/remote"
	"github.com/asyncmcp/asyncmcp-go/stdio"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// startFrontAt is startFront with a listen address of the caller's choice
// (it decides the DNS-rebinding rules) and the Server returned.
func startFrontAt(t *testing.T, listenAddr string, opts httpfront.Options) (string, *httpfront.Server, *stdio.Command) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	if listenAddr == "" {
		listenAddr = srv.Listener.Addr().String()
	}
	front := httpfront.New(listenAddr, opts)
	cmd := &stdio.Command{Path: testenv.EchoServer(t), TerminateTimeout: 2 * time.Second}
	front.Handle("", cmd, func() (bool, any) { st := cmd.Status(); return !st.Crashing, st })
	srv.Config.Handler = front
	srv.Start()
	t.Cleanup(func() {
		front.Close()
		srv.Close()
		if n := cmd.Status().Alive; n != 0 {
			t.Errorf("%d child processes still alive after Close", n)
		}
	})
	return srv.URL, front, cmd
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return string(b)
}

// TestDoorRefusesMalformed: messages that would reach the child changed
// (an empty method kills the echo server; ids the SDK cannot hold are
// rounded; "ID" would be taken for "id") are refused with 400 and -32600,
// the id echoed as sent, and never forwarded: the child is not restarted
// and the session keeps working.
func TestDoorRefusesMalformed(t *testing.T) {
	base, _, cmd := startFrontAt(t, "", httpfront.Options{})
	url := base + "/mcp"
	sid := initSession(t, url)
	for _, c := range []struct{ body, id string }{
		{`{"jsonrpc":"2.0","method":""}`, `"id":null`},
		{`{"jsonrpc":"2.0","id":5,"method":""}`, `"id":5`},
		{`{"jsonrpc":"2.0","id":1.5,"method":"tools/list"}`, `"id":1.5`},
		{`{"jsonrpc":"2.0","id":9007199254740993,"method":"tools/list"}`, `"id":9007199254740993`},
		{`{"jsonrpc":"2.0","id":1e20,"method":"tools/list"}`, `"id":1e20`},
		{`{"jsonrpc":"2.0","id":null,"method":"tools/list"}`, `"id":null`},
		{`{"jsonrpc":"2.0","ID":8,"method":"tools/list"}`, `"id":null`},
		{`{"jsonrpc":"2.0","id":8,"Method":"tools/list","method":"x"}`, `"id":8`},
		{`{"jsonrpc":"2.0","id":8,"method":"tools/list","params":"x"}`, `"id":8`},
	} {
		resp := post(t, url, c.body, "Mcp-Session-Id", sid)
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "-32600") || !strings.Contains(body, c.id) {
			t.Errorf("POST %s: %d %s; want 400 with -32600 and %s", c.body, resp.StatusCode, body, c.id)
		}
	}
	resp := post(t, url, `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"text":"alive"}}}`, "Mcp-Session-Id", sid)
	defer resp.Body.Close()
	if ev := readEvents(t, resp.Body, 1); !strings.Contains(ev[len(ev)-1].data, "alive") {
		t.Errorf("session broken after refused messages: %+v", ev)
	}
	if st := cmd.Status(); st.Started != 1 || st.LastExit != "" {
		t.Errorf("child status %+v: a refused message reached it", st)
	}
}

// TestBearerSchemeCaseInsensitive: "bearer", "BEARER" and "Bearer" are the
// same scheme.
func TestBearerSchemeCaseInsensitive(t *testing.T) {
	base, _, _ := startFrontAt(t, "", httpfront.Options{AuthToken: "s3cret"})
	for _, auth := range []string{"bearer s3cret", "BEARER s3cret", "Bearer  s3cret"} {
		initSession(t, base+"/mcp", "Authorization", auth)
	}
	for _, auth := range []string{"bearer wrong", "Basic s3cret", "bearers3cret"} {
		resp := post(t, base+"/mcp", initBody, "Authorization", auth)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %d, want 401", auth, resp.StatusCode)
		}
	}
}

// TestAllowedHostNonLoopback: on a listener that is not loopback,
// AllowedHosts, when given, are the only Hosts accepted.
func TestAllowedHostNonLoopback(t *testing.T) {
	base, _, _ := startFrontAt(t, "192.0.2.10:8080", httpfront.Options{AllowedHosts: []string{"mcp.example.com"}})
	for host, want := range map[string]int{
		"mcp.example.com":      http.StatusOK,
		"mcp.example.com:8080": http.StatusOK,
		"MCP.example.com":      http.StatusOK,
		"evil.example.com":     http.StatusForbidden,
		"127.0.0.1":            http.StatusForbidden,
	} {
		req, _ := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(initBody))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, want)
		}
	}
	// Without AllowedHosts a non-loopback listener takes any Host.
	base2, _, _ := startFrontAt(t, "192.0.2.10:8080", httpfront.Options{})
	req, _ := http.NewRequest(http.MethodGet, base2+"/status", nil)
	req.Host = "anything.example"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("Host check without AllowedHosts on a public listener: %d", resp.StatusCode)
	}
}

// TestNoAbsolutePathsInAnswers: neither a 503 for an initialize whose
// server cannot start nor the /status detail shows where the command lives.
func TestNoAbsolutePathsInAnswers(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	front := httpfront.New(srv.Listener.Addr().String(), httpfront.Options{})
	missing := &stdio.Command{Path: "/nonexistent/secret-dir/mcp-server"}
	front.Handle("", missing, func() (bool, any) {
		return false, map[string]any{"last_exit": "fork/exec /nonexistent/secret-dir/mcp-server: no such file or directory", "url": "http://host:1/a/b"}
	})
	srv.Config.Handler = front
	srv.Start()
	t.Cleanup(func() { front.Close(); srv.Close() })

	resp := post(t, srv.URL+"/mcp", initBody)
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(body, "secret-dir") || !strings.Contains(body, "mcp-server") {
		t.Errorf("initialize with a missing command: %d %s; want 503 naming mcp-server without its directory", resp.StatusCode, body)
	}
	st, err := http.Get(srv.URL + "/status")
	if err != nil {
		t.Fatal(err)
	}
	body = readAll(t, st)
	if st.StatusCode != http.StatusServiceUnavailable || strings.Contains(body, "secret-dir") || !strings.Contains(body, "http://host:1/a/b") {
		t.Errorf("/status: %d %s; want 503 without the command's directory (URLs kept)", st.StatusCode, body)
	}
}

// TestMaxSessionsIsAtomic: concurrent initializes cannot overshoot the
// session limit.
func TestMaxSessionsIsAtomic(t *testing.T) {
	base, _, _ := startFrontAt(t, "", httpfront.Options{MaxSessions: 2})
	const n = 10
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := post(t, base+"/mcp", initBody)
			codes <- resp.StatusCode
			resp.Body.Close()
		}()
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[http.StatusOK] != 2 || count[http.StatusServiceUnavailable] != n-2 {
		t.Errorf("%d concurrent initializes with --max-sessions 2: %v", n, count)
	}
}

// TestStatelessMaxSessions: in stateless mode MaxSessions bounds the
// requests (each with its own child) running at once.
func TestStatelessMaxSessions(t *testing.T) {
	base, _, cmd := startFrontAt(t, "", httpfront.Options{Stateless: true, MaxSessions: 2})
	const n = 5
	type result struct {
		code int
		resp *http.Response
	}
	results := make(chan result, n)
	for i := range n {
		go func() {
			resp := post(t, base+"/mcp", fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"slow","arguments":{"seconds":60}}}`, i), "Mcp-Protocol-Version", "2025-11-25")
			results <- result{resp.StatusCode, resp}
		}()
	}
	count := map[int]int{}
	for range n {
		r := <-results
		count[r.code]++
		// Admitted requests hold their slot until their stream closes.
		t.Cleanup(func() { r.resp.Body.Close() })
	}
	if count[http.StatusOK] != 2 || count[http.StatusServiceUnavailable] != n-2 {
		t.Errorf("%d concurrent stateless calls with MaxSessions 2: %v (children started: %d)", n, count, cmd.Status().Started)
	}
}

// echoCall posts an echo of text on a session and reads its answer.
func echoCall(t *testing.T, url, sid string, id int, text string) {
	t.Helper()
	resp := post(t, url, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":%q}}}`, id, text), "Mcp-Session-Id", sid)
	defer resp.Body.Close()
	if ev := readEvents(t, resp.Body, 1); !strings.Contains(ev[len(ev)-1].data, text[:10]) {
		t.Fatalf("echo %d: %+v", id, ev)
	}
}

// TestEventStoreBoundedInBytes: the events kept for resumption are bounded
// in bytes per session and for all sessions together, and expired ones are
// swept on a timer, not only on the same session's next request.
func TestEventStoreBoundedInBytes(t *testing.T) {
	const kib = 1 << 10
	base, front, _ := startFrontAt(t, "", httpfront.Options{EventBytes: 64 * kib, EventBytesTotal: 100 * kib, EventTTL: 200 * time.Millisecond})
	url := base + "/mcp"
	big := strings.Repeat("x", 20*kib)
	sid := initSession(t, url)
	for i := range 10 {
		echoCall(t, url, sid, 10+i, big)
		if got := front.EventBytes(); got > 64*kib+21*kib {
			t.Fatalf("after %d echoes of 20 KiB one session holds %d bytes of events; limit 64 KiB", i+1, got)
		}
	}
	for s := range 4 {
		sid := initSession(t, url)
		for i := range 3 {
			echoCall(t, url, sid, 100*s+i, big)
			// A session trims its own events at once; the others' are
			// trimmed by the sweeper, which the session wakes.
			deadline := time.Now().Add(5 * time.Second)
			for got := front.EventBytes(); got > 100*kib+21*kib; got = front.EventBytes() {
				if time.Now().After(deadline) {
					t.Fatalf("sessions hold %d bytes of events together 5s after a request; total limit 100 KiB", got)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	// No more requests: the timer sweep alone must free the expired events.
	deadline := time.Now().Add(10 * time.Second)
	for front.EventBytes() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes of expired events still held 10s after the last request", front.EventBytes())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCloseAnswersInFlight: when the Server closes, every request still
// waiting for its answer gets a JSON-RPC error on its stream, for session
// and stateless requests alike.
func TestCloseAnswersInFlight(t *testing.T) {
	for _, stateless := range []bool{false, true} {
		t.Run(fmt.Sprint("stateless=", stateless), func(t *testing.T) {
			base, front, _ := startFrontAt(t, "", httpfront.Options{Stateless: stateless})
			url := base + "/mcp"
			hdr := []string{"Mcp-Protocol-Version", "2025-11-25"}
			if !stateless {
				hdr = append(hdr, "Mcp-Session-Id", initSession(t, url))
			}
			resp := post(t, url, `{"jsonrpc":"2.0","id":41,"method":"tools/call","params":{"name":"slow","arguments":{"seconds":60},"_meta":{"progressToken":"p"}}}`, hdr...)
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("slow call: %s", resp.Status)
			}
			br := bufio.NewReader(resp.Body)
			if _, err := br.ReadString('\n'); err != nil { // the call is running
				t.Fatal(err)
			}
			go front.Close()
			var last string
			for {
				line, err := br.ReadString('\n')
				if d, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok && d != "" {
					last = d
				}
				if err != nil {
					break
				}
			}
			var m struct {
				ID    json.RawMessage `json:"id"`
				Error *struct {
					Code    int64  `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if json.Unmarshal([]byte(last), &m) != nil || string(m.ID) != "41" || m.Error == nil || m.Error.Code != httpfront.CodeShuttingDown {
				t.Errorf("last event before the stream closed: %q; want a JSON-RPC error for id 41", last)
			}
		})
	}
}

// TestBodyTimeout: a client that sends headers and then stalls its body
// gets 408 instead of holding the handler forever.
func TestBodyTimeout(t *testing.T) {
	base, _, _ := startFrontAt(t, "", httpfront.Options{BodyTimeout: 300 * time.Millisecond})
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 500\r\n\r\n{\"jsonrpc\":")
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("stalled body: %s, want 408", resp.Status)
	}
}

// TestCrashToolDoesNotLockOut: a client whose calls make its own server
// process exit (the echo server's crash tool) does not trip the crash
// back-off for everyone: other clients still get sessions.
func TestCrashToolDoesNotLockOut(t *testing.T) {
	base, _, cmd := startFrontAt(t, "", httpfront.Options{})
	for range 4 {
		cs := connect(t, base+"/mcp")
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		callText(ctx, cs, "crash", nil)
		cancel()
	}
	if st := cmd.Status(); st.Crashing {
		t.Errorf("after one client's crash calls the server is marked crashing: %+v", st)
	}
	cs := connect(t, base+"/mcp")
	if got, err := callText(t.Context(), cs, "echo", map[string]any{"text": "still served"}); err != nil || got != "still served" {
		t.Errorf("another client after the crashes: %q, %v", got, err)
	}
}

// TestModernLimitAndClose: requests of the stateless revision count against
// MaxSessions, and one still running when the Server closes gets a
// JSON-RPC error rather than a stream that just ends.
func TestModernLimitAndClose(t *testing.T) {
	up := startModernUpstream(t)
	srv := httptest.NewUnstartedServer(nil)
	front := httpfront.New(srv.Listener.Addr().String(), httpfront.Options{MaxSessions: 1})
	front.Handle("", &remote.Streamable{URL: up.URL}, nil)
	srv.Config.Handler = front
	srv.Start()
	t.Cleanup(func() { front.Close(); srv.Close() })
	call := func() *http.Response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/mcp", strings.NewReader(modernBody("tools/call", map[string]any{"name": "block", "arguments": map[string]any{}})))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Protocol-Version", rpcmsg.ModernVersion)
		req.Header.Set("Mcp-Method", "tools/call")
		req.Header.Set("Mcp-Name", "block")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	first := make(chan *http.Response, 1)
	go func() { first <- call() }()
	select {
	case <-up.started:
	case <-time.After(30 * time.Second):
		t.Fatal("the blocking tool never started")
	}
	second := call()
	body := readAll(t, second)
	if second.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "session limit") {
		t.Errorf("second modern request with MaxSessions 1: %d %s", second.StatusCode, body)
	}
	go front.Close()
	var resp *http.Response
	select {
	case resp = <-first:
	case <-time.After(30 * time.Second):
		t.Fatal("no answer to the running request after Close")
	}
	body = readAll(t, resp)
	if !strings.Contains(body, `"id":7`) || !strings.Contains(body, fmt.Sprint(httpfront.CodeShuttingDown)) {
		t.Errorf("running modern request at Close: %d %s; want a JSON-RPC error for id 7", resp.StatusCode, body)
	}
}

// TestCloseAnswersLegacyAndDiverted: at Close, a request of an HTTP+SSE
// session and a request whose answer was to leave by Options.Deliver get
// their JSON-RPC error on the session's stream too.
func TestCloseAnswersLegacyAndDiverted(t *testing.T) {
	lastOf := func(t *testing.T, br *bufio.Reader, id string) string {
		t.Helper()
		for {
			line, err := br.ReadString('\n')
			if d, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok && strings.Contains(d, `"id":`+id) {
				return d
			}
			if err != nil {
				return ""
			}
		}
	}
	t.Run("legacy", func(t *testing.T) {
		base, front, _ := startFrontAt(t, "", httpfront.Options{})
		resp, err := http.Get(base + "/sse")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		var endpoint string
		for endpoint == "" {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if d, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
				endpoint = d
			}
		}
		send := func(body string) {
			r, err := http.Post(base+endpoint, "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
		}
		send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
		if lastOf(t, br, "1") == "" {
			t.Fatal("no initialize answer")
		}
		send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
		send(`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"slow","arguments":{"seconds":60}}}`)
		go front.Close()
		if got := lastOf(t, br, "5"); !strings.Contains(got, fmt.Sprint(httpfront.CodeShuttingDown)) {
			t.Errorf("legacy stream at Close: %q; want a JSON-RPC error for id 5", got)
		}
	})
	t.Run("diverted", func(t *testing.T) {
		base, front, _ := startFrontAt(t, "", httpfront.Options{
			Divert:  func(_ httpfront.SessionInfo, req *jsonrpc.Request) bool { return req.Method == "tools/call" },
			Deliver: func(context.Context, httpfront.SessionInfo, *jsonrpc.Response) error { return nil },
		})
		url := base + "/mcp"
		sid := initSession(t, url)
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Mcp-Session-Id", sid)
		get, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer get.Body.Close()
		r := post(t, url, `{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"slow","arguments":{"seconds":60}}}`, "Mcp-Session-Id", sid)
		r.Body.Close()
		if r.StatusCode != http.StatusAccepted {
			t.Fatalf("diverted call: %s", r.Status)
		}
		go front.Close()
		if got := lastOf(t, bufio.NewReader(get.Body), "6"); !strings.Contains(got, fmt.Sprint(httpfront.CodeShuttingDown)) {
			t.Errorf("standalone stream at Close: %q; want a JSON-RPC error for id 6", got)
		}
	})
}
