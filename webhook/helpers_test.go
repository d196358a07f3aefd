// SPDX-License-Identifier: Apache-2.0

package webhook_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/webhook"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// tWriter sends log output to t.Log.
type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// testLogger logs warnings and errors through t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startServer serves a webhook.Server at DefaultPath of a loopback HTTP
// server and returns it with its URL. Both are stopped at cleanup.
func startServer(t testing.TB, opts *webhook.ServerOptions) (*webhook.Server, string) {
	t.Helper()
	if opts == nil {
		opts = &webhook.ServerOptions{}
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	s := webhook.NewServer(opts)
	mux := http.NewServeMux()
	mux.Handle(webhook.DefaultPath, s)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		s.Close()
		hs.Close()
	})
	return s, hs.URL + webhook.DefaultPath
}

// serveBridge runs bridge.Serve from s to d until cleanup.
func serveBridge(t testing.TB, s *webhook.Server, d bridge.Dialer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		bridge.Serve(ctx, s, d, &bridge.Options{Logger: quietLogger()})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// everythingDialer starts one Go SDK conformance everything-server (stdio)
// per session.
func everythingDialer(t testing.TB) bridge.Dialer {
	bin := testenv.GoEverythingServer(t)
	return bridge.TransportDialer(func() mcp.Transport {
		return &mcp.CommandTransport{Command: exec.Command(bin)}
	})
}

// serveInProcess serves each session of s with server until cleanup.
func serveInProcess(t testing.TB, s *webhook.Server, server *mcp.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			ss, err := server.Connect(ctx, bridge.ListenerTransport{L: s}, nil)
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				ss.Wait()
			}()
		}
	}()
	t.Cleanup(func() {
		cancel()
		s.Close()
		wg.Wait()
	})
}

type echoArgs struct {
	Text string `json:"text"`
}

// echoServer is an in-process MCP server with an "echo" tool.
func echoServer() *mcp.Server {
	server := mcp.NewServer(&mcp.Implementation{Name: "echo", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "echo", Description: "echoes text"},
		func(ctx context.Context, req *mcp.CallToolRequest, a echoArgs) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
		})
	return server
}

// connect opens an MCP client session over t, closed at cleanup.
func connect(t testing.TB, tr mcp.Transport, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, opts)
	cs, err := c.Connect(context.Background(), tr, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connecting MCP client over webhook: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func text(t testing.TB, r *mcp.CallToolResult) string {
	t.Helper()
	var b strings.Builder
	for _, c := range r.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}
