// SPDX-License-Identifier: Apache-2.0

package sqs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/queuecore"
	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/internal/wire"
	"github.com/asyncmcp/asyncmcp-go/sqs"
	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Tests of stateless (2026-07-28) requests over SQS: the client's
// RoundTrip, the server's queue handling, and the Go SDK everything-server
// (a real 2026-07-28 server) behind a test-scaffolding RoundTripper.

// modernReq builds a 2026-07-28 request with the _meta envelope.
func modernReq(t testing.TB, id any, method string, params map[string]any) *jsonrpc.Request {
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
	meta[rpcmsg.MetaClientInfo] = map[string]any{"name": "asyncmcp-test", "version": "0"}
	params["_meta"] = meta
	p, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := id.(int); ok {
		id = float64(n) // jsonrpc.MakeID takes JSON numbers as float64
	}
	jid, err := jsonrpc.MakeID(id)
	if err != nil {
		t.Fatal(err)
	}
	return &jsonrpc.Request{ID: jid, Method: method, Params: p}
}

func toolCall(t testing.TB, id any, tool string, args map[string]any, progressToken string) *jsonrpc.Request {
	p := map[string]any{"name": tool, "arguments": args}
	if progressToken != "" {
		p["_meta"] = map[string]any{"progressToken": progressToken}
	}
	return modernReq(t, id, "tools/call", p)
}

// firstText returns result.content[0].text and result.resultType.
func firstText(t testing.TB, r *jsonrpc.Response) (text, resultType string) {
	t.Helper()
	if r.Error != nil {
		t.Fatalf("error response: %v", r.Error)
	}
	var res struct {
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
		ResultType string `json:"resultType"`
	}
	if err := json.Unmarshal(r.Result, &res); err != nil || len(res.Content) == 0 {
		t.Fatalf("result %s: %v", r.Result, err)
	}
	return res.Content[0].Text, res.ResultType
}

func errCode(t testing.TB, r *jsonrpc.Response) int64 {
	t.Helper()
	code, isErr := wire.ErrorCode(r)
	if !isErr {
		t.Fatalf("want an error response, got result %s", r.Result)
	}
	return code
}

// A logRecorder keeps the messages logged through it, and forwards to
// quietLog.
type logRecorder struct {
	mu   *sync.Mutex
	msgs *[]string
	next slog.Handler
}

func newLogRecorder() (*slog.Logger, *logRecorder) {
	r := &logRecorder{mu: &sync.Mutex{}, msgs: &[]string{}, next: quietLog.Handler()}
	return slog.New(r), r
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(ctx context.Context, rec slog.Record) error {
	r.mu.Lock()
	*r.msgs = append(*r.msgs, rec.Message)
	r.mu.Unlock()
	if r.next.Enabled(ctx, rec.Level) {
		return r.next.Handle(ctx, rec)
	}
	return nil
}
func (r *logRecorder) WithAttrs(a []slog.Attr) slog.Handler {
	return &logRecorder{mu: r.mu, msgs: r.msgs, next: r.next.WithAttrs(a)}
}
func (r *logRecorder) WithGroup(g string) slog.Handler {
	return &logRecorder{mu: r.mu, msgs: r.msgs, next: r.next.WithGroup(g)}
}

// count returns how many logged messages contain s.
func (r *logRecorder) count(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range *r.msgs {
		if strings.Contains(m, s) {
			n++
		}
	}
	return n
}

// waitFor polls cond until it holds; the bound only keeps a broken build
// from hanging, it is not what the test measures.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// queueDrained reports whether a queue holds no messages, visible or not.
func queueDrained(t testing.TB, c *awssqs.Client, url string) bool {
	out, err := c.GetQueueAttributes(context.Background(), &awssqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		t.Fatalf("queue attributes of %s: %v", url, err)
	}
	return out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)] == "0" &&
		out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)] == "0"
}

// sendRaw sends a hand-made envelope to a queue, as another client would.
func sendRaw(t testing.TB, c *awssqs.Client, url string, env wire.Envelope) {
	t.Helper()
	if err := (queuecore.SQSSender{Client: c}).Send(context.Background(), url, env); err != nil {
		t.Fatal(err)
	}
}

