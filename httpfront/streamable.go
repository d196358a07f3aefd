// SPDX-License-Identifier: Apache-2.0

package httpfront

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/asyncmcp/asyncmcp-go/bridge"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// CodeSessionNotFound is the JSON-RPC error code in the body of a 404 for an
// unknown or expired Mcp-Session-Id.
const CodeSessionNotFound = -32001

// knownVersions are the protocol revisions accepted in Mcp-Protocol-Version.
var knownVersions = []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"}

func (ep *endpoint) serveStreamable(w http.ResponseWriter, r *http.Request) {
	if !ep.authorized(w, r) {
		return
	}
	switch r.Method {
	case http.MethodPost:
		ep.servePost(w, r)
	case http.MethodGet:
		ep.serveGet(w, r)
	case http.MethodDelete:
		ep.serveDelete(w, r)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		httpError(w, http.StatusMethodNotAllowed, "Method Not Allowed")
	}
}

func accepts(r *http.Request, types ...string) bool {
	accept := strings.ToLower(strings.Join(r.Header.Values("Accept"), ","))
	if strings.Contains(accept, "*/*") {
		return true
	}
	for _, t := range types {
		if !strings.Contains(accept, t) {
			return false
		}
	}
	return true
}

// checkVersion refuses an unknown Mcp-Protocol-Version header.
func (ep *endpoint) checkVersion(w http.ResponseWriter, r *http.Request) (string, bool) {
	v := r.Header.Get("Mcp-Protocol-Version")
	if v != "" && !slices.Contains(knownVersions, v) {
		ep.srv.log.Warn("refused request: unsupported protocol version", "version", v)
		rpcError(w, http.StatusBadRequest, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest,
			fmt.Sprintf("Bad Request: unsupported Mcp-Protocol-Version %q (supported: %s)", v, strings.Join(knownVersions, ", ")))
		return "", false
	}
	return v, true
}

