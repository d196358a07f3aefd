// SPDX-License-Identifier: Apache-2.0

// Package rpcmsg decodes JSON-RPC 2.0 messages into the Go MCP SDK's
// [jsonrpc.Message] types.
//
// Decode is the door every message passes where it enters the program (an
// HTTP body, a queue message, a webhook delivery, a child's stdout line). It
// is stricter than [jsonrpc.DecodeMessage]: what it accepts re-encodes with
// [jsonrpc.EncodeMessage] to a message with the same members and values, so
// forwarding never changes a message's meaning. It refuses, with a
// [*DecodeError]:
//
//   - anything that is not one JSON object in UTF-8, and duplicate members;
//   - members other than jsonrpc, id, method, params, result and error,
//     including case variants such as "ID" or "Method" (encoding/json would
//     match those to the real keys);
//   - a version tag other than the string "2.0";
//   - an id that is not a string or an integer within ±(2^53-1) written
//     without fraction or exponent (1.5, 1.0, 1e20, 9007199254740993, -0,
//     null, true, objects): the SDK's [jsonrpc.ID] holds only int64 and
//     string and takes numbers as float64, so such an id would be changed on
//     the way (and JavaScript peers cannot hold larger integers exactly);
//   - an empty or non-string method, params that are not an object or array,
//     a request that also has result or error;
//   - a response without an id, with both or neither of result and error,
//     with params, or whose error is not {code: integer, message: string,
//     data?: any}.
//
// It also does not allocate the 32 KiB scratch buffer that the SDK's decoder
// allocates per message.
package rpcmsg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// ErrInvalidRequest reports a message that is neither a request nor a
// response with an id. A [*DecodeError] for such a message wraps it.
var ErrInvalidRequest = errors.New("invalid JSON-RPC message: no method and no id")

// A DecodeError is why [Decode] refused a message.
type DecodeError struct {
	// Code is jsonrpc.CodeParseError when the input is not one JSON value,
	// else jsonrpc.CodeInvalidRequest.
	Code int64
	// ID is the message's "id" member as sent, when the input is a JSON
	// object that has one; nil otherwise.
	ID json.RawMessage
	// Err says what is wrong.
	Err error
}

func (e *DecodeError) Error() string { return e.Err.Error() }

func (e *DecodeError) Unwrap() error { return e.Err }

// ReplyID returns the refused message's id as a [jsonrpc.ID], for an error
// reply, when it can be one exactly; otherwise the null id.
func (e *DecodeError) ReplyID() jsonrpc.ID {
	id, err := parseID(e.ID)
	if err != nil {
		return jsonrpc.ID{}
	}
	return id
}

// Response returns the JSON-RPC error response to the refused message:
// its id echoed as sent (null when there is none or it is not a string or
// number), e.Code, and message prefixed by what the code means.
func (e *DecodeError) Response() []byte {
	id := []byte("null")
	if t := bytes.TrimSpace(e.ID); len(t) > 0 && (t[0] == '"' || t[0] == '-' || (t[0] >= '0' && t[0] <= '9')) {
		id = t
	}
	prefix := "Invalid Request: "
	if e.Code == jsonrpc.CodeParseError {
		prefix = "Parse error: "
	}
	msg, _ := json.Marshal(prefix + e.Err.Error())
	out := make([]byte, 0, len(id)+len(msg)+64)
	out = append(out, `{"jsonrpc":"2.0","id":`...)
	out = append(out, id...)
	out = append(out, `,"error":{"code":`...)
	out = strconv.AppendInt(out, e.Code, 10)
	out = append(out, `,"message":`...)
	out = append(out, msg...)
	return append(out, "}}"...)
}

// Code returns the JSON-RPC error code for a Decode error: the DecodeError's
// code, or jsonrpc.CodeInvalidRequest for any other error.
func Code(err error) int64 {
	if de, ok := errors.AsType[*DecodeError](err); ok {
		return de.Code
	}
	return jsonrpc.CodeInvalidRequest
}

// members holds the raw values of the members a message may have.
type members struct {
	jsonrpc, id, method, params, result, error json.RawMessage
}

func (m *members) slot(key string) *json.RawMessage {
	switch key {
	case "jsonrpc":
		return &m.jsonrpc
	case "id":
		return &m.id
	case "method":
		return &m.method
	case "params":
		return &m.params
	case "result":
		return &m.result
	case "error":
		return &m.error
	}
	return nil
}

