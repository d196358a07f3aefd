// SPDX-License-Identifier: Apache-2.0

package queuecore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/wire"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ClientConfig configures a [Client].
type ClientConfig struct {
	SQS    *sqs.Client
	Sender Sender
	// RequestDest is where client messages go: a queue URL or topic ARN.
	RequestDest string
	// ResponseQueueURL is the queue this client polls. If empty, NewClient
	// creates a queue named after ClientID, FIFO if RequestDest is, and
	// Close deletes it.
	ResponseQueueURL string
	// SetUpQueue, if set, runs on the queue NewClient created (for example
	// to subscribe it to a topic) and returns what undoes it; Close runs the
	// undo before deleting the queue.
	SetUpQueue func(ctx context.Context, queueURL string) (undo func(context.Context) error, err error)
	// ReplyTo is where the server sends the session's messages (the
	// response queue URL, or a topic the response queue is subscribed to).
	// Empty means the response queue URL.
	ReplyTo string
	// MetaKey is the initialize params._meta key that carries ReplyTo.
	// Empty means wire.MetaResponseQueueURL.
	MetaKey string
	// ClientID is sent on every message. Empty means a random id.
	ClientID string
	Polling  Polling
	// MaxMessageBytes caps the encoded size of sent messages. Zero means the
	// service limit of RequestDest.
	MaxMessageBytes int
	// MaxReceiveCount bounds how often a message for a session this client
	// does not own is made visible again for other consumers of a shared
	// response queue before it is deleted. Zero means 10.
	MaxReceiveCount int
	// SessionBuffer is how many received messages a session may hold unread.
	// Zero means 1024.
	SessionBuffer int
	// SessionBufferBytes bounds the bytes a session may hold unread; beyond
	// it messages are left on the queue for redelivery. Zero means
	// DefaultSessionBufferBytes (16 MiB).
	SessionBufferBytes int
	// RequestTimeout fails a request with a JSON-RPC error (and cancels it
	// at the server) when neither its answer nor a notification about it
	// arrived for this long: the server is gone, or (Python asyncmcp)
	// silently drops messages of sessions it does not know. The error is
	// wire.CodeRequestTimeout. For session requests progress notifications
	// for the request restart the wait; for stateless requests (RoundTrip)
	// any notification for it does, and subscriptions/listen is exempt.
	// Zero means DefaultRequestTimeout; negative means no limit.
	RequestTimeout time.Duration
	// MaxInFlight bounds the stateless requests awaiting an answer. Zero
	// means 10000.
	MaxInFlight int
	Logger      *slog.Logger
}

// DefaultRequestTimeout is the default ClientConfig.RequestTimeout.
const DefaultRequestTimeout = 5 * time.Minute

// maxReinits bounds how often one session initializes again after the
// server lost it.
const maxReinits = 5

// A Client owns one response-queue poller and any number of client
// sessions, told apart by the SessionId attribute.
type Client struct {
	cfg     ClientConfig
	log     *slog.Logger
	reader  *queueReader
	cleanup func(context.Context) error // removes what NewClient created
	// owned: NewClient created the response queue, so nobody else reads
	// it and a message for a session this client does not know is deleted
	// at once (with SNS it is this queue's copy of a message published to
	// a shared topic).
	owned bool

	mu       sync.Mutex
	sessions map[string]*ClientConn
	others   map[string]bool // other clients seen on the response queue
	closed   bool
	wg       sync.WaitGroup // background sends
	modern   *modernClient
}

