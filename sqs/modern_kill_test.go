// SPDX-License-Identifier: Apache-2.0

package sqs_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/sqs"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// helperQueueEnv, when set, makes the test binary a stateless server process
// on that queue whose back never answers (see stuckServer).
const helperQueueEnv = "ASYNCMCP_TEST_STUCK_SERVER_QUEUE"

func TestMain(m *testing.M) {
	if q := os.Getenv(helperQueueEnv); q != "" {
		stuckServer(q)
		return
	}
	os.Exit(m.Run())
}

// stuckServer serves stateless requests on queue with a back that takes
// them and never answers; it prints "TAKEN <id>" for each and runs until
// killed.
func stuckServer(queue string) {
	cfg, err := loadAWS()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	_, err = sqs.Listen(sqs.ServerConfig{
		Client: awssqs.NewFromConfig(cfg), QueueURL: queue, WaitTime: time.Second, VisibilityTimeout: 2 * time.Second,
		RoundTripper: stuckBack{}, Logger: quietLog,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	select {}
}

type stuckBack struct{}

func (stuckBack) RoundTrip(ctx context.Context, req *jsonrpc.Request, _ func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	fmt.Printf("TAKEN %v\n", req.ID.Raw())
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestStatelessServerKilledMidCall: a server process takes a call and is
// killed with SIGKILL before answering; the call becomes visible again
// after the visibility timeout, another server runs it, and exactly one
// answer reaches the client.
func TestStatelessServerKilledMidCall(t *testing.T) {
	f := testenv.StartFauxqs(t)
	req := newQueue(t, f, "req", nil)
	resp := newQueue(t, f, "resp", nil)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(append(os.Environ(), f.Env()...), helperQueueEnv+"="+req)
	taken := make(chan string, 4)
	victim := testenv.StartProcess(t, cmd, func(line string) {
		if id, ok := strings.CutPrefix(line, "TAKEN "); ok {
			taken <- id
		}
	})

	logger, logs := newLogRecorder()
	client := newClient(t, f, sqs.ClientConfig{QueueURL: req, ResponseQueueURL: resp, Logger: logger})
	type result struct {
		r   *jsonrpc.Response
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := client.RoundTrip(t.Context(), toolCall(t, "slow-1", "test_simple_text", nil, ""), nil)
		done <- result{r, err}
	}()
	select {
	case id := <-taken:
		if id != "slow-1" {
			t.Fatalf("the stuck server took %q", id)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the stuck server took nothing")
	}

	// The healthy server starts only now, so the stuck one surely had the
	// call; then the stuck one dies without a word.
	back := testenv.StartScaffoldRoundTripper(t, testenv.GoEverythingServer(t))
	listen(t, f, sqs.ServerConfig{QueueURL: req, WaitTime: time.Second, RoundTripper: back})
	if err := testenv.KillGroup(victim.Cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	<-victim.Exited()

	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	if text, _ := firstText(t, res.r); text != "This is a simple text response for testing." || res.r.ID.Raw() != "slow-1" {
		t.Errorf("answer %q id %v", text, res.r.ID.Raw())
	}
	if n := back.Started("tools/call"); n != 1 {
		t.Errorf("the healthy server ran the call %d times", n)
	}
	waitFor(t, "queues drained", func() bool {
		return queueDrained(t, f.SQS(t), req) && queueDrained(t, f.SQS(t), resp)
	})
	if n := logs.count("no longer in flight"); n != 0 {
		t.Errorf("%d extra answers reached the client", n)
	}
}
