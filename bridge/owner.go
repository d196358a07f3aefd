// SPDX-License-Identifier: Apache-2.0

package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

type ownerKey struct{}

// WithOwner returns a copy of ctx that carries owner: an opaque string
// naming the authorization context of a request (see [AuthOwner]). Backs
// that keep state across requests, such as the MCP Tasks engine (package
// tasks, whose WithOwner is this function), show it only to requests of the
// same owner; "" (no authorization) is an owner like any other.
func WithOwner(ctx context.Context, owner string) context.Context {
	return context.WithValue(ctx, ownerKey{}, owner)
}

// OwnerFromContext returns the owner stored by [WithOwner], or "".
func OwnerFromContext(ctx context.Context) string {
	s, _ := ctx.Value(ownerKey{}).(string)
	return s
}

// AuthOwner derives the owner of a request from its Authorization header
// value: "" when there is none, else a SHA-256 digest (hex) of it, so that
// the credential itself is never stored. The Bearer scheme is matched
// without regard to case, as HTTP auth schemes are.
func AuthOwner(authorization string) string {
	authorization = strings.TrimSpace(authorization)
	if authorization == "" {
		return ""
	}
	if scheme, token, ok := strings.Cut(authorization, " "); ok && strings.EqualFold(scheme, "Bearer") {
		authorization = "Bearer " + strings.TrimSpace(token)
	}
	sum := sha256.Sum256([]byte("asyncmcp-owner\x00" + authorization))
	return hex.EncodeToString(sum[:])
}
