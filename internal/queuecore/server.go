// SPDX-License-Identifier: Apache-2.0

package queuecore

import (
	"container/list"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/wire"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ServerConfig configures a [Server].
type ServerConfig struct {
	SQS      *sqs.Client
	QueueURL string // the request queue
	Sender   Sender
	Polling  Polling
	// MetaKeys are the keys of initialize's params._meta that may name the
	// session's reply-to, in order of preference.
	MetaKeys []string
	// IdleTimeout ends a session that received nothing and had no call
	// running for this long. Zero means one hour; negative means never.
	IdleTimeout time.Duration
	// MaxMessageBytes caps the encoded size of messages, received and sent.
	// Zero means the service limit of each destination.
	MaxMessageBytes int
	// MaxReceiveCount is how many times a request may be received without
	// being answered before it is answered with an error and deleted.
	// Zero means 5.
	MaxReceiveCount int
	// UnknownSessionReleases is how many times a message for an unknown
	// session is made visible again for other server instances sharing the
	// queue before it is answered with "session not found". Zero answers at
	// once, which is right when one server process reads the queue.
	UnknownSessionReleases int
	// SessionBuffer is how many received messages a session may hold unread.
	// Zero means 1024.
	SessionBuffer int
	// SessionBufferBytes bounds the bytes (message bodies) a session may
	// hold unread; a request beyond it is answered with -32012. Zero means
	// DefaultSessionBufferBytes (16 MiB).
	SessionBufferBytes int
	// MaxSessions caps the sessions open at once; an initialize beyond it
	// is answered with CodeTooManySessions. Zero means 1000; negative
	// means no cap.
	MaxSessions int
	// AnswerCache is how many answers per session are kept to re-send when a
	// request is delivered again. Zero means 256.
	AnswerCache int
	// RequireSessionKey refuses initialize messages without a SessionKey
	// attribute (Python asyncmcp clients send none), so that every session
	// is bound to a secret of its creator. Without it such sessions are
	// bound to the SQS SenderId of their initialize when the service
	// provides one, and otherwise not bound at all.
	RequireSessionKey bool
	// EndedSessions is how many ended sessions the server remembers (their
	// reply-to and binding), to answer their clients' later messages with
	// "session not found" and to refuse reusing their ids. Zero means 4096.
	EndedSessions int
	// EndedSessionTTL is how long an ended session is remembered. Zero means
	// 24 hours.
	EndedSessionTTL time.Duration
	// Modern configures stateless (2026-07-28) requests; see modern_server.go.
	Modern ModernConfig
	Logger *slog.Logger
}

// A Server reads one request queue and turns it into MCP sessions, each an
// [mcp.Connection] returned by Accept. It implements bridge.Listener.
type Server struct {
	cfg    ServerConfig
	log    *slog.Logger
	reader *queueReader
	fifo   bool
	modern *modernServer

	mu       sync.Mutex
	sessions map[string]*ServerConn
	ended    endedSessions
	closed   bool
	stopped  bool
	acceptq  chan *ServerConn
	done     chan struct{}

	maintCancel context.CancelFunc
	wg          sync.WaitGroup
}

// NewServer validates cfg and starts reading the queue.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.SQS == nil {
		return nil, errors.New("queue server: SQS client is nil")
	}
	if cfg.QueueURL == "" {
		return nil, errors.New("queue server: request queue URL is empty")
	}
	if cfg.Sender == nil {
		return nil, errors.New("queue server: sender is nil")
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = time.Hour
	}
	if cfg.MaxReceiveCount <= 0 {
		cfg.MaxReceiveCount = 5
	}
	if cfg.SessionBuffer <= 0 {
		cfg.SessionBuffer = 1024
	}
	if cfg.SessionBufferBytes <= 0 {
		cfg.SessionBufferBytes = DefaultSessionBufferBytes
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = 1000
	}
	if cfg.AnswerCache <= 0 {
		cfg.AnswerCache = 256
	}
	if cfg.EndedSessions <= 0 {
		cfg.EndedSessions = 4096
	}
	if cfg.EndedSessionTTL <= 0 {
		cfg.EndedSessionTTL = 24 * time.Hour
	}
	cfg.Polling = cfg.Polling.withDefaults()
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{
		cfg:      cfg,
		log:      log.With("queue", cfg.QueueURL),
		fifo:     wire.IsFIFO(cfg.QueueURL),
		sessions: map[string]*ServerConn{},
		ended:    endedSessions{max: cfg.EndedSessions, ttl: cfg.EndedSessionTTL},
		acceptq:  make(chan *ServerConn, 256),
		done:     make(chan struct{}),
	}
	s.modern = newModernServer(s)
	s.reader = newQueueReader(cfg.SQS, cfg.QueueURL, cfg.Polling, s.log, s.handle)
	s.reader.start()
	ctx, cancel := context.WithCancel(context.Background())
	s.maintCancel = cancel
	s.wg.Go(func() { s.maintain(ctx) })
	return s, nil
}

