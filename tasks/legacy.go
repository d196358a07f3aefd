// SPDX-License-Identifier: Apache-2.0

package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// This file provides the experimental tasks of protocol 2025-11-25 on
// session connections (see [Tasks.Dialer]): a client that declared
// capabilities.tasks at initialize may send tools/call with params.task;
// the proxy answers with a CreateTaskResult at once, keeps the call running
// on the session's back connection, and serves tasks/get, tasks/result,
// tasks/list and tasks/cancel from the store.

// relatedTaskKey is the _meta key that ties a message to a task (2025-11-25).
const relatedTaskKey = "io.modelcontextprotocol/related-task"

// legacyListPage is the page size of tasks/list.
const legacyListPage = 100

// legacyCallsTracked bounds the front's calls in flight at the back that a
// session keeps track of; past it the session no longer ties the back's
// input requests to a task (see [legacySession.inputFor]).
const legacyCallsTracked = 4096

// legacyNotifyWait bounds how long a task status notification waits for
// room in the queue of the proxy's own messages.
const legacyNotifyWait = 10 * time.Second

// MethodStatusNotification is the notification of 2025-11-25 that tells a
// session's client its task changed status; its params are the Task.
const MethodStatusNotification = "notifications/tasks/status"

// legacyInjected bounds the answers the proxy itself holds for the client,
// not yet read by the front.
const legacyInjected = 64

// legacyTask is a Task of 2025-11-25 as it goes on the wire.
type legacyTask struct {
	TaskID        string `json:"taskId"`
	Status        Status `json:"status"`
	StatusMessage string `json:"statusMessage,omitempty"`
	CreatedAt     string `json:"createdAt"`
	LastUpdatedAt string `json:"lastUpdatedAt"`
	TTL           int64  `json:"ttl"`
	PollInterval  int64  `json:"pollInterval,omitempty"`
}

func toLegacyTask(r *Record) legacyTask {
	return legacyTask{
		TaskID: r.ID, Status: r.Status, StatusMessage: r.StatusMessage,
		CreatedAt: r.CreatedAt.UTC().Format(timeFormat), LastUpdatedAt: r.LastUpdatedAt.UTC().Format(timeFormat),
		TTL: r.TTLMs, PollInterval: r.PollIntervalMs,
	}
}

// session wraps the back connection of one client session.
func (t *Tasks) session(ctx context.Context, back mcp.Connection) mcp.Connection {
	s := &legacySession{
		t:       t,
		back:    back,
		owner:   t.ownerOf(ctx),
		in:      make(chan jsonrpc.Message),
		inj:     make(chan jsonrpc.Message, legacyInjected),
		done:    make(chan struct{}),
		patch:   map[jsonrpc.ID]string{},
		pending: map[jsonrpc.ID]string{},
		calls:   map[jsonrpc.ID]struct{}{},
		inputs:  map[jsonrpc.ID]string{},
	}
	go s.readBack()
	return s
}

// A legacySession is an mcp.Connection to the back of one session that
// provides 2025-11-25 tasks to the front.
type legacySession struct {
	t     *Tasks
	back  mcp.Connection
	owner string

	in      chan jsonrpc.Message // from the back, filtered; closed when the back ends
	inj     chan jsonrpc.Message // answers of the proxy itself
	readErr error                // why the back ended; set before in is closed
	done    chan struct{}        // closed by Close
	once    sync.Once

	mu          sync.Mutex
	clientTasks bool                    // the client declared capabilities.tasks
	native      bool                    // the server declared capabilities.tasks itself
	patch       map[jsonrpc.ID]string   // ids of initialize and tools/list requests, whose results get patched
	pending     map[jsonrpc.ID]string   // back id of a task's call -> task id
	calls       map[jsonrpc.ID]struct{} // the front's other calls the back has not answered yet
	untracked   bool                    // calls overflowed legacyCallsTracked: input requests are not tied to tasks
	inputs      map[jsonrpc.ID]string   // id of a back's input request the client has not answered -> task id
}