// NewClient validates cfg, creates the response queue if
// cfg.ResponseQueueURL is empty, and starts polling it. ctx bounds only the
// setup.
func NewClient(ctx context.Context, cfg ClientConfig) (*Client, error) {
	switch {
	case cfg.SQS == nil:
		return nil, errors.New("queue client: SQS client is nil")
	case cfg.Sender == nil:
		return nil, errors.New("queue client: sender is nil")
	case cfg.RequestDest == "":
		return nil, errors.New("queue client: request queue or topic is empty")
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "mcp-client-" + wire.NewID()[:16]
	}
	var cleanup func(context.Context) error
	if cfg.ResponseQueueURL == "" {
		var err error
		cfg.ResponseQueueURL, cleanup, err = createResponseQueue(ctx, cfg)
		if err != nil {
			return nil, err
		}
	}
	if cfg.ReplyTo == "" {
		cfg.ReplyTo = cfg.ResponseQueueURL
	}
	if cfg.MetaKey == "" {
		cfg.MetaKey = wire.MetaResponseQueueURL
	}
	if cfg.MaxReceiveCount <= 0 {
		cfg.MaxReceiveCount = 10
	}
	if cfg.SessionBuffer <= 0 {
		cfg.SessionBuffer = 1024
	}
	if cfg.SessionBufferBytes <= 0 {
		cfg.SessionBufferBytes = DefaultSessionBufferBytes
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = defaultMaxInFlight
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	c := &Client{cfg: cfg, log: log.With("client", cfg.ClientID), cleanup: cleanup, owned: cleanup != nil, sessions: map[string]*ClientConn{},
		modern: &modernClient{inflight: map[string]*modernPending{}}}
	c.reader = newQueueReader(cfg.SQS, cfg.ResponseQueueURL, cfg.Polling, c.log, c.handle)
	c.reader.wake = func(ctx context.Context) error {
		return SQSSender{Client: cfg.SQS}.Send(ctx, cfg.ResponseQueueURL, wire.EncodeWake(cfg.ClientID))
	}
	c.reader.start()
	return c, nil
}

// createResponseQueue creates the response queue named after the client,
// FIFO if the request destination is, runs cfg.SetUpQueue on it, and
// returns a cleanup that undoes both.
func createResponseQueue(ctx context.Context, cfg ClientConfig) (string, func(context.Context) error, error) {
	name := "asyncmcp-" + cfg.ClientID
	attrs := map[string]string{}
	if wire.IsFIFO(cfg.RequestDest) {
		name += ".fifo"
		attrs["FifoQueue"] = "true"
	}
	out, err := cfg.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return "", nil, fmt.Errorf("creating response queue %s: %w", name, err)
	}
	url := aws.ToString(out.QueueUrl)
	deleteQueue := func(ctx context.Context) error {
		if _, err := cfg.SQS.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)}); err != nil {
			return fmt.Errorf("deleting response queue %s: %w", url, err)
		}
		return nil
	}
	if cfg.SetUpQueue == nil {
		return url, deleteQueue, nil
	}
	undo, err := cfg.SetUpQueue(ctx, url)
	if err != nil {
		deleteQueue(context.WithoutCancel(ctx))
		return "", nil, err
	}
	return url, func(ctx context.Context) error {
		return errors.Join(undo(ctx), deleteQueue(ctx))
	}, nil
}

// ClientID returns the client id sent on every message.
func (c *Client) ClientID() string { return c.cfg.ClientID }

// ResponseQueueURL returns the queue c polls.
func (c *Client) ResponseQueueURL() string { return c.cfg.ResponseQueueURL }

// Connect opens a new session with a fresh random session id. The session
// starts when the caller writes initialize.
func (c *Client) Connect(ctx context.Context) (*ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("opening session: %w", errClosed)
	}
	s := &ClientConn{
		c:        c,
		id:       wire.NewID(),
		key:      wire.NewID(),
		inbox:    newMailbox(c.cfg.SessionBuffer, c.cfg.SessionBufferBytes),
		inflight: map[string]*pending{},
		progress: map[string]string{},
	}
	s.log = c.log.With("session", s.id)
	c.sessions[s.id] = s
	return s, nil
}

// Close ends every open session (telling the server), stops polling and
// runs the configured cleanup.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	var open []*ClientConn
	for _, s := range c.sessions {
		open = append(open, s)
	}
	c.mu.Unlock()
	c.closeModern()
	for _, s := range open {
		s.Close()
	}
	c.reader.stop()
	c.wg.Wait()
	if c.cleanup != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.cleanup(ctx); err != nil {
			return fmt.Errorf("cleaning up queue client %s: %w", c.cfg.ClientID, err)
		}
	}
	return nil
}

