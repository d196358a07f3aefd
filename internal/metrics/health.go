// SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"sync"
	"time"
)

// QueueStatus is the reachability of one SQS queue as seen by its pollers.
type QueueStatus struct {
	Queue string `json:"queue"`
	// Reachable is false when the last receive failed.
	Reachable   bool      `json:"reachable"`
	LastReceive time.Time `json:"last_receive,omitzero"` // end of the last successful ReceiveMessage
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Polled is false until the first receive has finished either way.
	Polled bool `json:"polled"`
}

type queueRecord struct {
	mu sync.Mutex
	st QueueStatus
}

func (r *queueRecord) record(err error, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st.Polled = true
	if err != nil {
		r.st.Reachable = false
		r.st.LastError = err.Error()
		r.st.LastErrorAt = now
		return
	}
	r.st.Reachable = true
	r.st.LastReceive = now
}

var (
	queuesMu sync.Mutex
	queues   = map[string]*queueRecord{}
)

// queueHealth returns the record of queueURL, creating it. Records are kept
// per queue URL; a process reads few queues, all named in its configuration.
func queueHealth(queueURL string) *queueRecord {
	queuesMu.Lock()
	defer queuesMu.Unlock()
	r := queues[queueURL]
	if r == nil {
		r = &queueRecord{st: QueueStatus{Queue: queueURL}}
		queues[queueURL] = r
	}
	return r
}

// Queue reports the reachability of queueURL. Before the first receive has
// finished, Reachable is true and Polled false: start-up already checked
// that the queue exists.
func Queue(queueURL string) QueueStatus {
	queuesMu.Lock()
	r := queues[queueURL]
	queuesMu.Unlock()
	if r == nil {
		return QueueStatus{Queue: queueURL, Reachable: true}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.st
	if !st.Polled {
		st.Reachable = true
	}
	return st
}

// WebhookStatus is the outcome of the last webhook delivery.
type WebhookStatus struct {
	Outcome  string    `json:"outcome,omitempty"` // "ok", "failed", or empty before the first
	At       time.Time `json:"at,omitzero"`
	Attempts int       `json:"attempts,omitempty"`
	Error    string    `json:"error,omitempty"`
}

type webhookRecord struct {
	mu sync.Mutex
	st WebhookStatus
}

var webhook webhookRecord

func (r *webhookRecord) record(attempts int, err error, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st = WebhookStatus{Outcome: "ok", At: now, Attempts: attempts}
	if err != nil {
		r.st.Outcome = "failed"
		r.st.Error = err.Error()
	}
}

// LastWebhookDelivery reports the outcome of the last webhook delivery this
// process made.
func LastWebhookDelivery() WebhookStatus {
	webhook.mu.Lock()
	defer webhook.mu.Unlock()
	return webhook.st
}
