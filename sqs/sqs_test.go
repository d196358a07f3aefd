// SPDX-License-Identifier: Apache-2.0

package sqs_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/sqs"
	"github.com/asyncmcp/asyncmcp-go/transporttest"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

var queueSeq atomic.Int64

// quietLog shows warnings and errors only; set ASYNCMCP_TEST_DEBUG=1 for all.
var quietLog = func() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("ASYNCMCP_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}()

// newQueue creates a fresh queue with a unique name.
func newQueue(t testing.TB, f *testenv.Fauxqs, prefix string, attrs map[string]string) string {
	return f.CreateQueue(t, fmt.Sprintf("%s-%d", prefix, queueSeq.Add(1)), attrs)
}

// listen starts a Listener on queueURL, closed when the test ends.
func listen(t testing.TB, f *testenv.Fauxqs, cfg sqs.ServerConfig) *sqs.Listener {
	t.Helper()
	cfg.Client = f.SQS(t)
	if cfg.Logger == nil {
		cfg.Logger = quietLog
	}
	l, err := sqs.Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func newClient(t testing.TB, f *testenv.Fauxqs, cfg sqs.ClientConfig) *sqs.Client {
	t.Helper()
	cfg.Client = f.SQS(t)
	if cfg.Logger == nil {
		cfg.Logger = quietLog
	}
	c, err := sqs.NewClient(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConformance(t *testing.T) {
	f := testenv.StartFauxqs(t)
	transporttest.Run(t, func(t *testing.T) (mcp.Transport, bridge.Listener) {
		req := newQueue(t, f, "req", nil)
		resp := newQueue(t, f, "resp", nil)
		l := listen(t, f, sqs.ServerConfig{QueueURL: req})
		c := newClient(t, f, sqs.ClientConfig{QueueURL: req, ResponseQueueURL: resp})
		return c.Transport(), l
	})
}
