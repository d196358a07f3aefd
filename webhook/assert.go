// SPDX-License-Identifier: Apache-2.0

package webhook

import "github.com/asyncmcp/asyncmcp-go/bridge"

var (
	_ bridge.Listener = (*Server)(nil)
	_ bridge.Dialer   = (*Client)(nil)
)
