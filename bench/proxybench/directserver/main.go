// SPDX-License-Identifier: Apache-2.0

// Command directserver serves the same echo tool as examples/echo-server,
// but directly over Streamable HTTP with the Go MCP SDK's
// [mcp.NewStreamableHTTPHandler]. It is the baseline ("the limit") of the
// proxy benchmark in bench/proxybench.
//
// With -stateless the handler runs with StreamableHTTPOptions.Stateless: no
// sessions, every POST served on its own, which is how the SDK serves the
// stateless 2026-07-28 revision (the baseline of BenchmarkProxyModern).
//
// It listens on 127.0.0.1 on a free port (or -addr) and prints
// "directserver: listening on http://127.0.0.1:PORT" on stdout; the MCP
// endpoint is that URL plus /mcp.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type echoArgs struct {
	Text string `json:"text" jsonschema:"the text to echo back"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	stateless := flag.Bool("stateless", false, "serve without sessions (StreamableHTTPOptions.Stateless)")
	flag.Parse()

	server := mcp.NewServer(&mcp.Implementation{Name: "asyncmcp-echo-direct", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "echo", Description: "Return the text argument unchanged."},
		func(ctx context.Context, req *mcp.CallToolRequest, a echoArgs) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
		})
	mux := http.NewServeMux()
	mux.Handle("/mcp", mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server },
		&mcp.StreamableHTTPOptions{Stateless: *stateless}))

	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("directserver: listen on %s: %v", *addr, err)
	}
	fmt.Printf("directserver: listening on http://%s\n", l.Addr())

	srv := &http.Server{Handler: mux}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(l); err != nil && err != http.ErrServerClosed {
		log.Fatalf("directserver: serve: %v", err)
	}
}
