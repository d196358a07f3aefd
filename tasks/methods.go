// SPDX-License-Identifier: Apache-2.0

package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// serveTaskMethod answers the tasks/* methods from the store.
func (t *Tasks) serveTaskMethod(ctx context.Context, req *jsonrpc.Request) *jsonrpc.Response {
	if req.Method == MethodResult || req.Method == MethodList {
		return errorResponse(req.ID, jsonrpc.CodeMethodNotFound,
			fmt.Sprintf("method %q does not exist in protocol %s: the Tasks extension inlines results in tasks/get and has no list", req.Method, rpcmsg.ModernVersion), nil)
	}
	if !declaresExtension(req.Params) {
		return missingCapability(req.ID, req.Method)
	}
	var p struct {
		TaskID         *string                    `json:"taskId"`
		InputResponses map[string]json.RawMessage `json:"inputResponses"`
	}
	if err := json.Unmarshal(req.Params, &p); err != nil {
		t.log.Warn("tasks: malformed request", "method", req.Method, "err", err)
		return errorResponse(req.ID, jsonrpc.CodeInvalidParams, fmt.Sprintf("%s: malformed params: %v", req.Method, err), nil)
	}
	if p.TaskID == nil {
		t.log.Warn("tasks: request without taskId", "method", req.Method)
		return errorResponse(req.ID, jsonrpc.CodeInvalidParams, req.Method+": params.taskId is missing", nil)
	}
	id, owner := *p.TaskID, t.ownerOf(ctx)
	var resp *jsonrpc.Response
	var err error
	switch req.Method {
	case MethodGet:
		var rec *Record
		if rec, err = t.store.Get(id, owner); err == nil {
			resp = resultResponse(req.ID, encodeTask(rec, false))
		}
	case MethodUpdate:
		if err = t.update(id, owner, p.InputResponses); err == nil {
			resp = resultResponse(req.ID, ackResult)
		}
	case MethodCancel:
		if err = t.cancel(id, owner); err == nil {
			resp = resultResponse(req.ID, ackResult)
		}
	}
	if err == nil {
		return resp
	}
	if errors.Is(err, ErrNotFound) {
		t.log.Debug("tasks: no such task for this owner", "method", req.Method, "err", err)
		// The same answer for an unknown id and another owner's task.
		msg := "Failed to retrieve task: task not found"
		if err.Error() != ErrNotFound.Error() {
			msg = "Failed to retrieve task: " + err.Error()
		}
		return errorResponse(req.ID, jsonrpc.CodeInvalidParams, msg, nil)
	}
	t.log.Error("tasks: serving a task request failed", "method", req.Method, "err", err)
	return errorResponse(req.ID, jsonrpc.CodeInternalError, fmt.Sprintf("%s failed: %v", req.Method, err), nil)
}

// update applies tasks/update: responses to outstanding keys are gathered;
// once none is outstanding the call goes back to the back as a new request
// carrying them (MRTR). Unknown or already answered keys are ignored.
func (t *Tasks) update(id, owner string, responses map[string]json.RawMessage) error {
	var resume *Record
	err := t.store.Update(id, owner, func(rec *Record) error {
		if rec.Status != StatusInputRequired {
			return errUnchanged
		}
		changed := false
		for k, v := range responses {
			backKey, ok := rec.Keys[k]
			if !ok {
				continue
			}
			if rec.Answers == nil {
				rec.Answers = map[string]json.RawMessage{}
			}
			rec.Answers[backKey] = v
			delete(rec.Keys, k)
			delete(rec.InputRequests, k)
			changed = true
		}
		if !changed {
			return errUnchanged
		}
		if len(rec.Keys) > 0 {
			rec.StatusMessage = fmt.Sprintf("waiting for %d input response(s); answer them with tasks/update", len(rec.Keys))
			return nil
		}
		rec.Status, rec.StatusMessage = StatusWorking, "The call is running."
		rec.InputRequests, rec.Keys = nil, nil
		rec.Round++
		rec.BackID = newBackID()
		rec.Correlation = nil
		resume = rec
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	if err == nil && resume != nil {
		t.observe(StatusWorking)
		t.changed(id)
		t.startRound(resume)
	}
	return err
}

// cancel applies tasks/cancel: a task not yet terminal becomes cancelled at
// once, and its back call, if running, is cancelled. Cancelling a terminal
// task is acknowledged and changes nothing.
func (t *Tasks) cancel(id, owner string) error {
	err := t.store.Update(id, owner, func(rec *Record) error {
		if rec.Status.Terminal() {
			return errUnchanged
		}
		rec.Status, rec.StatusMessage = StatusCancelled, "The task was cancelled at the client's request."
		rec.InputRequests, rec.Keys, rec.Answers, rec.RequestState = nil, nil, nil, nil
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	if err != nil {
		return err
	}
	t.observe(StatusCancelled)
	t.changed(id)
	t.mu.Lock()
	r := t.runs[id]
	t.mu.Unlock()
	if r != nil {
		r.cancel(errCancelled)
	}
	return nil
}
