// SPDX-License-Identifier: Apache-2.0

package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Defaults of [ClientOptions].
const (
	DefaultServerURL    = "http://localhost:8000" + DefaultPath
	DefaultPollInterval = 2 * time.Second
	defaultReplyTimeout = 30 * time.Second
	defaultReadyWait    = 30 * time.Second
)

// ClientOptions configures a [Client] or [ClientTransport]. The zero value
// talks to [DefaultServerURL]; WebhookURL must be set unless the Client
// listens on its own address ([Client.Listen], [ClientTransport.Listen]).
type ClientOptions struct {
	// ServerURL is where client messages are POSTed. Empty means DefaultServerURL.
	ServerURL string
	// WebhookURL is the URL of this client's receiver, sent to the server
	// as initialize params._meta.webhookUrl (unless the initialize request
	// already carries one).
	WebhookURL string
	// ClientID is sent as X-Client-ID. Empty means a random id.
	ClientID string
	// Secret verifies delivery signatures. Set it when the server is
	// configured with the same secret; leave it empty to use the secret
	// the server generates per session and returns in the initialize reply.
	Secret string
	// AllowUnsigned accepts unsigned deliveries when no secret is known,
	// as from a Python asyncmcp server. Without it they get HTTP 401.
	AllowUnsigned bool
	// ReplayTolerance is how far a delivery's timestamp may be from now.
	// Zero means DefaultReplayTolerance.
	ReplayTolerance time.Duration
	// PollInterval is how often, while requests await their response, the
	// client asks the server (GET) whether any response failed delivery.
	// Zero means DefaultPollInterval; negative disables polling.
	PollInterval time.Duration
	// ResponseTimeout, if positive, fails a request with a JSON-RPC error
	// when no response has arrived within it. Zero means no limit: slow
	// tools are what webhooks are for.
	ResponseTimeout time.Duration
	// MaxBodyBytes caps a delivery body; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// HTTPClient sends client messages. Nil means a pooled client.
	// Redirects are never followed. Each POST is bounded by 30s.
	HTTPClient *http.Client
	// Logger receives log lines. Nil means slog.Default().
	Logger *slog.Logger
}

// A Client is the client side of the webhook transport for any number of
// sessions. It is the [http.Handler] that receives deliveries for all of
// them (routed by X-Session-ID): mount it at the path of WebhookURL on your
// own server, or call [Client.Listen]. Each [Client.Dial] opens one session;
// Client also satisfies bridge.Dialer.
type Client struct {
	opts   ClientOptions
	client *http.Client
	log    *slog.Logger
	recv   Receiver

	mu         sync.Mutex
	conns      map[string]*clientConn
	webhook    string
	stopListen func() // stops the listener started by Listen
	closed     bool

	modern     map[string]*modernPending // stateless requests, by RequestTag
	modernRecv Receiver
}

// NewClient returns a Client configured by opts (nil means defaults).
func NewClient(opts *ClientOptions) *Client {
	var o ClientOptions
	if opts != nil {
		o = *opts
	}
	if o.ServerURL == "" {
		o.ServerURL = DefaultServerURL
	}
	if o.ClientID == "" {
		o.ClientID = newID()
	}
	if o.ReplayTolerance <= 0 {
		o.ReplayTolerance = DefaultReplayTolerance
	}
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	c := &Client{
		opts:    o,
		client:  noRedirectClient(o.HTTPClient),
		log:     o.Logger,
		conns:   make(map[string]*clientConn),
		webhook: o.WebhookURL,
	}
	c.recv = Receiver{Name: "webhook", SessionHeader: HeaderSessionID, MaxBodyBytes: o.MaxBodyBytes,
		ReplayTolerance: o.ReplayTolerance, AllowUnsigned: o.AllowUnsigned, Lookup: c.lookup, Logger: o.Logger}
	c.modern = make(map[string]*modernPending)
	c.modernRecv = Receiver{Name: "webhook", SessionHeader: HeaderRequestTag, MaxBodyBytes: o.MaxBodyBytes,
		ReplayTolerance: o.ReplayTolerance, Lookup: c.lookupModern, Logger: o.Logger}
	return c
}

