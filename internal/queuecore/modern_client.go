// SPDX-License-Identifier: Apache-2.0

package queuecore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/wire"
	"github.com/asyncmcp/asyncmcp-go/tasks"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Defaults of the stateless side of a [Client].
const (
	defaultMaxInFlight = 10000
	// reorderGrace is how long a response waits for notifications of its
	// request that it overtook on the queue.
	reorderGrace = 2 * time.Second
	// seqWindow bounds how many out-of-order sequence numbers a request
	// tracks.
	seqWindow = 4096
)

// modernClient is the stateless side of a [Client]: requests in flight,
// keyed by their RequestKey.
type modernClient struct {
	mu       sync.Mutex
	inflight map[string]*modernPending
	closed   bool
}

// A modernPending is a stateless request awaiting its answer.
type modernPending struct {
	id     jsonrpc.ID
	notify func(*jsonrpc.Request)
	resp   chan received // capacity 1
	kick   chan struct{} // capacity 1: a notification arrived

	mu     sync.Mutex
	done   bool // RoundTrip returned: notify is no longer called
	mark   int  // every Seq up to mark was received
	above  map[int]bool
	closed string // non-empty: the client closed, with this reason
}

// seen records sequence number n; it reports false for a duplicate.
// p.mu is held.
func (p *modernPending) seen(n int) bool {
	if n <= p.mark || p.above[n] {
		return false
	}
	if p.above == nil {
		p.above = map[int]bool{}
	}
	p.above[n] = true
	for p.above[p.mark+1] {
		delete(p.above, p.mark+1)
		p.mark++
	}
	if len(p.above) > seqWindow {
		// A gap that never fills: give up on it.
		p.mark++
		for p.above[p.mark+1] {
			delete(p.above, p.mark+1)
			p.mark++
		}
	}
	return true
}

func seqOf(d wire.Decoded) int {
	n, _ := strconv.Atoi(d.Attrs.Get(wire.AttrSeq))
	return n
}

// RoundTrip sends one stateless (2026-07-28) request to the server's queue
// or topic, with a fresh RequestKey and this client's response queue as
// ReplyTo, and waits for the response routed back by that key. The
// request's notifications are passed to notify. When ctx is done it sends a
// cancel message (notifications/cancelled carrying the RequestKey), unless
// the cause of ctx is tasks.ErrClosing (the call belongs to an MCP task that
// the next process resumes, see [Client.Resume]), and returns ctx.Err(). A
// request too large for the destination, a failed send,
// ClientConfig.RequestTimeout passing with neither the answer nor a
// notification of the request (listens excepted), and closing the client
// are answered with a JSON-RPC error response and a nil error. Once the
// request is sent, it reports the request's correlation with
// tasks.SetCorrelation. It implements bridge.RoundTripper.
func (c *Client) RoundTrip(ctx context.Context, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	if !req.IsCall() {
		return nil, fmt.Errorf("queue client: RoundTrip needs a request with an id, got notification %s", req.Method)
	}
	cfg := &c.cfg
	key := wire.NewID()
	p, release, refused := c.register(key, req, notify)
	if refused != nil {
		return refused, nil
	}
	defer release()
	log := c.log.With("request_key", key, "id", req.ID.Raw(), "method", req.Method)

	env, err := wire.EncodeModern(req, wire.ModernHeader{ClientID: cfg.ClientID, ReplyTo: cfg.ReplyTo, RequestKey: key})
	if err != nil {
		return wire.ErrorResponse(req.ID, jsonrpc.CodeInvalidRequest, err.Error()), nil
	}
	if size, limit := env.Size(), limitFor(cfg.RequestDest, cfg.MaxMessageBytes); size > limit {
		log.Warn("request too large for the queue", "size", size, "limit", limit)
		return wire.ErrorResponse(req.ID, wire.CodeMessageTooLarge, "request "+wire.TooLargeError(size, limit, cfg.RequestDest).Error()), nil
	}
	if err := cfg.Sender.Send(ctx, cfg.RequestDest, env); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		log.Error("sending stateless request", "err", err)
		return wire.ErrorResponse(req.ID, bridge.CodeServerUnavailable, "MCP server unreachable: "+err.Error()), nil
	}
	tasks.SetCorrelation(ctx, encodeCorrelation(key, cfg.ClientID, cfg.ReplyTo))
	return c.await(ctx, p, req, key, cfg.ClientID, log)
}

