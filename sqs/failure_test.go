// SPDX-License-Identifier: Apache-2.0

package sqs_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/internal/wire"
	"github.com/asyncmcp/asyncmcp-go/sqs"
	"github.com/asyncmcp/asyncmcp-go/transporttest"
	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const guard = 120 * time.Second // hang guard, not a timing assertion

func connect(t testing.TB, ctx context.Context, tr mcp.Transport, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "sqs-test", Version: "1"}, opts).
		Connect(ctx, tr, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connecting MCP client: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func text(t testing.TB, res *mcp.CallToolResult) string {
	t.Helper()
	if len(res.Content) == 0 {
		t.Fatalf("tool result has no content: %+v", res)
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		t.Fatalf("tool result is %T, want text", res.Content[0])
	}
	return tc.Text
}

// TestEverythingServer puts the Go SDK conformance everything-server (a
// stdio child) behind the SQS Listener with bridge.Serve, and drives it
// with an mcp.Client over the SQS client transport: tools, progress, and
// sampling and elicitation requests from the server answered by the client.
func TestEverythingServer(t *testing.T) {
	f := testenv.StartFauxqs(t)
	bin := testenv.GoEverythingServer(t)
	req, resp := newQueue(t, f, "req", nil), newQueue(t, f, "resp", nil)
	l := listen(t, f, sqs.ServerConfig{QueueURL: req})
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	serveCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() {
		served <- bridge.Serve(serveCtx, l, bridge.TransportDialer(func() mcp.Transport {
			return &mcp.CommandTransport{Command: exec.Command(bin)}
		}), nil)
	}()
	t.Cleanup(func() { l.Close(); stop(); <-served })

	c := newClient(t, f, sqs.ClientConfig{QueueURL: req, ResponseQueueURL: resp})
	var progress atomic.Int32
	cs := connect(t, ctx, c.Transport(), &mcp.ClientOptions{
		ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) { progress.Add(1) },
		CreateMessageHandler: func(_ context.Context, r *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Model: "test-model", Role: "assistant", Content: &mcp.TextContent{Text: "sampled over SQS"}}, nil
		},
		ElicitationHandler: func(_ context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"username": "queue-user", "email": "q@example.com"}}, nil
		},
	})

	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_simple_text"})
	if err != nil {
		t.Fatalf("test_simple_text: %v", err)
	}
	t.Logf("test_simple_text: %s", text(t, res))

	p := &mcp.CallToolParams{Name: "test_tool_with_progress"}
	p.SetProgressToken("tok-1")
	res, err = cs.CallTool(ctx, p)
	if err != nil {
		t.Fatalf("test_tool_with_progress: %v", err)
	}
	if got := text(t, res); got != "tok-1" {
		t.Errorf("progress tool returned %q, want the token", got)
	}
	if n := progress.Load(); n != 3 {
		t.Errorf("got %d progress notifications, want 3", n)
	}

	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_sampling", Arguments: map[string]any{"prompt": "hi"}})
	if err != nil {
		t.Fatalf("test_sampling: %v", err)
	}
	if got := text(t, res); got != "LLM response: sampled over SQS" {
		t.Errorf("sampling tool returned %q", got)
	}

	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_elicitation", Arguments: map[string]any{"message": "who?"}})
	if err != nil {
		t.Fatalf("test_elicitation: %v", err)
	}
	if got := text(t, res); !strings.Contains(got, "accept") {
		t.Errorf("elicitation tool returned %q, want it to report the accepted answer", got)
	}
}

