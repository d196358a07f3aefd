// SPDX-License-Identifier: Apache-2.0

package httpfront

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A session is one client session at an endpoint. It is the front
// [mcp.Connection] that the bridge pumps: Read yields what the client POSTs,
// Write routes what the server sends to the right SSE stream.
type session struct {
	id     string
	ep     *endpoint
	legacy bool // HTTP+SSE (2024-11-05): everything goes on one stream

	in     chan jsonrpc.Message
	closed chan struct{}
	once   sync.Once

	mu         sync.Mutex
	streams    map[string]*stream
	order      []*stream // POST streams in creation order, for eviction and routing
	standalone *stream   // the GET stream (or the legacy stream)
	byReq      map[jsonrpc.ID]*stream
	byProgress map[string]*stream
	nextStream int
	events     int   // events held in all streams
	bytes      int64 // bytes of those events
	version    string
	lastActive time.Time
	lastSweep  time.Time
	info       SessionInfo
	diverted   map[jsonrpc.ID]string // requests whose responses go to Options.Deliver, with their progress tokens
}

func newSession(id string, ep *endpoint, legacy bool, version string) *session {
	s := &session{
		id:         id,
		ep:         ep,
		legacy:     legacy,
		in:         make(chan jsonrpc.Message, 16),
		closed:     make(chan struct{}),
		streams:    map[string]*stream{},
		byReq:      map[jsonrpc.ID]*stream{},
		byProgress: map[string]*stream{},
		diverted:   map[jsonrpc.ID]string{},
		version:    version,
		lastActive: time.Now(),
	}
	s.standalone = s.newStreamLocked(true)
	return s
}

// A stream is one SSE stream of a session: the response stream of one POST,
// or the standalone GET stream. Its events are kept, up to a limit, so that a
// client can resume it with Last-Event-ID.
type stream struct {
	id         string
	standalone bool
	events     []event // events still held; first has index base
	base       int     // index of events[0]
	next       int     // index of the next event
	pending    int     // requests on this stream still waiting for a response
	delivered  int     // index after the last event written to any client
	done       bool    // every response delivered: the stream ends once flushed
	doneAt     time.Time
	wake       chan struct{} // signalled when events arrive or the stream ends
	owner      chan struct{} // closed to tell the attached writer to let go
}

type event struct {
	data []byte
}

// eventID names the position after event idx: resuming from it replays
// events idx+1 onwards. The priming event of a stream carries position 0.
func (st *stream) eventID(idx int) string { return st.id + "_" + strconv.Itoa(idx+1) }

