// SPDX-License-Identifier: Apache-2.0

package hybrid_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/hybrid"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// waitFor polls cond for up to 10 seconds; the caller then asserts.
func waitFor(cond func() bool) {
	for i := 0; i < 1000 && !cond(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSlowByWebhookFastOnStream: in one session, the slow tool's POST ends
// at once with 202 and its result comes by webhook, its progress on the
// GET stream, while echo, called meanwhile, answers on its POST's stream.
func TestSlowByWebhookFastOnStream(t *testing.T) {
	url := startServer(t, hybrid.ServerOptions{WebhookTools: []string{"slow"}, AllowLoopback: true}, echoDialer(t))
	rec := &recorder{}
	c, pr := newClient(t, url, rec, hybrid.ClientOptions{})
	var progress atomic.Int32
	firstProgress := make(chan struct{})
	var once sync.Once
	cs := connect(t, c.Transport(), &mcp.ClientOptions{
		ProgressNotificationHandler: func(ctx context.Context, r *mcp.ProgressNotificationClientRequest) {
			progress.Add(1)
			once.Do(func() { close(firstProgress) })
		},
	})
	ctx := t.Context()

	slowDone := make(chan struct{})
	var slowRes *mcp.CallToolResult
	var slowErr error
	go func() {
		defer close(slowDone)
		p := &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{"seconds": 3}}
		p.SetProgressToken("slow-1")
		slowRes, slowErr = cs.CallTool(ctx, p)
	}()
	select {
	case <-firstProgress:
	case <-slowDone:
		t.Fatalf("slow ended before any progress: %v", slowErr)
	}
	r, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "fast"}})
	if err != nil || text(r) != "fast" {
		t.Fatalf("echo while slow runs: %v %v", err, r)
	}
	select {
	case <-slowDone:
		t.Errorf("slow finished before echo answered; the two calls did not overlap")
	default:
	}
	<-slowDone
	if slowErr != nil {
		t.Fatalf("slow: %v", slowErr)
	}
	if got := text(slowRes); got != "done after 3s" {
		t.Errorf("slow = %q", got)
	}
	if n := progress.Load(); n < 1 {
		t.Errorf("no progress notification of the webhook tool reached the client")
	}

	// Routes: the slow POST got 202 + divert, echo's got a 200 stream.
	slowPosts, echoPosts := pr.find(`"name":"slow"`), pr.find(`"name":"echo"`)
	if len(slowPosts) != 1 || slowPosts[0].status != http.StatusAccepted || slowPosts[0].delivery != hybrid.DeliveryDivert {
		t.Errorf("slow POST answers = %+v, want one 202 with %s: %s", slowPosts, hybrid.HeaderDelivery, hybrid.DeliveryDivert)
	}
	if len(echoPosts) != 1 || echoPosts[0].status != http.StatusOK || echoPosts[0].delivery != "" {
		t.Errorf("echo POST answers = %+v, want one 200 stream", echoPosts)
	}
	ds := rec.deliveries()
	if len(ds) != 1 {
		t.Fatalf("got %d webhook deliveries, want 1 (the slow result): %+v", len(ds), ds)
	}
	d := ds[0]
	if d.status != http.StatusOK || !strings.Contains(d.body, "done after 3s") {
		t.Errorf("delivery = %d %s", d.status, d.body)
	}
	if got := d.header.Get(hybrid.HeaderSessionID); got == "" || got != cs.ID() {
		t.Errorf("delivery %s = %q, want the session id %q", hybrid.HeaderSessionID, got, cs.ID())
	}
	if d.header.Get("webhook-signature") == "" {
		t.Errorf("delivery is not signed")
	}
}

