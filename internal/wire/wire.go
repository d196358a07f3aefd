// SPDX-License-Identifier: Apache-2.0

// Package wire defines how MCP messages are carried by SQS and SNS messages:
// the message body is the JSON-RPC message, and routing facts ride in message
// attributes. It is shared by the sqs and snssqs transports and specified in
// docs/wire-format.md; testdata/ holds golden vectors for every message kind.
//
// The format is compatible with Python asyncmcp (it reads what Python sends,
// and Python reads what it writes) and adds what Python lacks: ClientId and
// RequestId on every server message, a ReplyTo attribute on client messages,
// and an explicit end-of-session message.
package wire

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Attribute names. A session message carries at most eight of them,
// leaving two of the ten that SQS allows for the user.
const (
	AttrMessageType = "MessageType" // TypeJSONRPC or TypeSessionEnd
	AttrSessionID   = "SessionId"   // the MCP session the message belongs to
	AttrClientID    = "ClientId"    // the client that owns the session
	AttrRequestID   = "RequestId"   // JSON text of the id of a request or response
	AttrMethod      = "Method"      // method of a request or notification
	AttrTimestamp   = "Timestamp"   // Number: seconds since the Unix epoch, sending time
	AttrReplyTo     = "ReplyTo"     // client messages: where errors and answers go
	// AttrSessionKey is the client's secret for the session, sent on every
	// client message of it (never by servers): the server binds the session
	// to it at initialize and refuses messages that do not carry it.
	AttrSessionKey = "SessionKey"
	// AttrProtocolVersion is sent by Python asyncmcp in theory; it is read
	// and checked for format but never written.
	AttrProtocolVersion = "ProtocolVersion"
)

// Attribute data types.
const (
	TypeString = "String"
	TypeNumber = "Number"
)

// Values of the MessageType attribute.
const (
	// TypeJSONRPC marks a message whose body is one JSON-RPC message.
	TypeJSONRPC = "jsonrpc"
	// TypeSessionEnd marks the end of a session, sent by either side. Its
	// body is the notification MethodSessionEnd, so a peer that ignores the
	// attribute sees a harmless unknown notification.
	TypeSessionEnd = "session-end"
	// TypeWake marks a wake-up a client sends to its own response queue
	// when it stops, to end its long polls in flight (a cancelled long
	// poll may still take a message and hide it). Receivers delete it.
	TypeWake = "wake"
)

// MethodSessionEnd is the method of the body of a TypeSessionEnd message.
const MethodSessionEnd = "notifications/asyncmcp/sessionEnd"

// Keys in params._meta of initialize that name where the server sends the
// session's messages.
const (
	MetaResponseQueueURL = "responseQueueUrl" // an SQS queue URL
	MetaClientTopicARN   = "clientTopicArn"   // an SNS topic ARN
)

// Top-level keys of initialize's params that Python asyncmcp 0.2.1 (the
// release on PyPI) uses instead of the _meta keys. Servers read them after
// the _meta keys; clients write both forms so 0.2.1 servers accept them.
const (
	ParamResponseQueueURL = "response_queue_url" // SQS, 0.2.1
	ParamClientTopicARN   = "client_topic_arn"   // SNS+SQS, 0.2.1
)

// LegacyParam returns the top-level params key Python asyncmcp 0.2.1 uses
// for the _meta key metaKey, or "" if it has none.
func LegacyParam(metaKey string) string {
	switch metaKey {
	case MetaResponseQueueURL:
		return ParamResponseQueueURL
	case MetaClientTopicARN:
		return ParamClientTopicARN
	}
	return ""
}

// JSON-RPC error codes used by the queue transports, besides the standard
// ones (-32700 parse error, -32600 invalid request).
const (
	// CodeSessionNotFound answers a message for a session the server does
	// not know (never started, ended, or lost in a restart). A client that
	// receives it for an in-flight request may initialize again and resend.
	CodeSessionNotFound = -32001
	// CodeMessageTooLarge answers a message, or replaces a response, whose
	// encoded size exceeds the limit of the queue or topic.
	CodeMessageTooLarge = -32010
	// CodeRedeliveryLimit answers a request that was received too many
	// times without being answered (for example because every attempt to
	// handle it crashed the server).
	CodeRedeliveryLimit = -32011
	// CodeSessionOverloaded answers a request for a session whose inbox is
	// full because its handler does not read.
	CodeSessionOverloaded = -32012
	// CodeRequestTimeout is made by a client, never sent on the wire: the
	// request got no answer (and no progress) within the client's request
	// timeout, so the server is presumed gone or deaf to this session.
	CodeRequestTimeout = -32013
	// CodeTooManySessions answers an initialize at a server that has as
	// many sessions open as its limit allows.
	CodeTooManySessions = -32014
)