// Listen serves the receiver on its own listener at addr (for example
// "127.0.0.1:0") and, if WebhookURL was empty, sets it to
// http://ADDR/webhook. It returns the webhook URL. [Client.Close] stops it.
func (c *Client) Listen(addr string) (string, error) {
	u, stop, err := ServeDeliveries(addr, c)
	if err != nil {
		return "", fmt.Errorf("webhook: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopListen != nil || c.closed {
		stop()
		return "", errors.New("webhook: client is already listening or closed")
	}
	c.stopListen = stop
	if c.webhook == "" {
		c.webhook = u
	}
	return c.webhook, nil
}

// WebhookURL returns the URL sent to the server in initialize.
func (c *Client) WebhookURL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.webhook
}

// ClientID returns the X-Client-ID this client sends.
func (c *Client) ClientID() string { return c.opts.ClientID }

// Close closes every session of the client (each sends DELETE) and stops
// the listener started by Listen.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	conns := make([]*clientConn, 0, len(c.conns))
	for _, cc := range c.conns {
		conns = append(conns, cc)
	}
	stop := c.stopListen
	c.mu.Unlock()
	c.closeModern()
	for _, cc := range conns {
		cc.Close()
	}
	if stop != nil {
		stop()
	}
	return nil
}

// Transport returns an [mcp.Transport] whose Connect opens a new session of c.
func (c *Client) Transport() mcp.Transport { return &ClientTransport{Client: c} }

// Dial opens a new session. The session id is chosen here and sent as
// X-Session-ID from the first message on, so deliveries can be routed
// before the initialize reply arrives.
func (c *Client) Dial(ctx context.Context) (mcp.Connection, error) {
	return c.dial(false)
}

func (c *Client) dial(ownsClient bool) (*clientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("webhook: client closed")
	}
	if c.webhook == "" {
		return nil, errors.New("webhook: no WebhookURL: set ClientOptions.WebhookURL or call Listen")
	}
	cc := &clientConn{
		c:          c,
		sid:        newID(),
		secret:     c.opts.Secret,
		ready:      make(chan struct{}),
		inflight:   make(map[jsonrpc.ID]time.Time),
		in:         make(chan jsonrpc.Message, 64),
		done:       make(chan struct{}),
		pollDone:   make(chan struct{}),
		seen:       seenIDs{window: c.opts.ReplayTolerance},
		ownsClient: ownsClient,
	}
	c.conns[cc.sid] = cc
	go cc.pollLoop()
	return cc, nil
}

// ServeHTTP receives a delivery: it checks the session, the signature and
// the id, and hands the message to the session's Read.
// Deliveries of stateless requests are routed by X-Request-Tag instead.
func (c *Client) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(HeaderRequestTag) != "" {
		c.modernRecv.ServeHTTP(w, r)
		return
	}
	c.recv.ServeHTTP(w, r)
}

// lookup finds the session a delivery names, for c.recv.
func (c *Client) lookup(sid string) (ReceiverSession, error) {
	c.mu.Lock()
	cc := c.conns[sid]
	c.mu.Unlock()
	if cc == nil {
		return nil, nil
	}
	return (*inbox)(cc), nil
}

// inbox is a clientConn as the Receiver sees it.
type inbox clientConn