// Accept returns the next new session. It fails once ctx is done or the
// server is closed.
func (s *Server) Accept(ctx context.Context) (mcp.Connection, error) {
	select {
	case c := <-s.acceptq:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.done:
		return nil, fmt.Errorf("accepting session from %s: %w", s.cfg.QueueURL, errClosed)
	}
}

// Close stops accepting sessions. Sessions already accepted keep working
// until their owners close them; reading the queue stops with the last one.
// Sessions closed after Close send no end-of-session message and make their
// unanswered requests visible again at once, so that another server instance
// can take them over (the client initializes again transparently).
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()
	// Sessions never accepted end now.
	for {
		select {
		case c := <-s.acceptq:
			c.end(endShutdown, "server shutting down")
			continue
		default:
		}
		break
	}
	s.modern.close()
	s.stopIfIdle()
	return nil
}

func (s *Server) stopIfIdle() {
	s.mu.Lock()
	stop := s.closed && len(s.sessions) == 0 && !s.stopped
	if stop {
		s.stopped = true
	}
	s.mu.Unlock()
	if stop {
		s.maintCancel()
		s.reader.stop()
		s.wg.Wait()
	}
}

// handle routes one received message. It never blocks on a session.
func (s *Server) handle(r received) {
	d := r.decoded
	log := s.log.With("message_id", r.messageID, "session", d.SessionID, "client", d.ClientID)
	if isModernMessage(d) {
		s.modern.handle(r, log)
		return
	}
	if d.Type == wire.TypeSessionEnd {
		s.reader.delete(r.receipt)
		if c := s.lookup(d.SessionID); c != nil {
			if !c.bind.admits(d.Attrs.Get(wire.AttrSessionKey), r.senderID) {
				log.Warn("refusing end of session from a sender not bound to it", "reply_to", d.ReplyTo)
				return
			}
			log.Debug("client ended session")
			c.end(endByClient, "client ended the session")
		}
		return
	}
	// A message naming a live session must pass its binding before
	// anything else, so that even the errors for a malformed message are
	// never sent to the session's reply-to on a stranger's word.
	if c := s.lookup(d.SessionID); c != nil && !c.bind.admits(d.Attrs.Get(wire.AttrSessionKey), r.senderID) {
		s.refuse(r, log, c.replyTo, c.id)
		return
	}
	if d.Type != wire.TypeJSONRPC {
		s.poison(r, log, d.ID, jsonrpc.CodeInvalidRequest, fmt.Sprintf("unknown MessageType %q", d.Type), nil)
		return
	}
	if limit := s.cfg.MaxMessageBytes; limit > 0 && len(d.Body) > limit {
		s.poison(r, log, d.ID, wire.CodeMessageTooLarge, fmt.Sprintf("message of %d bytes exceeds the %d-byte limit of this server", len(d.Body), limit), nil)
		return
	}
	if d.Err != nil {
		s.poison(r, log, d.ID, d.Err.Code, d.Err.Message, nil)
		return
	}
	if d.SessionID != "" && !wire.ValidSessionID(d.SessionID) {
		s.poison(r, log, d.ID, jsonrpc.CodeInvalidRequest, fmt.Sprintf("invalid SessionId %q: want 1 to 128 printable ASCII characters", d.SessionID), nil)
		return
	}
	c := s.lookup(d.SessionID)
	if c == nil {
		if req, ok := d.Msg.(*jsonrpc.Request); ok && req.Method == "initialize" {
			s.initialize(r, req, log)
			return
		}
		if t := s.ended.get(d.SessionID, time.Now()); t != nil {
			// A session that ended here: say so at once, to the ReplyTo
			// the message names or, for clients that name none (Python),
			// to the reply-to the session had, if the sender is the
			// session's own.
			replyTo := d.ReplyTo
			if replyTo == "" && t.bind.admits(d.Attrs.Get(wire.AttrSessionKey), r.senderID) {
				replyTo = t.replyTo
			}
			s.poisonTo(r, log, d.ID, wire.CodeSessionNotFound, fmt.Sprintf("session %q ended", d.SessionID), replyTo)
			return
		}
		if s.cfg.UnknownSessionReleases > 0 && r.receiveCount <= s.cfg.UnknownSessionReleases {
			log.Debug("message for unknown session made visible again for other servers", "receive_count", r.receiveCount)
			s.reader.release(r.receipt)
			return
		}
		s.poison(r, log, d.ID, wire.CodeSessionNotFound, fmt.Sprintf("session %q not found", d.SessionID), nil)
		return
	}
	if !c.bind.admits(d.Attrs.Get(wire.AttrSessionKey), r.senderID) {
		s.refuse(r, log, c.replyTo, c.id)
		return
	}
	c.receive(r, log)
}