// receiveRaw returns the next message of a queue, decoded, and deletes it.
func receiveRaw(t testing.TB, c *awssqs.Client, url string) wire.Decoded {
	t.Helper()
	for range 10 {
		out, err := c.ReceiveMessage(context.Background(), &awssqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 1, WaitTimeSeconds: 5, MessageAttributeNames: []string{"All"},
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			c.DeleteMessage(context.Background(), &awssqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle})
			return wire.Decode(aws.ToString(m.Body), queuecore.FromSQS(m.MessageAttributes))
		}
	}
	t.Fatalf("no message on %s", url)
	return wire.Decoded{}
}

// modernSetup starts a server with the Go everything-server behind the
// scaffold RoundTripper, and a client.
type modernSetup struct {
	f        *testenv.Fauxqs
	req      string
	resp     string
	back     *testenv.ScaffoldRoundTripper
	listener *sqs.Listener
	client   *sqs.Client
	logs     *logRecorder
}

func startModern(t *testing.T, srv sqs.ServerConfig, cli sqs.ClientConfig) *modernSetup {
	f := testenv.StartFauxqs(t)
	m := &modernSetup{f: f, req: newQueue(t, f, "req", nil), resp: newQueue(t, f, "resp", nil)}
	m.back = testenv.StartScaffoldRoundTripper(t, testenv.GoEverythingServer(t))
	srv.QueueURL = m.req
	if srv.RoundTripper == nil {
		srv.RoundTripper = m.back
	}
	srv.Logger, m.logs = newLogRecorder()
	m.listener = listen(t, f, srv)
	cli.QueueURL, cli.ResponseQueueURL = m.req, m.resp
	m.client = newClient(t, f, cli)
	return m
}

