// SPDX-License-Identifier: Apache-2.0

package hybrid

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/asyncmcp/asyncmcp-go/remote"
	"github.com/asyncmcp/asyncmcp-go/webhook"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// DefaultMaxBodyBytes caps a delivery body received by a [Client].
const DefaultMaxBodyBytes = 10 << 20

// ClientOptions configures a [Client] or [ClientTransport].
type ClientOptions struct {
	// ServerURL is the server's Streamable HTTP endpoint, for example
	// http://127.0.0.1:8000/mcp. Required.
	ServerURL string
	// WebhookURL is the URL of this client's receiver, sent as initialize
	// params._meta.webhookUrl (unless initialize already carries one). It
	// may be left empty when the Client listens on its own address.
	WebhookURL string
	// Secret verifies delivery signatures when the server is configured
	// with the same secret. Empty means: use the secret the server sends
	// for each session in the initialize response.
	Secret string
	// ReplayTolerance is how far a delivery's timestamp may be from now.
	// Zero means webhook.DefaultReplayTolerance (5 minutes).
	ReplayTolerance time.Duration
	// MaxBodyBytes caps a delivery body; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// HTTPClient makes the Streamable HTTP requests; nil means
	// http.DefaultClient.
	HTTPClient *http.Client
	// Logger receives log lines; nil means slog.Default().
	Logger *slog.Logger
}

// A Client is the client side of the StreamableHTTP+webhook transport for
// any number of sessions. It is the [http.Handler] that receives deliveries
// for all of them, routed by Mcp-Session-Id: mount it at the path of
// WebhookURL on your own server, or call [Client.Listen]. Each
// [Client.Dial] opens one session; Client satisfies bridge.Dialer.
type Client struct {
	opts ClientOptions
	log  *slog.Logger
	recv webhook.Receiver

	mu         sync.Mutex
	conns      map[string]*clientConn // by Mcp-Session-Id
	all        map[*clientConn]bool
	webhook    string
	stopListen func() // stops the listener started by Listen
	closed     bool

	modern *remote.Streamable // stateless requests (RoundTrip)
}

// NewClient returns a Client configured by opts.
func NewClient(opts *ClientOptions) *Client {
	var o ClientOptions
	if opts != nil {
		o = *opts
	}
	if o.ReplayTolerance <= 0 {
		o.ReplayTolerance = webhook.DefaultReplayTolerance
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	c := &Client{
		opts:    o,
		log:     o.Logger,
		conns:   map[string]*clientConn{},
		all:     map[*clientConn]bool{},
		webhook: o.WebhookURL,
	}
	c.recv = webhook.Receiver{Name: "hybrid", SessionHeader: HeaderSessionID, MaxBodyBytes: o.MaxBodyBytes,
		ReplayTolerance: o.ReplayTolerance, Lookup: c.lookup, Logger: o.Logger}
	c.modern = &remote.Streamable{URL: o.ServerURL, HTTPClient: o.HTTPClient, Logger: o.Logger}
	return c
}

// Listen serves the receiver on its own listener at addr (for example
// "127.0.0.1:0") and, if WebhookURL was empty, sets it to
// http://ADDR/webhook. It returns the webhook URL. [Client.Close] stops it.
func (c *Client) Listen(addr string) (string, error) {
	u, stop, err := webhook.ServeDeliveries(addr, c)
	if err != nil {
		return "", fmt.Errorf("hybrid: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopListen != nil || c.closed {
		stop()
		return "", errors.New("hybrid: client is already listening or closed")
	}
	c.stopListen = stop
	if c.webhook == "" {
		c.webhook = u
	}
	return c.webhook, nil
}

// WebhookURL returns the URL sent to the server at initialize.
func (c *Client) WebhookURL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.webhook
}

// Close closes every session of the client (each sends DELETE) and stops
// the listener started by Listen.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	conns := make([]*clientConn, 0, len(c.all))
	for cc := range c.all {
		conns = append(conns, cc)
	}
	stop := c.stopListen
	c.mu.Unlock()
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

// Dial opens a new session; nothing is sent until the first Write (the
// client's initialize).
func (c *Client) Dial(ctx context.Context) (mcp.Connection, error) {
	return c.dial()
}

func (c *Client) dial() (*clientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("hybrid: client closed")
	}
	if c.opts.ServerURL == "" {
		return nil, errors.New("hybrid: no ServerURL")
	}
	if c.webhook == "" {
		return nil, errors.New("hybrid: no WebhookURL: set ClientOptions.WebhookURL or call Listen")
	}
	cc := &clientConn{
		c:        c,
		secret:   c.opts.Secret,
		inflight: map[jsonrpc.ID]bool{},
		settled:  map[jsonrpc.ID]time.Time{},
		seen:     webhook.NewReplayGuard(c.opts.ReplayTolerance),
		in:       make(chan jsonrpc.Message, 64),
		done:     make(chan struct{}),
		pumped:   make(chan struct{}),
		webhook:  c.webhook,
	}
	st := &remote.Streamable{URL: c.opts.ServerURL, HTTPClient: c.opts.HTTPClient, Logger: c.log, OnResponse: cc.onResponse}
	inner, err := st.Dial(context.Background())
	if err != nil {
		return nil, err
	}
	cc.inner = inner
	c.all[cc] = true
	go cc.pump()
	return cc, nil
}

