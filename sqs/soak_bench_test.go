// SPDX-License-Identifier: Apache-2.0

package sqs_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/internal/wire"
	"github.com/asyncmcp/asyncmcp-go/sqs"
	"github.com/asyncmcp/asyncmcp-go/stdio"
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
//
// The sub-benchmark "inprocess" answers with an MCP server in this process;
// "children" answers as `serve --transport sqs -- echo-server` does, with a
// child process per session (examples/echo-server), and also reports the
// most children alive at once and the peak resident memory of this process
// plus its children (Linux /proc; 0 elsewhere), sampled every second.
func BenchmarkHostileSoak(b *testing.B) {
	b.Run("inprocess", func(b *testing.B) {
		soak(b, func(l *sqs.Listener) func() int { transporttest.ServeMCP(b, l, transporttest.NewServer()); return nil })
	})
	b.Run("children", func(b *testing.B) {
		echo := testenv.EchoServer(b)
		soak(b, func(l *sqs.Listener) func() int {
			cmd := &stdio.Command{Path: echo, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				bridge.Serve(ctx, l, cmd, &bridge.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			}()
			b.Cleanup(func() { cancel(); l.Close(); <-done; cmd.Close() })
			return func() int { return cmd.Status().Alive }
		})
	})
}

// soak runs the soak against the server that serve starts on l; serve
// returns how many children are alive now, or nil when there are none.
func soak(b *testing.B, serve func(l *sqs.Listener) func() int) {
	f := testenv.StartFauxqs(b)
	req := newQueue(b, f, "soak-req", nil)
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	l := listen(b, f, sqs.ServerConfig{QueueURL: req, Pollers: 2, Logger: discard})
	children := serve(l)
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
	var peakChildren, peakRSS atomic.Int64
	sample := func() {
		if children != nil {
			if n := int64(children()); n > peakChildren.Load() {
				peakChildren.Store(n)
			}
		}
		if r := treeRSS(); r > peakRSS.Load() {
			peakRSS.Store(r)
		}
	}
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var sw sync.WaitGroup
	sw.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			sample()
			select {
			case <-sampleCtx.Done():
				return
			case <-t.C:
			}
		}
	})

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
	stopSampling()
	sw.Wait()
	sample()
	b.ReportMetric(float64(peakRSS.Load())/(1<<20), "peak-RSS-MiB")
	if children != nil {
		b.ReportMetric(float64(peakChildren.Load()), "peak-children")
	}
}

// treeRSS is the resident memory of this process and its direct children,
// in bytes, from /proc (0 where there is no /proc).
func treeRSS() int64 {
	self := os.Getpid()
	total := rssOf(self)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(self) {
			total += rssOf(pid)
		}
	}
	return total
}

func rssOf(pid int) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
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