// Secret waits until the initialize reply that carries the secret has been
// read (the initialize result may be delivered before), then returns it.
func (in *inbox) Secret(ctx context.Context) (string, error) {
	t := time.NewTimer(defaultReadyWait)
	defer t.Stop()
	select {
	case <-in.ready:
	case <-in.done:
		return "", &DeliveryError{http.StatusNotFound, fmt.Sprintf("session %q is closed", (*clientConn)(in).SessionID())}
	case <-ctx.Done():
		return "", ctx.Err()
	case <-t.C:
		return "", &DeliveryError{http.StatusServiceUnavailable, fmt.Sprintf("session %q is not initialized yet", (*clientConn)(in).SessionID())}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.secret, nil
}

func (in *inbox) FirstSeen(id string, now time.Time) bool { return in.seen.add(id, now) }

// Deliver hands msg to Read; a response settles its request and may carry
// the negotiated protocol version.
func (in *inbox) Deliver(ctx context.Context, msg jsonrpc.Message) (string, error) {
	cc := (*clientConn)(in)
	if resp, ok := msg.(*jsonrpc.Response); ok {
		if !cc.settle(resp.ID) {
			cc.c.log.Warn("webhook: dropped response for a request not in flight", "session", cc.SessionID(), "request_id", idString(resp.ID))
			return "success", nil
		}
		if v := resultProtocolVersion(resp.Result); v != "" {
			cc.mu.Lock()
			if cc.protoVersion == "" {
				cc.protoVersion = v
			}
			cc.mu.Unlock()
		}
	}
	select {
	case cc.in <- msg:
		return "success", nil
	case <-cc.done:
		return "", &DeliveryError{http.StatusNotFound, fmt.Sprintf("session %q is closed", cc.SessionID())}
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// A ClientTransport is an [mcp.Transport] for one webhook session. With
// Client set, the session belongs to that shared [Client] (whose receiver
// you mount or Listen yourself). Otherwise Connect makes a private Client
// from ClientOptions and serves its receiver on Listen; WebhookURL, if set,
// is then the address the server should use to reach that listener (for
// example through a tunnel), and defaults to http://LISTEN/webhook.
type ClientTransport struct {
	ClientOptions
	// Listen is the address of the private receiver. Empty means
	// "127.0.0.1:0".
	Listen string
	// Client, if set, is the shared Client the session belongs to; then
	// ClientOptions and Listen are ignored.
	Client *Client
}

// Connect opens the session. Closing the connection ends the session
// (DELETE) and, for a private Client, stops its receiver.
func (t *ClientTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	if t.Client != nil {
		return t.Client.dial(false)
	}
	c := NewClient(&t.ClientOptions)
	addr := t.Listen
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if _, err := c.Listen(addr); err != nil {
		return nil, err
	}
	cc, err := c.dial(true)
	if err != nil {
		c.Close()
		return nil, err
	}
	return cc, nil
}

// clientConn is one client session.
type clientConn struct {
	c          *Client
	ownsClient bool
	seen       seenIDs

	in        chan jsonrpc.Message
	done      chan struct{}
	pollDone  chan struct{}
	closeOnce sync.Once
	readyOnce sync.Once
	ready     chan struct{} // closed once the initialize reply was read

	mu           sync.Mutex
	sid          string
	secret       string
	protoVersion string
	created      bool                     // the server acknowledged initialize
	inflight     map[jsonrpc.ID]time.Time // requests awaiting a response
	noStatus     bool                     // the server does not answer GET
}

// SessionID returns the session id.
func (cc *clientConn) SessionID() string {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.sid
}

// Read returns the next delivered message, or a JSON-RPC error response the
// transport made for a request that failed.
func (cc *clientConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case m := <-cc.in:
		return m, nil
	case <-cc.done:
		return nil, io.EOF
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// settle removes id from the in-flight set and reports whether it was there.
func (cc *clientConn) settle(id jsonrpc.ID) bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if _, ok := cc.inflight[id]; !ok {
		return false
	}
	delete(cc.inflight, id)
	return true
}

// failCall answers request id with a JSON-RPC error, if still in flight.
func (cc *clientConn) failCall(id jsonrpc.ID, code int64, msg string) {
	if !cc.settle(id) {
		return
	}
	cc.c.log.Info("webhook: request failed in transport", "session", cc.SessionID(), "request_id", idString(id), "error", msg)
	select {
	case cc.in <- &jsonrpc.Response{ID: id, Error: &jsonrpc.Error{Code: code, Message: msg}}:
	case <-cc.done:
	}
}

func (cc *clientConn) markReady() { cc.readyOnce.Do(func() { close(cc.ready) }) }

// Write POSTs msg to the server. If the server's immediate reply is an
// error, a request gets a JSON-RPC error response on Read; other messages
// return an error that rejects only this message.
func (cc *clientConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	select {
	case <-cc.done:
		return fmt.Errorf("webhook: write to closed session %q", cc.SessionID())
	default:
	}
	req, _ := msg.(*jsonrpc.Request)
	isInit := req != nil && req.Method == "initialize" && req.IsCall()
	if isInit {
		p, err := withWebhookURL(req.Params, cc.c.WebhookURL())
		if err != nil {
			return fmt.Errorf("webhook: adding webhookUrl to initialize: %w", err)
		}
		r2 := *req
		r2.Params = p
		msg, req = &r2, &r2
	}
	body, err := jsonrpc.EncodeMessage(msg)
	if err != nil {
		return fmt.Errorf("webhook: encoding message: %w", err)
	}
	isCall := req != nil && req.IsCall()
	cc.mu.Lock()
	if isCall {
		cc.inflight[req.ID] = time.Now()
	}
	if req != nil && req.Method == "notifications/cancelled" {
		// The server need not answer a cancelled request: stop waiting
		// (and polling) for it. A late answer is dropped.
		if id, ok := rpcmsg.CancelledID(req.Params); ok {
			delete(cc.inflight, id)
		}
	}
	sid, pv := cc.sid, cc.protoVersion
	cc.mu.Unlock()

	status, reply, err := cc.post(ctx, http.MethodPost, body, func(h http.Header) {
		h.Set(HeaderSessionID, sid)
		if pv != "" {
			h.Set(HeaderProtocolVersion, pv)
		}
		routingHeaders(h, msg)
	})
	if isInit {
		defer cc.markReady()
	}
	if err == nil && status/100 != 2 {
		code, text := replyError(reply)
		if code == 0 {
			code = CodeTransportError
		}
		err = &jsonrpc.Error{Code: code, Message: fmt.Sprintf("webhook server %s answered HTTP %d: %s", cc.c.opts.ServerURL, status, text)}
	}
	if err != nil {
		if isCall {
			var we *jsonrpc.Error
			if !errors.As(err, &we) {
				we = &jsonrpc.Error{Code: CodeTransportError, Message: err.Error()}
			}
			cc.failCall(req.ID, we.Code, we.Message)
			return nil
		}
		cc.c.log.Warn("webhook: message rejected", "session", sid, "error", err)
		return fmt.Errorf("webhook: sending message: %v: %w", err, errRejected)
	}
	var r struct {
		SessionID     string `json:"session_id"`
		WebhookSecret string `json:"webhook_secret"`
	}
	json.Unmarshal(reply, &r)
	if isInit {
		cc.mu.Lock()
		if cc.secret == "" {
			cc.secret = r.WebhookSecret
		}
		cc.created = true
		cc.mu.Unlock()
		if r.SessionID != "" && r.SessionID != sid {
			cc.rekey(sid, r.SessionID)
		}
	}
	cc.undelivered(reply)
	return nil
}

// rekey follows a server that chose its own session id.
func (cc *clientConn) rekey(old, new string) {
	cc.c.mu.Lock()
	defer cc.c.mu.Unlock()
	cc.mu.Lock()
	cc.sid = new
	cc.mu.Unlock()
	delete(cc.c.conns, old)
	cc.c.conns[new] = cc
}

// undelivered fails the requests whose responses the server reports as
// undeliverable in an immediate or status reply.
func (cc *clientConn) undelivered(reply []byte) {
	var r struct {
		Undelivered []any `json:"undelivered"`
	}
	if json.Unmarshal(reply, &r) != nil {
		return
	}
	for _, raw := range r.Undelivered {
		id, err := jsonrpc.MakeID(raw)
		if err != nil {
			continue
		}
		cc.failCall(id, CodeTransportError, "the server could not deliver the response to this request to the webhook URL "+cc.c.WebhookURL())
	}
}

// post sends one request to the server and returns status and body.
func (cc *clientConn) post(ctx context.Context, method string, body []byte, hdr func(http.Header)) (int, []byte, error) {
	return cc.c.post(ctx, method, body, hdr)
}

// postMessage POSTs one JSON-RPC message to the server.
func (c *Client) postMessage(ctx context.Context, body []byte, hdr func(http.Header)) (int, []byte, error) {
	return c.post(ctx, http.MethodPost, body, hdr)
}

// post sends one request to the server and returns status and body.
func (c *Client) post(ctx context.Context, method string, body []byte, hdr func(http.Header)) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, defaultReplyTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	u := c.opts.ServerURL
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("building %s %s: %w", method, u, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(HeaderClientID, c.opts.ClientID)
	hdr(req.Header)
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: reading reply: %w", method, u, err)
	}
	return resp.StatusCode, b, nil
}

// pollLoop enforces ResponseTimeout and asks the server about undelivered
// responses while requests are in flight.
func (cc *clientConn) pollLoop() {
	defer close(cc.pollDone)
	o := cc.c.opts
	every := o.PollInterval
	if every < 0 {
		if o.ResponseTimeout <= 0 {
			return
		}
		every = o.ResponseTimeout / 4
	}
	if o.ResponseTimeout > 0 && o.ResponseTimeout/4 < every {
		every = max(o.ResponseTimeout/4, time.Millisecond)
	}
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-cc.done:
			return
		case <-tk.C:
		}
		now := time.Now()
		var expired []jsonrpc.ID
		cc.mu.Lock()
		n := len(cc.inflight)
		if o.ResponseTimeout > 0 {
			for id, t := range cc.inflight {
				if now.Sub(t) > o.ResponseTimeout {
					expired = append(expired, id)
				}
			}
		}
		ask := n > 0 && cc.created && !cc.noStatus && o.PollInterval > 0
		sid := cc.sid
		cc.mu.Unlock()
		for _, id := range expired {
			cc.failCall(id, CodeTransportError, fmt.Sprintf("no response delivered within %s", o.ResponseTimeout))
		}
		if !ask {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-cc.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		status, reply, err := cc.post(ctx, http.MethodGet, nil, func(h http.Header) { h.Set(HeaderSessionID, sid) })
		cancel()
		switch {
		case err != nil:
			cc.c.log.Debug("webhook: status poll failed", "session", sid, "error", err)
		case status == http.StatusOK:
			cc.undelivered(reply)
		case status == http.StatusNotFound:
			// The server no longer knows the session: nothing in flight
			// will ever be answered.
			cc.mu.Lock()
			ids := make([]jsonrpc.ID, 0, len(cc.inflight))
			for id := range cc.inflight {
				ids = append(ids, id)
			}
			cc.mu.Unlock()
			for _, id := range ids {
				cc.failCall(id, CodeSessionNotFound, fmt.Sprintf("webhook server no longer knows session %q", sid))
			}
		default:
			// A server without status support (Python asyncmcp answers 405).
			cc.mu.Lock()
			cc.noStatus = true
			cc.mu.Unlock()
		}
	}
}

// Close ends the session: it tells the server (DELETE) and unblocks Read.
func (cc *clientConn) Close() error {
	cc.closeOnce.Do(func() {
		close(cc.done)
		<-cc.pollDone
		cc.markReady()
		cc.mu.Lock()
		sid, created := cc.sid, cc.created
		cc.mu.Unlock()
		cc.c.mu.Lock()
		if cc.c.conns[sid] == cc {
			delete(cc.c.conns, sid)
		}
		cc.c.mu.Unlock()
		if created {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			status, reply, err := cc.post(ctx, http.MethodDelete, nil, func(h http.Header) { h.Set(HeaderSessionID, sid) })
			cancel()
			if err != nil || (status != http.StatusOK && status != http.StatusNotFound) {
				_, text := replyError(reply)
				cc.c.log.Warn("webhook: ending session", "session", sid, "status", status, "reply", text, "error", err)
			}
		}
		if cc.ownsClient {
			cc.c.Close()
		}
	})
	return nil
}