func (c *Client) handle(r received) {
	if c.handleModern(r) {
		return
	}
	d := r.decoded
	c.mu.Lock()
	s := c.sessions[d.SessionID]
	c.mu.Unlock()
	log := c.log.With("message_id", r.messageID, "session", d.SessionID)
	if d.Type == wire.TypeWake {
		c.reader.delete(r.receipt) // another reader of this queue stopped
		return
	}
	if s == nil && !c.owned && d.ClientID != "" && d.ClientID != c.cfg.ClientID {
		c.sharedWith(d.ClientID)
	}
	if s == nil {
		switch {
		case c.owned:
			log.Debug("message for a session this client does not have deleted from its own queue", "owner", d.ClientID)
			c.reader.delete(r.receipt)
		case d.ClientID == c.cfg.ClientID:
			log.Debug("message for a closed session of this client deleted")
			c.reader.delete(r.receipt)
		case r.receiveCount < c.cfg.MaxReceiveCount:
			log.Debug("message for a session of another client made visible again", "owner", d.ClientID, "receive_count", r.receiveCount)
			c.reader.release(r.receipt)
		default:
			log.Error("message for a session this process does not have deleted after being handed back too often: if another process reads this response queue, that message is lost to it; give each process its own queue", "owner", d.ClientID, "receive_count", r.receiveCount, "queue", c.cfg.ResponseQueueURL)
			c.reader.delete(r.receipt)
		}
		return
	}
	if d.ClientID != "" {
		s.sawGoServer()
	}
	if d.Type == wire.TypeSessionEnd {
		c.reader.delete(r.receipt)
		s.log.Info("server ended the session")
		s.end(false)
		return
	}
	if d.Err != nil {
		c.reader.delete(r.receipt)
		log.Warn("malformed message from server dropped", "code", d.Err.Code, "reason", d.Err.Message)
		return
	}
	if s.receive(d.Msg, len(d.Body)) {
		c.reader.delete(r.receipt)
		return
	}
	// The session's inbox is full: leave the message for redelivery.
	if r.receiveCount >= c.cfg.MaxReceiveCount {
		log.Error("session not reading; message dropped", "receive_count", r.receiveCount)
		c.reader.delete(r.receipt)
	}
}

// sharedWith reports, once per client, that another client's messages
// arrive on this client's response queue.
func (c *Client) sharedWith(other string) {
	c.mu.Lock()
	if c.others == nil {
		c.others = map[string]bool{}
	}
	seen := c.others[other] || len(c.others) >= 64
	c.others[other] = true
	c.mu.Unlock()
	if !seen {
		c.log.Warn("response queue shared with another client: its messages are handed back to it a bounded number of times (MaxReceiveCount), after which they are lost; give each process its own response queue", "queue", c.cfg.ResponseQueueURL, "other_client", other)
	}
}

// A pending is a client request awaiting its answer.
type pending struct {
	req   *jsonrpc.Request
	gen   int         // the session generation it was last sent in
	token string      // JSON text of its progress token, or ""
	timer *time.Timer // fails it after RequestTimeout; nil for no limit
}

// A ClientConn is one client session: Write sends to the server's request
// queue or topic, Read yields the server's messages for this session.
type ClientConn struct {
	c     *Client
	id    string
	key   string // the SessionKey, sent on every message to the server
	inbox *mailbox
	log   *slog.Logger

	mu          sync.Mutex
	initReq     *jsonrpc.Request // the initialize sent, for re-initializing
	initialized *jsonrpc.Request // the notifications/initialized sent
	inflight    map[string]*pending
	progress    map[string]string // progress token → id key of its request
	// server: 0 until a message from the server arrived, then 1 if it
	// carried ClientId (a Go server, which understands session-end) and
	// 2 if not (Python asyncmcp, which logs validation errors for it).
	server   int
	gen      int               // incremented by each completed re-initialize
	reinitID string            // id key of the re-initialize in flight, or ""
	held     []jsonrpc.Message // messages held until it completes
	reinits  int
	ended    bool
}

