// SPDX-License-Identifier: Apache-2.0

package snssqs_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/snssqs"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// statelessCall builds a 2026-07-28 tools/call of test_tool_with_progress.
func statelessCall(t *testing.T, token string) *jsonrpc.Request {
	p, _ := json.Marshal(map[string]any{
		"name": "test_tool_with_progress",
		"_meta": map[string]any{
			"progressToken":               token,
			rpcmsg.MetaProtocolVersion:    rpcmsg.ModernVersion,
			rpcmsg.MetaClientCapabilities: map[string]any{},
		},
	})
	id, _ := jsonrpc.MakeID(float64(1))
	return &jsonrpc.Request{ID: id, Method: "tools/call", Params: p}
}

// TestStatelessOverSNS sends stateless requests through a request topic
// (enveloped delivery to the server's queue) from two clients sharing a
// response topic (ClientId filter policy) and one answered straight on its
// queue: each caller gets its own progress and answer, and the requests run
// once each on the Go SDK everything-server.
func TestStatelessOverSNS(t *testing.T) {
	f := testenv.StartFauxqs(t)
	back := testenv.StartScaffoldRoundTripper(t, testenv.GoEverythingServer(t))
	topic := f.CreateTopic(t, name("req"))
	q := f.CreateQueue(t, name("srv"), nil)
	f.Subscribe(t, topic, q, false, "")
	l, err := snssqs.Listen(snssqs.ServerConfig{SQS: f.SQS(t), SNS: f.SNS(t), QueueURL: q, RoundTripper: back})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })

	respTopic := f.CreateTopic(t, name("resp"))
	foreign := &countHandler{match: "another client"}
	clients := []*snssqs.Client{
		newClient(t, snssqs.ClientConfig{SQS: f.SQS(t), SNS: f.SNS(t), TopicARN: topic, ResponseTopicARN: respTopic, Logger: slog.New(foreign)}),
		newClient(t, snssqs.ClientConfig{SQS: f.SQS(t), SNS: f.SNS(t), TopicARN: topic, ResponseTopicARN: respTopic, Logger: slog.New(foreign)}),
		newClient(t, snssqs.ClientConfig{SQS: f.SQS(t), SNS: f.SNS(t), TopicARN: topic}),
	}
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			tok := fmt.Sprintf("client-%d", i)
			var got []string
			var mu sync.Mutex
			resp, err := c.RoundTrip(t.Context(), statelessCall(t, tok), func(n *jsonrpc.Request) {
				var p struct {
					Token string `json:"progressToken"`
				}
				json.Unmarshal(n.Params, &p)
				mu.Lock()
				got = append(got, n.Method+" "+p.Token)
				mu.Unlock()
			})
			if err != nil {
				t.Error(err)
				return
			}
			if resp.Error != nil || !strings.Contains(string(resp.Result), `"resultType":"complete"`) {
				t.Errorf("client %d: %v %s", i, resp.Error, resp.Result)
			}
			mu.Lock()
			defer mu.Unlock()
			want := strings.Repeat("notifications/progress "+tok+"|", 3)
			if strings.Join(got, "|")+"|" != want {
				t.Errorf("client %d got notifications %q", i, got)
			}
		})
	}
	wg.Wait()
	if n := back.Started("tools/call"); n != len(clients) {
		t.Errorf("back ran %d calls for %d requests", n, len(clients))
	}
	if n := foreign.n.Load(); n > 0 {
		t.Errorf("%d messages of another client were received; the filter policy did not apply", n)
	}
}
