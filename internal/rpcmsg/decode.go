// SPDX-License-Identifier: Apache-2.0

// Package rpcmsg decodes JSON-RPC 2.0 messages into the Go MCP SDK's
// [jsonrpc.Message] types.
//
// It does what [jsonrpc.DecodeMessage] does, with the same results, but
// without the 32 KiB scratch buffer that the SDK's decoder allocates for each
// message, which made decoding and the garbage it leaves a large share of
// the proxy's CPU time.
package rpcmsg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// ErrInvalidRequest reports a message that is neither a request nor a
// response with an id.
var ErrInvalidRequest = errors.New("invalid JSON-RPC message: no method and no id")

type wireMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  *string         `json:"method"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"`
	Error   *jsonrpc.Error  `json:"error"`
}

// Decode parses one JSON-RPC message: a *jsonrpc.Request when it has a
// "method" key, else a *jsonrpc.Response, which must have an id.
func Decode(data []byte) (jsonrpc.Message, error) {
	var w wireMessage
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("unmarshaling jsonrpc message: %w", err)
	}
	if w.JSONRPC != "2.0" {
		return nil, fmt.Errorf("invalid message version tag %q; expected %q", w.JSONRPC, "2.0")
	}
	id, err := parseID(w.ID)
	if err != nil {
		return nil, err
	}
	if w.Method != nil {
		return &jsonrpc.Request{ID: id, Method: *w.Method, Params: w.Params}, nil
	}
	if !id.IsValid() {
		return nil, ErrInvalidRequest
	}
	resp := &jsonrpc.Response{ID: id, Result: w.Result}
	if w.Error != nil {
		resp.Error = w.Error
	}
	return resp, nil
}

// parseID turns a raw id (string, number or null/absent) into a jsonrpc.ID.
func parseID(raw json.RawMessage) (jsonrpc.ID, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return jsonrpc.ID{}, nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return jsonrpc.ID{}, fmt.Errorf("invalid id %s: %w", raw, err)
		}
		return jsonrpc.MakeID(s)
	}
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return jsonrpc.MakeID(float64(n))
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return jsonrpc.ID{}, fmt.Errorf("invalid id %s: must be a string or a number", raw)
	}
	return jsonrpc.MakeID(f)
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
