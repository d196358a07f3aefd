// SPDX-License-Identifier: Apache-2.0

package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/webhook"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Tests of stateless (2026-07-28) requests over webhooks, against the Go
// SDK everything-server behind the test-scaffolding RoundTripper.

func statelessReq(t testing.TB, id any, method string, params map[string]any) *jsonrpc.Request {
	t.Helper()
	if params == nil {
		params = map[string]any{}
	}
	meta, _ := params["_meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	meta[rpcmsg.MetaProtocolVersion] = rpcmsg.ModernVersion
	meta[rpcmsg.MetaClientCapabilities] = map[string]any{}
	params["_meta"] = meta
	p, _ := json.Marshal(params)
	if n, ok := id.(int); ok {
		id = float64(n)
	}
	jid, err := jsonrpc.MakeID(id)
	if err != nil {
		t.Fatal(err)
	}
	return &jsonrpc.Request{ID: jid, Method: method, Params: p}
}

// statelessSetup is a webhook Server whose stateless requests go to the Go
// everything-server, and a Client receiving on its own listener.
func statelessSetup(t *testing.T, opts *webhook.ServerOptions) (*webhook.Client, *testenv.ScaffoldRoundTripper, string) {
	back := testenv.StartScaffoldRoundTripper(t, testenv.GoEverythingServer(t))
	if opts == nil {
		opts = &webhook.ServerOptions{}
	}
	opts.AllowLoopback = true
	if opts.RoundTripper == nil {
		opts.RoundTripper = back
	}
	_, url := startServer(t, opts)
	c := webhook.NewClient(&webhook.ClientOptions{ServerURL: url, Logger: testLogger(t)})
	if _, err := c.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, back, url
}

func TestStatelessToolsCallWithProgress(t *testing.T) {
	c, back, _ := statelessSetup(t, nil)
	rt := bridge.Dialer(c).(bridge.RoundTripper) // what a front does
	var wg sync.WaitGroup
	for _, tok := range []string{"a", "b"} {
		wg.Go(func() {
			var got []string
			resp, err := rt.RoundTrip(t.Context(), statelessReq(t, 1, "tools/call", map[string]any{"name": "test_tool_with_progress", "_meta": map[string]any{"progressToken": tok}}),
				func(n *jsonrpc.Request) {
					var p struct {
						Token string `json:"progressToken"`
					}
					json.Unmarshal(n.Params, &p)
					got = append(got, n.Method+" "+p.Token)
				})
			if err != nil {
				t.Error(err)
				return
			}
			if resp.Error != nil || !strings.Contains(string(resp.Result), `"resultType":"complete"`) || resp.ID.Raw() != float64(1) && resp.ID.Raw() != int64(1) {
				t.Errorf("caller %s: %v %s id %v", tok, resp.Error, resp.Result, resp.ID.Raw())
			}
			want := strings.Repeat("notifications/progress "+tok+"|", 3)
			if strings.Join(got, "|")+"|" != want {
				t.Errorf("caller %s got %q", tok, got)
			}
		})
	}
	wg.Wait()
	if n := back.Started("tools/call"); n != 2 {
		t.Errorf("back ran %d calls, want 2", n)
	}
}

// TestStatelessRetriedPostRunsOnce POSTs one stateless request twice with
// the same key, as a client retrying a POST whose reply was lost would: it
// runs once, and the retry after the answer gets the answer delivered again.
func TestStatelessRetriedPostRunsOnce(t *testing.T) {
	back := testenv.StartScaffoldRoundTripper(t, testenv.GoEverythingServer(t))
	_, url := startServer(t, &webhook.ServerOptions{AllowLoopback: true, RoundTripper: back})
	deliveries := make(chan []byte, 16)
	hook, stop, err := webhook.ServeDeliveries("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		b.ReadFrom(r.Body)
		if r.Header.Get(webhook.HeaderRequestTag) != "" {
			deliveries <- b.Bytes()
		}
		w.Write([]byte(`{"status":"success"}`))
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	key := strings.Repeat("ab", 16)
	req := statelessReq(t, "dup", "tools/call", map[string]any{"name": "test_simple_text"})
	body, _ := jsonrpc.EncodeMessage(req)
	post := func() string {
		hr, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		hr.Header.Set("Content-Type", "application/json")
		hr.Header.Set(webhook.HeaderClientID, "raw")
		hr.Header.Set(webhook.HeaderRequestKey, key)
		hr.Header.Set(webhook.HeaderReplyURL, hook)
		hr.Header.Set(webhook.HeaderMCPProtocolVersion, rpcmsg.ModernVersion)
		hr.Header.Set(webhook.HeaderMcpMethod, "tools/call")
		hr.Header.Set(webhook.HeaderMcpName, "test_simple_text")
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return fmt.Sprint(resp.StatusCode, " ", strings.TrimSpace(b.String()))
	}
	if got := post(); got != `200 {"status":"received"}` {
		t.Fatalf("first POST: %s", got)
	}
	first := <-deliveries
	if got := post(); got != `200 {"status":"duplicate"}` {
		t.Fatalf("second POST: %s", got)
	}
	if again := <-deliveries; !bytes.Equal(again, first) {
		t.Errorf("answer delivered again %s, first %s", again, first)
	}
	if n := back.Started("tools/call"); n != 1 {
		t.Errorf("back ran the request %d times", n)
	}
}

// TestStatelessCancel: a cancel without the request's key is ignored; the
// caller's context ending cancels the request on the back.
func TestStatelessCancel(t *testing.T) {
	c, back, url := statelessSetup(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	notes := make(chan *jsonrpc.Request, 8)
	done := make(chan error, 1)
	go func() {
		_, err := c.RoundTrip(ctx, statelessReq(t, "listen-1", "subscriptions/listen", map[string]any{"notifications": map[string]any{"toolsListChanged": true}}),
			func(n *jsonrpc.Request) { notes <- n })
		done <- err
	}()
	if n := <-notes; n.Method != "notifications/subscriptions/acknowledged" {
		t.Fatalf("first listen message %s", n.Method)
	}
	hr, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"listen-1"}}`))
	hr.Header.Set(webhook.HeaderClientID, c.ClientID())
	hr.Header.Set(webhook.HeaderRequestKey, strings.Repeat("cd", 16))
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(b.String(), `"ignored"`) {
		t.Errorf("cancel with a wrong key answered %d %s", resp.StatusCode, b.String())
	}
	if r, err := c.RoundTrip(t.Context(), statelessReq(t, 2, "tools/call", map[string]any{"name": "test_trigger_tool_change"}), nil); err != nil || r.Error != nil {
		t.Fatalf("trigger: %v %v", err, r)
	}
	select {
	case n := <-notes:
		if n.Method != "notifications/tools/list_changed" {
			t.Errorf("listen message %s", n.Method)
		}
	case err := <-done:
		t.Fatalf("listen ended after the wrong cancel: %v", err)
	}
	if back.Cancelled() != 0 {
		t.Fatal("the back saw a cancel")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("RoundTrip: %v", err)
	}
	deadline := time.Now().Add(time.Minute)
	for back.Cancelled() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the back never saw the cancel")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStatelessRejected(t *testing.T) {
	c, back, url := statelessSetup(t, &webhook.ServerOptions{ListenTimeout: time.Second})
	t.Run("listen timeout", func(t *testing.T) {
		r, err := c.RoundTrip(t.Context(), statelessReq(t, 5, "subscriptions/listen", map[string]any{"notifications": map[string]any{"toolsListChanged": true}}), nil)
		if err != nil || r.Error != nil || !strings.Contains(string(r.Result), `"io.modelcontextprotocol/subscriptionId":5`) {
			t.Errorf("listen result %v %v", err, r)
		}
	})
	t.Run("Mcp-Name differs", func(t *testing.T) {
		body, _ := jsonrpc.EncodeMessage(statelessReq(t, 1, "tools/call", map[string]any{"name": "test_simple_text"}))
		hr, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		hr.Header.Set(webhook.HeaderClientID, "raw")
		hr.Header.Set(webhook.HeaderRequestKey, strings.Repeat("ef", 16))
		hr.Header.Set(webhook.HeaderReplyURL, c.WebhookURL())
		hr.Header.Set(webhook.HeaderMCPProtocolVersion, rpcmsg.ModernVersion)
		hr.Header.Set(webhook.HeaderMcpMethod, "tools/call")
		hr.Header.Set(webhook.HeaderMcpName, "test_error_handling")
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(b.String(), "-32020") {
			t.Errorf("got %d %s", resp.StatusCode, b.String())
		}
	})
	t.Run("webhook host not allowed", func(t *testing.T) {
		_, url := startServer(t, &webhook.ServerOptions{RoundTripper: back})
		c2 := webhook.NewClient(&webhook.ClientOptions{ServerURL: url, Logger: quietLogger()})
		if _, err := c2.Listen("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		r, err := c2.RoundTrip(t.Context(), statelessReq(t, 1, "tools/list", nil), nil)
		if err != nil || r.Error == nil || !strings.Contains(r.Error.Error(), "not in the allowed webhook hosts") {
			t.Errorf("got %v %v", err, r)
		}
	})
	t.Run("no RoundTripper", func(t *testing.T) {
		_, url := startServer(t, &webhook.ServerOptions{AllowLoopback: true})
		c2 := webhook.NewClient(&webhook.ClientOptions{ServerURL: url, Logger: quietLogger()})
		if _, err := c2.Listen("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		r, err := c2.RoundTrip(t.Context(), statelessReq(t, 1, "server/discover", nil), nil)
		var we *jsonrpc.Error
		if err != nil || r.Error == nil || !errors.As(r.Error, &we) || we.Code != rpcmsg.CodeUnsupportedProtocolVersion {
			t.Errorf("got %v %v", err, r)
		}
	})
	if n := back.Started("tools/call") + back.Started("tools/list"); n != 0 {
		t.Errorf("back ran %d rejected requests", n)
	}
}

// TestStatelessInitializeGoesToBack: an initialize carrying a modern _meta
// is a stateless request like any other (a modern server answers it -32601,
// as the conformance suite checks), not the start of a session.
func TestStatelessInitializeGoesToBack(t *testing.T) {
	c, back, _ := statelessSetup(t, nil)
	r, err := c.RoundTrip(t.Context(), statelessReq(t, 1, "initialize", map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "x", "version": "1"}}), nil)
	var we *jsonrpc.Error
	if err != nil || r.Error == nil || !errors.As(r.Error, &we) || we.Code != jsonrpc.CodeMethodNotFound {
		t.Errorf("got %v %v, want -32601 from the back", err, r)
	}
	if n := back.Started("initialize"); n != 1 {
		t.Errorf("back saw initialize %d times", n)
	}
}

// stuckBack takes requests and answers none until their context ends.
type stuckBack struct{ took chan struct{} }

func (b stuckBack) RoundTrip(ctx context.Context, _ *jsonrpc.Request, _ func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	b.took <- struct{}{}
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestStatelessServerClose: closing the server cancels a running stateless
// request and delivers its caller an error instead of leaving it waiting.
func TestStatelessServerClose(t *testing.T) {
	back := stuckBack{took: make(chan struct{}, 1)}
	s, url := startServer(t, &webhook.ServerOptions{AllowLoopback: true, RoundTripper: back})
	c := webhook.NewClient(&webhook.ClientOptions{ServerURL: url, Logger: quietLogger()})
	if _, err := c.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan *jsonrpc.Response, 1)
	go func() {
		r, _ := c.RoundTrip(t.Context(), statelessReq(t, 1, "tools/list", nil), nil)
		done <- r
	}()
	<-back.took
	s.Close()
	r := <-done
	var we *jsonrpc.Error
	if r == nil || !errors.As(r.Error, &we) || we.Code != webhook.CodeTransportError || !strings.Contains(we.Message, "shutting down") {
		t.Errorf("got %v", r)
	}
}

// TestRequestTag checks RequestTag against a value computed outside Go:
// printf 'asyncmcp-tag:%s' KEY | sha256sum | cut -c1-32.
func TestRequestTag(t *testing.T) {
	if got := webhook.RequestTag("9c4e1f2a7b3d4c5e8f60718293a4b5c6"); got != "77cc3833665c22c8c75a22ed8cda05d1" {
		t.Errorf("RequestTag = %s", got)
	}
}