func TestStatelessToolsCall(t *testing.T) {
	m := startModern(t, sqs.ServerConfig{}, sqs.ClientConfig{})
	rt := bridge.Dialer(m.client.Dialer()).(bridge.RoundTripper) // what a front does
	resp, err := rt.RoundTrip(t.Context(), toolCall(t, "call-1", "test_simple_text", nil, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	text, rtype := firstText(t, resp)
	if text != "This is a simple text response for testing." || rtype != "complete" || resp.ID.Raw() != "call-1" {
		t.Errorf("got %q, resultType %q, id %v", text, rtype, resp.ID.Raw())
	}
	resp, err = m.client.RoundTrip(t.Context(), modernReq(t, 2, "server/discover", nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Error != nil || !strings.Contains(string(resp.Result), `"supportedVersions"`) {
		t.Errorf("server/discover: %v %s", resp.Error, resp.Result)
	}
	if n := m.back.Started("tools/call", "test_simple_text"); n != 1 {
		t.Errorf("back ran tools/call %d times, want 1", n)
	}
	waitFor(t, "request queue drained", func() bool { return queueDrained(t, m.f.SQS(t), m.req) })
}

// TestStatelessProgressRoutedToCaller runs two calls with the same JSON-RPC
// id at once: each caller gets its own progress and result.
func TestStatelessProgressRoutedToCaller(t *testing.T) {
	m := startModern(t, sqs.ServerConfig{}, sqs.ClientConfig{})
	var wg sync.WaitGroup
	for _, tok := range []string{"tok-a", "tok-b", "tok-c"} {
		wg.Go(func() {
			var mu sync.Mutex
			var got []string
			notify := func(n *jsonrpc.Request) {
				var p struct {
					Token    string  `json:"progressToken"`
					Progress float64 `json:"progress"`
				}
				json.Unmarshal(n.Params, &p)
				mu.Lock()
				got = append(got, fmt.Sprintf("%s %s %v", n.Method, p.Token, p.Progress))
				mu.Unlock()
			}
			resp, err := m.client.RoundTrip(t.Context(), toolCall(t, 1, "test_tool_with_progress", nil, tok), notify)
			if err != nil {
				t.Error(err)
				return
			}
			// The tool echoes the progress token it saw, which is the
			// back's rewritten one: check only that a result came.
			firstText(t, resp)
			mu.Lock()
			defer mu.Unlock()
			want := []string{"notifications/progress " + tok + " 0", "notifications/progress " + tok + " 50", "notifications/progress " + tok + " 100"}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("caller %s got notifications %q, want %q", tok, got, want)
			}
		})
	}
	wg.Wait()
}

// TestStatelessTwoServersShareQueue runs two servers, each with its own
// child, on one request queue: both answer, every request is run once.
func TestStatelessTwoServersShareQueue(t *testing.T) {
	m := startModern(t, sqs.ServerConfig{MaxMessages: 1}, sqs.ClientConfig{})
	other := testenv.StartScaffoldRoundTripper(t, testenv.GoEverythingServer(t))
	listen(t, m.f, sqs.ServerConfig{QueueURL: m.req, MaxMessages: 1, RoundTripper: other})
	sent := 0
	for round := 0; round < 20 && (m.back.Started("tools/call") == 0 || other.Started("tools/call") == 0); round++ {
		var wg sync.WaitGroup
		for i := range 10 {
			id := fmt.Sprintf("r%d-%d", round, i)
			sent++
			wg.Go(func() {
				resp, err := m.client.RoundTrip(t.Context(), toolCall(t, id, "test_simple_text", nil, ""), nil)
				if err != nil {
					t.Error(err)
					return
				}
				if text, _ := firstText(t, resp); text != "This is a simple text response for testing." || resp.ID.Raw() != id {
					t.Errorf("request %s answered %q with id %v", id, text, resp.ID.Raw())
				}
			})
		}
		wg.Wait()
	}
	a, b := m.back.Started("tools/call"), other.Started("tools/call")
	t.Logf("%d requests: server 1 ran %d, server 2 ran %d", sent, a, b)
	if a == 0 || b == 0 {
		t.Errorf("one server answered nothing: %d and %d", a, b)
	}
	if a+b != sent {
		t.Errorf("%d requests ran %d times", sent, a+b)
	}
}

// TestStatelessDuplicateRunsOnce sends one request three times (the same
// ClientId and RequestKey, as a retrying sender would): the back runs it
// once, and the copy that arrives after the answer gets the answer again.
func TestStatelessDuplicateRunsOnce(t *testing.T) {
	m := startModern(t, sqs.ServerConfig{}, sqs.ClientConfig{})
	sc := m.f.SQS(t)
	replyTo := newQueue(t, m.f, "raw-replies", nil)
	key := wire.NewID()
	env, err := wire.EncodeModern(toolCall(t, "dup", "test_tool_with_progress", nil, "p"), wire.ModernHeader{ClientID: "raw-client", ReplyTo: replyTo, RequestKey: key})
	if err != nil {
		t.Fatal(err)
	}
	sendRaw(t, sc, m.req, env)
	sendRaw(t, sc, m.req, env)
	responses := 0
	var first string
	for responses == 0 {
		d := receiveRaw(t, sc, replyTo)
		if d.Attrs.Get(wire.AttrRequestKey) != key || d.ClientID != "raw-client" {
			t.Fatalf("reply with routing %v", d.Attrs)
		}
		if r, ok := d.Msg.(*jsonrpc.Response); ok {
			responses++
			first, _ = firstText(t, r)
		}
	}
	sendRaw(t, sc, m.req, env)
	for {
		d := receiveRaw(t, sc, replyTo)
		if r, ok := d.Msg.(*jsonrpc.Response); ok {
			if text, _ := firstText(t, r); text != first || r.ID.Raw() != "dup" {
				t.Errorf("re-sent answer %q id %v", text, r.ID.Raw())
			}
			break
		}
	}
	waitFor(t, "request queue drained", func() bool { return queueDrained(t, sc, m.req) })
	if n := m.back.Started("tools/call"); n != 1 {
		t.Errorf("back ran the request %d times, want 1", n)
	}
}

// TestStatelessCancel opens a listen, sends a cancel with a wrong
// RequestKey (ignored: the listen keeps delivering), then cancels for real
// through the caller's context (the back sees the cancel).
func TestStatelessCancel(t *testing.T) {
	m := startModern(t, sqs.ServerConfig{}, sqs.ClientConfig{})
	notes := make(chan *jsonrpc.Request, 16)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := m.client.RoundTrip(ctx, modernReq(t, "listen-1", "subscriptions/listen", map[string]any{"notifications": map[string]any{"toolsListChanged": true}}),
			func(n *jsonrpc.Request) { notes <- n })
		done <- err
	}()
	next := func() *jsonrpc.Request {
		select {
		case n := <-notes:
			return n
		case err := <-done:
			t.Fatalf("listen ended: %v", err)
		case <-time.After(60 * time.Second):
			t.Fatal("no notification on the listen")
		}
		return nil
	}
	if n := next(); n.Method != "notifications/subscriptions/acknowledged" || !strings.Contains(string(n.Params), `"listen-1"`) {
		t.Fatalf("first listen message %s %s", n.Method, n.Params)
	}

	wrong := &jsonrpc.Request{Method: wire.MethodCancelled, Params: json.RawMessage(`{"requestId":"listen-1"}`)}
	env, _ := wire.EncodeModern(wrong, wire.ModernHeader{ClientID: m.client.ClientID(), RequestKey: wire.NewID()})
	sendRaw(t, m.f.SQS(t), m.req, env)
	waitFor(t, "the wrong cancel to be handled", func() bool { return m.logs.count("cancel matches no stateless request") == 1 })

	resp, err := m.client.RoundTrip(t.Context(), toolCall(t, 2, "test_trigger_tool_change", nil, ""), nil)
	if err != nil || resp.Error != nil {
		t.Fatalf("trigger: %v %v", err, resp.Error)
	}
	if n := next(); n.Method != "notifications/tools/list_changed" || !strings.Contains(string(n.Params), `"listen-1"`) {
		t.Fatalf("listen message after the wrong cancel: %s %s", n.Method, n.Params)
	}
	if m.back.Cancelled() != 0 {
		t.Fatal("the back saw a cancel before the real one")
	}

	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("RoundTrip after cancel: %v", err)
	}
	waitFor(t, "the back to see the cancel", func() bool { return m.back.Cancelled() == 1 })
	waitFor(t, "request queue drained", func() bool { return queueDrained(t, m.f.SQS(t), m.req) })
}

// TestStatelessListenTimeout: the server ends a listen with the graceful
// listen result.
func TestStatelessListenTimeout(t *testing.T) {
	m := startModern(t, sqs.ServerConfig{ListenTimeout: time.Second}, sqs.ClientConfig{})
	resp, err := m.client.RoundTrip(t.Context(), modernReq(t, 7, "subscriptions/listen", map[string]any{"notifications": map[string]any{"toolsListChanged": true}}), nil)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		ResultType string         `json:"resultType"`
		Meta       map[string]any `json:"_meta"`
	}
	if resp.Error != nil || json.Unmarshal(resp.Result, &res) != nil || res.ResultType != "complete" || res.Meta[rpcmsg.MetaSubscriptionID] != float64(7) {
		t.Errorf("listen result %v %s", resp.Error, resp.Result)
	}
	waitFor(t, "the back to see the listen cancelled", func() bool { return m.back.Cancelled() == 1 })
}

