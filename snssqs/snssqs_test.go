package snssqs_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/snssqs"
	"github.com/asyncmcp/asyncmcp-go/transporttest"
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
