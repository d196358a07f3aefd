// SPDX-License-Identifier: Apache-2.0

package webhook_test

import (
	"context"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/stdio"
	"github.com/asyncmcp/asyncmcp-go/webhook"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestIdleSessionsExpire: a session whose client went quiet is ended after
// IdleTimeout (its server process stopped), but never while a call is
// running.
func TestIdleSessionsExpire(t *testing.T) {
	s, url := startServer(t, &webhook.ServerOptions{AllowLoopback: true, IdleTimeout: 400 * time.Millisecond})
	cmd := &stdio.Command{Path: testenv.EchoServer(t), TerminateTimeout: 2 * time.Second}
	serveBridge(t, s, bridge.Dialer(cmd))
	cs := connect(t, &webhook.ClientTransport{ClientOptions: webhook.ClientOptions{ServerURL: url, Logger: testLogger(t)}}, nil)

	// A call lasting several idle timeouts is not cut short.
	r, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{"seconds": 1.5}})
	if err != nil {
		t.Fatalf("slow call: %v", err)
	}
	if got := text(t, r); got != "done after 1.5s" {
		t.Errorf("slow = %q", got)
	}
	// Then, quiet: the session ends and its child stops.
	waitFor(func() bool { return s.ActiveSessions() == 0 && cmd.Status().Alive == 0 })
	if n := s.ActiveSessions(); n != 0 {
		t.Fatalf("%d sessions still open after the idle timeout", n)
	}
	if n := cmd.Status().Alive; n != 0 {
		t.Errorf("%d server processes still running after their session expired", n)
	}
	if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}}); err == nil {
		t.Error("a call on an expired session succeeded")
	}
}
