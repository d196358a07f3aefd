// SPDX-License-Identifier: Apache-2.0

package hybrid_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/hybrid"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// An in-process MCP server behind a hybrid Server whose "report" tool
// answers by webhook, and a client reaching it through a ClientTransport
// with its own receiver on a loopback port.
func Example() {
	ctx := context.Background()
	server := mcp.NewServer(&mcp.Implementation{Name: "reports", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "report", Description: "a slow report"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "report ready"}}}, nil, nil
		})
	// Each session gets an in-memory connection to the server.
	dialer := bridge.DialerFunc(func(ctx context.Context) (mcp.Connection, error) {
		st, ct := mcp.NewInMemoryTransports()
		if _, err := server.Connect(context.Background(), st, nil); err != nil {
			return nil, err
		}
		return ct.Connect(ctx)
	})

	srv := hybrid.NewServer("127.0.0.1:0", &hybrid.ServerOptions{
		WebhookTools:  []string{"report"},
		AllowLoopback: true, // the client's receiver is on loopback
	})
	defer srv.Close()
	srv.Handle("", dialer, nil)
	hs := httptest.NewServer(srv)
	defer hs.Close()

	t := &hybrid.ClientTransport{ClientOptions: hybrid.ClientOptions{ServerURL: hs.URL + "/mcp"}}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "example", Version: "1"}, nil).Connect(ctx, t, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "report"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Content[0].(*mcp.TextContent).Text)
	// Output: report ready
}
