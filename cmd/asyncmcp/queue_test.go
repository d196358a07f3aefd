// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// launchServe starts `asyncmcp serve` with args and waits until it says it
// is serving.
func launchServe(t *testing.T, env []string, args ...string) *testenv.Process {
	t.Helper()
	cmd := exec.Command(testenv.BuildAsyncmcp(t), append([]string{"serve"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	ready := make(chan struct{}, 1)
	p := testenv.StartProcess(t, cmd, func(line string) {
		if strings.HasPrefix(line, "asyncmcp: serving") {
			select {
			case ready <- struct{}{}:
			default:
			}
		}
	})
	select {
	case <-ready:
	case <-p.Exited():
		t.Fatalf("asyncmcp serve exited early (%v):\n%s", p.Err(), p.Log())
	case <-time.After(60 * time.Second):
		t.Fatalf("asyncmcp serve did not start:\n%s", p.Log())
	}
	return p
}

// TestSQSEndToEnd: stdio client → asyncmcp proxy --backend sqs --stdio →
// fauxqs → asyncmcp serve --transport sqs → Go SDK everything-server.
func TestSQSEndToEnd(t *testing.T) {
	fq := testenv.StartFauxqs(t)
	reqQ := fq.CreateQueue(t, "e2e-requests", nil)
	respQ := fq.CreateQueue(t, "e2e-responses", nil)
	env := fq.Env()
	launchServe(t, env, "--transport", "sqs", "--queue-url", reqQ, "--wait-time", "1s", "--", testenv.GoEverythingServer(t))

	var progress sync.Mutex
	var got []float64
	c := mcp.NewClient(&mcp.Implementation{Name: "sqs-e2e", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(ctx context.Context, r *mcp.ProgressNotificationClientRequest) {
			progress.Lock()
			got = append(got, r.Params.Progress)
			progress.Unlock()
		},
		CreateMessageHandler: func(ctx context.Context, r *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Model: "test-model", Role: "assistant", Content: &mcp.TextContent{Text: "sampled over queues"}}, nil
		},
	})
	cmd := exec.Command(testenv.BuildAsyncmcp(t), "proxy", "--backend", "sqs", "--stdio", "--queue-url", reqQ, "--response-queue-url", respQ, "--wait-time", "1s")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = testWriter{t}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.CommandTransport{Command: cmd}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer cs.Close()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil || len(tools.Tools) == 0 {
		t.Fatalf("tools/list: %v, %d tools", err, len(tools.Tools))
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_simple_text"})
	if err != nil || res.IsError {
		t.Fatalf("test_simple_text: %v %+v", err, res)
	}
	params := &mcp.CallToolParams{Name: "test_tool_with_progress"}
	params.SetProgressToken("p-1")
	if _, err := cs.CallTool(ctx, params); err != nil {
		t.Fatalf("test_tool_with_progress: %v", err)
	}
	progress.Lock()
	n := len(got)
	progress.Unlock()
	if n == 0 {
		t.Errorf("no progress notifications crossed the queues")
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_sampling", Arguments: map[string]any{"prompt": "hi"}})
	if err != nil || res.IsError {
		t.Fatalf("test_sampling: %v %+v", err, res)
	}
	if text := fmt.Sprint(res.Content[0].(*mcp.TextContent).Text); !strings.Contains(text, "sampled over queues") {
		t.Errorf("sampling result did not come back from the client: %q", text)
	}
}

// TestSNSSQSEndToEnd: the same chain over SNS topics fanning into queues,
// with one shared response topic filtered by client id.
func TestSNSSQSEndToEnd(t *testing.T) {
	fq := testenv.StartFauxqs(t)
	reqTopic := fq.CreateTopic(t, "e2e-requests")
	serverQ := fq.CreateQueue(t, "e2e-server", nil)
	fq.Subscribe(t, reqTopic, serverQ, false, "")
	respTopic := fq.CreateTopic(t, "e2e-responses")
	env := fq.Env()
	launchServe(t, env, "--transport", "sns-sqs", "--queue-url", serverQ, "--wait-time", "1s", "--", testenv.GoEverythingServer(t))
	for i := range 2 {
		cs := stdioClient(t, env, "proxy", "--backend", "sns-sqs", "--stdio", "--topic-arn", reqTopic, "--response-topic-arn", respTopic, "--wait-time", "1s")
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "test_simple_text"})
		if err != nil || res.IsError {
			t.Fatalf("client %d: test_simple_text over SNS+SQS: %v %+v", i, err, res)
		}
	}
}

// TestKillAndRestartCLI: `asyncmcp serve` is killed (SIGKILL, with its
// child) in the middle of a call; a new `asyncmcp serve` on the same queue
// answers that call once the visibility timeout has passed, and the client
// receives exactly one answer.
func TestKillAndRestartCLI(t *testing.T) {
	fq := testenv.StartFauxqs(t)
	reqQ := fq.CreateQueue(t, "kill-requests", nil)
	env := fq.Env()
	echoBin := testenv.EchoServer(t)
	serveArgs := []string{"--transport", "sqs", "--queue-url", reqQ, "--wait-time", "1s", "--visibility-timeout", "3s", "--", echoBin}
	first := launchServe(t, env, serveArgs...)

	cmd := exec.Command(testenv.BuildAsyncmcp(t), "proxy", "--backend", "sqs", "--stdio", "--queue-url", reqQ, "--wait-time", "1s")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = testWriter{t}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	send := func(s string) {
		if _, err := io.WriteString(stdin, s+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(id string, d time.Duration) string {
		deadline := time.After(d)
		for {
			select {
			case l := <-lines:
				if strings.Contains(l, `"id":`+id+`,`) || strings.HasSuffix(l, `"id":`+id+`}`) {
					return l
				}
			case <-deadline:
				t.Fatalf("no answer to request %s within %v", id, d)
			}
		}
	}
	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"kill-test","version":"1"}}}`)
	waitFor("1", 30*time.Second)
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"slow","arguments":{"seconds":2}}}`)
	time.Sleep(700 * time.Millisecond) // the call is running in the first server's child
	testenv.KillGroup(first.Cmd.Process.Pid)
	<-first.Exited()
	t.Log("serve killed mid-call; starting a new one")
	launchServe(t, env, serveArgs...)

	answer := waitFor("2", 60*time.Second)
	if !strings.Contains(answer, "done after 2s") {
		t.Fatalf("answer after restart: %s", answer)
	}
	// No second answer to the same request arrives.
	extra := time.After(5 * time.Second)
	for done := false; !done; {
		select {
		case l := <-lines:
			if strings.Contains(l, `"id":2`) {
				t.Errorf("second answer to request 2: %s", l)
			}
		case <-extra:
			done = true
		}
	}
	// The session goes on working.
	send(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"still here"}}}`)
	if l := waitFor("3", 30*time.Second); !strings.Contains(l, "still here") {
		t.Errorf("after restart: %s", l)
	}
}
