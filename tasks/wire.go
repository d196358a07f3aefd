// SPDX-License-Identifier: Apache-2.0

package tasks

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// ExtensionID names the Tasks extension in capabilities.extensions.
const ExtensionID = "io.modelcontextprotocol/tasks"

// Methods of the Tasks extension (2026-07-28), and the two 2025-11-25
// methods it removed.
const (
	MethodGet    = "tasks/get"
	MethodUpdate = "tasks/update"
	MethodCancel = "tasks/cancel"
	MethodResult = "tasks/result"
	MethodList   = "tasks/list"
)

// timeFormat is ISO 8601 in UTC with milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z"

// wireTask is a Task (CreateTaskResult, or the DetailedTask of tasks/get)
// as it goes on the wire; field order follows the extension's examples.
type wireTask struct {
	ResultType     string                     `json:"resultType"`
	TaskID         string                     `json:"taskId"`
	Status         Status                     `json:"status"`
	StatusMessage  string                     `json:"statusMessage,omitempty"`
	CreatedAt      string                     `json:"createdAt"`
	LastUpdatedAt  string                     `json:"lastUpdatedAt"`
	TTLMs          int64                      `json:"ttlMs"`
	PollIntervalMs int64                      `json:"pollIntervalMs,omitempty"`
	InputRequests  map[string]json.RawMessage `json:"inputRequests,omitempty"`
	Result         json.RawMessage            `json:"result,omitempty"`
	Error          json.RawMessage            `json:"error,omitempty"`
}

// encodeTask renders r. created selects the CreateTaskResult form
// (resultType "task", no payload); otherwise it is the DetailedTask of
// tasks/get (resultType "complete", with the payload of its status).
func encodeTask(r *Record, created bool) json.RawMessage {
	w := wireTask{
		ResultType:     "complete",
		TaskID:         r.ID,
		Status:         r.Status,
		StatusMessage:  r.StatusMessage,
		CreatedAt:      r.CreatedAt.UTC().Format(timeFormat),
		LastUpdatedAt:  r.LastUpdatedAt.UTC().Format(timeFormat),
		TTLMs:          r.TTLMs,
		PollIntervalMs: r.PollIntervalMs,
	}
	if created {
		w.ResultType = "task"
	} else {
		switch r.Status {
		case StatusInputRequired:
			w.InputRequests = r.InputRequests
			if w.InputRequests == nil {
				w.InputRequests = map[string]json.RawMessage{}
			}
		case StatusCompleted:
			w.Result = r.Result
		case StatusFailed:
			w.Error = r.Error
		}
	}
	data, err := json.Marshal(w)
	if err != nil {
		// Only the raw messages can fail, and they were valid JSON when stored.
		panic(fmt.Sprintf("tasks: encode task %s: %v", r.ID, err))
	}
	return data
}

func errorResponse(id jsonrpc.ID, code int64, msg string, data any) *jsonrpc.Response {
	e := &jsonrpc.Error{Code: code, Message: msg}
	if data != nil {
		e.Data, _ = json.Marshal(data)
	}
	return &jsonrpc.Response{ID: id, Error: e}
}

func resultResponse(id jsonrpc.ID, result json.RawMessage) *jsonrpc.Response {
	return &jsonrpc.Response{ID: id, Result: result}
}

var ackResult = json.RawMessage(`{"resultType":"complete"}`)

// missingCapability answers a tasks/* request that did not declare the
// extension.
func missingCapability(id jsonrpc.ID, method string) *jsonrpc.Response {
	return errorResponse(id, rpcmsg.CodeMissingClientCapability,
		fmt.Sprintf("%s needs the %s extension in _meta[%q].extensions", method, ExtensionID, rpcmsg.MetaClientCapabilities),
		map[string]any{"requiredCapabilities": map[string]any{"extensions": map[string]any{ExtensionID: map[string]any{}}}})
}

// wireError turns the error of a back's response into the JSON-RPC error
// object a failed task carries.
func wireError(err error) (json.RawMessage, string) {
	var we *jsonrpc.Error
	if !errors.As(err, &we) {
		we = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: err.Error()}
	}
	data, _ := json.Marshal(we)
	return data, we.Message
}

func internalError(format string, args ...any) json.RawMessage {
	data, _ := json.Marshal(&jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf(format, args...)})
	return data
}

// declaresExtension reports whether params._meta's clientCapabilities
// declare the Tasks extension.
func declaresExtension(params json.RawMessage) bool {
	var p struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	if json.Unmarshal(params, &p) != nil {
		return false
	}
	var caps struct {
		Extensions map[string]json.RawMessage `json:"extensions"`
	}
	if json.Unmarshal(p.Meta[rpcmsg.MetaClientCapabilities], &caps) != nil {
		return false
	}
	v, ok := caps.Extensions[ExtensionID]
	return ok && string(v) != "null"
}

