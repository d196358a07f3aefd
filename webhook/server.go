// SPDX-License-Identifier: Apache-2.0

package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/httpguard"
	"github.com/asyncmcp/asyncmcp-go/internal/httplimit"
	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Defaults of [ServerOptions].
const (
	DefaultMaxSessions  = 1000
	DefaultMaxBodyBytes = 4 << 20
	DefaultRetries      = 4
	DefaultTimeout      = 10 * time.Second
	DefaultRetryBackoff = 250 * time.Millisecond
	DefaultIdleTimeout  = time.Hour
	maxRetryBackoff     = 30 * time.Second
	maxUndelivered      = 1000
	acceptBacklog       = 64 // sessions created but not yet returned by Accept
)

// ServerOptions configures a [Server]. The zero value is usable: it accepts
// up to 1000 sessions, signs every delivery with a secret generated per
// session, and delivers only to webhook hosts in AllowedWebhookHosts (none by
// default, so set it or AllowLoopback).
type ServerOptions struct {
	// MaxSessions caps concurrent sessions; an initialize beyond it gets
	// HTTP 503. Zero means DefaultMaxSessions; negative means no limit.
	MaxSessions int
	// MaxBodyBytes caps a client POST body; a larger one gets HTTP 413.
	// Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Secret signs every delivery. If empty, each session gets a fresh
	// secret, returned to the client in the initialize reply
	// ("webhook_secret"); if set, it is never sent and the client must be
	// configured with the same value.
	Secret string
	// AllowedWebhookHosts lists the hosts the server may deliver to:
	// "host", "host:port", "*.example.com" or "*" (any host). An initialize
	// whose webhookUrl is elsewhere gets HTTP 403.
	AllowedWebhookHosts []string
	// AllowLoopback also allows localhost and loopback IPs (development).
	// Deliveries connect only to public addresses, checked after name
	// resolution, plus loopback ones with AllowLoopback and private and
	// link-local ones with AllowPrivate; an allow-list entry that names
	// such a host literally allows it too (see [NewAddressPolicy]).
	AllowLoopback bool
	// AllowPrivate lets deliveries connect to private, shared and
	// link-local addresses (see [AddressPolicy]).
	AllowPrivate bool
	// Retries is how many times a failed delivery is retried (network
	// errors, 408, 429 and 5xx). Zero means DefaultRetries; negative means none.
	Retries int
	// Timeout bounds one delivery attempt. Zero means DefaultTimeout.
	Timeout time.Duration
	// RetryBackoff is the base of the exponential backoff between attempts
	// (full jitter, capped at 30s). Zero means DefaultRetryBackoff.
	RetryBackoff time.Duration
	// IdleTimeout ends a session that has received no client message and
	// has no request awaiting its response for this long, so a client that
	// vanished without DELETE does not hold a slot (and a server process)
	// forever. Zero means DefaultIdleTimeout; negative means never.
	IdleTimeout time.Duration
	// HTTPClient makes deliveries. Nil means a client with pooled
	// connections. Redirects are never followed, whatever client is given.
	HTTPClient *http.Client
	// RoundTripper serves stateless (2026-07-28) requests: POSTs without
	// X-Session-ID that carry X-Request-Key or a modern params._meta; see
	// "Stateless requests" in docs/webhook-format.md. Nil answers them
	// with -32022 (HTTP 400), naming the session-based versions.
	RoundTripper bridge.RoundTripper
	// ListenTimeout ends a stateless subscriptions/listen with its graceful
	// result after this long. Zero means DefaultListenTimeout; negative
	// means never.
	ListenTimeout time.Duration
	// MaxStatelessCalls bounds the stateless requests running at once;
	// beyond it a POST gets HTTP 503. Zero means 1024.
	MaxStatelessCalls int
	// AuthToken, if set, is required as "Authorization: Bearer TOKEN" on
	// every client request; without it a request gets HTTP 401.
	AuthToken string
	// ListenAddr is the address the Server is served on. When it is a
	// loopback address, requests whose Host header is not a loopback name
	// or in AllowedHosts get HTTP 403 (DNS-rebinding protection).
	ListenAddr string
	// AllowedHosts are Host header values accepted ("name" or
	// "name:port"): besides loopback names on a loopback listener, and as
	// the only ones on any other listener when set.
	AllowedHosts []string
	// DisableHostCheck accepts any Host header.
	DisableHostCheck bool
	// AllowOrigins lists browser origins allowed ("*" for any). A request
	// with any other Origin header that is not same-origin gets HTTP 403.
	AllowOrigins []string
	// Logger receives log lines. Nil means slog.Default().
	Logger *slog.Logger
}

