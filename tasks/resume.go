// SPDX-License-Identifier: Apache-2.0

package tasks

import (
	"context"
	"slices"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// WithOwner returns a context carrying the authorization context of a
// request: an opaque string (for example a hash of the bearer token) that
// the front derives from how the client authenticated. A task is visible
// only to requests with the owner that created it; "" (no authorization) is
// an owner like any other. It is [bridge.WithOwner], which fronts call
// (httpfront sets [bridge.AuthOwner] of the Authorization header).
func WithOwner(ctx context.Context, owner string) context.Context {
	return bridge.WithOwner(ctx, owner)
}

// OwnerFrom returns the owner set by [WithOwner], or "".
func OwnerFrom(ctx context.Context) string {
	return bridge.OwnerFromContext(ctx)
}

// ownerOf is the owner under which the store keeps the tasks of ctx's
// caller: the owner itself in the empty scope, else the owner qualified by
// the scope, so that the engines sharing a store never see each other's
// tasks (an owner from a front is a digest, never holding a NUL byte).
func (t *Tasks) ownerOf(ctx context.Context) string {
	if t.scope == "" {
		return OwnerFrom(ctx)
	}
	return "\x00" + t.scope + "\x00" + OwnerFrom(ctx)
}

type correlatorKey struct{}

// SetCorrelation lets a back, inside the RoundTrip of a call that belongs to
// a task, record opaque bytes that identify the call at the back (for a
// queue: the request's message id or JSON-RPC id and the reply address).
// The engine stores them with the task and hands them to [Resumer.Resume]
// after a restart. It reports whether ctx belongs to a task; calling it
// again replaces the earlier value.
func SetCorrelation(ctx context.Context, correlation []byte) bool {
	f, ok := ctx.Value(correlatorKey{}).(func([]byte))
	if ok {
		f(correlation)
	}
	return ok
}

// A Resumer is a back that can re-attach to a call it started in an earlier
// process, for example a queue back whose answer arrives on the response
// queue after the proxy restarted. The back [bridge.RoundTripper] given to
// [Wrap] implements it when it can.
//
// Resume waits for the answer to req, which the back sent before the
// restart and identified with correlation (see [SetCorrelation]), and
// returns it as RoundTrip would. It must not send req again. When ctx is
// done first it tells the back the call is cancelled, unless
// context.Cause(ctx) is [ErrClosing], and returns ctx.Err().
type Resumer interface {
	Resume(ctx context.Context, correlation []byte, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error)
}

// resumeAll deals with the tasks an earlier process left working.
func (t *Tasks) resumeAll() {
	recs, err := t.store.Unfinished()
	if err != nil {
		t.log.Error("tasks: cannot list the unfinished tasks of an earlier run", "err", err)
		return
	}
	resumer, _ := t.next.(Resumer)
	for _, rec := range recs {
		if rec.Scope != t.scope {
			continue // another engine's task
		}
		if rec.Status != StatusWorking {
			continue // input_required: waiting for tasks/update, nothing runs
		}
		if resumer != nil && len(rec.Correlation) > 0 {
			backReq, err := backRequest(rec)
			if err == nil {
				r := &run{id: rec.ID, owner: rec.Owner, round: rec.Round, published: true, correlation: slices.Clone(rec.Correlation)}
				correlation := rec.Correlation
				t.start(r, rec.ExpiresAt(), backReq, nil, func(ctx context.Context, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
					return resumer.Resume(ctx, correlation, req, notify)
				})
				t.log.Info("tasks: re-attached to a call that was running before the restart", "task", rec.ID)
				continue
			}
			t.log.Error("tasks: cannot rebuild the back request of a task", "task", rec.ID, "err", err)
		}
		msg := "asyncmcp restarted while this call was running, and its MCP server cannot be re-attached to a call after a restart."
		err := t.store.Update(rec.ID, rec.Owner, func(r *Record) error {
			if r.Status != StatusWorking {
				return errUnchanged
			}
			r.Status, r.StatusMessage, r.Error = StatusFailed, msg, internalError("%s", msg)
			return nil
		})
		if err != nil {
			t.log.Error("tasks: cannot mark an interrupted task failed", "task", rec.ID, "err", err)
		} else {
			t.observe(StatusFailed)
			t.changed(rec.ID)
			t.log.Warn("tasks: marked failed a task interrupted by a restart", "task", rec.ID)
		}
	}
}

// Dialer returns a back for fronts that hold a [bridge.Dialer] and
// type-assert it to a [bridge.RoundTripper] for stateless requests (as
// httpfront does). RoundTrip is t's, so stateless requests get tasks of the
// 2026-07-28 extension. Dial is d's, with each session's back connection
// wrapped so that session-based clients get the experimental tasks of
// 2025-11-25: a client that declares capabilities.tasks at initialize may
// call a selected tool with params.task; the proxy then answers with a
// CreateTaskResult, runs the call on the session's back connection, and
// serves tasks/get, tasks/result, tasks/list and tasks/cancel. The session
// adds the tasks capability to the initialize result, and
// execution.taskSupport to the selected tools of tools/list results, unless
// the server declares the tasks capability itself (then everything passes
// through). Such a task's call lives as long as its session; requests the
// server sends during it (sampling, elicitation) go to the client on the
// session as usual, without moving the task to input_required. The owner of
// the session's tasks is [OwnerFrom] the context given to Dial.
func (t *Tasks) Dialer(d bridge.Dialer) bridge.Dialer { return dialerWithTasks{d, t} }

type dialerWithTasks struct {
	bridge.Dialer
	t *Tasks
}

// SessionDialer returns d with each session's back connection wrapped as
// [Tasks.Dialer] does, for a back that serves sessions only (d is not a
// [bridge.RoundTripper]); the result is no RoundTripper either. t may then
// have been made by [Wrap] with a nil next.
func (t *Tasks) SessionDialer(d bridge.Dialer) bridge.Dialer { return sessionDialer{d, t} }

type sessionDialer struct {
	d bridge.Dialer
	t *Tasks
}

func (d sessionDialer) Dial(ctx context.Context) (mcp.Connection, error) {
	c, err := d.d.Dial(ctx)
	if err != nil {
		return nil, err
	}
	return d.t.session(ctx, c), nil
}

func (d dialerWithTasks) Dial(ctx context.Context) (mcp.Connection, error) {
	c, err := d.Dialer.Dial(ctx)
	if err != nil {
		return nil, err
	}
	return d.t.session(ctx, c), nil
}

func (d dialerWithTasks) RoundTrip(ctx context.Context, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	return d.t.RoundTrip(ctx, req, notify)
}
