// SPDX-License-Identifier: Apache-2.0

package stdio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/stdio"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// taskServer runs stdio/testdata/taskserver, a test fixture that
// implements the Tasks extension (no SDK at hand does), in a pool.
func taskServer(t *testing.T, poolSize int) *stdio.Command {
	return newCommand(t, testenv.BuildPackage(t, "./stdio/testdata/taskserver"), nil, poolSize)
}

type taskAnswer struct {
	ResultType    string `json:"resultType"`
	TaskID        string `json:"taskId"`
	Status        string `json:"status"`
	StatusMessage string `json:"statusMessage"`
	Meta          struct {
		PID int `json:"pid"`
	} `json:"_meta"`
}

func decodeTask(t *testing.T, what string, resp *jsonrpc.Response) taskAnswer {
	t.Helper()
	if resp.Error != nil {
		t.Fatalf("%s: error %v", what, resp.Error)
	}
	var a taskAnswer
	if err := json.Unmarshal(resp.Result, &a); err != nil {
		t.Fatalf("%s: decoding %s: %v", what, resp.Result, err)
	}
	return a
}

// startTask creates a task and returns its id and the pid of its child.
func startTask(t *testing.T, c *stdio.Command, id string, polls *int) (string, int) {
	t.Helper()
	args := map[string]any{}
	if polls != nil {
		args["polls"] = *polls
	}
	a := decodeTask(t, "start", roundTrip(t, c, toolCall(t, id, "start", args, nil), nil))
	if a.ResultType != "task" || a.TaskID == "" || a.Meta.PID == 0 {
		t.Fatalf("start: want a task, got %+v", a)
	}
	return a.TaskID, a.Meta.PID
}

// blockOn starts a call that the fixture never answers, to load one child,
// and waits until total calls are in flight; the returned function cancels
// it.
func blockOn(t *testing.T, c *stdio.Command, id string, total int) func() {
	ctx, cancel := context.WithCancel(t.Context())
	done := startCall(ctx, c, toolCall(t, id, "block", nil, nil), nil)
	waitUntil(t, "the blocking call to be in flight", func() bool {
		n := 0
		for _, ch := range c.ModernStatus().Children {
			n += ch.InFlight
		}
		return n >= total
	})
	return func() { cancel(); <-done }
}

// TestTasksRoutedToCreatingChild: with two children, tasks created on each
// are polled, updated and cancelled on the child that created them, which
// alone knows them. Least-loaded routing sends them all to one child.
func TestTasksRoutedToCreatingChild(t *testing.T) {
	c := taskServer(t, 2)
	roundTrip(t, c, modern(t, "d", "server/discover", nil, nil), nil)
	waitUntil(t, "two pool children", func() bool { return len(c.ModernStatus().Children) == 2 })

	created := map[string]int{} // task id -> pid of the creating child
	id, pid := startTask(t, c, "s-1", nil)
	created[id] = pid
	// Load the first child so that the next tasks are created on the other.
	stopA := blockOn(t, c, "block-1", 1)
	for i := 2; i <= 4; i++ {
		id, pid := startTask(t, c, fmt.Sprintf("s-%d", i), nil)
		created[id] = pid
	}
	// Load the second child too: both have one call, new tasks go to the first.
	stopB := blockOn(t, c, "block-2", 2)
	id, pid = startTask(t, c, "s-5", nil)
	created[id] = pid
	stopA()
	stopB()

	pids := map[int]int{}
	for _, p := range created {
		pids[p]++
	}
	if len(pids) != 2 {
		t.Fatalf("tasks were created on %d children (%v); the test needs both", len(pids), pids)
	}
	for round := 0; round < 3; round++ {
		for id, pid := range created {
			a := decodeTask(t, "tasks/get", roundTrip(t, c, modern(t, "g-"+id, "tasks/get", map[string]any{"taskId": id}, nil), nil))
			if a.Meta.PID != pid || a.TaskID != id || a.Status != "working" {
				t.Errorf("tasks/get %s: answered by pid %d with %+v; created by pid %d", id, a.Meta.PID, a, pid)
			}
			resp := roundTrip(t, c, modern(t, "u-"+id, "tasks/update", map[string]any{"taskId": id, "inputResponses": map[string]any{}}, nil), nil)
			if resp.Error != nil {
				t.Errorf("tasks/update %s: %v", id, resp.Error)
			}
		}
	}
	for id := range created {
		if resp := roundTrip(t, c, modern(t, "c-"+id, "tasks/cancel", map[string]any{"taskId": id}, nil), nil); resp.Error != nil {
			t.Errorf("tasks/cancel %s: %v", id, resp.Error)
		}
		a := decodeTask(t, "tasks/get", roundTrip(t, c, modern(t, "g2-"+id, "tasks/get", map[string]any{"taskId": id}, nil), nil))
		if a.Status != "cancelled" {
			t.Errorf("tasks/get %s after cancel: %+v", id, a)
		}
	}
}

// TestTaskUnknownOrLost: a task id the pool never saw, and the tasks of a
// child that died, get -32602 from the pool; the other child's tasks live on.
func TestTaskUnknownOrLost(t *testing.T) {
	c := taskServer(t, 2)
	roundTrip(t, c, modern(t, "d", "server/discover", nil, nil), nil)
	waitUntil(t, "two pool children", func() bool { return len(c.ModernStatus().Children) == 2 })

	resp := roundTrip(t, c, modern(t, "g-x", "tasks/get", map[string]any{"taskId": "no-such-task"}, nil), nil)
	if we := wireError(t, resp); we.Code != jsonrpc.CodeInvalidParams || !strings.Contains(we.Message, "task not found") {
		t.Fatalf("unknown task: %v", we)
	}
	if strings.Contains(string(mustJSON(t, resp)), "pid") {
		t.Errorf("unknown task reached a child: %s", mustJSON(t, resp))
	}

	lost, lostPID := startTask(t, c, "s-1", nil)
	stop := blockOn(t, c, "block-1", 1)
	kept, keptPID := startTask(t, c, "s-2", nil)
	stop()
	if lostPID == keptPID {
		t.Fatalf("both tasks on pid %d", lostPID)
	}
	if err := kill(lostPID); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the killed child to be replaced", func() bool {
		st := c.ModernStatus()
		if len(st.Children) != 2 {
			return false
		}
		for _, ch := range st.Children {
			if ch.PID == lostPID {
				return false
			}
		}
		return true
	})
	resp = roundTrip(t, c, modern(t, "g-lost", "tasks/get", map[string]any{"taskId": lost}, nil), nil)
	if we := wireError(t, resp); we.Code != jsonrpc.CodeInvalidParams || !strings.Contains(we.Message, "task not found") {
		t.Fatalf("task of a dead child: %v", we)
	}
	a := decodeTask(t, "tasks/get", roundTrip(t, c, modern(t, "g-kept", "tasks/get", map[string]any{"taskId": kept}, nil), nil))
	if a.Meta.PID != keptPID {
		t.Fatalf("kept task answered by pid %d, want %d", a.Meta.PID, keptPID)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