// Size limits of the services, in bytes of body plus attribute names, types
// and values.
const (
	SQSMaxBytes = 1024 * 1024
	SNSMaxBytes = 256 * 1024
)

// An Attr is one message attribute.
type Attr struct {
	DataType string `json:"DataType"` // TypeString or TypeNumber
	Value    string `json:"StringValue"`
}

// Attributes are the message attributes of one SQS or SNS message.
type Attributes map[string]Attr

// Get returns the value of attribute name, or "" if absent.
func (a Attributes) Get(name string) string { return a[name].Value }

// An Envelope is one message as it crosses a queue or topic.
type Envelope struct {
	Body  string     `json:"body"`
	Attrs Attributes `json:"attributes"`
	// GroupID is the MessageGroupId to use when the destination is a FIFO
	// queue or topic: the session id.
	GroupID string `json:"-"`
	// DedupID is the MessageDeduplicationId to use for FIFO destinations.
	DedupID string `json:"-"`
}

// Size is the number of bytes the services count against their limits: the
// body plus each attribute's name, data type and value.
func (e Envelope) Size() int {
	n := len(e.Body)
	for k, v := range e.Attrs {
		n += len(k) + len(v.DataType) + len(v.Value)
	}
	return n
}

// A Header holds the routing facts of a message besides those derived from
// the JSON-RPC message itself.
type Header struct {
	SessionID string
	ClientID  string
	ReplyTo   string // set on client messages
	// SessionKey is the session's secret, set on client messages only.
	SessionKey string
	Time       time.Time // zero means now
}

// Encode builds the envelope for msg: the body is the JSON-RPC encoding of
// msg, and the attributes are MessageType "jsonrpc", the header fields that
// are set, Timestamp, Method for requests and notifications, and RequestId
// for requests and responses.
func Encode(msg jsonrpc.Message, h Header) (Envelope, error) {
	body, err := jsonrpc.EncodeMessage(msg)
	if err != nil {
		return Envelope{}, fmt.Errorf("encoding JSON-RPC message: %w", err)
	}
	body = EscapeNonBMP(body)
	attrs := h.attrs(TypeJSONRPC)
	var id jsonrpc.ID
	switch m := msg.(type) {
	case *jsonrpc.Request:
		attrs[AttrMethod] = Attr{TypeString, m.Method}
		id = m.ID
	case *jsonrpc.Response:
		id = m.ID
	}
	if id.IsValid() {
		attrs[AttrRequestID] = Attr{TypeString, IDString(id)}
	}
	return Envelope{Body: string(body), Attrs: attrs, GroupID: h.SessionID, DedupID: NewDedupID()}, nil
}

// EncodeWake builds the wake-up message a client sends to its own response
// queue when it stops.
func EncodeWake(clientID string) Envelope {
	body, _ := jsonrpc.EncodeMessage(&jsonrpc.Request{Method: MethodWake})
	a := Header{ClientID: clientID}.attrs(TypeWake)
	return Envelope{Body: string(body), Attrs: a, GroupID: "wake-" + clientID, DedupID: NewDedupID()}
}

// MethodWake is the method of the body of a TypeWake message.
const MethodWake = "notifications/asyncmcp/wake"

// EscapeNonBMP returns body with every character outside the Basic
// Multilingual Plane (U+10000 and above, such as emoji) written as a JSON
// \u escape of its UTF-16 surrogate pair. SQS refuses such characters in
// some implementations; in JSON they can only occur inside strings, where
// the escape means the same character, so the change is lossless. Bodies
// without them are returned unchanged.
func EscapeNonBMP(body []byte) []byte {
	i := 0
	for i < len(body) && body[i] < 0xF0 {
		i++
	}
	if i == len(body) {
		return body
	}
	out := make([]byte, 0, len(body)+16)
	out = append(out, body[:i]...)
	for len(body[i:]) > 0 {
		r, n := utf8.DecodeRune(body[i:])
		if r < 0x10000 || r == utf8.RuneError {
			out = append(out, body[i:i+n]...)
		} else {
			hi, lo := utf16.EncodeRune(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, hi, lo)
		}
		i += n
	}
	return out
}

// EncodeSessionEnd builds the end-of-session message for the session in h,
// with a human-readable reason.
func EncodeSessionEnd(h Header, reason string) Envelope {
	params, _ := json.Marshal(map[string]string{"reason": reason})
	body, _ := jsonrpc.EncodeMessage(&jsonrpc.Request{Method: MethodSessionEnd, Params: params})
	attrs := h.attrs(TypeSessionEnd)
	attrs[AttrMethod] = Attr{TypeString, MethodSessionEnd}
	return Envelope{Body: string(body), Attrs: attrs, GroupID: h.SessionID, DedupID: NewDedupID()}
}

