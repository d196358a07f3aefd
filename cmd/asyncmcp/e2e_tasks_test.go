// SPDX-License-Identifier: Apache-2.0

package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/tasks"
)

// e2eTaskScenarios are the Tasks extension scenarios of conformance
// 0.2.0-alpha.12. They run by name, without --spec-version (with it, the CLI
// skips extension scenarios and still exits 0).
var e2eTaskScenarios = []string{
	"tasks-lifecycle", "tasks-capability-negotiation", "tasks-wire-fields", "tasks-request-state-removal",
	"tasks-mrtr-input", "tasks-request-headers", "tasks-dispatch-and-envelope", "tasks-status-notifications",
	"tasks-required-task-error", "tasks-mrtr-composition",
}

// e2eTaskFlags are the proxy options the scenarios need with
// tasks/testdata/fixture: its slow tools become tasks (greet stays
// synchronous), failing_job runs only as a task, and the grace period is
// shorter than the fixture's one second of work.
func e2eTaskFlags(stateDir string) []string {
	return []string{"--tasks", "slow_compute,failing_job,protocol_error_job,confirm_delete,multi_input,test_tool_with_task",
		"--tasks-required", "failing_job", "--task-grace", "300ms", "--task-poll-interval", "200ms", "--state-dir", stateDir}
}

// e2eStartFixtureHTTP starts tasks/testdata/fixture on stateless Streamable
// HTTP and returns its URL.
func e2eStartFixtureHTTP(t *testing.T, args ...string) string {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	p := testenv.StartProcess(t, exec.Command(testenv.BuildPackage(t, "./tasks/testdata/fixture"), append([]string{"-http=" + addr}, args...)...), nil)
	testenv.WaitTCP(t, addr, p)
	return "http://" + addr + "/mcp"
}

// e2eURLConfig writes a --named-server-config file with one remote server.
func e2eURLConfig(t *testing.T, name, url string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "servers.json")
	data, _ := json.Marshal(map[string]any{"mcpServers": map[string]any{name: map[string]any{"url": url}}})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// e2eTaskTargets are the ways to put `asyncmcp proxy --tasks` in front of
// the fixture; start returns the URL to test.
var e2eTaskTargets = []struct {
	name  string
	start func(t *testing.T) string
}{
	{"named url server", func(t *testing.T) string {
		cfg := e2eURLConfig(t, "fx", e2eStartFixtureHTTP(t))
		return e2eStartProxy(t, append(e2eTaskFlags(t.TempDir()), "--named-server-config", cfg)...).Base + "/servers/fx/mcp"
	}},
	{"stdio child", func(t *testing.T) string {
		args := append(e2eTaskFlags(t.TempDir()), "--", testenv.BuildPackage(t, "./tasks/testdata/fixture"), "-stdio")
		return e2eStartProxy(t, args...).Base + "/mcp"
	}},
	{"sqs chain", func(t *testing.T) string {
		fq := testenv.StartFauxqs(t)
		env := fq.Env()
		reqQ := fq.CreateQueue(t, "tasks-conf-req", nil)
		respQ := fq.CreateQueue(t, "tasks-conf-resp", nil)
		asyncServe(t, env, "--transport", "sqs", "--queue-url", reqQ, "--wait-time", "1s", "--", testenv.BuildPackage(t, "./tasks/testdata/fixture"), "-stdio")
		args := append(e2eTaskFlags(t.TempDir()), "--backend", "sqs", "--queue-url", reqQ, "--response-queue-url", respQ, "--wait-time", "1s")
		return asyncProxy(t, env, args...).Base + "/mcp"
	}},
}

// TestTasksConformanceThroughProxy runs the conformance suite's ten Tasks
// scenarios against the real `asyncmcp proxy --tasks ...` in front of the
// fixture (a Go SDK server without tasks). Every scenario must pass all its
// checks, except tasks-status-notifications, which the suite itself skips
// (its harness awaits a rewrite); the test asserts that it still does.
func TestTasksConformanceThroughProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the conformance CLI 10 times")
	}
	e2eNode(t)
	for _, target := range e2eTaskTargets {
		t.Run(target.name, func(t *testing.T) {
			url := target.start(t)
			total := 0
			for _, sc := range e2eTaskScenarios {
				out, dir, runErr := e2eConformanceNext(t, "server", "--url", url, "--scenario", sc, "-o", "results")
				r := e2eReadResults(t, filepath.Join(dir, "results"))[sc]
				if r == nil {
					t.Errorf("%s: no results (%v)\n%s", sc, runErr, out)
					continue
				}
				total += r.passed
				switch {
				case sc == "tasks-status-notifications":
					if r.passed != 0 || r.failed != 0 || r.other != 1 {
						t.Errorf("%s: the suite now checks it (%d passed, %d failed %q): see whether the proxy's notifications/tasks (tasks/listen.go) pass, and expect them", sc, r.passed, r.failed, r.failures)
					}
				case runErr != nil || r.failed > 0 || r.passed == 0:
					t.Errorf("%s: %d passed, failures %q, run: %v\n%s", sc, r.passed, r.failures, runErr, out)
				default:
					t.Logf("%s: %d checks passed", sc, r.passed)
				}
			}
			t.Logf("%d checks passed in %d scenarios", total, len(e2eTaskScenarios))
		})
	}
}