// A Server is the server side of the asyncmcp webhook transport. It is an
// [http.Handler], conventionally mounted at [DefaultPath], that takes client
// messages by POST and answers each at once; and it is a bridge.Listener
// whose Accept yields one [mcp.Connection] per client session. Writes on a
// connection are delivered by signed POST to the webhook URL the client gave
// in initialize params._meta.webhookUrl.
//
// Besides POST, the handler answers DELETE (end the session named by
// X-Session-ID) and GET (status of that session, including responses whose
// delivery failed).
type Server struct {
	opts   ServerOptions
	sender *Sender
	log    *slog.Logger
	guard  *httpguard.Guard

	acceptCh chan *serverSession
	done     chan struct{}
	once     sync.Once

	// stopCtx ends delivery retries when the Server is closed; loops
	// tracks the sessions' delivery goroutines.
	stopCtx context.Context
	stop    context.CancelFunc
	loops   sync.WaitGroup

	mu       sync.Mutex
	sessions map[string]*serverSession
	byClient map[string]string // client id -> last initialized session

	modern *modernServer
}

// NewServer returns a Server configured by opts (nil means all defaults).
func NewServer(opts *ServerOptions) *Server {
	var o ServerOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxSessions == 0 {
		o.MaxSessions = DefaultMaxSessions
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = DefaultRetryBackoff
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	stopCtx, stop := context.WithCancel(context.Background())
	srv := &Server{
		stopCtx: stopCtx,
		stop:    stop,
		opts:    o,
		sender: &Sender{Retries: o.Retries, Timeout: o.Timeout, RetryBackoff: o.RetryBackoff,
			HTTPClient: o.HTTPClient, Logger: o.Logger,
			Addresses: NewAddressPolicy(o.AllowedWebhookHosts, o.AllowLoopback, o.AllowPrivate)},
		log: o.Logger,
		guard: &httpguard.Guard{Loopback: httpguard.IsLoopbackAddr(o.ListenAddr), AllowedHosts: o.AllowedHosts,
			DisableHostCheck: o.DisableHostCheck, AllowOrigins: o.AllowOrigins, AuthToken: o.AuthToken},
		acceptCh: make(chan *serverSession, acceptBacklog),
		done:     make(chan struct{}),
		sessions: make(map[string]*serverSession),
		byClient: make(map[string]string),
	}
	srv.modern = newModernServer(srv)
	if o.IdleTimeout > 0 {
		go srv.expireIdle(o.IdleTimeout)
	}
	return srv
}

// expireIdle ends idle sessions until the Server is closed.
func (s *Server) expireIdle(timeout time.Duration) {
	t := time.NewTicker(min(max(timeout/4, 10*time.Millisecond), 30*time.Second))
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		var idle []*serverSession
		now := time.Now().UnixNano()
		s.mu.Lock()
		for _, ss := range s.sessions {
			if ss.pending.Load() <= 0 && now-ss.lastActive.Load() > int64(timeout) {
				idle = append(idle, ss)
			}
		}
		s.mu.Unlock()
		for _, ss := range idle {
			s.log.Info("webhook: ending idle session", "session", ss.id, "client", ss.clientID, "idle_timeout", timeout)
			ss.Close()
		}
	}
}

// Accept waits for the next client session (an initialize POST) and returns
// its connection. It fails once ctx is done or the Server is closed.
func (s *Server) Accept(ctx context.Context) (mcp.Connection, error) {
	select {
	case ss := <-s.acceptCh:
		return ss, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.done:
		return nil, errors.New("webhook: server closed")
	}
}

