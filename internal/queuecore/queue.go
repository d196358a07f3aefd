// SPDX-License-Identifier: Apache-2.0

// Package queuecore is the shared core of the sqs and snssqs transports: the
// long-polling receive loop, batched deletes and visibility extension, the
// server side that turns one request queue into many MCP sessions, and the
// client side that demultiplexes one response queue into many sessions.
// The transports differ only in how they send (SQS SendMessage or SNS
// Publish) and in the _meta key of initialize; see [Sender].
package queuecore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/metrics"
	"github.com/asyncmcp/asyncmcp-go/internal/wire"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// A Sender delivers an envelope to a destination, a queue URL or a topic ARN.
type Sender interface {
	Send(ctx context.Context, dest string, env wire.Envelope) error
}

// SQSSender sends envelopes to SQS queues with SendMessage.
type SQSSender struct {
	Client *sqs.Client
}

// Send sends env to the queue at URL dest, with MessageGroupId and
// MessageDeduplicationId when the queue is FIFO.
func (s SQSSender) Send(ctx context.Context, dest string, env wire.Envelope) error {
	in := &sqs.SendMessageInput{
		QueueUrl:          aws.String(dest),
		MessageBody:       aws.String(env.Body),
		MessageAttributes: ToSQS(env.Attrs),
	}
	if wire.IsFIFO(dest) {
		in.MessageGroupId = aws.String(env.GroupID)
		in.MessageDeduplicationId = aws.String(env.DedupID)
	}
	_, err := s.Client.SendMessage(ctx, in)
	metrics.QueueSent("sqs", err)
	if err != nil {
		return fmt.Errorf("sending message to SQS queue %s: %w", dest, err)
	}
	return nil
}

// ToSQS converts attributes to SQS message attributes.
func ToSQS(a wire.Attributes) map[string]types.MessageAttributeValue {
	out := make(map[string]types.MessageAttributeValue, len(a))
	for k, v := range a {
		out[k] = types.MessageAttributeValue{DataType: aws.String(v.DataType), StringValue: aws.String(v.Value)}
	}
	return out
}

// FromSQS converts SQS message attributes; binary ones are skipped.
func FromSQS(m map[string]types.MessageAttributeValue) wire.Attributes {
	out := make(wire.Attributes, len(m))
	for k, v := range m {
		if v.StringValue == nil {
			continue
		}
		out[k] = wire.Attr{DataType: aws.ToString(v.DataType), Value: *v.StringValue}
	}
	return out
}

// Polling configures how a queue is read. The zero value gives 20-second
// long polls of up to 10 messages, a 30-second visibility timeout and one
// poller.
type Polling struct {
	WaitTime          time.Duration
	MaxMessages       int
	VisibilityTimeout time.Duration
	Pollers           int
}

func (p Polling) withDefaults() Polling {
	if p.WaitTime <= 0 {
		p.WaitTime = 20 * time.Second
	}
	if p.WaitTime > 20*time.Second {
		p.WaitTime = 20 * time.Second
	}
	if p.MaxMessages <= 0 || p.MaxMessages > 10 {
		p.MaxMessages = 10
	}
	if p.VisibilityTimeout <= 0 {
		p.VisibilityTimeout = 30 * time.Second
	}
	if p.Pollers <= 0 {
		p.Pollers = 1
	}
	return p
}

// A received is one message taken from a queue.
type received struct {
	decoded      wire.Decoded
	receipt      string
	receiveCount int
	messageID    string
	// senderID is the SQS SenderId system attribute: the principal that
	// sent the message, when the service reports it.
	senderID string
}

// A queueReader long-polls one queue with several pollers and owns the
// batched deletes and visibility changes of that queue's messages.
type queueReader struct {
	client *sqs.Client
	url    string
	p      Polling
	log    *slog.Logger
	handle func(received)

	// wake, if set, sends a wake-up message to the queue: stop uses it
	// to end the long polls in flight instead of cancelling them (see
	// stop).
	wake func(ctx context.Context) error

	mu       sync.Mutex
	pending  []string // receipt handles to delete
	kick     chan struct{}
	stopped  bool
	stopping atomic.Bool // pollers release what they receive and exit

	cancel  context.CancelFunc
	wg      sync.WaitGroup
	pollers sync.WaitGroup
}

func newQueueReader(client *sqs.Client, url string, p Polling, log *slog.Logger, handle func(received)) *queueReader {
	return &queueReader{client: client, url: url, p: p.withDefaults(), log: log, handle: handle, kick: make(chan struct{}, 1)}
}

// start launches the pollers and the deleter; stop ends them.
func (r *queueReader) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	for range r.p.Pollers {
		r.pollers.Add(1)
		r.wg.Go(func() {
			defer r.pollers.Done()
			r.poll(ctx)
		})
	}
	r.wg.Go(func() { r.deleteLoop(ctx) })
}

// stop ends polling, flushes pending deletes and waits for its goroutines.
//
// A long poll cancelled on the client side may still be served by the
// queue: a message arriving during its remaining wait is handed to nobody
// and stays invisible for a whole visibility timeout (a new process reading
// the same response queue then waits that long for its answer). So, when
// the reader can wake its own polls (wake is set), stop sends one wake-up
// message per poller and lets the polls return by themselves; they release
// what they received (visibility 0) and delete the wake-ups. Only polls
// still running after a grace period are cancelled.
func (r *queueReader) stop() {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	r.stopped = true
	r.mu.Unlock()
	if r.wake != nil {
		r.stopping.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), stopGrace)
		for range r.p.Pollers {
			if err := r.wake(ctx); err != nil {
				r.log.Debug("waking the pollers to stop", "err", err)
				break
			}
		}
		polled := make(chan struct{})
		go func() { r.pollers.Wait(); close(polled) }()
		select {
		case <-polled:
		case <-ctx.Done():
		}
		cancel()
	}
	r.cancel()
	r.wg.Wait()
	r.flush(context.Background())
}

