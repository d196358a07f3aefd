// SPDX-License-Identifier: Apache-2.0

package httpfront_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/httpfront"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/stdio"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// startFront serves the echo example server behind an httpfront.Server on a
// loopback port; everything stops when the test ends.
func startFront(t *testing.T, opts httpfront.Options) (base string, cmd *stdio.Command) {
	t.Helper()
	echo := testenv.EchoServer(t)
	srv := httptest.NewUnstartedServer(nil)
	front := httpfront.New(srv.Listener.Addr().String(), opts)
	cmd = &stdio.Command{Path: echo, TerminateTimeout: 2 * time.Second}
	front.Handle("", cmd, func() (bool, any) { st := cmd.Status(); return !st.Crashing, st })
	front.Handle("second", &stdio.Command{Path: echo, TerminateTimeout: 2 * time.Second}, nil)
	srv.Config.Handler = front
	srv.Start()
	t.Cleanup(func() {
		front.Close()
		srv.Close()
		if n := cmd.Status().Alive; n != 0 {
			t.Errorf("%d child processes still alive after Close", n)
		}
	})
	return srv.URL, cmd
}

func connect(t *testing.T, url string) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: url, DisableStandaloneSSE: true}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func callText(ctx context.Context, cs *mcp.ClientSession, name string, args map[string]any) (string, error) {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		return "", err
	}
	if res.IsError || len(res.Content) == 0 {
		return "", fmt.Errorf("tool %s failed: %+v", name, res)
	}
	return res.Content[0].(*mcp.TextContent).Text, nil
}

func TestEchoRoundTrip(t *testing.T) {
	base, _ := startFront(t, httpfront.Options{})
	for _, path := range []string{"/mcp", "/mcp/", "/servers/second/mcp"} {
		cs := connect(t, base+path)
		got, err := callText(t.Context(), cs, "echo", map[string]any{"text": "hi " + path})
		if err != nil || got != "hi "+path {
			t.Errorf("%s: echo = %q, %v", path, got, err)
		}
	}
}

func TestLegacySSE(t *testing.T) {
	base, _ := startFront(t, httpfront.Options{})
	for _, path := range []string{"/sse", "/servers/second/sse"} {
		c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
		cs, err := c.Connect(t.Context(), &mcp.SSEClientTransport{Endpoint: base + path}, &mcp.ClientSessionOptions{ProtocolVersion: "2024-11-05"})
		if err != nil {
			t.Fatalf("connect %s: %v", path, err)
		}
		got, err := callText(t.Context(), cs, "echo", map[string]any{"text": "legacy"})
		if err != nil || got != "legacy" {
			t.Errorf("%s: echo = %q, %v", path, got, err)
		}
		cs.Close()
	}
}

// TestManySessions runs 50 sessions at once; each must see only its own
// answers, and each must have a child process of its own.
func TestManySessions(t *testing.T) {
	base, cmd := startFront(t, httpfront.Options{})
	const n = 50
	var wg sync.WaitGroup
	pids := make(chan string, n)
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs := connect(t, base+"/mcp")
			for j := range 5 {
				want := fmt.Sprintf("session %d call %d", i, j)
				got, err := callText(t.Context(), cs, "echo", map[string]any{"text": want})
				if err != nil || got != want {
					errs <- fmt.Errorf("session %d: got %q, %v; want %q", i, got, err, want)
					return
				}
			}
			pid, err := callText(t.Context(), cs, "whoami", nil)
			if err != nil {
				errs <- err
				return
			}
			pids <- pid
		}()
	}
	wg.Wait()
	close(errs)
	close(pids)
	for err := range errs {
		t.Error(err)
	}
	seen := map[string]bool{}
	for p := range pids {
		if seen[p] {
			t.Errorf("two sessions shared child %s", p)
		}
		seen[p] = true
	}
	if st := cmd.Status(); st.Started < n {
		t.Errorf("children started = %d, want at least %d", st.Started, n)
	}
}

