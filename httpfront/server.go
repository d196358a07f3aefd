// SPDX-License-Identifier: Apache-2.0

// Package httpfront is the HTTP front of the bridge: it serves MCP clients
// over Streamable HTTP (protocol revisions 2025-03-26 to 2025-11-25) and over
// the legacy HTTP+SSE transport (2024-11-05), at the same time, for one or
// more named servers, and hands each client session to a [bridge.Dialer].
// Requests of the stateless revision (2026-07-28) on the same endpoint are
// served without a session: their headers are checked against their body
// and each goes to the back's [bridge.RoundTripper] (see modern.go).
//
// Messages are forwarded raw, so every method, including ones this package
// has never heard of (tasks/get, custom methods), crosses unchanged.
//
// Routes, for the default server and for each named server NAME:
//
//	/mcp, /mcp/                          Streamable HTTP (POST, GET, DELETE)
//	/sse, /messages/                     HTTP+SSE
//	/servers/NAME/mcp, /servers/NAME/sse, /servers/NAME/messages/
//	/status                              JSON health of every server
package httpfront

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/httpguard"
	"github.com/asyncmcp/asyncmcp-go/internal/httplimit"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Options configures a [Server]. The zero value serves with safe defaults:
// no CORS, no auth, DNS-rebinding protection for loopback listeners.
type Options struct {
	// AuthToken, if set, is required as "Authorization: Bearer TOKEN" on
	// every MCP endpoint (not on /status or CORS preflights).
	AuthToken string
	// AllowOrigins lists origins allowed to call from a browser ("*" for
	// any). Empty means CORS is off.
	AllowOrigins []string
	// ExposeHeaders are response headers a browser may read; default
	// Mcp-Session-Id.
	ExposeHeaders []string
	// AllowedHosts are Host header values accepted ("name" or
	// "name:port"). On a loopback listener they are accepted besides
	// loopback names (for example a name a reverse proxy uses); on any
	// other listener, when set, they are the only Hosts accepted.
	AllowedHosts []string
	// DisableHostCheck turns off the DNS-rebinding protection that, for a
	// loopback listener, refuses requests whose Host is not a loopback name.
	DisableHostCheck bool
	// Stateless serves Streamable HTTP without sessions: each POST gets its
	// own short-lived back connection, and GET and DELETE answer 405.
	Stateless bool
	// MaxBodyBytes bounds a POST body; default 10 MiB. Larger bodies get 413.
	MaxBodyBytes int64
	// MaxSessions bounds open sessions per server; default 1000. Past it,
	// new sessions get 503.
	MaxSessions int
	// SessionTimeout closes sessions with no request and no attached stream
	// for this long; zero means 30 minutes, negative means never.
	SessionTimeout time.Duration
	// IdleCloseTimeout closes sooner a session that holds nothing: no client
	// attached to any of its streams and no request awaiting its answer
	// (a client that went away without DELETE). Zero means
	// DefaultIdleCloseTimeout; negative leaves only SessionTimeout.
	IdleCloseTimeout time.Duration
	// EventLimit bounds the events kept per session for resumption with
	// Last-Event-ID; default 1000.
	EventLimit int
	// EventTTL is how long a finished stream's events stay resumable;
	// default 5 minutes.
	EventTTL time.Duration
	// EventBytes bounds the bytes of the events kept per session; default
	// 32 MiB. Past it the oldest events are dropped, those already sent
	// to the client first.
	EventBytes int64
	// EventBytesTotal bounds the bytes of the events kept by all sessions
	// of the Server together; default 256 MiB. A periodic sweep trims the
	// sessions holding the most.
	EventBytesTotal int64
	// BodyTimeout bounds reading a POST body; default 30s. A slower body
	// gets 408.
	BodyTimeout time.Duration
	// KeepAlive is the interval of SSE comment lines on idle streams;
	// default 25s.
	KeepAlive time.Duration
	// Logger receives a line per refused request and per session event. If
	// nil, slog.Default() is used.
	Logger *slog.Logger

	// Divert, if set, is asked about each request a client POSTs on a
	// Streamable HTTP session. When it returns true, the POST is answered at
	// once with 202 Accepted (header Asyncmcp-Delivery: divert), progress
	// notifications for the request go on the session's GET stream, and the
	// response is handed to Deliver instead of a stream. This is how the
	// StreamableHTTP+webhook transport sends slow tools' results by webhook.
	Divert func(s SessionInfo, req *jsonrpc.Request) bool
	// Deliver sends a diverted response, retrying as it sees fit. If it
	// returns an error, the response goes on the session's GET stream, so
	// it is not lost.
	Deliver func(ctx context.Context, s SessionInfo, resp *jsonrpc.Response) error
	// Admit, if set, is asked about each initialize POST on Streamable
	// HTTP before a session (and its back connection) is created. header
	// holds the POST's headers and initParams the request's params. An
	// error refuses the session: the POST is answered with the status of
	// an [*AdmitError] (403 for any other error) and a JSON-RPC error
	// carrying the error's text. On success the Admission's Header is added
	// to the initialize response and its Data kept in the session's
	// [SessionInfo]. Admit, Divert and Deliver concern sessions only:
	// 2026-07-28 requests open none and are not shown to them.
	Admit func(header http.Header, initParams json.RawMessage) (Admission, error)
}

