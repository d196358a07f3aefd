// SPDX-License-Identifier: Apache-2.0

package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// A tclient drives a Tasks engine as a 2026-07-28 client would.
type tclient struct {
	t     testing.TB
	rt    bridge.RoundTripper
	owner string
	noExt bool // do not declare the tasks extension
}

var reqSeq atomic.Int64

func (c *tclient) meta() map[string]any {
	caps := map[string]any{"elicitation": map[string]any{}, "sampling": map[string]any{}, "roots": map[string]any{}}
	if !c.noExt {
		caps["extensions"] = map[string]any{ExtensionID: map[string]any{}}
	}
	return map[string]any{
		rpcmsg.MetaProtocolVersion:    rpcmsg.ModernVersion,
		rpcmsg.MetaClientCapabilities: caps,
		rpcmsg.MetaClientInfo:         map[string]any{"name": "tasks-test", "version": "0"},
	}
}

// do sends method with params (plus the _meta envelope) and returns the
// response, which must carry the request's id.
func (c *tclient) do(method string, params map[string]any) *jsonrpc.Response {
	c.t.Helper()
	if params == nil {
		params = map[string]any{}
	}
	params["_meta"] = c.meta()
	id, _ := jsonrpc.MakeID(fmt.Sprintf("c-%d", reqSeq.Add(1)))
	ctx, cancel := context.WithTimeout(WithOwner(context.Background(), c.owner), 2*time.Minute)
	defer cancel()
	resp, err := c.rt.RoundTrip(ctx, &jsonrpc.Request{ID: id, Method: method, Params: mustMarshal(params)}, func(*jsonrpc.Request) {})
	if err != nil {
		c.t.Fatalf("%s: RoundTrip error: %v", method, err)
	}
	if resp.ID != id {
		c.t.Fatalf("%s: response id %v, want %v", method, resp.ID.Raw(), id.Raw())
	}
	return resp
}

// result returns the result of a successful response as a map.
func (c *tclient) result(resp *jsonrpc.Response) map[string]any {
	c.t.Helper()
	if resp.Error != nil {
		c.t.Fatalf("unexpected error response: %v", resp.Error)
	}
	var m map[string]any
	if err := json.Unmarshal(resp.Result, &m); err != nil {
		c.t.Fatalf("result %s: %v", resp.Result, err)
	}
	return m
}

func (c *tclient) callTool(name string, args map[string]any) map[string]any {
	c.t.Helper()
	return c.result(c.do("tools/call", map[string]any{"name": name, "arguments": args}))
}

func (c *tclient) get(id string) map[string]any {
	c.t.Helper()
	return c.result(c.do(MethodGet, map[string]any{"taskId": id}))
}

