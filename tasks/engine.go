// SPDX-License-Identifier: Apache-2.0

package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Defaults of [Options].
const (
	DefaultTTL          = time.Hour
	DefaultPollInterval = time.Second
	// MaxRounds bounds the input rounds (and load-shedding retries) of one
	// task; a task that needs more fails.
	MaxRounds = 64
	// maxDeclaredTools bounds what the engine remembers from tools/list.
	maxDeclaredTools = 10_000
)

// ErrClosing is the cause (see context.Cause) of the cancellation a back
// sees when [Tasks.Close] stops the calls still running. A back that can
// re-attach after a restart ([Resumer]) should not tell its server the call
// is cancelled when the cause is ErrClosing: the call belongs to a task that
// the next process resumes.
var ErrClosing = errors.New("tasks: proxy shutting down")

// errCancelled is the cause of the cancellation a back sees after
// tasks/cancel.
var errCancelled = errors.New("tasks: task cancelled by the client")

// errUnchanged makes a Store.Update callback store nothing.
var errUnchanged = errors.New("unchanged")

// Options configure [Wrap]. Store is required; the zero value of every other
// field selects its default.
type Options struct {
	// Store keeps the tasks. The caller opens and closes it. Several Tasks
	// may share a Store when each has its own Scope.
	Store *Store
	// Tools names the tools whose calls become tasks. Empty means every tool,
	// unless Declared is set.
	Tools []string
	// Declared also selects the tools whose tools/list entry (seen passing
	// through the engine) declares execution.taskSupport "optional" or
	// "required" (the 2025-11-25 tool-level declaration).
	Declared bool
	// Required names tools that run only as tasks: a call to one of them
	// from a client that did not declare the extension is answered -32021
	// (missing client capability) instead of being served synchronously.
	// Required tools are selected. In Declared mode, tools declaring
	// execution.taskSupport "required" are required too.
	Required []string
	// Grace is how long a call may run before the client gets a task
	// instead of its result. Zero answers with the task at once. A call that
	// ends within the grace period answers normally and leaves no task.
	Grace time.Duration
	// TTL is how long a task is kept after its creation (default
	// [DefaultTTL]); the back call is cancelled when it passes.
	TTL time.Duration
	// PollInterval is the pollIntervalMs suggested to clients (default
	// [DefaultPollInterval]).
	PollInterval time.Duration
	// InstanceID, when set, starts every task id, followed by "-", so that a
	// load balancer in front of several proxy instances can route tasks/*
	// requests by the prefix of their Mcp-Name header.
	InstanceID string
	// Scope names the back this engine serves, when several engines (one
	// per named server of a proxy) share one Store: a task is visible only
	// to the engine of its scope, and each engine resumes only its own
	// tasks after a restart. Engines sharing a Store need distinct scopes.
	Scope string
	// Observe, if set, is called each time a task enters a status: on
	// creation (StatusWorking), when it waits for input, when the input
	// is answered (StatusWorking again) and when it ends. It must not block.
	Observe func(Status)
	// Logger receives what the engine logs; nil means slog.Default().
	Logger *slog.Logger
}

// A Tasks is a [bridge.RoundTripper] that provides the Tasks extension
// (io.modelcontextprotocol/tasks, 2026-07-28) in front of a back that does
// not: it turns selected tools/call requests into tasks kept in a [Store]
// and answers tasks/get, tasks/update and tasks/cancel itself. Everything
// else, and everything when the back declares the extension itself in its
// server/discover result, goes to next unchanged. See the package
// documentation for the details.
type Tasks struct {
	next     bridge.RoundTripper
	store    *Store
	tools    []string
	declMode bool
	grace    time.Duration
	ttl      time.Duration
	poll     time.Duration
	scope    string
	observe  func(Status)
	log      *slog.Logger

	base       context.Context
	cancelBase context.CancelCauseFunc
	wg         sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	runs     map[string]*run
	declared map[string]string   // tool name -> declared execution.taskSupport (optional, required)
	watchers map[string]*watcher // task id -> what tasks/result (2025-11-25) waits on
	required []string
	native   nativeState
	prefix   string
}

