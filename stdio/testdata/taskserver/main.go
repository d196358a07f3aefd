// SPDX-License-Identifier: Apache-2.0

// Command taskserver is a TEST FIXTURE, not a product: a minimal stdio MCP
// server of the stateless revision (2026-07-28) that implements the Tasks
// extension itself, written here because no SDK available to the tests
// does (go-sdk v1.8.0 and the TS SDK 2.4.0 lack it). It exists so that the
// pool's routing of tasks/* to the creating child is tested against a real
// child process that keeps its tasks in its own memory.
//
// It answers, one goroutine per request:
//   - server/discover: supportedVersions ["2026-07-28"] and the tasks
//     extension capability;
//   - tools/call "start": a task (flat Task fields, resultType "task") whose
//     statusMessage is "pid N"; arguments.polls is how many tasks/get answer
//     "working" before the task is "completed" (default: never);
//   - tools/call "block": no answer until notifications/cancelled names the
//     request (or stdin ends);
//   - tasks/get, tasks/update, tasks/cancel: the task's state, or -32602
//     "task not found" for an id this process did not create.
//
// Every answer's _meta carries "pid" (this process's id), so a test can tell
// which child served it. It exits at end of input or after 10 minutes.
package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

type request struct {
	ID     json.RawMessage `json:"id,omitempty"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params,omitempty"`
}

type task struct {
	status string
	polls  int // tasks/get answers left before completion; -1: never
}

var (
	outMu   sync.Mutex
	mu      sync.Mutex
	tasks   = map[string]*task{}
	blocked = map[string]chan struct{}{} // request id -> closed on cancel
	pid     = os.Getpid()
)

func main() {
	go func() {
		time.Sleep(10 * time.Minute)
		os.Exit(0)
	}()
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var req request
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			fmt.Fprintln(os.Stderr, "taskserver: bad line:", err)
			continue
		}
		if len(req.ID) == 0 {
			notification(req)
			continue
		}
		go handle(req)
	}
}

func notification(req request) {
	if req.Method != "notifications/cancelled" {
		return
	}
	var p struct {
		RequestID json.RawMessage `json:"requestId"`
	}
	json.Unmarshal(req.Params, &p)
	mu.Lock()
	if ch, ok := blocked[string(p.RequestID)]; ok {
		close(ch)
		delete(blocked, string(p.RequestID))
	}
	mu.Unlock()
}

func handle(req request) {
	var p struct {
		Name      string `json:"name"`
		TaskID    string `json:"taskId"`
		Arguments struct {
			Polls *int `json:"polls"`
		} `json:"arguments"`
	}
	json.Unmarshal(req.Params, &p)
	switch {
	case req.Method == "server/discover":
		reply(req.ID, map[string]any{
			"supportedVersions": []string{"2026-07-28"},
			"capabilities":      map[string]any{"tools": map[string]any{}, "extensions": map[string]any{"io.modelcontextprotocol/tasks": map[string]any{}}},
			"serverInfo":        map[string]any{"name": "taskserver", "version": "0"},
			"resultType":        "complete",
		})
	case req.Method == "tools/list":
		reply(req.ID, map[string]any{"resultType": "complete", "tools": []any{
			map[string]any{"name": "start", "inputSchema": map[string]any{"type": "object"}},
			map[string]any{"name": "block", "inputSchema": map[string]any{"type": "object"}},
		}})
	case req.Method == "tools/call" && p.Name == "start":
		var b [16]byte
		rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		t := &task{status: "working", polls: -1}
		if p.Arguments.Polls != nil {
			t.polls = *p.Arguments.Polls
		}
		mu.Lock()
		tasks[id] = t
		mu.Unlock()
		now := time.Now().UTC().Format(time.RFC3339)
		reply(req.ID, map[string]any{"resultType": "task", "taskId": id, "status": "working",
			"statusMessage": fmt.Sprintf("pid %d", pid), "createdAt": now, "lastUpdatedAt": now,
			"ttlMs": 60000, "pollIntervalMs": 100})
	case req.Method == "tools/call" && p.Name == "block":
		ch := make(chan struct{})
		mu.Lock()
		blocked[string(req.ID)] = ch
		mu.Unlock()
		<-ch
	case req.Method == "tasks/get" || req.Method == "tasks/update" || req.Method == "tasks/cancel":
		mu.Lock()
		t := tasks[p.TaskID]
		var status string
		if t != nil {
			switch req.Method {
			case "tasks/cancel":
				if t.status == "working" {
					t.status = "cancelled"
				}
			case "tasks/get":
				if t.status == "working" && t.polls == 0 {
					t.status = "completed"
				} else if t.polls > 0 {
					t.polls--
				}
			}
			status = t.status
		}
		mu.Unlock()
		if t == nil {
			replyError(req.ID, -32602, "task not found")
			return
		}
		if req.Method != "tasks/get" {
			reply(req.ID, map[string]any{"resultType": "complete"})
			return
		}
		r := map[string]any{"resultType": "complete", "taskId": p.TaskID, "status": status,
			"statusMessage": fmt.Sprintf("pid %d", pid), "ttlMs": 60000}
		if status == "completed" {
			r["result"] = map[string]any{"content": []any{map[string]any{"type": "text", "text": "done"}}}
		}
		reply(req.ID, r)
	default:
		replyError(req.ID, -32601, "Method not found: "+req.Method)
	}
}

func reply(id json.RawMessage, result map[string]any) {
	result["_meta"] = map[string]any{"pid": pid}
	write(map[string]any{"jsonrpc": "2.0", "id": id, "result": result})
}

func replyError(id json.RawMessage, code int, msg string) {
	write(map[string]any{"jsonrpc": "2.0", "id": id, "error": map[string]any{"code": code, "message": msg, "data": map[string]any{"pid": pid}}})
}

func write(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintln(os.Stderr, "taskserver:", err)
		return
	}
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(b, '\n'))
}
