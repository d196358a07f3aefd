// SPDX-License-Identifier: Apache-2.0

package hybrid_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/hybrid"
	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// modernBack opens sessions with Dialer and serves stateless requests with
// the test-scaffolding RoundTripper.
type modernBack struct {
	bridge.Dialer
	*testenv.ScaffoldRoundTripper
}

// TestStatelessOverHybrid: a stateless (2026-07-28) tools/call of a
// webhook tool, sent with hybrid.Client.RoundTrip, is answered on its POST's
// own stream with its progress, not diverted (it has no session), and no
// delivery reaches the webhook.
func TestStatelessOverHybrid(t *testing.T) {
	back := testenv.StartScaffoldRoundTripper(t, testenv.GoEverythingServer(t))
	url := startServer(t, hybrid.ServerOptions{WebhookTools: []string{"test_tool_with_progress"}, AllowLoopback: true},
		modernBack{everythingDialer(t), back})
	rec := &recorder{}
	c, _ := newClient(t, url, rec, hybrid.ClientOptions{})
	rt := bridge.Dialer(c).(bridge.RoundTripper) // what a front does
	p, _ := json.Marshal(map[string]any{"name": "test_tool_with_progress", "_meta": map[string]any{
		"progressToken": "tok", rpcmsg.MetaProtocolVersion: rpcmsg.ModernVersion, rpcmsg.MetaClientCapabilities: map[string]any{}}})
	id, _ := jsonrpc.MakeID("c1")
	var got []string
	resp, err := rt.RoundTrip(t.Context(), &jsonrpc.Request{ID: id, Method: "tools/call", Params: p}, func(n *jsonrpc.Request) {
		got = append(got, n.Method)
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Error != nil || !strings.Contains(string(resp.Result), `"resultType":"complete"`) || resp.ID.Raw() != "c1" {
		t.Errorf("response %v %s", resp.Error, resp.Result)
	}
	if len(got) != 3 {
		t.Errorf("notifications %q, want 3 progress", got)
	}
	if n := back.Started("tools/call"); n != 1 {
		t.Errorf("back ran %d calls", n)
	}
	if d := rec.deliveries(); len(d) != 0 {
		t.Errorf("%d webhook deliveries for a stateless request", len(d))
	}
}