// Close shuts the server down: later initialize POSTs get HTTP 503, every
// session ends (its connection's Read returns io.EOF, so a bridge stops the
// session's MCP server), deliveries still being retried stop, and Close
// waits for the delivery goroutines to finish.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		close(s.done)
		open := make([]*serverSession, 0, len(s.sessions))
		for _, ss := range s.sessions {
			open = append(open, ss)
		}
		s.mu.Unlock()
		s.drainAccept()
		for _, ss := range open {
			ss.Close()
		}
		s.modern.close()
		s.stop()
		s.loops.Wait()
		s.modern.wait()
	})
	return nil
}

// drainAccept ends sessions waiting for Accept after Close.
func (s *Server) drainAccept() {
	for {
		select {
		case ss := <-s.acceptCh:
			ss.Close()
		default:
			return
		}
	}
}

// ActiveSessions returns the number of open sessions.
func (s *Server) ActiveSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// ServeHTTP handles client POST, DELETE and GET requests, after the Host,
// Origin and token checks of ServerOptions.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if status, reason := s.guard.Check(r); status != 0 {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="asyncmcp"`)
		}
		s.fail(w, r, status, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, reason)
		return
	}
	switch r.Method {
	case http.MethodPost:
		s.servePost(w, r)
	case http.MethodDelete:
		s.serveDelete(w, r)
	case http.MethodGet:
		s.serveStatus(w, r)
	default:
		w.Header().Set("Allow", "POST, GET, DELETE")
		s.fail(w, r, http.StatusMethodNotAllowed, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest,
			fmt.Sprintf("method %s not allowed; use POST, GET or DELETE", r.Method))
	}
}

// fail answers with an HTTP error whose body is a JSON-RPC error response
// for id, and logs it.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, id jsonrpc.ID, code int64, msg string) {
	level := slog.LevelWarn
	if status == http.StatusNotFound {
		level = slog.LevelInfo // also how the SDK's server/discover probe ends before initialize
	}
	s.log.Log(r.Context(), level, "webhook: rejected client request", "method", r.Method, "status", status, "reason", msg,
		"session", r.Header.Get(HeaderSessionID), "client", r.Header.Get(HeaderClientID), "remote", r.RemoteAddr)
	writeJSON(w, status, errorBody(id, code, msg))
}