type nativeState int

const (
	nativeUnknown nativeState = iota
	nativeYes
	nativeNo
)

// A run is one back call in flight for a task.
type run struct {
	id, owner string
	round     int
	cancel    context.CancelCauseFunc

	mu          sync.Mutex
	published   bool         // the task is in the store; outcomes go there
	first       chan outcome // the outcome, while not published (cap 1)
	correlation []byte
}

type outcome struct {
	resp *jsonrpc.Response
	err  error
}

// Wrap returns a Tasks serving in front of next, and resumes the tasks that
// the store holds unfinished from an earlier process: a task that was
// waiting for input keeps waiting; one whose back call was running is
// re-attached through next's [Resumer] when next implements it and the back
// reported a correlation for the call, and is marked failed otherwise.
// Wrap panics when opts.Store is nil. Call [Tasks.Close] before closing the
// store. next may be nil for an engine that serves sessions only (see
// [Tasks.SessionDialer]); its RoundTrip then answers tasks/* from the store
// and every other request with -32022 (unsupported protocol version).
func Wrap(next bridge.RoundTripper, opts Options) *Tasks {
	if opts.Store == nil {
		panic("tasks.Wrap: Options.Store is nil")
	}
	t := &Tasks{
		next:     next,
		store:    opts.Store,
		tools:    slices.Clone(opts.Tools),
		declMode: opts.Declared,
		grace:    opts.Grace,
		ttl:      opts.TTL,
		poll:     opts.PollInterval,
		scope:    opts.Scope,
		observe:  opts.Observe,
		log:      opts.Logger,
		runs:     map[string]*run{},
		declared: map[string]string{},
		watchers: map[string]*watcher{},
		required: slices.Clone(opts.Required),
	}
	if t.ttl <= 0 {
		t.ttl = DefaultTTL
	}
	if t.poll <= 0 {
		t.poll = DefaultPollInterval
	}
	if t.log == nil {
		t.log = slog.Default()
	}
	if t.observe == nil {
		t.observe = func(Status) {}
	}
	if opts.InstanceID != "" {
		t.prefix = opts.InstanceID + "-"
	}
	t.base, t.cancelBase = context.WithCancelCause(context.Background())
	t.resumeAll()
	return t
}

// Close cancels the back calls still running, with cause [ErrClosing], and
// waits for them to return. Their tasks stay as they are in the store, for
// the next process to resume. After Close, calls pass through to next
// without creating tasks. Close does not close the store.
func (t *Tasks) Close() error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.cancelBase(ErrClosing)
	t.wg.Wait()
	return nil
}

// RoundTrip implements [bridge.RoundTripper].
func (t *Tasks) RoundTrip(ctx context.Context, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	if t.next == nil {
		switch req.Method {
		case MethodGet, MethodUpdate, MethodCancel, MethodResult, MethodList:
			return t.serveTaskMethod(ctx, req), nil
		}
		return errorResponse(req.ID, rpcmsg.CodeUnsupportedProtocolVersion, "this server's back speaks the session-based protocol only (initialize first)", nil), nil
	}
	if !rpcmsg.IsModern(req.Params) {
		return t.next.RoundTrip(ctx, req, notify)
	}
	switch req.Method {
	case "server/discover":
		return t.discover(ctx, req, notify)
	case "tools/list":
		resp, err := t.next.RoundTrip(ctx, req, notify)
		if err == nil && resp != nil && resp.Error == nil {
			t.learnTools(resp.Result)
		}
		return resp, err
	case "tools/call":
		switch create, refuse := t.decide(ctx, req); {
		case create:
			return t.call(ctx, req, notify)
		case refuse:
			t.log.Info("tasks: refused a call to a tool that runs only as a task: the client did not declare the extension")
			return missingCapability(req.ID, "this tool runs only as a task; tools/call"), nil
		}
	case "subscriptions/listen":
		// notifications/tasks need the extension; without it the request
		// must fail. With it, the proxy serves the taskIds part (see
		// listen.go) and the back the rest.
		if asksTaskNotifications(req.Params) && t.nativeState() != nativeYes {
			if !declaresExtension(req.Params) {
				return missingCapability(req.ID, "subscriptions/listen with notifications.taskIds"), nil
			}
			return t.listen(ctx, req, notify)
		}
	case MethodGet, MethodUpdate, MethodCancel, MethodResult, MethodList:
		if t.nativeState() != nativeYes {
			return t.serveTaskMethod(ctx, req), nil
		}
	}
	return t.next.RoundTrip(ctx, req, notify)
}

