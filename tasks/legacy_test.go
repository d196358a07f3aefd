// SPDX-License-Identifier: Apache-2.0

package tasks

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/stdio"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A rawSession drives a session connection (2025-11-25) with hand-made
// JSON-RPC, since no Go client sends params.task.
type rawSession struct {
	t    *testing.T
	conn mcp.Connection
	seq  int
	// notes are the notifications read so far; asks the server's requests
	// read but not yet taken by serverRequest.
	notes, asks []*jsonrpc.Request
}

// dialSession opens a session through d (owner o) and initializes it,
// declaring capabilities.tasks when tasks is set. It returns the session and
// the initialize result.
func dialSession(t *testing.T, d bridge.Dialer, owner string, tasks bool) (*rawSession, map[string]any) {
	t.Helper()
	caps := map[string]any{}
	if tasks {
		caps["tasks"] = map[string]any{"list": map[string]any{}, "cancel": map[string]any{}}
	}
	return dialSessionCaps(t, d, owner, caps)
}

// dialSessionCaps is dialSession declaring the client capabilities caps.
func dialSessionCaps(t *testing.T, d bridge.Dialer, owner string, caps map[string]any) (*rawSession, map[string]any) {
	t.Helper()
	conn, err := d.Dial(WithOwner(t.Context(), owner))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s := &rawSession{t: t, conn: conn}
	init := s.result(s.call("initialize", map[string]any{"protocolVersion": "2025-11-25", "capabilities": caps,
		"clientInfo": map[string]any{"name": "legacy-test", "version": "0"}}))
	if err := conn.Write(t.Context(), &jsonrpc.Request{Method: "notifications/initialized", Params: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	return s, init
}

// call sends a request and returns its response, skipping other messages.
func (s *rawSession) call(method string, params map[string]any) *jsonrpc.Response {
	s.t.Helper()
	s.seq++
	id, _ := jsonrpc.MakeID(fmt.Sprintf("r%d", s.seq))
	ctx, cancel := context.WithTimeout(s.t.Context(), time.Minute)
	defer cancel()
	if err := s.conn.Write(ctx, &jsonrpc.Request{ID: id, Method: method, Params: mustMarshal(params)}); err != nil {
		s.t.Fatalf("%s: %v", method, err)
	}
	for {
		msg, err := s.conn.Read(ctx)
		if err != nil {
			s.t.Fatalf("%s: reading the answer: %v", method, err)
		}
		if resp, ok := msg.(*jsonrpc.Response); ok && resp.ID == id {
			return resp
		}
		s.note(msg)
	}
}

// note keeps msg when it is a notification.
func (s *rawSession) note(msg jsonrpc.Message) {
	req, ok := msg.(*jsonrpc.Request)
	switch {
	case ok && !req.IsCall():
		s.notes = append(s.notes, req)
	case ok:
		s.asks = append(s.asks, req)
	}
}

// statusNotes returns the statuses that notifications/tasks/status
// reported so far for task id, in order.
func (s *rawSession) statusNotes(id string) []string {
	var out []string
	for _, n := range s.notes {
		var p struct {
			TaskID string `json:"taskId"`
			Status string `json:"status"`
		}
		if n.Method == MethodStatusNotification && json.Unmarshal(n.Params, &p) == nil && p.TaskID == id {
			out = append(out, p.Status)
		}
	}
	return out
}

// waitStatusNotes reads the session until n status notifications for task
// id arrived, for at most ten seconds, and returns their statuses.
func (s *rawSession) waitStatusNotes(id string, n int) []string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), 10*time.Second)
	defer cancel()
	for len(s.statusNotes(id)) < n {
		msg, err := s.conn.Read(ctx)
		if err != nil {
			break
		}
		s.note(msg)
	}
	return s.statusNotes(id)
}

func (s *rawSession) result(resp *jsonrpc.Response) map[string]any {
	s.t.Helper()
	if resp.Error != nil {
		s.t.Fatalf("error answer: %v", resp.Error)
	}
	var m map[string]any
	if err := json.Unmarshal(resp.Result, &m); err != nil {
		s.t.Fatal(err)
	}
	return m
}

func fixtureCommand(t *testing.T) *stdio.Command {
	return &stdio.Command{Path: testenv.BuildPackage(t, "./tasks/testdata/fixture"), Args: []string{"-stdio"}}
}