// TestEverythingServer: the conformance everything-server behind the hybrid
// server; sampling, elicitation and progress tools are webhook tools, so
// the server's requests cross on the stream while the results come by
// webhook; other tools answer on the stream.
func TestEverythingServer(t *testing.T) {
	webhookTools := []string{"test_sampling", "test_elicitation", "test_tool_with_progress"}
	url := startServer(t, hybrid.ServerOptions{WebhookTools: webhookTools, AllowLoopback: true}, everythingDialer(t))
	rec := &recorder{}
	c, pr := newClient(t, url, rec, hybrid.ClientOptions{})
	var progress atomic.Int32
	cs := connect(t, c.Transport(), &mcp.ClientOptions{
		ProgressNotificationHandler: func(ctx context.Context, r *mcp.ProgressNotificationClientRequest) {
			progress.Add(1)
		},
		CreateMessageHandler: func(ctx context.Context, r *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Model: "test-model", Role: "assistant",
				Content: &mcp.TextContent{Text: "sampled:" + r.Params.Messages[0].Content.(*mcp.TextContent).Text}}, nil
		},
		ElicitationHandler: func(ctx context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"username": "gopher"}}, nil
		},
	})
	ctx := t.Context()

	tools, err := cs.ListTools(ctx, nil)
	if err != nil || len(tools.Tools) < 10 {
		t.Fatalf("tools/list: %v (%d tools)", err, len(tools.Tools))
	}
	r, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_simple_text"})
	if err != nil || text(r) != "This is a simple text response for testing." {
		t.Fatalf("test_simple_text: %v %v", err, r)
	}
	p := &mcp.CallToolParams{Name: "test_tool_with_progress"}
	p.SetProgressToken("tok-1")
	r, err = cs.CallTool(ctx, p)
	if err != nil || text(r) != "tok-1" {
		t.Fatalf("test_tool_with_progress: %v %v", err, r)
	}
	waitFor(func() bool { return progress.Load() == 3 })
	if n := progress.Load(); n != 3 {
		t.Errorf("got %d progress notifications, want 3", n)
	}
	r, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_sampling", Arguments: map[string]any{"prompt": "hello"}})
	if err != nil || text(r) != "LLM response: sampled:hello" {
		t.Fatalf("test_sampling: %v %v", err, r)
	}
	r, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_elicitation", Arguments: map[string]any{"message": "name?"}})
	if err != nil || !strings.Contains(text(r), "action=accept") || !strings.Contains(text(r), "gopher") {
		t.Fatalf("test_elicitation: %v %v", err, r)
	}

	ds := rec.deliveries()
	if len(ds) != len(webhookTools) {
		t.Errorf("got %d webhook deliveries, want %d (one per webhook tool)", len(ds), len(webhookTools))
	}
	for _, d := range ds {
		if d.status != http.StatusOK {
			t.Errorf("delivery answered %d: %s", d.status, d.body)
		}
	}
	for _, name := range webhookTools {
		if e := pr.find(`"name":"` + name + `"`); len(e) != 1 || e[0].status != http.StatusAccepted {
			t.Errorf("%s POST answers = %+v, want one 202", name, e)
		}
	}
	if e := pr.find(`"name":"test_simple_text"`); len(e) != 1 || e[0].status != http.StatusOK {
		t.Errorf("test_simple_text POST answers = %+v, want one 200 stream", e)
	}
}

// TestReceiverFailures: a receiver that fails twice gets the result on the
// third attempt; one that always fails makes the result fall back to the
// session's stream, so the caller still gets it.
func TestReceiverFailures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		failFirst int
		attempts  int
	}{
		{"fails twice then succeeds", 2, 3},
		{"always fails", -1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := startServer(t, hybrid.ServerOptions{
				WebhookTools: []string{"slow"}, AllowLoopback: true,
				Retries: 2, RetryBackoff: 10 * time.Millisecond, Logger: quietLogger(),
			}, echoDialer(t))
			rec := &recorder{failFirst: tc.failFirst}
			c, _ := newClient(t, url, rec, hybrid.ClientOptions{})
			cs := connect(t, c.Transport(), nil)
			r, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{"seconds": 0.1}})
			if err != nil || text(r) != "done after 0.1s" {
				t.Fatalf("slow: %v %v", err, r)
			}
			ds := rec.deliveries()
			if len(ds) != tc.attempts {
				t.Errorf("receiver saw %d attempts, want %d", len(ds), tc.attempts)
			}
			ids := map[string]bool{}
			for _, d := range ds {
				ids[d.header.Get("webhook-id")] = true
			}
			if len(ids) != 1 {
				t.Errorf("attempts carried %d webhook-ids, want the same one on every retry", len(ids))
			}
			// The session still works afterwards.
			r, err = cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "after"}})
			if err != nil || text(r) != "after" {
				t.Fatalf("echo after: %v %v", err, r)
			}
		})
	}
}

