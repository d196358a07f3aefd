// SPDX-License-Identifier: Apache-2.0

package stdio

import (
	"bytes"
	"encoding/json"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Routing of the Tasks extension (2026-07-28) through the pool: a task
// lives in the memory of the child that created it, so tasks/get,
// tasks/update and tasks/cancel must reach that child. The pool learns
// task ids from the results that pass through it and forwards those
// requests, unchanged but for the id, to the creating child.
//
// The pool has no notion of who the caller is: a task id, which the
// extension requires to be unguessable, acts as a bearer handle here. When
// the proxy's own tasks engine (package tasks) is on, it binds tasks to
// their owner before anything reaches this back.
const (
	// maxTaskRoutes bounds the task ids remembered by one pool; past it the
	// route closest to expiry is dropped.
	maxTaskRoutes = 16384
	// defaultTaskRouteTTL is how long a route is kept when the task names
	// no ttlMs; maxTaskRouteTTL caps a task's own ttlMs.
	defaultTaskRouteTTL = time.Hour
	maxTaskRouteTTL     = 24 * time.Hour
	// taskRouteSlack is added to a task's ttlMs, and terminalGrace is how
	// long a route outlives the first terminal status seen, so that a
	// replayed tasks/get (an idempotent read) still reaches the child.
	taskRouteSlack = time.Minute
	terminalGrace  = time.Minute
)

// isTaskMethod reports whether method addresses an existing task.
func isTaskMethod(method string) bool {
	switch method {
	case "tasks/get", "tasks/update", "tasks/cancel":
		return true
	}
	return false
}

type taskRoute struct {
	ch      *child
	expires time.Time
}

// taskRoutes maps task ids to the child holding the task.
type taskRoutes struct {
	mu     sync.Mutex
	routes map[string]taskRoute
}

// lookup returns the live child holding task id, or nil.
func (t *taskRoutes) lookup(id string) *child {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.routes[id]
	if !ok {
		return nil
	}
	if time.Now().After(r.expires) {
		delete(t.routes, id)
		return nil
	}
	return r.ch
}

// remember records that ch holds task id until ttl from now.
func (t *taskRoutes) remember(id string, ch *child, ttl time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.routes == nil {
		t.routes = map[string]taskRoute{}
	}
	now := time.Now()
	if _, ok := t.routes[id]; !ok && len(t.routes) >= maxTaskRoutes {
		var victim string
		var soonest time.Time
		for k, r := range t.routes {
			if now.After(r.expires) {
				delete(t.routes, k)
				continue
			}
			if victim == "" || r.expires.Before(soonest) {
				victim, soonest = k, r.expires
			}
		}
		if len(t.routes) >= maxTaskRoutes {
			delete(t.routes, victim)
		}
	}
	t.routes[id] = taskRoute{ch: ch, expires: now.Add(ttl)}
}

// ended shortens the route of a task that reached a terminal status.
func (t *taskRoutes) ended(id string, ch *child) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.routes[id]
	if !ok || r.ch != ch {
		return
	}
	if end := time.Now().Add(terminalGrace); end.Before(r.expires) {
		r.expires = end
		t.routes[id] = r
	}
}

// childDown forgets every task held by ch: they died with it.
func (t *taskRoutes) childDown(ch *child) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for k, r := range t.routes {
		if r.ch == ch {
			delete(t.routes, k)
			n++
		}
	}
	return n
}

// perChild counts the live routes of each child.
func (t *taskRoutes) perChild() map[*child]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	out := map[*child]int{}
	for _, r := range t.routes {
		if now.Before(r.expires) {
			out[r.ch]++
		}
	}
	return out
}

// taskIDParam returns params.taskId, or "".
func taskIDParam(params json.RawMessage) string {
	var p struct {
		TaskID string `json:"taskId"`
	}
	if json.Unmarshal(params, &p) != nil {
		return ""
	}
	return p.TaskID
}

// taskInfo is what a result says about a task.
type taskInfo struct {
	ResultType string `json:"resultType"`
	TaskID     string `json:"taskId"`
	Status     string `json:"status"`
	TTLMs      *int64 `json:"ttlMs"`
	// Task is the 2025-11-25 shape, CreateTaskResult {task:{...}}.
	Task *struct {
		TaskID string `json:"taskId"`
		Status string `json:"status"`
		TTL    *int64 `json:"ttl"`
		TTLMs  *int64 `json:"ttlMs"`
	} `json:"task"`
}

// learnTask reads the result of a request served by ch: a created task
// (resultType "task" with flat Task fields, or the 2025 shape
// {"task":{...}}) is remembered; a tasks/get result with a terminal status
// shortens its route.
func (p *pool) learnTask(method string, ch *child, r *jsonrpc.Response) {
	if r.Error != nil || !bytes.Contains(r.Result, []byte(`"taskId"`)) {
		return
	}
	var ti taskInfo
	if json.Unmarshal(r.Result, &ti) != nil {
		return
	}
	id, status, ttlMs := ti.TaskID, ti.Status, ti.TTLMs
	if ti.Task != nil && ti.Task.TaskID != "" && (id == "" || ti.ResultType != "task") {
		id, status, ttlMs = ti.Task.TaskID, ti.Task.Status, ti.Task.TTLMs
		if ttlMs == nil {
			ttlMs = ti.Task.TTL
		}
	} else if ti.ResultType != "task" && method != "tasks/get" {
		return
	}
	if id == "" {
		return
	}
	if method == "tasks/get" {
		if terminalStatus(status) {
			p.tasks.ended(id, ch)
		}
		return
	}
	ttl := defaultTaskRouteTTL
	if ttlMs != nil && *ttlMs > 0 {
		ttl = min(time.Duration(*ttlMs)*time.Millisecond, maxTaskRouteTTL) + taskRouteSlack
	}
	p.tasks.remember(id, ch, ttl)
	if terminalStatus(status) {
		p.tasks.ended(id, ch)
	}
}

func terminalStatus(s string) bool {
	switch s {
	case "completed", "failed", "cancelled":
		return true
	}
	return false
}

// taskNotFound answers a tasks/* request for a task no live child holds.
func taskNotFound(id jsonrpc.ID) *jsonrpc.Response {
	return invalidParams(id, "Invalid params: task not found")
}