func taskSupport(s *rawSession) map[string]any {
	out := map[string]any{}
	for _, tool := range s.result(s.call("tools/list", map[string]any{}))["tools"].([]any) {
		m := tool.(map[string]any)
		exec, _ := m["execution"].(map[string]any)
		out[m["name"].(string)] = exec["taskSupport"]
	}
	return out
}

// Without capabilities.tasks at initialize a client gets no tasks: the
// capability and taskSupport are not added, params.task is ignored (the
// call answers normally), and a tool that runs only as a task answers
// -32601 to a call without params.task.
func TestLegacyWithoutClientCapability(t *testing.T) {
	store := openTestStore(t, t.TempDir(), StoreOptions{})
	e := newEngine(t, nil, Options{Store: store, Tools: []string{"slow_compute"}, Required: []string{"failing_job"}})
	s, init := dialSession(t, e.SessionDialer(fixtureCommand(t)), "o", false)
	if caps := init["capabilities"].(map[string]any); caps["tasks"] == nil {
		t.Errorf("initialize result lacks capabilities.tasks: %v", caps)
	}
	if ts := taskSupport(s); ts["slow_compute"] != nil {
		t.Errorf("taskSupport added for a client without the capability: %v", ts)
	}
	res := s.result(s.call("tools/call", map[string]any{"name": "slow_compute", "arguments": map[string]any{"seconds": 0.1, "label": "x"}, "task": map[string]any{}}))
	if res["task"] != nil || res["content"] == nil {
		t.Errorf("tools/call with params.task from a client without the capability: %v", res)
	}
	if code, msg := rpcCode(t, s.call("tools/call", map[string]any{"name": "failing_job"})); code != jsonrpc.CodeMethodNotFound || !strings.Contains(msg, "params.task") {
		t.Errorf("required tool without params.task: %d %q", code, msg)
	}
	if n, _, _ := store.Stats(); n != 0 {
		t.Errorf("%d tasks stored, want none", n)
	}
}

// A server that declares capabilities.tasks itself (server-everything)
// keeps its own tasks: its capability and tools/list pass through, and the
// proxy stores nothing.
func TestLegacyNativeServerPassesThrough(t *testing.T) {
	store := openTestStore(t, t.TempDir(), StoreOptions{})
	e := newEngine(t, nil, Options{Store: store})
	cmd := &stdio.Command{Path: testenv.Node(t), Args: []string{testenv.ServerEverything(t), "stdio"}}
	s, init := dialSession(t, e.SessionDialer(cmd), "o", true)
	caps := init["capabilities"].(map[string]any)
	if tc, _ := caps["tasks"].(map[string]any); tc == nil || tc["requests"] == nil {
		t.Fatalf("server-everything's tasks capability: %v", caps["tasks"])
	}
	ts := taskSupport(s)
	if ts["simulate-research-query"] != "required" || ts["echo"] == "optional" {
		t.Errorf("tools/list of a server with tasks was changed: %v", ts)
	}
	created := s.result(s.call("tools/call", map[string]any{"name": "simulate-research-query", "arguments": map[string]any{"topic": "queues"}, "task": map[string]any{"ttl": 60000}}))
	task, _ := created["task"].(map[string]any)
	id, _ := task["taskId"].(string)
	if id == "" {
		t.Fatalf("server-everything's CreateTaskResult: %v", created)
	}
	if got := s.result(s.call(MethodGet, map[string]any{"taskId": id})); got["taskId"] != id {
		t.Errorf("tasks/get of the server's own task: %v", got)
	}
	if n, _, _ := store.Stats(); n != 0 {
		t.Errorf("%d tasks stored for a server with its own tasks, want none", n)
	}
}