func (s *Server) servePost(w http.ResponseWriter, r *http.Request) {
	body, err := httplimit.ReadBody(w, r, s.opts.MaxBodyBytes, 0)
	if err != nil {
		if errors.Is(err, httplimit.ErrBodyTimeout) {
			s.fail(w, r, http.StatusRequestTimeout, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, err.Error())
			return
		}
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			s.fail(w, r, http.StatusRequestEntityTooLarge, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest,
				fmt.Sprintf("request body exceeds %d bytes", s.opts.MaxBodyBytes))
			return
		}
		s.fail(w, r, http.StatusBadRequest, jsonrpc.ID{}, jsonrpc.CodeParseError, fmt.Sprintf("reading request body: %v", err))
		return
	}
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '[' {
		s.fail(w, r, http.StatusBadRequest, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "JSON-RPC batches are not supported")
		return
	}
	msg, err := rpcmsg.Decode(body)
	if err != nil {
		de, _ := errors.AsType[*rpcmsg.DecodeError](err)
		s.fail(w, r, http.StatusBadRequest, de.ReplyID(), de.Code, fmt.Sprintf("invalid JSON-RPC message: %v", err))
		return
	}
	var id jsonrpc.ID
	req, _ := msg.(*jsonrpc.Request)
	if req != nil {
		id = req.ID
	}
	clientID := r.Header.Get(HeaderClientID)
	if clientID == "" {
		s.fail(w, r, http.StatusBadRequest, id, jsonrpc.CodeInvalidRequest, "missing X-Client-ID header")
		return
	}
	sid := r.Header.Get(HeaderSessionID)
	if sid != "" && !validSessionID(sid) {
		s.fail(w, r, http.StatusBadRequest, id, jsonrpc.CodeInvalidRequest,
			fmt.Sprintf("invalid X-Session-ID %q: want 1-%d visible ASCII characters", sid, maxSessionIDLen))
		return
	}
	if sid == "" && s.modern.claims(r, msg) {
		// Before initialize: one carrying a modern _meta is a stateless
		// request too (which a modern server answers -32601).
		s.modern.serve(w, r, msg, clientID)
		return
	}
	if req != nil && req.Method == "initialize" && req.IsCall() {
		s.serveInitialize(w, r, req, clientID, sid)
		return
	}

	s.mu.Lock()
	if sid == "" {
		sid = s.byClient[clientID]
	}
	ss := s.sessions[sid]
	s.mu.Unlock()
	switch {
	case sid == "":
		s.fail(w, r, http.StatusBadRequest, id, jsonrpc.CodeInvalidRequest, "missing X-Session-ID header and no active session for this client")
		return
	case ss == nil:
		s.fail(w, r, http.StatusNotFound, id, CodeSessionNotFound, fmt.Sprintf("session %q not found", sid))
		return
	case ss.clientID != clientID:
		s.fail(w, r, http.StatusForbidden, id, jsonrpc.CodeInvalidRequest, fmt.Sprintf("session %q belongs to another client", sid))
		return
	}
	ss.received(msg)
	select {
	case ss.in <- msg:
	case <-ss.done:
		s.fail(w, r, http.StatusNotFound, id, CodeSessionNotFound, fmt.Sprintf("session %q has ended", sid))
		return
	case <-r.Context().Done():
		s.log.Warn("webhook: client went away before its message was queued", "session", sid, "request_id", idString(id))
		return
	}
	status := "received"
	if req != nil && req.Method == "notifications/initialized" {
		status = "initialized"
	}
	writeJSON(w, http.StatusOK, ss.statusBody(status, nil))
}

func (s *Server) serveInitialize(w http.ResponseWriter, r *http.Request, req *jsonrpc.Request, clientID, sid string) {
	u := metaWebhookURL(req.Params)
	if u == "" {
		s.fail(w, r, http.StatusBadRequest, req.ID, jsonrpc.CodeInvalidParams, "Missing webhookUrl in _meta field of initialize params")
		return
	}
	if status, err := checkWebhookURL(u, s.opts.AllowedWebhookHosts, s.opts.AllowLoopback); err != nil {
		s.fail(w, r, status, req.ID, jsonrpc.CodeInvalidParams, err.Error())
		return
	}
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		s.fail(w, r, http.StatusServiceUnavailable, req.ID, CodeTransportError, "server is shutting down and accepts no new sessions")
		return
	default:
	}
	if s.opts.MaxSessions > 0 && len(s.sessions) >= s.opts.MaxSessions {
		s.mu.Unlock()
		w.Header().Set("Retry-After", "5")
		s.fail(w, r, http.StatusServiceUnavailable, req.ID, CodeTransportError,
			fmt.Sprintf("maximum session limit reached (%d sessions); retry later", s.opts.MaxSessions))
		return
	}
	if sid == "" {
		sid = newID()
	} else if _, ok := s.sessions[sid]; ok {
		s.mu.Unlock()
		s.fail(w, r, http.StatusConflict, req.ID, jsonrpc.CodeInvalidRequest, fmt.Sprintf("session %q already exists", sid))
		return
	}
	secret, shared := s.opts.Secret, ""
	if secret == "" {
		secret = GenerateSecret()
		shared = secret
	}
	ss := &serverSession{
		srv:        s,
		id:         sid,
		clientID:   clientID,
		webhookURL: u,
		secret:     secret,
		in:         make(chan jsonrpc.Message, 64),
		out:        make(chan jsonrpc.Message, 256),
		done:       make(chan struct{}),
		senderDone: make(chan struct{}),
	}
	s.sessions[sid] = ss
	s.byClient[clientID] = sid
	s.loops.Add(1) // under s.mu, so Close (which takes it) waits for this loop
	s.mu.Unlock()

	ss.received(req)
	ss.in <- req // buffered and new: never blocks
	go func() {
		defer s.loops.Done()
		ss.sendLoop()
	}()
	select {
	case s.acceptCh <- ss:
		select {
		case <-s.done: // Close ran meanwhile and may have missed ss
			s.drainAccept()
			s.fail(w, r, http.StatusServiceUnavailable, req.ID, CodeTransportError, "server is shutting down and accepts no new sessions")
			return
		default:
		}
	case <-s.done:
		ss.Close()
		s.fail(w, r, http.StatusServiceUnavailable, req.ID, CodeTransportError, "server is shutting down and accepts no new sessions")
		return
	case <-r.Context().Done():
		ss.Close()
		s.log.Warn("webhook: client went away before its session was accepted", "session", sid)
		return
	}
	s.log.Debug("webhook: session created", "session", sid, "client", clientID, "webhook_url", u)
	w.Header().Set(HeaderSessionID, sid)
	writeJSON(w, http.StatusOK, ss.statusBody("session_created", map[string]string{"session_id": sid, "webhook_secret": shared}))
}