func (h Header) attrs(typ string) Attributes {
	t := h.Time
	if t.IsZero() {
		t = time.Now()
	}
	a := Attributes{
		AttrMessageType: {TypeString, typ},
		AttrTimestamp:   {TypeNumber, strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)},
	}
	if h.SessionID != "" {
		a[AttrSessionID] = Attr{TypeString, h.SessionID}
	}
	if h.ClientID != "" {
		a[AttrClientID] = Attr{TypeString, h.ClientID}
	}
	if h.ReplyTo != "" {
		a[AttrReplyTo] = Attr{TypeString, h.ReplyTo}
	}
	if h.SessionKey != "" {
		a[AttrSessionKey] = Attr{TypeString, h.SessionKey}
	}
	return a
}

// IDString is the RequestId attribute value for id: its JSON text, so the
// number 7 is "7" and the string "7" is "\"7\"".
func IDString(id jsonrpc.ID) string {
	b, _ := json.Marshal(id.Raw())
	return string(b)
}

// ParseIDString reverses [IDString]. Text that is not a JSON number or string
// (as Python asyncmcp sends, which writes ids unquoted) is taken as a string
// id, except digits, which are taken as a number.
func ParseIDString(s string) (jsonrpc.ID, bool) {
	if s == "" {
		return jsonrpc.ID{}, false
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err == nil {
		if id, err := jsonrpc.MakeID(v); err == nil && id.IsValid() {
			return id, true
		}
	}
	id, _ := jsonrpc.MakeID(s)
	return id, true
}

// NewDedupID returns a random FIFO deduplication id. Each send gets its own,
// so two identical messages (a repeated notification) are both delivered,
// while the SDK's own retries of one send reuse it.
func NewDedupID() string { return NewID() }

// NewID returns 32 random hex digits, for session and client ids.
func NewID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ValidSessionID reports whether s may be used as a session id: 1 to 128
// printable ASCII characters without spaces (the Python asyncmcp rule, and
// what SQS accepts as a MessageGroupId).
func ValidSessionID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// IsFIFO reports whether a queue URL or topic ARN names a FIFO queue or topic.
func IsFIFO(dest string) bool { return strings.HasSuffix(dest, ".fifo") }

// IsTopic reports whether dest is an SNS topic ARN rather than a queue URL.
func IsTopic(dest string) bool {
	return strings.HasPrefix(dest, "arn:") && strings.Contains(dest, ":sns:")
}

// A Decoded is one received message, unwrapped and parsed.
type Decoded struct {
	Attrs     Attributes
	Body      string // the JSON-RPC text, after unwrapping an SNS envelope
	Type      string // MessageType; TypeJSONRPC when absent
	SessionID string
	ClientID  string
	ReplyTo   string
	// Msg is the parsed message; nil when Err is set.
	Msg jsonrpc.Message
	// Err says why the body is not one JSON-RPC message; its Code is
	// -32700 (not JSON), or -32600 (a batch, or not a message).
	Err *jsonrpc.Error
	// ID is the id of the message: from Msg, or, when the body cannot be
	// parsed, from the RequestId attribute or a lenient read of the body.
	ID jsonrpc.ID
}

// Decode unwraps and parses a received message. sqsAttrs are the SQS message
// attributes; if body is an SNS notification envelope, the message inside is
// used, and the envelope's attributes are merged in (SQS attributes win).
func Decode(body string, sqsAttrs Attributes) Decoded {
	attrs := Attributes{}
	if inner, envAttrs, ok := UnwrapSNS(body); ok {
		body = inner
		for k, v := range envAttrs {
			attrs[k] = v
		}
	}
	for k, v := range sqsAttrs {
		attrs[k] = v
	}
	d := Decoded{
		Attrs:     attrs,
		Body:      body,
		Type:      attrs.Get(AttrMessageType),
		SessionID: attrs.Get(AttrSessionID),
		ClientID:  attrs.Get(AttrClientID),
		ReplyTo:   attrs.Get(AttrReplyTo),
	}
	if d.Type == "" {
		d.Type = TypeJSONRPC
	}
	trimmed := bytes.TrimSpace([]byte(body))
	switch {
	case len(trimmed) > 0 && trimmed[0] == '[':
		d.Err = &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: "JSON-RPC batches are not supported on queue transports"}
	case !json.Valid(trimmed):
		d.Err = &jsonrpc.Error{Code: jsonrpc.CodeParseError, Message: "message body is not valid JSON"}
	default:
		msg, err := rpcmsg.Decode(trimmed)
		if err != nil {
			d.Err = &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: fmt.Sprintf("message body is not a JSON-RPC message: %v", err)}
		} else {
			d.Msg = msg
		}
	}
	switch m := d.Msg.(type) {
	case *jsonrpc.Request:
		d.ID = m.ID
	case *jsonrpc.Response:
		d.ID = m.ID
	default:
		d.ID = lenientID(trimmed)
		if !d.ID.IsValid() {
			d.ID, _ = ParseIDString(attrs.Get(AttrRequestID))
		}
	}
	return d
}