// register puts a stateless request in flight under key; release takes it
// out. When the client is closed or full, it returns the error response to
// answer instead.
func (c *Client) register(key string, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (p *modernPending, release func(), refused *jsonrpc.Response) {
	p = &modernPending{id: req.ID, notify: notify, resp: make(chan received, 1), kick: make(chan struct{}, 1)}
	m := c.modern
	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		return nil, nil, wire.ErrorResponse(req.ID, bridge.CodeServerUnavailable, "queue client closed")
	case len(m.inflight) >= c.cfg.MaxInFlight:
		m.mu.Unlock()
		return nil, nil, wire.ErrorResponse(req.ID, bridge.CodeServerUnavailable, fmt.Sprintf("too many requests in flight on this queue client (limit %d)", c.cfg.MaxInFlight))
	case m.inflight[key] != nil:
		m.mu.Unlock()
		return nil, nil, wire.ErrorResponse(req.ID, bridge.CodeServerUnavailable, "a request with this RequestKey is already awaited")
	}
	m.inflight[key] = p
	m.mu.Unlock()
	return p, func() {
		m.mu.Lock()
		delete(m.inflight, key)
		m.mu.Unlock()
		p.mu.Lock()
		p.done = true
		p.mu.Unlock()
	}, nil
}

// await waits for the answer of the request in flight as p under key, sent
// by the client clientID (which a cancel must name).
func (c *Client) await(ctx context.Context, p *modernPending, req *jsonrpc.Request, key, clientID string, log *slog.Logger) (*jsonrpc.Response, error) {
	cfg := &c.cfg
	// The timeout restarts with every notification of the request, so a
	// long call that reports progress is not cut; listens have none.
	var timeout <-chan time.Time
	var timer *time.Timer
	if cfg.RequestTimeout > 0 && req.Method != "subscriptions/listen" {
		timer = time.NewTimer(cfg.RequestTimeout)
		defer timer.Stop()
		timeout = timer.C
	}
	for {
		select {
		case r := <-p.resp:
			if r.decoded.Msg == nil {
				// The client is closing: let the server stop working on it.
				c.sendCancel(req.ID, clientID, key, "client closed")
			}
			return c.complete(ctx, p, r)
		case <-p.kick:
			if timer != nil {
				timer.Reset(cfg.RequestTimeout)
			}
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), tasks.ErrClosing) {
				log.Debug("stateless request left running for the task that the next process resumes")
			} else {
				c.sendCancel(req.ID, clientID, key, "request cancelled by the client")
			}
			return nil, ctx.Err()
		case <-timeout:
			log.Warn("no answer nor notification within the request timeout; cancelling", "timeout", cfg.RequestTimeout)
			c.sendCancel(req.ID, clientID, key, "request timed out")
			return wire.ErrorResponse(req.ID, wire.CodeRequestTimeout, fmt.Sprintf("no answer from the server within %s (and no notification); request cancelled", cfg.RequestTimeout)), nil
		}
	}
}

// complete returns the response once the notifications it overtook have
// arrived (or reorderGrace passed).
func (c *Client) complete(ctx context.Context, p *modernPending, r received) (*jsonrpc.Response, error) {
	if r.decoded.Msg == nil {
		p.mu.Lock()
		reason := p.closed
		p.mu.Unlock()
		return wire.ErrorResponse(p.id, bridge.CodeServerUnavailable, reason), nil
	}
	resp := r.decoded.Msg.(*jsonrpc.Response)
	resp.ID = p.id
	if n := seqOf(r.decoded); n > 1 {
		grace := time.NewTimer(reorderGrace)
		defer grace.Stop()
		for {
			p.mu.Lock()
			complete := p.mark >= n-1
			p.mu.Unlock()
			if complete {
				break
			}
			select {
			case <-p.kick:
			case <-grace.C:
				c.log.Debug("response arrived before some of its notifications; not waiting longer", "id", p.id.Raw())
				return resp, nil
			case <-ctx.Done():
				return resp, nil
			}
		}
	}
	return resp, nil
}

