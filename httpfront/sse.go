// SPDX-License-Identifier: Apache-2.0

package httpfront

import (
	"net/http"
	"net/url"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// serveSSE opens a legacy HTTP+SSE session: an endpoint event names the URL
// to POST messages to, and every server message arrives on this stream.
func (ep *endpoint) serveSSE(w http.ResponseWriter, r *http.Request) {
	if !ep.authorized(w, r) {
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		httpError(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	sess, status, err := ep.start(withOwner(clientContext(r), r), ep.dialer, true, "2024-11-05", true)
	if err != nil {
		ep.srv.log.Error("cannot start SSE session", "err", err)
		httpError(w, status, err.Error())
		return
	}
	defer sess.Close() // the stream is the session: when it ends, so does the session
	writeSSEHeaders(w, "")
	endpointURL := ep.prefix + "/messages/?session_id=" + url.QueryEscape(sess.id)
	w.Write([]byte("event: endpoint\ndata: " + endpointURL + "\n\n"))
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	sess.serveStream(w, r, sess.standalone, 0, false)
}

// serveMessages takes a message POSTed to a legacy SSE session.
func (ep *endpoint) serveMessages(w http.ResponseWriter, r *http.Request) {
	if !ep.authorized(w, r) {
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		httpError(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	sid := r.URL.Query().Get("session_id")
	if sid == "" {
		httpError(w, http.StatusBadRequest, "Bad Request: session_id query parameter is required")
		return
	}
	sess := ep.lookup(sid)
	if sess == nil || !sess.legacy {
		ep.srv.log.Warn("refused message: unknown SSE session", "session", sid)
		httpError(w, http.StatusNotFound, "Session not found")
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
	sess.touch()
	if req, ok := msg.(*jsonrpc.Request); ok {
		switch {
		case req.IsCall():
			sess.trackLegacyRequest(req.ID)
		case req.Method == "notifications/cancelled":
			sess.cancelRequest(req.Params)
		}
	}
	if err := sess.deliver(r.Context(), msg); err != nil {
		rpcError(w, http.StatusNotFound, jsonrpc.ID{}, CodeSessionNotFound, "Session not found: it has ended")
		return
	}
	w.WriteHeader(http.StatusAccepted)
	w.Write([]byte("Accepted"))
}