// asksTaskNotifications reports whether a subscriptions/listen request's
// filter names task ids.
func asksTaskNotifications(params json.RawMessage) bool {
	var p struct {
		Notifications struct {
			TaskIDs json.RawMessage `json:"taskIds"`
		} `json:"notifications"`
	}
	return json.Unmarshal(params, &p) == nil && len(p.Notifications.TaskIDs) > 0 && string(p.Notifications.TaskIDs) != "null"
}

// object decodes raw as a JSON object, or returns an empty map when raw
// is empty or null.
func object(raw json.RawMessage) (map[string]json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if len(raw) == 0 || string(raw) == "null" {
		return m, nil
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]json.RawMessage{}
	}
	return m, nil
}

func mustMarshal(v any) json.RawMessage {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("tasks: encode: %v", err))
	}
	return data
}

// backParams builds the params of the request sent to the back for r's
// current round: the client's params without the Tasks extension in the
// client capabilities (the proxy, not the back, provides tasks) and without
// the legacy params.task; from the second round on, with the gathered
// inputResponses and the back's requestState of the previous round.
func backParams(r *Record) (json.RawMessage, error) {
	p, err := object(r.Params)
	if err != nil {
		return nil, fmt.Errorf("tasks: params of task %s are not an object: %w", r.ID, err)
	}
	if raw, ok := p["_meta"]; ok {
		meta, err := object(raw)
		if err != nil {
			return nil, fmt.Errorf("tasks: _meta of task %s: %w", r.ID, err)
		}
		if rawCaps, ok := meta[rpcmsg.MetaClientCapabilities]; ok {
			caps, err := object(rawCaps)
			if err != nil {
				return nil, fmt.Errorf("tasks: client capabilities of task %s: %w", r.ID, err)
			}
			if rawExt, ok := caps["extensions"]; ok {
				ext, err := object(rawExt)
				if err != nil {
					return nil, fmt.Errorf("tasks: extensions of task %s: %w", r.ID, err)
				}
				delete(ext, ExtensionID)
				if len(ext) == 0 {
					delete(caps, "extensions")
				} else {
					caps["extensions"] = mustMarshal(ext)
				}
			}
			meta[rpcmsg.MetaClientCapabilities] = mustMarshal(caps)
		}
		p["_meta"] = mustMarshal(meta)
	}
	delete(p, "task")
	if r.Round > 0 {
		delete(p, "inputResponses")
		delete(p, "requestState")
		if len(r.Answers) > 0 {
			p["inputResponses"] = mustMarshal(r.Answers)
		}
		if len(r.RequestState) > 0 {
			p["requestState"] = r.RequestState
		}
	}
	return json.Marshal(p)
}

// inputRequired is the part of a back's InputRequiredResult the engine uses.
type inputRequired struct {
	InputRequests map[string]json.RawMessage `json:"inputRequests"`
	RequestState  json.RawMessage            `json:"requestState"`
}

// setInputRequests moves r to input_required with the back's requests,
// renaming a key that was already issued in the task's lifetime (the
// extension forbids reusing one) and remembering the back's key.
func setInputRequests(r *Record, in *inputRequired) {
	used := make(map[string]bool, len(r.UsedKeys))
	for _, k := range r.UsedKeys {
		used[k] = true
	}
	keys := make([]string, 0, len(in.InputRequests))
	for k := range in.InputRequests {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	r.InputRequests = make(map[string]json.RawMessage, len(keys))
	r.Keys = make(map[string]string, len(keys))
	for _, k := range keys {
		ck := k
		for i := r.Round; used[ck]; i++ {
			ck = fmt.Sprintf("%s.r%d", k, i)
		}
		used[ck] = true
		r.UsedKeys = append(r.UsedKeys, ck)
		r.InputRequests[ck] = in.InputRequests[k]
		r.Keys[ck] = k
	}
	r.Answers = nil
	r.RequestState = in.RequestState
	r.Status = StatusInputRequired
	r.StatusMessage = fmt.Sprintf("waiting for %d input response(s); answer them with tasks/update", len(keys))
}

// resultType returns result.resultType, "" when absent.
func resultType(result json.RawMessage) string {
	var r struct {
		ResultType string `json:"resultType"`
	}
	_ = json.Unmarshal(result, &r)
	return r.ResultType
}

func formatTTL(ms int64) string { return (time.Duration(ms) * time.Millisecond).String() }