func (t *Tasks) nativeState() nativeState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.native
}

// discover passes server/discover through and, when the back does not
// provide the extension itself, adds it to the advertised capabilities.
func (t *Tasks) discover(ctx context.Context, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	resp, err := t.next.RoundTrip(ctx, req, notify)
	if err != nil || resp == nil || resp.Error != nil {
		return resp, err
	}
	native, patched, perr := advertise(resp.Result)
	if perr != nil {
		t.log.Warn("tasks: server/discover result not understood; passing it through", "err", perr)
		return resp, nil
	}
	t.mu.Lock()
	if native {
		t.native = nativeYes
	} else {
		t.native = nativeNo
	}
	closed := t.closed
	t.mu.Unlock()
	if native || closed {
		return resp, nil
	}
	return &jsonrpc.Response{ID: resp.ID, Result: patched, Extra: resp.Extra}, nil
}

// advertise reports whether a DiscoverResult declares the extension, and
// returns it with the extension added.
func advertise(result json.RawMessage) (native bool, patched json.RawMessage, err error) {
	res, err := object(result)
	if err != nil {
		return false, nil, err
	}
	caps, err := object(res["capabilities"])
	if err != nil {
		return false, nil, fmt.Errorf("capabilities: %w", err)
	}
	ext, err := object(caps["extensions"])
	if err != nil {
		return false, nil, fmt.Errorf("capabilities.extensions: %w", err)
	}
	if _, ok := ext[ExtensionID]; ok {
		return true, result, nil
	}
	ext[ExtensionID] = json.RawMessage(`{}`)
	caps["extensions"] = mustMarshal(ext)
	res["capabilities"] = mustMarshal(caps)
	return false, mustMarshal(res), nil
}

// learnTools remembers which tools declare execution.taskSupport.
func (t *Tasks) learnTools(result json.RawMessage) {
	if !t.declMode {
		return
	}
	var res struct {
		Tools []struct {
			Name      string `json:"name"`
			Execution struct {
				TaskSupport string `json:"taskSupport"`
			} `json:"execution"`
		} `json:"tools"`
	}
	if json.Unmarshal(result, &res) != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tool := range res.Tools {
		ts := tool.Execution.TaskSupport
		ok := ts == "optional" || ts == "required"
		if ok && len(t.declared) < maxDeclaredTools {
			t.declared[tool.Name] = ts
		} else if !ok {
			delete(t.declared, tool.Name)
		}
	}
}

// decide tells what to do with a modern tools/call: create a task when the
// client declared the extension, the tool is selected, the engine is open
// and the back does not provide tasks itself; refuse it (-32021) when the
// client did not declare the extension and the tool is required to run as a
// task; otherwise neither (pass it through).
func (t *Tasks) decide(ctx context.Context, req *jsonrpc.Request) (create, refuse bool) {
	var p struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(req.Params, &p) != nil || p.Name == "" {
		return false, false // the back answers the malformed call
	}
	t.mu.Lock()
	required := slices.Contains(t.required, p.Name) || t.declared[p.Name] == "required"
	selected := required || (len(t.tools) == 0 && !t.declMode) || slices.Contains(t.tools, p.Name) || t.declared[p.Name] != ""
	closed, native := t.closed, t.native
	t.mu.Unlock()
	declared := declaresExtension(req.Params)
	if !selected || closed || (!declared && !required) {
		return false, false
	}
	if native == nativeUnknown {
		native = t.probe(ctx, req)
	}
	if native != nativeNo {
		return false, false
	}
	return declared, !declared
}