// An Admission is what [Options.Admit] decides for a new session.
type Admission struct {
	// Header is added to the HTTP response of the initialize POST.
	Header http.Header
	// Data is kept as SessionInfo.Data for Divert and Deliver.
	Data any
}

// An AdmitError refuses a session from [Options.Admit] with an HTTP status.
type AdmitError struct {
	Status int // HTTP status of the refusal, e.g. 400 or 403
	Err    error
}

func (e *AdmitError) Error() string { return e.Err.Error() }

func (e *AdmitError) Unwrap() error { return e.Err }

// SessionInfo describes a client session to [Options.Divert] and
// [Options.Deliver].
type SessionInfo struct {
	// ID is the Mcp-Session-Id.
	ID string
	// Header holds the headers of the POST that initialized the session.
	Header http.Header
	// InitParams are the params of the client's initialize request.
	InitParams json.RawMessage
	// Data is what [Options.Admit] attached to the session, or nil.
	Data any
}

func (o *Options) eventLimit() int {
	if o.EventLimit > 0 {
		return o.EventLimit
	}
	return 1000
}

func (o *Options) eventTTL() time.Duration {
	if o.EventTTL > 0 {
		return o.EventTTL
	}
	return 5 * time.Minute
}

func (o *Options) eventBytes() int64 {
	if o.EventBytes > 0 {
		return o.EventBytes
	}
	return 32 << 20
}

func (o *Options) eventBytesTotal() int64 {
	if o.EventBytesTotal > 0 {
		return o.EventBytesTotal
	}
	return 256 << 20
}

func (o *Options) keepAlive() time.Duration {
	if o.KeepAlive > 0 {
		return o.KeepAlive
	}
	return 25 * time.Second
}

func (o *Options) maxBody() int64 {
	if o.MaxBodyBytes > 0 {
		return o.MaxBodyBytes
	}
	return 10 << 20
}

func (o *Options) maxSessions() int {
	if o.MaxSessions > 0 {
		return o.MaxSessions
	}
	return 1000
}

// DefaultIdleCloseTimeout is the default of [Options.IdleCloseTimeout].
const DefaultIdleCloseTimeout = 2 * time.Minute

func (o *Options) idleCloseTimeout() time.Duration {
	switch {
	case o.IdleCloseTimeout < 0:
		return 0
	case o.IdleCloseTimeout == 0:
		return DefaultIdleCloseTimeout
	}
	return o.IdleCloseTimeout
}

func (o *Options) sessionTimeout() time.Duration {
	switch {
	case o.SessionTimeout < 0:
		return 0
	case o.SessionTimeout == 0:
		return 30 * time.Minute
	}
	return o.SessionTimeout
}

// A Server is an http.Handler serving one or more MCP servers. Create it with
// [New], add servers with [Server.Handle], and stop it with [Server.Close].
type Server struct {
	opts     Options
	log      *slog.Logger
	ctx      context.Context // parent of every session's bridge
	cancel   context.CancelFunc
	loopback bool

	mu        sync.Mutex
	endpoints map[string]*endpoint
	mux       *http.ServeMux
	wg        sync.WaitGroup
	stopSweep chan struct{}
	// sweepNow asks the sweeper for an early pass (buffered, one pending
	// request is enough): a session that finds the events of all sessions
	// over the total limit cannot trim the others under its own lock.
	sweepNow  chan struct{}
	closeOnce sync.Once

	eventBytes atomic.Int64 // bytes of the events held by all open sessions
}

// StatusFunc reports the health of a server's back for /status. Healthy false
// makes /status answer 503.
type StatusFunc func() (healthy bool, detail any)

// An endpoint is one MCP server reachable at a route prefix.
type endpoint struct {
	srv    *Server
	name   string
	prefix string
	dialer bridge.Dialer
	status StatusFunc
	opts   *Options

	mu           sync.Mutex
	sessions     map[string]*session
	live         map[*session]struct{} // every open session, stateless ones included
	slots        int                   // sessions open or being dialed, for MaxSessions
	lastActivity time.Time
	total        int64
}