// refuse logs and deletes a message that names a live session it is not
// bound to (a missing or wrong SessionKey, or another SenderId): an
// injection attempt or a confused client. It never reaches the session. Its
// error goes to the ReplyTo the message names, unless that is the session's
// own reply-to: an error there would let a stranger fail the owner's calls.
func (s *Server) refuse(r received, log *slog.Logger, sessionReplyTo, id string) {
	d := r.decoded
	replyTo := d.ReplyTo
	if replyTo == sessionReplyTo {
		replyTo = ""
	}
	log.Warn("refusing message for a session it is not bound to (wrong or missing SessionKey, or another SenderId)", "sender_id", r.senderID, "reply_to", d.ReplyTo, "has_key", d.Attrs.Get(wire.AttrSessionKey) != "")
	// The same words as for a session that does not exist: the sender
	// learns nothing about which sessions are live.
	s.poisonTo(r, log, d.ID, wire.CodeSessionNotFound, fmt.Sprintf("session %q not found", id), replyTo)
}

// poison answers a message that cannot be handled with an error to its
// reply-to (when it is a request and a reply-to is known), logs it and
// deletes it.
func (s *Server) poison(r received, log *slog.Logger, id jsonrpc.ID, code int64, msg string, c *ServerConn) {
	replyTo := r.decoded.ReplyTo
	if c != nil {
		replyTo = c.replyTo
	}
	if replyTo == "" {
		if req, ok := r.decoded.Msg.(*jsonrpc.Request); ok && req.Method == "initialize" {
			replyTo = s.metaReplyTo(req)
		}
	}
	s.poisonTo(r, log, id, code, msg, replyTo)
}

// poisonTo is poison with the reply-to chosen by the caller ("" for none).
func (s *Server) poisonTo(r received, log *slog.Logger, id jsonrpc.ID, code int64, msg string, replyTo string) {
	log.Warn("rejecting message", "code", code, "reason", msg, "id", id.Raw())
	s.reader.delete(r.receipt)
	switch m := r.decoded.Msg.(type) {
	case *jsonrpc.Response:
		return // responses are never answered
	case *jsonrpc.Request:
		if !m.IsCall() {
			return // nor are notifications
		}
	}
	if replyTo == "" {
		log.Warn("no reply-to known; error not sent")
		return
	}
	env, err := wire.Encode(wire.ErrorResponse(id, code, msg), wire.Header{SessionID: r.decoded.SessionID, ClientID: r.decoded.ClientID})
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = s.cfg.Sender.Send(ctx, replyTo, env)
	}
	if err != nil {
		log.Error("sending error reply", "reply_to", replyTo, "err", err)
	}
}

