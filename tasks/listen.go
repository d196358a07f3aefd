// SPDX-License-Identifier: Apache-2.0

package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// This file pushes notifications/tasks (2026-07-28, Tasks extension) on
// subscriptions/listen streams whose filter names taskIds, for the tasks the
// proxy made. The back knows nothing of those tasks: the proxy takes taskIds
// out of the filter it forwards, adds the ids it honours to the back's
// acknowledgement, and sends a notification each time one of them changes
// status. A listen that asks for taskIds only is served by the proxy alone.

// MethodTaskNotification is the notification of the Tasks extension that
// carries a task's new status (a DetailedTask) on a subscriptions/listen
// stream.
const MethodTaskNotification = "notifications/tasks"

// maxListenTasks bounds the task ids one listen watches; ids past it are not
// honoured (the acknowledgement leaves them out).
const maxListenTasks = 256

const methodListenAck = "notifications/subscriptions/acknowledged"

// listen serves a subscriptions/listen whose filter names taskIds.
func (t *Tasks) listen(ctx context.Context, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	params, err := object(req.Params)
	if err != nil {
		return errorResponse(req.ID, jsonrpc.CodeInvalidParams, "subscriptions/listen: malformed params: "+err.Error(), nil), nil
	}
	filter, err := object(params["notifications"])
	if err != nil {
		return errorResponse(req.ID, jsonrpc.CodeInvalidParams, "subscriptions/listen: params.notifications: "+err.Error(), nil), nil
	}
	var ids []string
	if err := json.Unmarshal(filter["taskIds"], &ids); err != nil {
		t.log.Warn("tasks: malformed taskIds in subscriptions/listen", "err", err)
		return errorResponse(req.ID, jsonrpc.CodeInvalidParams, "subscriptions/listen: notifications.taskIds must be an array of strings: "+err.Error(), nil), nil
	}
	owner := t.ownerOf(ctx)
	// Honoured: the caller's own tasks (another owner's look unknown), the
	// first maxListenTasks of them. Their status now is the baseline.
	honoured := []string{}
	base := map[string]Status{}
	for _, id := range ids {
		if _, dup := base[id]; dup || len(honoured) >= maxListenTasks {
			continue
		}
		rec, err := t.store.Get(id, owner)
		if err != nil {
			if !errors.Is(err, ErrNotFound) {
				t.log.Error("tasks: cannot read a task for subscriptions/listen", "task", id, "err", err)
			}
			continue
		}
		honoured = append(honoured, id)
		base[id] = rec.Status
	}
	sub, _ := json.Marshal(req.ID.Raw())

	l := &taskListen{t: t, owner: owner, sub: sub, notify: notify, acked: make(chan struct{}), stop: make(chan struct{})}
	for _, id := range honoured {
		l.wg.Add(1)
		go l.watch(id, base[id])
	}
	defer l.end()

	delete(filter, "taskIds")
	if len(filter) == 0 {
		// Nothing for the back: the proxy acknowledges and serves the
		// stream until the client goes or the proxy stops.
		l.send(&jsonrpc.Request{Method: methodListenAck, Params: mustMarshal(map[string]any{
			"notifications": map[string]any{"taskIds": honoured},
			"_meta":         map[string]json.RawMessage{rpcmsg.MetaSubscriptionID: sub},
		})})
		l.ack()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.base.Done():
			return rpcmsg.ListenComplete(req.ID), nil
		}
	}
	params["notifications"] = mustMarshal(filter)
	fwd := &jsonrpc.Request{ID: req.ID, Method: req.Method, Params: mustMarshal(params), Extra: req.Extra}
	return t.next.RoundTrip(ctx, fwd, func(n *jsonrpc.Request) {
		if n.Method == methodListenAck && !l.isAcked() {
			l.send(ackWithTasks(n, honoured))
			l.ack()
			return
		}
		l.send(n)
	})
}

// ackWithTasks adds the honoured task ids to the back's acknowledgement.
func ackWithTasks(n *jsonrpc.Request, honoured []string) *jsonrpc.Request {
	p, err := object(n.Params)
	if err != nil {
		return n
	}
	f, err := object(p["notifications"])
	if err != nil {
		return n
	}
	f["taskIds"] = mustMarshal(honoured)
	p["notifications"] = mustMarshal(f)
	return &jsonrpc.Request{Method: n.Method, Params: mustMarshal(p), Extra: n.Extra}
}

// A taskListen is one subscriptions/listen that watches tasks.
type taskListen struct {
	t      *Tasks
	owner  string
	sub    json.RawMessage // the listen's id, the subscriptionId
	notify func(*jsonrpc.Request)
	acked  chan struct{} // closed once the acknowledgement went out
	stop   chan struct{} // closed when the listen ends
	wg     sync.WaitGroup

	mu       sync.Mutex // serializes notify, and guards ended and ackSent
	ended    bool
	ackSent  bool
	stopOnce sync.Once
}

// send passes n to the client unless the listen ended.
func (l *taskListen) send(n *jsonrpc.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.ended {
		l.notify(n)
	}
}

func (l *taskListen) ack() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.ackSent {
		l.ackSent = true
		close(l.acked)
	}
}

func (l *taskListen) isAcked() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ackSent
}

// end stops the watchers; no notification goes out after it returns.
func (l *taskListen) end() {
	l.mu.Lock()
	l.ended = true
	l.mu.Unlock()
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// watch sends notifications/tasks for task id each time its status differs
// from the last one the client was told of (at first, last), after the
// acknowledgement, until the task is terminal or gone, or the listen ends.
func (l *taskListen) watch(id string, last Status) {
	defer l.wg.Done()
	select {
	case <-l.acked:
	case <-l.stop:
		return
	}
	for {
		ch, release := l.t.watch(id)
		rec, err := l.t.store.Get(id, l.owner)
		if err != nil {
			release()
			if !errors.Is(err, ErrNotFound) {
				l.t.log.Error("tasks: cannot read a watched task", "task", id, "err", err)
			}
			return // expired or deleted: nothing more to tell
		}
		if rec.Status != last {
			last = rec.Status
			l.send(&jsonrpc.Request{Method: MethodTaskNotification, Params: taskNotification(rec, l.sub)})
		}
		if rec.Status.Terminal() {
			release()
			return
		}
		select {
		case <-ch:
		case <-l.stop:
			release()
			return
		}
		release()
	}
}

// taskNotification is the params of notifications/tasks for rec: its
// DetailedTask (with the result, error or input requests of its status) and
// the listen's subscriptionId.
func taskNotification(rec *Record, sub json.RawMessage) json.RawMessage {
	p, err := object(encodeTask(rec, false))
	if err != nil {
		panic(fmt.Sprintf("tasks: encode task %s: %v", rec.ID, err))
	}
	delete(p, "resultType") // a notification, not a result
	p["_meta"] = mustMarshal(map[string]json.RawMessage{rpcmsg.MetaSubscriptionID: sub})
	return mustMarshal(p)
}