func TestStatelessRejections(t *testing.T) {
	m := startModern(t, sqs.ServerConfig{MaxMessageBytes: 4096}, sqs.ClientConfig{})
	big := strings.Repeat("x", 8000)

	t.Run("request over the server's limit", func(t *testing.T) {
		resp, err := m.client.RoundTrip(t.Context(), toolCall(t, 1, "test_simple_text", map[string]any{"pad": big}, ""), nil)
		if err != nil {
			t.Fatal(err)
		}
		if code := errCode(t, resp); code != wire.CodeMessageTooLarge {
			t.Errorf("code %d, want %d", code, wire.CodeMessageTooLarge)
		}
	})
	t.Run("request over the client's limit", func(t *testing.T) {
		c := newClient(t, m.f, sqs.ClientConfig{QueueURL: m.req, MaxMessageBytes: 1024})
		resp, err := c.RoundTrip(t.Context(), toolCall(t, 1, "test_simple_text", map[string]any{"pad": big}, ""), nil)
		if err != nil {
			t.Fatal(err)
		}
		if code := errCode(t, resp); code != wire.CodeMessageTooLarge {
			t.Errorf("code %d, want %d", code, wire.CodeMessageTooLarge)
		}
	})
	t.Run("response over the server's limit", func(t *testing.T) {
		// tools/list of the everything-server is far over 4 KiB.
		resp, err := m.client.RoundTrip(t.Context(), modernReq(t, 3, "tools/list", nil), nil)
		if err != nil {
			t.Fatal(err)
		}
		if code := errCode(t, resp); code != wire.CodeMessageTooLarge || resp.ID.Raw() != float64(3) && resp.ID.Raw() != int64(3) {
			t.Errorf("got %v for id %v, want %d", resp.Error, resp.ID.Raw(), wire.CodeMessageTooLarge)
		}
	})
	sc := m.f.SQS(t)
	replyTo := newQueue(t, m.f, "raw-replies", nil)
	t.Run("McpName differs from the body", func(t *testing.T) {
		env, _ := wire.EncodeModern(toolCall(t, "x", "test_simple_text", nil, ""), wire.ModernHeader{ClientID: "raw", ReplyTo: replyTo, RequestKey: wire.NewID()})
		env.Attrs[wire.AttrMcpName] = wire.Attr{DataType: wire.TypeString, Value: "test_error_handling"}
		sendRaw(t, sc, m.req, env)
		d := receiveRaw(t, sc, replyTo)
		r, ok := d.Msg.(*jsonrpc.Response)
		if !ok || r.ID.Raw() != "x" || d.Attrs.Get(wire.AttrRequestKey) != env.Attrs.Get(wire.AttrRequestKey) {
			t.Fatalf("reply %s %v", d.Body, d.Attrs)
		}
		if code := errCode(t, r); code != rpcmsg.CodeHeaderMismatch {
			t.Errorf("code %d, want %d", code, rpcmsg.CodeHeaderMismatch)
		}
	})
	t.Run("no ReplyTo", func(t *testing.T) {
		env, _ := wire.EncodeModern(toolCall(t, "y", "test_simple_text", nil, ""), wire.ModernHeader{ClientID: "raw", RequestKey: wire.NewID()})
		sendRaw(t, sc, m.req, env)
		waitFor(t, "the request to be dropped", func() bool { return m.logs.count("without ReplyTo") == 1 })
		waitFor(t, "request queue drained", func() bool { return queueDrained(t, sc, m.req) })
	})
	if n := m.back.Started("tools/call"); n != 0 {
		t.Errorf("back ran %d rejected requests", n)
	}
	if n := m.back.Started("tools/list"); n != 1 {
		t.Errorf("back ran tools/list %d times, want 1", n)
	}
}