// lenientID reads "id" from a JSON object that is not a valid message.
func lenientID(body []byte) jsonrpc.ID {
	var obj struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(body, &obj) != nil {
		return jsonrpc.ID{}
	}
	id, err := jsonrpc.MakeID(obj.ID)
	if err != nil {
		return jsonrpc.ID{}
	}
	return id
}

// snsEnvelope is the JSON body SQS receives from an SNS subscription without
// raw message delivery.
type snsEnvelope struct {
	Type              string `json:"Type"`
	Message           *string
	MessageAttributes map[string]struct {
		Type  string `json:"Type"`
		Value string `json:"Value"`
	} `json:"MessageAttributes"`
}

// UnwrapSNS returns the message inside an SNS notification envelope and the
// envelope's message attributes; ok is false if body is not an envelope
// (an object with both "Type" and "Message").
func UnwrapSNS(body string) (inner string, attrs Attributes, ok bool) {
	if !strings.Contains(body, `"Type"`) || !strings.Contains(body, `"Message"`) {
		return "", nil, false
	}
	var env snsEnvelope
	if err := json.Unmarshal([]byte(body), &env); err != nil || env.Type == "" || env.Message == nil {
		return "", nil, false
	}
	attrs = Attributes{}
	for k, v := range env.MessageAttributes {
		typ := v.Type
		if typ == "" {
			typ = TypeString
		}
		attrs[k] = Attr{typ, v.Value}
	}
	return *env.Message, attrs, true
}

// GetMeta returns params._meta[key] when it is a string.
func GetMeta(params json.RawMessage, key string) string {
	var p struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	if json.Unmarshal(params, &p) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(p.Meta[key], &s) != nil {
		return ""
	}
	return s
}

// GetParam returns params[key] when it is a string.
func GetParam(params json.RawMessage, key string) string {
	var p map[string]json.RawMessage
	if json.Unmarshal(params, &p) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(p[key], &s) != nil {
		return ""
	}
	return s
}

// SetParam returns params with the top-level member key set to value. Every
// other member is kept as it was.
func SetParam(params json.RawMessage, key, value string) (json.RawMessage, error) {
	obj := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(params)) > 0 && !bytes.Equal(bytes.TrimSpace(params), []byte("null")) {
		if err := json.Unmarshal(params, &obj); err != nil {
			return nil, fmt.Errorf("setting params.%s: params are not a JSON object: %w", key, err)
		}
	}
	v, _ := json.Marshal(value)
	obj[key] = v
	return json.Marshal(obj)
}

// SetMeta returns params with params._meta[key] set to value. Every other
// member of params and of _meta is kept as it was.
func SetMeta(params json.RawMessage, key, value string) (json.RawMessage, error) {
	obj := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(params)) > 0 && !bytes.Equal(bytes.TrimSpace(params), []byte("null")) {
		if err := json.Unmarshal(params, &obj); err != nil {
			return nil, fmt.Errorf("setting _meta.%s: params are not a JSON object: %w", key, err)
		}
	}
	meta := map[string]json.RawMessage{}
	if raw, ok := obj["_meta"]; ok && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Errorf("setting _meta.%s: params._meta is not a JSON object: %w", key, err)
		}
	}
	v, _ := json.Marshal(value)
	meta[key] = v
	m, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	obj["_meta"] = m
	return json.Marshal(obj)
}

// ErrorResponse builds a JSON-RPC error response.
func ErrorResponse(id jsonrpc.ID, code int64, msg string) *jsonrpc.Response {
	return &jsonrpc.Response{ID: id, Error: &jsonrpc.Error{Code: code, Message: msg}}
}

// ErrorCode returns the code of a response's error, and false if the
// response is a result.
func ErrorCode(r *jsonrpc.Response) (int64, bool) {
	if r.Error == nil {
		return 0, false
	}
	var we *jsonrpc.Error
	if errors.As(r.Error, &we) {
		return we.Code, true
	}
	return jsonrpc.CodeInternalError, true
}

// TooLargeError is the error for an envelope of size bytes that exceeds
// limit, for the destination dest.
func TooLargeError(size, limit int, dest string) error {
	return fmt.Errorf("message of %d bytes exceeds the %d-byte limit for %s", size, limit, dest)
}