// SessionID returns the session id chosen by this client.
func (s *ClientConn) SessionID() string { return s.id }

// Read returns the server's next message for this session.
func (s *ClientConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	return s.inbox.read(ctx)
}

// Write sends msg to the server. initialize gets the reply-to added to
// params._meta, and at the top level of params under the key Python
// asyncmcp 0.2.1 reads (response_queue_url or client_topic_arn). Messages
// too large for the destination fail with an error naming the limit,
// without ending the session.
func (s *ClientConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return fmt.Errorf("writing to session %s: %w", s.id, errClosed)
	}
	if req, ok := msg.(*jsonrpc.Request); ok {
		switch req.Method {
		case "initialize":
			params, err := wire.SetMeta(req.Params, s.c.cfg.MetaKey, s.c.cfg.ReplyTo)
			if legacy := wire.LegacyParam(s.c.cfg.MetaKey); err == nil && legacy != "" {
				// Python asyncmcp 0.2.1 reads only the top-level form.
				params, err = wire.SetParam(params, legacy, s.c.cfg.ReplyTo)
			}
			if err != nil {
				s.mu.Unlock()
				return rejected(err)
			}
			cp := *req
			cp.Params = params
			req = &cp
			msg = req
			s.initReq = req
		case "notifications/initialized":
			s.initialized = req
		case "notifications/cancelled":
			var p struct {
				RequestID any `json:"requestId"`
			}
			if json.Unmarshal(req.Params, &p) == nil {
				if id, err := jsonrpc.MakeID(p.RequestID); err == nil {
					delete(s.inflight, idKey(id))
				}
			}
		}
		if req.IsCall() {
			s.track(req)
		}
	}
	if s.reinitID != "" {
		s.held = append(s.held, msg)
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	if err := s.send(ctx, msg); err != nil {
		if req, ok := msg.(*jsonrpc.Request); ok && req.IsCall() {
			s.mu.Lock()
			s.untrack(idKey(req.ID))
			s.mu.Unlock()
		}
		return rejected(err)
	}
	return nil
}

// track records a request in flight and starts its timeout; s.mu is held.
func (s *ClientConn) track(req *jsonrpc.Request) {
	key := idKey(req.ID)
	s.untrack(key) // a reused id replaces the old request
	p := &pending{req: req, gen: s.gen, token: progressToken(req.Params)}
	if p.token != "" {
		s.progress[p.token] = key
	}
	if d := s.c.cfg.RequestTimeout; d > 0 {
		p.timer = time.AfterFunc(d, func() { s.expire(key, p) })
	}
	s.inflight[key] = p
}

// untrack forgets a request in flight; s.mu is held.
func (s *ClientConn) untrack(key string) {
	p, ok := s.inflight[key]
	if !ok {
		return
	}
	delete(s.inflight, key)
	if p.token != "" && s.progress[p.token] == key {
		delete(s.progress, p.token)
	}
	if p.timer != nil {
		p.timer.Stop()
	}
}

// expire fails a request that got neither an answer nor progress within
// RequestTimeout, and tells the server to stop working on it.
func (s *ClientConn) expire(key string, p *pending) {
	s.mu.Lock()
	if s.inflight[key] != p || s.ended {
		s.mu.Unlock()
		return
	}
	s.untrack(key)
	for i, m := range s.held {
		if m == p.req {
			s.held = append(s.held[:i:i], s.held[i+1:]...)
			break
		}
	}
	s.mu.Unlock()
	d := s.c.cfg.RequestTimeout
	s.log.Warn("request timed out: no answer and no progress", "id", p.req.ID.Raw(), "method", p.req.Method, "timeout", d)
	s.inbox.put(wire.ErrorResponse(p.req.ID, wire.CodeRequestTimeout,
		fmt.Sprintf("no answer from the server within %s (and no progress); request cancelled", d)), 0)
	params, _ := json.Marshal(map[string]any{"requestId": p.req.ID.Raw(), "reason": "timed out after " + d.String()})
	s.sendLater(&jsonrpc.Request{Method: "notifications/cancelled", Params: params})
}

