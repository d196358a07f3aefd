// SPDX-License-Identifier: Apache-2.0

package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Header names of the asyncmcp webhook wire format, shared with the Python
// asyncmcp library.
const (
	HeaderClientID        = "X-Client-ID"
	HeaderSessionID       = "X-Session-ID"
	HeaderMethod          = "X-Method"
	HeaderRequestID       = "X-Request-ID"
	HeaderProtocolVersion = "X-Protocol-Version"
)

// UserAgent is sent on every request the transport makes, as the Python
// asyncmcp library does.
const UserAgent = "asyncmcp-webhook/1.0"

// DefaultPath is the conventional path at which a [Server] is mounted.
const DefaultPath = "/mcp/request"

// Error codes used in JSON-RPC errors the transport itself produces.
const (
	// CodeTransportError marks an error the transport reports in place of a
	// response: the server's immediate reply was an HTTP error, the server
	// could not be reached, or the response could not be delivered.
	CodeTransportError = -32000
	// CodeSessionNotFound marks a message for a session the server does not know.
	CodeSessionNotFound = -32001
)

// maxSessionIDLen bounds client-chosen session ids.
const maxSessionIDLen = 128

// validSessionID reports whether id follows the asyncmcp rule: visible ASCII
// only (0x21-0x7E), here also at most 128 bytes.
func validSessionID(id string) bool {
	if id == "" || len(id) > maxSessionIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// idString renders a JSON-RPC id for the X-Request-ID header.
func idString(id jsonrpc.ID) string {
	switch v := id.Raw().(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// routingHeaders sets X-Method and X-Request-ID for msg.
func routingHeaders(h http.Header, msg jsonrpc.Message) {
	switch m := msg.(type) {
	case *jsonrpc.Request:
		h.Set(HeaderMethod, m.Method)
		if m.ID.IsValid() {
			h.Set(HeaderRequestID, idString(m.ID))
		}
	case *jsonrpc.Response:
		if m.ID.IsValid() {
			h.Set(HeaderRequestID, idString(m.ID))
		}
	}
}

// errorBody is a JSON-RPC error response, the body of every error reply.
func errorBody(id jsonrpc.ID, code int64, msg string) []byte {
	b, err := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: id, Error: &jsonrpc.Error{Code: code, Message: msg}})
	if err != nil {
		// Only an id of an unencodable type could fail; ids come from decoded messages.
		return []byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"encoding error"}}`)
	}
	return b
}

// writeJSON writes a JSON reply.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
	w.Write([]byte("\n"))
}

// replyError parses an error reply body: a JSON-RPC error response (this
// package, Python asyncmcp) or an object {"error": "text"} (Python asyncmcp).
// It returns the code (0 if none) and message it carries.
func replyError(body []byte) (int64, string) {
	var r struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &r) == nil && len(r.Error) > 0 {
		var e struct {
			Code    int64  `json:"code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(r.Error, &e) == nil && e.Message != "" {
			return e.Code, e.Message
		}
		var s string
		if json.Unmarshal(r.Error, &s) == nil {
			return 0, s
		}
	}
	return 0, strings.TrimSpace(string(bytes.ToValidUTF8(body[:min(len(body), 200)], nil)))
}

// metaWebhookURL returns params._meta.webhookUrl of an initialize request.
func metaWebhookURL(params json.RawMessage) string {
	var p struct {
		Meta struct {
			WebhookURL string `json:"webhookUrl"`
		} `json:"_meta"`
	}
	json.Unmarshal(params, &p)
	return p.Meta.WebhookURL
}

// withWebhookURL returns params with _meta.webhookUrl set to u, unless the
// caller already set one. Every other member stays byte for byte as it was.
func withWebhookURL(params json.RawMessage, u string) (json.RawMessage, error) {
	if metaWebhookURL(params) != "" {
		return params, nil
	}
	obj := map[string]json.RawMessage{}
	if len(params) > 0 && string(params) != "null" {
		if err := json.Unmarshal(params, &obj); err != nil {
			return nil, fmt.Errorf("initialize params are not a JSON object: %w", err)
		}
	}
	meta := map[string]json.RawMessage{}
	if m, ok := obj["_meta"]; ok && string(m) != "null" {
		if err := json.Unmarshal(m, &meta); err != nil {
			return nil, fmt.Errorf("initialize params._meta is not a JSON object: %w", err)
		}
	}
	ub, err := json.Marshal(u)
	if err != nil {
		return nil, err
	}
	meta["webhookUrl"] = ub
	mb, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	obj["_meta"] = mb
	return json.Marshal(obj)
}

// resultProtocolVersion returns result.protocolVersion of an initialize response.
func resultProtocolVersion(result json.RawMessage) string {
	var r struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	json.Unmarshal(result, &r)
	return r.ProtocolVersion
}

// errWebhookURL is returned by checkWebhookURL for a refused URL.
var errWebhookURL = errors.New("webhook URL refused")

// checkWebhookURL reports whether the server may deliver to raw: an absolute
// http or https URL without user info whose host is loopback (if
// allowLoopback) or matches allowed. An entry of allowed is a host name or IP
// ("hooks.example.com"), a host and port ("hooks.example.com:8443"), a
// wildcard for subdomains ("*.example.com"), or "*" for any host. It returns
// the HTTP status to answer with when refused: 400 for a malformed URL, 403
// for a host that is not allowed.
func checkWebhookURL(raw string, allowed []string, allowLoopback bool) (int, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return http.StatusBadRequest, fmt.Errorf("%w: %q does not parse: %v", errWebhookURL, raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return http.StatusBadRequest, fmt.Errorf("%w: %q: scheme must be http or https", errWebhookURL, raw)
	}
	if u.Host == "" || u.User != nil {
		return http.StatusBadRequest, fmt.Errorf("%w: %q: need a host and no user info", errWebhookURL, raw)
	}
	host := strings.ToLower(u.Hostname())
	hostPort := strings.ToLower(u.Host)
	if allowLoopback && isLoopback(host) {
		return 0, nil
	}
	for _, a := range allowed {
		a = strings.ToLower(strings.TrimSpace(a))
		switch {
		case a == "*":
			return 0, nil
		case a == host || a == hostPort:
			return 0, nil
		case strings.HasPrefix(a, "*.") && strings.HasSuffix(host, a[1:]):
			return 0, nil
		}
	}
	return http.StatusForbidden, fmt.Errorf("%w: host %q of %q is not in the allowed webhook hosts (allow-list %v, loopback allowed: %v)",
		errWebhookURL, host, raw, allowed, allowLoopback)
}

func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// errRejected matches the SDK's "rejected by transport" error (code -32005):
// a Write failing with it fails one message without breaking the session.
var errRejected = &jsonrpc.Error{Code: -32005, Message: "rejected by transport"}

// CheckWebhookURL reports whether a server may deliver to raw: an absolute
// http or https URL without user info whose host is loopback (if
// allowLoopback) or matches an entry of allowed ("host", "host:port",
// "*.example.com", or "*" for any host). When refused it returns the HTTP
// status to answer with (400 malformed, 403 host not allowed) and an error
// saying why.
func CheckWebhookURL(raw string, allowed []string, allowLoopback bool) (status int, err error) {
	return checkWebhookURL(raw, allowed, allowLoopback)
}
