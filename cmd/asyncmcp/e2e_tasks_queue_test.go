// SPDX-License-Identifier: Apache-2.0

package main_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// A task whose call waits on a queue back survives a proxy killed with
// SIGKILL: a 30-second tool through `proxy --backend sqs --tasks` → fauxqs →
// `serve --transport sqs -- <fixture>`; the client creates the task and
// closes its connection (the test checks none is left open), the
// proxy is killed while the tool runs and started again on the same
// --state-dir and response queue, and tasks/get through the new process
// returns the completed result, from the answer that arrived on the
// response queue after the restart. The tool ran exactly once (the fixture
// logs each start to a file). The same holds for a graceful stop (SIGTERM):
// the proxy then leaves the call running at the server (no cancel); and for
// the SNS+SQS back, whose answers are published to the response topic; and
// when the answer reaches the response queue while no proxy runs (these
// use a 6-second tool, to keep the run short).
func TestTaskSurvivesProxyKill(t *testing.T) {
	fq := testenv.StartFauxqs(t)
	for _, tc := range []struct {
		kind                string
		graceful, whileDown bool
	}{{"sqs", false, false}, {"sqs", true, false}, {"sns-sqs", false, false}, {"sqs", false, true}} {
		name := tc.kind + "/killed"
		if tc.graceful {
			name = tc.kind + "/terminated"
		}
		if tc.whileDown {
			name += "/answer while down"
		}
		t.Run(name, func(t *testing.T) { taskSurvivesProxyStop(t, fq, tc.kind, tc.graceful, tc.whileDown) })
	}
}

func taskSurvivesProxyStop(t *testing.T, fq *testenv.Fauxqs, kind string, graceful, whileDown bool) {
	env := fq.Env()
	name := "taskstop" + strings.ReplaceAll(kind, "-", "")
	if graceful {
		name += "term"
	}
	if whileDown {
		name += "down"
	}
	runs := filepath.Join(t.TempDir(), "runs")
	fixture := []string{"--", testenv.BuildPackage(t, "./tasks/testdata/fixture"), "-stdio", "-runs", runs}
	respQ := fq.CreateQueue(t, name+"-resp", nil)
	var back []string
	switch kind {
	case "sqs":
		reqQ := fq.CreateQueue(t, name+"-req", nil)
		asyncServe(t, env, append([]string{"--transport", "sqs", "--queue-url", reqQ, "--wait-time", "1s"}, fixture...)...)
		back = []string{"--backend", "sqs", "--queue-url", reqQ}
	case "sns-sqs":
		reqTopic := fq.CreateTopic(t, name+"-req")
		serverQ := fq.CreateQueue(t, name+"-server", nil)
		fq.Subscribe(t, reqTopic, serverQ, false, "")
		respTopic := fq.CreateTopic(t, name+"-resp")
		fq.Subscribe(t, respTopic, respQ, false, "")
		asyncServe(t, env, append([]string{"--transport", "sns-sqs", "--queue-url", serverQ, "--wait-time", "1s"}, fixture...)...)
		back = []string{"--backend", "sns-sqs", "--topic-arn", reqTopic, "--response-topic-arn", respTopic}
	}
	proxyArgs := append(back, "--response-queue-url", respQ, "--wait-time", "1s",
		"--tasks", "slow_compute", "--state-dir", t.TempDir(), "--log-level", "debug")
	px := asyncProxy(t, env, proxyArgs...)
	const auth = "Bearer kill-test"
	seconds := 6
	if kind == "sqs" && !graceful && !whileDown {
		seconds = 30 // the proof: a 30-second tool, the proxy killed
	}
	// The client has its own transport, so that its connection is closed
	// before the proxy goes away, not reset by the kill.
	conns := &connCounter{}
	client := &http.Client{Transport: &http.Transport{DialContext: conns.dial}}
	id := e2eCreateTaskWith(t, client, px.Base+"/mcp", auth, float64(seconds), "survivor")
	client.CloseIdleConnections()
	conns.waitClosed(t)
	waitRuns(t, runs, 1)

	if graceful {
		if err := testenv.Terminate(px.p.Cmd.Process); err != nil {
			t.Fatal(err)
		}
	} else {
		testenv.KillPID(px.p.Cmd.Process.Pid)
	}
	<-px.p.Exited()
	if graceful && px.p.Err() != nil {
		t.Errorf("proxy did not exit cleanly on SIGTERM: %v\n%s", px.p.Err(), px.p.Log())
	}
	if whileDown {
		// The tool ends and its answer waits on the response queue before
		// the proxy starts again.
		waitQueued(t, fq, respQ)
	}
	px2 := asyncProxy(t, env, proxyArgs...)
	got := e2eTaskGet(t, px2.Base+"/mcp", auth, id)
	res, _ := got["result"].(map[string]any)
	if res["status"] != "completed" {
		t.Fatalf("task after the restart: %v\nproxy log:\n%s", got, px2.p.Log())
	}
	content, _ := res["result"].(map[string]any)["content"].([]any)
	if want := fmt.Sprintf("slow_compute survivor done after %ds", seconds); len(content) != 1 || content[0].(map[string]any)["text"] != want {
		t.Errorf("result after the restart: %v", res["result"])
	}
	if !strings.Contains(px2.p.Log(), "re-attached") {
		t.Errorf("the restarted proxy did not say it re-attached:\n%s", px2.p.Log())
	}
	if n := countRuns(t, runs); n != 1 {
		t.Errorf("the tool ran %d times, want once", n)
	}
	px2.Stop(t)
}

// A connCounter dials TCP connections and counts those still open.
type connCounter struct{ open atomic.Int64 }

func (c *connCounter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c.open.Add(1)
	return &countedConn{Conn: conn, c: c}, nil
}

// waitClosed waits until every connection dialed is closed, for at most a
// minute.
func (c *connCounter) waitClosed(t *testing.T) {
	t.Helper()
	for range 3000 {
		if c.open.Load() == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%d client connections still open", c.open.Load())
}

type countedConn struct {
	net.Conn
	c    *connCounter
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.c.open.Add(-1) })
	return c.Conn.Close()
}

func countRuns(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Count(string(data), "\n")
}

// waitRuns waits until the fixture logged n runs, for at most a minute.
func waitRuns(t *testing.T, path string, n int) {
	t.Helper()
	for range 3000 {
		if countRuns(t, path) >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the tool did not start %d times within a minute", n)
}

// waitQueued waits until a message waits on queueURL, for at most a minute.
func waitQueued(t *testing.T, fq *testenv.Fauxqs, queueURL string) {
	t.Helper()
	c := fq.SQS(t)
	for range 3000 {
		out, err := c.GetQueueAttributes(t.Context(), &awssqs.GetQueueAttributesInput{
			QueueUrl:       aws.String(queueURL),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages},
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)]; n != "" && n != "0" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no message reached %s within a minute", queueURL)
}
