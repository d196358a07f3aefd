// SPDX-License-Identifier: Apache-2.0

package sqs_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/internal/wire"
	"github.com/asyncmcp/asyncmcp-go/sqs"
	"github.com/asyncmcp/asyncmcp-go/transporttest"
	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestSessionCap: an initialize beyond MaxSessions is answered with -32014
// at its reply-to; the sessions already open go on working.
func TestSessionCap(t *testing.T) {
	f := testenv.StartFauxqs(t)
	req := newQueue(t, f, "req", nil)
	l := listen(t, f, sqs.ServerConfig{QueueURL: req, MaxSessions: 2})
	transporttest.ServeMCP(t, l, transporttest.NewServer())
	var open []rawSession
	for _, sid := range []string{"cap-1", "cap-2"} {
		s := rawSession{raw: raw{t, f.SQS(t), newQueue(t, f, "resp", nil)}, req: req, sid: sid, key: wire.NewID()}
		s.replyTo = s.resp
		s.initialize()
		open = append(open, s)
	}
	third := rawSession{raw: raw{t, f.SQS(t), newQueue(t, f, "resp", nil)}, req: req, sid: "cap-3", key: wire.NewID()}
	third.replyTo = third.resp
	third.send(req, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"},"_meta":{"responseQueueUrl":"`+third.resp+`"}}}`, third.attrs("initialize", "1"))
	third.expectError(int64(1), wire.CodeTooManySessions)
	open[0].echo("2", "still open")
	open[0].expectEcho(int64(2), "still open")
}

// TestSessionInboxBytes: a session whose consumer does not read holds at
// most SessionBufferBytes of messages; a request beyond that is answered
// with -32012 instead of piling up.
func TestSessionInboxBytes(t *testing.T) {
	f := testenv.StartFauxqs(t)
	req, resp := newQueue(t, f, "req", nil), newQueue(t, f, "resp", nil)
	l := listen(t, f, sqs.ServerConfig{QueueURL: req, SessionBufferBytes: 10 << 10})
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	s := rawSession{raw: raw{t, f.SQS(t), resp}, req: req, sid: "deaf", key: wire.NewID(), replyTo: resp}
	s.send(req, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"_meta":{"responseQueueUrl":"`+resp+`"}}}`, s.attrs("initialize", "1"))
	conn, err := l.Accept(ctx) // accepted, never read
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pad := strings.Repeat("p", 6<<10)
	s.echo("2", pad) // fits: the inbox holds the initialize and this
	s.echo("3", pad) // over 10 KiB
	s.expectError(int64(3), wire.CodeSessionOverloaded)
}

// TestReplyQueueDeletedMidCall: when the session's response queue is deleted
// while a call runs, the failed send ends the call (its message is deleted,
// its visibility no longer extended) and the session, at once.
func TestReplyQueueDeletedMidCall(t *testing.T) {
	f := testenv.StartFauxqs(t)
	req, resp := newQueue(t, f, "req", nil), newQueue(t, f, "resp", nil)
	l := listen(t, f, sqs.ServerConfig{QueueURL: req})
	srv := transporttest.NewServer()
	started, release := make(chan struct{}, 1), make(chan struct{})
	mcp.AddTool(srv, &mcp.Tool{Name: "wait"}, func(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
		started <- struct{}{}
		<-release
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "too late"}}}, nil, nil
	})
	transporttest.ServeMCP(t, l, srv)
	s := rawSession{raw: raw{t, f.SQS(t), resp}, req: req, sid: "gone", key: wire.NewID(), replyTo: resp}
	s.initialize()
	s.send(req, `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"wait","arguments":{}}}`, s.attrs("tools/call", "5"))
	<-started
	if _, err := f.SQS(t).DeleteQueue(context.Background(), &awssqs.DeleteQueueInput{QueueUrl: aws.String(resp)}); err != nil {
		t.Fatal(err)
	}
	close(release)
	// The call's message leaves the request queue (it is not kept in flight).
	for deadline := time.Now().Add(guard); !queueEmpty(t, f.SQS(t), req); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the call's message stayed on the request queue")
		}
	}
	// And the session is over: a message for it, with a reply-to that
	// exists, is told so.
	other := s
	other.raw.resp = newQueue(t, f, "other", nil)
	other.replyTo = other.resp
	other.send(req, `{"jsonrpc":"2.0","id":6,"method":"ping"}`, other.attrs("ping", "6"))
	other.expectError(int64(6), wire.CodeSessionNotFound)
}

// TestResponseQueueReused: a client that reads a response queue a client
// before it read gets its answers at once. (A long poll cancelled at exit
// used to take the next client's first answer and hide it for a whole
// visibility timeout, here ten minutes, past the test's guard.)
func TestResponseQueueReused(t *testing.T) {
	f := testenv.StartFauxqs(t)
	req, resp := newQueue(t, f, "req", nil), newQueue(t, f, "resp", nil)
	l := listen(t, f, sqs.ServerConfig{QueueURL: req})
	transporttest.ServeMCP(t, l, transporttest.NewServer())
	for i := range 3 {
		c, err := sqs.NewClient(context.Background(), sqs.ClientConfig{Client: f.SQS(t), QueueURL: req, ResponseQueueURL: resp, VisibilityTimeout: 10 * time.Minute, Logger: quietLog})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second) // hang guard
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "reuse", Version: "1"}, nil).Connect(ctx, c.Transport(), &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		cancel()
		if err != nil {
			t.Fatalf("client %d on a reused response queue: %v", i, err)
		}
		cs.Close()
		c.Close()
	}
}

// TestSharedResponseQueueReported: a client whose response queue also
// carries another client's messages says so in its log.
func TestSharedResponseQueueReported(t *testing.T) {
	f := testenv.StartFauxqs(t)
	req, resp := newQueue(t, f, "req", nil), newQueue(t, f, "resp", nil)
	var logs syncBuffer
	newClient(t, f, sqs.ClientConfig{QueueURL: req, ResponseQueueURL: resp, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	r := raw{t, f.SQS(t), resp}
	r.send(resp, `{"jsonrpc":"2.0","id":1,"result":{}}`, wire.Attributes{wire.AttrSessionID: {DataType: "String", Value: "theirs"}, wire.AttrClientID: {DataType: "String", Value: "other-process"}})
	for deadline := time.Now().Add(guard); !strings.Contains(logs.String(), "response queue shared with another client"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no report of the shared queue; log:\n%s", logs.String())
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
