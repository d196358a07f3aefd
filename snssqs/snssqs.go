// SPDX-License-Identifier: Apache-2.0

// Package snssqs carries MCP sessions over Amazon SNS topics fanning into SQS
// queues.
//
// Clients publish to a request topic; the server reads a queue subscribed
// to it ([Listen]) and publishes each session's messages to the topic the
// client named in initialize (params._meta.clientTopicArn), or sends them
// straight to the client's queue (params._meta.responseQueueUrl) when the
// client named no topic. Every server message carries the ClientId
// attribute, so one response topic can serve many clients: each client's
// queue subscribes with the filter policy
// {"ClientId":[id,{"exists":false}]} (its own messages, and those of Python
// asyncmcp servers, which send no ClientId), which [NewClient] sets up
// itself when it creates the queue.
//
// The sessions, delivery guarantees and wire format are those of package
// sqs; see docs/wire-format.md. Both raw and enveloped SNS deliveries are
// accepted.
package snssqs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/metrics"
	"github.com/asyncmcp/asyncmcp-go/internal/queuecore"
	"github.com/asyncmcp/asyncmcp-go/internal/wire"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// sender publishes to topic ARNs and sends to queue URLs.
type sender struct {
	sns *sns.Client
	sqs queuecore.SQSSender
}

func (s sender) Send(ctx context.Context, dest string, env wire.Envelope) error {
	if !wire.IsTopic(dest) {
		return s.sqs.Send(ctx, dest, env)
	}
	attrs := make(map[string]snstypes.MessageAttributeValue, len(env.Attrs))
	for k, v := range env.Attrs {
		attrs[k] = snstypes.MessageAttributeValue{DataType: aws.String(v.DataType), StringValue: aws.String(v.Value)}
	}
	in := &sns.PublishInput{TopicArn: aws.String(dest), Message: aws.String(env.Body), MessageAttributes: attrs}
	if wire.IsFIFO(dest) {
		in.MessageGroupId = aws.String(env.GroupID)
		in.MessageDeduplicationId = aws.String(env.DedupID)
	}
	_, err := s.sns.Publish(ctx, in)
	metrics.QueueSent("sns", err)
	if err != nil {
		return fmt.Errorf("publishing message to SNS topic %s: %w", dest, err)
	}
	return nil
}

// ServerConfig configures [Listen]. SQS, SNS and QueueURL are required.
type ServerConfig struct {
	// SQS reads the request queue (and sends to clients that named a queue).
	SQS *sqs.Client
	// SNS publishes to the topics clients name.
	SNS *sns.Client
	// QueueURL is the server's queue, subscribed to the request topic (raw
	// delivery or not).
	QueueURL string
	// WaitTime, MaxMessages, VisibilityTimeout, Pollers and IdleTimeout
	// configure reading the queue and ending idle sessions, as in
	// sqs.ServerConfig.
	WaitTime          time.Duration
	MaxMessages       int
	VisibilityTimeout time.Duration
	Pollers           int
	IdleTimeout       time.Duration
	// MaxMessageBytes caps the size of messages received and sent. Zero
	// means the limit of each destination: 256 KiB for SNS topics, 1 MiB for
	// SQS queues.
	MaxMessageBytes int
	// MaxReceiveCount and SharedQueue bound how often a request is received
	// unanswered, and how often a message for a session this process does
	// not know is made visible again for other server processes, as in
	// sqs.ServerConfig.
	MaxReceiveCount int
	SharedQueue     int
	// MaxSessions caps the sessions open at once; an initialize beyond it
	// is answered with error -32014. Zero means 1000; negative means no cap.
	MaxSessions int
	// SessionBufferBytes bounds the bytes of received messages a session
	// may hold unread (a request beyond it is answered with -32012). Zero
	// means 16 MiB.
	SessionBufferBytes int
	// EndedSessions and EndedSessionTTL bound the memory of ended sessions
	// (used to answer their clients' later messages with "session not
	// found" and to refuse reusing their ids). Zero means 4096 sessions and
	// 24 hours.
	EndedSessions   int
	EndedSessionTTL time.Duration
	// RequireSessionKey refuses sessions whose client sends no SessionKey
	// (Python asyncmcp clients), so that every session is bound to a secret
	// of its creator. Without it, such sessions are bound to the SQS
	// SenderId of their initialize when the service reports one. See
	// docs/wire-format.md §2.
	RequireSessionKey bool
	// RoundTripper, ListenTimeout and MaxStatelessCalls configure stateless
	// (2026-07-28) requests, as in sqs.ServerConfig.
	RoundTripper      bridge.RoundTripper
	ListenTimeout     time.Duration
	MaxStatelessCalls int
	// Logger receives the transport's logs. Nil means slog.Default().
	Logger *slog.Logger
}

// A Listener accepts client sessions arriving through the request topic. It
// implements [bridge.Listener].
type Listener struct {
	s *queuecore.Server
}

var _ bridge.Listener = (*Listener)(nil)

