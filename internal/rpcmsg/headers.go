// SPDX-License-Identifier: Apache-2.0

package rpcmsg

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// Header rules of the stateless revision's HTTP binding (also used to mirror
// a request into queue message attributes).

// ModernName returns the body value that the Mcp-Name header mirrors for
// method: params.name of tools/call and prompts/get, params.uri of
// resources/read, and params.taskId of tasks/get, tasks/update and
// tasks/cancel (the Tasks extension). ok is false for other methods, and
// when params has no such string.
func ModernName(method string, params json.RawMessage) (name string, ok bool) {
	field := NameField(method)
	if field == "" {
		return "", false
	}
	var p map[string]json.RawMessage
	if json.Unmarshal(params, &p) != nil {
		return "", false
	}
	raw, found := p[field]
	if !found || json.Unmarshal(raw, &name) != nil {
		return "", false
	}
	return name, true
}

// NameField returns the params field that Mcp-Name mirrors for method, or ""
// when the method has no Mcp-Name.
func NameField(method string) string {
	switch method {
	case "tools/call", "prompts/get":
		return "name"
	case "resources/read":
		return "uri"
	case "tasks/get", "tasks/update", "tasks/cancel":
		return "taskId"
	}
	return ""
}

const (
	b64Prefix = "=?base64?"
	b64Suffix = "?="
)

// EncodeHeaderValue returns v as an Mcp-Name or Mcp-Param-* header value:
// unchanged when it is plain visible ASCII with no leading or trailing
// whitespace and does not itself look Base64-wrapped, else
// "=?base64?<standard Base64 of its UTF-8>?=".
func EncodeHeaderValue(v string) string {
	plain := v == "" || (v[0] != ' ' && v[0] != '\t' && v[len(v)-1] != ' ' && v[len(v)-1] != '\t')
	for i := 0; plain && i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			plain = false
		}
	}
	if plain && strings.HasPrefix(v, b64Prefix) && strings.HasSuffix(v, b64Suffix) {
		plain = false
	}
	if plain {
		return v
	}
	return b64Prefix + base64.StdEncoding.EncodeToString([]byte(v)) + b64Suffix
}

// DecodeHeaderValue undoes [EncodeHeaderValue]. ok is false when the value
// is Base64-wrapped but its content is not valid standard Base64, or when it
// holds control characters. A plain value with bytes beyond ASCII is taken
// literally: the revision wants those Base64-wrapped, but the Go SDK v1.8.0
// client sends them raw, and rejecting them would only break such clients.
func DecodeHeaderValue(v string) (string, bool) {
	if inner, found := strings.CutPrefix(v, b64Prefix); found {
		if inner, found = strings.CutSuffix(inner, b64Suffix); found {
			b, err := base64.StdEncoding.DecodeString(inner)
			if err != nil {
				return "", false
			}
			return string(b), true
		}
	}
	for i := 0; i < len(v); i++ {
		if (v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f {
			return "", false
		}
	}
	return v, true
}

// IsModernEnvelope reports whether a request with these params uses the
// stateless revision's envelope: its _meta declares a protocol version that
// is not one of the session-based [LegacyVersions]. Unlike [IsModern], it
// also holds for versions nobody knows yet (a probe for "v999.0.0"), which a
// server must answer with [CodeUnsupportedProtocolVersion] rather than
// treat as session-based traffic.
func IsModernEnvelope(params json.RawMessage) bool {
	return IsModernHeader(RequestVersion(params))
}

// IsModernHeader reports whether v, an MCP-Protocol-Version header value (or
// message attribute), is set and names no session-based version.
func IsModernHeader(v string) bool {
	if v == "" {
		return false
	}
	for _, l := range LegacyVersions {
		if v == l {
			return false
		}
	}
	return true
}
