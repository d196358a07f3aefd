// SPDX-License-Identifier: Apache-2.0

package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/outbox"
	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/asyncmcp/asyncmcp-go/internal/wire"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Headers of stateless (2026-07-28) requests; see "Stateless requests" in
// docs/webhook-format.md.
const (
	// HeaderRequestKey carries the client's key of one stateless request
	// (as the RequestKey attribute of the queue transports): the server's
	// dedupe key and the capability a cancel presents.
	HeaderRequestKey = "X-Request-Key"
	// HeaderReplyURL names the webhook URL the request's reply stream is
	// delivered to.
	HeaderReplyURL = "X-Webhook-URL"
	// HeaderRequestTag names, on a delivery, the stateless request it
	// belongs to: [RequestTag] of its key. The key itself never travels
	// back.
	HeaderRequestTag = "X-Request-Tag"
	// HeaderSeq numbers the deliveries of one request, from 1.
	HeaderSeq = "X-Seq"
	// The standard headers of the Streamable HTTP binding, checked against
	// the body as that binding does.
	HeaderMCPProtocolVersion = "MCP-Protocol-Version"
	HeaderMcpMethod          = "Mcp-Method"
	HeaderMcpName            = "Mcp-Name"
)

// Defaults of the stateless side of a [Server].
const (
	DefaultListenTimeout  = time.Hour
	defaultMaxModernCalls = 1024
	modernAnswerCache     = 1024 // answers kept to re-deliver to a retried POST
	modernOutboxLen       = 256
	shutdownDeliveryWait  = 5 * time.Second
)

// RequestTag returns the X-Request-Tag of the deliveries of the stateless
// request with key: the first 32 hex digits of SHA-256("asyncmcp-tag:" +
// key).
func RequestTag(key string) string {
	sum := sha256.Sum256([]byte("asyncmcp-tag:" + key))
	return hex.EncodeToString(sum[:16])
}

// Why a stateless call's context ended.
var (
	errClientCancel  = errors.New("cancelled by the client")
	errListenTimeout = errors.New("listen timeout")
	errShutdown      = errors.New("server shutting down")
)

// modernServer serves the stateless requests POSTed to a [Server].
type modernServer struct {
	s *Server

	mu       sync.Mutex
	running  map[string]*modernCall // by client id + "\x00" + key
	answers  map[string][]byte      // encoded final message, by the same key
	order    []string               // answers, oldest first
	shutdown bool
	wg       sync.WaitGroup
}

type modernCall struct {
	key, clientID, reqKey, url, secret string
	id                                 jsonrpc.ID
	cancel                             context.CancelCauseFunc
}

func newModernServer(s *Server) *modernServer {
	return &modernServer{s: s, running: map[string]*modernCall{}, answers: map[string][]byte{}}
}

// claims reports whether a POST without X-Session-ID is stateless traffic.
func (m *modernServer) claims(r *http.Request, msg jsonrpc.Message) bool {
	if r.Header.Get(HeaderRequestKey) != "" {
		return true
	}
	req, ok := msg.(*jsonrpc.Request)
	return ok && req.IsCall() && rpcmsg.IsModernEnvelope(req.Params)
}

