// SPDX-License-Identifier: Apache-2.0

package snssqs_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/snssqs"
	"github.com/asyncmcp/asyncmcp-go/transporttest"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

var seq atomic.Int64

func name(prefix string) string { return fmt.Sprintf("%s-%d", prefix, seq.Add(1)) }

// serverSide creates a request topic and a server queue subscribed to it,
// and listens on the queue.
func serverSide(t *testing.T, f *testenv.Fauxqs, raw bool) (topicARN string, l *snssqs.Listener) {
	topicARN = f.CreateTopic(t, name("req"))
	q := f.CreateQueue(t, name("srv"), nil)
	f.Subscribe(t, topicARN, q, raw, "")
	l, err := snssqs.Listen(snssqs.ServerConfig{SQS: f.SQS(t), SNS: f.SNS(t), QueueURL: q})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return topicARN, l
}

func newClient(t *testing.T, cfg snssqs.ClientConfig) *snssqs.Client {
	c, err := snssqs.NewClient(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestConformance runs the suite with enveloped delivery to the server and
// a shared response topic with a ClientId filter policy to the client.
func TestConformance(t *testing.T) {
	f := testenv.StartFauxqs(t)
	respTopic := f.CreateTopic(t, "responses")
	transporttest.Run(t, func(t *testing.T) (mcp.Transport, bridge.Listener) {
		topic, l := serverSide(t, f, false)
		c := newClient(t, snssqs.ClientConfig{SQS: f.SQS(t), SNS: f.SNS(t), TopicARN: topic, ResponseTopicARN: respTopic})
		return c.Transport(), l
	})
}

// TestConformanceRawDirect runs the suite with raw delivery to the server
// and responses sent straight to the client's own queue.
func TestConformanceRawDirect(t *testing.T) {
	f := testenv.StartFauxqs(t)
	transporttest.Run(t, func(t *testing.T) (mcp.Transport, bridge.Listener) {
		topic, l := serverSide(t, f, true)
		c := newClient(t, snssqs.ClientConfig{SQS: f.SQS(t), SNS: f.SNS(t), TopicARN: topic})
		return c.Transport(), l
	})
}

// TestSharedResponseTopicFilterPolicy runs two clients whose queues both
// subscribe to one response topic with a ClientId filter policy: each gets
// its own answers and never sees the other's.
func TestSharedResponseTopicFilterPolicy(t *testing.T) {
	f := testenv.StartFauxqs(t)
	respTopic := f.CreateTopic(t, "shared-responses")
	topic, l := serverSide(t, f, false)
	transporttest.ServeMCP(t, l, transporttest.NewServer())
	ctx := context.Background()
	var clients []*snssqs.Client
	foreign := &countHandler{match: "another client"}
	for range 2 {
		clients = append(clients, newClient(t, snssqs.ClientConfig{SQS: f.SQS(t), SNS: f.SNS(t), TopicARN: topic, ResponseTopicARN: respTopic, Logger: slog.New(foreign)}))
	}
	for i, c := range clients {
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx, c.Transport(), &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		want := fmt.Sprintf("client %d", i)
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": want}})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Content[0].(*mcp.TextContent).Text; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	// Nothing addressed to one client reached the other's queue.
	if n := foreign.n.Load(); n > 0 {
		t.Errorf("%d messages of another client were received; the filter policy did not apply", n)
	}
	for _, c := range clients {
		out, err := f.SQS(t).GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(c.ResponseQueueURL()),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		if err != nil {
			t.Fatal(err)
		}
		if out.Attributes["ApproximateNumberOfMessages"] != "0" || out.Attributes["ApproximateNumberOfMessagesNotVisible"] != "0" {
			t.Errorf("client %s queue holds messages: %v", c.ClientID(), out.Attributes)
		}
	}
}

// countHandler counts log records whose message contains match.
type countHandler struct {
	match string
	n     atomic.Int64
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.match) {
		h.n.Add(1)
	}
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }
