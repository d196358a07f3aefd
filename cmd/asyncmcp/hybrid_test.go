// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// syncBuffer collects a child's stderr for the test to search.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// eventually polls cond for up to 10 seconds and reports whether it held.
func eventually(cond func() bool) bool {
	for range 1000 {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}

// TestHybridEndToEnd: stdio client → asyncmcp proxy --backend hybrid --stdio
// → Streamable HTTP (+ webhook back) → asyncmcp serve --transport hybrid →
// echo-server. The slow tool's result comes by webhook with its progress on
// the stream; echo answers on the stream meanwhile.
func TestHybridEndToEnd(t *testing.T) {
	echoBin := testenv.EchoServer(t)
	base, serve := launchProxy(t, nil, "serve", "--transport", "hybrid", "--listen", "127.0.0.1:0",
		"--allow-loopback-webhooks", "--webhook-tools", "slow", "--log-level", "debug", "--", echoBin)

	var stderr syncBuffer
	cmd := exec.Command(testenv.BuildAsyncmcp(t), "proxy", "--backend", "hybrid", "--stdio", "--server-url", base+"/mcp", "--log-level", "debug")
	cmd.Env = os.Environ()
	cmd.Stderr = &stderr
	var progress atomic.Int32
	c := mcp.NewClient(&mcp.Implementation{Name: "hybrid-e2e", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(ctx context.Context, r *mcp.ProgressNotificationClientRequest) { progress.Add(1) },
	})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect through asyncmcp proxy --backend hybrid: %v", err)
	}
	defer func() {
		cs.Close()
		if t.Failed() {
			t.Logf("proxy stderr:\n%s", stderr.String())
		}
	}()

	slowDone := make(chan error, 1)
	go func() {
		p := &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{"seconds": 2}}
		p.SetProgressToken("e2e")
		r, err := cs.CallTool(ctx, p)
		if err == nil && (len(r.Content) == 0 || r.Content[0].(*mcp.TextContent).Text != "done after 2s") {
			t.Errorf("slow returned %+v", r.Content)
		}
		slowDone <- err
	}()
	echo(t, cs, "meanwhile on the stream")
	if err := <-slowDone; err != nil {
		t.Fatalf("slow through the hybrid transport: %v", err)
	}
	if !eventually(func() bool { return progress.Load() >= 1 }) {
		t.Errorf("no progress notification of the slow tool arrived")
	}
	if !eventually(func() bool { return strings.Contains(serve.Log(), "delivered by webhook") }) {
		t.Errorf("the serve log does not show a webhook delivery:\n%s", serve.Log())
	}
	if !strings.Contains(stderr.String(), "response will come by webhook") {
		t.Errorf("the proxy log does not show a diverted request")
	}
	if n := strings.Count(serve.Log(), "delivered by webhook"); n != 1 {
		t.Errorf("serve delivered %d results by webhook, want 1 (slow only)", n)
	}
}
