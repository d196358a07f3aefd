// SPDX-License-Identifier: Apache-2.0

// Package bridge joins MCP fronts to MCP backs.
//
// A front is where MCP clients come in (stdio, Streamable HTTP, an SQS request
// queue, a webhook endpoint). It is a [Listener]: Accept yields one
// [mcp.Connection] per client session. A back is where the MCP server lives (a
// stdio child process, a remote HTTP server, a queue-backed server). It is a
// [Dialer]: Dial opens one new back connection for a session.
//
// [Serve] pumps JSON-RPC messages between each accepted front connection and a
// freshly dialed back connection. Messages are forwarded as raw
// [jsonrpc.Message] values: params and results stay raw JSON, so fields and
// methods that no SDK models cross unchanged.
package bridge

import (
	"context"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A Listener accepts MCP client sessions arriving at a front.
//
// Accept blocks until a new session arrives, ctx is done, or the listener is
// closed; in the last two cases it returns a non-nil error. Close stops
// accepting; connections already accepted stay open until closed by their
// owner.
type Listener interface {
	Accept(ctx context.Context) (mcp.Connection, error)
	Close() error
}

// A Dialer opens back connections, one per client session.
type Dialer interface {
	Dial(ctx context.Context) (mcp.Connection, error)
}

// DialerFunc adapts an ordinary function to the [Dialer] interface.
type DialerFunc func(ctx context.Context) (mcp.Connection, error)

// Dial calls f(ctx).
func (f DialerFunc) Dial(ctx context.Context) (mcp.Connection, error) { return f(ctx) }

// TransportDialer returns a Dialer that calls newTransport for each session and
// connects the transport it returns. It lets any [mcp.Transport] serve as a
// back.
func TransportDialer(newTransport func() mcp.Transport) Dialer {
	return DialerFunc(func(ctx context.Context) (mcp.Connection, error) {
		return newTransport().Connect(ctx)
	})
}

// ListenerTransport is an [mcp.Transport] whose Connect accepts the next
// session from a Listener. It lets a Go program hand sessions arriving at any
// front to an [mcp.Server]:
//
//	for {
//		ss, err := server.Connect(ctx, bridge.ListenerTransport{L: l}, nil)
//		...
//	}
type ListenerTransport struct {
	L Listener
}

// Connect accepts one session from t.L.
func (t ListenerTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	return t.L.Accept(ctx)
}
