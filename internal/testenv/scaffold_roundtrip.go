// SPDX-License-Identifier: Apache-2.0

package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A ScaffoldRoundTripper is TEST SCAFFOLDING, not the product's pool: a
// bridge.RoundTripper over one stdio child that speaks 2026-07-28 (the Go
// SDK everything-server), for testing the queue transports' stateless side
// before stdio.Command implements bridge.RoundTripper. It rewrites request
// ids and progress tokens so that concurrent callers share the child, maps
// listen notifications back by subscription id, sends notifications/cancelled
// when a caller's ctx ends, and counts what it forwarded, so that tests can
// check how often the back really ran a request.
type ScaffoldRoundTripper struct {
	conn mcp.Connection

	mu        sync.Mutex
	next      int
	pending   map[string]*scaffoldCall // by rewritten id
	tokens    map[string]*scaffoldCall // by rewritten progress token
	started   map[string]int           // by method, or method+" "+name
	cancelled int
	readErr   error
}

type scaffoldCall struct {
	id     jsonrpc.ID
	token  json.RawMessage // the caller's progress token, or nil
	notify func(*jsonrpc.Request)
	resp   chan *jsonrpc.Response
}

// StartScaffoldRoundTripper starts bin (with args) as a stdio child and
// returns a RoundTripper over it; the child is stopped when the test ends.
func StartScaffoldRoundTripper(t testing.TB, bin string, args ...string) *ScaffoldRoundTripper {
	t.Helper()
	tr := &mcp.CommandTransport{Command: exec.Command(bin, args...), TerminateDuration: 2 * time.Second}
	conn, err := tr.Connect(context.Background())
	if err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	s := &ScaffoldRoundTripper{conn: conn, pending: map[string]*scaffoldCall{}, tokens: map[string]*scaffoldCall{}, started: map[string]int{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.readLoop()
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return s
}

// Started returns how many requests of method were sent to the child; with
// a name, how many tools/call or prompts/get of that name.
func (s *ScaffoldRoundTripper) Started(method string, name ...string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := method
	if len(name) > 0 {
		k += " " + name[0]
	}
	return s.started[k]
}

// Cancelled returns how many requests were cancelled because their
// caller's ctx ended.
func (s *ScaffoldRoundTripper) Cancelled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cancelled
}

// RoundTrip implements bridge.RoundTripper.
func (s *ScaffoldRoundTripper) RoundTrip(ctx context.Context, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	var params map[string]json.RawMessage
	if len(req.Params) > 0 {
		if err := json.Unmarshal(req.Params, &params); err != nil {
			return nil, fmt.Errorf("scaffold: params: %w", err)
		}
	}
	c := &scaffoldCall{id: req.ID, notify: notify, resp: make(chan *jsonrpc.Response, 1)}
	s.mu.Lock()
	if s.readErr != nil {
		s.mu.Unlock()
		return nil, s.readErr
	}
	s.next++
	idText := fmt.Sprintf("scaffold-%d", s.next)
	s.pending[idText] = c
	var meta map[string]json.RawMessage
	if raw, ok := params["_meta"]; ok {
		json.Unmarshal(raw, &meta)
	}
	if tok, ok := meta["progressToken"]; ok {
		c.token = tok
		tokText := idText + "-token"
		s.tokens[tokText] = c
		meta["progressToken"], _ = json.Marshal(tokText)
		params["_meta"], _ = json.Marshal(meta)
	}
	k := req.Method
	var name string
	if json.Unmarshal(params["name"], &name) == nil && name != "" {
		k += " " + name
	}
	s.started[k]++
	if k != req.Method {
		s.started[req.Method]++
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, idText)
		for tok, x := range s.tokens {
			if x == c {
				delete(s.tokens, tok)
			}
		}
		s.mu.Unlock()
	}()
	out := *req
	out.ID, _ = jsonrpc.MakeID(idText)
	if params != nil {
		out.Params, _ = json.Marshal(params)
	}
	if err := s.conn.Write(ctx, &out); err != nil {
		return nil, fmt.Errorf("scaffold: writing to child: %w", err)
	}
	select {
	case r := <-c.resp:
		if r == nil {
			return nil, fmt.Errorf("scaffold: child ended: %w", s.readErr)
		}
		r.ID = req.ID
		return r, nil
	case <-ctx.Done():
		s.mu.Lock()
		s.cancelled++
		s.mu.Unlock()
		p, _ := json.Marshal(map[string]any{"requestId": idText, "reason": "caller cancelled"})
		s.conn.Write(context.Background(), &jsonrpc.Request{Method: "notifications/cancelled", Params: p})
		return nil, ctx.Err()
	}
}

func (s *ScaffoldRoundTripper) readLoop() {
	for {
		msg, err := s.conn.Read(context.Background())
		if err != nil {
			s.mu.Lock()
			s.readErr = err
			for _, c := range s.pending {
				select {
				case c.resp <- nil:
				default:
				}
			}
			s.mu.Unlock()
			return
		}
		switch m := msg.(type) {
		case *jsonrpc.Response:
			idText, _ := m.ID.Raw().(string)
			s.mu.Lock()
			c := s.pending[idText]
			s.mu.Unlock()
			if c != nil {
				c.resp <- m
			}
		case *jsonrpc.Request:
			s.route(m)
		}
	}
}

// route hands a notification to the caller it belongs to: progress by
// token, listen notifications by subscription id. Others (log messages)
// cannot be attributed on a shared stdio child and are dropped.
func (s *ScaffoldRoundTripper) route(n *jsonrpc.Request) {
	var params map[string]json.RawMessage
	if json.Unmarshal(n.Params, &params) != nil {
		return
	}
	var meta map[string]json.RawMessage
	json.Unmarshal(params["_meta"], &meta)
	var c *scaffoldCall
	s.mu.Lock()
	var key string
	if json.Unmarshal(params["progressToken"], &key) == nil && n.Method == "notifications/progress" {
		if c = s.tokens[key]; c != nil {
			params["progressToken"] = c.token
		}
	} else if json.Unmarshal(meta["io.modelcontextprotocol/subscriptionId"], &key) == nil {
		if c = s.pending[key]; c != nil {
			meta["io.modelcontextprotocol/subscriptionId"], _ = json.Marshal(c.id.Raw())
			params["_meta"], _ = json.Marshal(meta)
		}
	}
	s.mu.Unlock()
	if c == nil || c.notify == nil {
		return
	}
	out := *n
	out.Params, _ = json.Marshal(params)
	c.notify(&out)
}
