// SPDX-License-Identifier: Apache-2.0

package tasks

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
)

// A listenStream is a subscriptions/listen open through the HTTP front;
// msgs receives each JSON-RPC message of its SSE stream.
type listenStream struct {
	id   int64
	msgs chan map[string]any
}

// openListen posts subscriptions/listen with the filter notifications and
// reads its stream until the test ends.
func openListen(t *testing.T, url string, notifications map[string]any) *listenStream {
	t.Helper()
	l := &listenStream{id: reqSeq.Add(1), msgs: make(chan map[string]any, 64)}
	params := map[string]any{"notifications": notifications, "_meta": (&tclient{}).meta()}
	body := mustMarshal(map[string]any{"jsonrpc": "2.0", "id": l.id, "method": "subscriptions/listen", "params": params})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", rpcmsg.ModernVersion)
	req.Header.Set("Mcp-Method", "subscriptions/listen")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		t.Fatalf("subscriptions/listen: HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	go func() {
		defer resp.Body.Close()
		defer close(l.msgs)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data:")
			if !ok {
				continue
			}
			var m map[string]any
			if json.Unmarshal([]byte(strings.TrimSpace(data)), &m) == nil {
				l.msgs <- m
			}
		}
	}()
	return l
}

// next returns the stream's next message, failing after a minute.
func (l *listenStream) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case m, ok := <-l.msgs:
		if !ok {
			t.Fatal("the listen stream ended")
		}
		return m
	case <-time.After(time.Minute):
		t.Fatal("no message on the listen stream within a minute")
	}
	return nil
}

// A proxy-made task pushes notifications/tasks on the subscriptions/listen
// streams whose filter names it: the acknowledgement (first) echoes the
// honoured ids (not an unknown one), each status change arrives with the
// listen's subscriptionId, and the terminal one inlines the result. A
// filter with taskIds only is served by the proxy; a filter that also asks
// for list changes goes to the back (the Go SDK everything-server) for
// those, and the proxy adds its part.
func TestTaskNotificationsOnListen(t *testing.T) {
	url, _ := startTasksFront(t, Options{})
	_, created := post(t, url, "tools/call", "test_input_required_result_elicitation", map[string]any{"name": "test_input_required_result_elicitation", "arguments": map[string]any{}})
	id, _ := created["result"].(map[string]any)["taskId"].(string)
	if id == "" {
		t.Fatalf("tools/call: %v", created)
	}
	var task map[string]any
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		_, got := post(t, url, MethodGet, id, map[string]any{"taskId": id})
		task, _ = got["result"].(map[string]any)
		if task["status"] != "working" || time.Now().After(deadline) {
			break
		}
	}
	if task["status"] != "input_required" {
		t.Fatalf("task before the listens: %v", task)
	}

	only := openListen(t, url, map[string]any{"taskIds": []string{id, "no-such-task"}})
	mixed := openListen(t, url, map[string]any{"taskIds": []string{id}, "toolsListChanged": true})
	for _, l := range []*listenStream{only, mixed} {
		ack := l.next(t)
		p, _ := ack["params"].(map[string]any)
		n, _ := p["notifications"].(map[string]any)
		meta, _ := p["_meta"].(map[string]any)
		ids, _ := n["taskIds"].([]any)
		if ack["method"] != "notifications/subscriptions/acknowledged" || len(ids) != 1 || ids[0] != id || meta[rpcmsg.MetaSubscriptionID] != float64(l.id) {
			t.Fatalf("first message of listen %d: %v", l.id, ack)
		}
		if l == mixed && n["toolsListChanged"] != true {
			t.Errorf("the back's part of the acknowledgement is lost: %v", ack)
		}
	}

	if status, ack := post(t, url, MethodUpdate, id, map[string]any{"taskId": id, "inputResponses": map[string]any{
		"user_name": map[string]any{"action": "accept", "content": map[string]any{"name": "Listen"}}}}); status != 200 || ack["error"] != nil {
		t.Fatalf("tasks/update: %d %v", status, ack)
	}
	for _, l := range []*listenStream{only, mixed} {
		var statuses []string
		for len(statuses) == 0 || statuses[len(statuses)-1] == "working" {
			m := l.next(t)
			p, _ := m["params"].(map[string]any)
			meta, _ := p["_meta"].(map[string]any)
			if m["method"] != MethodTaskNotification || p["taskId"] != id || meta[rpcmsg.MetaSubscriptionID] != float64(l.id) || p["resultType"] != nil {
				t.Fatalf("listen %d: %v", l.id, m)
			}
			statuses = append(statuses, p["status"].(string))
			if p["status"] == "completed" && firstText(t, p["result"]) != "Hello, Listen!" {
				t.Errorf("listen %d: the completed task's notification: %v", l.id, p)
			}
		}
		if got := strings.Join(statuses, ","); got != "working,completed" && got != "completed" {
			t.Errorf("listen %d: statuses %s, want working,completed (working may be skipped when it is short)", l.id, got)
		}
	}
}