var e2eTaskSeq atomic.Int64

// e2eTaskPost sends one 2026-07-28 request declaring the Tasks extension,
// with Authorization auth (if not ""), and Mcp-Name name (if not ""), and
// returns the HTTP status and the JSON-RPC response (the last message of an
// SSE stream).
func e2eTaskPost(t *testing.T, url, auth, method, name string, params map[string]any) (int, map[string]any) {
	t.Helper()
	return e2eTaskPostWith(t, http.DefaultClient, url, auth, method, name, params)
}

// e2eTaskPostWith is e2eTaskPost through client.
func e2eTaskPostWith(t *testing.T, client *http.Client, url, auth, method, name string, params map[string]any) (int, map[string]any) {
	t.Helper()
	params["_meta"] = map[string]any{
		rpcmsg.MetaProtocolVersion:    rpcmsg.ModernVersion,
		rpcmsg.MetaClientCapabilities: map[string]any{"extensions": map[string]any{tasks.ExtensionID: map[string]any{}}},
		rpcmsg.MetaClientInfo:         map[string]any{"name": "asyncmcp-e2e", "version": "0"},
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": e2eTaskSeq.Add(1), "method": method, "params": params})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", rpcmsg.ModernVersion)
	req.Header.Set("Mcp-Method", method)
	if name != "" {
		req.Header.Set("Mcp-Name", name)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
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

// e2eTaskGet polls tasks/get until the task leaves working, or a minute
// passes, and returns the last answer.
func e2eTaskGet(t *testing.T, url, auth, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		_, got := e2eTaskPost(t, url, auth, tasks.MethodGet, id, map[string]any{"taskId": id})
		res, _ := got["result"].(map[string]any)
		if res == nil || res["status"] != "working" || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// e2eCreateTask calls slow_compute and returns the task id.
func e2eCreateTask(t *testing.T, url, auth string, seconds float64, label string) string {
	t.Helper()
	return e2eCreateTaskWith(t, http.DefaultClient, url, auth, seconds, label)
}

// e2eCreateTaskWith is e2eCreateTask through client.
func e2eCreateTaskWith(t *testing.T, client *http.Client, url, auth string, seconds float64, label string) string {
	t.Helper()
	status, got := e2eTaskPostWith(t, client, url, auth, "tools/call", "slow_compute", map[string]any{"name": "slow_compute", "arguments": map[string]any{"seconds": seconds, "label": label}})
	res, _ := got["result"].(map[string]any)
	id, _ := res["taskId"].(string)
	if status != http.StatusOK || res["resultType"] != "task" || id == "" {
		t.Fatalf("tools/call slow_compute: HTTP %d %v", status, got)
	}
	return id
}

// A task is visible only to the authorization context that created it:
// through the proxy's HTTP front (behind a gateway that checks the tokens,
// so the proxy itself has no --auth-token), another bearer token, and no
// token, get "task not found" for it, as for an unknown id; and tasks/cancel
// from them leaves it running.
func TestTasksOwnerIsolationThroughProxy(t *testing.T) {
	cfg := e2eURLConfig(t, "fx", e2eStartFixtureHTTP(t))
	url := e2eStartProxy(t, append(e2eTaskFlags(t.TempDir()), "--named-server-config", cfg)...).Base + "/servers/fx/mcp"
	alice, bob := "Bearer alice-token", "Bearer bob-token"
	id := e2eCreateTask(t, url, alice, 2, "alice")

	_, unknown := e2eTaskPost(t, url, bob, tasks.MethodGet, "x", map[string]any{"taskId": "x"})
	unknownErr, _ := unknown["error"].(map[string]any)
	if unknownErr["code"] != float64(-32602) {
		t.Fatalf("tasks/get of an unknown id: %v", unknown)
	}
	for _, other := range []string{bob, ""} {
		for _, m := range []string{tasks.MethodGet, tasks.MethodCancel} {
			_, got := e2eTaskPost(t, url, other, m, id, map[string]any{"taskId": id})
			e, _ := got["error"].(map[string]any)
			if e == nil || e["code"] != unknownErr["code"] || e["message"] != unknownErr["message"] {
				t.Errorf("%s of alice's task with Authorization %q: %v, want the unknown-id error %v", m, other, got, unknownErr)
			}
		}
	}
	got := e2eTaskGet(t, url, alice, id)
	res, _ := got["result"].(map[string]any)
	if res["status"] != "completed" {
		t.Fatalf("alice's task: %v", got)
	}
	content, _ := res["result"].(map[string]any)["content"].([]any)
	if len(content) != 1 || content[0].(map[string]any)["text"] != "slow_compute alice done after 2s" {
		t.Errorf("alice's result: %v", res["result"])
	}
}

// With --auth-token, the proxy refuses requests without the token; those
// with it share one authorization context and see each other's tasks.
func TestTasksWithAuthToken(t *testing.T) {
	cfg := e2eURLConfig(t, "fx", e2eStartFixtureHTTP(t))
	base := e2eStartProxy(t, append(e2eTaskFlags(t.TempDir()), "--auth-token", "s3cret", "--metrics-path", "/metrics", "--named-server-config", cfg)...).Base
	url := base + "/servers/fx/mcp"
	id := e2eCreateTask(t, url, "Bearer s3cret", 0.5, "token")
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": map[string]any{"taskId": id}})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer wrong")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("tasks/get with a wrong token: HTTP %d, want 401", resp.StatusCode)
	}
	if res, _ := e2eTaskGet(t, url, "Bearer s3cret", id)["result"].(map[string]any); res["status"] != "completed" {
		t.Errorf("task with the token: %v", res)
	}
	// The metrics count the task's statuses and the store's content.
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`asyncmcp_tasks_total{server="fx",status="working"} 1`, `asyncmcp_tasks_total{server="fx",status="completed"} 1`, "asyncmcp_tasks_stored 1"} {
		if !strings.Contains(string(text), want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, grepLines(string(text), "asyncmcp_task"))
		}
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestTasksFlagsInHelp(t *testing.T) {
	out, err := exec.Command(testenv.BuildAsyncmcp(t), "proxy", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("proxy --help: %v\n%s", err, out)
	}
	for _, want := range []string{"--tasks WHICH", "--tasks-required", "--state-dir DIR", "--task-grace DURATION", "(default 1s; 0: a task at once)", "--task-ttl", "--max-tasks-per-client"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("proxy --help lacks %q", want)
		}
	}
}

