// SPDX-License-Identifier: Apache-2.0

package tasks

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// scaffoldChild is TEST SCAFFOLDING, not part of the engine: a minimal
// bridge.RoundTripper over one stdio MCP server child, with id mapping and
// notifications/cancelled on ctx done. It stands in for the stdio pool back
// (stdio.Command as a RoundTripper) that is being built elsewhere; once that
// lands these tests should run over it instead.
type scaffoldChild struct {
	t     testing.TB
	cmd   *exec.Cmd
	stdin io.WriteCloser
	wmu   sync.Mutex
	dead  chan struct{}
	errb  bytes.Buffer

	mu        sync.Mutex
	nextID    int64
	pending   map[int64]chan *jsonrpc.Response
	cancelled []int64                           // upstream ids the scaffold sent notifications/cancelled for
	resumed   []int64                           // upstream ids Resume re-attached to
	progress  map[string]func(*jsonrpc.Request) // progress token -> notify of its call
	sent      []sentRequest
}

type sentRequest struct {
	ID     int64
	Method string
	Params json.RawMessage
}

// startGoEverything starts the Go SDK conformance everything-server over
// stdio (it serves 2026-07-28 per request).
func startGoEverything(t testing.TB) *scaffoldChild {
	return startChild(t, exec.Command(testenv.GoEverythingServer(t)), false)
}

// startServerEverything starts @modelcontextprotocol/server-everything over
// stdio. It speaks only 2025-11-25, so the scaffold initializes it first; it
// then serves the modern tools/call of the tests with legacy semantics. It is
// here for its trigger-long-running-operation tool, which runs for as long as
// asked (the Go everything-server has no slow tool).
func startServerEverything(t testing.TB) *scaffoldChild {
	return startChild(t, exec.Command(testenv.Node(t), testenv.ServerEverything(t), "stdio"), true)
}

func startChild(t testing.TB, cmd *exec.Cmd, legacy bool) *scaffoldChild {
	t.Helper()
	c := &scaffoldChild{t: t, cmd: cmd, dead: make(chan struct{}), pending: map[int64]chan *jsonrpc.Response{}, progress: map[string]func(*jsonrpc.Request){}}
	cmd.Stderr = &lockedWriter{w: &c.errb}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.stdin = stdin
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	go c.read(stdout)
	t.Cleanup(c.stop)
	if legacy {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		id, _ := jsonrpc.MakeID("init")
		resp, err := c.RoundTrip(ctx, &jsonrpc.Request{ID: id, Method: "initialize", Params: json.RawMessage(
			`{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"tasks-scaffold","version":"0"}}`)}, nil)
		if err != nil || resp.Error != nil {
			t.Fatalf("initialize %s: %v %v", cmd.Path, err, resp)
		}
		c.write(&jsonrpc.Request{Method: "notifications/initialized", Params: json.RawMessage(`{}`)})
	}
	return c
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (c *scaffoldChild) stop() {
	c.stdin.Close()
	select {
	case <-c.dead:
	case <-time.After(time.Second):
		c.cmd.Process.Kill()
		<-c.dead
	}
	c.cmd.Wait()
}

func (c *scaffoldChild) write(msg jsonrpc.Message) error {
	data, err := jsonrpc.EncodeMessage(msg)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err = c.stdin.Write(append(data, '\n'))
	return err
}

func (c *scaffoldChild) read(r io.Reader) {
	defer close(c.dead)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		msg, err := jsonrpc.DecodeMessage(sc.Bytes())
		if err != nil {
			c.t.Logf("scaffold: undecodable line from child: %v", err)
			continue
		}
		switch m := msg.(type) {
		case *jsonrpc.Response:
			n, ok := m.ID.Raw().(int64)
			if !ok {
				continue
			}
			c.mu.Lock()
			ch := c.pending[n]
			delete(c.pending, n)
			c.mu.Unlock()
			if ch != nil {
				ch <- m
			}
		case *jsonrpc.Request:
			if !m.ID.IsValid() && m.Method == "notifications/progress" {
				var p struct {
					Token json.RawMessage `json:"progressToken"`
				}
				json.Unmarshal(m.Params, &p)
				c.mu.Lock()
				notify := c.progress[string(p.Token)]
				c.mu.Unlock()
				if notify != nil {
					notify(m)
				}
				continue
			}
			if m.ID.IsValid() { // a server->client request: the tests declare nothing to serve
				c.write(&jsonrpc.Response{ID: m.ID, Error: &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: "scaffold serves no requests"}})
			}
		}
	}
}

