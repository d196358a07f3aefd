// SPDX-License-Identifier: Apache-2.0

package bridge

import (
	"context"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// TestSendQueueBound: the queue between the client reader and the server
// writer holds at most maxPendingToBack bytes, always admits one message
// however large, and hands messages over in order.
func TestSendQueueBound(t *testing.T) {
	q := newSendQueue()
	big := &jsonrpc.Request{Method: "m", Params: []byte(`"` + strings.Repeat("x", maxPendingToBack) + `"`)}
	if !q.push(big) {
		t.Fatal("an empty queue refused one message")
	}
	small := &jsonrpc.Request{Method: "notifications/x"}
	if q.push(small) {
		t.Fatalf("queue over its bound (%d bytes pending) accepted another message", q.pending())
	}
	if m, ok := q.pop(context.Background()); !ok || m != big {
		t.Fatalf("pop = %v, %v; want the first message", m, ok)
	}
	if q.pending() != 0 {
		t.Errorf("pending = %d after pop, want 0", q.pending())
	}
	for i := 0; i < 3; i++ {
		if !q.push(&jsonrpc.Request{Method: "n" + string(rune('0'+i))}) {
			t.Fatalf("push %d refused", i)
		}
	}
	q.close()
	for i := 0; i < 3; i++ {
		m, ok := q.pop(context.Background())
		if !ok || m.(*jsonrpc.Request).Method != "n"+string(rune('0'+i)) {
			t.Fatalf("pop %d = %v, %v", i, m, ok)
		}
	}
	if _, ok := q.pop(context.Background()); ok {
		t.Error("pop on a closed, empty queue returned a message")
	}
}
