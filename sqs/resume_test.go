// SPDX-License-Identifier: Apache-2.0

package sqs_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/asyncmcp/asyncmcp-go/internal/wire"
	"github.com/asyncmcp/asyncmcp-go/sqs"
	"github.com/asyncmcp/asyncmcp-go/tasks"
)

var _ tasks.Resumer = (*sqs.Client)(nil)

// Resume picks up the answer of a stateless request that another client
// process (here: a hand-made message with its own ClientId) sent with this
// client's response queue as ReplyTo, without sending the request again.
func TestResumeAwaitsAnEarlierRequest(t *testing.T) {
	m := startModern(t, sqs.ServerConfig{}, sqs.ClientConfig{})
	key := wire.NewID()
	req := toolCall(t, "asyncmcp-task-1", "test_simple_text", nil, "")
	env, err := wire.EncodeModern(req, wire.ModernHeader{ClientID: "mcp-client-earlier", ReplyTo: m.client.ResponseQueueURL(), RequestKey: key})
	if err != nil {
		t.Fatal(err)
	}
	corr, _ := json.Marshal(map[string]any{"v": 1, "requestKey": key, "clientId": "mcp-client-earlier", "replyTo": m.client.ResponseQueueURL()})
	type result struct {
		text string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := m.client.Resume(t.Context(), corr, req, nil)
		if err != nil {
			done <- result{err: err}
			return
		}
		text, _ := firstText(t, resp)
		done <- result{text: text}
	}()
	// Sent after Resume started waiting or before: either way the answer
	// waits on the response queue until it is recognised.
	sendRaw(t, m.f.SQS(t), m.req, env)
	r := <-done
	if r.err != nil || r.text != "This is a simple text response for testing." {
		t.Fatalf("Resume: %q %v", r.text, r.err)
	}
	if n := m.back.Started("tools/call", "test_simple_text"); n != 1 {
		t.Errorf("back ran the tool %d times, want 1", n)
	}
}

// Resume refuses a correlation it cannot honour, saying why.
func TestResumeRefusals(t *testing.T) {
	m := startModern(t, sqs.ServerConfig{}, sqs.ClientConfig{})
	req := toolCall(t, "asyncmcp-task-2", "test_simple_text", nil, "")
	other, _ := json.Marshal(map[string]any{"v": 1, "requestKey": wire.NewID(), "clientId": "c", "replyTo": "https://sqs.example/000000000000/gone"})
	for _, tc := range []struct {
		corr []byte
		want string
	}{
		{[]byte("{"), "malformed correlation"},
		{[]byte(`{"v":2,"requestKey":"k"}`), "not understood"},
		{other, "--response-queue-url"},
	} {
		ctx, cancel := context.WithCancel(t.Context())
		cancel() // a refusal must not wait
		_, err := m.client.Resume(ctx, tc.corr, req, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Resume(%s): %v, want an error containing %q", tc.corr, err, tc.want)
		}
	}
}
