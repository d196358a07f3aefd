// SPDX-License-Identifier: Apache-2.0

package sqs_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/internal/wire"
	"github.com/asyncmcp/asyncmcp-go/sqs"
	"github.com/asyncmcp/asyncmcp-go/transporttest"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkHostileSoak runs 50 honest sessions (10 clients with their own
// response queues, 5 sessions each) calling echo against one server while
// 5 hostile senders, who know every session id, send the request queue
// (20 messages a second each) injections (no or wrong SessionKey), forged ends of session,
// takeover initializes and malformed bodies. Every honest call must be
// answered with its own text. Run it as a soak with a time:
//
//	go test -run '^$' -bench HostileSoak -benchtime 10m ./sqs/
//
// It reports honest calls per second, hostile messages sent, and the heap
// and goroutines left at the end (bounded: they do not grow with time).
func BenchmarkHostileSoak(b *testing.B) {
	f := testenv.StartFauxqs(b)
	req := newQueue(b, f, "soak-req", nil)
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	l := listen(b, f, sqs.ServerConfig{QueueURL: req, Pollers: 2, Logger: discard})
	transporttest.ServeMCP(b, l, transporttest.NewServer())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var sessions []*mcp.ClientSession
	var ids []string
	for i := range 10 {
		c, err := sqs.NewClient(ctx, sqs.ClientConfig{Client: f.SQS(b), QueueURL: req, ResponseQueueURL: newQueue(b, f, fmt.Sprintf("soak-resp-%d", i), nil), Logger: discard})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		for range 5 {
			cs := connect(b, ctx, c.Transport(), nil)
			sessions = append(sessions, cs)
			ids = append(ids, cs.ID())
		}
	}

	var hostile atomic.Int64
	hostileCtx, stopHostile := context.WithCancel(ctx)
	var hw sync.WaitGroup
	for h := range 5 {
		attackerQ := newQueue(b, f, fmt.Sprintf("soak-attacker-%d", h), nil)
		r := raw{b, f.SQS(b), attackerQ}
		hw.Go(func() {
			for n := 0; hostileCtx.Err() == nil; n++ {
				sid := ids[(h*7+n)%len(ids)]
				a := wire.Attributes{wire.AttrSessionID: {DataType: "String", Value: sid}, wire.AttrReplyTo: {DataType: "String", Value: attackerQ}}
				switch n % 5 {
				case 0: // injection without a key
					r.send(req, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"evil"}}}`, n), a)
				case 1: // injection with a wrong key
					a[wire.AttrSessionKey] = wire.Attr{DataType: "String", Value: wire.NewID()}
					r.send(req, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"evil"}}}`, n), a)
				case 2: // forged end of session
					a[wire.AttrMessageType] = wire.Attr{DataType: "String", Value: wire.TypeSessionEnd}
					r.send(req, `{"jsonrpc":"2.0","method":"notifications/asyncmcp/sessionEnd","params":{}}`, a)
				case 3: // takeover attempt
					a[wire.AttrSessionKey] = wire.Attr{DataType: "String", Value: wire.NewID()}
					r.send(req, `{"jsonrpc":"2.0","id":"claim","method":"initialize","params":{"_meta":{"responseQueueUrl":"`+attackerQ+`"}}}`, a)
				case 4: // malformed
					r.send(req, `{"jsonrpc":"2.0","id":1,"method":`, a)
				}
				hostile.Add(1)
				// 20 messages a second each: hostile, not a flood (anyone
				// allowed to send can fill a queue faster than it drains;
				// that is a matter of IAM and quotas, not of the transport).
				select {
				case <-time.After(50 * time.Millisecond):
				case <-hostileCtx.Done():
				}
				// Drain the attacker's own queue now and then so it stays small.
				if n%50 == 49 {
					drain(hostileCtx, r)
				}
			}
		})
	}

	var next atomic.Int64
	var answered atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, cs := range sessions {
		wg.Go(func() {
			for {
				k := next.Add(1)
				if k > int64(b.N) {
					return
				}
				want := fmt.Sprintf("honest-%d-%d", i, k)
				callCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
				res, err := cs.CallTool(callCtx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": want}})
				cancel()
				if err != nil {
					b.Errorf("session %d call %d: %v", i, k, err)
					return
				}
				if got := res.Content[0].(*mcp.TextContent).Text; got != want {
					b.Errorf("session %d call %d answered %q, want %q", i, k, got, want)
					return
				}
				answered.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	stopHostile()
	hw.Wait()
	if n := answered.Load(); n != int64(b.N) {
		b.Fatalf("%d of %d honest calls answered", n, b.N)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
	b.ReportMetric(float64(hostile.Load()), "hostile-msgs")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
}

// drain empties the attacker's queue without waiting.
func drain(ctx context.Context, r raw) {
	for ctx.Err() == nil {
		out, err := r.c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: &r.resp, MaxNumberOfMessages: 10})
		if err != nil || len(out.Messages) == 0 {
			return
		}
		for _, m := range out.Messages {
			r.c.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: &r.resp, ReceiptHandle: m.ReceiptHandle})
		}
	}
}