// RoundTrip implements bridge.RoundTripper for the tests.
func (c *scaffoldChild) RoundTrip(ctx context.Context, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	ch := make(chan *jsonrpc.Response, 1)
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	c.sent = append(c.sent, sentRequest{id, req.Method, req.Params})
	var p struct {
		Meta struct {
			Token json.RawMessage `json:"progressToken"`
		} `json:"_meta"`
	}
	json.Unmarshal(req.Params, &p)
	token := string(p.Meta.Token)
	if token != "" && notify != nil {
		c.progress[token] = notify
	}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.progress, token)
		c.mu.Unlock()
	}()
	upID, _ := jsonrpc.MakeID(float64(id))
	SetCorrelation(ctx, []byte(strconv.FormatInt(id, 10)))
	if err := c.write(&jsonrpc.Request{ID: upID, Method: req.Method, Params: req.Params}); err != nil {
		return &jsonrpc.Response{ID: req.ID, Error: &jsonrpc.Error{Code: bridge.CodeServerUnavailable, Message: err.Error()}}, nil
	}
	select {
	case resp := <-ch:
		return &jsonrpc.Response{ID: req.ID, Result: resp.Result, Error: resp.Error}, nil
	case <-ctx.Done():
		if errors.Is(context.Cause(ctx), ErrClosing) {
			// The engine is shutting down and will resume the task: leave
			// the call running and its answer to Resume (as a queue back
			// would leave it on its response queue).
			return nil, ctx.Err()
		}
		c.mu.Lock()
		delete(c.pending, id)
		c.cancelled = append(c.cancelled, id)
		c.mu.Unlock()
		c.write(&jsonrpc.Request{Method: "notifications/cancelled", Params: json.RawMessage(fmt.Sprintf(`{"requestId":%d,"reason":"cancelled"}`, id))})
		return nil, ctx.Err()
	case <-c.dead:
		return &jsonrpc.Response{ID: req.ID, Error: &jsonrpc.Error{Code: bridge.CodeServerUnavailable, Message: "child exited: " + c.errb.String()}}, nil
	}
}

// cancelledFor reports whether the scaffold sent notifications/cancelled for
// a request whose params contained substr.
func (c *scaffoldChild) cancelledFor(substr string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range c.cancelled {
		for _, s := range c.sent {
			if s.ID == id && bytes.Contains(s.Params, []byte(substr)) {
				return true
			}
		}
	}
	return false
}

// sentMatching returns the requests sent whose method is method.
func (c *scaffoldChild) sentMatching(method string) []sentRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []sentRequest
	for _, s := range c.sent {
		if s.Method == method {
			out = append(out, s)
		}
	}
	return out
}

// resumableChild is TEST SCAFFOLDING: the scaffold child with Resume, so a
// second engine can re-attach to a call the first one left running (the
// child outlives the engine here, as a queue server outlives a proxy).
type resumableChild struct{ *scaffoldChild }

func (c resumableChild) Resume(ctx context.Context, correlation []byte, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	id, err := strconv.ParseInt(string(correlation), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("scaffold: bad correlation %q: %w", correlation, err)
	}
	c.mu.Lock()
	ch := c.pending[id]
	c.resumed = append(c.resumed, id)
	c.mu.Unlock()
	if ch == nil {
		return &jsonrpc.Response{ID: req.ID, Error: &jsonrpc.Error{Code: bridge.CodeServerUnavailable, Message: "scaffold: call not pending"}}, nil
	}
	select {
	case resp := <-ch:
		return &jsonrpc.Response{ID: req.ID, Result: resp.Result, Error: resp.Error}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.dead:
		return &jsonrpc.Response{ID: req.ID, Error: &jsonrpc.Error{Code: bridge.CodeServerUnavailable, Message: "child exited"}}, nil
	}
}
