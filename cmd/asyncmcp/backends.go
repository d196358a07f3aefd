// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/httpfront"
	"github.com/asyncmcp/asyncmcp-go/internal/metrics"
	"github.com/asyncmcp/asyncmcp-go/snssqs"
	"github.com/asyncmcp/asyncmcp-go/sqs"
	"github.com/asyncmcp/asyncmcp-go/webhook"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
)

// queueFlags configure the SQS and SNS+SQS transports, on either side.
type queueFlags struct {
	queueURL         string
	responseQueueURL string
	topicARN         string
	responseTopicARN string
	waitTime         time.Duration
	visibility       time.Duration
	pollers          int
	idleTimeout      time.Duration
	maxMessageBytes  int
	maxReceiveCount  int
	sharedQueue      int
	requireKey       bool
	bufferBytes      int
	maxSessions      int           // server side, from --max-sessions
	requestTimeout   time.Duration // client side, from --response-timeout
	listenTimeout    time.Duration
	// roundTripper serves stateless (2026-07-28) requests on the server
	// side; nil answers them with -32022.
	roundTripper bridge.RoundTripper
}

func (q *queueFlags) registerCommon(fs *flagSet, g string) {
	fs.durationVar(&q.waitTime, []string{"--wait-time"}, g, "long-poll wait of each receive (default 20s)")
	fs.durationVar(&q.visibility, []string{"--visibility-timeout"}, g, "visibility timeout of received messages, extended while a call runs (default 30s)")
	fs.intVar(&q.pollers, []string{"--pollers"}, "N", g, "concurrent receives (default 1)")
	fs.intVar(&q.maxMessageBytes, []string{"--max-message-bytes"}, "N", g, "largest message sent or accepted (default: the service limit)")
}

func (q *queueFlags) registerServer(fs *flagSet, g string) {
	fs.stringVar(&q.queueURL, []string{"--queue-url"}, "URL", g, "request queue to read (for sns-sqs: the queue subscribed to the request topic)")
	fs.durationVar(&q.idleTimeout, []string{"--idle-timeout"}, g, "any transport: end a session idle this long and stop its child (default 1h; hybrid 30m; negative: never)")
	fs.intVar(&q.maxReceiveCount, []string{"--max-receive-count"}, "N", g, "receives of an unanswered request before it is answered with an error and deleted (default 5)")
	fs.intVar(&q.sharedQueue, []string{"--shared-queue"}, "N", g, "several server processes read this queue: release a message of an unknown session N times before refusing it")
	fs.intVar(&q.bufferBytes, []string{"--session-buffer-bytes"}, "N", g, "bytes of received messages a session may hold unread (default 16 MiB)")
	fs.boolVar(&q.requireKey, "--require-session-key", "", g, "refuse clients that send no SessionKey (Python asyncmcp clients), so every session is bound to its creator's secret")
	fs.durationVar(&q.listenTimeout, []string{"--listen-timeout"}, g, "sqs, sns-sqs, webhook: end a 2026-07-28 subscriptions/listen with its graceful result after this long (default 1h; negative: never)")
	q.registerCommon(fs, g)
}

func (q *queueFlags) registerClient(fs *flagSet, g string) {
	fs.stringVar(&q.queueURL, []string{"--queue-url"}, "URL", g, "sqs: the server's request queue")
	fs.stringVar(&q.responseQueueURL, []string{"--response-queue-url"}, "URL", g, "queue the server answers on, shared by all sessions (default: a queue created now and deleted on exit)")
	fs.stringVar(&q.topicARN, []string{"--topic-arn"}, "ARN", g, "sns-sqs: the server's request topic")
	fs.stringVar(&q.responseTopicARN, []string{"--response-topic-arn"}, "ARN", g, "sns-sqs: topic the server publishes answers to (subscribed by --response-queue-url)")
	q.registerCommon(fs, g)
}

