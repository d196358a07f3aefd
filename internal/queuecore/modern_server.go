// SPDX-License-Identifier: Apache-2.0

package queuecore

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/outbox"
	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/asyncmcp/asyncmcp-go/internal/wire"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// ModernConfig configures how a [Server] serves stateless (2026-07-28)
// requests: messages without SessionId whose body is a request with a
// modern params._meta. The zero value answers them with -32022 (the back
// speaks only the session-based revisions).
type ModernConfig struct {
	// RoundTripper serves each stateless request. Nil answers -32022.
	RoundTripper bridge.RoundTripper
	// ListenTimeout ends a subscriptions/listen with its graceful result
	// after this long. Zero means one hour; negative means never.
	ListenTimeout time.Duration
	// MaxCalls bounds the stateless requests running at once; beyond it a
	// request is left on the queue for redelivery (or another server).
	// Zero means 1024.
	MaxCalls int
	// AnswerBytes bounds the cache of answers re-sent when a request is
	// delivered again. Zero means 32 MiB.
	AnswerBytes int
}

// Defaults of the stateless (2026-07-28) side of a [Server].
const (
	defaultListenTimeout   = time.Hour
	defaultMaxModernCalls  = 1024
	defaultModernCacheSize = 32 << 20 // bytes of cached answers
	modernOutboxLen        = 256      // notifications queued per call
	modernSendTimeout      = 10 * time.Second
)

// Why a stateless call's context ended.
var (
	errClientCancel  = errors.New("cancelled by the client")
	errListenTimeout = errors.New("listen timeout")
	errShutdown      = errors.New("server shutting down")
)

// isModernMessage reports whether a received message belongs to a stateless
// request: it has no SessionId and either carries a RequestKey or is a
// request with the stateless envelope (rpcmsg.IsModernEnvelope: any
// protocol version that is not a session-based one).
func isModernMessage(d wire.Decoded) bool {
	if d.SessionID != "" || d.Type != wire.TypeJSONRPC {
		return false
	}
	if d.Attrs.Get(wire.AttrRequestKey) != "" {
		return true
	}
	req, ok := d.Msg.(*jsonrpc.Request)
	return ok && req.IsCall() && rpcmsg.IsModernEnvelope(req.Params)
}

// modernServer serves the stateless requests arriving on a [Server]'s queue
// with the configured bridge.RoundTripper: no session, the reply stream sent
// to each request's ReplyTo, execution deduplicated on ClientId+RequestKey.
type modernServer struct {
	s   *Server
	cfg ModernConfig
	rt  bridge.RoundTripper
	log *slog.Logger

	mu       sync.Mutex
	running  map[string]*modernCall // by dedupe key
	answers  *answerCache
	shutdown bool
	wg       sync.WaitGroup
}

// A modernCall is one stateless request running on this server.
type modernCall struct {
	key      string // ClientId + "\x00" + RequestKey
	id       jsonrpc.ID
	method   string
	clientID string
	reqKey   string
	replyTo  string
	receipts []string // copies of the request message, deleted with the answer
	cancel   context.CancelCauseFunc
	log      *slog.Logger
}

func newModernServer(s *Server) *modernServer {
	cfg := s.cfg.Modern
	if cfg.ListenTimeout == 0 {
		cfg.ListenTimeout = defaultListenTimeout
	}
	if cfg.MaxCalls <= 0 {
		cfg.MaxCalls = defaultMaxModernCalls
	}
	if cfg.AnswerBytes <= 0 {
		cfg.AnswerBytes = defaultModernCacheSize
	}
	return &modernServer{
		s:       s,
		cfg:     cfg,
		rt:      cfg.RoundTripper,
		log:     s.log,
		running: map[string]*modernCall{},
		answers: newAnswerCache(cfg.AnswerBytes),
	}
}

func dedupeKey(clientID, reqKey string) string { return clientID + "\x00" + reqKey }