func (s *legacySession) SessionID() string { return s.back.SessionID() }

// Close closes the back connection. Task calls still running on it cannot
// end any more: their tasks fail, saying so.
func (s *legacySession) Close() error {
	err := s.back.Close()
	s.once.Do(func() {
		close(s.done)
		s.mu.Lock()
		pending := s.pending
		s.pending = map[jsonrpc.ID]string{}
		s.mu.Unlock()
		for _, id := range pending {
			s.finishTask(id, func(r *Record) {
				r.Status, r.StatusMessage = StatusFailed, "The client's session ended before the call completed; the MCP server's session is gone with it."
				r.Error = internalError("%s", r.StatusMessage)
			})
		}
	})
	return err
}

// readBack reads the back and passes its messages on, except the answers
// of task calls, which go to their tasks.
func (s *legacySession) readBack() {
	defer close(s.in)
	for {
		msg, err := s.back.Read(context.Background())
		if err != nil {
			s.readErr = err
			return
		}
		switch m := msg.(type) {
		case *jsonrpc.Response:
			if s.answered(m) {
				continue
			}
			s.mu.Lock()
			delete(s.calls, m.ID)
			s.mu.Unlock()
			msg = s.patched(m)
		case *jsonrpc.Request:
			if m.IsCall() && (m.Method == "sampling/createMessage" || m.Method == "elicitation/create") {
				msg = s.inputRequest(m)
			}
		}
		select {
		case s.in <- msg:
		case <-s.done:
			s.readErr = errors.New("tasks: session closed")
			return
		}
	}
}

// Read returns the next message for the front: the back's, or an answer of
// the proxy.
func (s *legacySession) Read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case m := <-s.inj:
		return m, nil
	default:
	}
	select {
	case m := <-s.inj:
		return m, nil
	case m, ok := <-s.in:
		if !ok {
			return nil, s.readErr
		}
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// notifyStatus tells the client of this session that its task changed
// status (notifications/tasks/status of 2025-11-25), when the client
// declared capabilities.tasks. The notification waits in the bounded queue
// of the proxy's own messages, for at most legacyNotifyWait; past that it is
// dropped, saying so in the log (the client still sees the status in
// tasks/get).
func (s *legacySession) notifyStatus(rec *Record) {
	s.mu.Lock()
	clientTasks := s.clientTasks
	s.mu.Unlock()
	if rec == nil || !clientTasks {
		return
	}
	select {
	case <-s.done:
		return // the session is gone, and its client with it
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), legacyNotifyWait)
	defer cancel()
	msg := &jsonrpc.Request{Method: MethodStatusNotification, Params: mustMarshal(toLegacyTask(rec))}
	if err := s.inject(ctx, msg); err != nil {
		s.t.log.Warn("tasks: dropped a task status notification", "task", rec.ID, "status", rec.Status, "err", err)
	}
}

