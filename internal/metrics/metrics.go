// SPDX-License-Identifier: Apache-2.0

// Package metrics holds the process's Prometheus metrics and the small
// health records that /status reads. It owns one registry, [Registry], with
// every asyncmcp_ metric plus the Go runtime and process collectors; the
// transports and the CLI record into it with one-line calls.
//
// Label values are bounded: a method label is one of the MCP methods known
// here or "other"; a server label is a configured server name; no label
// carries a session, client or request id.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds every metric of this process.
var Registry = prometheus.NewRegistry()

var (
	// SessionsOpen counts client sessions being bridged to a back, by server
	// ("default" for the unnamed one).
	SessionsOpen = gaugeVec("asyncmcp_sessions_open", "Client sessions currently bridged to a back.", "server")
	// SessionsTotal counts sessions ever opened, by server.
	SessionsTotal = counterVec("asyncmcp_sessions_total", "Client sessions opened.", "server")
	// ClientsOpen counts HTTP connections open on the listener.
	ClientsOpen = gauge("asyncmcp_clients_open", "HTTP client connections currently open on the listener.")

	// Requests counts client requests by method and outcome: ok, error (a
	// JSON-RPC error answer), cancelled, unanswered (the session ended
	// first).
	Requests = counterVec("asyncmcp_requests_total", "Client requests forwarded to a back, by method and outcome.", "server", "method", "outcome")
	// RequestDuration is the time from forwarding a request to its answer.
	RequestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "asyncmcp_request_duration_seconds",
		Help:    "Time from forwarding a client request to the back until its answer, by method.",
		Buckets: []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300},
	}, []string{"server", "method"})

	// ChildrenStarted counts child processes started, by server.
	ChildrenStarted = counterVec("asyncmcp_children_started_total", "MCP server child processes started.", "server")
	// ChildrenCrashed counts children that exited on their own.
	ChildrenCrashed = counterVec("asyncmcp_children_crashed_total", "MCP server child processes that exited before asyncmcp stopped them.", "server")
	// ChildrenAlive counts children running now.
	ChildrenAlive = gaugeVec("asyncmcp_children_alive", "MCP server child processes running now.", "server")
	// ChildrenMemory is the resident memory of each server's children and
	// their process groups (Linux only), refreshed at each scrape.
	ChildrenMemory = gaugeVec("asyncmcp_children_resident_memory_bytes", "Resident memory of the MCP server children and the processes in their process groups (Linux only).", "server")
	// ChildrenRefused counts sessions refused because the child cap was
	// reached.
	ChildrenRefused = counter("asyncmcp_children_refused_total", "Sessions refused because the cap on children (--max-children) was reached.")

	// QueueSends counts messages sent, by service (sqs or sns) and outcome.
	QueueSends = counterVec("asyncmcp_queue_sends_total", "Messages sent to SQS queues or published to SNS topics, by service and outcome (ok, error).", "service", "outcome")
	// QueueReceives counts messages received from SQS queues.
	QueueReceives = counter("asyncmcp_queue_receives_total", "Messages received from SQS queues.")
	// QueueRedeliveries counts received messages that had been received
	// before (ApproximateReceiveCount > 1).
	QueueRedeliveries = counter("asyncmcp_queue_redeliveries_total", "Messages received again after an earlier receive (ApproximateReceiveCount > 1).")
	// QueueDeletes counts messages deleted after handling.
	QueueDeletes = counter("asyncmcp_queue_deletes_total", "Messages deleted from SQS queues after handling.")
	// QueueErrors counts failed queue calls, by operation.
	QueueErrors = counterVec("asyncmcp_queue_errors_total", "Failed SQS/SNS calls, by operation (receive, delete, visibility, send).", "operation")

	// TaskTransitions counts task status changes (proxy-side MCP Tasks), by
	// server and the status entered: working (on creation, and again once
	// requested input is answered), input_required, completed, failed,
	// cancelled.
	TaskTransitions = counterVec("asyncmcp_tasks_total", "MCP Tasks entering each status, by server (working counts creations and resumptions after input).", "server", "status")
	// TasksStored is the number of tasks in the task store, finished or
	// not, refreshed at each scrape.
	TasksStored = gauge("asyncmcp_tasks_stored", "Tasks held in the task store (--state-dir), finished or not, until their TTL passes.")
	// TaskStoreBytes is the encoded size of the stored tasks.
	TaskStoreBytes = gauge("asyncmcp_task_store_bytes", "Encoded size of the tasks held in the task store (bounded by --max-task-bytes).")

	// WebhookDeliveries counts webhook deliveries by final outcome.
	WebhookDeliveries = counterVec("asyncmcp_webhook_deliveries_total", "Webhook deliveries, by final outcome (ok, failed).", "outcome")
	// WebhookRetries counts delivery attempts after the first.
	WebhookRetries = counter("asyncmcp_webhook_retries_total", "Webhook delivery attempts after a failed first attempt.")
)

func init() {
	Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

func counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	Registry.MustRegister(c)
	return c
}

func gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	Registry.MustRegister(g)
	return g
}

func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	Registry.MustRegister(c)
	return c
}

func gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	Registry.MustRegister(g)
	return g
}

func init() { Registry.MustRegister(RequestDuration) }

// Handler serves the registry in the Prometheus text exposition format.
func Handler() http.Handler {
	return promhttp.HandlerFor(Registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Outcome is "ok" for a nil error, else "error".
func outcome(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// QueueSent records one send to an SQS queue or SNS topic.
func QueueSent(service string, err error) {
	QueueSends.WithLabelValues(service, outcome(err)).Inc()
	if err != nil {
		QueueErrors.WithLabelValues("send").Inc()
	}
}

// QueuePolled records the result of one ReceiveMessage call on queueURL:
// err nil with n messages, of which redelivered had been received before.
// It also updates the queue's health record for /status.
func QueuePolled(queueURL string, n, redelivered int, err error) {
	if err != nil {
		QueueErrors.WithLabelValues("receive").Inc()
	} else {
		QueueReceives.Add(float64(n))
		QueueRedeliveries.Add(float64(redelivered))
	}
	queueHealth(queueURL).record(err, time.Now())
}

// QueueDeleted records a DeleteMessageBatch call: deleted messages went,
// failed did not; err is the call's own error.
func QueueDeleted(deleted, failed int, err error) {
	QueueDeletes.Add(float64(deleted))
	if err != nil || failed > 0 {
		QueueErrors.WithLabelValues("delete").Inc()
	}
}

// QueueVisibilityFailed records a failed ChangeMessageVisibilityBatch call.
func QueueVisibilityFailed() { QueueErrors.WithLabelValues("visibility").Inc() }

// WebhookDelivered records the end of one delivery: attempts made and the
// final error (nil on success). It also updates the webhook health record.
func WebhookDelivered(attempts int, err error) {
	if err != nil {
		WebhookDeliveries.WithLabelValues("failed").Inc()
	} else {
		WebhookDeliveries.WithLabelValues("ok").Inc()
	}
	if attempts > 1 {
		WebhookRetries.Add(float64(attempts - 1))
	}
	webhook.record(attempts, err, time.Now())
}
