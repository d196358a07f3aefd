// SPDX-License-Identifier: Apache-2.0

package webhook_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/webhook"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestEverythingServer drives the Go SDK conformance everything-server
// (a stdio child behind the webhook Server, joined by bridge.Serve) with a
// Go SDK client over ClientTransport: tools, progress, and sampling and
// elicitation requests from server to client.
func TestEverythingServer(t *testing.T) {
	s, url := startServer(t, &webhook.ServerOptions{AllowLoopback: true})
	serveBridge(t, s, everythingDialer(t))

	var progress atomic.Int32
	cs := connect(t, &webhook.ClientTransport{ClientOptions: webhook.ClientOptions{ServerURL: url, Logger: testLogger(t)}},
		&mcp.ClientOptions{
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
	ctx := context.Background()

	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	if len(tools.Tools) < 10 {
		t.Errorf("tools/list returned %d tools, want the conformance set", len(tools.Tools))
	}

	r, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_simple_text"})
	if err != nil {
		t.Fatalf("test_simple_text: %v", err)
	}
	if got := text(t, r); got != "This is a simple text response for testing." {
		t.Errorf("test_simple_text = %q", got)
	}

	p := &mcp.CallToolParams{Name: "test_tool_with_progress"}
	p.SetProgressToken("tok-1")
	r, err = cs.CallTool(ctx, p)
	if err != nil {
		t.Fatalf("test_tool_with_progress: %v", err)
	}
	if got := text(t, r); got != "tok-1" {
		t.Errorf("test_tool_with_progress = %q, want the progress token", got)
	}
	waitFor(func() bool { return progress.Load() == 3 })
	if n := progress.Load(); n != 3 {
		t.Errorf("got %d progress notifications, want 3", n)
	}

	r, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_sampling", Arguments: map[string]any{"prompt": "hello"}})
	if err != nil {
		t.Fatalf("test_sampling: %v", err)
	}
	if got := text(t, r); got != "LLM response: sampled:hello" {
		t.Errorf("test_sampling = %q", got)
	}

	r, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_elicitation", Arguments: map[string]any{"message": "name?"}})
	if err != nil {
		t.Fatalf("test_elicitation: %v", err)
	}
	if got := text(t, r); !strings.Contains(got, "action=accept") || !strings.Contains(got, "gopher") {
		t.Errorf("test_elicitation = %q", got)
	}

	r, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_error_handling"})
	if err != nil {
		t.Fatalf("test_error_handling: %v", err)
	}
	if !r.IsError {
		t.Errorf("test_error_handling: IsError = false")
	}
}

// waitFor polls cond for up to 10 seconds; the caller then asserts.
func waitFor(cond func() bool) {
	for i := 0; i < 1000 && !cond(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
}

// TestConcurrentSessions runs 100 sessions at once against everything-server
// children through one shared Client receiver; each checks that it gets its
// own progress token back.
func TestConcurrentSessions(t *testing.T) {
	const n = 100
	s, url := startServer(t, &webhook.ServerOptions{AllowLoopback: true})
	serveBridge(t, s, everythingDialer(t))
	c := webhook.NewClient(&webhook.ClientOptions{ServerURL: url, Logger: testLogger(t)})
	if _, err := c.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
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
			ctx := context.Background()
			cs, err := cl.Connect(ctx, c.Transport(), &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
			if err != nil {
				errs <- fmt.Errorf("session %d: connect: %w", i, err)
				return
			}
			defer cs.Close()
			for range 2 {
				p := &mcp.CallToolParams{Name: "test_tool_with_progress"}
				p.SetProgressToken(want)
				r, err := cs.CallTool(ctx, p)
				if err != nil {
					errs <- fmt.Errorf("session %d: call: %w", i, err)
					return
				}
				if g := text(t, r); g != want {
					errs <- fmt.Errorf("session %d got result %q, want %q", i, g, want)
				}
			}
			// The SDK runs notification handlers asynchronously, so the
			// last one may still be running when CallTool returns.
			waitFor(func() bool { return got.Load() == 6 })
			if g := got.Load(); g != 6 {
				errs <- fmt.Errorf("session %d got %d progress notifications, want 6", i, g)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
