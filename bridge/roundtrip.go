// SPDX-License-Identifier: Apache-2.0

package bridge

import (
	"context"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// A RoundTripper serves self-contained requests of the stateless MCP
// revision (2026-07-28 and later): each request carries its protocol version
// and client capabilities in params._meta and is answered on its own, with
// no session. A back that can serve such requests implements RoundTripper
// beside [Dialer]; a front holding a modern request hands it to the back's
// RoundTripper, or answers it itself when the back has none (see
// rpcmsg.CodeUnsupportedProtocolVersion).
//
// RoundTrip sends req to the back and returns the back's response to it.
// Messages that the back sends for this request before the response
// (notifications/progress, notifications/message, and, for
// subscriptions/listen, the notifications of the listen stream) are passed
// to notify, in order, from the goroutine that called RoundTrip or another;
// notify must not block for long and must not be called after RoundTrip
// returns. Ids, progress tokens and subscription ids in the response and the
// notifications are the client's own: a RoundTripper that shares one back
// between clients rewrites them on the way in and restores them on the way
// out, so that each caller sees only its own messages.
//
// When ctx is done before the response arrives, RoundTrip tells the back
// that the request is cancelled (notifications/cancelled on stdio, a cancel
// message on a queue) and returns ctx.Err(). When the back cannot answer
// (it died, it is unreachable, it timed out) RoundTrip returns a JSON-RPC
// error response, code [CodeServerUnavailable], and a nil error, so that the
// front can forward it as it forwards any answer. A non-nil error means the
// request was not answered and the front decides what the client sees.
type RoundTripper interface {
	RoundTrip(ctx context.Context, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error)
}