// waitStatus polls tasks/get until the task's status is one of want, for at
// most a minute.
func (c *tclient) waitStatus(id string, want ...Status) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		task := c.get(id)
		for _, w := range want {
			if task["status"] == string(w) {
				return task
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("task %s: status %v after a minute, want %v", id, task["status"], want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func rpcCode(t testing.TB, resp *jsonrpc.Response) (int64, string) {
	t.Helper()
	var we *jsonrpc.Error
	if !errors.As(resp.Error, &we) {
		t.Fatalf("want a JSON-RPC error, got result %s / %v", resp.Result, resp.Error)
	}
	return we.Code, we.Message
}

func openTestStore(t testing.TB, dir string, opts StoreOptions) *Store {
	t.Helper()
	opts.Dir = dir
	s, err := OpenStore(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newEngine(t testing.TB, back bridge.RoundTripper, opts Options) *Tasks {
	t.Helper()
	if opts.Store == nil {
		opts.Store = openTestStore(t, t.TempDir(), StoreOptions{})
	}
	e := Wrap(back, opts)
	t.Cleanup(func() { e.Close() })
	return e
}

// waitIdle waits until no back call of the engine is running.
func waitIdle(t testing.TB, e *Tasks) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		e.mu.Lock()
		n := len(e.runs)
		e.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d back calls still running after a minute", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var isoTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)

func firstText(t testing.TB, result any) string {
	t.Helper()
	m, _ := result.(map[string]any)
	content, _ := m["content"].([]any)
	if len(content) == 0 {
		t.Fatalf("result without content: %v", result)
	}
	c0, _ := content[0].(map[string]any)
	s, _ := c0["text"].(string)
	return s
}

func TestTaskLifecycleGoEverything(t *testing.T) {
	back := startGoEverything(t)
	e := newEngine(t, back, Options{PollInterval: 250 * time.Millisecond, TTL: 10 * time.Minute})
	c := &tclient{t: t, rt: e, owner: "alice"}

	created := c.callTool("test_tool_with_progress", map[string]any{})
	if created["resultType"] != "task" {
		t.Fatalf("tools/call answered %v, want a CreateTaskResult", created)
	}
	id, _ := created["taskId"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Errorf("taskId %q is not 128 bits of hex", id)
	}
	for _, k := range []string{"result", "error", "inputRequests", "task", "ttl", "pollInterval", "requestState"} {
		if _, ok := created[k]; ok {
			t.Errorf("CreateTaskResult carries %q: %v", k, created)
		}
	}
	if created["status"] != "working" || created["ttlMs"] != float64(600000) || created["pollIntervalMs"] != float64(250) {
		t.Errorf("CreateTaskResult fields: %v", created)
	}
	for _, k := range []string{"createdAt", "lastUpdatedAt"} {
		if s, _ := created[k].(string); !isoTime.MatchString(s) {
			t.Errorf("%s = %q, want ISO 8601", k, s)
		}
	}
	// Strongly consistent creation: tasks/get resolves at once.
	if got := c.get(id); got["taskId"] != id || got["resultType"] != "complete" {
		t.Fatalf("tasks/get right after creation: %v", got)
	}
	done := c.waitStatus(id, StatusCompleted, StatusFailed)
	if done["status"] != "completed" || done["resultType"] != "complete" {
		t.Fatalf("final task: %v", done)
	}
	res, _ := done["result"].(map[string]any)
	if res["resultType"] != "complete" || firstText(t, res) == "" {
		t.Errorf("inlined result: %v", res)
	}

	// The back saw a new id and no tasks extension in the capabilities.
	calls := back.sentMatching("tools/call")
	if len(calls) != 1 || strings.Contains(string(calls[0].Params), ExtensionID) {
		t.Errorf("back got %d tools/call, params %s", len(calls), calls[0].Params)
	}

	// A tool error is a completed task with isError; a JSON-RPC error a failed one.
	created = c.callTool("test_error_handling", map[string]any{})
	done = c.waitStatus(created["taskId"].(string), StatusCompleted, StatusFailed)
	if res, _ := done["result"].(map[string]any); done["status"] != "completed" || res["isError"] != true {
		t.Errorf("tool error task: %v", done)
	}
	created = c.callTool("test_missing_capability", map[string]any{})
	if created["resultType"] != "task" {
		t.Fatalf("test_missing_capability: %v", created)
	}
	// The client declared sampling, but the engine forwards its capabilities,
	// so this one completes; call it without sampling to get a JSON-RPC error.
	nosampling := &tclient{t: t, rt: e, owner: "alice"}
	resp := nosampling.doWithCaps("tools/call", map[string]any{"name": "test_missing_capability", "arguments": map[string]any{}},
		map[string]any{"extensions": map[string]any{ExtensionID: map[string]any{}}})
	created = c.result(resp)
	done = c.waitStatus(created["taskId"].(string), StatusCompleted, StatusFailed)
	errObj, _ := done["error"].(map[string]any)
	if done["status"] != "failed" || errObj["code"] != float64(rpcmsg.CodeMissingClientCapability) || done["result"] != nil {
		t.Errorf("protocol error task: %v", done)
	}
	if msg, _ := done["statusMessage"].(string); msg == "" {
		t.Errorf("failed task without statusMessage: %v", done)
	}
}

// doWithCaps is do with explicit client capabilities.
func (c *tclient) doWithCaps(method string, params, caps map[string]any) *jsonrpc.Response {
	c.t.Helper()
	params["_meta"] = map[string]any{rpcmsg.MetaProtocolVersion: rpcmsg.ModernVersion, rpcmsg.MetaClientCapabilities: caps}
	id, _ := jsonrpc.MakeID(fmt.Sprintf("c-%d", reqSeq.Add(1)))
	resp, err := c.rt.RoundTrip(WithOwner(context.Background(), c.owner), &jsonrpc.Request{ID: id, Method: method, Params: mustMarshal(params)}, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp
}

func TestNoExtensionPassesThrough(t *testing.T) {
	back := startGoEverything(t)
	e := newEngine(t, back, Options{})
	c := &tclient{t: t, rt: e, noExt: true}
	res := c.callTool("test_simple_text", map[string]any{})
	if res["resultType"] != "complete" || res["taskId"] != nil || firstText(t, res) == "" {
		t.Fatalf("tools/call without the extension: %v", res)
	}
	for _, m := range []string{MethodGet, MethodUpdate, MethodCancel} {
		code, _ := rpcCode(t, c.do(m, map[string]any{"taskId": "x", "inputResponses": map[string]any{}}))
		if code != rpcmsg.CodeMissingClientCapability {
			t.Errorf("%s without the extension: code %d, want -32021", m, code)
		}
	}
	code, _ := rpcCode(t, c.do("subscriptions/listen", map[string]any{"notifications": map[string]any{"taskIds": []string{"x"}}}))
	if code != rpcmsg.CodeMissingClientCapability {
		t.Errorf("listen for taskIds without the extension: code %d, want -32021", code)
	}
	withExt := &tclient{t: t, rt: e}
	for _, m := range []string{MethodResult, MethodList} {
		if code, _ := rpcCode(t, withExt.do(m, map[string]any{"taskId": "x"})); code != jsonrpc.CodeMethodNotFound {
			t.Errorf("%s: code %d, want -32601", m, code)
		}
	}
	if n, _, _ := e.store.Stats(); n != 0 {
		t.Errorf("store holds %d tasks, want 0", n)
	}
}

func TestDiscoverAdvertisesExtension(t *testing.T) {
	back := startGoEverything(t)
	e := newEngine(t, back, Options{})
	c := &tclient{t: t, rt: e}
	res := c.result(c.do("server/discover", nil))
	caps, _ := res["capabilities"].(map[string]any)
	ext, _ := caps["extensions"].(map[string]any)
	if _, ok := ext[ExtensionID]; !ok {
		t.Fatalf("server/discover through the engine lacks the extension: %v", res)
	}
	if caps["tasks"] != nil {
		t.Errorf("v1 capabilities.tasks slot present: %v", caps)
	}
	if res["supportedVersions"] == nil {
		t.Errorf("discover result lost its fields: %v", res)
	}
	if e.nativeState() != nativeNo {
		t.Errorf("native state %v after a discover without the extension", e.nativeState())
	}
}

func TestAdvertiseRecognizesNativeBack(t *testing.T) {
	native, patched, err := advertise(json.RawMessage(`{"resultType":"complete","capabilities":{"extensions":{"io.modelcontextprotocol/tasks":{}}}}`))
	if err != nil || !native || !strings.Contains(string(patched), ExtensionID) {
		t.Fatalf("native back: %v %v %s", native, err, patched)
	}
	native, patched, err = advertise(json.RawMessage(`{"resultType":"complete","capabilities":{"tools":{}},"ttlMs":5}`))
	if err != nil || native || !strings.Contains(string(patched), `"extensions":{"io.modelcontextprotocol/tasks":{}}`) || !strings.Contains(string(patched), `"ttlMs":5`) {
		t.Fatalf("plain back: %v %v %s", native, err, patched)
	}
}

func TestGracePeriod(t *testing.T) {
	t.Run("fast call answers normally", func(t *testing.T) {
		back := startGoEverything(t)
		e := newEngine(t, back, Options{Grace: time.Hour})
		c := &tclient{t: t, rt: e}
		res := c.callTool("test_simple_text", map[string]any{})
		if res["resultType"] != "complete" || res["taskId"] != nil || firstText(t, res) != "This is a simple text response for testing." {
			t.Fatalf("fast call within the grace period: %v", res)
		}
		// input_required within the grace period is answered as MRTR, before any task.
		res = c.callTool("test_input_required_result_elicitation", map[string]any{})
		if res["resultType"] != "input_required" || res["taskId"] != nil {
			t.Fatalf("input_required within the grace period: %v", res)
		}
		if n, _, _ := e.store.Stats(); n != 0 {
			t.Errorf("store holds %d tasks after calls within the grace period", n)
		}
	})
	t.Run("slow call becomes a task", func(t *testing.T) {
		back := startServerEverything(t)
		e := newEngine(t, back, Options{Grace: 100 * time.Millisecond})
		c := &tclient{t: t, rt: e}
		res := c.callTool("trigger-long-running-operation", map[string]any{"duration": 600, "steps": 1})
		if res["resultType"] != "task" {
			t.Fatalf("slow call after the grace period: %v", res)
		}
		if got := c.get(res["taskId"].(string)); got["status"] != "working" {
			t.Errorf("slow task: %v", got)
		}
	})
}

func TestCancelReachesBack(t *testing.T) {
	back := startServerEverything(t)
	e := newEngine(t, back, Options{})
	c := &tclient{t: t, rt: e, owner: "alice"}
	created := c.callTool("trigger-long-running-operation", map[string]any{"duration": 600, "steps": 1})
	id := created["taskId"].(string)
	ack := c.result(c.do(MethodCancel, map[string]any{"taskId": id}))
	if len(ack) != 1 || ack["resultType"] != "complete" {
		t.Fatalf("cancel ack: %v", ack)
	}
	if got := c.get(id); got["status"] != "cancelled" {
		t.Fatalf("after cancel: %v", got)
	}
	waitIdle(t, e)
	if !back.cancelledFor("trigger-long-running-operation") {
		t.Error("the back call was not cancelled (no notifications/cancelled sent to the child)")
	}
	if got := c.get(id); got["status"] != "cancelled" || got["result"] != nil || got["error"] != nil {
		t.Errorf("cancelled task after its back call ended: %v", got)
	}
	// Idempotent on a terminal task; -32602 for an unknown one.
	if ack := c.result(c.do(MethodCancel, map[string]any{"taskId": id})); ack["resultType"] != "complete" {
		t.Errorf("second cancel: %v", ack)
	}
	if code, _ := rpcCode(t, c.do(MethodCancel, map[string]any{"taskId": NewID()})); code != jsonrpc.CodeInvalidParams {
		t.Errorf("cancel of an unknown task: code %d", code)
	}
}

func TestInputRequiredViaUpdate(t *testing.T) {
	back := startGoEverything(t)
	e := newEngine(t, back, Options{})
	c := &tclient{t: t, rt: e}

	t.Run("single", func(t *testing.T) {
		c.t = t
		id := c.callTool("test_input_required_result_elicitation", map[string]any{})["taskId"].(string)
		task := c.waitStatus(id, StatusInputRequired, StatusCompleted, StatusFailed)
		reqs, _ := task["inputRequests"].(map[string]any)
		ur, _ := reqs["user_name"].(map[string]any)
		if task["status"] != "input_required" || ur["method"] != "elicitation/create" || task["requestState"] != nil {
			t.Fatalf("input_required task: %v", task)
		}
		// An unknown key is ignored.
		c.result(c.do(MethodUpdate, map[string]any{"taskId": id, "inputResponses": map[string]any{"nope": map[string]any{"action": "decline"}}}))
		if got := c.get(id); got["status"] != "input_required" {
			t.Fatalf("after an update with an unknown key: %v", got)
		}
		ack := c.result(c.do(MethodUpdate, map[string]any{"taskId": id, "inputResponses": map[string]any{
			"user_name": map[string]any{"action": "accept", "content": map[string]any{"name": "Luca"}}}}))
		if len(ack) != 1 || ack["resultType"] != "complete" {
			t.Fatalf("update ack: %v", ack)
		}
		done := c.waitStatus(id, StatusCompleted, StatusFailed)
		if got := firstText(t, done["result"]); got != "Hello, Luca!" {
			t.Fatalf("result %q (%v)", got, done)
		}
	})

	t.Run("multi-round with requestState", func(t *testing.T) {
		c.t = t
		id := c.callTool("test_input_required_result_multi_round", map[string]any{})["taskId"].(string)
		task := c.waitStatus(id, StatusInputRequired, StatusCompleted, StatusFailed)
		if _, ok := task["inputRequests"].(map[string]any)["step1"]; !ok {
			t.Fatalf("round 1: %v", task)
		}
		c.do(MethodUpdate, map[string]any{"taskId": id, "inputResponses": map[string]any{"step1": map[string]any{"action": "accept", "content": map[string]any{"name": "Ada"}}}})
		task = c.waitStatus(id, StatusInputRequired, StatusCompleted, StatusFailed)
		if _, ok := task["inputRequests"].(map[string]any)["step2"]; !ok {
			t.Fatalf("round 2: %v", task)
		}
		c.do(MethodUpdate, map[string]any{"taskId": id, "inputResponses": map[string]any{"step2": map[string]any{"action": "accept", "content": map[string]any{"color": "blue"}}}})
		done := c.waitStatus(id, StatusCompleted, StatusFailed)
		if got := firstText(t, done["result"]); got != "Multi-round complete: Ada likes blue" {
			t.Fatalf("result %q (%v)", got, done)
		}
	})

	t.Run("partial updates", func(t *testing.T) {
		c.t = t
		id := c.callTool("test_input_required_result_multiple_inputs", map[string]any{})["taskId"].(string)
		task := c.waitStatus(id, StatusInputRequired, StatusCompleted, StatusFailed)
		reqs, _ := task["inputRequests"].(map[string]any)
		if len(reqs) != 3 {
			t.Fatalf("want 3 input requests: %v", task)
		}
		c.do(MethodUpdate, map[string]any{"taskId": id, "inputResponses": map[string]any{"user_name": map[string]any{"action": "accept", "content": map[string]any{"name": "Bo"}}}})
		task = c.get(id)
		reqs, _ = task["inputRequests"].(map[string]any)
		if task["status"] != "input_required" || len(reqs) != 2 || reqs["user_name"] != nil {
			t.Fatalf("after a partial update: %v", task)
		}
		c.do(MethodUpdate, map[string]any{"taskId": id, "inputResponses": map[string]any{
			"greeting":     map[string]any{"role": "assistant", "content": map[string]any{"type": "text", "text": "Howdy"}, "model": "test-model"},
			"client_roots": map[string]any{"roots": []any{map[string]any{"uri": "file:///tmp", "name": "tmp"}}},
		}})
		done := c.waitStatus(id, StatusCompleted, StatusFailed)
		if got := firstText(t, done["result"]); !strings.Contains(got, "Howdy Bo") || !strings.Contains(got, "1 root") {
			t.Fatalf("result %q (%v)", got, done)
		}
	})
}

func TestOwnerIsolation(t *testing.T) {
	back := startGoEverything(t)
	e := newEngine(t, back, Options{})
	alice := &tclient{t: t, rt: e, owner: "alice-token-hash"}
	bob := &tclient{t: t, rt: e, owner: "bob-token-hash"}
	anon := &tclient{t: t, rt: e}

	id := alice.callTool("test_input_required_result_elicitation", map[string]any{})["taskId"].(string)
	alice.waitStatus(id, StatusInputRequired)
	_, unknownMsg := rpcCode(t, bob.do(MethodGet, map[string]any{"taskId": NewID()}))
	for _, other := range []*tclient{bob, anon} {
		for _, m := range []string{MethodGet, MethodUpdate, MethodCancel} {
			code, msg := rpcCode(t, other.do(m, map[string]any{"taskId": id, "inputResponses": map[string]any{
				"user_name": map[string]any{"action": "accept", "content": map[string]any{"name": "Mallory"}}}}))
			if code != jsonrpc.CodeInvalidParams || msg != unknownMsg {
				t.Errorf("%s by owner %q: %d %q, want -32602 %q", m, other.owner, code, msg, unknownMsg)
			}
		}
	}
	// Alice's task is untouched by the others' update and cancel.
	if got := alice.get(id); got["status"] != "input_required" {
		t.Fatalf("alice's task after others' requests: %v", got)
	}
}

func TestReopenKeepsTasks(t *testing.T) {
	dir := t.TempDir()
	store, err := OpenStore(StoreOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e := Wrap(startGoEverything(t), Options{Store: store})
	c := &tclient{t: t, rt: e, owner: "o"}
	doneID := c.callTool("test_simple_text", map[string]any{})["taskId"].(string)
	c.waitStatus(doneID, StatusCompleted)
	waitingID := c.callTool("test_input_required_result_elicitation", map[string]any{})["taskId"].(string)
	c.waitStatus(waitingID, StatusInputRequired)
	// A second engine on the same store (the first has no running call, so
	// this one resumes nothing) creates a task whose call is still running
	// when both close.
	e2 := Wrap(startServerEverything(t), Options{Store: store})
	c2 := &tclient{t: t, rt: e2, owner: "o"}
	runningID := c2.callTool("trigger-long-running-operation", map[string]any{"duration": 600, "steps": 1})["taskId"].(string)
	e.Close()
	e2.Close()
	if got, err := store.Get(runningID, "o"); err != nil || got.Status != StatusWorking {
		t.Fatalf("running task after Close: %+v %v", got, err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	store = openTestStore(t, dir, StoreOptions{})
	e3 := newEngine(t, startGoEverything(t), Options{Store: store})
	c3 := &tclient{t: t, rt: e3, owner: "o"}
	if got := c3.get(doneID); got["status"] != "completed" || firstText(t, got["result"]) != "This is a simple text response for testing." {
		t.Errorf("completed task after reopen: %v", got)
	}
	// The running call's back cannot re-attach: failed, with the reason.
	got := c3.get(runningID)
	if msg, _ := got["statusMessage"].(string); got["status"] != "failed" || !strings.Contains(msg, "restarted") {
		t.Errorf("running task after reopen: %v", got)
	}
	// The task waiting for input still waits, and resumes on a new back.
	c3.do(MethodUpdate, map[string]any{"taskId": waitingID, "inputResponses": map[string]any{
		"user_name": map[string]any{"action": "accept", "content": map[string]any{"name": "Again"}}}})
	if got := c3.waitStatus(waitingID, StatusCompleted, StatusFailed); firstText(t, got["result"]) != "Hello, Again!" {
		t.Errorf("input task after reopen: %v", got)
	}
}

// A back that implements Resumer gets the running call back after a
// restart, and the task completes with its result; the tool ran once.
func TestRestartResumesThroughResumer(t *testing.T) {
	dir := t.TempDir()
	back := resumableChild{startServerEverything(t)}
	store, err := OpenStore(StoreOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e := Wrap(back, Options{Store: store})
	c := &tclient{t: t, rt: e, owner: "o"}
	id := c.callTool("trigger-long-running-operation", map[string]any{"duration": 2, "steps": 1})["taskId"].(string)
	// Wait until the back reported its correlation, then "crash".
	deadline := time.Now().Add(time.Minute)
	for {
		rec, err := store.Get(id, "o")
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.Correlation) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no correlation recorded")
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.Close()
	store.Close()

	store = openTestStore(t, dir, StoreOptions{})
	e2 := newEngine(t, back, Options{Store: store})
	c2 := &tclient{t: t, rt: e2, owner: "o"}
	done := c2.waitStatus(id, StatusCompleted, StatusFailed, StatusCancelled)
	if got := firstText(t, done["result"]); !strings.Contains(got, "Long running operation completed") {
		t.Fatalf("resumed task: %v", done)
	}
	if calls := back.sentMatching("tools/call"); len(calls) != 1 {
		t.Errorf("the tool was called %d times, want once", len(calls))
	}
	back.mu.Lock()
	resumed := len(back.resumed)
	back.mu.Unlock()
	if resumed != 1 {
		t.Errorf("Resume called %d times, want 1", resumed)
	}
}

// Progress reaches the client while it waits (the grace period), and never
// after its RoundTrip returned.
func TestProgressOnlyWhileClientWaits(t *testing.T) {
	back := startGoEverything(t)
	call := func(e *Tasks, token string) (*jsonrpc.Response, *atomic.Int32, *atomic.Bool, *atomic.Bool) {
		var n atomic.Int32
		var returned, late atomic.Bool
		meta := (&tclient{}).meta()
		meta["progressToken"] = token
		params := mustMarshal(map[string]any{"name": "test_tool_with_progress", "arguments": map[string]any{}, "_meta": meta})
		id, _ := jsonrpc.MakeID("p-" + token)
		resp, err := e.RoundTrip(context.Background(), &jsonrpc.Request{ID: id, Method: "tools/call", Params: params}, func(n2 *jsonrpc.Request) {
			if returned.Load() {
				late.Store(true)
			}
			if n2.Method == "notifications/progress" {
				n.Add(1)
			}
		})
		returned.Store(true)
		if err != nil {
			t.Fatal(err)
		}
		return resp, &n, &returned, &late
	}

	e := newEngine(t, back, Options{Grace: time.Hour})
	resp, n, _, late := call(e, "tok-grace")
	c := &tclient{t: t}
	if res := c.result(resp); firstText(t, res) != "tok-grace" || res["taskId"] != nil {
		t.Fatalf("call within the grace period: %v", res)
	}
	if n.Load() != 3 {
		t.Errorf("%d progress notifications reached the client, want 3", n.Load())
	}

	e0 := newEngine(t, back, Options{})
	resp, _, _, late = call(e0, "tok-task")
	id := c.result(resp)["taskId"].(string)
	(&tclient{t: t, rt: e0}).waitStatus(id, StatusCompleted)
	waitIdle(t, e0)
	if late.Load() {
		t.Error("notify was called after RoundTrip returned")
	}
}

func TestMalformedTaskRequests(t *testing.T) {
	e := newEngine(t, nil, Options{}) // answered by the engine alone
	c := &tclient{t: t, rt: e}
	for _, params := range []map[string]any{{}, {"taskId": 5}, {"taskId": "x", "inputResponses": "nope"}} {
		for _, m := range []string{MethodGet, MethodUpdate, MethodCancel} {
			if m != MethodUpdate && params["inputResponses"] != nil {
				continue
			}
			p := map[string]any{}
			for k, v := range params {
				p[k] = v
			}
			code, msg := rpcCode(t, c.do(m, p))
			if code != jsonrpc.CodeInvalidParams || msg == "" {
				t.Errorf("%s %v: %d %q", m, params, code, msg)
			}
		}
	}
}

// Cancels racing completions: every task ends completed (with its result) or
// cancelled (without one), and nothing else.
func TestConcurrentCancelAndCompletion(t *testing.T) {
	e := newEngine(t, startGoEverything(t), Options{})
	c := &tclient{t: t, rt: e, owner: "o"}
	const n = 40
	ids := make([]string, n)
	done := make(chan struct{})
	for i := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			ids[i] = c.callTool("test_tool_with_progress", map[string]any{})["taskId"].(string)
			if i%2 == 0 {
				c.do(MethodCancel, map[string]any{"taskId": ids[i]})
			}
		}()
	}
	for range n {
		<-done
	}
	waitIdle(t, e)
	cancelled := 0
	for i, id := range ids {
		got := c.get(id)
		switch got["status"] {
		case "completed":
			if got["result"] == nil {
				t.Errorf("task %d completed without result: %v", i, got)
			}
		case "cancelled":
			cancelled++
			if i%2 == 1 || got["result"] != nil || got["error"] != nil {
				t.Errorf("task %d: %v", i, got)
			}
		default:
			t.Errorf("task %d: %v", i, got)
		}
	}
	t.Logf("%d of %d cancel requests took effect before completion", cancelled, n/2)
}

func TestRequiredToolRefusesClientsWithoutExtension(t *testing.T) {
	e := newEngine(t, startGoEverything(t), Options{Tools: []string{"test_tool_with_progress"}, Required: []string{"test_simple_text"}})
	without := &tclient{t: t, rt: e, noExt: true}
	resp := without.do("tools/call", map[string]any{"name": "test_simple_text", "arguments": map[string]any{}})
	code, _ := rpcCode(t, resp)
	var we *jsonrpc.Error
	errors.As(resp.Error, &we)
	if code != rpcmsg.CodeMissingClientCapability || !strings.Contains(string(we.Data), `"requiredCapabilities":{"extensions":{"io.modelcontextprotocol/tasks":{}}}`) {
		t.Errorf("required tool without the extension: %d %s", code, we.Data)
	}
	// A tool that is only selected still runs synchronously for such a client.
	if res := without.callTool("test_tool_with_progress", map[string]any{}); res["resultType"] != "complete" {
		t.Errorf("selected tool without the extension: %v", res)
	}
	with := &tclient{t: t, rt: e}
	if res := with.callTool("test_simple_text", map[string]any{}); res["resultType"] != "task" {
		t.Errorf("required tool with the extension: %v", res)
	}
	// A tool neither selected nor required passes through.
	if res := with.callTool("test_image_content", map[string]any{}); res["resultType"] != "complete" {
		t.Errorf("unselected tool: %v", res)
	}
}

// Engines sharing a store with distinct scopes (one per named server of a
// proxy) never serve each other's tasks, and each resumes only its own.
func TestScopesShareAStore(t *testing.T) {
	dir := t.TempDir()
	store, err := OpenStore(StoreOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []Status
	observe := func(s Status) { mu.Lock(); seen = append(seen, s); mu.Unlock() }
	a := Wrap(startServerEverything(t), Options{Store: store, Scope: "a", Observe: observe})
	b := Wrap(startGoEverything(t), Options{Store: store, Scope: "b"})
	ca := &tclient{t: t, rt: a, owner: "o"}
	cb := &tclient{t: t, rt: b, owner: "o"}
	running := ca.callTool("trigger-long-running-operation", map[string]any{"duration": 600, "steps": 1})["taskId"].(string)
	done := cb.callTool("test_simple_text", map[string]any{})["taskId"].(string)
	cb.waitStatus(done, StatusCompleted)
	_, unknownMsg := rpcCode(t, cb.do(MethodGet, map[string]any{"taskId": NewID()}))
	for _, m := range []string{MethodGet, MethodCancel} {
		if code, msg := rpcCode(t, cb.do(m, map[string]any{"taskId": running})); code != jsonrpc.CodeInvalidParams || msg != unknownMsg {
			t.Errorf("%s of scope a's task through scope b: %d %q", m, code, msg)
		}
		if code, msg := rpcCode(t, ca.do(m, map[string]any{"taskId": done})); code != jsonrpc.CodeInvalidParams || msg != unknownMsg {
			t.Errorf("%s of scope b's task through scope a: %d %q", m, code, msg)
		}
	}
	if got := ca.get(running); got["status"] != "working" {
		t.Fatalf("scope a's task after scope b's cancel: %v", got)
	}
	a.Close()
	b.Close()

	// Restart scope b only: it leaves scope a's interrupted task alone.
	b2 := newEngine(t, startGoEverything(t), Options{Store: store, Scope: "b"})
	waitIdle(t, b2)
	if rec, err := store.Get(running, "\x00a\x00o"); err != nil || rec.Status != StatusWorking {
		t.Fatalf("scope a's task after scope b restarted: %+v %v", rec, err)
	}
	// Scope a restarted: its back cannot re-attach, so the task fails.
	a2 := newEngine(t, startGoEverything(t), Options{Store: store, Scope: "a", Observe: observe})
	ca2 := &tclient{t: t, rt: a2, owner: "o"}
	if got := ca2.get(running); got["status"] != "failed" {
		t.Fatalf("scope a's task after scope a restarted: %v", got)
	}
	a2.Close()
	store.Close()
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(seen) != "[working failed]" {
		t.Errorf("observed statuses %v, want [working failed]", seen)
	}
}
