// SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// knownMethods are the method label values; any other method is "other".
var knownMethods = map[string]bool{
	"initialize": true, "ping": true, "server/discover": true,
	"tools/list": true, "tools/call": true,
	"resources/list": true, "resources/read": true, "resources/templates/list": true,
	"resources/subscribe": true, "resources/unsubscribe": true,
	"prompts/list": true, "prompts/get": true,
	"completion/complete": true, "logging/setLevel": true,
	"tasks/get": true, "tasks/result": true, "tasks/list": true, "tasks/cancel": true,
	"subscriptions/listen": true,
}

// MethodLabel maps a JSON-RPC method to a bounded label value.
func MethodLabel(method string) string {
	if knownMethods[method] {
		return method
	}
	return "other"
}

// maxTracked bounds the requests one connection tracks for timing; beyond
// it, requests are still counted when answered but not timed.
const maxTracked = 4096

// A tracker times the requests of one back connection.
type tracker struct {
	server string
	mu     sync.Mutex
	open   map[jsonrpc.ID]pending
}

type pending struct {
	method string
	start  time.Time
}

func (t *tracker) sent(req *jsonrpc.Request) {
	if !req.IsCall() {
		if req.Method == "notifications/cancelled" {
			t.cancelled(req)
		}
		return
	}
	t.mu.Lock()
	if len(t.open) < maxTracked {
		t.open[req.ID] = pending{method: MethodLabel(req.Method), start: time.Now()}
	}
	t.mu.Unlock()
}

func (t *tracker) cancelled(req *jsonrpc.Request) {
	id, ok := rpcmsg.CancelledID(req.Params)
	if !ok {
		return
	}
	t.mu.Lock()
	pd, ok := t.open[id]
	delete(t.open, id)
	t.mu.Unlock()
	if ok {
		Requests.WithLabelValues(t.server, pd.method, "cancelled").Inc()
	}
}

// unsent forgets a request that could not be written; it is not counted.
func (t *tracker) unsent(req *jsonrpc.Request) {
	t.mu.Lock()
	delete(t.open, req.ID)
	t.mu.Unlock()
}

func (t *tracker) answered(resp *jsonrpc.Response) {
	t.mu.Lock()
	pd, ok := t.open[resp.ID]
	delete(t.open, resp.ID)
	t.mu.Unlock()
	if !ok {
		return
	}
	out := "ok"
	if resp.Error != nil {
		out = "error"
	}
	Requests.WithLabelValues(t.server, pd.method, out).Inc()
	RequestDuration.WithLabelValues(t.server, pd.method).Observe(time.Since(pd.start).Seconds())
}

// closed counts every request still open as unanswered.
func (t *tracker) closed() {
	t.mu.Lock()
	open := t.open
	t.open = map[jsonrpc.ID]pending{}
	t.mu.Unlock()
	for _, pd := range open {
		Requests.WithLabelValues(t.server, pd.method, "unanswered").Inc()
	}
}

// ObserveConn wraps a back connection of server so that the requests written
// to it and the responses read from it are counted and timed, and the session
// is counted as open until Close.
func ObserveConn(server string, c mcp.Connection) mcp.Connection {
	SessionsOpen.WithLabelValues(server).Inc()
	SessionsTotal.WithLabelValues(server).Inc()
	return &observedConn{Connection: c, t: &tracker{server: server, open: map[jsonrpc.ID]pending{}}}
}

type observedConn struct {
	mcp.Connection
	t    *tracker
	once sync.Once
}

func (c *observedConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	// Record the request before it goes out: a fast answer can be read
	// before Write returns.
	req, isReq := msg.(*jsonrpc.Request)
	if isReq {
		c.t.sent(req)
	}
	err := c.Connection.Write(ctx, msg)
	if isReq && err != nil && req.IsCall() {
		c.t.unsent(req)
	}
	return err
}

func (c *observedConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	msg, err := c.Connection.Read(ctx)
	if resp, ok := msg.(*jsonrpc.Response); ok && err == nil {
		c.t.answered(resp)
	}
	return msg, err
}

func (c *observedConn) Close() error {
	err := c.Connection.Close()
	c.once.Do(func() {
		c.t.closed()
		SessionsOpen.WithLabelValues(c.t.server).Dec()
	})
	return err
}

// ObserveRoundTrip records one self-contained (stateless) request of server:
// call it when the request is sent; the returned function takes the answer
// (nil with err when there is none).
func ObserveRoundTrip(server, method string) func(resp *jsonrpc.Response, err error) {
	start := time.Now()
	m := MethodLabel(method)
	return func(resp *jsonrpc.Response, err error) {
		out := "ok"
		switch {
		case err != nil:
			out = "unanswered"
			if err == context.Canceled {
				out = "cancelled"
			}
		case resp != nil && resp.Error != nil:
			out = "error"
		}
		Requests.WithLabelValues(server, m, out).Inc()
		if err == nil {
			RequestDuration.WithLabelValues(server, m).Observe(time.Since(start).Seconds())
		}
	}
}