// New returns a Server with the given options. listenAddr is the address the
// server will listen on; it decides whether DNS-rebinding protection applies
// (it does for loopback addresses).
func New(listenAddr string, opts Options) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:      opts,
		log:       opts.Logger,
		ctx:       ctx,
		cancel:    cancel,
		loopback:  isLoopbackAddr(listenAddr),
		endpoints: map[string]*endpoint{},
		mux:       http.NewServeMux(),
		stopSweep: make(chan struct{}),
		sweepNow:  make(chan struct{}, 1),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.mux.HandleFunc("/status", s.serveStatus)
	go s.sweepIdle()
	return s
}

// Handle makes an MCP server reachable: name "" is the default server at /mcp,
// /sse and /messages/; any other name is served under /servers/NAME/. Each
// client session gets its own back connection from d. status, if not nil,
// adds the back's health to /status.
func (s *Server) Handle(name string, d bridge.Dialer, status StatusFunc) {
	prefix := ""
	if name != "" {
		prefix = "/servers/" + name
	}
	ep := &endpoint{srv: s, name: name, prefix: prefix, dialer: d, status: status, opts: &s.opts, sessions: map[string]*session{}, live: map[*session]struct{}{}}
	s.mu.Lock()
	s.endpoints[name] = ep
	s.mu.Unlock()
	s.mux.HandleFunc(prefix+"/mcp", ep.serveStreamable)
	s.mux.HandleFunc(prefix+"/mcp/", ep.serveStreamable)
	s.mux.HandleFunc(prefix+"/sse", ep.serveSSE)
	s.mux.HandleFunc(prefix+"/messages/", ep.serveMessages)
	s.mux.HandleFunc(prefix+"/messages", ep.serveMessages)
}

// ServeHTTP applies host and origin checks and CORS, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.hostAllowed(r.Host) {
		s.log.Warn("refused request: Host not allowed (DNS rebinding protection)", "host", r.Host, "path", r.URL.Path)
		httpError(w, http.StatusForbidden, "Forbidden: Host header not allowed")
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		allowed := s.originAllowed(origin, r.Host)
		if !allowed {
			s.log.Warn("refused request: Origin not allowed", "origin", origin, "path", r.URL.Path)
			httpError(w, http.StatusForbidden, "Forbidden: Origin not allowed")
			return
		}
		if len(s.opts.AllowOrigins) > 0 {
			s.setCORS(w, r, origin)
			if r.Method == http.MethodOptions {
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) setCORS(w http.ResponseWriter, r *http.Request, origin string) {
	h := w.Header()
	if slices.Contains(s.opts.AllowOrigins, "*") {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
	}
	expose := s.opts.ExposeHeaders
	if len(expose) == 0 {
		expose = []string{"Mcp-Session-Id"}
	}
	h.Set("Access-Control-Expose-Headers", strings.Join(expose, ", "))
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Content-Type, Accept, Authorization, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID, Mcp-Method, Mcp-Name"+requestedParamHeaders(r))
		h.Set("Access-Control-Max-Age", "86400")
	}
}

func (s *Server) originAllowed(origin, host string) bool {
	return s.guard().OriginAllowed(origin, host)
}

// hostAllowed applies the Host check (see [Options.AllowedHosts]).
func (s *Server) hostAllowed(host string) bool { return s.guard().HostAllowed(host) }

func (s *Server) guard() *httpguard.Guard {
	return &httpguard.Guard{Loopback: s.loopback, AllowedHosts: s.opts.AllowedHosts, DisableHostCheck: s.opts.DisableHostCheck,
		AllowOrigins: s.opts.AllowOrigins, AuthToken: s.opts.AuthToken}
}

func isLoopbackAddr(addr string) bool { return httpguard.IsLoopbackAddr(addr) }

// authorized checks the bearer token in constant time and writes 401 if it
// is missing or wrong.
func (ep *endpoint) authorized(w http.ResponseWriter, r *http.Request) bool {
	if ep.srv.guard().Authorized(r) {
		return true
	}
	ep.srv.log.Warn("refused request: missing or wrong bearer token", "path", r.URL.Path, "remote", r.RemoteAddr)
	w.Header().Set("WWW-Authenticate", `Bearer realm="asyncmcp"`)
	httpError(w, http.StatusUnauthorized, "Unauthorized: a valid bearer token is required")
	return false
}

func (ep *endpoint) lookup(id string) *session {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	s := ep.sessions[id]
	if s != nil {
		ep.lastActivity = time.Now()
	}
	return s
}