// TestStatelessWithoutRoundTripper: a server whose back serves only
// sessions answers stateless requests with -32022 naming the versions it
// has, so a probing client falls back to initialize.
func TestStatelessWithoutRoundTripper(t *testing.T) {
	f := testenv.StartFauxqs(t)
	req := newQueue(t, f, "req", nil)
	listen(t, f, sqs.ServerConfig{QueueURL: req})
	c := newClient(t, f, sqs.ClientConfig{QueueURL: req})
	resp, err := c.RoundTrip(t.Context(), modernReq(t, 1, "server/discover", nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if code := errCode(t, resp); code != rpcmsg.CodeUnsupportedProtocolVersion {
		t.Errorf("code %d, want %d", code, rpcmsg.CodeUnsupportedProtocolVersion)
	}
}

// TestStatelessFIFO runs stateless requests over FIFO queues: the request
// is deleted when taken (its group, the RequestKey, is free for its
// cancel), the queue deduplicates a second send by RequestKey, and the
// reply stream stays in order.
func TestStatelessFIFO(t *testing.T) {
	f := testenv.StartFauxqs(t)
	reqQ := f.CreateQueue(t, fmt.Sprintf("fifo-req-%d.fifo", queueSeq.Add(1)), nil)
	respQ := f.CreateQueue(t, fmt.Sprintf("fifo-resp-%d.fifo", queueSeq.Add(1)), nil)
	back := testenv.StartScaffoldRoundTripper(t, testenv.GoEverythingServer(t))
	listen(t, f, sqs.ServerConfig{QueueURL: reqQ, RoundTripper: back})
	c := newClient(t, f, sqs.ClientConfig{QueueURL: reqQ, ResponseQueueURL: respQ})

	var got []string
	resp, err := c.RoundTrip(t.Context(), toolCall(t, 1, "test_tool_with_progress", nil, "fifo"), func(n *jsonrpc.Request) {
		got = append(got, n.Method)
	})
	if err != nil {
		t.Fatal(err)
	}
	firstText(t, resp)
	if len(got) != 3 {
		t.Errorf("got notifications %q, want 3 progress", got)
	}

	// A second send of one request within the dedup window is dropped by
	// the queue.
	replyTo := f.CreateQueue(t, fmt.Sprintf("fifo-raw-%d.fifo", queueSeq.Add(1)), nil)
	env, _ := wire.EncodeModern(toolCall(t, "d", "test_simple_text", nil, ""), wire.ModernHeader{ClientID: "raw", ReplyTo: replyTo, RequestKey: wire.NewID()})
	sendRaw(t, f.SQS(t), reqQ, env)
	sendRaw(t, f.SQS(t), reqQ, env)
	if d := receiveRaw(t, f.SQS(t), replyTo); d.Msg == nil {
		t.Fatalf("reply %s", d.Body)
	}
	waitFor(t, "request queue drained", func() bool { return queueDrained(t, f.SQS(t), reqQ) })
	if n := back.Started("tools/call", "test_simple_text"); n != 1 {
		t.Errorf("back ran the request sent twice %d times", n)
	}

	// A listen cancelled through the caller's context reaches the back.
	ctx, cancel := context.WithCancel(t.Context())
	acked := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		_, err := c.RoundTrip(ctx, modernReq(t, "l", "subscriptions/listen", map[string]any{"notifications": map[string]any{"toolsListChanged": true}}),
			func(*jsonrpc.Request) {
				select {
				case acked <- struct{}{}:
				default:
				}
			})
		done <- err
	}()
	select {
	case <-acked:
	case err := <-done:
		t.Fatalf("listen ended: %v", err)
	}
	cancel()
	<-done
	waitFor(t, "the back to see the cancel", func() bool { return back.Cancelled() == 1 })
}

// TestStatelessUnknownVersion: a request declaring a version nobody knows
// (a probe) is not session traffic: it reaches the back, which answers
// -32022 with the versions it supports.
func TestStatelessUnknownVersion(t *testing.T) {
	m := startModern(t, sqs.ServerConfig{}, sqs.ClientConfig{})
	req := modernReq(t, 1, "tools/list", nil)
	req.Params = json.RawMessage(strings.Replace(string(req.Params), rpcmsg.ModernVersion, "v999.0.0", 1))
	resp, err := m.client.RoundTrip(t.Context(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code := errCode(t, resp); code != rpcmsg.CodeUnsupportedProtocolVersion {
		t.Errorf("code %d, want %d: %v", code, rpcmsg.CodeUnsupportedProtocolVersion, resp.Error)
	}
	if n := m.back.Started("tools/list"); n != 1 {
		t.Errorf("back saw the request %d times, want 1", n)
	}
}

// countingStuckBack takes requests and never answers; it counts the
// requests whose context ended.
type countingStuckBack struct {
	mu        sync.Mutex
	started   int
	cancelled int
}

func (b *countingStuckBack) RoundTrip(ctx context.Context, req *jsonrpc.Request, _ func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	b.mu.Lock()
	b.started++
	b.mu.Unlock()
	<-ctx.Done()
	b.mu.Lock()
	b.cancelled++
	b.mu.Unlock()
	return nil, ctx.Err()
}

func (b *countingStuckBack) counts() (started, cancelled int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.started, b.cancelled
}

// TestStatelessTimeoutAndClose: a request unanswered within the client's
// RequestTimeout gets a JSON-RPC error and is cancelled on the server; a
// request in flight when the client closes gets an error at once.
func TestStatelessTimeoutAndClose(t *testing.T) {
	f := testenv.StartFauxqs(t)
	req := newQueue(t, f, "req", nil)
	back := &countingStuckBack{}
	listen(t, f, sqs.ServerConfig{QueueURL: req, RoundTripper: back})

	c := newClient(t, f, sqs.ClientConfig{QueueURL: req, RequestTimeout: 500 * time.Millisecond})
	resp, err := c.RoundTrip(t.Context(), toolCall(t, 1, "anything", nil, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	if code := errCode(t, resp); code != wire.CodeRequestTimeout || !strings.Contains(resp.Error.Error(), "no answer") {
		t.Errorf("timeout answered %v", resp.Error)
	}
	waitFor(t, "the server to cancel the timed-out request", func() bool { _, n := back.counts(); return n == 1 })

	c2 := newClient(t, f, sqs.ClientConfig{QueueURL: req})
	done := make(chan *jsonrpc.Response, 1)
	go func() {
		r, _ := c2.RoundTrip(t.Context(), toolCall(t, 2, "anything", nil, ""), nil)
		done <- r
	}()
	waitFor(t, "the server to take the request", func() bool { n, _ := back.counts(); return n == 2 })
	c2.Close()
	if r := <-done; r == nil || errCode(t, r) != bridge.CodeServerUnavailable {
		t.Errorf("request in flight at Close answered %v", r)
	}
	waitFor(t, "the server to cancel the request of the closed client", func() bool { _, n := back.counts(); return n == 2 })
}

// gatedBack holds every request until release is closed, then answers it
// with an empty result; it counts the requests it took.
type gatedBack struct {
	release chan struct{}
	mu      sync.Mutex
	took    int
}

func (b *gatedBack) RoundTrip(ctx context.Context, req *jsonrpc.Request, _ func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	b.mu.Lock()
	b.took++
	b.mu.Unlock()
	select {
	case <-b.release:
		return &jsonrpc.Response{ID: req.ID, Result: json.RawMessage(`{"content":[],"resultType":"complete"}`)}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *gatedBack) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.took
}

// TestStatelessLongCallKeepsItsMessage: a call that runs for several
// visibility timeouts keeps its message hidden (its visibility is
// extended), so a second server reading the queue never runs it too.
func TestStatelessLongCallKeepsItsMessage(t *testing.T) {
	f := testenv.StartFauxqs(t)
	req := newQueue(t, f, "req", nil)
	release := make(chan struct{})
	a, b := &gatedBack{release: release}, &gatedBack{release: release}
	listen(t, f, sqs.ServerConfig{QueueURL: req, VisibilityTimeout: 2 * time.Second, WaitTime: time.Second, RoundTripper: a})
	listen(t, f, sqs.ServerConfig{QueueURL: req, VisibilityTimeout: 2 * time.Second, WaitTime: time.Second, RoundTripper: b})
	c := newClient(t, f, sqs.ClientConfig{QueueURL: req})
	done := make(chan *jsonrpc.Response, 1)
	go func() {
		r, _ := c.RoundTrip(t.Context(), toolCall(t, "long", "x", nil, ""), nil)
		done <- r
	}()
	waitFor(t, "a server to take the call", func() bool { return a.count()+b.count() == 1 })
	// Let the call outlive its visibility timeout several times over: this
	// wait makes the condition under test, it measures nothing.
	time.Sleep(5 * time.Second)
	close(release)
	if r := <-done; r == nil || r.Error != nil {
		t.Fatalf("answer %v", r)
	}
	if n := a.count() + b.count(); n != 1 {
		t.Errorf("the call ran %d times", n)
	}
	waitFor(t, "request queue drained", func() bool { return queueDrained(t, f.SQS(t), req) })
}
