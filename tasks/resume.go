package tasks

import (
	"context"
	"slices"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

type ownerKey struct{}

// WithOwner returns a context carrying the authorization context of a
// request: an opaque string (for example a hash of the bearer token) that
// the front derives from how the client authenticated. A task is visible
// only to requests with the owner that created it; "" (no authorization) is
// an owner like any other.
func WithOwner(ctx context.Context, owner string) context.Context {
	return context.WithValue(ctx, ownerKey{}, owner)
}

// OwnerFrom returns the owner set by [WithOwner], or "".
func OwnerFrom(ctx context.Context) string {
	s, _ := ctx.Value(ownerKey{}).(string)
	return s
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
			t.log.Warn("tasks: marked failed a task interrupted by a restart", "task", rec.ID)
		}
	}
}

// Dialer returns a back for fronts that hold a [bridge.Dialer] and
// type-assert it to a [bridge.RoundTripper] for stateless requests (as
// httpfront does): Dial is d's, so session-based clients reach the back as
// before, and RoundTrip is t's, so stateless requests get tasks.
func (t *Tasks) Dialer(d bridge.Dialer) bridge.Dialer { return dialerWithTasks{d, t} }

type dialerWithTasks struct {
	bridge.Dialer
	t *Tasks
}

func (d dialerWithTasks) RoundTrip(ctx context.Context, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	return d.t.RoundTrip(ctx, req, notify)
}
