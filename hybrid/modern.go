// SPDX-License-Identifier: Apache-2.0

package hybrid

import (
	"context"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

var _ bridge.RoundTripper = (*Client)(nil)

// RoundTrip serves one stateless (2026-07-28) request over the Streamable
// HTTP part of the transport: a session-less POST whose answer, with its
// progress and log notifications, comes on the POST's own response stream
// (see remote.Streamable.RoundTrip). The webhook diversion of
// ServerOptions.WebhookTools applies to sessions only; a stateless request
// has no session to deliver to. It implements bridge.RoundTripper, so a
// front hands a Client the stateless requests it receives.
func (c *Client) RoundTrip(ctx context.Context, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	return c.modern.RoundTrip(ctx, req, notify)
}