func (st *stream) signal() {
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

func (s *session) newStreamLocked(standalone bool) *stream {
	st := &stream{id: strconv.Itoa(s.nextStream), standalone: standalone, wake: make(chan struct{}, 1)}
	s.nextStream++
	s.streams[st.id] = st
	if !standalone {
		s.order = append(s.order, st)
	}
	return st
}

// SessionID implements mcp.Connection.
func (s *session) SessionID() string { return s.id }

// Read returns the next message the client sent.
func (s *session) Read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case m := <-s.in:
		return m, nil
	case <-s.closed:
		return nil, mcp.ErrConnectionClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// deliver hands a client message to the bridge.
func (s *session) deliver(ctx context.Context, m jsonrpc.Message) error {
	select {
	case s.in <- m:
		return nil
	case <-s.closed:
		return mcp.ErrConnectionClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// openRequestStream creates the response stream for a POSTed request, before
// the request is handed on, so its response cannot arrive unrouted.
func (s *session) openRequestStream(req *jsonrpc.Request) *stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	st := s.newStreamLocked(false)
	st.pending = 1
	s.byReq[req.ID] = st
	if tok := progressToken(req.Params); tok != "" {
		s.byProgress[tok] = st
	}
	return st
}

// divertRequest registers a request whose response leaves by
// Options.Deliver; its progress goes on the standalone stream.
func (s *session) divertRequest(req *jsonrpc.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := progressToken(req.Params)
	s.diverted[req.ID] = tok
	if tok != "" {
		s.byProgress[tok] = s.standalone
	}
}

// cancelRequest handles a client's notifications/cancelled: the server will
// not answer that request, so its stream ends now instead of waiting forever.
func (s *session) cancelRequest(params json.RawMessage) {
	id, ok := rpcmsg.CancelledID(params)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok, ok := s.diverted[id]; ok {
		delete(s.diverted, id)
		delete(s.byProgress, tok)
	}
	st, ok := s.byReq[id]
	if !ok {
		return
	}
	delete(s.byReq, id)
	st.pending--
	s.finishIfAnsweredLocked(st)
	st.signal()
}

// finishIfAnsweredLocked marks a request stream done once no request on it
// awaits an answer, and forgets its progress tokens.
func (s *session) finishIfAnsweredLocked(st *stream) {
	if st.standalone || st.pending > 0 || st.done {
		return
	}
	st.done = true
	st.doneAt = time.Now()
	for tok, p := range s.byProgress {
		if p == st {
			delete(s.byProgress, tok)
		}
	}
}

// Write routes a message from the server: a response to the stream of its
// request; a progress notification to the stream of the request that asked
// for progress; anything else to the newest open request stream, or to the
// standalone stream when no request is open.
func (s *session) Write(ctx context.Context, m jsonrpc.Message) error {
	data, err := jsonrpc.EncodeMessage(m)
	if err != nil {
		return fmt.Errorf("encoding message: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.closed:
		return mcp.ErrConnectionClosed
	default:
	}
	var st *stream
	switch m := m.(type) {
	case *jsonrpc.Response:
		if tok, ok := s.diverted[m.ID]; ok {
			delete(s.diverted, m.ID)
			if tok != "" {
				delete(s.byProgress, tok)
			}
			s.deliverAsync(m, data)
			return nil
		}
		if target, ok := s.byReq[m.ID]; ok {
			delete(s.byReq, m.ID)
			target.pending--
			st = target
		}
	case *jsonrpc.Request:
		if m.Method == "notifications/progress" {
			st = s.byProgress[progressToken(m.Params)]
		}
		if st == nil && !s.legacy {
			for i := len(s.order) - 1; i >= 0; i-- {
				if c := s.order[i]; c.pending > 0 {
					st = c
					break
				}
			}
		}
	}
	if st == nil || s.legacy {
		st = s.standalone
	}
	s.appendLocked(st, data)
	s.finishIfAnsweredLocked(st)
	st.signal()
	return nil
}

// deliverAsync hands a diverted response to Options.Deliver without holding
// up the bridge; if delivery fails, the response goes on the standalone
// stream.
func (s *session) deliverAsync(resp *jsonrpc.Response, data []byte) {
	ep := s.ep
	ep.srv.wg.Add(1)
	go func() {
		defer ep.srv.wg.Done()
		err := ep.opts.Deliver(ep.srv.ctx, s.info, resp)
		if err == nil {
			return
		}
		ep.srv.log.Warn("diverted response could not be delivered; sending it on the session stream", "session", s.id, "id", resp.ID.Raw(), "err", err)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.appendLocked(s.standalone, data)
		s.standalone.signal()
	}()
}

func (s *session) appendLocked(st *stream, data []byte) {
	st.events = append(st.events, event{data: data})
	st.next++
	s.events++
	s.account(int64(len(data)))
	s.evictLocked()
}

// evictLocked keeps the events held within the endpoint's limits: the
// session's count and bytes (dropping undelivered events if it must), and
// the Server's total bytes (dropping only events of finished streams or
// already delivered; the periodic sweep does the rest).
func (s *session) evictLocked() {
	limit, byteLimit := s.ep.opts.eventLimit(), s.ep.opts.eventBytes()
	s.trimLocked(func() bool { return s.events > limit || s.bytes > byteLimit }, true)
	total, srv := s.ep.opts.eventBytesTotal(), s.ep.srv
	if srv.eventBytes.Load() > total {
		s.trimLocked(func() bool { return srv.eventBytes.Load() > total }, false)
		if srv.eventBytes.Load() > total {
			select {
			case srv.sweepNow <- struct{}{}:
			default:
			}
		}
	}
}

// sweepLocked forgets finished streams older than the retention period, and
// finished streams whose events were all evicted (nothing left to resume).
func (s *session) sweepLocked() {
	// Sweeping walks every stream; once a second is often enough.
	now := time.Now()
	if now.Sub(s.lastSweep) < time.Second {
		return
	}
	s.lastSweep = now
	ttl := s.ep.opts.eventTTL()
	keep := s.order[:0]
	for _, st := range s.order {
		if st.done && (len(st.events) == 0 || now.Sub(st.doneAt) > ttl) {
			s.dropStreamLocked(st)
			continue
		}
		keep = append(keep, st)
	}
	clear(s.order[len(keep):])
	s.order = keep
}

// Close ends the session: the bridge stops the back, and open streams end
// once they have flushed what they hold.
func (s *session) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		close(s.closed)
		// The events stay until the attached streams have flushed them,
		// but no longer count against the Server's total.
		s.ep.srv.eventBytes.Add(-s.bytes)
		for _, st := range s.streams {
			st.signal()
		}
		s.mu.Unlock()
		s.ep.forget(s)
	})
	return nil
}

func (s *session) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

func (s *session) touch() {
	s.mu.Lock()
	s.lastActive = time.Now()
	s.mu.Unlock()
}

// idleSince reports when the session was last used, or the zero time if a
// client is attached to one of its streams right now.
func (s *session) idleSince() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.streams {
		if st.owner != nil {
			return time.Time{}
		}
	}
	return s.lastActive
}

// quietSince reports when the session was last used if it holds nothing
// now (no client attached to a stream, no request awaiting its answer), or
// the zero time.
func (s *session) quietSince() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byReq) > 0 || len(s.diverted) > 0 {
		return time.Time{}
	}
	for _, st := range s.streams {
		if st.owner != nil {
			return time.Time{}
		}
	}
	return s.lastActive
}

// progressToken returns params._meta.progressToken as a string key, or "".
func progressToken(params json.RawMessage) string {
	if len(params) == 0 || !bytes.Contains(params, []byte("progressToken")) {
		return ""
	}
	var p struct {
		Meta struct {
			ProgressToken json.RawMessage `json:"progressToken"`
		} `json:"_meta"`
		ProgressToken json.RawMessage `json:"progressToken"` // in notifications/progress
	}
	if json.Unmarshal(params, &p) != nil {
		return ""
	}
	tok := p.Meta.ProgressToken
	if len(tok) == 0 {
		tok = p.ProgressToken
	}
	return strings.TrimSpace(string(tok))
}
