// SPDX-License-Identifier: Apache-2.0

package bridge

import "context"

type clientKey struct{}

// WithClient returns a copy of ctx that names the client on whose behalf a
// back is dialed: an opaque identity, stable across the client's sessions
// (an HTTP front derives it from the bearer token and the remote address, a
// queue front from the ClientId and SenderId of the initialize). A back
// reads it with [ClientFrom] to account per client for what one client's
// input can provoke, such as children crashing, so that one client cannot
// lock the others out. It must not be shown to other clients.
func WithClient(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, clientKey{}, id)
}

// ClientFrom returns the identity stored by [WithClient], or "" when the
// front named none.
func ClientFrom(ctx context.Context) string {
	id, _ := ctx.Value(clientKey{}).(string)
	return id
}
