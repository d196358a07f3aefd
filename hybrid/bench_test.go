// SPDX-License-Identifier: Apache-2.0

package hybrid_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/hybrid"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkToolCall measures tools/call round trips in one hybrid session
// to an in-process MCP server, for a tool answered by webhook and the same
// tool answered on the POST's stream, and prints the webhook/stream ratio
// (the cost of the 202 + signed webhook POST route).
func BenchmarkToolCall(b *testing.B) {
	server := mcp.NewServer(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
	tool := func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil, nil
	}
	mcp.AddTool(server, &mcp.Tool{Name: "by_webhook"}, tool)
	mcp.AddTool(server, &mcp.Tool{Name: "on_stream"}, tool)
	dialer := bridge.DialerFunc(func(ctx context.Context) (mcp.Connection, error) {
		st, ct := mcp.NewInMemoryTransports()
		if _, err := server.Connect(context.Background(), st, nil); err != nil {
			return nil, err
		}
		return ct.Connect(ctx)
	})
	srv := hybrid.NewServer("127.0.0.1:0", &hybrid.ServerOptions{WebhookTools: []string{"by_webhook"}, AllowLoopback: true, Logger: quietLogger()})
	srv.Handle("", dialer, nil)
	hs := httptest.NewServer(srv)
	b.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	cs := connect(b, &hybrid.ClientTransport{ClientOptions: hybrid.ClientOptions{ServerURL: hs.URL + "/mcp", Logger: quietLogger()}}, nil)

	perOp := map[string]time.Duration{}
	for _, name := range []string{"on_stream", "by_webhook"} {
		b.Run(name, func(b *testing.B) {
			params := &mcp.CallToolParams{Name: name}
			call := func() {
				if _, err := cs.CallTool(context.Background(), params); err != nil {
					b.Fatal(err)
				}
			}
			call()
			for b.Loop() {
				call()
			}
			d := b.Elapsed() / time.Duration(b.N)
			perOp[name] = d
			b.ReportMetric(float64(time.Second)/float64(d), "calls/s")
		})
	}
	w, s := perOp["by_webhook"], perOp["on_stream"]
	if w > 0 && s > 0 {
		fmt.Printf("BenchmarkToolCall: by webhook %v/call (%.0f calls/s), on the stream %v/call (%.0f calls/s): webhook/stream time ratio %.2f\n",
			w, float64(time.Second)/float64(w), s, float64(time.Second)/float64(s), float64(w)/float64(s))
	}
}