// TestTwentySessionsOneQueuePair runs 20 concurrent sessions of one client
// over one request queue and one response queue.
func TestTwentySessionsOneQueuePair(t *testing.T) {
	f := testenv.StartFauxqs(t)
	req, resp := newQueue(t, f, "req", nil), newQueue(t, f, "resp", nil)
	l := listen(t, f, sqs.ServerConfig{QueueURL: req})
	transporttest.ServeMCP(t, l, transporttest.NewServer())
	c := newClient(t, f, sqs.ClientConfig{QueueURL: req, ResponseQueueURL: resp})
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	const sessions, calls = 20, 10
	var wg sync.WaitGroup
	var ok atomic.Int32
	for i := range sessions {
		cs := connect(t, ctx, c.Transport(), nil)
		wg.Go(func() {
			for k := range calls {
				want := fmt.Sprintf("s%d-c%d-%s", i, k, cs.ID())
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": want}})
				if err != nil {
					t.Errorf("session %d call %d: %v", i, k, err)
					return
				}
				if got := text(t, res); got != want {
					t.Errorf("cross-talk: session %d call %d got %q", i, k, got)
					return
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if n := ok.Load(); n != sessions*calls {
		t.Errorf("%d of %d calls answered correctly", n, sessions*calls)
	}
}

// raw is a bare SQS peer used to put hand-made messages on the wire.
type raw struct {
	t    testing.TB
	c    *awssqs.Client
	resp string
}

func (r raw) send(queue, body string, attrs wire.Attributes) {
	r.t.Helper()
	in := &awssqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String(body), MessageAttributes: map[string]sqstypes.MessageAttributeValue{}}
	for k, v := range attrs {
		in.MessageAttributes[k] = sqstypes.MessageAttributeValue{DataType: aws.String(v.DataType), StringValue: aws.String(v.Value)}
	}
	if wire.IsFIFO(queue) {
		in.MessageGroupId = aws.String("g")
		in.MessageDeduplicationId = aws.String(wire.NewID())
	}
	if _, err := r.c.SendMessage(context.Background(), in); err != nil {
		r.t.Fatalf("raw send: %v", err)
	}
}

// next receives one message from the response queue and deletes it.
func (r raw) next() wire.Decoded {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	for ctx.Err() == nil {
		out, err := r.c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(r.resp), MaxNumberOfMessages: 1, WaitTimeSeconds: 20, MessageAttributeNames: []string{"All"}})
		if err != nil {
			r.t.Fatalf("raw receive: %v", err)
		}
		for _, m := range out.Messages {
			r.c.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: aws.String(r.resp), ReceiptHandle: m.ReceiptHandle})
			attrs := wire.Attributes{}
			for k, v := range m.MessageAttributes {
				attrs[k] = wire.Attr{DataType: aws.ToString(v.DataType), Value: aws.ToString(v.StringValue)}
			}
			return wire.Decode(aws.ToString(m.Body), attrs)
		}
	}
	r.t.Fatal("raw receive: nothing arrived")
	return wire.Decoded{}
}

func (r raw) expectError(wantID any, wantCode int64) {
	r.t.Helper()
	d := r.next()
	resp, ok := d.Msg.(*jsonrpc.Response)
	if !ok {
		r.t.Fatalf("got %s, want an error response", d.Body)
	}
	code, isErr := wire.ErrorCode(resp)
	if !isErr || code != wantCode || resp.ID.Raw() != wantID {
		r.t.Fatalf("got %s, want error %d for id %v", d.Body, wantCode, wantID)
	}
	r.t.Logf("answered: %s", d.Body)
}

// queueEmpty reports whether queue holds no messages, visible or in flight.
func queueEmpty(t testing.TB, c *awssqs.Client, queue string) bool {
	out, err := c.GetQueueAttributes(context.Background(), &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(queue), AttributeNames: []sqstypes.QueueAttributeName{
		sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
	}})
	if err != nil {
		t.Fatalf("reading queue attributes: %v", err)
	}
	t.Logf("queue %s: %v", queue, out.Attributes)
	return out.Attributes["ApproximateNumberOfMessages"] == "0" && out.Attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
}

// TestPoisonMessages sends malformed, batched, oversized and unknown-session
// messages: each is answered with a JSON-RPC error carrying the request's id
// at its ReplyTo, and removed from the queue.
func TestPoisonMessages(t *testing.T) {
	f := testenv.StartFauxqs(t)
	req, resp := newQueue(t, f, "req", nil), newQueue(t, f, "resp", nil)
	l := listen(t, f, sqs.ServerConfig{QueueURL: req, MaxMessageBytes: 4096})
	transporttest.ServeMCP(t, l, transporttest.NewServer())
	r := raw{t, f.SQS(t), resp}
	at := func(kv ...string) wire.Attributes {
		a := wire.Attributes{wire.AttrReplyTo: {DataType: "String", Value: resp}}
		for i := 0; i < len(kv); i += 2 {
			a[kv[i]] = wire.Attr{DataType: "String", Value: kv[i+1]}
		}
		return a
	}
	r.send(req, `{"jsonrpc":"2.0","id":42,"method":"tools/list"`, at(wire.AttrRequestID, "42", wire.AttrSessionID, "s1"))
	r.expectError(int64(42), jsonrpc.CodeParseError)

	r.send(req, `[{"jsonrpc":"2.0","id":"b1","method":"ping"}]`, at(wire.AttrRequestID, `"b1"`))
	r.expectError("b1", jsonrpc.CodeInvalidRequest)

	r.send(req, `{"jsonrpc":"2.0","id":"u1","method":"tools/list"}`, at(wire.AttrSessionID, "no-such-session"))
	r.expectError("u1", wire.CodeSessionNotFound)

	r.send(req, `{"jsonrpc":"2.0","id":"big","method":"tools/call","params":{"pad":"`+strings.Repeat("x", 5000)+`"}}`, at(wire.AttrSessionID, "s1"))
	r.expectError("big", wire.CodeMessageTooLarge)

	r.send(req, `{"jsonrpc":"2.0","id":"bad-sid","method":"ping"}`, at(wire.AttrSessionID, "has space"))
	r.expectError("bad-sid", jsonrpc.CodeInvalidRequest)

	r.send(req, `{"jsonrpc":"2.0","id":"init-no-reply","method":"initialize","params":{}}`, nil)
	// No reply-to anywhere: logged and deleted. A notification for an
	// unknown session is deleted without an answer.
	r.send(req, `{"jsonrpc":"2.0","method":"notifications/progress","params":{}}`, at(wire.AttrSessionID, "nope"))
	r.send(req, `{"jsonrpc":"2.0","id":"last","method":"ping"}`, at(wire.AttrSessionID, "nope"))
	r.expectError("last", wire.CodeSessionNotFound)
	if !queueEmpty(t, f.SQS(t), req) {
		t.Error("poison messages left on the request queue")
	}
}

