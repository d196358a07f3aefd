// SPDX-License-Identifier: Apache-2.0

// Package hybrid is the StreamableHTTP+webhook transport of asyncmcp: a
// Streamable HTTP MCP session in which the results of chosen slow tools are
// delivered by webhook, while every other message (other tools' results,
// notifications, progress, server requests such as sampling and elicitation)
// flows on the session's SSE streams as usual.
//
// [Server] is the server side: an [http.Handler] built on
// [httpfront.Server]. A client names its webhook in initialize
// params._meta.webhookUrl (or the X-Webhook-Url header of the initialize
// POST); the URL must pass the allow-list. A tools/call of a tool listed in
// [ServerOptions.WebhookTools] is answered at once with 202 Accepted (header
// Asyncmcp-Delivery: divert); its progress goes on the session's GET stream
// and its result is POSTed, signed in the Standard Webhooks style and
// retried with backoff, to the webhook. If every attempt fails, the result
// goes on the GET stream instead, so it is never lost.
//
// [Client] is the client side: an [http.Handler] receiving deliveries for
// any number of sessions (mount it, or call [Client.Listen]) and a
// bridge.Dialer; [ClientTransport] is an mcp.Transport for one session.
// The client adds _meta.webhookUrl to initialize, learns the per-session
// signing secret from the initialize response, verifies every delivery
// (signature, timestamp, repeated ids) and hands each result to the
// connection of its Mcp-Session-Id.
//
// The wire format is specified in docs/hybrid-format.md.
package hybrid