// inject queues a message of the proxy for the front.
func (s *legacySession) inject(ctx context.Context, resp jsonrpc.Message) error {
	select {
	case s.inj <- resp:
		return nil
	case <-s.done:
		return errors.New("tasks: session closed")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Write passes the front's messages to the back, and serves the requests of
// 2025-11-25 tasks itself.
func (s *legacySession) Write(ctx context.Context, msg jsonrpc.Message) error {
	req, ok := msg.(*jsonrpc.Request)
	if !ok || !req.IsCall() {
		if resp, ok := msg.(*jsonrpc.Response); ok {
			// Before the answer goes on: the back may end the call at once.
			s.inputAnswered(resp.ID)
		}
		return s.back.Write(ctx, msg)
	}
	s.mu.Lock()
	native, clientTasks := s.native, s.clientTasks
	s.mu.Unlock()
	switch req.Method {
	case "initialize":
		var p struct {
			Capabilities struct {
				Tasks json.RawMessage `json:"tasks"`
			} `json:"capabilities"`
		}
		_ = json.Unmarshal(req.Params, &p)
		s.mu.Lock()
		s.clientTasks = len(p.Capabilities.Tasks) > 0 && string(p.Capabilities.Tasks) != "null"
		s.patch[req.ID] = req.Method
		s.mu.Unlock()
	case "tools/list":
		s.mu.Lock()
		s.patch[req.ID] = req.Method
		s.mu.Unlock()
	case "tools/call":
		if native {
			break
		}
		var p struct {
			Name string          `json:"name"`
			Task json.RawMessage `json:"task"`
		}
		if json.Unmarshal(req.Params, &p) != nil || p.Name == "" {
			break // the back answers the malformed call
		}
		asked := len(p.Task) > 0 && string(p.Task) != "null"
		selected, required := s.t.selects(p.Name)
		switch {
		case asked && clientTasks && selected:
			return s.create(ctx, req, p.Task)
		case !asked && required:
			s.t.log.Info("tasks: refused a call without params.task to a tool that runs only as a task")
			return s.inject(ctx, errorResponse(req.ID, jsonrpc.CodeMethodNotFound, fmt.Sprintf("tool %q runs only as a task: call it with params.task", p.Name), nil))
		}
	case MethodGet, MethodResult, MethodList, MethodCancel:
		if !native {
			return s.serve(ctx, req)
		}
	}
	s.mu.Lock()
	if len(s.calls) < legacyCallsTracked {
		s.calls[req.ID] = struct{}{}
	} else {
		s.untracked = true
	}
	s.mu.Unlock()
	return s.back.Write(ctx, msg)
}

// inputRequest ties a back's sampling or elicitation request to the task
// whose call asked for it, and moves that task to input_required until the
// client answers (2025-11-25 clients answer such requests on the session,
// as for a call without a task). A session connection does not say which
// call a server request belongs to, so the request is tied to a task only
// when it cannot belong to anything else: exactly one task call and no
// other call of the front is in flight at the back. The request then goes
// to the client with the task in _meta (io.modelcontextprotocol/related-task).
func (s *legacySession) inputRequest(req *jsonrpc.Request) *jsonrpc.Request {
	s.mu.Lock()
	var taskID string
	if len(s.pending) == 1 && len(s.calls) == 0 && !s.untracked && !s.native {
		for _, id := range s.pending {
			taskID = id
		}
		s.inputs[req.ID] = taskID
	}
	s.mu.Unlock()
	if taskID == "" {
		return req
	}
	var latest *Record
	err := s.t.store.Update(taskID, s.owner, func(r *Record) error {
		if r.Status.Terminal() {
			return errUnchanged
		}
		r.Status = StatusInputRequired
		r.StatusMessage = fmt.Sprintf("The MCP server sent %s; answer it on the session.", req.Method)
		latest = r
		return nil
	})
	switch {
	case err == nil:
		s.t.observe(StatusInputRequired)
		s.notifyStatus(latest)
		s.t.changed(taskID)
		s.t.log.Debug("tasks: a 2025-11-25 task waits for input", "task", taskID, "method", req.Method)
	case !errors.Is(err, errUnchanged) && !errors.Is(err, ErrNotFound):
		s.t.log.Error("tasks: cannot mark a task input_required", "task", taskID, "err", err)
	}
	params, err := object(req.Params)
	if err != nil {
		return req // the client answers the malformed request
	}
	meta, err := object(params["_meta"])
	if err != nil {
		meta = map[string]json.RawMessage{}
	}
	meta[relatedTaskKey] = mustMarshal(map[string]string{"taskId": taskID})
	params["_meta"] = mustMarshal(meta)
	return &jsonrpc.Request{ID: req.ID, Method: req.Method, Params: mustMarshal(params)}
}

// inputAnswered moves a task back to working once the client answered the
// last of the back's input requests tied to it.
func (s *legacySession) inputAnswered(id jsonrpc.ID) {
	s.mu.Lock()
	taskID, ok := s.inputs[id]
	delete(s.inputs, id)
	waiting := false
	for _, t := range s.inputs {
		waiting = waiting || t == taskID
	}
	s.mu.Unlock()
	if !ok || waiting {
		return
	}
	var latest *Record
	err := s.t.store.Update(taskID, s.owner, func(r *Record) error {
		if r.Status != StatusInputRequired {
			return errUnchanged
		}
		r.Status, r.StatusMessage = StatusWorking, "The call is running."
		latest = r
		return nil
	})
	switch {
	case err == nil:
		s.t.observe(StatusWorking)
		s.notifyStatus(latest)
		s.t.changed(taskID)
	case !errors.Is(err, errUnchanged) && !errors.Is(err, ErrNotFound):
		s.t.log.Error("tasks: cannot mark a task working again", "task", taskID, "err", err)
	}
}

// selects reports whether calls to tool become tasks, and whether they must.
func (t *Tasks) selects(tool string) (selected, required bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	required = slices.Contains(t.required, tool) || t.declared[tool] == "required"
	selected = required || (len(t.tools) == 0 && !t.declMode) || slices.Contains(t.tools, tool) || t.declared[tool] != ""
	return selected && !t.closed, required
}

// create makes a task of a tools/call with params.task: the call goes to the
// back under a new id, without params.task, and the client gets the
// CreateTaskResult.
func (s *legacySession) create(ctx context.Context, req *jsonrpc.Request, task json.RawMessage) error {
	ttl := s.t.ttl
	var tp struct {
		TTL *int64 `json:"ttl"`
	}
	if json.Unmarshal(task, &tp) == nil && tp.TTL != nil && *tp.TTL > 0 && time.Duration(*tp.TTL)*time.Millisecond < ttl {
		ttl = time.Duration(*tp.TTL) * time.Millisecond
	}
	params, err := object(req.Params)
	if err != nil {
		return s.inject(ctx, errorResponse(req.ID, jsonrpc.CodeInvalidParams, "tools/call: malformed params: "+err.Error(), nil))
	}
	delete(params, "task")
	backParams := mustMarshal(params)
	now := s.t.store.now().UTC()
	rec := &Record{
		ID: s.t.prefix + NewID(), Owner: s.owner, Scope: s.t.scope, Legacy: true,
		Status: StatusWorking, StatusMessage: "The call is running.",
		CreatedAt: now, LastUpdatedAt: now, TTLMs: ttl.Milliseconds(), PollIntervalMs: s.t.poll.Milliseconds(),
		Method: req.Method, Params: backParams, BackID: newBackID(),
	}
	backReq, err := backRequest(rec)
	if err != nil {
		return s.inject(ctx, errorResponse(req.ID, jsonrpc.CodeInvalidParams, err.Error(), nil))
	}
	backReq.Params = backParams
	if err := s.t.store.Create(rec); err != nil {
		return s.inject(ctx, s.t.createFailed(req, err))
	}
	s.mu.Lock()
	s.pending[backReq.ID] = rec.ID
	s.mu.Unlock()
	if err := s.back.Write(ctx, backReq); err != nil {
		s.mu.Lock()
		delete(s.pending, backReq.ID)
		s.mu.Unlock()
		_ = s.t.store.Delete(rec.ID, rec.Owner)
		return err
	}
	s.t.observe(StatusWorking)
	s.t.log.Debug("tasks: created a 2025-11-25 task", "task", rec.ID)
	go s.expire(rec.ID, backReq.ID, rec.ExpiresAt())
	return s.inject(ctx, resultResponse(req.ID, mustMarshal(map[string]any{"task": toLegacyTask(rec)})))
}

// expire cancels a task's call still running when its TTL passes.
func (s *legacySession) expire(taskID string, backID jsonrpc.ID, at time.Time) {
	timer := time.NewTimer(time.Until(at))
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-s.done:
		return
	}
	s.mu.Lock()
	_, running := s.pending[backID]
	delete(s.pending, backID)
	s.mu.Unlock()
	if running {
		s.cancelBack(backID, "the task's TTL passed")
	}
}

// cancelBack tells the back that the task call backID is cancelled.
func (s *legacySession) cancelBack(backID jsonrpc.ID, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	params := mustMarshal(map[string]any{"requestId": backID.Raw(), "reason": reason})
	if err := s.back.Write(ctx, &jsonrpc.Request{Method: "notifications/cancelled", Params: params}); err != nil {
		s.t.log.Warn("tasks: cannot tell the MCP server a task call is cancelled", "err", err)
	}
}

// answered stores the back's answer to a task call in its task, and
// reports whether resp was one.
func (s *legacySession) answered(resp *jsonrpc.Response) bool {
	s.mu.Lock()
	id, ok := s.pending[resp.ID]
	delete(s.pending, resp.ID)
	s.mu.Unlock()
	if !ok {
		return false
	}
	s.finishTask(id, func(r *Record) {
		switch {
		case resp.Error != nil:
			var msg string
			r.Error, msg = wireError(resp.Error)
			r.Status, r.StatusMessage = StatusFailed, "The MCP server answered with an error: "+msg
		default:
			var res struct {
				IsError bool `json:"isError"`
			}
			_ = json.Unmarshal(resp.Result, &res)
			r.Result = resp.Result
			if res.IsError {
				r.Status, r.StatusMessage = StatusFailed, "The tool reported an error."
			} else {
				r.Status, r.StatusMessage = StatusCompleted, "The call completed."
			}
		}
	})
	return true
}

// finishTask applies set to the task id unless it is already terminal.
func (s *legacySession) finishTask(id string, set func(r *Record)) {
	var latest *Record
	s.mu.Lock()
	for in, t := range s.inputs {
		if t == id {
			delete(s.inputs, in)
		}
	}
	s.mu.Unlock()
	var status Status
	err := s.t.store.Update(id, s.owner, func(r *Record) error {
		if r.Status.Terminal() {
			return errUnchanged // cancelled meanwhile: never report a later result
		}
		set(r)
		status = r.Status
		latest = r
		return nil
	})
	if errors.Is(err, ErrStoreFull) {
		err = s.t.store.Update(id, s.owner, func(r *Record) error {
			if r.Status.Terminal() {
				return errUnchanged
			}
			r.Status, r.StatusMessage, r.Result = StatusFailed, "The result does not fit in the task store.", nil
			r.Error = internalError("%s", r.StatusMessage)
			status = r.Status
			latest = r
			return nil
		})
	}
	switch {
	case err == nil:
		s.t.observe(status)
		s.notifyStatus(latest)
		s.t.changed(id)
	case !errors.Is(err, errUnchanged) && !errors.Is(err, ErrNotFound):
		s.t.log.Error("tasks: cannot store the outcome of a task", "task", id, "err", err)
	}
}

// patched adds the proxy's tasks to the results of initialize (the tasks
// capability) and tools/list (execution.taskSupport of the selected tools).
func (s *legacySession) patched(resp *jsonrpc.Response) *jsonrpc.Response {
	s.mu.Lock()
	method, ok := s.patch[resp.ID]
	delete(s.patch, resp.ID)
	s.mu.Unlock()
	if !ok || resp.Error != nil {
		return resp
	}
	res, err := object(resp.Result)
	if err != nil {
		return resp
	}
	switch method {
	case "initialize":
		caps, err := object(res["capabilities"])
		if err != nil {
			return resp
		}
		if tc, ok := caps["tasks"]; ok && string(tc) != "null" {
			s.mu.Lock()
			s.native = true
			s.mu.Unlock()
			return resp
		}
		caps["tasks"] = json.RawMessage(`{"list":{},"cancel":{},"requests":{"tools":{"call":{}}}}`)
		res["capabilities"] = mustMarshal(caps)
	case "tools/list":
		s.t.learnTools(resp.Result)
		s.mu.Lock()
		skip := s.native || !s.clientTasks
		s.mu.Unlock()
		if skip {
			return resp
		}
		var tools []map[string]json.RawMessage
		if json.Unmarshal(res["tools"], &tools) != nil {
			return resp
		}
		for _, tool := range tools {
			var name string
			_ = json.Unmarshal(tool["name"], &name)
			selected, required := s.t.selects(name)
			if !selected {
				continue
			}
			exec, err := object(tool["execution"])
			if err != nil {
				continue
			}
			support := "optional"
			if required {
				support = "required"
			}
			exec["taskSupport"] = mustMarshal(support)
			tool["execution"] = mustMarshal(exec)
		}
		res["tools"] = mustMarshal(tools)
	}
	return &jsonrpc.Response{ID: resp.ID, Result: mustMarshal(res), Extra: resp.Extra}
}

// serve answers tasks/get, tasks/result, tasks/list and tasks/cancel.
func (s *legacySession) serve(ctx context.Context, req *jsonrpc.Request) error {
	var p struct {
		TaskID *string `json:"taskId"`
		Cursor string  `json:"cursor"`
	}
	if err := json.Unmarshal(req.Params, &p); err != nil && len(req.Params) > 0 {
		s.t.log.Warn("tasks: malformed request", "method", req.Method, "err", err)
		return s.inject(ctx, errorResponse(req.ID, jsonrpc.CodeInvalidParams, fmt.Sprintf("%s: malformed params: %v", req.Method, err), nil))
	}
	if req.Method == MethodList {
		recs, next, err := s.t.store.List(s.owner, p.Cursor, legacyListPage)
		if err != nil {
			return s.inject(ctx, errorResponse(req.ID, jsonrpc.CodeInternalError, "tasks/list failed: "+err.Error(), nil))
		}
		list := make([]legacyTask, 0, len(recs))
		for _, r := range recs {
			list = append(list, toLegacyTask(r))
		}
		out := map[string]any{"tasks": list}
		if next != "" {
			out["nextCursor"] = next
		}
		return s.inject(ctx, resultResponse(req.ID, mustMarshal(out)))
	}
	if p.TaskID == nil {
		s.t.log.Warn("tasks: request without taskId", "method", req.Method)
		return s.inject(ctx, errorResponse(req.ID, jsonrpc.CodeInvalidParams, req.Method+": params.taskId is missing", nil))
	}
	id := *p.TaskID
	rec, err := s.t.store.Get(id, s.owner)
	if err != nil {
		return s.inject(ctx, s.notFound(req, err))
	}
	switch req.Method {
	case MethodGet:
		return s.inject(ctx, resultResponse(req.ID, mustMarshal(toLegacyTask(rec))))
	case MethodCancel:
		return s.inject(ctx, s.cancel(req, rec))
	}
	// tasks/result waits for the task to end, without holding up the
	// session's other messages.
	go func() {
		resp := s.result(req, id)
		if resp != nil {
			_ = s.inject(context.Background(), resp)
		}
	}()
	return nil
}

func (s *legacySession) notFound(req *jsonrpc.Request, err error) *jsonrpc.Response {
	if errors.Is(err, ErrNotFound) {
		msg := "Failed to retrieve task: task not found"
		if err.Error() != ErrNotFound.Error() {
			msg = "Failed to retrieve task: " + err.Error()
		}
		return errorResponse(req.ID, jsonrpc.CodeInvalidParams, msg, nil)
	}
	s.t.log.Error("tasks: serving a task request failed", "method", req.Method, "err", err)
	return errorResponse(req.ID, jsonrpc.CodeInternalError, fmt.Sprintf("%s failed: %v", req.Method, err), nil)
}

// cancel moves the task to cancelled and cancels its call at the back; a
// terminal task answers -32602.
func (s *legacySession) cancel(req *jsonrpc.Request, rec *Record) *jsonrpc.Response {
	var latest *Record
	err := s.t.store.Update(rec.ID, s.owner, func(r *Record) error {
		if r.Status.Terminal() {
			return fmt.Errorf("%w: task %s is already %s", errTerminal, r.ID, r.Status)
		}
		r.Status, r.StatusMessage = StatusCancelled, "The task was cancelled at the client's request."
		latest = r
		return nil
	})
	if errors.Is(err, errTerminal) {
		return errorResponse(req.ID, jsonrpc.CodeInvalidParams, "Cannot cancel task: "+err.Error(), nil)
	}
	if err != nil {
		return s.notFound(req, err)
	}
	s.t.observe(StatusCancelled)
	s.notifyStatus(latest)
	s.t.changed(rec.ID)
	s.mu.Lock()
	var backID jsonrpc.ID
	found := false
	for b, id := range s.pending {
		if id == rec.ID {
			backID, found = b, true
			delete(s.pending, b)
		}
	}
	s.mu.Unlock()
	if found {
		s.cancelBack(backID, "task cancelled by the client")
	}
	return resultResponse(req.ID, mustMarshal(toLegacyTask(latest)))
}

var errTerminal = errors.New("task is terminal")

// result waits until the task id is terminal and returns what the original
// call would have returned, tagged with the task; nil when the session ends
// first.
func (s *legacySession) result(req *jsonrpc.Request, id string) *jsonrpc.Response {
	for {
		ch, release := s.t.watch(id)
		rec, err := s.t.store.Get(id, s.owner)
		if err != nil {
			release()
			return s.notFound(req, err)
		}
		if rec.Status.Terminal() {
			release()
			return legacyResult(req.ID, rec)
		}
		timer := time.NewTimer(time.Until(rec.ExpiresAt()))
		select {
		case <-ch:
		case <-timer.C:
		case <-s.done:
		}
		timer.Stop()
		release()
		select {
		case <-s.done:
			return nil
		default:
		}
	}
}

// legacyResult is the answer of tasks/result for a terminal task.
func legacyResult(id jsonrpc.ID, rec *Record) *jsonrpc.Response {
	meta := map[string]any{relatedTaskKey: map[string]string{"taskId": rec.ID}}
	switch {
	case rec.Result != nil:
		res, err := object(rec.Result)
		if err != nil {
			return resultResponse(id, rec.Result)
		}
		m, err := object(res["_meta"])
		if err != nil {
			m = map[string]json.RawMessage{}
		}
		m[relatedTaskKey] = mustMarshal(meta[relatedTaskKey])
		res["_meta"] = mustMarshal(m)
		return resultResponse(id, mustMarshal(res))
	case rec.Error != nil:
		var e jsonrpc.Error
		if json.Unmarshal(rec.Error, &e) == nil {
			return &jsonrpc.Response{ID: id, Error: &e}
		}
	}
	return errorResponse(id, jsonrpc.CodeInternalError, "task "+rec.ID+" ended without a result: "+rec.StatusMessage, meta)
}

// A watcher is the channel that [Tasks.changed] closes for a task, and how
// many are waiting on it.
type watcher struct {
	ch chan struct{}
	n  int
}

// watch returns a channel closed at the next change of task id reported by
// [Tasks.changed], and the function to call once done waiting.
func (t *Tasks) watch(id string) (<-chan struct{}, func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.watchers[id]
	if !ok {
		w = &watcher{ch: make(chan struct{})}
		t.watchers[id] = w
	}
	w.n++
	return w.ch, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if w.n--; w.n == 0 && t.watchers[id] == w {
			delete(t.watchers, id)
		}
	}
}

// changed wakes the watchers of task id.
func (t *Tasks) changed(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if w, ok := t.watchers[id]; ok {
		close(w.ch)
		delete(t.watchers, id)
	}
}