// TestConcurrentSessions: many sessions share one Client receiver; each gets
// only its own webhook results and progress.
func TestConcurrentSessions(t *testing.T) {
	const n = 100
	url := startServer(t, hybrid.ServerOptions{WebhookTools: []string{"test_tool_with_progress"}, AllowLoopback: true}, everythingDialer(t))
	c := hybrid.NewClient(&hybrid.ClientOptions{ServerURL: url, Logger: testLogger(t)})
	if _, err := c.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var wg sync.WaitGroup
	errs := make(chan error, 4*n)
	for i := range n {
		wg.Go(func() {
			var got atomic.Int32
			want := fmt.Sprintf("session-%d", i)
			cl := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, &mcp.ClientOptions{
				ProgressNotificationHandler: func(ctx context.Context, r *mcp.ProgressNotificationClientRequest) {
					if r.Params.ProgressToken != want {
						errs <- fmt.Errorf("session %d got progress for token %v", i, r.Params.ProgressToken)
					}
					got.Add(1)
				},
			})
			cs, err := cl.Connect(t.Context(), c.Transport(), &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
			if err != nil {
				errs <- fmt.Errorf("session %d: connect: %w", i, err)
				return
			}
			defer cs.Close()
			for range 2 {
				p := &mcp.CallToolParams{Name: "test_tool_with_progress"}
				p.SetProgressToken(want)
				r, err := cs.CallTool(t.Context(), p)
				if err != nil {
					errs <- fmt.Errorf("session %d: call: %w", i, err)
					return
				}
				if g := text(r); g != want {
					errs <- fmt.Errorf("session %d got result %q, want %q", i, g, want)
				}
			}
			waitFor(func() bool { return got.Load() == 6 })
			if g := got.Load(); g != 6 {
				errs <- fmt.Errorf("session %d got %d progress notifications, want 6", i, g)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestPlainStreamableClient: a session without a webhook URL is plain
// Streamable HTTP, so a standard client works and webhook tools answer on
// the stream.
func TestPlainStreamableClient(t *testing.T) {
	url := startServer(t, hybrid.ServerOptions{WebhookTools: []string{"slow"}, AllowLoopback: true}, echoDialer(t))
	cs := connect(t, &mcp.StreamableClientTransport{Endpoint: url}, nil)
	r, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{"seconds": 0.1}})
	if err != nil || text(r) != "done after 0.1s" {
		t.Fatalf("slow over plain Streamable HTTP: %v %v", err, r)
	}
}

// TestReinitialize: when the server forgets the session (here: it is
// deleted behind the client's back), the client starts a new one with its
// original initialize, learns the new session id and secret, and webhook
// results of the new session reach the caller.
func TestReinitialize(t *testing.T) {
	url := startServer(t, hybrid.ServerOptions{WebhookTools: []string{"slow"}, AllowLoopback: true, Logger: quietLogger()}, echoDialer(t))
	rec := &recorder{}
	c, _ := newClient(t, url, rec, hybrid.ClientOptions{Logger: quietLogger()})
	cs := connect(t, c.Transport(), nil)
	call := func() {
		t.Helper()
		r, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{"seconds": 0.1}})
		if err != nil || text(r) != "done after 0.1s" {
			t.Fatalf("slow: %v %v", err, r)
		}
	}
	call()
	req, _ := http.NewRequest(http.MethodDelete, url, nil)
	req.Header.Set("Mcp-Session-Id", cs.ID())
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE session: %v %v", err, resp)
	}
	resp.Body.Close()
	call()
	ds := rec.deliveries()
	if len(ds) != 2 {
		t.Fatalf("got %d deliveries, want 2", len(ds))
	}
	first, second := ds[0].header.Get(hybrid.HeaderSessionID), ds[1].header.Get(hybrid.HeaderSessionID)
	if first == second || ds[1].status != http.StatusOK {
		t.Errorf("deliveries: session %s then %s (status %d); want a new session after re-initialize, accepted", first, second, ds[1].status)
	}
}
