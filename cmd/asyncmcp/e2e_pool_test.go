// SPDX-License-Identifier: Apache-2.0

package main_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// e2eChildren lists the live child processes of pid (from /proc).
func e2eChildren(pid int) []int {
	var kids []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) < 2 || fields[0] == "Z" {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == pid {
			kid, _ := strconv.Atoi(strings.Fields(s)[0])
			kids = append(kids, kid)
		}
	}
	return kids
}

// e2eMemory returns VmRSS and VmHWM of pid, as /proc reports them.
func e2eMemory(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") || strings.HasPrefix(line, "VmHWM:") {
			out = append(out, strings.Join(strings.Fields(line), " "))
		}
	}
	return strings.Join(out, ", ")
}

// TestPoolManyModernClientsThroughProxy: 200 Go SDK v1.8.0 clients with
// default options, at once, through `asyncmcp proxy --pool-size 2 -- <Go
// SDK everything-server>`: each negotiates 2026-07-28 with no warning and
// gets only its own results and progress; two of them listen for tool-list
// changes and both get the one a third client triggers; the proxy never
// runs more than two children for them.
func TestPoolManyModernClientsThroughProxy(t *testing.T) {
	px := e2eStartProxy(t, "--pool-size", "2", "--", testenv.GoEverythingServer(t))
	pid := px.p.Cmd.Process.Pid
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	logs := &e2eWarnings{}
	connect := func(opts *mcp.ClientOptions) (*mcp.ClientSession, error) {
		if opts == nil {
			opts = &mcp.ClientOptions{}
		}
		opts.Logger = slog.New(logs)
		c := mcp.NewClient(&mcp.Implementation{Name: "e2e-pool", Version: "1"}, opts)
		cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: px.Base + "/mcp"}, nil)
		if err != nil {
			return nil, err
		}
		if v := cs.InitializeResult().ProtocolVersion; v != rpcmsg.ModernVersion {
			cs.Close()
			return nil, fmt.Errorf("negotiated %q, want %q", v, rpcmsg.ModernVersion)
		}
		return cs, nil
	}

	// Two listeners, and the era probe done, before the crowd arrives.
	var changes [2]atomic.Int32
	var listeners []*mcp.ClientSession
	for i := range changes {
		cs, err := connect(&mcp.ClientOptions{ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			changes[i].Add(1)
		}})
		if err != nil {
			t.Fatalf("listener %d: %v", i, err)
		}
		defer cs.Close()
		listeners = append(listeners, cs)
	}
	deadline := time.Now().Add(time.Minute)
	for len(e2eChildren(pid)) > 2 {
		if time.Now().After(deadline) {
			t.Fatalf("children of the proxy: %v", e2eChildren(pid))
		}
		time.Sleep(50 * time.Millisecond) // the era probe's child stopping
	}

	var maxKids atomic.Int32
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if n := int32(len(e2eChildren(pid))); n > maxKids.Load() {
				maxKids.Store(n)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	const clients = 200
	errs := make(chan error, clients*4)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mu sync.Mutex
			var tokens []any
			cs, err := connect(&mcp.ClientOptions{ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
				mu.Lock()
				tokens = append(tokens, r.Params.ProgressToken)
				mu.Unlock()
			}})
			if err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
				return
			}
			defer cs.Close()
			tok := fmt.Sprintf("client-%d", i)
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_tool_with_progress", Arguments: map[string]any{}, Meta: mcp.Meta{"progressToken": tok}})
			if err != nil || res.IsError {
				errs <- fmt.Errorf("client %d: test_tool_with_progress: %+v %v", i, res, err)
				return
			}
			// The SDK client runs notification handlers on a queue of
			// their own, so CallTool may return before the handler has
			// seen the progress that preceded the answer on the wire.
			var got []any
			for wait := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				mu.Lock()
				got = append([]any(nil), tokens...)
				mu.Unlock()
				if len(got) >= 3 || time.Now().After(wait) {
					break
				}
			}
			if len(got) != 3 {
				errs <- fmt.Errorf("client %d: %d progress notifications, want 3: %v", i, len(got), got)
			}
			for _, g := range got {
				if g != tok {
					errs <- fmt.Errorf("client %d got progress token %v", i, g)
				}
			}
			arg := fmt.Sprintf("client-%d-arg", i)
			pr, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "test_prompt_with_arguments", Arguments: map[string]string{"arg1": arg, "arg2": "x"}})
			if err != nil || len(pr.Messages) != 1 {
				errs <- fmt.Errorf("client %d: prompts/get: %+v %v", i, pr, err)
				return
			}
			if text, _ := pr.Messages[0].Content.(*mcp.TextContent); text == nil || text.Text != "Prompt with arguments: arg1='"+arg+"', arg2='x'" {
				errs <- fmt.Errorf("client %d got someone else's prompt: %+v", i, pr.Messages[0].Content)
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 10 {
			t.Error(err)
		}
	}
	if n > 10 {
		t.Errorf("... %d errors in all", n)
	}

	// A tool-list change made through a third client reaches both
	// listeners, whichever child ran it.
	cs, err := connect(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_trigger_tool_change", Arguments: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	cs.Close()
	for changes[0].Load() == 0 || changes[1].Load() == 0 {
		if ctx.Err() != nil {
			t.Fatalf("tool-list changes seen by the listeners: %d, %d", changes[0].Load(), changes[1].Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stopSampling)
	<-sampled
	if m := maxKids.Load(); m > 2 {
		t.Errorf("the proxy ran %d children at once with --pool-size 2", m)
	}
	if w := logs.all(); len(w) > 0 {
		t.Errorf("client warnings: %q", w)
	}
	t.Logf("%d clients: at most %d children of the proxy at once; proxy memory: %s", clients, maxKids.Load(), e2eMemory(pid))
	for _, l := range listeners {
		l.Close()
	}
	px.Stop(t)
}
