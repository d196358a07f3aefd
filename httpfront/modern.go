// SPDX-License-Identifier: Apache-2.0

package httpfront

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Requests of the stateless revision (2026-07-28 and later) on the
// Streamable HTTP endpoint. Such a request carries its protocol version and
// client capabilities in params._meta and is served with no session: its
// headers are checked against its body as the revision requires of anyone
// who processes the body, and it is handed to the back's
// [bridge.RoundTripper]. A back without one cannot serve the revision, so
// the request is answered with -32022 and the session-based versions the
// back does serve, which makes dual-era clients fall back to initialize.

// maxPendingNotifications bounds, in bytes, the notifications of one
// modern request waiting to be written to a slow client.
const maxPendingNotifications = 8 << 20

// isModernPost reports whether a POSTed message belongs to the stateless
// revision: a request whose _meta declares a protocol version that is not a
// session-based one (2026-07-28, a later one, or one nobody knows, which
// the back answers with -32022), or any message outside a session whose
// MCP-Protocol-Version header names such a version.
func isModernPost(r *http.Request, msg jsonrpc.Message) bool {
	req, ok := msg.(*jsonrpc.Request)
	if !ok {
		return false
	}
	if req.IsCall() && rpcmsg.IsModernEnvelope(req.Params) {
		return true
	}
	return r.Header.Get("Mcp-Session-Id") == "" && rpcmsg.IsModernHeader(r.Header.Get("Mcp-Protocol-Version"))
}

// withOwner adds to ctx the authorization context of r (a digest of its
// Authorization header), so that state a back keeps per caller (tasks) is
// visible to that caller only.
func withOwner(ctx context.Context, r *http.Request) context.Context {
	return bridge.WithOwner(ctx, bridge.AuthOwner(r.Header.Get("Authorization")))
}

// serveModern serves one POST of the stateless revision.
func (ep *endpoint) serveModern(w http.ResponseWriter, r *http.Request, req *jsonrpc.Request) {
	log := ep.srv.log.With("server", ep.name, "method", req.Method)
	if !req.IsCall() {
		// The revision defines no client notification over HTTP (closing
		// the response stream cancels a request); accept and drop it.
		log.Debug("modern notification accepted and dropped: nothing to hand it to")
		w.WriteHeader(http.StatusAccepted)
		return
	}
	if code, msg := validateModern(r.Header, req); code != 0 {
		log.Warn("refused modern request", "code", code, "reason", msg)
		rpcError(w, http.StatusBadRequest, req.ID, code, msg)
		return
	}
	rt, ok := ep.dialer.(bridge.RoundTripper)
	if !ok {
		version := rpcmsg.RequestVersion(req.Params)
		log.Info("modern request refused: this server's back speaks the session-based protocol only", "requested", version)
		writeRPC(w, http.StatusBadRequest, &jsonrpc.Response{ID: req.ID, Error: &jsonrpc.Error{
			Code:    rpcmsg.CodeUnsupportedProtocolVersion,
			Message: fmt.Sprintf("Unsupported protocol version %q: this server speaks the session-based protocol (initialize first)", version),
			Data:    mustJSON(map[string]any{"supported": rpcmsg.LegacyVersions, "requested": version}),
		}})
		return
	}

	// Modern requests count against MaxSessions like stateless ones.
	if !ep.takeSlot() {
		log.Warn("refused modern request: session limit reached", "limit", ep.opts.maxSessions())
		rpcError(w, http.StatusServiceUnavailable, req.ID, bridge.CodeServerUnavailable, fmt.Sprintf("session limit of %d reached; try again later", ep.opts.maxSessions()))
		return
	}
	defer ep.releaseSlot()

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(ep.srv.ctx, cancel) // Server.Close ends the request too
	defer stop()
	// Always set, even when empty: it tells the back that the client speaks
	// HTTP and sent the Mcp-Param-* headers it meant to send.
	ctx = bridge.WithHeader(ctx, paramHeaders(r.Header))
	ctx = withOwner(ctx, r)

	q := &notifyQueue{wake: make(chan struct{}, 1)}
	type result struct {
		resp *jsonrpc.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := rt.RoundTrip(ctx, req, q.push)
		done <- result{resp, err}
	}()

	sse := newModernStream(w)
	if req.Method == "subscriptions/listen" {
		// A listen stream stays open; its client wants the headers now.
		sse.start()
	}
	keepAlive := time.NewTimer(ep.opts.keepAlive())
	defer keepAlive.Stop()
	for {
		select {
		case <-q.wake:
			items, dropped := q.take()
			if dropped > 0 {
				log.Warn("dropped notifications of a modern request: the client reads too slowly", "dropped", dropped, "limit_bytes", maxPendingNotifications)
			}
			if !sse.writeAll(items) {
				log.Debug("client went away during a modern request")
				return
			}
			keepAlive.Reset(ep.opts.keepAlive())
		case <-keepAlive.C:
			if sse.started && !sse.comment("keep-alive") {
				return
			}
			keepAlive.Reset(ep.opts.keepAlive())
		case <-ctx.Done():
			// The client closed the stream (or the server is closing): that is
			// the cancellation. RoundTrip sees the same ctx and stops.
			if ep.srv.ctx.Err() == nil {
				log.Debug("client closed a modern request's stream: request cancelled")
				return
			}
			// The server is closing: the client still gets an answer.
			resp := &jsonrpc.Response{ID: req.ID, Error: &jsonrpc.Error{Code: CodeShuttingDown, Message: "the MCP proxy is shutting down; the request was not completed"}}
			if !sse.started {
				writeRPC(w, http.StatusServiceUnavailable, resp)
			} else if data, err := jsonrpc.EncodeMessage(resp); err == nil {
				sse.writeAll([][]byte{data})
			}
			return
		case res := <-done:
			// Notifications are pushed before RoundTrip returns, so they are
			// all in the queue now.
			pending, dropped := q.take()
			if dropped > 0 {
				log.Warn("dropped notifications of a modern request: the client reads too slowly", "dropped", dropped, "limit_bytes", maxPendingNotifications)
			}
			resp := res.resp
			if res.err != nil || resp == nil {
				if ctx.Err() != nil {
					return
				}
				log.Warn("back could not serve modern request", "err", res.err)
				msg := "MCP server gave no answer"
				if res.err != nil {
					msg = "MCP server unavailable: " + res.err.Error()
				}
				resp = &jsonrpc.Response{Error: &jsonrpc.Error{Code: bridge.CodeServerUnavailable, Message: msg}}
			}
			resp.ID = req.ID
			if !sse.started && len(pending) == 0 {
				writeRPC(w, errorStatus(resp), resp)
				return
			}
			data, err := jsonrpc.EncodeMessage(resp)
			if err != nil {
				log.Error("cannot encode response", "err", err)
				return
			}
			sse.writeAll(append(pending, data))
			return
		}
	}
}