// fromEnv fills unset options from the environment, for containers.
func (q *queueFlags) fromEnv() {
	set := func(p *string, names ...string) {
		for _, n := range names {
			if *p == "" {
				*p = os.Getenv(n)
			}
		}
	}
	set(&q.queueURL, "ASYNCMCP_QUEUE_URL", "SQS_QUEUE_URL")
	set(&q.responseQueueURL, "ASYNCMCP_RESPONSE_QUEUE_URL", "SQS_RESPONSE_QUEUE_URL")
	set(&q.topicARN, "ASYNCMCP_TOPIC_ARN", "SNS_TOPIC_ARN")
	set(&q.responseTopicARN, "ASYNCMCP_RESPONSE_TOPIC_ARN", "SNS_RESPONSE_TOPIC_ARN")
}

func awsConfig(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("no AWS region: set AWS_REGION (or a profile with a region)")
	}
	return cfg, nil
}

// listener builds the server side of a queue transport.
func (q *queueFlags) listener(ctx context.Context, kind string, log *slog.Logger) (bridge.Listener, error) {
	q.fromEnv()
	if q.queueURL == "" {
		return nil, usagef("--transport %s needs --queue-url URL", kind)
	}
	cfg, err := awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkAWS(ctx, cfg, map[string]string{"request queue (--queue-url)": q.queueURL}, nil); err != nil {
		return nil, err
	}
	switch kind {
	case "sqs":
		return sqs.Listen(sqs.ServerConfig{
			Client:             awssqs.NewFromConfig(cfg),
			QueueURL:           q.queueURL,
			WaitTime:           q.waitTime,
			VisibilityTimeout:  q.visibility,
			Pollers:            q.pollers,
			IdleTimeout:        q.idleTimeout,
			MaxMessageBytes:    q.maxMessageBytes,
			MaxReceiveCount:    q.maxReceiveCount,
			SharedQueue:        q.sharedQueue,
			RequireSessionKey:  q.requireKey,
			MaxSessions:        q.maxSessions,
			SessionBufferBytes: q.bufferBytes,
			RoundTripper:       q.roundTripper,
			ListenTimeout:      q.listenTimeout,
			Logger:             log,
		})
	}
	return snsSQSListener(cfg, q, log)
}

