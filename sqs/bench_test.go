// SPDX-License-Identifier: Apache-2.0

package sqs_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/sqs"
	"github.com/asyncmcp/asyncmcp-go/transporttest"
	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// barePingPong is the limit: a responder long-polls one queue and answers
// on another with plain SendMessage/ReceiveMessage calls.
type barePingPong struct {
	c        *awssqs.Client
	req, rsp string
	stop     context.CancelFunc
	wg       sync.WaitGroup
}

func startBare(b *testing.B, f *testenv.Fauxqs) *barePingPong {
	p := &barePingPong{c: f.SQS(b), req: newQueue(b, f, "bare-req", nil), rsp: newQueue(b, f, "bare-rsp", nil)}
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	p.wg.Go(func() {
		for ctx.Err() == nil {
			out, err := p.c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: &p.req, MaxNumberOfMessages: 10, WaitTimeSeconds: 20})
			if err != nil {
				continue
			}
			for _, m := range out.Messages {
				p.c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: &p.rsp, MessageBody: m.Body})
				p.c.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: &p.req, ReceiptHandle: m.ReceiptHandle})
			}
		}
	})
	b.Cleanup(func() { p.stop(); p.wg.Wait() })
	return p
}

// roundTrip sends one message and waits for the answer; the delete of the
// answer happens after the clock stops.
func (p *barePingPong) roundTrip(ctx context.Context, b *testing.B) time.Duration {
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"ping"}}}`
	start := time.Now()
	if _, err := p.c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: &p.req, MessageBody: aws.String(body)}); err != nil {
		b.Fatal(err)
	}
	for {
		out, err := p.c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: &p.rsp, MaxNumberOfMessages: 1, WaitTimeSeconds: 20})
		if err != nil {
			b.Fatal(err)
		}
		if len(out.Messages) == 0 {
			continue
		}
		d := time.Since(start)
		p.c.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: &p.rsp, ReceiptHandle: out.Messages[0].ReceiptHandle})
		return d
	}
}

// BenchmarkRoundTrip measures one tools/call round trip through the SQS
// transport (mcp.Client → queue → Listener → mcp.Server and back) next to
// the bare SendMessage/ReceiveMessage ping-pong on the same emulator,
// interleaved, and reports both and their ratio.
func BenchmarkRoundTrip(b *testing.B) {
	f := testenv.StartFauxqs(b)
	bare := startBare(b, f)
	req, resp := newQueue(b, f, "req", nil), newQueue(b, f, "resp", nil)
	l := listen(b, f, sqs.ServerConfig{QueueURL: req})
	transporttest.ServeMCP(b, l, transporttest.NewServer())
	c := newClient(b, f, sqs.ClientConfig{QueueURL: req, ResponseQueueURL: resp})
	ctx := context.Background()
	cs := connect(b, ctx, c.Transport(), nil)
	call := func() time.Duration {
		start := time.Now()
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "ping"}}); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	for range 20 { // warm up both paths
		call()
		bare.roundTrip(ctx, b)
	}
	var tBare, tMCP time.Duration
	b.ResetTimer()
	for b.Loop() {
		tBare += bare.roundTrip(ctx, b)
		tMCP += call()
	}
	n := float64(b.N)
	bareMs := tBare.Seconds() * 1000 / n
	mcpMs := tMCP.Seconds() * 1000 / n
	b.ReportMetric(bareMs, "bare-ms/rt")
	b.ReportMetric(mcpMs, "mcp-ms/rt")
	b.ReportMetric(mcpMs/bareMs, "ratio")
	b.Logf("n=%d bare SQS ping-pong %.3f ms, tools/call over sqs transport %.3f ms, ratio %.2f×", b.N, bareMs, mcpMs, mcpMs/bareMs)
}

// BenchmarkSixteenSessions measures tools/call throughput with 16 sessions
// of one client calling at once over one request and one response queue.
func BenchmarkSixteenSessions(b *testing.B) {
	for _, pollers := range []int{1, 4} {
		b.Run(fmt.Sprintf("pollers=%d", pollers), func(b *testing.B) { benchSessions(b, pollers) })
	}
}

func benchSessions(b *testing.B, pollers int) {
	f := testenv.StartFauxqs(b)
	req, resp := newQueue(b, f, "req", nil), newQueue(b, f, "resp", nil)
	l := listen(b, f, sqs.ServerConfig{QueueURL: req, Pollers: pollers})
	transporttest.ServeMCP(b, l, transporttest.NewServer())
	c := newClient(b, f, sqs.ClientConfig{QueueURL: req, ResponseQueueURL: resp, Pollers: pollers})
	ctx := context.Background()
	const sessions = 16
	css := make([]*mcp.ClientSession, sessions)
	for i := range css {
		css[i] = connect(b, ctx, c.Transport(), nil)
	}
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, cs := range css {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				text := fmt.Sprintf("s%d", i)
				if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": text}}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	b.ReportMetric(float64(b.N)/el.Seconds(), "calls/s")
	b.Logf("16 sessions, %d pollers each side: %d calls in %v = %.0f calls/s", pollers, b.N, el.Round(time.Millisecond), float64(b.N)/el.Seconds())
}