// A task whose session ends before its call fails, saying why; another
// session of the same owner reads it, and tasks/result answers at once.
func TestLegacySessionEndFailsItsTasks(t *testing.T) {
	store := openTestStore(t, t.TempDir(), StoreOptions{})
	e := newEngine(t, nil, Options{Store: store, Tools: []string{"slow_compute"}})
	d := e.SessionDialer(fixtureCommand(t))
	s, _ := dialSession(t, d, "o", true)
	created := s.result(s.call("tools/call", map[string]any{"name": "slow_compute", "arguments": map[string]any{"seconds": 60, "label": "x"}, "task": map[string]any{}}))
	id := created["task"].(map[string]any)["taskId"].(string)
	s.conn.Close()

	s2, _ := dialSession(t, d, "o", true)
	got := s2.result(s2.call(MethodGet, map[string]any{"taskId": id}))
	if got["status"] != "failed" || !strings.Contains(got["statusMessage"].(string), "session ended") {
		t.Errorf("task after its session ended: %v", got)
	}
	if code, msg := rpcCode(t, s2.call(MethodResult, map[string]any{"taskId": id})); code != jsonrpc.CodeInternalError || !strings.Contains(msg, "session ended") {
		t.Errorf("tasks/result of the failed task: %d %q", code, msg)
	}
	// Another owner does not see it.
	s3, _ := dialSession(t, d, "other", true)
	if code, _ := rpcCode(t, s3.call(MethodGet, map[string]any{"taskId": id})); code != jsonrpc.CodeInvalidParams {
		t.Errorf("tasks/get by another owner: %d", code)
	}
	if list := s3.result(s3.call(MethodList, map[string]any{}))["tasks"].([]any); len(list) != 0 {
		t.Errorf("tasks/list of another owner: %v", list)
	}
}

// A back server's sampling or elicitation request during a 2025-11-25 task
// moves the task to input_required (tasks/get, tasks/list) while the client
// has not answered it, and each change of status reaches the client as
// notifications/tasks/status; the request reaches the client on the session, tied
// to the task in _meta, the client's answer goes back to the waiting call,
// and the task then completes with the result built from that answer. The
// back is the Go SDK conformance everything-server (test_sampling,
// test_elicitation), which knows nothing of tasks.
func TestLegacyInputRequired(t *testing.T) {
	store := openTestStore(t, t.TempDir(), StoreOptions{})
	e := newEngine(t, nil, Options{Store: store, Tools: []string{"test_sampling", "test_elicitation"}})
	d := e.SessionDialer(&stdio.Command{Path: testenv.GoEverythingServer(t)})
	for _, tc := range []struct {
		tool, method string
		args         map[string]any
		answer       map[string]any
		want         string
	}{
		{"test_sampling", "sampling/createMessage", map[string]any{"prompt": "ping?"},
			map[string]any{"role": "assistant", "content": map[string]any{"type": "text", "text": "pong!"}, "model": "test"},
			"LLM response: pong!"},
		{"test_elicitation", "elicitation/create", map[string]any{"message": "who?"},
			map[string]any{"action": "accept", "content": map[string]any{"username": "ada"}},
			"Elicitation result: action=accept, content=map[username:ada]"},
	} {
		t.Run(tc.tool, func(t *testing.T) {
			s, _ := dialSessionCaps(t, d, "o", map[string]any{"tasks": map[string]any{"list": map[string]any{}, "cancel": map[string]any{}},
				"sampling": map[string]any{}, "elicitation": map[string]any{"form": map[string]any{}}})
			created := s.result(s.call("tools/call", map[string]any{"name": tc.tool, "arguments": tc.args, "task": map[string]any{}}))
			id, _ := created["task"].(map[string]any)["taskId"].(string)
			if id == "" {
				t.Fatalf("CreateTaskResult: %v", created)
			}
			in := s.serverRequest(tc.method)
			var p struct {
				Meta map[string]map[string]any `json:"_meta"`
			}
			if err := json.Unmarshal(in.Params, &p); err != nil || p.Meta[relatedTaskKey]["taskId"] != id {
				t.Errorf("%s params: %s, want _meta %s of task %s", tc.method, in.Params, relatedTaskKey, id)
			}
			if got := s.result(s.call(MethodGet, map[string]any{"taskId": id})); got["status"] != "input_required" {
				t.Errorf("tasks/get while %s is unanswered: %v", tc.method, got)
			}
			list := s.result(s.call(MethodList, map[string]any{}))["tasks"].([]any)
			found := false
			for _, l := range list {
				if m := l.(map[string]any); m["taskId"] == id {
					found = m["status"] == "input_required"
				}
			}
			if !found {
				t.Errorf("tasks/list while %s is unanswered: %v", tc.method, list)
			}
			if err := s.conn.Write(t.Context(), &jsonrpc.Response{ID: in.ID, Result: mustMarshal(tc.answer)}); err != nil {
				t.Fatal(err)
			}
			res := s.result(s.call(MethodResult, map[string]any{"taskId": id}))
			content, _ := res["content"].([]any)
			if len(content) != 1 || content[0].(map[string]any)["text"] != tc.want {
				t.Errorf("tasks/result: %v, want the text %q", res, tc.want)
			}
			if got := s.result(s.call(MethodGet, map[string]any{"taskId": id})); got["status"] != "completed" {
				t.Errorf("tasks/get after the answer: %v", got)
			}
			// The client was told of each change on the session.
			if got, want := s.waitStatusNotes(id, 3), []string{"input_required", "working", "completed"}; !slices.Equal(got, want) {
				t.Errorf("%s for the task: %v, want %v", MethodStatusNotification, got, want)
			}
		})
	}
}