// dialer builds the client side of a queue transport, after checking that
// its queues and topics exist; status reports whether the response queue is
// being read.
func (q *queueFlags) dialer(ctx context.Context, kind string, log *slog.Logger) (bridge.Dialer, func(), httpfront.StatusFunc, error) {
	q.fromEnv()
	cfg, err := awsConfig(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	if kind == "sqs" {
		if q.queueURL == "" {
			return nil, nil, nil, usagef("--backend sqs needs --queue-url URL")
		}
		if err := checkAWS(ctx, cfg, map[string]string{"request queue (--queue-url)": q.queueURL, "response queue (--response-queue-url)": q.responseQueueURL}, nil); err != nil {
			return nil, nil, nil, err
		}
		c, err := sqs.NewClient(ctx, sqs.ClientConfig{
			Client:            awssqs.NewFromConfig(cfg),
			QueueURL:          q.queueURL,
			ResponseQueueURL:  q.responseQueueURL,
			WaitTime:          q.waitTime,
			VisibilityTimeout: q.visibility,
			Pollers:           q.pollers,
			MaxMessageBytes:   q.maxMessageBytes,
			RequestTimeout:    q.requestTimeout,
			Logger:            log,
		})
		if err != nil {
			return nil, nil, nil, err
		}
		return c.Dialer(), func() { c.Close() }, queueStatus(kind, c.ResponseQueueURL()), nil
	}
	return snsSQSDialer(ctx, cfg, q, log)
}

// queueStatus reports, for /status, whether the queue this process reads is
// reachable: the last receive succeeded.
func queueStatus(kind, queueURL string) httpfront.StatusFunc {
	return func() (bool, any) {
		st := metrics.Queue(queueURL)
		return st.Reachable, struct {
			Transport string              `json:"transport"`
			Queue     metrics.QueueStatus `json:"response_queue"`
		}{kind, st}
	}
}

// webhookClientFlags configure the client side of the webhook transport.
type webhookClientFlags struct {
	serverURL       string
	listen          string
	webhookURL      string
	secret          string
	allowUnsigned   bool
	responseTimeout time.Duration
}

func (w *webhookClientFlags) register(fs *flagSet, g string) {
	fs.stringVar(&w.serverURL, []string{"--server-url"}, "URL", g, "webhook, hybrid: the server's endpoint")
	fs.stringVar(&w.listen, []string{"--webhook-listen"}, "ADDR", g, "webhook, hybrid: address to receive deliveries on (default 127.0.0.1:0)")
	fs.stringVar(&w.webhookURL, []string{"--webhook-url"}, "URL", g, "webhook, hybrid: URL the server delivers to (default: derived from --webhook-listen)")
	fs.stringVar(&w.secret, []string{"--webhook-secret"}, "SECRET", g, "webhook, hybrid: shared secret to verify deliveries (default: the per-session secret the server sends)")
	fs.boolVar(&w.allowUnsigned, "--allow-unsigned-webhooks", "", g, "webhook: INSECURE, accept unsigned deliveries (Python asyncmcp servers do not sign); anyone who can reach --webhook-listen can then forge answers")
	fs.durationVar(&w.responseTimeout, []string{"--response-timeout"}, g, "fail a request with a JSON-RPC error when no answer (sqs, sns-sqs: nor progress) came for this long (sqs, sns-sqs default 5m; webhook default: no limit; negative: no limit)")
}

// webhookDialer builds the client side of the webhook transport; status
// reports whether --server-url answers and the deliveries received.
func (w *webhookClientFlags) webhookDialer(log *slog.Logger) (bridge.Dialer, func(), httpfront.StatusFunc, error) {
	if err := w.needServerURL("--backend webhook needs --server-url URL"); err != nil {
		return nil, nil, nil, err
	}
	if w.allowUnsigned {
		log.Warn("accepting unsigned webhook deliveries (--allow-unsigned-webhooks): anyone who can reach the webhook listener can forge answers; use only with servers that cannot sign, on a trusted network")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return w.receive("webhook", tr, log, func(webhookURL string, hc *http.Client) receivingClient {
		return webhook.NewClient(&webhook.ClientOptions{
			ServerURL:       w.serverURL,
			WebhookURL:      webhookURL,
			Secret:          w.secret,
			AllowUnsigned:   w.allowUnsigned,
			ResponseTimeout: w.responseTimeout,
			HTTPClient:      hc,
			Logger:          log,
		})
	})
}

// needServerURL fills --server-url from ASYNCMCP_SERVER_URL if unset, and
// fails with the usage error missing if it is still empty.
func (w *webhookClientFlags) needServerURL(missing string) error {
	if w.serverURL == "" {
		w.serverURL = os.Getenv("ASYNCMCP_SERVER_URL")
	}
	if w.serverURL == "" {
		return usagef("%s", missing)
	}
	return nil
}

// A receivingClient is a webhook or hybrid client: a Dialer and the
// handler of the deliveries for its sessions.
type receivingClient interface {
	bridge.Dialer
	http.Handler
	Close() error
}

// receive serves deliveries on --webhook-listen, builds the client with
// newClient (given the webhook URL and an HTTP client, sending through
// base, whose exchanges with the server are recorded) and returns it as
// the back, with a close that stops both and the back's /status.
func (w *webhookClientFlags) receive(kind string, base http.RoundTripper, log *slog.Logger, newClient func(webhookURL string, hc *http.Client) receivingClient) (bridge.Dialer, func(), httpfront.StatusFunc, error) {
	addr := w.listen
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	reach := newServerReach(kind, w.serverURL)
	var target atomic.Pointer[receivingClient]
	recv := reach.deliveries(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		c := target.Load()
		if c == nil {
			http.Error(rw, "starting", http.StatusServiceUnavailable)
			return
		}
		(*c).ServeHTTP(rw, r)
	}))
	u, stop, err := webhook.ServeDeliveries(addr, recv)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("receiving webhooks on %s: %w", addr, err)
	}
	if w.webhookURL != "" {
		u = w.webhookURL
	}
	c := newClient(u, reach.client(base))
	target.Store(&c)
	log.Info("receiving webhook deliveries", "url", u, "server", redactURL(w.serverURL))
	return c, func() { c.Close(); stop() }, reach.status(), nil
}