// TestMessageTooLarge: a request too large for the queue fails at once with
// an error naming the limit, and the session goes on working; a response too
// large reaches the caller as a JSON-RPC error.
func TestMessageTooLarge(t *testing.T) {
	f := testenv.StartFauxqs(t)
	req, resp := newQueue(t, f, "req", nil), newQueue(t, f, "resp", nil)
	l := listen(t, f, sqs.ServerConfig{QueueURL: req})
	srv := transporttest.NewServer()
	mcp.AddTool(srv, &mcp.Tool{Name: "huge"}, func(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Repeat("y", wire.SQSMaxBytes)}}}, nil, nil
	})
	transporttest.ServeMCP(t, l, srv)
	c := newClient(t, f, sqs.ClientConfig{QueueURL: req, ResponseQueueURL: resp})
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	cs := connect(t, ctx, c.Transport(), nil)

	_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": strings.Repeat("z", wire.SQSMaxBytes)}})
	if err == nil || !strings.Contains(err.Error(), "1048576-byte limit") {
		t.Fatalf("oversized request: err = %v, want one naming the 1048576-byte limit", err)
	}
	t.Logf("oversized request: %v", err)

	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "huge"})
	if err == nil || !strings.Contains(err.Error(), "1048576-byte limit") {
		t.Fatalf("oversized response: err = %v, want one naming the limit", err)
	}
	t.Logf("oversized response: %v", err)

	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "still here"}})
	if err != nil || text(t, res) != "still here" {
		t.Fatalf("session broken after oversized messages: %v", err)
	}
}