// sawGoServer records what kind of server answered the session.
func (s *ClientConn) sawGoServer() {
	s.mu.Lock()
	s.server = 1
	s.mu.Unlock()
}

// progressToken returns the JSON text of params._meta.progressToken, or "".
func progressToken(params json.RawMessage) string {
	var p struct {
		Meta struct {
			Token json.RawMessage `json:"progressToken"`
		} `json:"_meta"`
	}
	if json.Unmarshal(params, &p) != nil || len(p.Meta.Token) == 0 || string(p.Meta.Token) == "null" {
		return ""
	}
	return tokenKey(p.Meta.Token)
}

// tokenKey normalizes a progress token's JSON text.
func tokenKey(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func (s *ClientConn) send(ctx context.Context, msg jsonrpc.Message) error {
	cfg := &s.c.cfg
	env, err := wire.Encode(msg, wire.Header{SessionID: s.id, ClientID: cfg.ClientID, ReplyTo: cfg.ReplyTo, SessionKey: s.key})
	if err != nil {
		return err
	}
	if size, limit := env.Size(), limitFor(cfg.RequestDest, cfg.MaxMessageBytes); size > limit {
		return wire.TooLargeError(size, limit, cfg.RequestDest)
	}
	return cfg.Sender.Send(ctx, cfg.RequestDest, env)
}

// sendLater sends msgs in order from a background goroutine owned by the
// Client; a failed request is answered locally with an error.
func (s *ClientConn) sendLater(msgs ...jsonrpc.Message) {
	s.c.wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, m := range msgs {
			if err := s.send(ctx, m); err != nil {
				s.log.Error("re-sending message after re-initialize", "err", err)
				if req, ok := m.(*jsonrpc.Request); ok && req.IsCall() {
					s.receive(wire.ErrorResponse(req.ID, wire.CodeSessionNotFound, "session lost and could not be re-established: "+err.Error()), 0)
				}
			}
		}
	})
}

// receive handles one message from the server, of size bytes; it reports
// false if the inbox is full. Called by the poller: it must not block.
func (s *ClientConn) receive(msg jsonrpc.Message, size int) bool {
	resp, ok := msg.(*jsonrpc.Response)
	if !ok {
		if req, isReq := msg.(*jsonrpc.Request); isReq && req.Method == "notifications/progress" {
			s.progressed(req)
		}
		return s.inbox.put(msg, size)
	}
	key := idKey(resp.ID)
	s.mu.Lock()
	if s.server == 0 {
		s.server = 2 // no ClientId seen before the first answer: not a Go server
	}
	if s.reinitID != "" && key == s.reinitID {
		s.reinitDone(resp) // unlocks
		return true
	}
	p, ok := s.inflight[key]
	if !ok {
		s.mu.Unlock()
		s.log.Debug("response for no request in flight dropped (duplicate?)", "id", resp.ID.Raw())
		return true
	}
	if code, isErr := wire.ErrorCode(resp); isErr && code == wire.CodeSessionNotFound && s.initReq != nil && p.req.Method != "initialize" && !s.ended {
		switch {
		case p.gen < s.gen:
			// Sent before the last re-initialize completed: just resend.
			p.gen = s.gen
			s.mu.Unlock()
			s.log.Info("request reached the server before the session was re-established; resending", "id", resp.ID.Raw())
			s.sendLater(p.req)
			return true
		case s.reinitID != "":
			s.held = append(s.held, p.req)
			s.mu.Unlock()
			return true
		case s.reinits < maxReinits:
			s.reinits++
			reinit := *s.initReq
			reinit.ID, _ = jsonrpc.MakeID("asyncmcp-reinit-" + strconv.Itoa(s.reinits) + "-" + wire.NewID()[:8])
			s.reinitID = idKey(reinit.ID)
			s.held = append(s.held, p.req)
			s.mu.Unlock()
			s.log.Info("server lost the session; initializing again and resending", "id", resp.ID.Raw())
			s.sendLater(&reinit)
			return true
		}
	}
	s.untrack(key)
	s.mu.Unlock()
	return s.inbox.put(resp, size)
}

