// SPDX-License-Identifier: Apache-2.0

package sqs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/internal/wire"
	"github.com/asyncmcp/asyncmcp-go/sqs"
	"github.com/asyncmcp/asyncmcp-go/transporttest"
	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A rawSession is a hand-driven client session: it sends with the given
// attributes to the request queue and reads its own response queue.
type rawSession struct {
	raw
	req string
	sid string
	key string // SessionKey; "" sends none (like Python asyncmcp)
	// replyTo is sent as ReplyTo; "" sends none (like Python asyncmcp).
	replyTo string
}

func (s rawSession) attrs(method, id string) wire.Attributes {
	a := wire.Attributes{wire.AttrSessionID: {DataType: "String", Value: s.sid}, wire.AttrClientID: {DataType: "String", Value: "raw-" + s.sid}}
	if method != "" {
		a[wire.AttrMethod] = wire.Attr{DataType: "String", Value: method}
	}
	if id != "" {
		a[wire.AttrRequestID] = wire.Attr{DataType: "String", Value: id}
	}
	if s.key != "" {
		a[wire.AttrSessionKey] = wire.Attr{DataType: "String", Value: s.key}
	}
	if s.replyTo != "" {
		a[wire.AttrReplyTo] = wire.Attr{DataType: "String", Value: s.replyTo}
	}
	return a
}