// serve answers one stateless POST at once; the request runs on.
func (m *modernServer) serve(w http.ResponseWriter, r *http.Request, msg jsonrpc.Message, clientID string) {
	s := m.s
	req, ok := msg.(*jsonrpc.Request)
	var id jsonrpc.ID
	if ok {
		id = req.ID
	}
	key := r.Header.Get(HeaderRequestKey)
	switch {
	case ok && !req.IsCall() && req.Method == wire.MethodCancelled:
		m.cancel(w, r, req, clientID, key)
		return
	case !ok || !req.IsCall():
		s.fail(w, r, http.StatusBadRequest, id, jsonrpc.CodeInvalidRequest, "a stateless POST carries a request or notifications/cancelled")
		return
	case !wire.ValidRequestKey(key):
		s.fail(w, r, http.StatusBadRequest, id, jsonrpc.CodeInvalidRequest, fmt.Sprintf("stateless request needs an %s header of 32 to 128 characters from [0-9A-Za-z_-]", HeaderRequestKey))
		return
	}
	if err := checkModernHeaders(r.Header, req); err != nil {
		s.fail(w, r, http.StatusBadRequest, id, rpcmsg.CodeHeaderMismatch, err.Error())
		return
	}
	url := r.Header.Get(HeaderReplyURL)
	if url == "" {
		s.fail(w, r, http.StatusBadRequest, id, jsonrpc.CodeInvalidRequest, "stateless request needs an "+HeaderReplyURL+" header naming where to deliver its answer")
		return
	}
	if status, err := checkWebhookURL(url, s.opts.AllowedWebhookHosts, s.opts.AllowLoopback); err != nil {
		s.fail(w, r, status, id, jsonrpc.CodeInvalidParams, err.Error())
		return
	}
	rt := s.opts.RoundTripper
	if rt == nil {
		data, _ := json.Marshal(map[string]any{"supported": rpcmsg.LegacyVersions, "requested": rpcmsg.RequestVersion(req.Params)})
		b, _ := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: id, Error: &jsonrpc.Error{Code: rpcmsg.CodeUnsupportedProtocolVersion,
			Message: "this server's back serves only session-based protocol versions", Data: data}})
		s.log.Warn("webhook: stateless request but the back cannot serve stateless requests; answered -32022", "client", clientID)
		writeJSON(w, http.StatusBadRequest, b)
		return
	}
	dk := clientID + "\x00" + key
	m.mu.Lock()
	if m.shutdown {
		m.mu.Unlock()
		s.fail(w, r, http.StatusServiceUnavailable, id, CodeTransportError, "server is shutting down")
		return
	}
	if _, running := m.running[dk]; running {
		m.mu.Unlock()
		s.log.Info("webhook: stateless request received again while running; not run again", "client", clientID, "request_id", idString(id))
		writeJSON(w, http.StatusOK, []byte(`{"status":"duplicate"}`))
		return
	}
	if final, done := m.answers[dk]; done {
		if final != nil {
			// Started under m.mu, which close takes before it waits.
			secret := firstNonEmpty(s.opts.Secret, key)
			m.wg.Go(func() { s.sender.Deliver(s.stopCtx, url, secret, finalHeaders(key, id), final) })
		}
		m.mu.Unlock()
		s.log.Info("webhook: stateless request received again after it was answered; delivering the answer again", "client", clientID, "request_id", idString(id))
		writeJSON(w, http.StatusOK, []byte(`{"status":"duplicate"}`))
		return
	}
	switch {
	case len(m.running) >= m.maxCalls():
		m.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		s.fail(w, r, http.StatusServiceUnavailable, id, CodeTransportError, fmt.Sprintf("too many stateless requests running (%d); retry later", m.maxCalls()))
		return
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	c := &modernCall{key: dk, clientID: clientID, reqKey: key, url: url, secret: firstNonEmpty(s.opts.Secret, key), id: id, cancel: cancel}
	m.running[dk] = c
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		m.run(ctx, c, req, rt)
	}()
	writeJSON(w, http.StatusOK, []byte(`{"status":"received"}`))
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (m *modernServer) maxCalls() int {
	if n := m.s.opts.MaxStatelessCalls; n > 0 {
		return n
	}
	return defaultMaxModernCalls
}

// checkModernHeaders checks the Streamable HTTP headers of a stateless
// request against its body: MCP-Protocol-Version and Mcp-Method are
// required and must match; Mcp-Name must match params.name, params.uri or
// params.taskId where the binding requires it.
func checkModernHeaders(h http.Header, req *jsonrpc.Request) error {
	v := rpcmsg.RequestVersion(req.Params)
	if got := h.Get(HeaderMCPProtocolVersion); got != v {
		return fmt.Errorf("%s header %q does not match params._meta protocolVersion %q", HeaderMCPProtocolVersion, got, v)
	}
	if got := h.Get(HeaderMcpMethod); got != req.Method {
		return fmt.Errorf("%s header %q does not match method %q", HeaderMcpMethod, got, req.Method)
	}
	if !wire.NeedsMcpName(req.Method) {
		return nil
	}
	name, inBody := wire.McpNameOf(req)
	raw, inHeader := h[http.CanonicalHeaderKey(HeaderMcpName)]
	switch {
	case !inBody && !inHeader:
		return nil
	case !inHeader:
		return fmt.Errorf("missing %s header for %s", HeaderMcpName, req.Method)
	}
	got, ok := wire.DecodeMcpName(raw[0])
	if !ok || !inBody || got != name {
		return fmt.Errorf("%s header %q does not match the body's %q", HeaderMcpName, raw[0], name)
	}
	return nil
}

// finalHeaders are the headers of a delivery of a request's final message.
func finalHeaders(key string, id jsonrpc.ID) http.Header {
	h := http.Header{}
	h.Set(HeaderRequestTag, RequestTag(key))
	h.Set(HeaderRequestID, idString(id))
	return h
}