// metaReplyTo returns the reply-to an initialize names: params._meta[k] for
// the first of MetaKeys present, else the top-level key Python asyncmcp
// 0.2.1 uses for it (params.response_queue_url, params.client_topic_arn).
func (s *Server) metaReplyTo(req *jsonrpc.Request) string {
	for _, k := range s.cfg.MetaKeys {
		if v := wire.GetMeta(req.Params, k); v != "" {
			return v
		}
		if legacy := wire.LegacyParam(k); legacy != "" {
			if v := wire.GetParam(req.Params, legacy); v != "" {
				return v
			}
		}
	}
	return ""
}

func (s *Server) lookup(id string) *ServerConn {
	if id == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id]
}

func (s *Server) initialize(r received, req *jsonrpc.Request, log *slog.Logger) {
	d := r.decoded
	replyTo := s.metaReplyTo(req)
	if replyTo == "" {
		replyTo = d.ReplyTo
	}
	if replyTo == "" {
		s.poison(r, log, d.ID, jsonrpc.CodeInvalidParams, fmt.Sprintf("initialize needs params._meta.%v naming where to send the session's messages", s.cfg.MetaKeys), nil)
		return
	}
	key := d.Attrs.Get(wire.AttrSessionKey)
	if key == "" && s.cfg.RequireSessionKey {
		s.poison(r, log, d.ID, jsonrpc.CodeInvalidRequest, "this server requires a SessionKey attribute on every message (session binding); upgrade the client", nil)
		return
	}
	bind := newBinding(key, r.senderID)
	id := d.SessionID
	if id == "" {
		id = wire.NewID()
	} else if t := s.ended.get(id, time.Now()); t != nil {
		// Session ids are never reused, except by the creator of the ended
		// session proving it with the same key (a transparent
		// re-initialize, wire-format §6).
		if len(t.bind.keyHash) == 0 || !t.bind.admits(key, r.senderID) {
			replyTo = d.ReplyTo
			if replyTo == t.replyTo {
				replyTo = ""
			}
			s.poisonTo(r, log, d.ID, jsonrpc.CodeInvalidRequest, fmt.Sprintf("session id %q belonged to a session that ended; choose a new one", id), replyTo)
			return
		}
		s.ended.remove(id)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		log.Debug("initialize after close made visible again for other servers")
		s.reader.release(r.receipt)
		return
	}
	if n := len(s.sessions); s.cfg.MaxSessions > 0 && n >= s.cfg.MaxSessions {
		s.mu.Unlock()
		s.poisonTo(r, log, d.ID, wire.CodeTooManySessions, fmt.Sprintf("this server has %d sessions open, its limit; try again later", n), replyTo)
		return
	}
	c := &ServerConn{
		srv:      s,
		id:       id,
		clientID: d.ClientID,
		senderID: r.senderID,
		replyTo:  replyTo,
		bind:     bind,
		goPeer:   d.ReplyTo != "",
		inbox:    newMailbox(s.cfg.SessionBuffer, s.cfg.SessionBufferBytes),
		running:  map[string]*run{},
		answers:  map[string]*list.Element{},
		order:    list.New(),
		active:   time.Now(),
		log:      s.log.With("session", id, "client", d.ClientID),
	}
	select {
	case s.acceptq <- c:
	default:
		s.mu.Unlock()
		log.Warn("too many sessions waiting to be accepted; initialize left for redelivery")
		return
	}
	s.sessions[id] = c
	s.mu.Unlock()
	c.log.Info("session started", "reply_to", replyTo, "bound_to", bind.kind())
	c.receive(r, log)
}

