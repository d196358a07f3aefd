// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestStatusFollowsWebhookServer: the /status of proxy --backend webhook
// and --backend hybrid follows the server URL: 503 once a call found the
// server gone, 200 again once a call got through to it after its restart.
func TestStatusFollowsWebhookServer(t *testing.T) {
	echoBin := testenv.EchoServer(t)
	cases := []struct {
		kind, path string
		serveArgs  []string
	}{
		{"webhook", "/mcp/request", nil},
		{"hybrid", "/mcp", []string{"--webhook-tools", "echo"}},
	}
	for _, c := range cases {
		t.Run(c.kind, func(t *testing.T) {
			listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
			serveArgs := append(append([]string{"--transport", c.kind, "--listen", listen, "--allow-loopback-webhooks"}, c.serveArgs...), "--", echoBin)
			serve := launchServe(t, nil, serveArgs...)
			base, _ := launchProxy(t, nil, "proxy", "--port", "0", "--backend", c.kind, "--server-url", "http://"+listen+c.path)
			statusURL := base + "/status"

			cs := connectGo(t, base+"/mcp")
			defer cs.Close()
			echo(t, cs, "before the stop")
			code, st := getStatus(t, statusURL)
			back := backStatus(st)
			// The echo result came by webhook (and, for webhook, the
			// initialize result too); the receiver acknowledges a
			// delivery just after the client has read it.
			waitFor(t, "the delivery to be counted", func() bool {
				_, st = getStatus(t, statusURL)
				back = backStatus(st)
				n, _ := back["deliveries_received"].(float64)
				return n >= 1
			})
			if code != 200 || back["reachable"] != true || back["last_success"] == nil || back["server_url"] != "http://"+listen+c.path {
				t.Fatalf("/status %d %v after a call; want 200 with the back reachable, last_success and server_url", code, st)
			}

			serve.Stop()
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // bounds a hang only: the refused connection fails the call at once
			_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "while down"}})
			cancel()
			if err == nil {
				t.Fatal("a call with the server stopped succeeded")
			}
			code, st = getStatus(t, statusURL)
			if back = backStatus(st); code != 503 || st["status"] == "ok" || back["reachable"] != false || !strings.Contains(fmt.Sprint(back["last_error"]), "connection refused") {
				t.Fatalf("/status %d %v after a failed call; want 503 with last_error", code, st)
			}

			launchServe(t, nil, serveArgs...)
			cs2 := connectGo(t, base+"/mcp")
			defer cs2.Close()
			echo(t, cs2, "after the restart")
			if code, st = getStatus(t, statusURL); code != 200 {
				t.Fatalf("/status %d %v after a call got through again; want 200", code, st)
			}
		})
	}
}

// backStatus returns the back detail of the default server in a proxy
// /status body.
func backStatus(st map[string]any) map[string]any {
	servers, _ := st["servers"].(map[string]any)
	def, _ := servers["default"].(map[string]any)
	back, _ := def["back"].(map[string]any)
	return back
}