// forget unregisters a session as it closes, and frees its slot.
func (ep *endpoint) forget(s *session) {
	ep.mu.Lock()
	if ep.sessions[s.id] == s {
		delete(ep.sessions, s.id)
	}
	if _, ok := ep.live[s]; ok {
		delete(ep.live, s)
		ep.slots--
	}
	ep.mu.Unlock()
}

// start dials a back connection with d for a new session, registers the
// session (unless it is a stateless one-request session) and runs the bridge
// for it. It fails when the session limit is reached or the back cannot be
// opened. The limit counts stateless sessions too, and a slot is taken
// before dialing, so concurrent starts cannot overshoot it.
func (ep *endpoint) start(ctx context.Context, d bridge.Dialer, legacy bool, version string, register bool) (*session, int, error) {
	if !ep.takeSlot() {
		ep.srv.log.Warn("refused session: session limit reached", "server", ep.name, "limit", ep.opts.maxSessions())
		return nil, http.StatusServiceUnavailable, fmt.Errorf("session limit of %d reached; try again later", ep.opts.maxSessions())
	}
	back, err := d.Dial(ctx)
	if err != nil {
		ep.releaseSlot()
		ep.srv.log.Error("cannot open back connection", "server", ep.name, "err", err)
		return nil, http.StatusServiceUnavailable, fmt.Errorf("MCP server unavailable: %s", redactPaths(err.Error()))
	}
	s := newSession(newSessionID(), ep, legacy, version)
	ep.mu.Lock()
	ep.live[s] = struct{}{}
	if register {
		ep.sessions[s.id] = s
		ep.lastActivity = time.Now()
		ep.total++
	}
	ep.mu.Unlock()
	srv := ep.srv
	srv.wg.Add(1)
	go func() {
		defer srv.wg.Done()
		bridge.Pump(srv.ctx, s, back, &bridge.Options{Logger: srv.log.With("server", ep.name)})
	}()
	return s, 0, nil
}

func newSessionID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// sweepIdle closes sessions that have been idle longer than the timeout,
// and sweeps the sessions' event stores (expired streams, the byte limit
// of all sessions together), on a timer.
func (s *Server) sweepIdle() {
	timeout, quiet := s.opts.sessionTimeout(), s.opts.idleCloseTimeout()
	tick := min(s.opts.eventTTL()/4, 30*time.Second)
	for _, d := range []time.Duration{timeout, quiet} {
		if d > 0 {
			tick = min(tick, d/4)
		}
	}
	t := time.NewTicker(max(tick, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.stopSweep:
			return
		case <-t.C:
		case <-s.sweepNow:
		}
		var all, idle []*session
		s.mu.Lock()
		for _, ep := range s.endpoints {
			ep.mu.Lock()
			for sess := range ep.live {
				all = append(all, sess)
			}
			ep.mu.Unlock()
		}
		s.mu.Unlock()
		for _, sess := range all {
			if !sess.registered() {
				continue // a stateless session ends with its request
			}
			if since := sess.idleSince(); timeout > 0 && !since.IsZero() && time.Since(since) > timeout {
				idle = append(idle, sess)
			} else if since := sess.quietSince(); quiet > 0 && !since.IsZero() && time.Since(since) > quiet {
				idle = append(idle, sess)
			}
		}
		for _, sess := range idle {
			s.log.Info("closing idle session", "session", sess.id, "session_timeout", timeout, "idle_close", quiet)
			sess.Close()
		}
		s.sweepEvents(all)
	}
}

// Close ends every session, which stops their back connections (and child
// processes), and waits for them to finish. Every request still awaiting
// its answer on a Streamable HTTP stream (stateless ones included) first
// gets a JSON-RPC error response on that stream, so no client is left
// waiting on a stream that just ends.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.stopSweep)
		var all []*session
		s.mu.Lock()
		for _, ep := range s.endpoints {
			ep.mu.Lock()
			for sess := range ep.live {
				all = append(all, sess)
			}
			ep.mu.Unlock()
		}
		s.mu.Unlock()
		for _, sess := range all {
			sess.failPending(CodeShuttingDown, "the MCP proxy is shutting down; the request was not completed")
			sess.Close()
		}
		s.cancel()
		s.wg.Wait()
	})
	return nil
}

