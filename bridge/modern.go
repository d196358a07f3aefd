// SPDX-License-Identifier: Apache-2.0

package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// MaxModernInFlight bounds the modern requests that [ServeConn] serves at
// once for one front connection; past it, a new request is answered at once
// with a JSON-RPC error (code [CodeServerUnavailable]), and reading goes on
// so that the client can still cancel what is in flight.
const MaxModernInFlight = 256

// ServeConn serves one front connection whose client may speak either
// protocol era, until the front ends or ctx is done, then closes the front.
//
// Each modern request (a call whose params._meta declares a protocol
// version that is not a session-based one, see rpcmsg.IsModernEnvelope:
// 2026-07-28, a later one, or an unknown one that the back answers with
// -32022) is served by rt.RoundTrip on a
// goroutine of its own, so slow calls do not hold up others; notifications
// the back sends for it and then its response are written to the front as
// they come, so answers leave in completion order, not arrival order. A
// notifications/cancelled from the client naming an in-flight modern
// request cancels that request's ctx (rt then tells its back); it is not
// forwarded anywhere else. When rt returns an error other than the
// cancellation, the client gets a JSON-RPC error with code
// [CodeServerUnavailable] naming it.
//
// Every other message (initialize and the rest of a session-based
// conversation) goes to a back connection dialed from d when the first
// such request arrives and pumped as [DialAndPump] does; when that back
// ends, the front is closed, as with [Pump]. Notifications and responses
// that arrive before any session-based request (a late
// notifications/cancelled for a finished modern request, which the spec
// says to ignore) are dropped with a debug log line. With d nil,
// session-based requests get a JSON-RPC error (-32022) saying that this
// endpoint serves 2026-07-28 requests only.
//
// When the front ends, requests still in flight are cancelled and the
// legacy back is closed; ServeConn returns once every goroutine it started
// has finished. It returns nil when the front ended normally or ctx was
// cancelled, else the error that stopped it.
//
// With rt nil, ServeConn is [DialAndPump].
func ServeConn(ctx context.Context, front mcp.Connection, rt RoundTripper, d Dialer, opts *Options) error {
	if rt == nil {
		return DialAndPump(ctx, front, d, opts)
	}
	log := opts.logger().With("session", front.SessionID())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		inflight = map[jsonrpc.ID]*flight{}
		sem      = make(chan struct{}, MaxModernInFlight)
		legacy   *legacyFront
		failure  error // set by the session-based pump
	)
	result := func() error {
		mu.Lock()
		defer mu.Unlock()
		return failure
	}
	defer func() {
		cancel()
		if legacy != nil {
			legacy.closeInput()
		}
		wg.Wait()
		front.Close()
	}()

	for {
		msg, err := front.Read(ctx)
		if err != nil {
			if !isEOF(err) && ctx.Err() == nil {
				log.Warn("client side ended", "err", err)
				return err
			}
			return result()
		}
		req, _ := msg.(*jsonrpc.Request)
		if req != nil && req.IsCall() && rpcmsg.IsModernEnvelope(req.Params) {
			select {
			case sem <- struct{}{}:
			default:
				// Refuse rather than stop reading: the client must still be
				// able to cancel what is in flight (listen streams stay open).
				log.Warn("refusing a modern request: too many in flight", "limit", MaxModernInFlight, "method", req.Method)
				front.Write(ctx, errorResponse(req.ID, CodeServerUnavailable,
					fmt.Sprintf("too many requests in flight on this connection (limit %d); retry when one has finished", MaxModernInFlight)))
				continue
			}
			rctx, rcancel := context.WithCancel(ctx)
			f := &flight{cancel: rcancel}
			mu.Lock()
			if old, dup := inflight[req.ID]; dup {
				// Ids must be unique among a client's requests in flight; the
				// older request can no longer be told apart, so it ends.
				log.Warn("client reused the id of a request in flight; cancelling the older one", "id", req.ID.Raw())
				old.cancel()
			}
			inflight[req.ID] = f
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				serveModern(rctx, front, rt, req, log)
				mu.Lock()
				if inflight[req.ID] == f {
					delete(inflight, req.ID)
				}
				mu.Unlock()
				rcancel()
			}()
			continue
		}
		if req != nil && !req.IsCall() && req.Method == "notifications/cancelled" {
			if id, ok := rpcmsg.CancelledID(req.Params); ok {
				mu.Lock()
				f, found := inflight[id]
				mu.Unlock()
				if found {
					f.cancel()
					continue
				}
			}
		}
		// Session-based traffic. A session opens with initialize, a call;
		// anything else before one (a late cancellation of a finished
		// modern request, which the spec says to ignore) has no session to
		// go to.
		if legacy == nil && (req == nil || !req.IsCall()) {
			log.Debug("ignoring a message outside any request or session", "message", describe(msg))
			continue
		}
		if d == nil {
			log.Warn("refusing a session-based request: this endpoint serves 2026-07-28 requests only", "method", req.Method)
			front.Write(ctx, &jsonrpc.Response{ID: req.ID, Error: &jsonrpc.Error{
				Code:    rpcmsg.CodeUnsupportedProtocolVersion,
				Message: "this endpoint serves protocol version " + rpcmsg.ModernVersion + " requests only",
				Data:    json.RawMessage(`{"supported":["` + rpcmsg.ModernVersion + `"]}`),
			}})
			continue
		}
		if legacy == nil {
			legacy = newLegacyFront(front)
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := DialAndPump(ctx, legacy, d, opts)
				if err != nil && ctx.Err() == nil {
					mu.Lock()
					failure = err
					mu.Unlock()
				}
				// The session-based back ended (or could not be opened and
				// the client went away): so does the front, as with Pump.
				cancel()
			}()
		}
		if !legacy.feed(ctx, msg) {
			return result()
		}
	}
}