// validateModern checks a modern request's headers against its body, as the
// Streamable HTTP binding requires of anyone who processes the body. It
// returns 0 when they agree, else the JSON-RPC error code and message.
func validateModern(h http.Header, req *jsonrpc.Request) (int64, string) {
	hv := h.Get("Mcp-Protocol-Version")
	if hv == "" {
		return rpcmsg.CodeHeaderMismatch, "missing required MCP-Protocol-Version header"
	}
	var p struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	if len(req.Params) > 0 {
		if err := json.Unmarshal(req.Params, &p); err != nil {
			return jsonrpc.CodeInvalidParams, "Invalid params: params must be an object"
		}
	}
	var missing []string
	var version string
	if raw, ok := p.Meta[rpcmsg.MetaProtocolVersion]; !ok || json.Unmarshal(raw, &version) != nil || version == "" {
		missing = append(missing, rpcmsg.MetaProtocolVersion)
	}
	if raw, ok := p.Meta[rpcmsg.MetaClientCapabilities]; !ok || !isObject(raw) {
		missing = append(missing, rpcmsg.MetaClientCapabilities)
	}
	if len(missing) > 0 {
		return jsonrpc.CodeInvalidParams, "Invalid params: _meta must carry " + strings.Join(missing, " and ")
	}
	if hv != version {
		return rpcmsg.CodeHeaderMismatch, fmt.Sprintf("header mismatch: MCP-Protocol-Version %q does not match _meta protocol version %q", hv, version)
	}
	hm := h.Get("Mcp-Method")
	switch {
	case hm == "":
		return rpcmsg.CodeHeaderMismatch, "missing required Mcp-Method header"
	case hm != req.Method:
		return rpcmsg.CodeHeaderMismatch, fmt.Sprintf("header mismatch: Mcp-Method %q does not match method %q", hm, req.Method)
	}
	if field := rpcmsg.NameField(req.Method); field != "" {
		raw := h.Get("Mcp-Name")
		if raw == "" {
			return rpcmsg.CodeHeaderMismatch, fmt.Sprintf("missing required Mcp-Name header for %s", req.Method)
		}
		name, ok := rpcmsg.DecodeHeaderValue(raw)
		if !ok {
			return rpcmsg.CodeHeaderMismatch, "invalid Mcp-Name header: bad Base64 or control characters"
		}
		body, found := rpcmsg.ModernName(req.Method, req.Params)
		if !found {
			return rpcmsg.CodeHeaderMismatch, fmt.Sprintf("header mismatch: Mcp-Name is set but params.%s is missing", field)
		}
		if name != body {
			return rpcmsg.CodeHeaderMismatch, fmt.Sprintf("header mismatch: Mcp-Name %q does not match params.%s %q", raw, field, body)
		}
	}
	return 0, ""
}