// Decode parses one JSON-RPC message: a *jsonrpc.Request when it has a
// "method" member, else a *jsonrpc.Response. Whatever it refuses (see the
// package documentation) is reported as a [*DecodeError].
func Decode(data []byte) (jsonrpc.Message, error) {
	if !json.Valid(data) {
		return nil, &DecodeError{Code: jsonrpc.CodeParseError, Err: errors.New("message is not valid JSON")}
	}
	if !utf8.Valid(data) {
		// encoding/json would replace the bad bytes, changing the message.
		return nil, &DecodeError{Code: jsonrpc.CodeParseError, Err: errors.New("message is not valid UTF-8")}
	}
	if tooDeep(data) {
		return nil, &DecodeError{Code: jsonrpc.CodeInvalidRequest, Err: fmt.Errorf("message nests deeper than %d levels", maxDepth)}
	}
	var m members
	invalid := func(format string, a ...any) error {
		return &DecodeError{Code: jsonrpc.CodeInvalidRequest, ID: m.id, Err: fmt.Errorf(format, a...)}
	}
	if err := scanObject(data, func(key string, value json.RawMessage) error {
		p := m.slot(key)
		if p == nil {
			return fmt.Errorf("unknown member %q (member names are case-sensitive)", key)
		}
		if *p != nil {
			return fmt.Errorf("duplicate member %q", key)
		}
		*p = value
		return nil
	}); err != nil {
		// Find the id for the error reply: the first member named "id".
		scanObject(data, func(key string, value json.RawMessage) error {
			if key == "id" && m.id == nil {
				m.id = value
			}
			return nil
		})
		return nil, invalid("%w", err)
	}
	if string(m.jsonrpc) != `"2.0"` {
		return nil, invalid("invalid message version tag %s; expected \"2.0\"", orAbsent(m.jsonrpc))
	}
	var id jsonrpc.ID
	if m.id != nil {
		var err error
		if id, err = parseID(m.id); err != nil {
			return nil, invalid("%w", err)
		}
		if !id.IsValid() {
			return nil, invalid("id must not be null")
		}
	}
	if m.params != nil && m.params[0] != '{' && m.params[0] != '[' {
		return nil, invalid("params must be an object or an array, got %s", truncate(m.params, 40))
	}
	if m.method != nil {
		if m.method[0] != '"' {
			return nil, invalid("method must be a string, got %s", truncate(m.method, 40))
		}
		var method string
		if err := json.Unmarshal(m.method, &method); err != nil {
			return nil, invalid("decoding method: %w", err)
		}
		if method == "" {
			return nil, invalid("method must not be empty")
		}
		if m.result != nil || m.error != nil {
			return nil, invalid("a request must not have result or error")
		}
		return &jsonrpc.Request{ID: id, Method: method, Params: m.params}, nil
	}
	if !id.IsValid() {
		return nil, invalid("%w", ErrInvalidRequest)
	}
	if m.params != nil {
		return nil, invalid("a response must not have params")
	}
	switch {
	case m.result != nil && m.error != nil:
		return nil, invalid("a response must not have both result and error")
	case m.result == nil && m.error == nil:
		return nil, invalid("a response must have result or error")
	case m.error != nil:
		we, err := parseError(m.error)
		if err != nil {
			return nil, invalid("%w", err)
		}
		return &jsonrpc.Response{ID: id, Error: we}, nil
	}
	return &jsonrpc.Response{ID: id, Result: m.result}, nil
}

// parseError decodes a response's error member strictly.
func parseError(raw json.RawMessage) (*jsonrpc.Error, error) {
	if raw[0] != '{' {
		return nil, fmt.Errorf("error must be an object, got %s", truncate(raw, 40))
	}
	var code, message, data json.RawMessage
	err := scanObject(raw, func(key string, value json.RawMessage) error {
		var p *json.RawMessage
		switch key {
		case "code":
			p = &code
		case "message":
			p = &message
		case "data":
			p = &data
		default:
			return fmt.Errorf("unknown member %q in error", key)
		}
		if *p != nil {
			return fmt.Errorf("duplicate member %q in error", key)
		}
		*p = value
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !isInt64(code) {
		return nil, fmt.Errorf("error code must be an integer, got %s", orAbsent(code))
	}
	n, _ := strconv.ParseInt(string(code), 10, 64)
	if message == nil || message[0] != '"' {
		return nil, fmt.Errorf("error message must be a string, got %s", orAbsent(message))
	}
	we := &jsonrpc.Error{Code: n, Data: data}
	if err := json.Unmarshal(message, &we.Message); err != nil {
		return nil, fmt.Errorf("decoding error message: %w", err)
	}
	return we, nil
}

// parseID turns a raw id into a jsonrpc.ID: absent and null give the null
// id; a string or an integer within ±(2^53-1) (no fraction, no exponent, not
// -0) gives that id; anything else, which the SDK could not carry exactly,
// is an error.
func parseID(raw json.RawMessage) (jsonrpc.ID, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return jsonrpc.ID{}, nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return jsonrpc.ID{}, fmt.Errorf("invalid id %s: %w", truncate(raw, 40), err)
		}
		return jsonrpc.MakeID(s)
	case isInt64(raw):
		n, _ := strconv.ParseInt(string(raw), 10, 64)
		if n >= -maxSafeID && n <= maxSafeID {
			return jsonrpc.MakeID(float64(n))
		}
	}
	return jsonrpc.ID{}, fmt.Errorf("invalid id %s: must be a string or an integer from -(2^53-1) to 2^53-1 written without fraction or exponent", truncate(raw, 40))
}

// maxSafeID bounds integer ids: jsonrpc.MakeID takes numbers only as
// float64, which holds every integer up to 2^53 exactly but not beyond (and
// JavaScript peers cannot hold them either).
const maxSafeID = 1<<53 - 1

// isInt64 reports whether raw is a JSON integer literal without fraction or
// exponent that fits int64 and is not -0.
func isInt64(raw []byte) bool {
	if len(raw) == 0 || string(raw) == "-0" {
		return false
	}
	digits := raw
	if digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || (digits[0] == '0' && len(digits) > 1) {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	_, err := strconv.ParseInt(string(raw), 10, 64)
	return err == nil
}

// CancelledID returns the request id named by the params of a
// notifications/cancelled message.
func CancelledID(params json.RawMessage) (jsonrpc.ID, bool) {
	var p struct {
		RequestID json.RawMessage `json:"requestId"`
	}
	if json.Unmarshal(params, &p) != nil {
		return jsonrpc.ID{}, false
	}
	id, err := parseID(p.RequestID)
	return id, err == nil && id.IsValid()
}

func orAbsent(raw []byte) string {
	if raw == nil {
		return "(absent)"
	}
	return truncate(raw, 40)
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