// maintain extends the visibility of running requests and ends idle
// sessions.
func (s *Server) maintain(ctx context.Context) {
	extend := time.NewTicker(max(s.cfg.Polling.VisibilityTimeout/3, time.Second))
	defer extend.Stop()
	idleEvery := time.Hour
	if s.cfg.IdleTimeout > 0 {
		idleEvery = max(s.cfg.IdleTimeout/4, 10*time.Millisecond)
	}
	idle := time.NewTicker(idleEvery)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-extend.C:
			var receipts []string
			s.mu.Lock()
			for _, c := range s.sessions {
				receipts = append(receipts, c.runningReceipts()...)
			}
			s.mu.Unlock()
			receipts = append(receipts, s.modern.runningReceipts()...)
			if len(receipts) > 0 {
				s.reader.setVisibility(ctx, receipts, s.cfg.Polling.VisibilityTimeout)
			}
		case now := <-idle.C:
			if s.cfg.IdleTimeout < 0 {
				continue
			}
			var idlers []*ServerConn
			s.mu.Lock()
			for _, c := range s.sessions {
				if c.idleSince(now) >= s.cfg.IdleTimeout {
					idlers = append(idlers, c)
				}
			}
			s.mu.Unlock()
			for _, c := range idlers {
				c.log.Info("session idle; ending it", "idle_timeout", s.cfg.IdleTimeout)
				c.end(endIdle, "session idle for "+s.cfg.IdleTimeout.String())
			}
		}
	}
}

type endReason int

const (
	endByOwner endReason = iota
	endByClient
	endIdle
	endShutdown
)

// A ServerConn is one client session on the server side: Read yields the
// client's messages, Write sends to the client's reply-to.
type ServerConn struct {
	srv      *Server
	id       string
	clientID string
	senderID string // SQS SenderId of the initialize, when the service gives it
	replyTo  string
	bind     binding
	// goPeer: the client follows this wire format (it sent ReplyTo), so it
	// understands session-end. Python asyncmcp clients send no ReplyTo,
	// and log validation errors for the unknown notification.
	goPeer bool
	inbox  *mailbox
	log    *slog.Logger

	mu      sync.Mutex
	running map[string]*run // request id → the request's copies
	answers map[string]*list.Element
	order   *list.List // of *answer, oldest first
	active  time.Time
	ended   bool
}

// A run is a request handed to the session and not yet answered.
type run struct {
	id       jsonrpc.ID
	receipts []string // receipt handles of its copies, deleted with the answer
	sum      [32]byte // SHA-256 of its body
}

type answer struct {
	key string
	sum [32]byte // SHA-256 of the body of the request it answers
	env wire.Envelope
}

// SessionID returns the session id.
func (c *ServerConn) SessionID() string { return c.id }

// ClientID returns the ClientId the client sent on initialize.
func (c *ServerConn) ClientID() string { return c.clientID }

// ClientIdentity names the client for accounting by the back (see
// bridge.WithClient): its ClientId with the SQS SenderId of its initialize.
func (c *ServerConn) ClientIdentity() string {
	return "queue:" + c.clientID + "|" + c.senderID
}

// ReplyTo returns where the session's messages are sent.
func (c *ServerConn) ReplyTo() string { return c.replyTo }

// Read returns the client's next message, or io.EOF once the session ended.
func (c *ServerConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	return c.inbox.read(ctx)
}

func (c *ServerConn) idleSince(now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.running) > 0 {
		return 0
	}
	return now.Sub(c.active)
}

func (c *ServerConn) runningReceipts() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, r := range c.running {
		out = append(out, r.receipts...)
	}
	return out
}