// progressed restarts the timeout of the request a progress notification
// is about.
func (s *ClientConn) progressed(n *jsonrpc.Request) {
	var p struct {
		Token json.RawMessage `json:"progressToken"`
	}
	if json.Unmarshal(n.Params, &p) != nil || len(p.Token) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if key, ok := s.progress[tokenKey(p.Token)]; ok {
		if pd := s.inflight[key]; pd != nil && pd.timer != nil {
			pd.timer.Reset(s.c.cfg.RequestTimeout)
		}
	}
}

// reinitDone completes a re-initialize; s.mu is held and released here.
func (s *ClientConn) reinitDone(resp *jsonrpc.Response) {
	held := s.held
	s.held = nil
	s.reinitID = ""
	if resp.Error != nil {
		var failed []*jsonrpc.Response
		for _, m := range held {
			if req, ok := m.(*jsonrpc.Request); ok && req.IsCall() {
				s.untrack(idKey(req.ID))
				failed = append(failed, wire.ErrorResponse(req.ID, wire.CodeSessionNotFound, "session lost and re-initialize failed: "+resp.Error.Error()))
			}
		}
		s.mu.Unlock()
		s.log.Error("re-initialize failed", "err", resp.Error)
		for _, f := range failed {
			s.inbox.put(f, 0)
		}
		return
	}
	s.gen++
	for _, m := range held {
		if req, ok := m.(*jsonrpc.Request); ok && req.IsCall() {
			if p := s.inflight[idKey(req.ID)]; p != nil {
				p.gen = s.gen
			}
		}
	}
	var msgs []jsonrpc.Message
	if s.initialized != nil {
		msgs = append(msgs, s.initialized)
	}
	msgs = append(msgs, held...)
	s.mu.Unlock()
	s.log.Info("session re-established", "resending", len(held))
	s.sendLater(msgs...)
}

// Close ends the session: the server is told, and Read returns io.EOF.
func (s *ClientConn) Close() error {
	s.end(true)
	return nil
}

func (s *ClientConn) end(tellServer bool) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	// Python asyncmcp servers do not know session-end and log validation
	// errors for it; tell only Go servers, or any server while unknown.
	started := s.initReq != nil && s.server != 2
	for key := range s.inflight {
		s.untrack(key)
	}
	s.mu.Unlock()
	c := s.c
	c.mu.Lock()
	delete(c.sessions, s.id)
	c.mu.Unlock()
	s.inbox.close(nil)
	if tellServer && started {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		env := wire.EncodeSessionEnd(wire.Header{SessionID: s.id, ClientID: c.cfg.ClientID, ReplyTo: c.cfg.ReplyTo, SessionKey: s.key}, "client closed the session")
		if err := c.cfg.Sender.Send(ctx, c.cfg.RequestDest, env); err != nil {
			s.log.Warn("sending end of session", "err", err)
		}
	}
}

// Transport returns an [mcp.Transport] whose every Connect opens a new
// session of c.
func (c *Client) Transport() mcp.Transport { return clientTransport{c} }

type clientTransport struct{ c *Client }

func (t clientTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	return t.c.Connect(ctx)
}

// Dialer returns a [bridge.Dialer] whose each Dial opens a new session of c.
// It is also a [bridge.RoundTripper] that serves stateless requests with
// [Client.RoundTrip].
func (c *Client) Dialer() bridge.Dialer { return clientDialer{c} }

// ConnectOwned opens a session that owns c: closing the session closes c.
// If the session cannot be opened, c is closed at once.
func (c *Client) ConnectOwned(ctx context.Context) (mcp.Connection, error) {
	conn, err := c.Connect(ctx)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &ownedConn{ClientConn: conn}, nil
}

// ownedConn closes its Client with the session.
type ownedConn struct{ *ClientConn }

func (c *ownedConn) Close() error {
	c.ClientConn.Close()
	return c.c.Close()
}