func (ep *endpoint) servePost(w http.ResponseWriter, r *http.Request) {
	log := ep.srv.log
	if !accepts(r, "application/json", "text/event-stream") {
		log.Warn("refused request: Accept must list application/json and text/event-stream", "accept", r.Header.Get("Accept"))
		rpcError(w, http.StatusNotAcceptable, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "Not Acceptable: Accept must list application/json and text/event-stream")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		log.Warn("refused request: Content-Type must be application/json", "content_type", r.Header.Get("Content-Type"))
		rpcError(w, http.StatusUnsupportedMediaType, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "Unsupported Media Type: Content-Type must be application/json")
		return
	}
	body, ok := ep.readBody(w, r)
	if !ok {
		return
	}
	msg, ok := ep.decodeOne(w, body)
	if !ok {
		return
	}
	if isModernPost(r, msg) {
		// The stateless revision: no session, whatever the endpoint's mode
		// (Mcp-Session-Id and Last-Event-ID are ignored).
		ep.serveModern(w, r, msg.(*jsonrpc.Request))
		return
	}
	version, ok := ep.checkVersion(w, r)
	if !ok {
		return
	}
	req, _ := msg.(*jsonrpc.Request)
	isCall := req != nil && req.IsCall()
	isInit := req != nil && req.Method == "initialize"
	if isInit {
		version = initVersion(req.Params, version)
	}

	if ep.opts.Stateless {
		ep.serveStatelessPost(w, r, msg, version)
		return
	}

	sid := r.Header.Get("Mcp-Session-Id")
	var sess *session
	switch {
	case sid == "" && isInit:
		if !isCall {
			rpcError(w, http.StatusBadRequest, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "Invalid Request: initialize must be a request with an id")
			return
		}
		var adm Admission
		if ep.opts.Admit != nil {
			var err error
			if adm, err = ep.opts.Admit(r.Header, req.Params); err != nil {
				status := http.StatusForbidden
				var ae *AdmitError
				if errors.As(err, &ae) && ae.Status != 0 {
					status = ae.Status
				}
				log.Warn("refused session at initialize", "status", status, "err", err)
				rpcError(w, status, req.ID, jsonrpc.CodeInvalidParams, err.Error())
				return
			}
		}
		var status int
		var err error
		sess, status, err = ep.start(withOwner(clientContext(r), r), ep.dialer, false, version, true)
		if err != nil {
			log.Error("cannot start session", "err", err)
			rpcError(w, status, req.ID, -32000, err.Error())
			return
		}
		sess.info = SessionInfo{ID: sess.id, Header: r.Header.Clone(), InitParams: req.Params, Data: adm.Data}
		for k, vs := range adm.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		log.Debug("session started", "session", sess.id, "server", ep.name)
	case sid == "":
		id := jsonrpc.ID{}
		if req != nil {
			id = req.ID
		}
		log.Warn("refused request: no Mcp-Session-Id and not initialize")
		rpcError(w, http.StatusBadRequest, id, jsonrpc.CodeInvalidRequest, "Bad Request: Mcp-Session-Id header is required (send initialize first)")
		return
	default:
		sess = ep.lookup(sid)
		if sess == nil {
			id := jsonrpc.ID{}
			if isCall {
				id = req.ID
			}
			log.Warn("refused request: unknown session", "session", sid)
			rpcError(w, http.StatusNotFound, id, CodeSessionNotFound, "Session not found: it ended or never existed; start a new session with initialize")
			return
		}
		sess.touch()
		if version != "" {
			sess.mu.Lock()
			sess.version = version
			sess.mu.Unlock()
		}
	}

	if !isCall {
		if req != nil && req.Method == "notifications/cancelled" {
			sess.cancelRequest(req.Params)
		}
		if err := sess.deliver(r.Context(), msg); err != nil {
			rpcError(w, http.StatusNotFound, jsonrpc.ID{}, CodeSessionNotFound, "Session not found: it has ended")
			return
		}
		w.Header().Set("Mcp-Session-Id", sess.id)
		w.WriteHeader(http.StatusAccepted)
		return
	}
	if ep.opts.Divert != nil && ep.opts.Deliver != nil && ep.opts.Divert(sess.info, req) {
		sess.divertRequest(req)
		if err := sess.deliver(r.Context(), msg); err != nil {
			rpcError(w, http.StatusNotFound, req.ID, CodeSessionNotFound, "Session not found: it has ended")
			return
		}
		w.Header().Set("Mcp-Session-Id", sess.id)
		w.Header().Set("Asyncmcp-Delivery", "divert")
		w.WriteHeader(http.StatusAccepted)
		return
	}
	st := sess.openRequestStream(req)
	if err := sess.deliver(r.Context(), msg); err != nil {
		rpcError(w, http.StatusNotFound, req.ID, CodeSessionNotFound, "Session not found: it has ended")
		return
	}
	writeSSEHeaders(w, sess.id)
	sess.serveStream(w, r, st, 0, primes(sess.version))
}

// primes reports whether streams of this protocol revision start with a
// priming event (2025-11-25 and later).
func primes(version string) bool { return version >= "2025-11-25" }

// initVersion returns the protocol version an initialize request asks for.
func initVersion(params json.RawMessage, fallback string) string {
	var p struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	if json.Unmarshal(params, &p) == nil && p.ProtocolVersion != "" {
		return p.ProtocolVersion
	}
	return fallback
}

func (ep *endpoint) serveGet(w http.ResponseWriter, r *http.Request) {
	if ep.opts.Stateless {
		w.Header().Set("Allow", "POST")
		httpError(w, http.StatusMethodNotAllowed, "Method Not Allowed: this server is stateless")
		return
	}
	if !accepts(r, "text/event-stream") {
		rpcError(w, http.StatusNotAcceptable, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "Not Acceptable: Accept must list text/event-stream")
		return
	}
	if _, ok := ep.checkVersion(w, r); !ok {
		return
	}
	sid := r.Header.Get("Mcp-Session-Id")
	if sid == "" {
		rpcError(w, http.StatusBadRequest, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "Bad Request: Mcp-Session-Id header is required")
		return
	}
	sess := ep.lookup(sid)
	if sess == nil {
		ep.srv.log.Warn("refused GET: unknown session", "session", sid)
		rpcError(w, http.StatusNotFound, jsonrpc.ID{}, CodeSessionNotFound, "Session not found")
		return
	}
	sess.touch()
	sess.mu.Lock()
	st, from := sess.standalone, sess.standalone.delivered
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		if id, pos, ok := parseLastEventID(last); ok {
			if resumed, found := sess.streams[id]; found {
				st, from = resumed, pos
			} else {
				ep.srv.log.Info("Last-Event-ID names a stream no longer held; opening the standalone stream", "last_event_id", last)
			}
		}
	}
	version := sess.version
	sess.mu.Unlock()
	writeSSEHeaders(w, sess.id)
	sess.serveStream(w, r, st, from, primes(version))
}

