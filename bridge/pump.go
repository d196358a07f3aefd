// SPDX-License-Identifier: Apache-2.0

package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// CodeServerUnavailable is the JSON-RPC error code sent to a client for each
// of its requests that was in flight when the back connection failed, or that
// arrived when no back connection could be opened.
const CodeServerUnavailable = -32000

// Options configures [Serve] and [Pump]. The zero value is ready to use.
type Options struct {
	// Logger receives one line per session start and end (info), one per
	// failure (warn or error), and one per finished request (debug: keys
	// session, method, id, outcome, duration, and code for errors). If nil,
	// slog.Default() is used.
	Logger *slog.Logger
}

func (o *Options) logger() *slog.Logger {
	if o == nil || o.Logger == nil {
		return slog.Default()
	}
	return o.Logger
}

// Serve accepts sessions from l until ctx is done or l fails, and for each one
// dials a back connection with d and runs [Pump] between them. When ctx is
// done, Serve closes l first, then closes every open session, and returns
// once they have all ended (nil when ctx was cancelled, else the error that
// stopped Accept). Closing the listener first lets a queue transport hand
// unfinished work back to its queue for another server process.
func Serve(ctx context.Context, l Listener, d Dialer, opts *Options) error {
	sessCtx, cancelSessions := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	stopWatch := context.AfterFunc(ctx, func() { l.Close() })
	defer func() {
		stopWatch()
		l.Close()
		cancelSessions()
		wg.Wait()
	}()
	for {
		front, err := l.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accepting session: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			DialAndPump(sessCtx, front, d, opts)
		}()
	}
}

// DialAndPump dials a back connection for the front connection and pumps
// messages between them until either side ends. If the dial fails, every
// request the client sends gets a JSON-RPC error naming the failure, until the
// client closes the session or ctx is done. A front with a method
// ClientIdentity() string (a queue session) names its client for the back
// with [WithClient], unless ctx names one already.
func DialAndPump(ctx context.Context, front mcp.Connection, d Dialer, opts *Options) error {
	log := opts.logger().With("session", front.SessionID())
	if ci, ok := front.(interface{ ClientIdentity() string }); ok && ClientFrom(ctx) == "" {
		ctx = WithClient(ctx, ci.ClientIdentity())
	}
	back, err := d.Dial(ctx)
	if err != nil {
		log.Error("cannot open back connection", "err", err)
		refuse(ctx, front, fmt.Sprintf("MCP server unavailable: %v", err))
		return err
	}
	return Pump(ctx, front, back, opts)
}

// refuse answers every request on front with an error until it ends.
func refuse(ctx context.Context, front mcp.Connection, msg string) {
	defer front.Close()
	for {
		m, err := front.Read(ctx)
		if err != nil {
			return
		}
		if req, ok := m.(*jsonrpc.Request); ok && req.IsCall() {
			front.Write(ctx, errorResponse(req.ID, CodeServerUnavailable, msg))
		}
	}
}

func errorResponse(id jsonrpc.ID, code int64, msg string) *jsonrpc.Response {
	return &jsonrpc.Response{ID: id, Error: &jsonrpc.Error{Code: code, Message: msg}}
}