// handle takes one stateless message. It never blocks on a call.
func (m *modernServer) handle(r received, log *slog.Logger) {
	d := r.decoded
	reqKey := d.Attrs.Get(wire.AttrRequestKey)
	log = log.With("request_key", reqKey)
	if limit := m.s.cfg.MaxMessageBytes; limit > 0 && len(d.Body) > limit {
		m.reject(r, log, d.ID, wire.CodeMessageTooLarge, fmt.Sprintf("message of %d bytes exceeds the %d-byte limit of this server", len(d.Body), limit))
		return
	}
	if d.Err != nil {
		m.reject(r, log, d.ID, d.Err.Code, d.Err.Message)
		return
	}
	req, ok := d.Msg.(*jsonrpc.Request)
	switch {
	case ok && req.IsCall():
		m.request(r, req, log)
	case ok && req.Method == wire.MethodCancelled:
		m.cancel(r, req, log)
	default:
		log.Warn("stateless message that is neither a request nor a cancel deleted", "method", d.Attrs.Get(wire.AttrMethod))
		m.s.reader.delete(r.receipt)
	}
}

// reject answers a stateless message with an error when it is a request
// with a ReplyTo, logs it and deletes it.
func (m *modernServer) reject(r received, log *slog.Logger, id jsonrpc.ID, code int64, msg string) {
	log.Warn("rejecting stateless message", "code", code, "reason", msg, "request_id", id.Raw())
	m.s.reader.delete(r.receipt)
	d := r.decoded
	if req, ok := d.Msg.(*jsonrpc.Request); (ok && !req.IsCall()) || d.Msg != nil && !ok {
		return // notifications and responses are never answered
	}
	if d.ReplyTo == "" {
		log.Warn("no ReplyTo; error not sent")
		return
	}
	h := wire.ModernHeader{ClientID: d.ClientID, RequestKey: d.Attrs.Get(wire.AttrRequestKey), Seq: 1}
	if env, err := wire.EncodeModern(wire.ErrorResponse(id, code, msg), h); err == nil {
		m.send(d.ReplyTo, env, log)
	}
}

func (m *modernServer) send(dest string, env wire.Envelope, log *slog.Logger) bool {
	ctx, cancel := context.WithTimeout(context.Background(), modernSendTimeout)
	defer cancel()
	if err := m.s.cfg.Sender.Send(ctx, dest, env); err != nil {
		log.Error("sending to reply-to", "reply_to", dest, "err", err)
		return false
	}
	return true
}