// stopGrace bounds how long stop waits for woken polls to return.
const stopGrace = 3 * time.Second

func (r *queueReader) poll(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		out, err := r.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(r.url),
			MaxNumberOfMessages:         int32(r.p.MaxMessages),
			WaitTimeSeconds:             int32(r.p.WaitTime / time.Second),
			VisibilityTimeout:           int32(r.p.VisibilityTimeout / time.Second),
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount, types.MessageSystemAttributeNameSenderId},
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			metrics.QueuePolled(r.url, 0, 0, err)
			// Errors, unlike empty polls, back off, so a missing queue or
			// bad credentials do not spin.
			r.log.Error("receiving from SQS queue", "queue", r.url, "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		metrics.QueuePolled(r.url, len(out.Messages), redelivered(out.Messages), nil)
		if r.stopping.Load() {
			r.drain(out.Messages)
			return
		}
		for _, m := range out.Messages {
			n, _ := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
			r.handle(received{
				decoded:      wire.Decode(aws.ToString(m.Body), FromSQS(m.MessageAttributes)),
				receipt:      aws.ToString(m.ReceiptHandle),
				receiveCount: n,
				messageID:    aws.ToString(m.MessageId),
				senderID:     m.Attributes[string(types.MessageSystemAttributeNameSenderId)],
			})
		}
		if len(out.Messages) > 0 {
			// Let the session readers just woken run before this goroutine
			// spends its time slice building and signing the next receive:
			// on a busy machine that alone delayed each hand-over by about
			// 0.1 ms.
			runtime.Gosched()
		}
	}
}

// drain disposes of messages received while stopping: wake-ups are
// deleted, everything else is made visible again at once for the next
// reader.
func (r *queueReader) drain(msgs []types.Message) {
	var release []string
	for _, m := range msgs {
		if attr, ok := m.MessageAttributes[wire.AttrMessageType]; ok && aws.ToString(attr.StringValue) == wire.TypeWake {
			r.delete(aws.ToString(m.ReceiptHandle))
			continue
		}
		release = append(release, aws.ToString(m.ReceiptHandle))
	}
	if len(release) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.setVisibility(ctx, release, 0)
	}
}

// delete schedules the deletion of a message. Deletes are sent in batches
// of up to 10: at once when the queue is quiet, together under load.
func (r *queueReader) delete(receipt string) {
	if receipt == "" {
		return
	}
	r.mu.Lock()
	r.pending = append(r.pending, receipt)
	stopped := r.stopped
	r.mu.Unlock()
	if stopped {
		r.flush(context.Background())
		return
	}
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *queueReader) deleteLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
			// A delete is scheduled right after a message is handed to its
			// session; yield so that the session's reader, readied just
			// before, runs ahead of the DeleteMessageBatch call.
			runtime.Gosched()
			r.flush(context.Background())
		}
	}
}

// flush deletes every pending message. It runs to completion even while
// the reader stops, so that handled messages do not come back.
func (r *queueReader) flush(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		r.mu.Lock()
		n := min(len(r.pending), 10)
		batch := r.pending[:n:n]
		r.pending = r.pending[n:]
		r.mu.Unlock()
		if n == 0 {
			return
		}
		entries := make([]types.DeleteMessageBatchRequestEntry, n)
		for i, h := range batch {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(h)}
		}
		out, err := r.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(r.url), Entries: entries})
		metrics.QueueDeleted(deletedCount(out), failedCount(out), err)
		if err != nil {
			r.log.Error("deleting messages from SQS queue", "queue", r.url, "count", n, "err", err)
			continue
		}
		for _, f := range out.Failed {
			r.log.Warn("deleting message from SQS queue failed", "queue", r.url, "code", aws.ToString(f.Code), "msg", aws.ToString(f.Message))
		}
	}
}

// setVisibility changes the visibility timeout of messages, 10 per call.
func (r *queueReader) setVisibility(ctx context.Context, receipts []string, d time.Duration) {
	for len(receipts) > 0 {
		n := min(len(receipts), 10)
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, n)
		for i, h := range receipts[:n] {
			entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(h), VisibilityTimeout: int32(d / time.Second)}
		}
		receipts = receipts[n:]
		out, err := r.client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(r.url), Entries: entries})
		if err != nil {
			metrics.QueueVisibilityFailed()
			r.log.Warn("changing message visibility", "queue", r.url, "count", n, "err", err)
			continue
		}
		for _, f := range out.Failed {
			r.log.Debug("changing message visibility failed", "queue", r.url, "code", aws.ToString(f.Code), "msg", aws.ToString(f.Message))
		}
	}
}

// release makes a message visible again at once, for another consumer.
func (r *queueReader) release(receipt string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.setVisibility(ctx, []string{receipt}, 0)
}

// rejected wraps err so that the SDK fails the one message's call without
// breaking the session (jsonrpc2.ErrRejected has code -32005).
func rejected(err error) error {
	return fmt.Errorf("%w: %w", &jsonrpc.Error{Code: -32005, Message: "rejected by transport"}, err)
}

// errClosed is returned by operations on a closed connection or listener.
var errClosed = errors.New("queue transport closed")

// limitFor returns the size limit for a destination: max if positive, else
// the service's limit.
func limitFor(dest string, max int) int {
	if max > 0 {
		return max
	}
	if wire.IsTopic(dest) {
		return wire.SNSMaxBytes
	}
	return wire.SQSMaxBytes
}

func idKey(id jsonrpc.ID) string { return wire.IDString(id) }