// probe asks the back's server/discover whether it provides the extension,
// with the envelope of req. A failed probe is not remembered.
func (t *Tasks) probe(ctx context.Context, req *jsonrpc.Request) nativeState {
	var p struct {
		Meta json.RawMessage `json:"_meta"`
	}
	_ = json.Unmarshal(req.Params, &p)
	id, _ := jsonrpc.MakeID("asyncmcp-tasks-probe-" + NewID()[:8])
	params := mustMarshal(map[string]json.RawMessage{"_meta": p.Meta})
	resp, err := t.next.RoundTrip(ctx, &jsonrpc.Request{ID: id, Method: "server/discover", Params: params}, nil)
	if err != nil || resp == nil {
		t.log.Warn("tasks: probing the back's server/discover failed; serving this call without a task", "err", err)
		return nativeUnknown
	}
	state := nativeNo
	if resp.Error != nil {
		var we *jsonrpc.Error
		if errors.As(resp.Error, &we) && we.Code == bridge.CodeServerUnavailable {
			return nativeUnknown
		}
	} else if native, _, err := advertise(resp.Result); err == nil && native {
		state = nativeYes
	}
	t.mu.Lock()
	if t.native == nativeUnknown {
		t.native = state
	}
	state = t.native
	t.mu.Unlock()
	return state
}

// call creates a task for req and starts its back call.
func (t *Tasks) call(ctx context.Context, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	now := t.store.now().UTC()
	rec := &Record{
		ID:             t.prefix + NewID(),
		Owner:          t.ownerOf(ctx),
		Scope:          t.scope,
		Status:         StatusWorking,
		StatusMessage:  "The call is running.",
		CreatedAt:      now,
		LastUpdatedAt:  now,
		TTLMs:          t.ttl.Milliseconds(),
		PollIntervalMs: t.poll.Milliseconds(),
		Method:         req.Method,
		Params:         req.Params,
		BackID:         newBackID(),
	}
	backReq, err := backRequest(rec)
	if err != nil {
		return errorResponse(req.ID, jsonrpc.CodeInvalidParams, err.Error(), nil), nil
	}
	r := &run{id: rec.ID, owner: rec.Owner, first: make(chan outcome, 1)}
	if t.grace <= 0 {
		if err := t.store.Create(rec); err != nil {
			return t.createFailed(req, err), nil
		}
		r.published = true
		if !t.start(r, rec.ExpiresAt(), backReq, nil, t.next.RoundTrip) {
			_ = t.store.Delete(rec.ID, rec.Owner) // closed meanwhile
			return t.next.RoundTrip(ctx, req, notify)
		}
		t.observe(StatusWorking)
		return resultResponse(req.ID, encodeTask(rec, true)), nil
	}

	fwd := &forwarder{notify: notify}
	if !t.start(r, rec.ExpiresAt(), backReq, fwd.forward, t.next.RoundTrip) {
		return t.next.RoundTrip(ctx, req, notify)
	}
	timer := time.NewTimer(t.grace)
	defer timer.Stop()
	select {
	case o := <-r.first:
		fwd.stop()
		return direct(req, o)
	case <-ctx.Done():
		fwd.stop()
		r.cancel(context.Cause(ctx))
		return nil, ctx.Err()
	case <-timer.C:
	}
	fwd.stop()
	r.mu.Lock()
	select {
	case o := <-r.first:
		r.mu.Unlock()
		return direct(req, o)
	default:
	}
	rec.Correlation = r.correlation
	if err := t.store.Create(rec); err != nil {
		r.mu.Unlock()
		r.cancel(err)
		return t.createFailed(req, err), nil
	}
	r.published = true
	r.mu.Unlock()
	t.observe(StatusWorking)
	return resultResponse(req.ID, encodeTask(rec, true)), nil
}

func (t *Tasks) createFailed(req *jsonrpc.Request, err error) *jsonrpc.Response {
	t.log.Error("tasks: cannot create a task", "method", req.Method, "err", err)
	if errors.Is(err, ErrStoreFull) {
		return errorResponse(req.ID, jsonrpc.CodeInternalError,
			fmt.Sprintf("asyncmcp cannot take a new task: %v; retry after tasks finish and expire", err), nil)
	}
	return errorResponse(req.ID, jsonrpc.CodeInternalError, fmt.Sprintf("asyncmcp cannot create a task: %v", err), nil)
}

