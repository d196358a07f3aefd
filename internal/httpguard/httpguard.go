// SPDX-License-Identifier: Apache-2.0

// Package httpguard holds the checks every MCP HTTP endpoint of the project
// applies before it looks at a request: the Host header (DNS-rebinding
// protection), the Origin header, and a bearer token. The Streamable HTTP
// front, the StreamableHTTP+webhook server and the webhook server share
// them, so each behaves the same way.
package httpguard

import (
	"crypto/subtle"
	"net"
	"net/http"
	"strings"
)

// A Guard checks requests. The zero value lets everything through.
type Guard struct {
	// Loopback is true when the listener is on a loopback address: then
	// only loopback Host names (and AllowedHosts) are accepted.
	Loopback bool
	// AllowedHosts are Host values accepted ("name" or "name:port"),
	// besides loopback names on a loopback listener. On any other
	// listener, when set, they are the only Hosts accepted.
	AllowedHosts []string
	// DisableHostCheck accepts any Host.
	DisableHostCheck bool
	// AllowOrigins lists browser origins allowed ("*" for any); a request
	// with another Origin header is refused unless it is same-origin.
	AllowOrigins []string
	// AuthToken, if set, is required as "Authorization: Bearer TOKEN".
	AuthToken string
}

// IsLoopbackAddr reports whether a listen address ("host:port" or a host)
// is on loopback.
func IsLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// HostAllowed applies the Host check. An AllowedHosts entry matches the
// Host header exactly or its name without the port, ignoring case.
func (g *Guard) HostAllowed(host string) bool {
	if g.DisableHostCheck || (!g.Loopback && len(g.AllowedHosts) == 0) {
		return true
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.Trim(name, "[]")
	for _, h := range g.AllowedHosts {
		if strings.EqualFold(h, host) || strings.EqualFold(strings.Trim(h, "[]"), name) {
			return true
		}
	}
	if !g.Loopback {
		return false
	}
	if strings.EqualFold(name, "localhost") {
		return true
	}
	ip := net.ParseIP(name)
	return ip != nil && ip.IsLoopback()
}

// OriginAllowed reports whether a request from origin to host may proceed:
// origin is in AllowOrigins (or it holds "*"), or it is the same origin.
func (g *Guard) OriginAllowed(origin, host string) bool {
	for _, o := range g.AllowOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	// Same-origin requests are fine: the page came from this server.
	if i := strings.Index(origin, "://"); i >= 0 && strings.EqualFold(origin[i+3:], host) {
		return true
	}
	return false
}

// Authorized checks the bearer token in constant time. The scheme name is
// case-insensitive (RFC 9110, section 11.1).
func (g *Guard) Authorized(r *http.Request) bool {
	if g.AuthToken == "" {
		return true
	}
	scheme, got, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	return ok && strings.EqualFold(scheme, "Bearer") &&
		subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(g.AuthToken)) == 1
}

// Check applies the Host, Origin and token checks in that order, and
// returns the HTTP status to refuse with (403 or 401) and why, or 0.
func (g *Guard) Check(r *http.Request) (status int, reason string) {
	if !g.HostAllowed(r.Host) {
		return http.StatusForbidden, "Forbidden: Host header not allowed"
	}
	if origin := r.Header.Get("Origin"); origin != "" && !g.OriginAllowed(origin, r.Host) {
		return http.StatusForbidden, "Forbidden: Origin not allowed"
	}
	if !g.Authorized(r) {
		return http.StatusUnauthorized, "Unauthorized: a valid bearer token is required"
	}
	return 0, ""
}