// sendCancel tells the server that the request with key, sent by the
// client clientID, is cancelled.
func (c *Client) sendCancel(id jsonrpc.ID, clientID, key, reason string) {
	params := fmt.Appendf(nil, `{"requestId":%s,"reason":%q}`, wire.IDString(id), reason)
	env, err := wire.EncodeModern(&jsonrpc.Request{Method: wire.MethodCancelled, Params: params}, wire.ModernHeader{ClientID: clientID, RequestKey: key})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.cfg.Sender.Send(ctx, c.cfg.RequestDest, env); err != nil {
		c.log.Warn("sending cancel of a stateless request", "request_key", key, "err", err)
	}
}

// handleModern routes one message of the reply stream of a stateless
// request, by RequestKey. It reports false when the message is not one.
func (c *Client) handleModern(r received) bool {
	d := r.decoded
	key := d.Attrs.Get(wire.AttrRequestKey)
	if d.SessionID != "" || d.Type != wire.TypeJSONRPC {
		return false
	}
	m := c.modern
	m.mu.Lock()
	p := m.inflight[key]
	if key == "" {
		// A server that knows no stateless requests answers without
		// RequestKey (and without SessionId): match the id, if exactly one
		// request in flight has it.
		resp, ok := d.Msg.(*jsonrpc.Response)
		if !ok {
			m.mu.Unlock()
			return false
		}
		n := 0
		for _, q := range m.inflight {
			if q.id == resp.ID {
				p, n = q, n+1
			}
		}
		if n != 1 {
			m.mu.Unlock()
			return false
		}
	}
	m.mu.Unlock()
	log := c.log.With("message_id", r.messageID, "request_key", key)
	if p == nil {
		switch {
		case d.ClientID == c.cfg.ClientID || d.ClientID == "":
			log.Debug("message for a stateless request no longer in flight dropped")
			c.reader.delete(r.receipt)
		case r.receiveCount < c.cfg.MaxReceiveCount:
			log.Debug("message for a request of another client made visible again", "owner", d.ClientID)
			c.reader.release(r.receipt)
		default:
			log.Warn("message for an unknown request received too often; deleted", "owner", d.ClientID)
			c.reader.delete(r.receipt)
		}
		return true
	}
	c.reader.delete(r.receipt)
	if d.Err != nil {
		log.Warn("malformed message from server dropped", "code", d.Err.Code, "reason", d.Err.Message)
		return true
	}
	switch msg := d.Msg.(type) {
	case *jsonrpc.Response:
		if msg.ID != p.id {
			log.Warn("response names another id than its RequestKey's request; dropped", "id", msg.ID.Raw(), "want", p.id.Raw())
			return true
		}
		select {
		case p.resp <- r:
		default:
			log.Debug("duplicate response dropped")
		}
	case *jsonrpc.Request:
		p.mu.Lock()
		fresh := true
		if n := seqOf(d); n > 0 {
			fresh = p.seen(n)
		}
		if fresh && !p.done && p.notify != nil {
			p.notify(msg)
		}
		p.mu.Unlock()
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
	return true
}

// closeModern answers every stateless request in flight with an error.
func (c *Client) closeModern() {
	m := c.modern
	m.mu.Lock()
	m.closed = true
	for _, p := range m.inflight {
		p.mu.Lock()
		p.closed = "queue client closed"
		p.mu.Unlock()
		select {
		case p.resp <- received{}:
		default:
		}
	}
	m.mu.Unlock()
}

// A clientDialer is what [Client.Dialer] returns: a bridge.Dialer whose
// each Dial opens a new session, and a bridge.RoundTripper for stateless
// requests.
type clientDialer struct{ c *Client }

var _ bridge.RoundTripper = clientDialer{}

func (d clientDialer) Dial(ctx context.Context) (mcp.Connection, error) { return d.c.Connect(ctx) }

func (d clientDialer) RoundTrip(ctx context.Context, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	return d.c.RoundTrip(ctx, req, notify)
}

// Resume implements tasks.Resumer with [Client.Resume].
func (d clientDialer) Resume(ctx context.Context, correlation []byte, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	return d.c.Resume(ctx, correlation, req, notify)
}
