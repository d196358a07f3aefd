// SPDX-License-Identifier: Apache-2.0

package webhook_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/webhook"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// An MCP server behind a webhook Server, and an MCP client reaching it
// through a ClientTransport with its own receiver on a loopback port.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Server side: mount the endpoint and serve each session.
	srv := webhook.NewServer(&webhook.ServerOptions{AllowLoopback: true})
	defer srv.Close()
	mux := http.NewServeMux()
	mux.Handle(webhook.DefaultPath, srv)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	server := echoServer()
	go func() {
		for {
			if _, err := server.Connect(ctx, bridge.ListenerTransport{L: srv}, nil); err != nil {
				return
			}
		}
	}()

	// Client side.
	t := &webhook.ClientTransport{
		ClientOptions: webhook.ClientOptions{ServerURL: hs.URL + webhook.DefaultPath},
		Listen:        "127.0.0.1:0",
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "example", Version: "1"}, nil).Connect(ctx, t, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hello over webhooks"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Content[0].(*mcp.TextContent).Text)
	// Output: hello over webhooks
}
