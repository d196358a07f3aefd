// SPDX-License-Identifier: Apache-2.0

package wire

import (
	"fmt"
	"strconv"

	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Attributes of stateless (2026-07-28) messages, besides MessageType,
// ClientId, RequestId, Method and ReplyTo. See "Stateless requests" in
// docs/wire-format.md.
const (
	// AttrRequestKey is chosen by the client per request issuance (128
	// random bits, hex). Every message about the request carries it: the
	// server dedupes on ClientId+RequestKey, routes the reply stream with
	// it, and cancels only on a cancel message that presents it.
	AttrRequestKey = "RequestKey"
	// AttrMcpName mirrors the body field that HTTP sends as Mcp-Name
	// (params.name, params.uri or params.taskId), encoded as [EncodeMcpName].
	AttrMcpName = "McpName"
	// AttrSeq numbers the server messages of one request, from 1: the
	// notifications in the order sent, then the response. It lets the
	// client drop duplicates and wait for notifications overtaken by the
	// response.
	AttrSeq = "Seq"
)

// MethodCancelled is the method of a cancel message.
const MethodCancelled = "notifications/cancelled"

// A ModernHeader holds the routing facts of a stateless message.
type ModernHeader struct {
	ClientID string
	// ReplyTo is where the server sends the request's reply stream; set on
	// client requests.
	ReplyTo string
	// RequestKey is the request's key (see AttrRequestKey).
	RequestKey string
	// RequestID is the id of the request a notification belongs to; set on
	// server notifications. A cancel message takes it from
	// params.requestId when unset; responses carry their own id.
	RequestID jsonrpc.ID
	// Seq is the position of a server message in the request's reply
	// stream (AttrSeq); zero omits it.
	Seq int
}

// EncodeModern builds the envelope of a stateless message: no SessionId and
// no Timestamp (to leave room among SQS's ten attributes), and
//   - requests: MessageType, ClientId, RequestId, Method, ReplyTo,
//     RequestKey, ProtocolVersion (params._meta protocolVersion) and McpName
//     (for the methods HTTP sends Mcp-Name for);
//   - notifications: MessageType, ClientId, Method, RequestKey, RequestId
//     (the request the notification belongs to) and Seq;
//   - responses: MessageType, ClientId, RequestId, RequestKey and Seq.
//
// On FIFO destinations the group is the RequestKey (a request's reply
// stream stays in order) and a request's deduplication id is its
// RequestKey, so the queue itself drops a second send of the request.
func EncodeModern(msg jsonrpc.Message, h ModernHeader) (Envelope, error) {
	body, err := jsonrpc.EncodeMessage(msg)
	if err != nil {
		return Envelope{}, fmt.Errorf("encoding JSON-RPC message: %w", err)
	}
	a := Attributes{AttrMessageType: {TypeString, TypeJSONRPC}}
	set := func(k, v string) {
		if v != "" {
			a[k] = Attr{TypeString, v}
		}
	}
	set(AttrClientID, h.ClientID)
	set(AttrRequestKey, h.RequestKey)
	dedup := NewDedupID()
	switch m := msg.(type) {
	case *jsonrpc.Request:
		set(AttrMethod, m.Method)
		if m.IsCall() {
			set(AttrRequestID, IDString(m.ID))
			set(AttrReplyTo, h.ReplyTo)
			set(AttrProtocolVersion, rpcmsg.RequestVersion(m.Params))
			if name, ok := McpNameOf(m); ok {
				set(AttrMcpName, EncodeMcpName(name))
			}
			if h.RequestKey != "" {
				dedup = h.RequestKey
			}
			break
		}
		id := h.RequestID
		if !id.IsValid() && m.Method == MethodCancelled {
			id, _ = rpcmsg.CancelledID(m.Params)
		}
		if id.IsValid() {
			set(AttrRequestID, IDString(id))
		}
	case *jsonrpc.Response:
		if m.ID.IsValid() {
			set(AttrRequestID, IDString(m.ID))
		}
	}
	if h.Seq > 0 {
		a[AttrSeq] = Attr{TypeNumber, strconv.Itoa(h.Seq)}
	}
	return Envelope{Body: string(body), Attrs: a, GroupID: h.RequestKey, DedupID: dedup}, nil
}

// CancelledID returns params.requestId of a notifications/cancelled
// message, and false if it has none (rpcmsg.CancelledID).
func CancelledID(n *jsonrpc.Request) (jsonrpc.ID, bool) { return rpcmsg.CancelledID(n.Params) }

// McpNameOf returns the value HTTP sends as Mcp-Name for req (see
// rpcmsg.ModernName): params.name of tools/call and prompts/get, params.uri
// of resources/read, params.taskId of tasks/get, tasks/update and
// tasks/cancel. ok is false for other methods and when the field is absent.
func McpNameOf(req *jsonrpc.Request) (name string, ok bool) {
	return rpcmsg.ModernName(req.Method, req.Params)
}

// NeedsMcpName reports whether requests of method carry McpName.
func NeedsMcpName(method string) bool { return rpcmsg.NameField(method) != "" }

// EncodeMcpName encodes a name for the McpName attribute with the rule HTTP
// uses for Mcp-Name (rpcmsg.EncodeHeaderValue): plain visible ASCII without
// leading or trailing blanks is sent as is; anything else (and text that
// looks like the encoded form) as "=?base64?" + standard Base64 of the
// UTF-8 + "?=".
func EncodeMcpName(s string) string { return rpcmsg.EncodeHeaderValue(s) }

// DecodeMcpName reverses [EncodeMcpName] (rpcmsg.DecodeHeaderValue); ok is
// false for a malformed encoded form or control characters.
func DecodeMcpName(v string) (string, bool) { return rpcmsg.DecodeHeaderValue(v) }

// ValidRequestKey reports whether k may be a RequestKey: 32 to 128
// characters from [0-9A-Za-z_-] (asyncmcp sends 32 hex digits).
func ValidRequestKey(k string) bool {
	if len(k) < 32 || len(k) > 128 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// CheckModernRequest checks the attributes of a received stateless request
// against its body, as HTTP checks its headers: a missing or malformed
// RequestKey is -32600; a missing or differing ProtocolVersion, Method or
// (for the methods that need it) McpName, or a RequestId naming another id,
// is -32020 (rpcmsg.CodeHeaderMismatch). It returns nil when they agree.
func CheckModernRequest(a Attributes, req *jsonrpc.Request) *jsonrpc.Error {
	mismatch := func(format string, args ...any) *jsonrpc.Error {
		return &jsonrpc.Error{Code: rpcmsg.CodeHeaderMismatch, Message: fmt.Sprintf(format, args...)}
	}
	if k := a.Get(AttrRequestKey); !ValidRequestKey(k) {
		return &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: fmt.Sprintf("stateless request needs a RequestKey attribute of 32 to 128 characters from [0-9A-Za-z_-], got %q", k)}
	}
	v := rpcmsg.RequestVersion(req.Params)
	switch got, ok := a[AttrProtocolVersion]; {
	case !ok:
		return mismatch("missing ProtocolVersion attribute (params._meta says %q)", v)
	case got.Value != v:
		return mismatch("ProtocolVersion attribute %q does not match params._meta protocolVersion %q", got.Value, v)
	}
	switch got, ok := a[AttrMethod]; {
	case !ok:
		return mismatch("missing Method attribute (body method %q)", req.Method)
	case got.Value != req.Method:
		return mismatch("Method attribute %q does not match body method %q", got.Value, req.Method)
	}
	if raw := a.Get(AttrRequestID); raw != "" {
		if id, _ := ParseIDString(raw); id != req.ID {
			return mismatch("RequestId attribute %s does not match body id %s", raw, IDString(req.ID))
		}
	}
	if NeedsMcpName(req.Method) {
		name, inBody := McpNameOf(req)
		attr, inAttrs := a[AttrMcpName]
		switch {
		case !inBody && !inAttrs:
			// Nothing to compare; the server answers the bad params.
		case !inAttrs:
			return mismatch("missing McpName attribute for %s (body says %q)", req.Method, name)
		default:
			got, ok := DecodeMcpName(attr.Value)
			if !ok {
				return mismatch("malformed McpName attribute %q", attr.Value)
			}
			if !inBody || got != name {
				return mismatch("McpName attribute %q does not match the body's %q", got, name)
			}
		}
	}
	return nil
}