// The experimental tasks of 2025-11-25, on sessions, with the TypeScript
// SDK client (v1), which implements their client side, through `asyncmcp
// proxy --tasks slow_compute -- <fixture over stdio>` (a server without
// tasks): the proxy advertises the tasks capability and taskSupport on the
// selected tool, creates the task for a call with params.task, and serves
// tasks/get, tasks/result, tasks/list and tasks/cancel.
func TestTasks2025ThroughProxyWithTSClient(t *testing.T) {
	node, dir := e2eNode(t)
	px := e2eStartProxy(t, "--tasks", "slow_compute", "--task-poll-interval", "200ms", "--state-dir", t.TempDir(), "--",
		testenv.BuildPackage(t, "./tasks/testdata/fixture"), "-stdio")
	script, err := filepath.Abs(filepath.Join("testdata", "ts-tasks-client.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	out, runErr := e2eRunNode(t, node, dir, script, px.Base+"/mcp")
	t.Logf("ts-tasks-client: %s", bytes.TrimSpace(out))
	var s struct {
		Error        string         `json:"error"`
		StreamError  string         `json:"streamError"`
		ServerTasks  map[string]any `json:"serverTasks"`
		TaskSupport  map[string]any `json:"taskSupport"`
		TaskID       string         `json:"taskId"`
		Created      map[string]any `json:"created"`
		Events       []string       `json:"events"`
		Result       string         `json:"result"`
		Got          string         `json:"got"`
		Listed       []string       `json:"listed"`
		CancelID     string         `json:"cancelId"`
		CancelAnswer string         `json:"cancelAnswer"`
		AfterCancel  string         `json:"afterCancel"`
		CancelTerm   any            `json:"cancelTerminal"`
		Unknown      any            `json:"unknown"`
		Greet        string         `json:"greet"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &s); err != nil || runErr != nil || s.Error != "" {
		t.Fatalf("ts-tasks-client: %v / %v / %s", runErr, err, s.Error)
	}
	if s.ServerTasks == nil || s.ServerTasks["requests"] == nil {
		t.Errorf("server capabilities.tasks through the proxy: %v", s.ServerTasks)
	}
	if s.TaskSupport["slow_compute"] != "optional" || s.TaskSupport["greet"] != nil {
		t.Errorf("execution.taskSupport in tools/list: %v", s.TaskSupport)
	}
	if s.TaskID == "" || s.Created["status"] != "working" || s.Created["ttl"] == nil || s.Created["createdAt"] == nil {
		t.Errorf("CreateTaskResult: %v", s.Created)
	}
	if s.StreamError != "" || s.Result != "slow_compute ts done after 1.5s" || len(s.Events) == 0 || s.Events[len(s.Events)-1] != "completed" || s.Got != "completed" {
		t.Errorf("completed task: events %v, result %q, error %q, tasks/get %q", s.Events, s.Result, s.StreamError, s.Got)
	}
	if !slices.Contains(s.Listed, s.TaskID) {
		t.Errorf("tasks/list %v lacks %s", s.Listed, s.TaskID)
	}
	if s.CancelID == "" || s.CancelAnswer != "cancelled" || s.AfterCancel != "cancelled" {
		t.Errorf("cancelled task: tasks/cancel %q, then tasks/get %q", s.CancelAnswer, s.AfterCancel)
	}
	if s.CancelTerm != float64(-32602) || s.Unknown != float64(-32602) {
		t.Errorf("tasks/cancel of a completed task: %v; tasks/get of an unknown id: %v; want -32602 for both", s.CancelTerm, s.Unknown)
	}
	if s.Greet != "Hello, TS!" {
		t.Errorf("greet without a task: %q", s.Greet)
	}
	px.Stop(t)
}

// e2eLegacyPost sends one session-based (2025-11-25) JSON-RPC message with
// Authorization auth and session sid ("" for initialize) and returns the
// session id of the answer and the JSON-RPC response (nil for a
// notification).
func e2eLegacyPost(t *testing.T, url, auth, sid string, msg map[string]any) (string, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(msg)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", auth)
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode == http.StatusAccepted {
		return resp.Header.Get("Mcp-Session-Id"), nil
	}
	data = testenv.LastEventData(resp.Header.Get("Content-Type"), data)
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("HTTP %d body %q: %v", resp.StatusCode, data, err)
	}
	return resp.Header.Get("Mcp-Session-Id"), m
}

// e2eLegacySession initializes a 2025-11-25 session declaring
// capabilities.tasks and returns its id.
func e2eLegacySession(t *testing.T, url, auth string) string {
	t.Helper()
	sid, init := e2eLegacyPost(t, url, auth, "", map[string]any{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": map[string]any{
		"protocolVersion": "2025-11-25", "capabilities": map[string]any{"tasks": map[string]any{}}, "clientInfo": map[string]any{"name": "e2e", "version": "0"}}})
	if sid == "" || init["result"] == nil {
		t.Fatalf("initialize: session %q, answer %v", sid, init)
	}
	e2eLegacyPost(t, url, auth, sid, map[string]any{"jsonrpc": "2.0", "method": "notifications/initialized"})
	return sid
}

// Tasks of 2025-11-25 sessions belong to the bearer token too: a session
// opened with another token gets -32602 for them and lists none.
func TestTasks2025OwnerIsolationThroughProxy(t *testing.T) {
	url := e2eStartProxy(t, "--tasks", "slow_compute", "--state-dir", t.TempDir(), "--",
		testenv.BuildPackage(t, "./tasks/testdata/fixture"), "-stdio").Base + "/mcp"
	alice, bob := "Bearer alice", "Bearer bob"
	sa := e2eLegacySession(t, url, alice)
	_, created := e2eLegacyPost(t, url, alice, sa, map[string]any{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": map[string]any{
		"name": "slow_compute", "arguments": map[string]any{"seconds": 30, "label": "a"}, "task": map[string]any{}}})
	task, _ := created["result"].(map[string]any)["task"].(map[string]any)
	id, _ := task["taskId"].(string)
	if id == "" {
		t.Fatalf("tools/call with params.task: %v", created)
	}
	sb := e2eLegacySession(t, url, bob)
	_, got := e2eLegacyPost(t, url, bob, sb, map[string]any{"jsonrpc": "2.0", "id": 3, "method": "tasks/get", "params": map[string]any{"taskId": id}})
	if e, _ := got["error"].(map[string]any); e == nil || e["code"] != float64(-32602) {
		t.Errorf("tasks/get of alice's task in bob's session: %v", got)
	}
	_, list := e2eLegacyPost(t, url, bob, sb, map[string]any{"jsonrpc": "2.0", "id": 4, "method": "tasks/list", "params": map[string]any{}})
	if tasks, _ := list["result"].(map[string]any)["tasks"].([]any); len(tasks) != 0 {
		t.Errorf("tasks/list in bob's session: %v", list)
	}
	// Another session of alice's sees it, and cancels it.
	sa2 := e2eLegacySession(t, url, alice)
	_, got = e2eLegacyPost(t, url, alice, sa2, map[string]any{"jsonrpc": "2.0", "id": 5, "method": "tasks/cancel", "params": map[string]any{"taskId": id}})
	if res, _ := got["result"].(map[string]any); res["status"] != "cancelled" {
		t.Errorf("tasks/cancel in alice's second session: %v", got)
	}
}
