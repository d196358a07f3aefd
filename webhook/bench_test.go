// SPDX-License-Identifier: Apache-2.0

package webhook_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/webhook"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkToolCall measures tools/call round trips to the same in-process
// MCP server through the webhook transport and through plain Streamable HTTP
// (the Go SDK's handler and client), sequential (latency) and parallel over
// one session (throughput), and logs the webhook/streamable ratios.
func BenchmarkToolCall(b *testing.B) {
	transports := []struct {
		name    string
		session func(b *testing.B) *mcp.ClientSession
	}{
		{"webhook", func(b *testing.B) *mcp.ClientSession {
			s, url := startServer(b, &webhook.ServerOptions{AllowLoopback: true, Logger: quietLogger()})
			serveInProcess(b, s, echoServer())
			return connect(b, &webhook.ClientTransport{ClientOptions: webhook.ClientOptions{ServerURL: url, Logger: quietLogger()}}, nil)
		}},
		{"streamable", func(b *testing.B) *mcp.ClientSession {
			server := echoServer()
			hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
			b.Cleanup(hs.Close)
			return connect(b, &mcp.StreamableClientTransport{Endpoint: hs.URL, DisableStandaloneSSE: true}, nil)
		}},
	}
	perOp := map[string]time.Duration{}
	for _, mode := range []string{"seq", "parallel"} {
		for _, tr := range transports {
			name := tr.name + "/" + mode
			b.Run(name, func(b *testing.B) {
				cs := tr.session(b)
				ctx := context.Background()
				params := &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "ping"}}
				call := func() {
					if _, err := cs.CallTool(ctx, params); err != nil {
						b.Fatal(err)
					}
				}
				call() // warm up connections
				b.ResetTimer()
				if mode == "seq" {
					for b.Loop() {
						call()
					}
				} else {
					b.SetParallelism(8)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							call()
						}
					})
				}
				d := b.Elapsed() / time.Duration(b.N)
				perOp[name] = d
				b.ReportMetric(float64(time.Second)/float64(d), "calls/s")
			})
		}
		w, s := perOp["webhook/"+mode], perOp["streamable/"+mode]
		if w > 0 && s > 0 {
			fmt.Printf("BenchmarkToolCall %s: webhook %v/call (%.0f calls/s), streamable HTTP %v/call (%.0f calls/s): webhook/streamable time ratio %.2f\n",
				mode, w, float64(time.Second)/float64(w), s, float64(time.Second)/float64(s), float64(w)/float64(s))
		}
	}
}
