// SPDX-License-Identifier: Apache-2.0

package stdio_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/stdio"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// BenchmarkPoolVsDirect measures 2026-07-28 tools/call throughput of the
// echo server (examples/echo-server) two ways, b.N calls each:
//
//   - direct: one stdio connection to one child, used by one caller at a
//     time (what a client without a pool gets);
//   - pool: 8 concurrent callers through Command.RoundTrip with the default
//     pool (2 children).
//
// It reports direct-calls/s, pool-calls/s and pool/direct.
//
//	go test -run '^$' -bench PoolVsDirect -benchtime 2000x ./stdio
func BenchmarkPoolVsDirect(b *testing.B) {
	const callers = 8
	bin := testenv.EchoServer(b)
	ctx := context.Background()

	// Direct: a child of our own, modern requests written and answered
	// one at a time.
	dc := &stdio.Command{Path: bin, Logger: testLogger()}
	conn, err := dc.Dial(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	directCall := func(i int) {
		req := toolCall(b, i, "echo", map[string]any{"text": "hello"}, nil)
		if err := conn.Write(ctx, req); err != nil {
			b.Fatal(err)
		}
		for {
			msg, err := conn.Read(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if r, ok := msg.(*jsonrpc.Response); ok {
				if r.Error != nil || r.ID != req.ID {
					b.Fatalf("direct call %d: %v id %v", i, r.Error, r.ID.Raw())
				}
				return
			}
		}
	}

	// Pool: warmed up (probe done, children running) before timing.
	pc := &stdio.Command{Path: bin, Logger: testLogger()}
	defer pc.Close()
	poolCall := func(i int) {
		resp, err := pc.RoundTrip(ctx, toolCall(b, i, "echo", map[string]any{"text": "hello"}, nil), nil)
		if err != nil || resp.Error != nil {
			b.Fatalf("pool call %d: %v %v", i, err, resp.Error)
		}
	}
	for i := range 20 {
		directCall(i)
		poolCall(i)
	}
	for deadline := time.Now().Add(waitLimit); len(pc.ModernStatus().Children) < stdio.DefaultPoolSize; {
		if time.Now().After(deadline) {
			b.Fatal("pool children did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}

	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		directCall(i)
	}
	direct := time.Since(start)

	start = time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > b.N {
					return
				}
				poolCall(i)
			}
		}()
	}
	wg.Wait()
	pooled := time.Since(start)
	b.StopTimer()

	dRate := float64(b.N) / direct.Seconds()
	pRate := float64(b.N) / pooled.Seconds()
	b.ReportMetric(dRate, "direct-calls/s")
	b.ReportMetric(pRate, "pool-calls/s")
	b.ReportMetric(pRate/dRate, "pool/direct")
	if st := pc.ModernStatus(); st.Started > int64(stdio.DefaultPoolSize) {
		b.Errorf("pool started %d children", st.Started)
	}
	b.Log(fmt.Sprintf("N=%d direct %.0f calls/s, pool (%d callers, %d children) %.0f calls/s, ratio %.2f",
		b.N, dRate, callers, stdio.DefaultPoolSize, pRate, pRate/dRate))
}
