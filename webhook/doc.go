// SPDX-License-Identifier: Apache-2.0

// Package webhook carries MCP sessions over HTTP webhooks, interoperable
// with the Python asyncmcp webhook transport.
//
// The client POSTs each JSON-RPC message to the server's endpoint
// ([DefaultPath]) and gets an immediate acknowledgement; the server delivers
// responses, notifications and its own requests by POST to the webhook URL
// the client named in initialize params._meta.webhookUrl. The wire format is
// specified in docs/webhook-format.md.
//
// [Server] is the server side: an [http.Handler] and a bridge.Listener
// (Accept yields one [mcp.Connection] per client session). [Client] is the
// client side for any number of sessions: the [http.Handler] receiving their
// deliveries, and a bridge.Dialer. [ClientTransport] is an [mcp.Transport]
// for one session.
//
// Deliveries are ordered per session, retried with exponential backoff and
// jitter, and signed in the Standard Webhooks style ([Sign], [Verify]); the
// client rejects forged, stale and repeated deliveries. By default the
// server generates a signing secret per session and returns it in the
// initialize reply. It delivers only to allowed hosts
// ([ServerOptions.AllowedWebhookHosts], [ServerOptions.AllowLoopback]) and
// never follows redirects. When a response cannot be delivered, the
// server reports it in its next reply and the client answers the waiting
// request with a JSON-RPC error; a server-initiated request that cannot be
// delivered is answered with an error inside the server. Messages are
// forwarded as raw [jsonrpc.Message] values, never re-typed.
package webhook