// serveStatus reports, per server, the sessions open, the last activity and
// the health of its back. It answers 503 when any back is unhealthy.
func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request) {
	type serverStatus struct {
		Healthy      bool      `json:"healthy"`
		Sessions     int       `json:"sessions"`
		SessionsEver int64     `json:"sessions_total"`
		LastActivity time.Time `json:"last_activity,omitzero"`
		Back         any       `json:"back,omitempty"`
	}
	out := struct {
		Status  string                  `json:"status"`
		Servers map[string]serverStatus `json:"servers"`
	}{Status: "ok", Servers: map[string]serverStatus{}}
	s.mu.Lock()
	names := make([]string, 0, len(s.endpoints))
	for n := range s.endpoints {
		names = append(names, n)
	}
	s.mu.Unlock()
	sort.Strings(names)
	for _, n := range names {
		s.mu.Lock()
		ep := s.endpoints[n]
		s.mu.Unlock()
		ep.mu.Lock()
		st := serverStatus{Healthy: true, Sessions: len(ep.sessions), SessionsEver: ep.total, LastActivity: ep.lastActivity}
		ep.mu.Unlock()
		if ep.status != nil {
			st.Healthy, st.Back = ep.status()
			st.Back = redactDetail(st.Back)
		}
		if !st.Healthy {
			out.Status = "unhealthy"
		}
		key := n
		if key == "" {
			key = "default"
		}
		out.Servers[key] = st
	}
	w.Header().Set("Content-Type", "application/json")
	if out.Status != "ok" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(out)
}

// httpError writes a plain JSON error body.
func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": msg})
}

// rpcError writes an HTTP error whose body is a JSON-RPC error response.
func rpcError(w http.ResponseWriter, status int, id jsonrpc.ID, code int64, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body := map[string]any{"jsonrpc": "2.0", "id": id.Raw(), "error": map[string]any{"code": code, "message": msg}}
	json.NewEncoder(w).Encode(body)
}

// readBody reads a POST body within the size limit.
func (ep *endpoint) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	limit := ep.opts.maxBody()
	body, err := httplimit.ReadBody(w, r, limit, ep.opts.BodyTimeout)
	if err != nil {
		if errors.Is(err, httplimit.ErrBodyTimeout) {
			ep.srv.log.Warn("refused request: body too slow", "err", err, "path", r.URL.Path, "remote", r.RemoteAddr)
			rpcError(w, http.StatusRequestTimeout, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "request body not received in time")
			return nil, false
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			ep.srv.log.Warn("refused request: body too large", "limit", limit, "path", r.URL.Path)
			rpcError(w, http.StatusRequestEntityTooLarge, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, fmt.Sprintf("request body larger than %d bytes", limit))
			return nil, false
		}
		ep.srv.log.Warn("refused request: reading body failed", "err", err)
		rpcError(w, http.StatusBadRequest, jsonrpc.ID{}, jsonrpc.CodeParseError, "could not read request body")
		return nil, false
	}
	return body, true
}

// decodeOne parses a POST body holding one JSON-RPC message, writing the
// error status itself when it cannot.
func (ep *endpoint) decodeOne(w http.ResponseWriter, body []byte) (jsonrpc.Message, bool) {
	trimmed := strings.TrimSpace(string(body))
	if strings.HasPrefix(trimmed, "[") {
		ep.srv.log.Warn("refused request: JSON-RPC batch")
		rpcError(w, http.StatusBadRequest, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "JSON-RPC batches are not supported; send one message per request")
		return nil, false
	}
	if !json.Valid(body) {
		ep.srv.log.Warn("refused request: malformed JSON", "body", truncate(body, 200))
		rpcError(w, http.StatusBadRequest, jsonrpc.ID{}, jsonrpc.CodeParseError, "Parse error: body is not valid JSON")
		return nil, false
	}
	msg, err := rpcmsg.Decode(body)
	if err != nil {
		// The reply echoes the id as sent, even one the SDK cannot hold.
		ep.srv.log.Warn("refused request: not a valid JSON-RPC message", "err", err, "body", truncate(body, 200))
		de, _ := errors.AsType[*rpcmsg.DecodeError](err)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write(de.Response())
		return nil, false
	}
	return msg, true
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// clientContext returns r's context naming the client for the back
// ([bridge.WithClient]): a digest of the bearer token, if any, with the
// remote IP address. The address is part of it because one token may be
// shared by many clients (Options.AuthToken). A back uses it to keep one
// client's crashes from locking the others out.
func clientContext(r *http.Request) context.Context {
	ip := r.RemoteAddr
	if host, _, err := net.SplitHostPort(ip); err == nil {
		ip = host
	}
	id := "ip:" + ip
	if auth := r.Header.Get("Authorization"); auth != "" {
		sum := sha256.Sum256([]byte(auth))
		id = "token:" + hex.EncodeToString(sum[:8]) + "@" + ip
	}
	return bridge.WithClient(r.Context(), id)
}