// run serves one request and delivers its reply stream in order.
func (m *modernServer) run(ctx context.Context, c *modernCall, req *jsonrpc.Request, rt bridge.RoundTripper) {
	s := m.s
	if req.Method == "subscriptions/listen" {
		timeout := s.opts.ListenTimeout
		if timeout == 0 {
			timeout = DefaultListenTimeout
		}
		if timeout > 0 {
			var stop context.CancelFunc
			ctx, stop = context.WithTimeoutCause(ctx, timeout, errListenTimeout)
			defer stop()
		}
	}
	seq := 0
	deliver := func(dctx context.Context, msg jsonrpc.Message) {
		body, err := jsonrpc.EncodeMessage(msg)
		if err != nil {
			s.log.Error("webhook: encoding delivery", "error", err)
			return
		}
		seq++
		h := finalHeaders(c.reqKey, c.id)
		h.Set(HeaderSeq, strconv.Itoa(seq))
		routingHeaders(h, msg)
		h.Set(HeaderRequestID, idString(c.id))
		if _, err := s.sender.Deliver(dctx, c.url, c.secret, h, body); err != nil {
			s.log.Error("webhook: delivery of a stateless reply failed", "client", c.clientID, "request_id", idString(c.id), "url", c.url, "error", err)
		}
	}
	out := outbox.New(modernOutboxLen, func(n *jsonrpc.Request) { deliver(s.stopCtx, n) }, func(n *jsonrpc.Request, why string) {
		if why == outbox.DroppedFull {
			s.log.Warn("webhook: reply stream full; notification dropped", "request_id", idString(c.id), "method", n.Method)
		}
	})
	resp, err := rt.RoundTrip(ctx, req, out.Push)
	out.Close()
	cause := context.Cause(ctx)
	dctx := s.stopCtx
	switch {
	case err == nil && resp != nil:
		resp.ID = c.id
	case errors.Is(cause, errListenTimeout):
		resp = rpcmsg.ListenComplete(c.id)
	case errors.Is(cause, errClientCancel):
		m.finish(c, nil)
		return
	case errors.Is(cause, errShutdown):
		resp = &jsonrpc.Response{ID: c.id, Error: &jsonrpc.Error{Code: CodeTransportError, Message: "webhook server shutting down; request not answered"}}
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(context.Background(), shutdownDeliveryWait)
		defer cancel()
	default:
		if err == nil {
			err = errors.New("no response")
		}
		resp = &jsonrpc.Response{ID: c.id, Error: &jsonrpc.Error{Code: bridge.CodeServerUnavailable, Message: fmt.Sprintf("MCP server unavailable: %v", err)}}
	}
	// Cached before it is delivered, so that a retried POST arriving
	// meanwhile gets it delivered again rather than nothing.
	final, err := jsonrpc.EncodeMessage(resp)
	if err != nil {
		s.log.Error("webhook: encoding response", "error", err)
	}
	m.finish(c, final)
	deliver(dctx, resp)
}

// finish ends a call and caches its final message (nil: cancelled).
func (m *modernServer) finish(c *modernCall, final []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.running, c.key)
	if _, ok := m.answers[c.key]; !ok {
		m.order = append(m.order, c.key)
	}
	m.answers[c.key] = final
	for len(m.order) > modernAnswerCache {
		delete(m.answers, m.order[0])
		m.order = m.order[1:]
	}
}

// cancel handles notifications/cancelled of a stateless request: only the
// request's client presenting its key, and naming its id, cancels it.
func (m *modernServer) cancel(w http.ResponseWriter, r *http.Request, n *jsonrpc.Request, clientID, key string) {
	id, hasID := wire.CancelledID(n)
	m.mu.Lock()
	c := m.running[clientID+"\x00"+key]
	m.mu.Unlock()
	if c == nil || !hasID || id != c.id {
		m.s.log.Warn("webhook: cancel matches no stateless request running here (wrong client, key or id, or already finished); ignored",
			"client", clientID, "request_id", idString(id))
		writeJSON(w, http.StatusOK, []byte(`{"status":"ignored"}`))
		return
	}
	c.cancel(errClientCancel)
	writeJSON(w, http.StatusOK, []byte(`{"status":"cancelled"}`))
}

// close stops accepting stateless requests and cancels those running
// (their clients get an error delivered, best effort); wait waits for them.
func (m *modernServer) close() {
	m.mu.Lock()
	m.shutdown = true
	for _, c := range m.running {
		c.cancel(errShutdown)
	}
	m.mu.Unlock()
}

func (m *modernServer) wait() { m.wg.Wait() }
