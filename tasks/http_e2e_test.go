// SPDX-License-Identifier: Apache-2.0

package tasks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/httpfront"
	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/remote"
)

// startTasksFront serves, at the returned URL, the HTTP front of the proxy
// (httpfront) whose back is the tasks engine over remote.Streamable, in
// front of the Go SDK everything-server on stateless Streamable HTTP: no
// scaffold anywhere.
func startTasksFront(t *testing.T, opts Options) (string, *Tasks) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	p := testenv.StartProcess(t, exec.Command(testenv.GoEverythingServer(t), "-http="+addr), nil)
	testenv.WaitTCP(t, addr, p)
	back := &remote.Streamable{URL: "http://" + addr}
	e := newEngine(t, back, opts)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	front := httpfront.New(ln.Addr().String(), httpfront.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	front.Handle("", e.Dialer(back), nil)
	srv := &http.Server{Handler: front}
	go srv.Serve(ln)
	t.Cleanup(func() {
		front.Close()
		srv.Close()
	})
	return "http://" + ln.Addr().String() + "/mcp", e
}

// post sends one 2026-07-28 request with the headers the revision requires
// (name, if not "", as Mcp-Name) and returns the HTTP status and the
// JSON-RPC response (the last message of an SSE stream).
func post(t *testing.T, url, method, name string, params map[string]any) (int, map[string]any) {
	t.Helper()
	params["_meta"] = (&tclient{}).meta()
	body := mustMarshal(map[string]any{"jsonrpc": "2.0", "id": reqSeq.Add(1), "method": method, "params": params})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", rpcmsg.ModernVersion)
	req.Header.Set("Mcp-Method", method)
	if name != "" {
		req.Header.Set("Mcp-Name", name)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	data = testenv.LastEventData(resp.Header.Get("Content-Type"), data)
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: HTTP %d body %q: %v", method, resp.StatusCode, data, err)
	}
	return resp.StatusCode, m
}

func TestTasksThroughHTTPFront(t *testing.T) {
	url, _ := startTasksFront(t, Options{})
	status, disc := post(t, url, "server/discover", "", map[string]any{})
	caps, _ := disc["result"].(map[string]any)["capabilities"].(map[string]any)
	if ext, _ := caps["extensions"].(map[string]any); status != 200 || ext[ExtensionID] == nil {
		t.Fatalf("server/discover through the front: %d %v", status, disc)
	}

	status, created := post(t, url, "tools/call", "test_input_required_result_elicitation", map[string]any{"name": "test_input_required_result_elicitation", "arguments": map[string]any{}})
	res, _ := created["result"].(map[string]any)
	id, _ := res["taskId"].(string)
	if status != 200 || res["resultType"] != "task" || id == "" {
		t.Fatalf("tools/call through the front: %d %v", status, created)
	}
	// The front requires Mcp-Name = taskId on tasks/*.
	if status, got := post(t, url, MethodGet, "", map[string]any{"taskId": id}); status != 400 || got["error"].(map[string]any)["code"] != float64(rpcmsg.CodeHeaderMismatch) {
		t.Errorf("tasks/get without Mcp-Name: %d %v", status, got)
	}
	var task map[string]any
	deadline := time.Now().Add(time.Minute)
	for {
		_, got := post(t, url, MethodGet, id, map[string]any{"taskId": id})
		task, _ = got["result"].(map[string]any)
		if task["status"] != "working" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if task["status"] != "input_required" || task["inputRequests"].(map[string]any)["user_name"] == nil {
		t.Fatalf("task through the front: %v", task)
	}
	status, ack := post(t, url, MethodUpdate, id, map[string]any{"taskId": id, "inputResponses": map[string]any{
		"user_name": map[string]any{"action": "accept", "content": map[string]any{"name": "Http"}}}})
	if status != 200 || ack["result"].(map[string]any)["resultType"] != "complete" {
		t.Fatalf("tasks/update through the front: %d %v", status, ack)
	}
	for {
		_, got := post(t, url, MethodGet, id, map[string]any{"taskId": id})
		task, _ = got["result"].(map[string]any)
		if (task["status"] != "working" && task["status"] != "input_required") || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if task["status"] != "completed" || firstText(t, task["result"]) != "Hello, Http!" {
		t.Fatalf("final task through the front: %v", task)
	}
	if status, got := post(t, url, MethodList, "", map[string]any{}); status != 404 || got["error"].(map[string]any)["code"] != float64(-32601) {
		t.Errorf("tasks/list through the front: %d %v", status, got)
	}
}
