// SPDX-License-Identifier: Apache-2.0

package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// TestCancelDropsRequest: once the client cancels a request it no longer
// waits for its answer, so the poll loop stops asking the server about it
// (it used to poll every 2s forever when the server did not answer).
func TestCancelDropsRequest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, []byte(`{"status":"received"}`))
	}))
	t.Cleanup(srv.Close)
	c := NewClient(&ClientOptions{ServerURL: srv.URL, WebhookURL: "http://127.0.0.1:9/hook", PollInterval: -1})
	t.Cleanup(func() { c.Close() })
	conn, err := c.Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cc := conn.(*clientConn)
	id, _ := jsonrpc.MakeID("call-1")
	if err := cc.Write(context.Background(), &jsonrpc.Request{ID: id, Method: "tools/call", Params: json.RawMessage(`{"name":"slow"}`)}); err != nil {
		t.Fatal(err)
	}
	if n := inflight(cc); n != 1 {
		t.Fatalf("%d requests in flight after the call, want 1", n)
	}
	if err := cc.Write(context.Background(), &jsonrpc.Request{Method: "notifications/cancelled", Params: json.RawMessage(`{"requestId":"call-1"}`)}); err != nil {
		t.Fatal(err)
	}
	if n := inflight(cc); n != 0 {
		t.Errorf("%d requests in flight after cancelling the only one, want 0", n)
	}
}

func inflight(cc *clientConn) int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return len(cc.inflight)
}
