// SPDX-License-Identifier: Apache-2.0

package sqs_test

import (
	"context"
	"log"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/sqs"
	"github.com/asyncmcp/asyncmcp-go/stdio"
	"github.com/aws/aws-sdk-go-v2/config"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A server process: every client session arriving on the request queue is
// handed to an mcp.Server of this program.
func ExampleListen() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx) // AWS_REGION, AWS_ENDPOINT_URL, profiles, roles
	if err != nil {
		log.Fatal(err)
	}
	l, err := sqs.Listen(sqs.ServerConfig{
		Client:   awssqs.NewFromConfig(cfg),
		QueueURL: "https://sqs.us-east-1.amazonaws.com/123456789012/mcp-requests",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	server := mcp.NewServer(&mcp.Implementation{Name: "queued", Version: "1.0.0"}, nil)
	for {
		ss, err := server.Connect(ctx, bridge.ListenerTransport{L: l}, nil)
		if err != nil {
			log.Fatal(err)
		}
		go ss.Wait()
	}
}

// Any stdio MCP server behind a queue, one child process per session: what
// `asyncmcp serve --transport sqs` does.
func ExampleListen_stdioServer() {
	ctx := context.Background()
	cfg, _ := config.LoadDefaultConfig(ctx)
	l, err := sqs.Listen(sqs.ServerConfig{Client: awssqs.NewFromConfig(cfg), QueueURL: "https://sqs.us-east-1.amazonaws.com/123456789012/mcp-requests"})
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(bridge.Serve(ctx, l, &stdio.Command{Path: "uvx", Args: []string{"mcp-server-fetch"}}, nil))
}

// A client: many sessions can share one Client and its response queue.
func ExampleNewClient() {
	ctx := context.Background()
	cfg, _ := config.LoadDefaultConfig(ctx)
	c, err := sqs.NewClient(ctx, sqs.ClientConfig{
		Client:   awssqs.NewFromConfig(cfg),
		QueueURL: "https://sqs.us-east-1.amazonaws.com/123456789012/mcp-requests",
		// No ResponseQueueURL: a queue is created now and deleted by Close.
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	session, err := mcp.NewClient(&mcp.Implementation{Name: "caller", Version: "1.0.0"}, nil).Connect(ctx, c.Transport(), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()
	res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
	if err != nil {
		log.Fatal(err)
	}
	log.Println(res.Content[0].(*mcp.TextContent).Text)
}