// Pump forwards messages from front to back and from back to front until one
// side ends or ctx is done, then closes both. Messages cross unchanged.
//
// When the back fails (for example, the MCP server process exits), each client
// request still waiting for its answer gets a JSON-RPC error at once, with
// code [CodeServerUnavailable], before the front is closed. When the front
// ends (the client went away), the back is closed, which stops a child process.
//
// Client messages wait in a queue of at most 16 MiB for the back to take
// them, so the client's departure is noticed even while the back is not
// reading; if the back takes nothing while more than that arrives, the
// session fails as above. When the client goes away, what it sent before
// is still handed to the back, for up to 2 seconds.
func Pump(ctx context.Context, front, back mcp.Connection, opts *Options) error {
	log := opts.logger().With("session", front.SessionID())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		mu       sync.Mutex
		inflight = map[jsonrpc.ID]call{} // client requests awaiting an answer from the back
	)
	started := time.Now()
	log.Info("session started")
	// finished logs one line per answered request; call with mu held and
	// after removing the request from inflight.
	finished := func(id jsonrpc.ID, c call, outcome string, code int64) {
		if !log.Enabled(ctx, slog.LevelDebug) {
			return
		}
		args := []any{"method", c.method, "id", id.Raw(), "outcome", outcome, "duration_ms", durationMS(time.Since(c.start))}
		if code != 0 {
			args = append(args, "code", code)
		}
		log.Debug("request finished", args...)
	}
	backErr := make(chan error, 4)
	frontErr := make(chan error, 2)

	// front → back: one goroutine reads the client, another writes the
	// server, so a client that goes away (a DELETE, a closed stream) is
	// noticed even while a write to a server that stopped reading is
	// blocked; closing the back then ends that write.
	toBack := newSendQueue()
	go func() {
		defer toBack.close()
		for {
			msg, err := front.Read(ctx)
			if err != nil {
				frontErr <- err
				return
			}
			req, isCall := msg.(*jsonrpc.Request)
			isCall = isCall && req.IsCall()
			if isCall {
				mu.Lock()
				inflight[req.ID] = call{method: req.Method, start: time.Now()}
				mu.Unlock()
			} else if req != nil && req.Method == "notifications/cancelled" {
				// The server will not answer a cancelled request.
				if id, ok := rpcmsg.CancelledID(req.Params); ok {
					mu.Lock()
					if c, ok := inflight[id]; ok {
						delete(inflight, id)
						finished(id, c, "cancelled", 0)
					}
					mu.Unlock()
				}
			}
			if !toBack.push(msg) {
				backErr <- fmt.Errorf("MCP server is not reading its input (%d bytes waiting)", toBack.pending())
				return
			}
		}
	}()
	written := make(chan struct{}) // closed when the writer has stopped
	go func() {
		defer close(written)
		for {
			msg, ok := toBack.pop(ctx)
			if !ok {
				return
			}
			if err := back.Write(ctx, msg); err != nil {
				if req, isCall := msg.(*jsonrpc.Request); isCall && req.IsCall() {
					mu.Lock()
					c, ok := inflight[req.ID]
					if ok {
						delete(inflight, req.ID)
						finished(req.ID, c, "unavailable", CodeServerUnavailable)
					}
					mu.Unlock()
					if ok {
						front.Write(ctx, errorResponse(req.ID, CodeServerUnavailable, fmt.Sprintf("MCP server unavailable: %v", err)))
					}
				}
				backErr <- fmt.Errorf("writing to MCP server: %w", err)
				return
			}
		}
	}()

	// back → front
	go func() {
		for {
			msg, err := back.Read(ctx)
			if err != nil {
				backErr <- err
				return
			}
			if resp, ok := msg.(*jsonrpc.Response); ok {
				mu.Lock()
				if c, ok := inflight[resp.ID]; ok {
					delete(inflight, resp.ID)
					outcome, code := "ok", int64(0)
					if resp.Error != nil {
						outcome, code = "error", errorCode(resp.Error)
					}
					finished(resp.ID, c, outcome, code)
				}
				mu.Unlock()
			}
			if err := front.Write(ctx, msg); err != nil {
				if isRejected(err) {
					log.Warn("client side refused one message", "err", err)
					continue
				}
				frontErr <- fmt.Errorf("writing to client: %w", err)
				return
			}
		}
	}()

	var result error
	defer func() {
		reason := "ended"
		if result != nil {
			reason = result.Error()
		}
		log.Info("session ended", "reason", reason, "duration_ms", durationMS(time.Since(started)))
	}()
	select {
	case err := <-frontErr:
		// The client went away or the session was closed: stop the back.
		if !isEOF(err) && ctx.Err() == nil {
			log.Warn("client side ended", "err", err)
			result = err
		}
		// Let what the client sent before it went away reach the server,
		// unless the server is not taking it.
		select {
		case <-written:
		case <-ctx.Done():
		case <-time.After(drainGrace):
			log.Warn("MCP server did not take the client's last messages; dropping them", "pending_bytes", toBack.pending())
		}
		back.Close()
		front.Close()
	case err := <-backErr:
		if ctx.Err() == nil {
			if isEOF(err) {
				err = errors.New("MCP server closed the connection")
			}
			log.Warn("server side ended", "err", err)
			result = err
			msg := fmt.Sprintf("MCP server unavailable: %v", err)
			mu.Lock()
			ids := make([]jsonrpc.ID, 0, len(inflight))
			for id, c := range inflight {
				ids = append(ids, id)
				finished(id, c, "unavailable", CodeServerUnavailable)
			}
			clear(inflight)
			mu.Unlock()
			for _, id := range ids {
				front.Write(ctx, errorResponse(id, CodeServerUnavailable, msg))
			}
		}
		back.Close()
		front.Close()
	case <-ctx.Done():
		back.Close()
		front.Close()
	}
	return result
}

// drainGrace bounds how long a session whose client went away waits for the
// server to take the messages the client sent before it left.
const drainGrace = 2 * time.Second

// call is a client request waiting for its answer.
type call struct {
	method string
	start  time.Time
}

// errorCode returns the JSON-RPC code of a response error, or 0.
func errorCode(err error) int64 {
	var werr *jsonrpc.Error
	if errors.As(err, &werr) {
		return werr.Code
	}
	return 0
}

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, mcp.ErrConnectionClosed) || errors.Is(err, context.Canceled)
}

// isRejected reports whether err refuses a single message without breaking
// the connection (JSON-RPC code -32005, as the Go SDK's jsonrpc2 uses).
func isRejected(err error) bool {
	var werr *jsonrpc.Error
	return errors.As(err, &werr) && werr.Code == -32005
}

// durationMS is d in milliseconds, to the microsecond, for log lines: JSON
// logs would otherwise carry a time.Duration as integer nanoseconds.
func durationMS(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