// Listen starts reading cfg.QueueURL. Close the Listener to stop.
func Listen(cfg ServerConfig) (*Listener, error) {
	if cfg.SNS == nil {
		return nil, errors.New("snssqs: server config: SNS client is nil")
	}
	s, err := queuecore.NewServer(queuecore.ServerConfig{
		SQS:      cfg.SQS,
		QueueURL: cfg.QueueURL,
		Sender:   sender{sns: cfg.SNS, sqs: queuecore.SQSSender{Client: cfg.SQS}},
		Polling: queuecore.Polling{
			WaitTime: cfg.WaitTime, MaxMessages: cfg.MaxMessages,
			VisibilityTimeout: cfg.VisibilityTimeout, Pollers: cfg.Pollers,
		},
		MetaKeys:               []string{wire.MetaClientTopicARN, wire.MetaResponseQueueURL},
		IdleTimeout:            cfg.IdleTimeout,
		MaxMessageBytes:        cfg.MaxMessageBytes,
		MaxReceiveCount:        cfg.MaxReceiveCount,
		UnknownSessionReleases: cfg.SharedQueue,
		RequireSessionKey:      cfg.RequireSessionKey,
		MaxSessions:            cfg.MaxSessions,
		SessionBufferBytes:     cfg.SessionBufferBytes,
		EndedSessions:          cfg.EndedSessions,
		EndedSessionTTL:        cfg.EndedSessionTTL,
		Modern: queuecore.ModernConfig{
			RoundTripper: cfg.RoundTripper, ListenTimeout: cfg.ListenTimeout, MaxCalls: cfg.MaxStatelessCalls,
		},
		Logger: cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("snssqs: %w", err)
	}
	return &Listener{s}, nil
}

// Accept waits for the next client session; see sqs.Listener.Accept.
func (l *Listener) Accept(ctx context.Context) (mcp.Connection, error) { return l.s.Accept(ctx) }

// Close stops accepting sessions; see sqs.Listener.Close.
func (l *Listener) Close() error { return l.s.Close() }

// ClientConfig configures [NewClient] and [ClientTransport]. SQS, SNS and
// TopicARN are required.
type ClientConfig struct {
	SQS *sqs.Client
	SNS *sns.Client
	// TopicARN is the request topic the server's queue is subscribed to.
	TopicARN string
	// ResponseTopicARN is the topic the server publishes this client's
	// messages to (sent as params._meta.clientTopicArn). If empty, the
	// server sends straight to ResponseQueueURL instead.
	ResponseTopicARN string
	// ResponseQueueURL is the queue this client reads. If set together with
	// ResponseTopicARN, it must already be subscribed to that topic. If
	// empty, NewClient creates a queue (subscribed to ResponseTopicARN, if
	// set, with raw delivery and the filter policy
	// {"ClientId":[ClientID,{"exists":false}]}) and Close removes both.
	ResponseQueueURL string
	// ClientID is sent on every message. Empty means a random id.
	ClientID string
	// WaitTime, MaxMessages, VisibilityTimeout and Pollers configure
	// reading the response queue, as in [ServerConfig].
	WaitTime          time.Duration
	MaxMessages       int
	VisibilityTimeout time.Duration
	Pollers           int
	// MaxMessageBytes caps the size of published messages. Zero means the
	// SNS limit, 256 KiB.
	MaxMessageBytes int
	// RequestTimeout fails a request with a JSON-RPC error, and cancels it
	// at the server, when neither its answer nor a notification about it
	// arrived for this long (code -32013 for session requests, whose wait
	// progress notifications restart; for stateless requests any
	// notification for it does, and subscriptions/listen is exempt). Zero
	// means 5 minutes; negative means no limit.
	RequestTimeout time.Duration
	// Logger receives the transport's logs. Nil means slog.Default().
	Logger *slog.Logger
}

// A Client owns one response queue and opens MCP sessions over it, like
// sqs.Client.
type Client struct {
	c *queuecore.Client
}

// NewClient starts polling the response queue, creating (and subscribing)
// it first if cfg.ResponseQueueURL is empty. ctx bounds only that setup.
func NewClient(ctx context.Context, cfg ClientConfig) (*Client, error) {
	switch {
	case cfg.SQS == nil:
		return nil, errors.New("snssqs: client config: SQS client is nil")
	case cfg.SNS == nil:
		return nil, errors.New("snssqs: client config: SNS client is nil")
	case cfg.TopicARN == "":
		return nil, errors.New("snssqs: client config: TopicARN is empty")
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "mcp-client-" + wire.NewID()[:16]
	}
	qc := queuecore.ClientConfig{
		SQS:              cfg.SQS,
		Sender:           sender{sns: cfg.SNS, sqs: queuecore.SQSSender{Client: cfg.SQS}},
		RequestDest:      cfg.TopicARN,
		ResponseQueueURL: cfg.ResponseQueueURL,
		ClientID:         cfg.ClientID,
		Polling: queuecore.Polling{
			WaitTime: cfg.WaitTime, MaxMessages: cfg.MaxMessages,
			VisibilityTimeout: cfg.VisibilityTimeout, Pollers: cfg.Pollers,
		},
		MaxMessageBytes: cfg.MaxMessageBytes,
		RequestTimeout:  cfg.RequestTimeout,
		Logger:          cfg.Logger,
	}
	if cfg.ResponseTopicARN != "" {
		qc.ReplyTo, qc.MetaKey = cfg.ResponseTopicARN, wire.MetaClientTopicARN
		qc.SetUpQueue = func(ctx context.Context, queueURL string) (func(context.Context) error, error) {
			return subscribe(ctx, cfg, queueURL)
		}
	}
	c, err := queuecore.NewClient(ctx, qc)
	if err != nil {
		return nil, fmt.Errorf("snssqs: %w", err)
	}
	return &Client{c}, nil
}

// subscribe lets the response topic deliver to the queue, subscribes the
// queue with the filter policy {"ClientId":[cfg.ClientID]}, and returns
// what unsubscribes it.
func subscribe(ctx context.Context, cfg ClientConfig, queueURL string) (func(context.Context) error, error) {
	qa, err := cfg.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return nil, fmt.Errorf("reading ARN of response queue %s: %w", queueURL, err)
	}
	queueARN := qa.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	// Let the topic deliver to the queue (AWS requires this policy).
	policy, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Effect": "Allow", "Principal": map[string]string{"Service": "sns.amazonaws.com"},
			"Action": "sqs:SendMessage", "Resource": queueARN,
			"Condition": map[string]any{"ArnEquals": map[string]string{"aws:SourceArn": cfg.ResponseTopicARN}},
		}},
	})
	if _, err := cfg.SQS.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{
		QueueUrl: aws.String(queueURL), Attributes: map[string]string{"Policy": string(policy)},
	}); err != nil {
		return nil, fmt.Errorf("allowing topic %s to send to queue %s: %w", cfg.ResponseTopicARN, queueURL, err)
	}
	// Messages for this client, and messages without ClientId: Python
	// asyncmcp servers send none. The queue is this client's own, so it
	// deletes the messages of sessions it does not have.
	filter, _ := json.Marshal(map[string][]any{wire.AttrClientID: {cfg.ClientID, map[string]bool{"exists": false}}})
	sub, err := cfg.SNS.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: aws.String(cfg.ResponseTopicARN), Protocol: aws.String("sqs"), Endpoint: aws.String(queueARN),
		Attributes:            map[string]string{"RawMessageDelivery": "true", "FilterPolicy": string(filter)},
		ReturnSubscriptionArn: true,
	})
	if err != nil {
		return nil, fmt.Errorf("subscribing queue %s to topic %s: %w", queueARN, cfg.ResponseTopicARN, err)
	}
	subARN := aws.ToString(sub.SubscriptionArn)
	return func(ctx context.Context) error {
		if _, err := cfg.SNS.Unsubscribe(ctx, &sns.UnsubscribeInput{SubscriptionArn: aws.String(subARN)}); err != nil {
			return fmt.Errorf("unsubscribing %s: %w", subARN, err)
		}
		return nil
	}, nil
}