// register routes deliveries for session sid to cc.
func (c *Client) register(cc *clientConn, old, sid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old != "" && c.conns[old] == cc {
		delete(c.conns, old)
	}
	if !c.all[cc] {
		return
	}
	c.conns[sid] = cc
}

func (c *Client) forget(cc *clientConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.all, cc)
	for sid, x := range c.conns {
		if x == cc {
			delete(c.conns, sid)
		}
	}
}

// ServeHTTP receives a delivery: it checks the session, the signature, the
// timestamp and the webhook-id, and hands the response to the session's
// Read.
func (c *Client) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.recv.ServeHTTP(w, r) }

// lookup finds the session a delivery names, for c.recv.
func (c *Client) lookup(sid string) (webhook.ReceiverSession, error) {
	if sid == "" {
		return nil, &webhook.DeliveryError{Status: http.StatusBadRequest, Reason: "missing " + HeaderSessionID + " header"}
	}
	c.mu.Lock()
	cc := c.conns[sid]
	c.mu.Unlock()
	if cc == nil {
		return nil, nil
	}
	return (*inbox)(cc), nil
}

// inbox is a clientConn as the webhook.Receiver sees it.
type inbox clientConn

func (in *inbox) Secret(context.Context) (string, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.secret == "" {
		return "", &webhook.DeliveryError{Status: http.StatusUnauthorized,
			Reason: "no signing secret known for this session (the server sent none and none is configured)"}
	}
	return in.secret, nil
}

func (in *inbox) FirstSeen(id string, now time.Time) bool { return in.seen.FirstSeen(id, now) }

// Deliver hands a delivered response to Read, unless its request is no
// longer in flight.
func (in *inbox) Deliver(ctx context.Context, msg jsonrpc.Message) (string, error) {
	cc := (*clientConn)(in)
	resp, ok := msg.(*jsonrpc.Response)
	if !ok {
		return "", &webhook.DeliveryError{Status: http.StatusBadRequest, Reason: "delivery is not a JSON-RPC response"}
	}
	if !cc.settle(resp.ID, true) {
		cc.c.log.Warn("hybrid: dropped delivered response for a request not in flight", "session", cc.SessionID(), "request_id", webhook.RequestIDText(resp.ID))
		return "ignored", nil
	}
	select {
	case cc.in <- resp:
		return "success", nil
	case <-cc.done:
		return "", &webhook.DeliveryError{Status: http.StatusNotFound, Reason: fmt.Sprintf("session %q is closed", cc.SessionID())}
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// A ClientTransport is an [mcp.Transport] for one StreamableHTTP+webhook
// session. With Client set, the session belongs to that shared [Client]
// (whose receiver you mount or Listen yourself). Otherwise Connect makes a
// private Client from ClientOptions and serves its receiver on Listen;
// WebhookURL, if set, is then the address the server should use to reach
// that listener, and defaults to http://LISTEN/webhook.
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
		return t.Client.dial()
	}
	c := NewClient(&t.ClientOptions)
	addr := t.Listen
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if _, err := c.Listen(addr); err != nil {
		return nil, err
	}
	cc, err := c.dial()
	if err != nil {
		c.Close()
		return nil, err
	}
	cc.ownsClient = true
	return cc, nil
}

// clientConn is one session: a Streamable HTTP connection whose Read also
// yields the responses delivered by webhook.
type clientConn struct {
	c          *Client
	inner      mcp.Connection
	webhook    string
	ownsClient bool

	in     chan jsonrpc.Message // delivered and streamed messages, merged
	done   chan struct{}
	pumped chan struct{} // closed when pump has stopped
	once   sync.Once

	mu       sync.Mutex
	sid      string
	secret   string
	inflight map[jsonrpc.ID]bool      // requests awaiting a response; true once diverted
	settled  map[jsonrpc.ID]time.Time // diverted requests already answered by webhook
	seen     *webhook.ReplayGuard     // webhook-ids accepted
	readErr  error
}

func (cc *clientConn) SessionID() string { return cc.inner.SessionID() }