// request starts a stateless request, or recognizes it as a copy of one
// running or answered.
func (m *modernServer) request(r received, req *jsonrpc.Request, log *slog.Logger) {
	d := r.decoded
	log = log.With("id", req.ID.Raw(), "method", req.Method)
	if d.ReplyTo == "" {
		log.Warn("stateless request without ReplyTo attribute deleted: there is nowhere to answer")
		m.s.reader.delete(r.receipt)
		return
	}
	if err := wire.CheckModernRequest(d.Attrs, req); err != nil {
		m.reject(r, log, req.ID, err.Code, err.Message)
		return
	}
	if !rpcmsg.IsModernEnvelope(req.Params) {
		m.reject(r, log, req.ID, rpcmsg.CodeHeaderMismatch, fmt.Sprintf("RequestKey without SessionId marks a stateless request, but params._meta protocolVersion is %q", rpcmsg.RequestVersion(req.Params)))
		return
	}
	key := dedupeKey(d.ClientID, d.Attrs.Get(wire.AttrRequestKey))
	m.mu.Lock()
	if m.shutdown {
		m.mu.Unlock()
		// Left invisible, not released: this process may read the queue a
		// while longer (open sessions), and releasing would spin the
		// message through it, using up its receive count.
		log.Debug("stateless request after close left for another server")
		return
	}
	if c, ok := m.running[key]; ok {
		if m.s.fifo {
			m.mu.Unlock()
			m.s.reader.delete(r.receipt)
		} else {
			c.receipts = append(c.receipts, r.receipt)
			m.mu.Unlock()
		}
		log.Info("stateless request received again while running; not executed again")
		return
	}
	if a, ok := m.answers.get(key); ok {
		m.mu.Unlock()
		m.resend(r, a, log)
		return
	}
	if r.receiveCount > m.s.cfg.MaxReceiveCount {
		m.mu.Unlock()
		m.reject(r, log, req.ID, wire.CodeRedeliveryLimit, fmt.Sprintf("request received %d times without an answer; giving up", r.receiveCount))
		return
	}
	if len(m.running) >= m.cfg.MaxCalls {
		m.mu.Unlock()
		log.Warn("too many stateless requests running; request left for redelivery", "limit", m.cfg.MaxCalls)
		return
	}
	if m.rt == nil {
		m.mu.Unlock()
		data, _ := json.Marshal(map[string]any{"supported": rpcmsg.LegacyVersions, "requested": rpcmsg.RequestVersion(req.Params)})
		env, err := wire.EncodeModern(&jsonrpc.Response{ID: req.ID, Error: &jsonrpc.Error{
			Code: rpcmsg.CodeUnsupportedProtocolVersion, Message: "this server's back serves only session-based protocol versions", Data: data,
		}}, wire.ModernHeader{ClientID: d.ClientID, RequestKey: d.Attrs.Get(wire.AttrRequestKey), Seq: 1})
		log.Warn("stateless request but the back cannot serve stateless requests; answered -32022")
		if err == nil && m.send(d.ReplyTo, env, log) {
			m.s.reader.delete(r.receipt)
		}
		return
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	c := &modernCall{
		key: key, id: req.ID, method: req.Method,
		clientID: d.ClientID, reqKey: d.Attrs.Get(wire.AttrRequestKey), replyTo: d.ReplyTo,
		cancel: cancel, log: log,
	}
	if m.s.fifo {
		// A FIFO group (the RequestKey) stays locked while its request is
		// in flight, which would hold back the request's cancel: on FIFO
		// queues the request is deleted once taken, and the queue's own
		// deduplication (id = RequestKey) drops second sends.
		m.s.reader.delete(r.receipt)
	} else {
		c.receipts = []string{r.receipt}
	}
	m.running[key] = c
	m.wg.Add(1)
	m.mu.Unlock()
	c.log.Debug("stateless request started")
	go func() {
		defer m.wg.Done()
		m.run(ctx, c, req)
	}()
}

// resend re-sends the cached answer of a request delivered again.
func (m *modernServer) resend(r received, a *cachedAnswer, log *slog.Logger) {
	if a.env == nil {
		log.Info("stateless request delivered again after it was cancelled; deleted")
		m.s.reader.delete(r.receipt)
		return
	}
	log.Info("stateless request delivered again after it was answered; re-sending the answer")
	if m.send(a.dest, *a.env, log) || r.receiveCount > m.s.cfg.MaxReceiveCount {
		m.s.reader.delete(r.receipt)
	}
}

// run serves one request with the RoundTripper and sends its reply stream.
func (m *modernServer) run(ctx context.Context, c *modernCall, req *jsonrpc.Request) {
	if req.Method == "subscriptions/listen" && m.cfg.ListenTimeout > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, m.cfg.ListenTimeout, errListenTimeout)
		defer stop()
	}
	var seq int
	out := m.newOutbox(c, &seq)
	resp, err := m.rt.RoundTrip(ctx, req, out.Push)
	out.Close()
	cause := context.Cause(ctx)
	switch {
	case err == nil && resp != nil:
		resp.ID = c.id
	case errors.Is(cause, errListenTimeout):
		c.log.Info("listen ended by the listen timeout", "listen_timeout", m.cfg.ListenTimeout)
		resp = rpcmsg.ListenComplete(c.id)
	case errors.Is(cause, errClientCancel):
		c.log.Info("stateless request cancelled by the client")
		m.finish(c, nil)
		return
	case errors.Is(cause, errShutdown):
		m.mu.Lock()
		delete(m.running, c.key)
		m.mu.Unlock()
		if len(c.receipts) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), modernSendTimeout)
			m.s.reader.setVisibility(ctx, c.receipts, 0)
			cancel()
		}
		c.log.Info("stateless request left to another server: this one is shutting down")
		return
	default:
		if err == nil {
			err = errors.New("no response")
		}
		c.log.Warn("back failed to answer a stateless request", "err", err)
		resp = wire.ErrorResponse(c.id, bridge.CodeServerUnavailable, fmt.Sprintf("MCP server unavailable: %v", err))
	}
	h := wire.ModernHeader{ClientID: c.clientID, RequestKey: c.reqKey, Seq: seq + 1}
	env, err := wire.EncodeModern(resp, h)
	if err == nil {
		limit := limitFor(c.replyTo, m.s.cfg.MaxMessageBytes)
		if size := env.Size(); size > limit {
			tooLarge := wire.TooLargeError(size, limit, c.replyTo)
			c.log.Warn("response too large; sending an error instead", "err", tooLarge)
			env, err = wire.EncodeModern(wire.ErrorResponse(c.id, wire.CodeMessageTooLarge, "response "+tooLarge.Error()), h)
		}
	}
	if err != nil {
		c.log.Error("encoding response", "err", err)
		env, _ = wire.EncodeModern(wire.ErrorResponse(c.id, jsonrpc.CodeInternalError, "encoding response: "+err.Error()), h)
	}
	if !m.send(c.replyTo, env, c.log) {
		// Keep the message: when it comes back, the cached answer is sent
		// again instead of running the request again.
		m.mu.Lock()
		delete(m.running, c.key)
		m.answers.put(c.key, &cachedAnswer{env: &env, dest: c.replyTo})
		m.mu.Unlock()
		return
	}
	m.finish(c, &env)
}

