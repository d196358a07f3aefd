// SPDX-License-Identifier: Apache-2.0

package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/webhook"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// flakyReceiver wraps a Client's receiver; deliveries for which fail
// returns true are answered 503 without reaching the Client.
type flakyReceiver struct {
	c    *webhook.Client
	fail func(r *http.Request) bool

	mu  sync.Mutex
	ids []string // webhook-id of every delivery attempt, in order
}

func (f *flakyReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.ids = append(f.ids, r.Header.Get(webhook.HeaderWebhookID))
	fail := f.fail
	f.mu.Unlock()
	if fail != nil && fail(r) {
		http.Error(w, "receiver down", http.StatusServiceUnavailable)
		return
	}
	f.c.ServeHTTP(w, r)
}

func (f *flakyReceiver) setFail(fn func(*http.Request) bool) {
	f.mu.Lock()
	f.fail = fn
	f.mu.Unlock()
}

func (f *flakyReceiver) attempts() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ids...)
}

// startFlaky starts a webhook Server (in-process MCP server) and a Client
// whose receiver is wrapped by a flakyReceiver on the test's own mux.
func startFlaky(t *testing.T, server *mcp.Server, sopts *webhook.ServerOptions) (*flakyReceiver, *mcp.ClientSession) {
	t.Helper()
	s, url := startServer(t, sopts)
	serveInProcess(t, s, server)
	f := &flakyReceiver{}
	mux := http.NewServeMux()
	mux.Handle("/hooks/mcp", f)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	f.c = webhook.NewClient(&webhook.ClientOptions{ServerURL: url, WebhookURL: hs.URL + "/hooks/mcp",
		PollInterval: 10 * time.Millisecond, Logger: testLogger(t)})
	t.Cleanup(func() { f.c.Close() })
	return f, connect(t, f.c.Transport(), nil)
}

func TestRetriesThenSuccess(t *testing.T) {
	f, cs := startFlaky(t, echoServer(), &webhook.ServerOptions{AllowLoopback: true, RetryBackoff: time.Millisecond})
	var left atomic.Int32
	left.Store(2)
	f.setFail(func(*http.Request) bool { return left.Add(-1) >= 0 })
	before := len(f.attempts())
	r, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
	if err != nil {
		t.Fatalf("call after two failed deliveries: %v", err)
	}
	if got := text(t, r); got != "hi" {
		t.Errorf("echo = %q, want hi", got)
	}
	ids := f.attempts()[before:]
	if len(ids) != 3 {
		t.Fatalf("got %d delivery attempts %v, want 3 (two failures, one success)", len(ids), ids)
	}
	if ids[0] == "" || ids[0] != ids[1] || ids[1] != ids[2] {
		t.Errorf("retries of one delivery should keep its webhook-id: %v", ids)
	}
}

func TestDeliveryNeverSucceeds(t *testing.T) {
	f, cs := startFlaky(t, echoServer(), &webhook.ServerOptions{AllowLoopback: true, Retries: 2, RetryBackoff: time.Millisecond})
	f.setFail(func(*http.Request) bool { return true })
	before := len(f.attempts())
	_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "lost"}})
	if err == nil || !strings.Contains(err.Error(), "could not deliver") {
		t.Fatalf("call whose response cannot be delivered: err = %v, want a delivery error", err)
	}
	if n := len(f.attempts()) - before; n != 3 {
		t.Errorf("got %d delivery attempts, want 3 (1 + Retries 2)", n)
	}
	// The session survives: once the receiver is back, calls work again.
	f.setFail(nil)
	r, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "back"}})
	if err != nil || text(t, r) != "back" {
		t.Fatalf("call after receiver recovered: %v", err)
	}
}

// TestServerRequestUndeliverable: a sampling request the server cannot
// deliver fails inside the server instead of leaving the tool waiting.
func TestServerRequestUndeliverable(t *testing.T) {
	server := mcp.NewServer(&mcp.Implementation{Name: "s", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "ask"}, func(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		_, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 5,
			Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "q"}}}})
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("sampling error: %v", err)}}}, nil, nil
	})
	f, cs := startFlaky(t, server, &webhook.ServerOptions{AllowLoopback: true, Retries: 1, RetryBackoff: time.Millisecond})
	f.setFail(func(r *http.Request) bool { return r.Header.Get(webhook.HeaderMethod) == "sampling/createMessage" })
	r, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "ask"})
	if err != nil {
		t.Fatal(err)
	}
	if got := text(t, r); !strings.Contains(got, "webhook delivery of sampling/createMessage request to the client failed") {
		t.Errorf("tool saw %q, want the delivery failure", got)
	}
}