// direct turns the outcome of a call that ended within the grace period into
// the answer to the client's own request.
func direct(req *jsonrpc.Request, o outcome) (*jsonrpc.Response, error) {
	if o.err != nil {
		return nil, o.err
	}
	return &jsonrpc.Response{ID: req.ID, Result: o.resp.Result, Error: o.resp.Error, Extra: o.resp.Extra}, nil
}

func newBackID() json.RawMessage {
	return mustMarshal("asyncmcp-task-" + NewID())
}

func backRequest(r *Record) (*jsonrpc.Request, error) {
	params, err := backParams(r)
	if err != nil {
		return nil, err
	}
	var s string
	if err := json.Unmarshal(r.BackID, &s); err != nil {
		return nil, fmt.Errorf("tasks: back id of task %s: %w", r.ID, err)
	}
	id, _ := jsonrpc.MakeID(s)
	return &jsonrpc.Request{ID: id, Method: r.Method, Params: params}, nil
}

// A forwarder passes the back's notifications to the client while the
// client's RoundTrip is still waiting (the grace period), and drops them
// after.
type forwarder struct {
	mu      sync.Mutex
	notify  func(*jsonrpc.Request)
	stopped bool
}

func (f *forwarder) forward(n *jsonrpc.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stopped && f.notify != nil {
		f.notify(n)
	}
}

func (f *forwarder) stop() {
	f.mu.Lock()
	f.stopped = true
	f.mu.Unlock()
}

type roundTripFunc func(ctx context.Context, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error)

// start runs the back call of r in a goroutine the engine owns. It returns
// false when the engine is closed.
func (t *Tasks) start(r *run, deadline time.Time, backReq *jsonrpc.Request, notify func(*jsonrpc.Request), do roundTripFunc) bool {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return false
	}
	dctx, cancelDeadline := context.WithDeadline(t.base, deadline)
	ctx, cancel := context.WithCancelCause(dctx)
	r.cancel = cancel
	t.runs[r.id] = r // replaces the run of the previous round, which is ending
	t.wg.Add(1)
	t.mu.Unlock()
	if notify == nil {
		notify = func(*jsonrpc.Request) {} // tasks carry no progress
	}
	ctx = context.WithValue(ctx, correlatorKey{}, func(c []byte) { t.correlate(r, c) })
	go func() {
		defer t.wg.Done()
		defer cancelDeadline()
		resp, err := do(ctx, backReq, notify)
		if err == nil && resp == nil {
			err = errors.New("the back returned neither a response nor an error")
		}
		r.mu.Lock()
		if !r.published {
			r.first <- outcome{resp, err}
			r.mu.Unlock()
		} else {
			r.mu.Unlock()
			t.finish(r, resp, err, context.Cause(ctx))
		}
		// Forgotten only once the outcome is stored (or handed over), so
		// that an idle engine has nothing left to write.
		t.mu.Lock()
		if t.runs[r.id] == r {
			delete(t.runs, r.id)
		}
		t.mu.Unlock()
	}()
	return true
}

