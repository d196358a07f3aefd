// SPDX-License-Identifier: Apache-2.0

package stdio_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/stdio"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// initAs starts a child for client and sends it initialize with clientInfo
// name; badserver crash-at-init dies without answering when name is
// "crash". It returns the Dial error, or whether the child answered.
func initAs(t *testing.T, c *stdio.Command, client, name string) (answered bool, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bridge.WithClient(t.Context(), client), waitLimit)
	defer cancel()
	conn, err := c.Dial(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	params, _ := json.Marshal(map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": name, "version": "1"}})
	if err := conn.Write(ctx, &jsonrpc.Request{ID: mustID(t, 1), Method: "initialize", Params: params}); err != nil {
		t.Fatalf("writing initialize: %v", err)
	}
	msg, err := conn.Read(ctx)
	if err != nil {
		// Read reports the end once the exit has been recorded.
		if !errors.Is(err, io.EOF) {
			t.Fatalf("reading the answer to initialize: %v", err)
		}
		return false, nil
	}
	if r, ok := msg.(*jsonrpc.Response); !ok || r.Error != nil {
		t.Fatalf("initialize: %v", msg)
	}
	return true, nil
}

// TestCrashBackoffPerClient: one client's crashing children put only that
// client in back-off; quick deaths seen by three distinct clients, with no
// child answering anyone in between, put every client in back-off.
func TestCrashBackoffPerClient(t *testing.T) {
	c := &stdio.Command{Path: badServer(t), Args: []string{"crash-at-init"}, Logger: testLogger()}
	for i := 0; i < 3; i++ {
		if answered, err := initAs(t, c, "mallory", "crash"); err != nil || answered {
			t.Fatalf("crash %d: answered %v, err %v", i, answered, err)
		}
	}
	if _, err := initAs(t, c, "mallory", "crash"); err == nil || !strings.Contains(err.Error(), "for this client's sessions") {
		t.Fatalf("the crashing client after 3 crashes: %v", err)
	}
	if st := c.Status(); st.ClientsInBackoff != 1 || !st.RetryAfter.IsZero() || !st.Crashing {
		t.Errorf("status after one client's crashes: %+v", st)
	}
	if answered, err := initAs(t, c, "alice", "alice"); err != nil || !answered {
		t.Fatalf("another client's initialize: answered %v, err %v", answered, err)
	}
	if st := c.Status(); st.Crashing {
		t.Errorf("status after a child answered: %+v", st)
	}

	// Two clients crash once each, then one child answers: the streak ends.
	for _, who := range []string{"bob", "carol"} {
		if answered, err := initAs(t, c, who, "crash"); err != nil || answered {
			t.Fatalf("%s: answered %v, err %v", who, answered, err)
		}
	}
	if answered, err := initAs(t, c, "alice", "alice"); err != nil || !answered {
		t.Fatalf("alice: answered %v, err %v", answered, err)
	}
	if answered, err := initAs(t, c, "dave", "crash"); err != nil || answered {
		t.Fatalf("dave: answered %v, err %v", answered, err)
	}
	if answered, err := initAs(t, c, "alice", "alice"); err != nil || !answered {
		t.Fatalf("alice after an interrupted streak: answered %v, err %v", answered, err)
	}

	// Three distinct clients in a row: the server crashes for everyone.
	for _, who := range []string{"bob", "carol", "dave"} {
		if answered, err := initAs(t, c, who, "crash"); err != nil || answered {
			t.Fatalf("%s: answered %v, err %v", who, answered, err)
		}
	}
	_, err := initAs(t, c, "alice", "alice")
	if err == nil || strings.Contains(err.Error(), "for this client's sessions") || !strings.Contains(err.Error(), "keeps exiting") {
		t.Fatalf("a fresh client after crashes seen by three clients: %v", err)
	}
	if st := c.Status(); st.RetryAfter.IsZero() || !st.Crashing {
		t.Errorf("status in global back-off: %+v", st)
	}
}
