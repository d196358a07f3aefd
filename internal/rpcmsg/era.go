// SPDX-License-Identifier: Apache-2.0

package rpcmsg

import (
	"encoding/json"
)

// Protocol versions and the request envelope of the stateless revision.
const (
	// ModernVersion is the first protocol version without initialize and
	// sessions (2026-07-28). Requests that declare it or a later version in
	// params._meta are self-contained.
	ModernVersion = "2026-07-28"
	// LatestLegacyVersion is the newest session-based protocol version.
	LatestLegacyVersion = "2025-11-25"

	MetaProtocolVersion    = "io.modelcontextprotocol/protocolVersion"
	MetaClientCapabilities = "io.modelcontextprotocol/clientCapabilities"
	MetaClientInfo         = "io.modelcontextprotocol/clientInfo"
	MetaLogLevel           = "io.modelcontextprotocol/logLevel"
	MetaSubscriptionID     = "io.modelcontextprotocol/subscriptionId"
	MetaServerInfo         = "io.modelcontextprotocol/serverInfo"
)

// Error codes of the stateless revision.
const (
	// CodeHeaderMismatch answers a request whose transport headers (or
	// message attributes) are missing or disagree with its body. HTTP 400.
	CodeHeaderMismatch = -32020
	// CodeMissingClientCapability answers a request that needs a client
	// capability it did not declare. HTTP 400.
	CodeMissingClientCapability = -32021
	// CodeUnsupportedProtocolVersion answers a request for a protocol
	// version the server does not implement; data.supported lists those it
	// does. HTTP 400.
	CodeUnsupportedProtocolVersion = -32022
)

// LegacyVersions are the session-based protocol versions, newest first.
var LegacyVersions = []string{LatestLegacyVersion, "2025-06-18", "2025-03-26", "2024-11-05"}

// RequestVersion returns params._meta["io.modelcontextprotocol/protocolVersion"]
// of a request, or "" when params has no such string.
func RequestVersion(params json.RawMessage) string {
	if len(params) == 0 {
		return ""
	}
	var p struct {
		Meta struct {
			Version json.RawMessage `json:"io.modelcontextprotocol/protocolVersion"`
		} `json:"_meta"`
	}
	if json.Unmarshal(params, &p) != nil || len(p.Meta.Version) == 0 {
		return ""
	}
	var v string
	if json.Unmarshal(p.Meta.Version, &v) != nil {
		return ""
	}
	return v
}

// IsModernVersion reports whether v names the stateless revision or a later
// one. Versions are dates, so they compare as strings.
func IsModernVersion(v string) bool { return len(v) == len(ModernVersion) && v >= ModernVersion }

// IsModern reports whether a request with these params belongs to the
// stateless revision: its _meta declares a protocol version of 2026-07-28
// or later. Notifications never count as modern; only requests carry the
// envelope.
func IsModern(params json.RawMessage) bool { return IsModernVersion(RequestVersion(params)) }