// postDelivery POSTs a signed (if secret != "") delivery to a receiver.
func postDelivery(t *testing.T, url, sid, secret, id string, ts int64, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.HeaderSessionID, sid)
	if secret != "" {
		sig, err := webhook.Sign(secret, id, ts, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(webhook.HeaderWebhookID, id)
		req.Header.Set(webhook.HeaderWebhookTimestamp, strconv.FormatInt(ts, 10))
		req.Header.Set(webhook.HeaderWebhookSignature, sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSignatures(t *testing.T) {
	secret := webhook.GenerateSecret()
	s, url := startServer(t, &webhook.ServerOptions{AllowLoopback: true, Secret: secret})
	serveInProcess(t, s, echoServer())
	c := webhook.NewClient(&webhook.ClientOptions{ServerURL: url, Secret: secret, Logger: testLogger(t)})
	hook, err := c.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var logs atomic.Int32
	cs := connect(t, c.Transport(), &mcp.ClientOptions{
		LoggingMessageHandler: func(context.Context, *mcp.LoggingMessageRequest) { logs.Add(1) },
	})
	sid := cs.ID()
	note := `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}`
	now := time.Now().Unix()

	cases := []struct {
		name         string
		sid, secret  string
		id           string
		ts           int64
		wantStatus   int
		wantInResult string
	}{
		{"unsigned", sid, "", "", 0, http.StatusUnauthorized, "missing signature"},
		{"forged", sid, webhook.GenerateSecret(), "msg_forged", now, http.StatusUnauthorized, "does not match"},
		{"stale", sid, secret, "msg_stale", now - 600, http.StatusUnauthorized, "outside tolerance"},
		{"future", sid, secret, "msg_future", now + 600, http.StatusUnauthorized, "outside tolerance"},
		{"unknown session", "nope", secret, "msg_1", now, http.StatusNotFound, "unknown session"},
		{"good", sid, secret, "msg_good", now, http.StatusOK, "success"},
		{"replayed", sid, secret, "msg_good", now, http.StatusOK, "duplicate"},
		{"good again", sid, secret, "msg_good2", now, http.StatusOK, "success"},
	}
	for _, tc := range cases {
		status, body := postDelivery(t, hook, tc.sid, tc.secret, tc.id, tc.ts, note)
		if status != tc.wantStatus || !strings.Contains(body, tc.wantInResult) {
			t.Errorf("%s: got %d %s, want %d containing %q", tc.name, status, body, tc.wantStatus, tc.wantInResult)
		}
	}
	waitFor(func() bool { return logs.Load() >= 2 })
	// Another message behind the duplicate proves it was not handed on.
	if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}}); err != nil {
		t.Fatal(err)
	}
	if n := logs.Load(); n != 2 {
		t.Errorf("client saw %d log notifications, want 2 (the replay must be dropped)", n)
	}
}

func TestWebhookURLAllowList(t *testing.T) {
	_, url := startServer(t, &webhook.ServerOptions{AllowedWebhookHosts: []string{"hooks.example.com"}})
	c := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil)
	_, err := c.Connect(context.Background(), &webhook.ClientTransport{ClientOptions: webhook.ClientOptions{ServerURL: url, Logger: quietLogger()}},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err == nil || !strings.Contains(err.Error(), "HTTP 403") || !strings.Contains(err.Error(), "not in the allowed webhook hosts") {
		t.Fatalf("connect with a loopback webhook URL to a server allowing only hooks.example.com: err = %v, want HTTP 403", err)
	}
}

// TestRedirectNotFollowed: a receiver answering 307 elsewhere is a failed
// delivery; the server never follows it.
func TestRedirectNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(target.Close)
	redirector := httptest.NewServer(http.RedirectHandler(target.URL+"/steal", http.StatusTemporaryRedirect))
	t.Cleanup(redirector.Close)

	s, url := startServer(t, &webhook.ServerOptions{AllowLoopback: true, RetryBackoff: time.Millisecond})
	status, body, _ := rawPost(t, url, map[string]string{webhook.HeaderClientID: "c1", webhook.HeaderSessionID: "s-redirect"},
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"_meta":{"webhookUrl":"`+redirector.URL+`/hook"}}}`)
	if status != http.StatusOK {
		t.Fatalf("initialize: %d %s", status, body)
	}
	conn, err := s.Accept(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	id, _ := jsonrpc.MakeID(float64(1))
	if err := conn.Write(context.Background(), &jsonrpc.Response{ID: id, Result: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	// The failed response is reported by the status GET.
	var last string
	waitFor(func() bool {
		_, last, _ = rawDo(t, http.MethodGet, url, map[string]string{webhook.HeaderSessionID: "s-redirect", webhook.HeaderClientID: "c1"}, "")
		return strings.Contains(last, `"undelivered":[1]`)
	})
	if !strings.Contains(last, `"undelivered":[1]`) {
		t.Fatalf("status after redirected delivery = %s, want undelivered [1]", last)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("redirect target was hit %d times", n)
	}
}

func rawPost(t testing.TB, url string, hdr map[string]string, body string) (int, string, http.Header) {
	return rawDo(t, http.MethodPost, url, hdr, body)
}

func rawDo(t testing.TB, method, url string, hdr map[string]string, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}
