// SPDX-License-Identifier: Apache-2.0

// Package sqs carries MCP sessions over Amazon SQS queues.
//
// The server side, [Listen], reads one request queue and yields one
// [mcp.Connection] per client session; hand each to an [mcp.Server] with
// [bridge.ListenerTransport], or pump it to any back with bridge.Serve.
// The client side, [NewClient], owns one response queue and opens any number
// of sessions over it ([Client.Transport] for [mcp.Client.Connect],
// [Client.Dialer] for the bridge); [ClientTransport] is the one-session
// shortcut.
//
// Messages follow the wire format in docs/wire-format.md, compatible with
// Python asyncmcp. Delivery is at-least-once and a request is executed at
// most once per server session: requests are deleted only after their
// response was sent, their visibility is extended while they run, and a
// request delivered again is not run again (its answer is re-sent). A client
// whose server lost the session (a restart) initializes again and resends
// its unanswered requests, transparently.
//
// Each session is bound to its creator: the client sends a random
// SessionKey with every message, and the server refuses messages for the
// session without it, so a stranger who learns a session id can neither act
// in the session nor take it over once it ended (docs/wire-format.md §2.1).
// A client request with neither an answer nor progress within
// ClientConfig.RequestTimeout fails with a JSON-RPC error.
//
// AWS clients come from the caller, normally built with
// config.LoadDefaultConfig so that AWS_REGION, AWS_ENDPOINT_URL, profiles
// and roles work as usual.
package sqs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/queuecore"
	"github.com/asyncmcp/asyncmcp-go/internal/wire"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ServerConfig configures [Listen]. Only Client and QueueURL are required.
type ServerConfig struct {
	// Client is the SQS client used to read the request queue and to send
	// to each session's response queue.
	Client *awssqs.Client
	// QueueURL is the request queue.
	QueueURL string
	// WaitTime is the long-poll wait of each receive. Zero means 20 s.
	WaitTime time.Duration
	// MaxMessages is how many messages one receive may return (1 to 10).
	// Zero means 10.
	MaxMessages int
	// VisibilityTimeout hides a received request from other receivers; it
	// is extended every third of itself while the call runs. Zero means 30 s.
	VisibilityTimeout time.Duration
	// Pollers is how many receives run at once. Zero means 1. With more than
	// one, messages of one session may be handed over out of order on a
	// standard queue.
	Pollers int
	// IdleTimeout ends a session that received nothing and had no call
	// running for this long. Zero means one hour; negative means never.
	IdleTimeout time.Duration
	// MaxMessageBytes caps the size of messages received and sent (body plus
	// attributes). Zero means the SQS limit, 1 MiB.
	MaxMessageBytes int
	// MaxReceiveCount is how often a request may be received without being
	// answered before it is answered with an error and deleted. Zero means 5.
	MaxReceiveCount int
	// SharedQueue is how many times a message for a session this process does
	// not know is made visible again for other server processes reading the
	// same queue before it is answered with "session not found". Zero
	// answers at once (one server process per queue).
	SharedQueue int
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
	// RoundTripper serves stateless (2026-07-28) requests: messages without
	// SessionId whose request declares a modern protocol version in
	// params._meta (see "Stateless requests" in docs/wire-format.md). Any
	// server process reading the queue may answer them. Nil answers them
	// with -32022, naming the session-based versions.
	RoundTripper bridge.RoundTripper
	// ListenTimeout ends a stateless subscriptions/listen with its graceful
	// result after this long. Zero means one hour; negative means never.
	ListenTimeout time.Duration
	// MaxStatelessCalls bounds the stateless requests running at once.
	// Zero means 1024.
	MaxStatelessCalls int
	// Logger receives the transport's logs. Nil means slog.Default().
	Logger *slog.Logger
}

// A Listener accepts client sessions arriving on an SQS request queue. It
// implements [bridge.Listener].
type Listener struct {
	s *queuecore.Server
}

var _ bridge.Listener = (*Listener)(nil)