func (s *Server) sessionFor(w http.ResponseWriter, r *http.Request) *serverSession {
	sid := r.Header.Get(HeaderSessionID)
	if sid == "" || !validSessionID(sid) {
		s.fail(w, r, http.StatusBadRequest, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, fmt.Sprintf("missing or invalid X-Session-ID header %q", sid))
		return nil
	}
	s.mu.Lock()
	ss := s.sessions[sid]
	s.mu.Unlock()
	if ss == nil {
		s.fail(w, r, http.StatusNotFound, jsonrpc.ID{}, CodeSessionNotFound, fmt.Sprintf("session %q not found", sid))
		return nil
	}
	switch c := r.Header.Get(HeaderClientID); {
	case c == "":
		s.fail(w, r, http.StatusBadRequest, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "missing X-Client-ID header")
		return nil
	case c != ss.clientID:
		s.fail(w, r, http.StatusForbidden, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, fmt.Sprintf("session %q belongs to another client", sid))
		return nil
	}
	return ss
}

func (s *Server) serveDelete(w http.ResponseWriter, r *http.Request) {
	ss := s.sessionFor(w, r)
	if ss == nil {
		return
	}
	ss.Close()
	s.log.Debug("webhook: session terminated by client", "session", ss.id)
	writeJSON(w, http.StatusOK, []byte(`{"status":"terminated"}`))
}

func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request) {
	ss := s.sessionFor(w, r)
	if ss == nil {
		return
	}
	writeJSON(w, http.StatusOK, ss.statusBody("active", map[string]string{"session_id": ss.id}))
}

func (s *Server) remove(ss *serverSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[ss.id] == ss {
		delete(s.sessions, ss.id)
	}
	if s.byClient[ss.clientID] == ss.id {
		delete(s.byClient, ss.clientID)
	}
}

// newID returns 128 random bits in hex.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// serverSession is one client session: the mcp.Connection Accept returns.
type serverSession struct {
	srv                              *Server
	id, clientID, webhookURL, secret string

	in         chan jsonrpc.Message // client messages, read by Read
	out        chan jsonrpc.Message // messages to deliver, drained by sendLoop
	done       chan struct{}        // closed by Close
	senderDone chan struct{}        // closed when sendLoop returns
	closeOnce  sync.Once

	mu          sync.Mutex
	undelivered []any // ids of responses whose delivery failed, not yet reported

	lastActive atomic.Int64 // unix nanos of the last client message
	pending    atomic.Int64 // client requests not yet answered
}

// received notes a client message, for idle expiry.
func (ss *serverSession) received(m jsonrpc.Message) {
	ss.lastActive.Store(time.Now().UnixNano())
	if r, ok := m.(*jsonrpc.Request); ok && r.IsCall() {
		ss.pending.Add(1)
	}
}

// SessionID returns the session id shared with the client.
func (ss *serverSession) SessionID() string { return ss.id }