// correlate records what the back reported to find r's call again.
func (t *Tasks) correlate(r *run, c []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.correlation = slices.Clone(c)
	if !r.published {
		return
	}
	err := t.store.Update(r.id, r.owner, func(rec *Record) error {
		if rec.Status.Terminal() || rec.Round != r.round {
			return errUnchanged
		}
		rec.Correlation = r.correlation
		return nil
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		t.log.Warn("tasks: cannot record the back's correlation; the task cannot survive a restart", "task", r.id, "err", err)
	}
}

// finish stores the outcome of r's back call.
func (t *Tasks) finish(r *run, resp *jsonrpc.Response, callErr, cause error) {
	if callErr != nil && (errors.Is(cause, ErrClosing) || errors.Is(cause, errCancelled)) {
		return // resumed by the next process, or already cancelled
	}
	var again bool
	update := func(rec *Record) error {
		if rec.Status.Terminal() || rec.Round != r.round || rec.Status != StatusWorking {
			return errUnchanged // cancelled meanwhile: never report a later result
		}
		switch {
		case callErr != nil && errors.Is(callErr, context.DeadlineExceeded):
			rec.Status, rec.StatusMessage = StatusFailed, fmt.Sprintf("The task's TTL (%s) passed before the call ended.", formatTTL(rec.TTLMs))
			rec.Error = internalError("%s", rec.StatusMessage)
		case callErr != nil:
			rec.Status, rec.StatusMessage = StatusFailed, fmt.Sprintf("The call to the MCP server failed: %v", callErr)
			rec.Error = internalError("%s", rec.StatusMessage)
		case resp.Error != nil:
			var msg string
			rec.Error, msg = wireError(resp.Error)
			rec.Status, rec.StatusMessage = StatusFailed, "The MCP server answered with an error: "+msg
		default:
			switch resultType(resp.Result) {
			case "input_required":
				var in inputRequired
				if err := json.Unmarshal(resp.Result, &in); err != nil {
					rec.Status, rec.StatusMessage = StatusFailed, fmt.Sprintf("The MCP server's input_required result is malformed: %v", err)
					rec.Error = internalError("%s", rec.StatusMessage)
					break
				}
				if rec.Round+1 >= MaxRounds {
					rec.Status, rec.StatusMessage = StatusFailed, fmt.Sprintf("The MCP server asked for input more than %d times.", MaxRounds)
					rec.Error = internalError("%s", rec.StatusMessage)
					break
				}
				if len(in.InputRequests) == 0 {
					// requestState alone: load shedding, retry at once.
					rec.RequestState, rec.Answers = in.RequestState, nil
					rec.Round++
					rec.BackID = newBackID()
					rec.Correlation = nil
					again = true
					break
				}
				setInputRequests(rec, &in)
				rec.Correlation = nil
			case "task":
				rec.Status, rec.StatusMessage = StatusFailed, "The MCP server answered with a task of its own, although the proxy did not declare the tasks extension to it."
				rec.Error = internalError("%s", rec.StatusMessage)
			default:
				rec.Status, rec.StatusMessage, rec.Result = StatusCompleted, "The call completed.", resp.Result
				rec.InputRequests, rec.Keys, rec.Answers, rec.RequestState = nil, nil, nil, nil
			}
		}
		return nil
	}
	var latest *Record
	err := t.store.Update(r.id, r.owner, func(rec *Record) error {
		if err := update(rec); err != nil {
			return err
		}
		latest = rec
		return nil
	})
	if errors.Is(err, ErrStoreFull) {
		size := 0
		if resp != nil {
			size = len(resp.Result)
		}
		err = t.store.Update(r.id, r.owner, func(rec *Record) error {
			if rec.Status.Terminal() || rec.Round != r.round {
				return errUnchanged
			}
			rec.Status, rec.StatusMessage = StatusFailed, fmt.Sprintf("The result (%d bytes) does not fit in the task store.", size)
			rec.Error = internalError("%s", rec.StatusMessage)
			rec.InputRequests, rec.Keys, rec.Answers, rec.RequestState = nil, nil, nil, nil
			again = false
			return nil
		})
	}
	if err != nil {
		if !errors.Is(err, errUnchanged) && !errors.Is(err, ErrNotFound) {
			t.log.Error("tasks: cannot store the outcome of a task", "task", r.id, "err", err)
		}
		return
	}
	if latest != nil && !again {
		t.observe(latest.Status)
	} else if latest == nil {
		t.observe(StatusFailed) // the result did not fit in the store
	}
	t.changed(r.id)
	if again && latest != nil {
		t.startRound(latest)
	}
}

// startRound sends the current round of rec to the back.
func (t *Tasks) startRound(rec *Record) {
	backReq, err := backRequest(rec)
	if err != nil {
		t.log.Error("tasks: cannot build the back request", "task", rec.ID, "err", err)
		return
	}
	r := &run{id: rec.ID, owner: rec.Owner, round: rec.Round, published: true}
	t.start(r, rec.ExpiresAt(), backReq, nil, t.next.RoundTrip)
}