// finish ends a call: its answer (nil for a cancelled call) is cached and
// every copy of its request deleted.
func (m *modernServer) finish(c *modernCall, env *wire.Envelope) {
	m.mu.Lock()
	delete(m.running, c.key)
	m.answers.put(c.key, &cachedAnswer{env: env, dest: c.replyTo})
	receipts := c.receipts
	m.mu.Unlock()
	for _, h := range receipts {
		m.s.reader.delete(h)
	}
}

// cancel handles notifications/cancelled of a stateless request: only a
// cancel that presents the request's ClientId and RequestKey, and names its
// id, cancels it.
func (m *modernServer) cancel(r received, n *jsonrpc.Request, log *slog.Logger) {
	d := r.decoded
	reqKey := d.Attrs.Get(wire.AttrRequestKey)
	id, hasID := wire.CancelledID(n)
	key := dedupeKey(d.ClientID, reqKey)
	m.mu.Lock()
	c, running := m.running[key]
	_, answered := m.answers.get(key)
	if !running && !answered && (reqKey == "" || !wire.ValidRequestKey(reqKey)) {
		m.mu.Unlock()
		m.s.reader.delete(r.receipt)
		log.Warn("stateless cancel without a valid RequestKey ignored")
		return
	}
	switch {
	case running && (!hasID || id != c.id):
		m.mu.Unlock()
		m.s.reader.delete(r.receipt)
		log.Warn("stateless cancel names another request id than its RequestKey's request; ignored", "request_id", id.Raw(), "running_id", c.id.Raw())
	case running:
		m.mu.Unlock()
		m.s.reader.delete(r.receipt)
		c.cancel(errClientCancel)
	case answered:
		m.mu.Unlock()
		m.s.reader.delete(r.receipt)
		log.Debug("cancel for a stateless request already finished ignored")
	case m.s.cfg.UnknownSessionReleases > 0 && r.receiveCount <= m.s.cfg.UnknownSessionReleases:
		m.mu.Unlock()
		log.Debug("cancel for a request this server does not run made visible again for other servers", "receive_count", r.receiveCount)
		m.s.reader.release(r.receipt)
	default:
		// Remember it, in case the request arrives after its cancel (a
		// standard queue does not keep order): it then is not run.
		m.answers.put(key, &cachedAnswer{})
		m.mu.Unlock()
		m.s.reader.delete(r.receipt)
		log.Warn("cancel matches no stateless request running here (wrong ClientId or RequestKey, or not arrived yet); ignored", "request_id", id.Raw())
	}
}