func (ep *endpoint) serveDelete(w http.ResponseWriter, r *http.Request) {
	if ep.opts.Stateless {
		w.Header().Set("Allow", "POST")
		httpError(w, http.StatusMethodNotAllowed, "Method Not Allowed: this server is stateless")
		return
	}
	sid := r.Header.Get("Mcp-Session-Id")
	if sid == "" {
		rpcError(w, http.StatusBadRequest, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "Bad Request: Mcp-Session-Id header is required")
		return
	}
	sess := ep.lookup(sid)
	if sess == nil {
		rpcError(w, http.StatusNotFound, jsonrpc.ID{}, CodeSessionNotFound, "Session not found")
		return
	}
	sess.Close()
	ep.srv.log.Debug("session ended by client", "session", sid)
	w.WriteHeader(http.StatusNoContent)
}

// serveStatelessPost serves one POST with a back connection of its own. A
// request other than initialize first gets an initialize handshake with the
// fresh back, done by the proxy.
func (ep *endpoint) serveStatelessPost(w http.ResponseWriter, r *http.Request, msg jsonrpc.Message, version string) {
	req, isReq := msg.(*jsonrpc.Request)
	if !isReq || !req.IsCall() {
		// With no session there is nobody to hand a lone notification or
		// response to.
		ep.srv.log.Debug("stateless: ignoring message that is not a request")
		w.WriteHeader(http.StatusAccepted)
		return
	}
	if version == "" {
		version = "2025-03-26"
	}
	dialer := ep.dialer
	if req.Method != "initialize" {
		dialer = handshakeDialer{ep.dialer, version}
	}
	sess, status, err := ep.start(withOwner(clientContext(r), r), dialer, false, version, false)
	if err != nil {
		ep.srv.log.Error("stateless: cannot open back connection", "err", err)
		rpcError(w, status, req.ID, -32000, err.Error())
		return
	}
	defer sess.Close()
	st := sess.openRequestStream(req)
	if err := sess.deliver(r.Context(), msg); err != nil {
		rpcError(w, http.StatusServiceUnavailable, req.ID, -32000, "MCP server unavailable")
		return
	}
	writeSSEHeaders(w, "")
	sess.serveStream(w, r, st, 0, false)
}

// handshakeDialer dials and then initializes the back on the client's behalf.
type handshakeDialer struct {
	d       bridge.Dialer
	version string
}

func (h handshakeDialer) Dial(ctx context.Context) (mcp.Connection, error) {
	back, err := h.d.Dial(ctx)
	if err != nil {
		return nil, err
	}
	if err := Handshake(ctx, back, h.version); err != nil {
		back.Close()
		return nil, err
	}
	return back, nil
}

// Handshake performs an MCP initialize exchange on conn on behalf of a client
// that is not there, so that conn can serve requests at once.
func Handshake(ctx context.Context, conn mcp.Connection, version string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	id, _ := jsonrpc.MakeID("asyncmcp-handshake")
	params, _ := json.Marshal(map[string]any{
		"protocolVersion": version,
		"capabilities":    map[string]any{},
		"clientInfo":      map[string]any{"name": "asyncmcp-stateless", "version": "1"},
	})
	if err := conn.Write(ctx, &jsonrpc.Request{ID: id, Method: "initialize", Params: params}); err != nil {
		return fmt.Errorf("initializing MCP server: %w", err)
	}
	for {
		m, err := conn.Read(ctx)
		if err != nil {
			return fmt.Errorf("initializing MCP server: %w", err)
		}
		if resp, ok := m.(*jsonrpc.Response); ok && resp.ID == id {
			if resp.Error != nil {
				return fmt.Errorf("MCP server refused initialize: %w", resp.Error)
			}
			break
		}
	}
	if err := conn.Write(ctx, &jsonrpc.Request{Method: "notifications/initialized"}); err != nil {
		return fmt.Errorf("initializing MCP server: %w", err)
	}
	return nil
}
