// SPDX-License-Identifier: Apache-2.0

package webhook

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/asyncmcp/asyncmcp-go/internal/wire"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

var _ bridge.RoundTripper = (*Client)(nil)

// modernPending is a stateless request of a [Client] awaiting its answer.
type modernPending struct {
	id     jsonrpc.ID
	key    string
	notify func(*jsonrpc.Request)
	resp   chan *jsonrpc.Response // capacity 1
	seen   seenIDs

	mu   sync.Mutex
	done bool // RoundTrip returned: notify is no longer called
}

// RoundTrip sends one stateless (2026-07-28) request: a POST without
// X-Session-ID, with a fresh X-Request-Key, this client's webhook URL as
// X-Webhook-URL and the Streamable HTTP headers mirrored from the body. The
// server answers the POST at once and delivers the request's notifications
// (passed to notify) and then its response to the webhook, tagged with
// [RequestTag] of the key and signed with the key (or the configured
// Secret). When ctx is done it POSTs notifications/cancelled with the key
// and returns ctx.Err(). An HTTP error reply, an unreachable server,
// ResponseTimeout passing (listens excepted) and Close are answered with a
// JSON-RPC error response and a nil error. It implements bridge.RoundTripper.
func (c *Client) RoundTrip(ctx context.Context, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	if !req.IsCall() {
		return nil, fmt.Errorf("webhook: RoundTrip needs a request with an id, got notification %s", req.Method)
	}
	u := c.WebhookURL()
	if u == "" {
		return errResp(req.ID, CodeTransportError, "webhook: no WebhookURL: set ClientOptions.WebhookURL or call Listen"), nil
	}
	key := newID()
	tag := RequestTag(key)
	p := &modernPending{id: req.ID, key: key, notify: notify, resp: make(chan *jsonrpc.Response, 1), seen: seenIDs{window: c.opts.ReplayTolerance}}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errResp(req.ID, CodeTransportError, "webhook: client closed"), nil
	}
	c.modern[tag] = p
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.modern, tag)
		c.mu.Unlock()
		p.mu.Lock()
		p.done = true
		p.mu.Unlock()
	}()
	body, err := jsonrpc.EncodeMessage(req)
	if err != nil {
		return errResp(req.ID, jsonrpc.CodeInvalidRequest, "webhook: encoding request: "+err.Error()), nil
	}
	status, reply, err := c.postMessage(ctx, body, func(h http.Header) {
		h.Set(HeaderRequestKey, key)
		h.Set(HeaderReplyURL, u)
		h.Set(HeaderMCPProtocolVersion, rpcmsg.RequestVersion(req.Params))
		h.Set(HeaderMcpMethod, req.Method)
		if name, ok := wire.McpNameOf(req); ok {
			h.Set(HeaderMcpName, wire.EncodeMcpName(name))
		}
		routingHeaders(h, req)
	})
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil:
		return errResp(req.ID, CodeTransportError, err.Error()), nil
	case status/100 != 2:
		if msg, derr := rpcmsg.Decode(reply); derr == nil {
			if r, ok := msg.(*jsonrpc.Response); ok && r.Error != nil {
				r.ID = req.ID
				return r, nil
			}
		}
		code, text := replyError(reply)
		if code == 0 {
			code = CodeTransportError
		}
		return errResp(req.ID, code, fmt.Sprintf("webhook server %s answered HTTP %d: %s", c.opts.ServerURL, status, text)), nil
	}
	var timeout <-chan time.Time
	if t := c.opts.ResponseTimeout; t > 0 && req.Method != "subscriptions/listen" {
		tm := time.NewTimer(t)
		defer tm.Stop()
		timeout = tm.C
	}
	select {
	case r := <-p.resp:
		if r == nil {
			return errResp(req.ID, CodeTransportError, "webhook: client closed"), nil
		}
		r.ID = req.ID
		return r, nil
	case <-ctx.Done():
		c.cancelStateless(req.ID, key, "request cancelled by the client")
		return nil, ctx.Err()
	case <-timeout:
		c.cancelStateless(req.ID, key, "request timed out")
		return errResp(req.ID, CodeTransportError, fmt.Sprintf("no response delivered within %s", c.opts.ResponseTimeout)), nil
	}
}

func errResp(id jsonrpc.ID, code int64, msg string) *jsonrpc.Response {
	return &jsonrpc.Response{ID: id, Error: &jsonrpc.Error{Code: code, Message: msg}}
}

// cancelStateless tells the server that the request with key is cancelled.
func (c *Client) cancelStateless(id jsonrpc.ID, key, reason string) {
	body := fmt.Appendf(nil, `{"jsonrpc":"2.0","method":%q,"params":{"requestId":%s,"reason":%q}}`, wire.MethodCancelled, wire.IDString(id), reason)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	status, reply, err := c.postMessage(ctx, body, func(h http.Header) {
		h.Set(HeaderRequestKey, key)
		h.Set(HeaderMethod, wire.MethodCancelled)
	})
	if err != nil || status/100 != 2 {
		_, text := replyError(reply)
		c.log.Warn("webhook: cancelling a stateless request", "status", status, "reply", text, "error", err)
	}
}

// lookupModern finds the stateless request a delivery's X-Request-Tag names.
func (c *Client) lookupModern(tag string) (ReceiverSession, error) {
	c.mu.Lock()
	p := c.modern[tag]
	c.mu.Unlock()
	if p == nil {
		return nil, nil
	}
	return &modernInbox{p: p, secret: c.opts.Secret, c: c}, nil
}

// modernInbox is a stateless request as the Receiver sees it.
type modernInbox struct {
	p      *modernPending
	secret string
	c      *Client
}

// Secret returns the configured secret, else the request's key.
func (in *modernInbox) Secret(context.Context) (string, error) {
	return firstNonEmpty(in.secret, in.p.key), nil
}

func (in *modernInbox) FirstSeen(id string, now time.Time) bool { return in.p.seen.add(id, now) }

// Deliver passes a notification to the caller, or settles the request.
func (in *modernInbox) Deliver(_ context.Context, msg jsonrpc.Message) (string, error) {
	p := in.p
	switch m := msg.(type) {
	case *jsonrpc.Response:
		if m.ID != p.id {
			in.c.log.Warn("webhook: stateless delivery names another request id; dropped", "request_id", idString(m.ID))
			return "success", nil
		}
		select {
		case p.resp <- m:
		default:
		}
	case *jsonrpc.Request:
		p.mu.Lock()
		if !p.done && p.notify != nil {
			p.notify(m)
		}
		p.mu.Unlock()
	}
	return "success", nil
}

// closeModern answers every stateless request in flight with an error.
func (c *Client) closeModern() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.modern {
		select {
		case p.resp <- nil:
		default:
		}
	}
}
