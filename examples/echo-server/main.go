// SPDX-License-Identifier: Apache-2.0

// Command echo-server is a small, fast MCP server on stdio, for trying
// asyncmcp out and for tests and benchmarks.
//
// Tools:
//   - echo: returns its "text" argument.
//   - slow: sleeps "seconds" (default 10), sending a progress notification
//     each second, then returns "done after Ns"; a stand-in for a
//     long-running tool.
//   - crash: exits the process at once with status 3, to show what happens
//     when a server dies mid-call.
//   - whoami: returns this process's id, so tests can tell children apart.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type echoArgs struct {
	Text string `json:"text" jsonschema:"the text to echo back"`
}

type slowArgs struct {
	Seconds float64 `json:"seconds,omitempty" jsonschema:"how long to work, in seconds (default 10)"`
}

func text(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

func main() {
	server := mcp.NewServer(&mcp.Implementation{Name: "asyncmcp-echo", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "echo", Description: "Return the text argument unchanged."},
		func(ctx context.Context, req *mcp.CallToolRequest, a echoArgs) (*mcp.CallToolResult, any, error) {
			return text(a.Text), nil, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "slow", Description: "Work for a while, reporting progress each second."},
		func(ctx context.Context, req *mcp.CallToolRequest, a slowArgs) (*mcp.CallToolResult, any, error) {
			secs := a.Seconds
			if secs <= 0 {
				secs = 10
			}
			deadline := time.Now().Add(time.Duration(secs * float64(time.Second)))
			tok := req.Params.GetProgressToken()
			for step := 1; time.Now().Before(deadline); step++ {
				wait := min(time.Second, time.Until(deadline))
				select {
				case <-ctx.Done():
					return nil, nil, ctx.Err()
				case <-time.After(wait):
				}
				if tok != nil {
					req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: float64(step), Total: secs})
				}
			}
			return text(fmt.Sprintf("done after %gs", secs)), nil, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "crash", Description: "Exit the server process at once (status 3)."},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			os.Exit(3)
			return nil, nil, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "whoami", Description: "Return this server process's pid."},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			return text(fmt.Sprint(os.Getpid())), nil, nil
		})
	if err := server.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		log.Printf("echo-server: %v", err)
	}
}