// Read returns the next message the client POSTed.
func (ss *serverSession) Read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case m := <-ss.in:
		return m, nil
	case <-ss.done:
		return nil, io.EOF
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Write queues msg for delivery to the session's webhook URL. Messages are
// delivered one at a time, in order; Write blocks only while the queue is full.
func (ss *serverSession) Write(ctx context.Context, msg jsonrpc.Message) error {
	if _, ok := msg.(*jsonrpc.Response); ok {
		ss.pending.Add(-1)
		ss.lastActive.Store(time.Now().UnixNano())
	}
	select {
	case <-ss.done:
		return fmt.Errorf("webhook: write to closed session %q", ss.id)
	default:
	}
	select {
	case ss.out <- msg:
		return nil
	case <-ss.done:
		return fmt.Errorf("webhook: write to closed session %q", ss.id)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close ends the session. Messages already written are still delivered.
func (ss *serverSession) Close() error {
	ss.closeOnce.Do(func() {
		close(ss.done)
		ss.srv.remove(ss)
	})
	return nil
}

// statusBody renders an immediate reply: {"status": status, extra..., and
// "undelivered": ids of responses whose delivery failed since the last reply}.
func (ss *serverSession) statusBody(status string, extra map[string]string) []byte {
	m := map[string]any{"status": status}
	for k, v := range extra {
		if v != "" {
			m[k] = v
		}
	}
	ss.mu.Lock()
	if len(ss.undelivered) > 0 {
		m["undelivered"] = ss.undelivered
		ss.undelivered = nil
	}
	ss.mu.Unlock()
	b, _ := json.Marshal(m)
	return b
}

// sendLoop delivers queued messages in order until the session is closed
// and the queue is empty.
func (ss *serverSession) sendLoop() {
	defer close(ss.senderDone)
	for {
		select {
		case m := <-ss.out:
			ss.deliver(m)
		case <-ss.done:
			for {
				select {
				case m := <-ss.out:
					ss.deliver(m)
				default:
					return
				}
			}
		}
	}
}

// deliver POSTs m to the webhook URL, retrying, and handles final failure.
func (ss *serverSession) deliver(m jsonrpc.Message) {
	s := ss.srv
	body, err := jsonrpc.EncodeMessage(m)
	if err != nil {
		s.log.Error("webhook: encoding message for delivery", "session", ss.id, "error", err)
		return
	}
	h := http.Header{}
	h.Set(HeaderSessionID, ss.id)
	routingHeaders(h, m)
	if attempts, err := s.sender.Deliver(s.stopCtx, ss.webhookURL, ss.secret, h, body); err != nil {
		ss.failed(m, attempts, err)
	}
}

// failed handles a delivery that failed for good: it logs it; a response is
// reported to the client in its next immediate reply or status GET; a
// server-initiated request is answered locally with an error so that its
// caller does not wait forever.
func (ss *serverSession) failed(m jsonrpc.Message, attempts int, err error) {
	s := ss.srv
	var id jsonrpc.ID
	method := ""
	switch m := m.(type) {
	case *jsonrpc.Request:
		id, method = m.ID, m.Method
	case *jsonrpc.Response:
		id = m.ID
	}
	s.log.Error("webhook: delivery failed", "session", ss.id, "request_id", idString(id), "method", method,
		"attempts", attempts, "webhook_url", ss.webhookURL, "error", err)
	switch m := m.(type) {
	case *jsonrpc.Response:
		if !m.ID.IsValid() {
			return
		}
		ss.mu.Lock()
		if len(ss.undelivered) < maxUndelivered {
			ss.undelivered = append(ss.undelivered, m.ID.Raw())
		}
		ss.mu.Unlock()
	case *jsonrpc.Request:
		if !m.ID.IsValid() {
			return
		}
		e := &jsonrpc.Response{ID: m.ID, Error: &jsonrpc.Error{Code: CodeTransportError,
			Message: fmt.Sprintf("webhook delivery of %s request to the client failed after %d attempts: %v", m.Method, attempts, err)}}
		select {
		case ss.in <- e:
		case <-ss.done:
		}
	}
}