// onResponse learns the session id, the signing secret and which requests
// were diverted from the HTTP answers to our POSTs.
func (cc *clientConn) onResponse(msg jsonrpc.Message, resp *http.Response) {
	req, _ := msg.(*jsonrpc.Request)
	if req == nil {
		return
	}
	if req.Method == "initialize" && resp.StatusCode/100 == 2 {
		sid := resp.Header.Get(HeaderSessionID)
		cc.mu.Lock()
		old := cc.sid
		cc.sid = sid
		if s := resp.Header.Get(HeaderWebhookSecret); s != "" && cc.c.opts.Secret == "" {
			cc.secret = s
		}
		cc.mu.Unlock()
		if sid != "" {
			cc.c.register(cc, old, sid)
		}
		return
	}
	if resp.StatusCode == http.StatusAccepted && resp.Header.Get(HeaderDelivery) == DeliveryDivert && req.IsCall() {
		cc.mu.Lock()
		if _, ok := cc.inflight[req.ID]; ok {
			cc.inflight[req.ID] = true
		}
		cc.mu.Unlock()
		cc.c.log.Debug("hybrid: response will come by webhook", "session", cc.SessionID(), "request_id", webhook.RequestIDText(req.ID))
	}
}

// Write sends msg over Streamable HTTP, adding the webhook URL to
// initialize.
func (cc *clientConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	select {
	case <-cc.done:
		return mcp.ErrConnectionClosed
	default:
	}
	if req, ok := msg.(*jsonrpc.Request); ok && req.IsCall() {
		if req.Method == "initialize" {
			params, err := webhook.WithWebhookURL(req.Params, cc.webhook)
			if err != nil {
				return fmt.Errorf("hybrid: adding webhookUrl to initialize: %w", err)
			}
			r := *req
			r.Params = params
			msg = &r
		}
		cc.mu.Lock()
		cc.inflight[req.ID] = false
		cc.mu.Unlock()
	} else if ok && req.Method == "notifications/cancelled" {
		// No response is awaited any more; one that still comes is dropped.
		var p struct {
			RequestID any `json:"requestId"`
		}
		if json.Unmarshal(req.Params, &p) == nil {
			if id, err := jsonrpc.MakeID(p.RequestID); err == nil && id.IsValid() {
				cc.mu.Lock()
				delete(cc.inflight, id)
				cc.mu.Unlock()
			}
		}
	}
	return cc.inner.Write(ctx, msg)
}

// settle records that the response to id arrived and reports whether it
// should be handed on: false for a request not in flight, such as a second
// copy of a diverted response that came by both routes.
func (cc *clientConn) settle(id jsonrpc.ID, byWebhook bool) bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if _, ok := cc.inflight[id]; ok {
		delete(cc.inflight, id)
		if byWebhook {
			now := time.Now()
			for k, t := range cc.settled {
				if now.Sub(t) > 10*time.Minute {
					delete(cc.settled, k)
				}
			}
			cc.settled[id] = now
		}
		return true
	}
	if !byWebhook {
		if _, dup := cc.settled[id]; dup {
			delete(cc.settled, id)
			return false
		}
		// A response the stream produced for something we did not track
		// (for example a transport error): hand it on.
		return true
	}
	return false
}

// pump moves messages from the Streamable HTTP connection to in.
func (cc *clientConn) pump() {
	defer close(cc.pumped)
	for {
		m, err := cc.inner.Read(context.Background())
		if err != nil {
			// Read reports err once the messages already taken are read.
			cc.mu.Lock()
			cc.readErr = err
			cc.mu.Unlock()
			return
		}
		if resp, ok := m.(*jsonrpc.Response); ok && !cc.settle(resp.ID, false) {
			cc.c.log.Info("hybrid: dropped a second copy of a response already delivered by webhook", "session", cc.SessionID(), "request_id", webhook.RequestIDText(resp.ID))
			continue
		}
		select {
		case cc.in <- m:
		case <-cc.done:
			return
		}
	}
}

// Read returns the next message from the server, whichever route it took.
func (cc *clientConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case m := <-cc.in:
		return m, nil
	case <-cc.pumped:
		select {
		case m := <-cc.in:
			return m, nil
		default:
		}
		cc.mu.Lock()
		err := cc.readErr
		cc.mu.Unlock()
		if err == nil {
			err = mcp.ErrConnectionClosed
		}
		return nil, err
	case <-cc.done:
		cc.mu.Lock()
		err := cc.readErr
		cc.mu.Unlock()
		if err == nil {
			err = mcp.ErrConnectionClosed
		}
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close ends the session (DELETE) and, for a private Client, stops the
// receiver.
func (cc *clientConn) Close() error {
	cc.once.Do(func() {
		close(cc.done)
		cc.c.forget(cc)
		cc.inner.Close()
		<-cc.pumped
		if cc.ownsClient {
			cc.c.Close()
		}
	})
	return nil
}
