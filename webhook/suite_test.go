// SPDX-License-Identifier: Apache-2.0

package webhook_test

import (
	"testing"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/transporttest"
	"github.com/asyncmcp/asyncmcp-go/webhook"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestTransportSuite runs the shared transport conformance suite.
func TestTransportSuite(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) (mcp.Transport, bridge.Listener) {
		s, url := startServer(t, &webhook.ServerOptions{AllowLoopback: true})
		c := webhook.NewClient(&webhook.ClientOptions{ServerURL: url, Logger: testLogger(t)})
		if _, err := c.Listen("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.Transport(), s
	})
}