// flight is one modern request in progress.
type flight struct{ cancel context.CancelFunc }

// serveModern runs one modern request through rt and writes what comes back
// to front.
func serveModern(ctx context.Context, front mcp.Connection, rt RoundTripper, req *jsonrpc.Request, log *slog.Logger) {
	notify := func(n *jsonrpc.Request) {
		if err := front.Write(ctx, n); err != nil && ctx.Err() == nil {
			log.Warn("could not write a notification to the client", "method", n.Method, "err", err)
		}
	}
	resp, err := rt.RoundTrip(ctx, req, notify)
	if err != nil {
		if ctx.Err() != nil {
			return // cancelled by the client (or the front ended): no answer is due
		}
		log.Warn("modern request failed", "method", req.Method, "id", req.ID.Raw(), "err", err)
		resp = errorResponse(req.ID, CodeServerUnavailable, fmt.Sprintf("MCP server unavailable: %v", err))
	}
	if resp == nil {
		resp = errorResponse(req.ID, CodeServerUnavailable, "MCP server gave no answer")
	}
	resp.ID = req.ID
	if err := front.Write(ctx, resp); err != nil && ctx.Err() == nil {
		log.Warn("could not write a response to the client", "id", req.ID.Raw(), "err", err)
	}
}

func describe(m jsonrpc.Message) string {
	switch m := m.(type) {
	case *jsonrpc.Request:
		return m.Method
	case *jsonrpc.Response:
		return fmt.Sprintf("response %v", m.ID.Raw())
	}
	return "?"
}

// legacyFront is the front connection as the session-based pump sees it:
// it reads the messages ServeConn feeds it and writes to the real front.
type legacyFront struct {
	front  mcp.Connection
	in     chan jsonrpc.Message
	done   chan struct{} // closed by closeInput: no more messages
	closed chan struct{} // closed by Close
	once   sync.Once
	conce  sync.Once
}

func newLegacyFront(front mcp.Connection) *legacyFront {
	return &legacyFront{front: front, in: make(chan jsonrpc.Message), done: make(chan struct{}), closed: make(chan struct{})}
}

// feed hands msg to the pump; false when the pump or ctx ended first.
func (l *legacyFront) feed(ctx context.Context, msg jsonrpc.Message) bool {
	select {
	case l.in <- msg:
		return true
	case <-l.closed:
		return false
	case <-ctx.Done():
		return false
	}
}

func (l *legacyFront) closeInput() { l.once.Do(func() { close(l.done) }) }

func (l *legacyFront) SessionID() string { return l.front.SessionID() }

func (l *legacyFront) Read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case m := <-l.in:
		return m, nil
	case <-l.done:
		return nil, mcp.ErrConnectionClosed
	case <-l.closed:
		return nil, mcp.ErrConnectionClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *legacyFront) Write(ctx context.Context, m jsonrpc.Message) error {
	select {
	case <-l.closed:
		return mcp.ErrConnectionClosed
	default:
	}
	return l.front.Write(ctx, m)
}

// Close stops the session-based side only; ServeConn closes the real front.
func (l *legacyFront) Close() error {
	l.conce.Do(func() { close(l.closed) })
	return nil
}

type headerKey struct{}

// WithHeader returns a copy of ctx that carries h: HTTP headers a front
// received with a modern request and that the back should pass on where it
// speaks HTTP (the Mcp-Param-* headers, which only the server can check
// against the tool's schema). A [RoundTripper] reads them with
// [HeaderFromContext]. An HTTP front sets it for every request, with an
// empty h when the client sent none, so that a back can tell a client that
// sends its own Mcp-Param-* headers (forward them, add none) from one that
// cannot (a stdio or queue client; see remote.Streamable.RoundTrip).
func WithHeader(ctx context.Context, h http.Header) context.Context {
	return context.WithValue(ctx, headerKey{}, h)
}

// HeaderFromContext returns the headers stored by [WithHeader], or nil.
func HeaderFromContext(ctx context.Context) http.Header {
	h, _ := ctx.Value(headerKey{}).(http.Header)
	return h
}