// initialize starts the session and checks the answer.
func (s rawSession) initialize() {
	s.t.Helper()
	s.send(s.req, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"},"_meta":{"responseQueueUrl":"`+s.resp+`"}}}`, s.attrs("initialize", "1"))
	if d := s.next(); d.ID.Raw() != int64(1) || !strings.Contains(d.Body, "protocolVersion") {
		s.t.Fatalf("want the initialize answer, got %s", d.Body)
	}
	s.send(s.req, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, s.attrs("notifications/initialized", ""))
}

// echo sends tools/call echo with a JSON id and text.
func (s rawSession) echo(id, text string) {
	s.t.Helper()
	s.send(s.req, `{"jsonrpc":"2.0","id":`+id+`,"method":"tools/call","params":{"name":"echo","arguments":{"text":"`+text+`"}}}`, s.attrs("tools/call", id))
}

// expectEcho reads the next message and checks it answers id with text.
func (s rawSession) expectEcho(id any, text string) {
	s.t.Helper()
	d := s.next()
	if d.ID.Raw() != id || !strings.Contains(d.Body, `"text":"`+text+`"`) {
		s.t.Fatalf("want the echo %q for id %v, got %s", text, id, d.Body)
	}
}

// TestInjectionRefused: a message naming another client's live session
// without its SessionKey never reaches the session. The sender gets
// "session not found" at its own ReplyTo; the owner sees nothing of it.
func TestInjectionRefused(t *testing.T) {
	f := testenv.StartFauxqs(t)
	req := newQueue(t, f, "req", nil)
	victimQ, attackerQ := newQueue(t, f, "victim", nil), newQueue(t, f, "attacker", nil)
	l := listen(t, f, sqs.ServerConfig{QueueURL: req})
	transporttest.ServeMCP(t, l, transporttest.NewServer())
	victim := rawSession{raw: raw{t, f.SQS(t), victimQ}, req: req, sid: "victim-session", key: wire.NewID(), replyTo: victimQ}
	victim.initialize()

	for i, key := range []string{"", "wrong-key"} {
		attacker := victim
		attacker.raw.resp, attacker.replyTo, attacker.key = attackerQ, attackerQ, key
		attacker.echo(`"inj"`, "injected")
		attacker.expectError("inj", wire.CodeSessionNotFound)
		// A forged ReplyTo naming the victim's queue gets no answer
		// there: that would let a stranger fail the owner's calls.
		attacker.replyTo = victimQ
		attacker.echo(`"inj2"`, "injected")
		victim.echo("10", "mine-"+string(rune('a'+i)))
		// Had either injection run, its answer would come first.
		victim.expectEcho(int64(10), "mine-"+string(rune('a'+i)))
	}
	// Nor does a malformed message with the victim's session and a forged
	// ReplyTo naming the victim's queue make an error arrive there.
	forged := victim
	forged.key = ""
	forged.send(req, `{"jsonrpc":"2.0","id":10,"method":`, forged.attrs("tools/call", "10"))
	victim.echo("12", "after-garbage")
	victim.expectEcho(int64(12), "after-garbage")
	// The end of the session needs the key too.
	victim.send(req, `{"jsonrpc":"2.0","method":"notifications/asyncmcp/sessionEnd","params":{}}`,
		func() wire.Attributes {
			a := victim.attrs(wire.MethodSessionEnd, "")
			delete(a, wire.AttrSessionKey)
			a[wire.AttrMessageType] = wire.Attr{DataType: "String", Value: wire.TypeSessionEnd}
			return a
		}())
	victim.echo("11", "still-mine")
	victim.expectEcho(int64(11), "still-mine")
}

// TestAnswerCacheNotPoisoned: in a session bound to nothing (a client that
// sends no key, on a service without SenderId), a request pre-sent by a
// stranger with the id the owner will use next does not become the owner's
// answer: the owner's request, with another body, runs.
func TestAnswerCacheNotPoisoned(t *testing.T) {
	f := testenv.StartFauxqs(t)
	req, resp := newQueue(t, f, "req", nil), newQueue(t, f, "resp", nil)
	l := listen(t, f, sqs.ServerConfig{QueueURL: req})
	transporttest.ServeMCP(t, l, transporttest.NewServer())
	owner := rawSession{raw: raw{t, f.SQS(t), resp}, req: req, sid: "keyless"}
	owner.initialize()
	owner.echo("7", "planted") // as a stranger would, before the owner
	owner.expectEcho(int64(7), "planted")
	owner.echo("7", "genuine")
	owner.expectEcho(int64(7), "genuine")
}

// TestEndedSessionAnswered: a client that names no ReplyTo (Python
// asyncmcp) gets "session not found" for a message sent after its session
// ended, at the reply-to the session had, instead of silence; and it is not
// sent the session-end message, which it would not understand.
func TestEndedSessionAnswered(t *testing.T) {
	f := testenv.StartFauxqs(t)
	req, resp := newQueue(t, f, "req", nil), newQueue(t, f, "resp", nil)
	l := listen(t, f, sqs.ServerConfig{QueueURL: req, IdleTimeout: 300 * time.Millisecond})
	transporttest.ServeMCP(t, l, transporttest.NewServer())
	py := rawSession{raw: raw{t, f.SQS(t), resp}, req: req, sid: "python-like"}
	py.initialize()
	py.echo("1", "before")
	py.expectEcho(int64(1), "before")
	waitEnded(t, l, py)
	py.echo("2", "after")
	py.expectError(int64(2), wire.CodeSessionNotFound)
}

// waitEnded waits until the server ended s's session (idle timeout): it
// pings until the answer is "session not found". Messages that are not
// answers to those pings fail the test (e.g. a session-end message).
func waitEnded(t *testing.T, l *sqs.Listener, s rawSession) {
	t.Helper()
	for i := 0; ; i++ {
		time.Sleep(400 * time.Millisecond)
		s.send(s.req, `{"jsonrpc":"2.0","id":"p`+string(rune('a'+i%26))+`","method":"ping"}`, s.attrs("ping", ""))
		d := s.next()
		resp, ok := d.Msg.(*jsonrpc.Response)
		if !ok {
			t.Fatalf("got %s (type %s), want only answers to pings", d.Body, d.Type)
		}
		if code, isErr := wire.ErrorCode(resp); isErr && code == wire.CodeSessionNotFound {
			return
		}
		if i > 100 {
			t.Fatal("session never ended")
		}
	}
}

// TestSessionIDNotReused: after a session ended, an initialize with its id
// from anyone else is refused (the stranger would otherwise get the owner's
// next calls); its creator, proving it with the same SessionKey, may start
// it again.
func TestSessionIDNotReused(t *testing.T) {
	f := testenv.StartFauxqs(t)
	req := newQueue(t, f, "req", nil)
	victimQ, attackerQ := newQueue(t, f, "victim", nil), newQueue(t, f, "attacker", nil)
	l := listen(t, f, sqs.ServerConfig{QueueURL: req, IdleTimeout: 300 * time.Millisecond})
	transporttest.ServeMCP(t, l, transporttest.NewServer())
	victim := rawSession{raw: raw{t, f.SQS(t), victimQ}, req: req, sid: "taken", key: wire.NewID(), replyTo: victimQ}
	victim.initialize()
	// Idle expiry; the victim drops the session-end message.
	time.Sleep(400 * time.Millisecond)
	if d := victim.next(); d.Type != wire.TypeSessionEnd {
		t.Fatalf("want session-end, got %s", d.Body)
	}
	attacker := rawSession{raw: raw{t, f.SQS(t), attackerQ}, req: req, sid: "taken", key: wire.NewID(), replyTo: attackerQ}
	attacker.send(req, `{"jsonrpc":"2.0","id":"claim","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"evil","version":"1"},"_meta":{"responseQueueUrl":"`+attackerQ+`"}}}`, attacker.attrs("initialize", `"claim"`))
	attacker.expectError("claim", jsonrpc.CodeInvalidRequest)
	victim.initialize() // the same key: allowed
	victim.echo("3", "mine")
	victim.expectEcho(int64(3), "mine")
}

// TestRequestTimeout: a request nobody answers fails with a JSON-RPC error
// after RequestTimeout, and the client tells the server it gave up.
func TestRequestTimeout(t *testing.T) {
	f := testenv.StartFauxqs(t)
	req, resp := newQueue(t, f, "req", nil), newQueue(t, f, "resp", nil)
	c := newClient(t, f, sqs.ClientConfig{QueueURL: req, ResponseQueueURL: resp, RequestTimeout: 500 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	_, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx, c.Transport(), nil)
	var werr *jsonrpc.Error
	if !errors.As(err, &werr) || werr.Code != wire.CodeRequestTimeout {
		t.Fatalf("connect to a server that never answers: %v, want error %d", err, wire.CodeRequestTimeout)
	}
	// The request queue holds the initialize and then its cancellation.
	var methods []string
	for len(methods) < 2 {
		out, err := f.SQS(t).ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(req), MaxNumberOfMessages: 10, WaitTimeSeconds: 5, MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			methods = append(methods, aws.ToString(m.MessageAttributes[wire.AttrMethod].StringValue))
		}
	}
	if !strings.Contains(strings.Join(methods, ","), "notifications/cancelled") {
		t.Errorf("request queue holds %v, want a notifications/cancelled", methods)
	}
}

// TestProgressKeepsRequestAlive: a call longer than RequestTimeout that
// reports progress more often than that is not cut.
func TestProgressKeepsRequestAlive(t *testing.T) {
	f := testenv.StartFauxqs(t)
	req, resp := newQueue(t, f, "req", nil), newQueue(t, f, "resp", nil)
	l := listen(t, f, sqs.ServerConfig{QueueURL: req})
	srv := transporttest.NewServer()
	mcp.AddTool(srv, &mcp.Tool{Name: "long"}, func(ctx context.Context, r *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		for i := range 12 {
			time.Sleep(250 * time.Millisecond)
			r.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: r.Params.GetProgressToken(), Progress: float64(i)})
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "finished"}}}, nil, nil
	})
	transporttest.ServeMCP(t, l, srv)
	c := newClient(t, f, sqs.ClientConfig{QueueURL: req, ResponseQueueURL: resp, RequestTimeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	cs := connect(t, ctx, c.Transport(), nil)
	p := &mcp.CallToolParams{Name: "long"}
	p.SetProgressToken("long-1")
	res, err := cs.CallTool(ctx, p)
	if err != nil || text(t, res) != "finished" {
		t.Fatalf("long call with progress: %v", err)
	}
}

// TestCharactersOutsideBMP: answers and requests with characters outside the
// Basic Multilingual Plane (emoji), which fauxqs refuses raw, cross as JSON
// escapes and arrive unchanged.
func TestCharactersOutsideBMP(t *testing.T) {
	f := testenv.StartFauxqs(t)
	req, resp := newQueue(t, f, "req", nil), newQueue(t, f, "resp", nil)
	l := listen(t, f, sqs.ServerConfig{QueueURL: req})
	transporttest.ServeMCP(t, l, transporttest.NewServer())
	c := newClient(t, f, sqs.ClientConfig{QueueURL: req, ResponseQueueURL: resp})
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	cs := connect(t, ctx, c.Transport(), nil)
	const want = "rocket \U0001F680, math \U0001D49C, plain é"
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": want}})
	if err != nil || text(t, res) != want {
		t.Fatalf("echo of non-BMP text: %v", err)
	}
}

// TestRequireSessionKey: a server that requires session keys refuses an
// initialize without one (as Python asyncmcp clients send), answering at
// the reply-to the initialize names; a client with a key is served.
func TestRequireSessionKey(t *testing.T) {
	f := testenv.StartFauxqs(t)
	req, resp := newQueue(t, f, "req", nil), newQueue(t, f, "resp", nil)
	l := listen(t, f, sqs.ServerConfig{QueueURL: req, RequireSessionKey: true})
	transporttest.ServeMCP(t, l, transporttest.NewServer())
	keyless := rawSession{raw: raw{t, f.SQS(t), resp}, req: req, sid: "keyless"}
	keyless.send(req, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"response_queue_url":"`+resp+`"}}`, keyless.attrs("initialize", "1"))
	keyless.expectError(int64(1), jsonrpc.CodeInvalidRequest)
	keyed := rawSession{raw: raw{t, f.SQS(t), resp}, req: req, sid: "keyed", key: wire.NewID(), replyTo: resp}
	keyed.initialize()
	keyed.echo("2", "served")
	keyed.expectEcho(int64(2), "served")
}