// runningReceipts returns the receipt handles of the running requests, for
// visibility extension.
func (m *modernServer) runningReceipts() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, c := range m.running {
		out = append(out, c.receipts...)
	}
	return out
}

// close cancels every running call, so that its request becomes visible
// again for another server, and waits for the calls to end.
func (m *modernServer) close() {
	m.mu.Lock()
	m.shutdown = true
	for _, c := range m.running {
		c.cancel(errShutdown)
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// newOutbox returns the outbox of a call's notifications: each is sent to
// its reply-to in order (numbered from Seq 1; *sent counts those sent,
// owned by the outbox's goroutine until Close returns), one too large is
// dropped, and at most modernOutboxLen wait; more are dropped with a
// warning.
func (m *modernServer) newOutbox(c *modernCall, sent *int) *outbox.Outbox {
	send := func(n *jsonrpc.Request) {
		env, err := wire.EncodeModern(n, wire.ModernHeader{ClientID: c.clientID, RequestKey: c.reqKey, RequestID: c.id, Seq: *sent + 1})
		if err != nil {
			c.log.Warn("encoding notification", "err", err)
			return
		}
		if size, limit := env.Size(), limitFor(c.replyTo, m.s.cfg.MaxMessageBytes); size > limit {
			c.log.Warn("notification too large; dropped", "method", n.Method, "err", wire.TooLargeError(size, limit, c.replyTo))
			return
		}
		*sent++
		m.send(c.replyTo, env, c.log)
	}
	drop := func(n *jsonrpc.Request, why string) {
		if why == outbox.DroppedClosed {
			c.log.Warn("notification after the response dropped", "method", n.Method)
			return
		}
		c.log.Warn("reply stream full; notification dropped", "method", n.Method, "queued", modernOutboxLen)
	}
	return outbox.New(modernOutboxLen, send, drop)
}

// A cachedAnswer is the final message of a finished stateless request, or
// nil for one cancelled (or cancelled before it arrived).
type cachedAnswer struct {
	env  *wire.Envelope
	dest string
}

// answerCache keeps the latest answers up to a total size in bytes, oldest
// evicted first.
type answerCache struct {
	limit int
	size  int
	items map[string]*list.Element
	order *list.List // of *cacheEntry, oldest first
}

type cacheEntry struct {
	key  string
	a    *cachedAnswer
	size int
}

func newAnswerCache(limit int) *answerCache {
	return &answerCache{limit: limit, items: map[string]*list.Element{}, order: list.New()}
}

func (c *answerCache) get(key string) (*cachedAnswer, bool) {
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	return el.Value.(*cacheEntry).a, true
}

func (c *answerCache) put(key string, a *cachedAnswer) {
	if el, ok := c.items[key]; ok {
		old := c.order.Remove(el).(*cacheEntry)
		c.size -= old.size
	}
	size := len(key) + len(a.dest) + 64
	if a.env != nil {
		size += a.env.Size()
	}
	c.items[key] = c.order.PushBack(&cacheEntry{key, a, size})
	c.size += size
	for c.size > c.limit && c.order.Len() > 1 {
		old := c.order.Remove(c.order.Front()).(*cacheEntry)
		delete(c.items, old.key)
		c.size -= old.size
	}
}