// backendOptions select and configure an asynchronous back for the proxy.
type backendOptions struct {
	kind  string
	queue queueFlags
	hook  webhookClientFlags
}

func (b *backendOptions) register(fs *flagSet, group string) {
	fs.stringVar(&b.kind, []string{"--backend"}, "KIND", group, "reach the server through sqs, sns-sqs, webhook or hybrid (or set BACKEND_TRANSPORT)")
	b.queue.registerClient(fs, group)
	b.hook.register(fs, group)
}

// fromEnv fills unset options from the environment, for containers.
func (b *backendOptions) fromEnv() {
	if b.kind == "" {
		b.kind = os.Getenv("BACKEND_TRANSPORT")
	}
}

// dialer builds the back for the selected kind; close releases what it
// holds; status, if not nil, reports the back's health.
func (b *backendOptions) dialer(ctx context.Context, log *slog.Logger) (d bridge.Dialer, close func(), status httpfront.StatusFunc, err error) {
	switch kind := strings.ReplaceAll(strings.ToLower(b.kind), "_", "-"); kind {
	case "sqs", "sns-sqs":
		b.queue.requestTimeout = b.hook.responseTimeout
		return b.queue.dialer(ctx, kind, log)
	case "webhook":
		return b.hook.webhookDialer(log)
	case "hybrid", "streamable-http-webhook":
		return b.hook.hybridDialer(log)
	}
	return nil, nil, nil, usagef("--backend: want sqs, sns-sqs, webhook or hybrid, got %q", b.kind)
}

func snsSQSListener(cfg aws.Config, q *queueFlags, log *slog.Logger) (bridge.Listener, error) {
	return snssqs.Listen(snssqs.ServerConfig{
		SQS:                awssqs.NewFromConfig(cfg),
		SNS:                sns.NewFromConfig(cfg),
		QueueURL:           q.queueURL,
		WaitTime:           q.waitTime,
		VisibilityTimeout:  q.visibility,
		Pollers:            q.pollers,
		IdleTimeout:        q.idleTimeout,
		MaxMessageBytes:    q.maxMessageBytes,
		MaxReceiveCount:    q.maxReceiveCount,
		SharedQueue:        q.sharedQueue,
		RequireSessionKey:  q.requireKey,
		MaxSessions:        q.maxSessions,
		SessionBufferBytes: q.bufferBytes,
		RoundTripper:       q.roundTripper,
		ListenTimeout:      q.listenTimeout,
		Logger:             log,
	})
}

func snsSQSDialer(ctx context.Context, cfg aws.Config, q *queueFlags, log *slog.Logger) (bridge.Dialer, func(), httpfront.StatusFunc, error) {
	if q.topicARN == "" {
		return nil, nil, nil, usagef("--backend sns-sqs needs --topic-arn ARN (the server's request topic)")
	}
	if err := checkAWS(ctx, cfg,
		map[string]string{"response queue (--response-queue-url)": q.responseQueueURL},
		map[string]string{"request topic (--topic-arn)": q.topicARN, "response topic (--response-topic-arn)": q.responseTopicARN}); err != nil {
		return nil, nil, nil, err
	}
	c, err := snssqs.NewClient(ctx, snssqs.ClientConfig{
		SQS:               awssqs.NewFromConfig(cfg),
		SNS:               sns.NewFromConfig(cfg),
		TopicARN:          q.topicARN,
		ResponseTopicARN:  q.responseTopicARN,
		ResponseQueueURL:  q.responseQueueURL,
		WaitTime:          q.waitTime,
		VisibilityTimeout: q.visibility,
		Pollers:           q.pollers,
		MaxMessageBytes:   q.maxMessageBytes,
		RequestTimeout:    q.requestTimeout,
		Logger:            log,
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return c.Dialer(), func() { c.Close() }, queueStatus("sns-sqs", c.ResponseQueueURL()), nil
}