// receive hands a received message to the session, applying the
// redelivery rules for requests.
func (c *ServerConn) receive(r received, log *slog.Logger) {
	d := r.decoded
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		c.srv.poison(r, log, d.ID, wire.CodeSessionNotFound, fmt.Sprintf("session %q ended", c.id), c)
		return
	}
	c.active = time.Now()
	req, isReq := d.Msg.(*jsonrpc.Request)
	if !isReq || !req.IsCall() {
		c.mu.Unlock()
		// Notifications and responses are deleted once handed over.
		c.srv.reader.delete(r.receipt)
		if !c.inbox.put(d.Msg, len(d.Body)) {
			log.Warn("session inbox full; message dropped", "method", d.Attrs.Get(wire.AttrMethod))
		}
		return
	}
	key := idKey(req.ID)
	sum := sha256.Sum256([]byte(d.Body))
	if run, ok := c.running[key]; ok {
		if c.srv.fifo {
			c.mu.Unlock()
			c.srv.reader.delete(r.receipt)
		} else {
			// Keep every copy (a redelivery has a new receipt handle; a
			// duplicate send is another message) to delete with the answer.
			run.receipts = append(run.receipts, r.receipt)
			c.mu.Unlock()
		}
		log.Debug("request delivered again while running; not executed again", "id", req.ID.Raw())
		return
	}
	if el, ok := c.answers[key]; ok && el.Value.(*answer).sum != sum {
		// The same id with another body is a new request, not a copy:
		// its answer must not be the cached one (which a pre-sent request
		// could otherwise plant).
		c.order.Remove(el)
		delete(c.answers, key)
	}
	if el, ok := c.answers[key]; ok {
		env := el.Value.(*answer).env
		c.mu.Unlock()
		log.Info("request delivered again after it was answered; re-sending the answer", "id", req.ID.Raw())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.srv.cfg.Sender.Send(ctx, c.replyTo, env); err != nil {
			log.Error("re-sending answer", "id", req.ID.Raw(), "err", err)
			return
		}
		c.srv.reader.delete(r.receipt)
		return
	}
	if r.receiveCount > c.srv.cfg.MaxReceiveCount {
		c.mu.Unlock()
		c.srv.poison(r, log, req.ID, wire.CodeRedeliveryLimit, fmt.Sprintf("request received %d times without an answer; giving up", r.receiveCount), c)
		return
	}
	var receipts []string
	if !c.srv.fifo {
		// A FIFO message group stays locked while any of its messages is
		// in flight, so a request held until answered would block the
		// session's other messages (cancellations, sampling answers):
		// on FIFO queues requests are deleted once handed over.
		receipts = []string{r.receipt}
	}
	c.running[key] = &run{id: req.ID, receipts: receipts, sum: sum}
	c.mu.Unlock()
	if c.srv.fifo {
		c.srv.reader.delete(r.receipt)
	}
	if !c.inbox.put(req, len(d.Body)) {
		c.mu.Lock()
		delete(c.running, key)
		c.mu.Unlock()
		c.srv.poison(r, log, req.ID, wire.CodeSessionOverloaded, "session inbox full: the server is not reading this session's messages", c)
	}
}

// Write sends msg to the client. A response completes its request: the
// request message is deleted once the response is sent, and the answer is
// kept to re-send if the request is delivered again. A response too large
// for the destination is replaced by an error response naming the limit.
func (c *ServerConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	h := wire.Header{SessionID: c.id, ClientID: c.clientID}
	env, err := wire.Encode(msg, h)
	if err != nil {
		return rejected(err)
	}
	limit := limitFor(c.replyTo, c.srv.cfg.MaxMessageBytes)
	resp, isResp := msg.(*jsonrpc.Response)
	if size := env.Size(); size > limit {
		tooLarge := wire.TooLargeError(size, limit, c.replyTo)
		if !isResp {
			c.log.Warn("message to client too large", "err", tooLarge)
			return rejected(tooLarge)
		}
		c.log.Warn("response too large; sending an error instead", "id", resp.ID.Raw(), "err", tooLarge)
		env, err = wire.Encode(wire.ErrorResponse(resp.ID, wire.CodeMessageTooLarge, "response "+tooLarge.Error()), h)
		if err != nil {
			return rejected(err)
		}
	}
	if err := c.srv.cfg.Sender.Send(ctx, c.replyTo, env); err != nil {
		c.sendFailed(msg, err)
		return rejected(err)
	}
	if isResp && resp.ID.IsValid() {
		key := idKey(resp.ID)
		c.mu.Lock()
		run, ok := c.running[key]
		var receipts []string
		if ok {
			delete(c.running, key)
			c.remember(key, run.sum, env)
			receipts = run.receipts
		}
		c.active = time.Now()
		c.mu.Unlock()
		for _, h := range receipts {
			c.srv.reader.delete(h)
		}
	}
	return nil
}