// TestRedeliveredRequestRunsOnce sends the same request twice while it runs
// and once more after it was answered: the tool runs once, the duplicate
// while running gets no second execution, the late one gets the cached
// answer, and all copies are deleted.
func TestRedeliveredRequestRunsOnce(t *testing.T) {
	f := testenv.StartFauxqs(t)
	req, resp := newQueue(t, f, "req", nil), newQueue(t, f, "resp", nil)
	l := listen(t, f, sqs.ServerConfig{QueueURL: req})
	srv := transporttest.NewServer()
	var runs atomic.Int32
	started, release := make(chan struct{}, 1), make(chan struct{})
	mcp.AddTool(srv, &mcp.Tool{Name: "count"}, func(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
		n := runs.Add(1)
		started <- struct{}{}
		<-release
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(n)}}}, nil, nil
	})
	transporttest.ServeMCP(t, l, srv)
	r := raw{t, f.SQS(t), resp}
	attrs := func(method, id string) wire.Attributes {
		a := wire.Attributes{wire.AttrSessionID: {DataType: "String", Value: "sess-1"}, wire.AttrClientID: {DataType: "String", Value: "raw"}, wire.AttrReplyTo: {DataType: "String", Value: resp}, wire.AttrMethod: {DataType: "String", Value: method}}
		if id != "" {
			a[wire.AttrRequestID] = wire.Attr{DataType: "String", Value: id}
		}
		return a
	}
	r.send(req, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"},"_meta":{"responseQueueUrl":"`+resp+`"}}}`, attrs("initialize", "1"))
	if d := r.next(); d.SessionID != "sess-1" || d.ClientID != "raw" || d.Attrs.Get(wire.AttrRequestID) != "1" {
		t.Fatalf("initialize response attributes: %v", d.Attrs)
	}
	r.send(req, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, attrs("notifications/initialized", ""))
	call := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"count","arguments":{}}}`
	r.send(req, call, attrs("tools/call", "7"))
	<-started
	r.send(req, call, attrs("tools/call", "7")) // a duplicate while running
	// Let the duplicate be received before answering: a ping sent after it
	// is answered only after the server read it (one poller, in order).
	r.send(req, `{"jsonrpc":"2.0","id":8,"method":"ping"}`, attrs("ping", "8"))
	if d := r.next(); d.ID.Raw() != int64(8) {
		t.Fatalf("want the ping answer, got %s", d.Body)
	}
	close(release)
	first := r.next()
	if first.ID.Raw() != int64(7) || !strings.Contains(first.Body, `"text":"1"`) {
		t.Fatalf("want the answer to 7, got %s", first.Body)
	}
	r.send(req, call, attrs("tools/call", "7")) // a late redelivery
	again := r.next()
	if again.Body != first.Body {
		t.Errorf("re-sent answer %s differs from the first %s", again.Body, first.Body)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("tool ran %d times, want 1", n)
	}
	// Everything handled is gone from the request queue.
	for !queueEmpty(t, f.SQS(t), req) {
		time.Sleep(50 * time.Millisecond) // deletes are batched asynchronously
	}
}

// helperEnv names the request queue when this test binary runs as the
// server process of TestKillAndRestart.
const helperEnv = "ASYNCMCP_SQS_HELPER_QUEUE"

// TestHelperServerProcess is not a test: it is the server process that
// TestKillAndRestart starts and kills.
func TestHelperServerProcess(t *testing.T) {
	queue := os.Getenv(helperEnv)
	if queue == "" {
		t.Skip("helper process for TestKillAndRestart")
	}
	cfg, err := loadAWS()
	if err != nil {
		fmt.Println("HELPER_ERROR", err)
		os.Exit(1)
	}
	l, err := sqs.Listen(sqs.ServerConfig{Client: awssqs.NewFromConfig(cfg), QueueURL: queue, VisibilityTimeout: 2 * time.Second})
	if err != nil {
		fmt.Println("HELPER_ERROR", err)
		os.Exit(1)
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "doomed", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "slow"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		fmt.Println("CALL_STARTED")
		<-ctx.Done() // runs until killed
		return nil, nil, ctx.Err()
	})
	fmt.Println("HELPER_READY")
	for {
		if _, err := srv.Connect(context.Background(), bridge.ListenerTransport{L: l}, nil); err != nil {
			os.Exit(1)
		}
	}
}

// TestKillAndRestart kills (SIGKILL) a server process in the middle of a
// call and starts another server on the same queue: the call is answered
// exactly once, by the new server, after the visibility timeout; the client
// initializes the lost session again by itself.
func TestKillAndRestart(t *testing.T) {
	f := testenv.StartFauxqs(t)
	req, resp := newQueue(t, f, "req", nil), newQueue(t, f, "resp", nil)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServerProcess$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), f.Env()...), helperEnv+"="+req)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitLine := func(want string) {
		t.Helper()
		for line := range lines {
			t.Logf("helper: %s", line)
			if strings.HasPrefix(line, want) {
				return
			}
		}
		t.Fatalf("helper ended before printing %s", want)
	}
	waitLine("HELPER_READY")

	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	c := newClient(t, f, sqs.ClientConfig{QueueURL: req, ResponseQueueURL: resp})
	cs := connect(t, ctx, c.Transport(), nil)
	type result struct {
		res *mcp.CallToolResult
		err error
	}
	done := make(chan result, 2)
	go func() {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "slow"})
		done <- result{res, err}
	}()
	waitLine("CALL_STARTED")
	cmd.Process.Kill()
	cmd.Wait()
	t.Log("server killed mid-call; starting a new one")

	l := listen(t, f, sqs.ServerConfig{QueueURL: req, VisibilityTimeout: 2 * time.Second})
	srv := mcp.NewServer(&mcp.Implementation{Name: "phoenix", Version: "1"}, nil)
	var runs atomic.Int32
	mcp.AddTool(srv, &mcp.Tool{Name: "slow"}, func(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
		runs.Add(1)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "answered after restart"}}}, nil, nil
	})
	transporttest.ServeMCP(t, l, srv)

	r := <-done
	if r.err != nil {
		t.Fatalf("call across the restart: %v", r.err)
	}
	if got := text(t, r.res); got != "answered after restart" {
		t.Errorf("got %q", got)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("new server ran the call %d times, want 1", n)
	}
	// The session goes on working on the new server.
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "slow"})
	if err != nil || text(t, res) != "answered after restart" {
		t.Fatalf("call after the restart: %v", err)
	}
	select {
	case extra := <-done:
		t.Errorf("a second answer arrived: %+v", extra)
	default:
	}
}

// TestFIFO runs the conformance suite over FIFO queues.
func TestFIFO(t *testing.T) {
	f := testenv.StartFauxqs(t)
	transporttest.Run(t, func(t *testing.T) (mcp.Transport, bridge.Listener) {
		req := f.CreateQueue(t, fmt.Sprintf("req-%d.fifo", queueSeq.Add(1)), nil)
		l := listen(t, f, sqs.ServerConfig{QueueURL: req})
		c := newClient(t, f, sqs.ClientConfig{QueueURL: req}) // creates its own FIFO response queue
		return c.Transport(), l
	})
}