// TestChildDeath: when the server process dies mid-call, every request in
// flight gets an error at once, /status shows the exit, and a new session
// gets a fresh child.
func TestChildDeath(t *testing.T) {
	base, _ := startFront(t, httpfront.Options{})
	cs := connect(t, base+"/mcp")
	slowErr := make(chan error, 1)
	go func() {
		_, err := callText(t.Context(), cs, "slow", map[string]any{"seconds": 60})
		slowErr <- err
	}()
	time.Sleep(200 * time.Millisecond) // let the slow call reach the child
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := callText(ctx, cs, "crash", nil); err == nil || ctx.Err() != nil {
		t.Fatalf("crash call: err = %v, ctx = %v; want a prompt JSON-RPC error", err, ctx.Err())
	}
	select {
	case err := <-slowErr:
		if err == nil || !strings.Contains(err.Error(), "unavailable") {
			t.Errorf("in-flight slow call: err = %v, want server-unavailable error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("in-flight slow call still waiting after the child died")
	}
	resp, err := http.Get(base + "/status")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "exit status 3") {
		t.Errorf("/status does not report the exit: %s", body)
	}
	cs2 := connect(t, base+"/mcp")
	if got, err := callText(t.Context(), cs2, "echo", map[string]any{"text": "again"}); err != nil || got != "again" {
		t.Errorf("new session after crash: %q, %v", got, err)
	}
}

// TestStatusShowsCrashLoop: a server that keeps dying as it starts makes
// /status say so.
func TestStatusShowsCrashLoop(t *testing.T) {
	script := filepath.Join(t.TempDir(), "dies-at-once")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	front := httpfront.New(srv.Listener.Addr().String(), httpfront.Options{})
	cmd := &stdio.Command{Path: script}
	front.Handle("", cmd, func() (bool, any) { st := cmd.Status(); return !st.Crashing, st })
	srv.Config.Handler = front
	srv.Start()
	t.Cleanup(func() { front.Close(); srv.Close() })
	base := srv.URL
	// A child that dies while its session is being closed counts as
	// stopped, not crashed, so keep starting sessions until three quick
	// deaths in a row have been seen.
	deadline := time.Now().Add(10 * time.Second)
	for {
		post(t, base+"/mcp", initBody).Body.Close()
		resp, err := http.Get(base + "/status")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), `"crashing":true`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/status after repeated crashes: %d %s", resp.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// post sends one JSON-RPC body with the usual headers plus extra ones.
func post(t *testing.T, url, body string, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

// initSession opens a session with raw HTTP and returns its id.
func initSession(t *testing.T, url string, hdr ...string) string {
	t.Helper()
	resp := post(t, url, initBody, hdr...)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("initialize: %s %s", resp.Status, b)
	}
	readEvents(t, resp.Body, 1)
	sid := resp.Header.Get("Mcp-Session-Id")
	r2 := post(t, url, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, append(hdr, "Mcp-Session-Id", sid)...)
	r2.Body.Close()
	if r2.StatusCode != http.StatusAccepted {
		t.Fatalf("notifications/initialized: %s", r2.Status)
	}
	return sid
}

type sseEvent struct{ id, data string }

// readEvents reads SSE events until n message events have arrived.
func readEvents(t *testing.T, r io.Reader, n int) []sseEvent {
	t.Helper()
	var out []sseEvent
	br := bufio.NewReader(r)
	var cur sseEvent
	for len(out) < n {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading SSE after %d events: %v", len(out), err)
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if cur.data != "" {
				out = append(out, cur)
			}
			if cur.id != "" && cur.data == "" {
				out = append(out, cur) // priming event
				n++
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			cur.id = line[4:]
		case strings.HasPrefix(line, "data: "):
			cur.data = line[6:]
		}
	}
	return out
}

func TestBadInput(t *testing.T) {
	base, _ := startFront(t, httpfront.Options{AuthToken: "", MaxBodyBytes: 4096})
	url := base + "/mcp"
	sid := initSession(t, url)
	cases := []struct {
		name     string
		body     string
		hdr      []string
		status   int
		wantCode string
	}{
		{"malformed JSON", `{"jsonrpc":"2.0",`, []string{"Mcp-Session-Id", sid}, 400, "-32700"},
		{"batch", `[` + initBody + `]`, []string{"Mcp-Session-Id", sid}, 400, "-32600"},
		{"not JSON-RPC", `{"hello":1}`, []string{"Mcp-Session-Id", sid}, 400, "-32600"},
		{"unknown session", `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`, []string{"Mcp-Session-Id", "nope"}, 404, "-32001"},
		{"no session", `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`, nil, 400, "-32600"},
		{"wrong Accept", `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`, []string{"Mcp-Session-Id", sid, "Accept", "text/html"}, 406, ""},
		{"wrong Content-Type", `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`, []string{"Mcp-Session-Id", sid, "Content-Type", "text/plain"}, 415, ""},
		{"oversized", `{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"x":"` + strings.Repeat("a", 5000) + `"}}`, []string{"Mcp-Session-Id", sid}, 413, ""},
		{"bad protocol version", `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`, []string{"Mcp-Session-Id", sid, "Mcp-Protocol-Version", "1999-01-01"}, 400, ""},
		{"DNS rebinding Host", `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`, []string{"Mcp-Session-Id", sid, "Host", "evil.example.com"}, 403, ""},
		{"foreign Origin", `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`, []string{"Mcp-Session-Id", sid, "Origin", "http://evil.example.com"}, 403, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(c.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			for i := 0; i+1 < len(c.hdr); i += 2 {
				if c.hdr[i] == "Host" {
					req.Host = c.hdr[i+1]
					continue
				}
				req.Header.Set(c.hdr[i], c.hdr[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("status = %d, want %d (body %s)", resp.StatusCode, c.status, body)
			}
			if c.wantCode != "" && !strings.Contains(string(body), c.wantCode) {
				t.Errorf("body %s lacks JSON-RPC code %s", body, c.wantCode)
			}
		})
	}
	// After all that, the session still works.
	resp := post(t, url, `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"text":"still here"}}}`, "Mcp-Session-Id", sid)
	defer resp.Body.Close()
	ev := readEvents(t, resp.Body, 1)
	if !strings.Contains(ev[len(ev)-1].data, "still here") {
		t.Errorf("session broken after bad input: %+v", ev)
	}
}

func TestAuthToken(t *testing.T) {
	base, _ := startFront(t, httpfront.Options{AuthToken: "s3cret"})
	for _, auth := range []string{"", "Bearer wrong", "s3cret"} {
		resp := post(t, base+"/mcp", initBody, "Authorization", auth)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", auth, resp.StatusCode)
		}
	}
	for _, path := range []string{"/sse", "/messages/?session_id=x"} {
		resp, _ := http.Get(base + path)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET %s without token: %d", path, resp.StatusCode)
		}
	}
	initSession(t, base+"/mcp", "Authorization", "Bearer s3cret")
}

func TestCORS(t *testing.T) {
	base, _ := startFront(t, httpfront.Options{AllowOrigins: []string{"https://app.example"}})
	req, _ := http.NewRequest(http.MethodOptions, base+"/mcp", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Errorf("Allow-Origin = %q", got)
	}
	resp = post(t, base+"/mcp", initBody, "Origin", "https://app.example")
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Expose-Headers"); !strings.Contains(got, "Mcp-Session-Id") {
		t.Errorf("Expose-Headers = %q", got)
	}
}

// TestResumeAfterDisconnect: a client that drops the response stream of a
// long call gets the result by resuming with Last-Event-ID.
func TestResumeAfterDisconnect(t *testing.T) {
	base, _ := startFront(t, httpfront.Options{})
	url := base + "/mcp"
	sid := initSession(t, url)
	resp := post(t, url, `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"slow","arguments":{"seconds":1.5},"_meta":{"progressToken":"p1"}}}`, "Mcp-Session-Id", sid, "Mcp-Protocol-Version", "2025-11-25")
	ev := readEvents(t, resp.Body, 1) // priming event, then the first progress notification
	resp.Body.Close()
	last := ev[len(ev)-1].id
	if last == "" {
		t.Fatalf("no event id to resume from: %+v", ev)
	}
	time.Sleep(2 * time.Second) // the call finishes while nobody listens
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("Last-Event-ID", last)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Body.Close()
	var got []string
	br := bufio.NewScanner(r2.Body)
	for br.Scan() {
		if d, ok := strings.CutPrefix(br.Text(), "data: "); ok && d != "" {
			got = append(got, d)
		}
	}
	if len(got) == 0 || !strings.Contains(got[len(got)-1], "done after 1.5s") || !strings.Contains(got[len(got)-1], `"id":5`) {
		t.Errorf("resumed stream: %q", got)
	}
	for _, d := range got {
		var m map[string]any
		if json.Unmarshal([]byte(d), &m) != nil {
			t.Errorf("bad event %q", d)
		}
	}
}

func TestStateless(t *testing.T) {
	base, cmd := startFront(t, httpfront.Options{Stateless: true})
	resp := post(t, base+"/mcp", `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"no session"}}}`, "Mcp-Protocol-Version", "2025-11-25")
	ev := readEvents(t, resp.Body, 1)
	resp.Body.Close()
	if !strings.Contains(ev[len(ev)-1].data, "no session") {
		t.Errorf("stateless call: %+v", ev)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/mcp", nil)
	req.Header.Set("Accept", "text/event-stream")
	r2, _ := http.DefaultClient.Do(req)
	r2.Body.Close()
	if r2.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET in stateless mode: %d, want 405", r2.StatusCode)
	}
	deadline := time.Now().Add(10 * time.Second)
	for cmd.Status().Alive != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := cmd.Status().Alive; n != 0 {
		t.Errorf("%d children still alive after stateless requests finished", n)
	}
}

func TestDeleteEndsSession(t *testing.T) {
	base, cmd := startFront(t, httpfront.Options{})
	sid := initSession(t, base+"/mcp")
	req, _ := http.NewRequest(http.MethodDelete, base+"/mcp", nil)
	req.Header.Set("Mcp-Session-Id", sid)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("DELETE: %d", resp.StatusCode)
	}
	r2 := post(t, base+"/mcp", `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, "Mcp-Session-Id", sid)
	r2.Body.Close()
	if r2.StatusCode != http.StatusNotFound {
		t.Errorf("POST after DELETE: %d, want 404", r2.StatusCode)
	}
	deadline := time.Now().Add(10 * time.Second)
	for cmd.Status().Alive != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := cmd.Status().Alive; n != 0 {
		t.Errorf("child still alive after DELETE")
	}
}

// TestCancelEndsStream: after notifications/cancelled the server sends no
// answer, so the request's stream must end rather than hang.
func TestCancelEndsStream(t *testing.T) {
	base, _ := startFront(t, httpfront.Options{})
	url := base + "/mcp"
	sid := initSession(t, url)
	resp := post(t, url, `{"jsonrpc":"2.0","id":41,"method":"tools/call","params":{"name":"slow","arguments":{"seconds":30}}}`, "Mcp-Session-Id", sid, "Mcp-Protocol-Version", "2025-11-25")
	defer resp.Body.Close()
	time.Sleep(100 * time.Millisecond)
	c := post(t, url, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":41,"reason":"changed my mind"}}`, "Mcp-Session-Id", sid)
	c.Body.Close()
	if c.StatusCode != http.StatusAccepted {
		t.Fatalf("cancel: %s", c.Status)
	}
	done := make(chan error, 1)
	go func() { _, err := io.ReadAll(resp.Body); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("stream ended with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("stream of a cancelled request still open after 20s")
	}
	// The session still works.
	r2 := post(t, url, `{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"echo","arguments":{"text":"after cancel"}}}`, "Mcp-Session-Id", sid)
	defer r2.Body.Close()
	if ev := readEvents(t, r2.Body, 1); !strings.Contains(ev[len(ev)-1].data, "after cancel") {
		t.Errorf("after cancel: %+v", ev)
	}
}