// Listen starts reading cfg.QueueURL. Close the Listener to stop.
func Listen(cfg ServerConfig) (*Listener, error) {
	s, err := queuecore.NewServer(queuecore.ServerConfig{
		SQS:      cfg.Client,
		QueueURL: cfg.QueueURL,
		Sender:   queuecore.SQSSender{Client: cfg.Client},
		Polling: queuecore.Polling{
			WaitTime: cfg.WaitTime, MaxMessages: cfg.MaxMessages,
			VisibilityTimeout: cfg.VisibilityTimeout, Pollers: cfg.Pollers,
		},
		MetaKeys:               []string{wire.MetaResponseQueueURL},
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
		return nil, fmt.Errorf("sqs: %w", err)
	}
	return &Listener{s}, nil
}

// Accept waits for the next client session. The returned connection's Read
// yields the client's messages and io.EOF once the client ends the session;
// Write sends to the client's response queue; Close ends the session and
// tells the client.
func (l *Listener) Accept(ctx context.Context) (mcp.Connection, error) { return l.s.Accept(ctx) }

// Close stops accepting sessions. Sessions already accepted keep working
// until their owners close them. Sessions closed after Close do not tell the
// client and make their unanswered requests visible again at once, so that
// a new server process takes them over: to restart gracefully, Close the
// Listener first, then close the sessions.
func (l *Listener) Close() error { return l.s.Close() }

// ClientConfig configures [NewClient] and [ClientTransport]. Only Client and
// QueueURL are required.
type ClientConfig struct {
	// Client is the SQS client used for both queues.
	Client *awssqs.Client
	// QueueURL is the server's request queue.
	QueueURL string
	// ResponseQueueURL is the queue the server answers on. It may be shared
	// by many sessions of this client, and by other clients (foreign
	// messages are made visible again for them, a bounded number of times).
	// If empty, NewClient creates a queue and Close deletes it.
	ResponseQueueURL string
	// ClientID is sent on every message. Empty means a random id.
	ClientID string
	// WaitTime, MaxMessages, VisibilityTimeout and Pollers configure
	// reading the response queue, as in [ServerConfig].
	WaitTime          time.Duration
	MaxMessages       int
	VisibilityTimeout time.Duration
	Pollers           int
	// MaxMessageBytes caps the size of sent messages. Zero means 1 MiB.
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

// A Client owns one response queue and opens MCP sessions over it. Many
// sessions share the queue; their messages are told apart by session id.
type Client struct {
	c *queuecore.Client
}

// NewClient starts polling the response queue, creating it first if
// cfg.ResponseQueueURL is empty. ctx bounds only that setup.
func NewClient(ctx context.Context, cfg ClientConfig) (*Client, error) {
	if cfg.Client == nil {
		return nil, errors.New("sqs: client config: Client is nil")
	}
	if cfg.QueueURL == "" {
		return nil, errors.New("sqs: client config: QueueURL is empty")
	}
	c, err := queuecore.NewClient(ctx, queuecore.ClientConfig{
		SQS:              cfg.Client,
		Sender:           queuecore.SQSSender{Client: cfg.Client},
		RequestDest:      cfg.QueueURL,
		ResponseQueueURL: cfg.ResponseQueueURL,
		ClientID:         cfg.ClientID,
		Polling: queuecore.Polling{
			WaitTime: cfg.WaitTime, MaxMessages: cfg.MaxMessages,
			VisibilityTimeout: cfg.VisibilityTimeout, Pollers: cfg.Pollers,
		},
		MaxMessageBytes: cfg.MaxMessageBytes,
		RequestTimeout:  cfg.RequestTimeout,
		Logger:          cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("sqs: %w", err)
	}
	return &Client{c}, nil
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
// deletes the response queue if NewClient created it.
func (c *Client) Close() error { return c.c.Close() }

// ClientTransport is an [mcp.Transport] for one session with its own
// [Client]: Connect creates the Client, and closing the connection closes it
// (deleting the response queue it created).
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
