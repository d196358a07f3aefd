// SPDX-License-Identifier: Apache-2.0

package stdio

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

func result(s string) *jsonrpc.Response { return &jsonrpc.Response{Result: json.RawMessage(s)} }

// TestLearnTask: which results teach the pool a task route, and how long
// the route lives.
func TestLearnTask(t *testing.T) {
	p := &pool{}
	a, b := &child{}, &child{}
	p.learnTask("tools/call", a, result(`{"resultType":"task","taskId":"flat","status":"working","ttlMs":1000}`))
	p.learnTask("tools/call", b, result(`{"task":{"taskId":"old-shape","status":"working","ttl":60000}}`))
	p.learnTask("tools/call", a, result(`{"resultType":"complete","content":[{"type":"text","text":"{\"taskId\":\"not-a-task\"}"}],"structuredContent":{"taskId":"nor-this"}}`))
	p.learnTask("tools/call", a, &jsonrpc.Response{Error: &jsonrpc.Error{Code: 1, Message: `"taskId"`}})
	if got := p.tasks.lookup("flat"); got != a {
		t.Errorf("flat Task: routed to %p, want %p", got, a)
	}
	if got := p.tasks.lookup("old-shape"); got != b {
		t.Errorf("2025 shape: routed to %p, want %p", got, b)
	}
	for _, id := range []string{"not-a-task", "nor-this"} {
		if p.tasks.lookup(id) != nil {
			t.Errorf("%s learnt from a complete result", id)
		}
	}
	if r := p.tasks.routes["flat"]; time.Until(r.expires) > time.Second+taskRouteSlack {
		t.Errorf("route of a task with ttlMs 1000 lasts until %v", r.expires)
	}

	// A terminal status seen by tasks/get shortens the route; one seen for
	// another child's task does nothing.
	p.tasks.remember("long", a, maxTaskRouteTTL)
	p.learnTask("tasks/get", b, result(`{"resultType":"complete","taskId":"long","status":"completed"}`))
	if time.Until(p.tasks.routes["long"].expires) <= terminalGrace {
		t.Error("another child's tasks/get result shortened the route")
	}
	p.learnTask("tasks/get", a, result(`{"resultType":"complete","taskId":"long","status":"completed"}`))
	if time.Until(p.tasks.routes["long"].expires) > terminalGrace {
		t.Error("a completed task keeps its long route")
	}
	if p.tasks.lookup("long") != a {
		t.Error("a completed task is not reachable during the grace period")
	}

	if n := p.tasks.childDown(a); n != 2 || p.tasks.lookup("flat") != nil || p.tasks.lookup("old-shape") != b {
		t.Errorf("childDown(a) dropped %d routes; flat %v, old-shape %v", n, p.tasks.lookup("flat"), p.tasks.lookup("old-shape"))
	}
}

func TestTaskRoutesBounded(t *testing.T) {
	var tr taskRoutes
	ch := &child{}
	for i := 0; i < maxTaskRoutes+10; i++ {
		tr.remember(fmt.Sprint(i), ch, time.Hour+time.Duration(i)*time.Millisecond)
	}
	if len(tr.routes) != maxTaskRoutes {
		t.Fatalf("%d routes, bound %d", len(tr.routes), maxTaskRoutes)
	}
	if tr.lookup("0") != nil || tr.lookup(fmt.Sprint(maxTaskRoutes+9)) != ch {
		t.Error("the route closest to expiry should go first")
	}
}