// serverRequest reads the session until a request method of the server
// arrives, for at most a minute.
func (s *rawSession) serverRequest(method string) *jsonrpc.Request {
	s.t.Helper()
	for i, req := range s.asks {
		if req.Method == method {
			s.asks = slices.Delete(s.asks, i, i+1)
			return req
		}
	}
	ctx, cancel := context.WithTimeout(s.t.Context(), time.Minute)
	defer cancel()
	for {
		msg, err := s.conn.Read(ctx)
		if err != nil {
			s.t.Fatalf("waiting for %s: %v", method, err)
		}
		if req, ok := msg.(*jsonrpc.Request); ok && req.Method == method {
			return req
		}
		s.note(msg)
	}
}

// A server request the proxy cannot tie to one task (another call of the
// client is in flight on the session and could have sent it) reaches the
// client, and the task stays working.
func TestLegacyInputNotTiedWhenAmbiguous(t *testing.T) {
	store := openTestStore(t, t.TempDir(), StoreOptions{})
	e := newEngine(t, nil, Options{Store: store, Tools: []string{"test_sampling"}})
	s, _ := dialSessionCaps(t, e.SessionDialer(&stdio.Command{Path: testenv.GoEverythingServer(t)}), "o", map[string]any{
		"tasks": map[string]any{"list": map[string]any{}}, "sampling": map[string]any{}, "elicitation": map[string]any{"form": map[string]any{}}})
	// A call without a task, waiting for its elicitation answer.
	plainID, _ := jsonrpc.MakeID("plain")
	if err := s.conn.Write(t.Context(), &jsonrpc.Request{ID: plainID, Method: "tools/call", Params: mustMarshal(map[string]any{
		"name": "test_elicitation", "arguments": map[string]any{"message": "who?"}})}); err != nil {
		t.Fatal(err)
	}
	elicit := s.serverRequest("elicitation/create")
	created := s.result(s.call("tools/call", map[string]any{"name": "test_sampling", "arguments": map[string]any{"prompt": "p"}, "task": map[string]any{}}))
	id, _ := created["task"].(map[string]any)["taskId"].(string)
	sampling := s.serverRequest("sampling/createMessage")
	if strings.Contains(string(sampling.Params), relatedTaskKey) {
		t.Errorf("sampling request tied to a task although another call was in flight: %s", sampling.Params)
	}
	if got := s.result(s.call(MethodGet, map[string]any{"taskId": id})); got["status"] != "working" {
		t.Errorf("tasks/get: %v, want working", got)
	}
	// Both still get their answers.
	if err := s.conn.Write(t.Context(), &jsonrpc.Response{ID: sampling.ID, Result: mustMarshal(map[string]any{
		"role": "assistant", "content": map[string]any{"type": "text", "text": "fine"}, "model": "m"})}); err != nil {
		t.Fatal(err)
	}
	if err := s.conn.Write(t.Context(), &jsonrpc.Response{ID: elicit.ID, Result: mustMarshal(map[string]any{"action": "decline"})}); err != nil {
		t.Fatal(err)
	}
	res := s.result(s.call(MethodResult, map[string]any{"taskId": id}))
	if content, _ := res["content"].([]any); len(content) != 1 || content[0].(map[string]any)["text"] != "LLM response: fine" {
		t.Errorf("tasks/result: %v", res)
	}
}