// ClientID returns the id this client sends on every message.
func (c *Client) ClientID() string { return c.c.ClientID() }

// ResponseQueueURL returns the queue this client reads.
func (c *Client) ResponseQueueURL() string { return c.c.ResponseQueueURL() }

// Transport returns an [mcp.Transport] for [mcp.Client.Connect]; each
// Connect opens a new session of c.
func (c *Client) Transport() mcp.Transport { return c.c.Transport() }

// Dialer returns a [bridge.Dialer] whose each Dial opens a new session of c.
// It also implements [bridge.RoundTripper] with [Client.RoundTrip], so a
// front hands it the stateless requests it receives.
func (c *Client) Dialer() bridge.Dialer { return c.c.Dialer() }

// RoundTrip sends one stateless (2026-07-28) request and waits for its
// answer, routed back by a fresh RequestKey; see [bridge.RoundTripper] and
// "Stateless requests" in docs/wire-format.md. No session is opened.
func (c *Client) RoundTrip(ctx context.Context, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	return c.c.RoundTrip(ctx, req, notify)
}

// Resume re-attaches to a stateless request sent by an earlier process and
// waits for its answer; it implements tasks.Resumer (see
// [github.com/asyncmcp/asyncmcp-go/tasks]), so that MCP tasks waiting on this
// back survive a proxy restart. The answer must come to the same response
// queue: give ResponseQueueURL.
func (c *Client) Resume(ctx context.Context, correlation []byte, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	return c.c.Resume(ctx, correlation, req, notify)
}

// Close ends every open session (telling the server), stops polling, and
// removes the queue and subscription NewClient created.
func (c *Client) Close() error { return c.c.Close() }

// ClientTransport is an [mcp.Transport] for one session with its own
// [Client]: Connect creates the Client, and closing the connection closes it.
type ClientTransport struct {
	Config ClientConfig
}

// Connect opens the session.
func (t *ClientTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := NewClient(ctx, t.Config)
	if err != nil {
		return nil, err
	}
	return c.c.ConnectOwned(ctx)
}