func isObject(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(raw, &m) == nil && m != nil
}

// paramHeaders returns the request's Mcp-Param-* headers, which only the
// server can check against the tool's schema, so they are forwarded.
func paramHeaders(h http.Header) http.Header {
	out := http.Header{}
	for k, vs := range h {
		if strings.HasPrefix(http.CanonicalHeaderKey(k), "Mcp-Param-") {
			out[k] = vs
		}
	}
	return out
}

// errorStatus is the HTTP status of a JSON response carrying resp, as the
// Streamable HTTP binding gives it: 404 for an unknown method, 400 for
// invalid params and the revision's header, capability and version errors,
// else 200.
func errorStatus(resp *jsonrpc.Response) int {
	werr, ok := resp.Error.(*jsonrpc.Error)
	if !ok || werr == nil {
		return http.StatusOK
	}
	switch werr.Code {
	case jsonrpc.CodeMethodNotFound:
		return http.StatusNotFound
	case jsonrpc.CodeInvalidParams, rpcmsg.CodeHeaderMismatch, rpcmsg.CodeMissingClientCapability, rpcmsg.CodeUnsupportedProtocolVersion:
		return http.StatusBadRequest
	}
	return http.StatusOK
}

// writeRPC writes one JSON-RPC message as a JSON body with the given status.
func writeRPC(w http.ResponseWriter, status int, m jsonrpc.Message) {
	data, err := jsonrpc.EncodeMessage(m)
	if err != nil {
		httpError(w, http.StatusInternalServerError, "cannot encode response")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(data)
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// notifyQueue holds the notifications of one modern request until the
// handler writes them; it is what the request's RoundTrip calls notify on,
// so a slow client never blocks the back.
type notifyQueue struct {
	mu      sync.Mutex
	items   [][]byte
	bytes   int
	dropped int
	wake    chan struct{}
}

func (q *notifyQueue) push(n *jsonrpc.Request) {
	data, err := jsonrpc.EncodeMessage(n)
	if err != nil {
		return
	}
	q.mu.Lock()
	if q.bytes+len(data) > maxPendingNotifications {
		q.dropped++
		q.mu.Unlock()
		return
	}
	q.items = append(q.items, data)
	q.bytes += len(data)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take returns the queued notifications and how many were dropped since
// the last take.
func (q *notifyQueue) take() (items [][]byte, dropped int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	items, dropped = q.items, q.dropped
	q.items, q.bytes, q.dropped = nil, 0, 0
	if dropped > 0 {
		items = append(items, nil) // marks the gap on the stream
	}
	return items, dropped
}

// modernStream writes a request-scoped SSE stream: no event ids (the
// revision has no resumption), started only when there is something to
// stream, so that a plain answer can go as JSON with its status.
type modernStream struct {
	w       http.ResponseWriter
	bw      *errWriter
	flusher http.Flusher
	started bool
}

func newModernStream(w http.ResponseWriter) *modernStream {
	f, _ := w.(http.Flusher)
	return &modernStream{w: w, bw: &errWriter{w: w}, flusher: f}
}

func (s *modernStream) start() {
	if s.started {
		return
	}
	s.started = true
	writeSSEHeaders(s.w, "")
	s.flush()
}

func (s *modernStream) flush() bool {
	if s.bw.err != nil {
		return false
	}
	if s.flusher != nil {
		s.flusher.Flush()
	}
	return true
}

// writeAll writes each message as an event and flushes; a nil entry stands
// for notifications dropped because the client read too slowly.
func (s *modernStream) writeAll(msgs [][]byte) bool {
	if len(msgs) == 0 {
		return s.bw.err == nil
	}
	s.start()
	for _, m := range msgs {
		if m == nil {
			s.bw.WriteString(": some notifications were dropped: the client read too slowly\n\n")
			continue
		}
		s.bw.WriteString("event: message\ndata: ")
		s.bw.Write(m)
		s.bw.WriteString("\n\n")
	}
	return s.flush()
}

func (s *modernStream) comment(text string) bool {
	s.bw.WriteString(": " + text + "\n\n")
	return s.flush()
}

// requestedParamHeaders lists, for a CORS preflight, the Mcp-Param-*
// headers the browser asks to send (their names come from tool schemas, so
// no fixed list can allow them), as ", A, B", or "".
func requestedParamHeaders(r *http.Request) string {
	var out strings.Builder
	for _, v := range r.Header.Values("Access-Control-Request-Headers") {
		for _, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			if len(name) > len("Mcp-Param-") && strings.EqualFold(name[:len("Mcp-Param-")], "Mcp-Param-") && isToken(name) {
				out.WriteString(", " + name)
			}
		}
	}
	return out.String()
}

// isToken reports whether s is an HTTP token (a valid header name).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}
