// SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestMethodLabelIsBounded(t *testing.T) {
	for in, want := range map[string]string{
		"tools/call": "tools/call", "initialize": "initialize", "tasks/get": "tasks/get",
		"": "other", "x/custom": "other", "tools/call/../../x": "other",
	} {
		if got := MethodLabel(in); got != want {
			t.Errorf("MethodLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestQueueHealthFollowsReceives(t *testing.T) {
	const url = "http://127.0.0.1:1/000000000000/health-test"
	if st := Queue(url); !st.Reachable || st.Polled {
		t.Fatalf("before any receive: %+v; want reachable, not polled", st)
	}
	QueuePolled(url, 2, 1, nil)
	if st := Queue(url); !st.Reachable || st.LastReceive.IsZero() {
		t.Fatalf("after a receive: %+v", st)
	}
	QueuePolled(url, 0, 0, errors.New("connection refused"))
	if st := Queue(url); st.Reachable || st.LastError != "connection refused" {
		t.Fatalf("after a failed receive: %+v", st)
	}
	QueuePolled(url, 0, 0, nil)
	if st := Queue(url); !st.Reachable || st.LastError == "" {
		t.Fatalf("after recovering: %+v; want reachable, the last error kept", st)
	}
}

func TestHandlerServesParsableText(t *testing.T) {
	QueueSent("sqs", nil)
	WebhookDelivered(3, nil)
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"asyncmcp_queue_sends_total", "asyncmcp_webhook_retries_total", "asyncmcp_webhook_deliveries_total", "go_goroutines"} {
		if fams[name] == nil {
			t.Errorf("%s missing from the exposition", name)
		}
	}
	if got := fams["asyncmcp_webhook_retries_total"].Metric[0].Counter.GetValue(); got != 2 {
		t.Errorf("webhook_retries_total = %v after one delivery in 3 attempts, want 2", got)
	}
}