// sendFailed handles a message that could not be sent to the client. If
// the reply-to is gone (the queue or topic was deleted), the session ends:
// nothing can reach its client any more. A response that could not be sent
// ends its request either way: its copies are deleted and their visibility
// no longer extended (the SDK already retried the send), so nothing waits on
// an answer that will never arrive.
func (c *ServerConn) sendFailed(msg jsonrpc.Message, err error) {
	if destinationGone(err) {
		c.log.Error("the session's reply-to no longer exists; ending the session", "reply_to", c.replyTo, "err", err)
		c.end(endByOwner, "reply-to "+c.replyTo+" no longer exists")
		return
	}
	resp, ok := msg.(*jsonrpc.Response)
	if !ok || !resp.ID.IsValid() {
		c.log.Warn("sending to the client failed", "err", err)
		return
	}
	key := idKey(resp.ID)
	c.mu.Lock()
	run := c.running[key]
	delete(c.running, key)
	c.mu.Unlock()
	c.log.Error("answer lost: sending it to the client failed", "id", resp.ID.Raw(), "err", err)
	if run != nil {
		for _, h := range run.receipts {
			c.srv.reader.delete(h)
		}
	}
}

// destinationGone reports whether a send failed because the queue or topic
// does not exist.
func destinationGone(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "AWS.SimpleQueueService.NonExistentQueue", "NonExistentQueue", "QueueDoesNotExist", "NotFound":
		return true
	}
	return false
}

// remember caches an answer; c.mu is held.
func (c *ServerConn) remember(key string, sum [32]byte, env wire.Envelope) {
	c.answers[key] = c.order.PushBack(&answer{key, sum, env})
	for c.order.Len() > c.srv.cfg.AnswerCache {
		old := c.order.Remove(c.order.Front()).(*answer)
		delete(c.answers, old.key)
	}
}

// Close ends the session: the client is told (unless the client ended it
// or the server is shutting down), and Read returns io.EOF.
func (c *ServerConn) Close() error {
	c.end(endByOwner, "server closed the session")
	return nil
}

func (c *ServerConn) end(why endReason, reason string) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	var receipts []string
	var unanswered []jsonrpc.ID
	for _, r := range c.running {
		receipts = append(receipts, r.receipts...)
		unanswered = append(unanswered, r.id)
	}
	c.running = map[string]*run{}
	c.mu.Unlock()

	s := c.srv
	s.mu.Lock()
	if s.sessions[c.id] == c {
		delete(s.sessions, c.id)
	}
	shuttingDown := s.closed
	s.mu.Unlock()
	c.inbox.close(nil)
	if !shuttingDown && why != endShutdown {
		s.ended.add(&endedSession{id: c.id, replyTo: c.replyTo, bind: c.bind}, time.Now())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if shuttingDown || why == endShutdown {
		// Let another server instance answer what this one did not.
		if len(receipts) > 0 {
			s.reader.setVisibility(ctx, receipts, 0)
		}
	} else {
		for _, h := range receipts {
			s.reader.delete(h)
		}
		// Calls still running get an error rather than silence. Not
		// -32001: a Go client would re-initialize and run them again
		// (and a call that crashes the server would crash it again).
		for _, id := range unanswered {
			if why == endByClient {
				break
			}
			env, err := wire.Encode(wire.ErrorResponse(id, jsonrpc.CodeInternalError, "the session ended before answering: "+reason), wire.Header{SessionID: c.id, ClientID: c.clientID})
			if err == nil {
				err = s.cfg.Sender.Send(ctx, c.replyTo, env)
			}
			if err != nil {
				c.log.Warn("sending error for a call cut by the end of the session", "id", id.Raw(), "err", err)
			}
		}
		if why != endByClient && c.goPeer {
			env := wire.EncodeSessionEnd(wire.Header{SessionID: c.id, ClientID: c.clientID}, reason)
			if err := s.cfg.Sender.Send(ctx, c.replyTo, env); err != nil {
				c.log.Warn("sending end of session", "err", err)
			}
		}
	}
	c.log.Info("session ended", "reason", reason)
	if why == endByClient || why == endIdle {
		// This runs on a poller or the maintenance goroutine, which
		// stopping waits for; so stop from a goroutine of its own.
		go s.stopIfIdle()
	} else {
		s.stopIfIdle()
	}
}
