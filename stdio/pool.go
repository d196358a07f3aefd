// SPDX-License-Identifier: Apache-2.0

package stdio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

var _ bridge.RoundTripper = (*Command)(nil)

// maxNoteBytes bounds the notifications queued for one caller (progress,
// log messages, listen notifications) that it has not taken yet; one
// message is always accepted. Past the bound, notifications are dropped
// with a log line.
const maxNoteBytes = 1 << 20

// RoundTrip implements [bridge.RoundTripper]: it serves one request of the
// stateless revision (2026-07-28).
//
// The first call finds out the server's era (see [Command.Era]). For a
// modern server, requests from all callers share a pool of PoolSize
// children, started on first use: each request goes to the live child with
// the fewest requests in flight; its id and _meta.progressToken are
// replaced by ones unique on that child and restored on the response and on
// notifications/progress; when ctx ends first, the child gets
// notifications/cancelled and RoundTrip returns ctx.Err(). A child that dies
// fails only its own requests in flight, at once, with a JSON-RPC error of
// code [bridge.CodeServerUnavailable], and is replaced (with a growing delay
// when children keep dying young); so does a request finding every child at
// MaxInFlight, or no child running within ProbeTimeout. A request whose
// _meta names no protocol version gets -32602, one naming a session-based
// version -32022: neither reaches a shared child.
//
// Requests of the Tasks extension (tasks/get, tasks/update, tasks/cancel)
// go, unchanged but for their id, to the child that created the task named
// by params.taskId: the pool learns task ids from the results passing
// through it (resultType "task", or the 2025 shape {"task":{...}}). A task
// the pool never saw, whose route expired, or whose child died gets -32602
// "task not found" without reaching any child. See taskroute.go.
//
// subscriptions/listen is served by the pool itself: it holds one upstream
// listen per child with the union of the callers' filters, sends each caller
// notifications/subscriptions/acknowledged first (the subset that the
// children honored of what the caller asked for), then the notifications
// its filter asks for, from whichever child they come, each stamped with the
// caller's own listen id in _meta["io.modelcontextprotocol/subscriptionId"].
// A listen lasts until ctx ends (RoundTrip returns ctx.Err()) or
// [Command.Close] (RoundTrip returns the listen result
// {"resultType":"complete"}).
//
// For a legacy server, server/discover gets the answer that the child gave
// the probe (with the caller's id), so a probing client falls back to
// initialize as it would facing the child; any other request gets -32022
// listing the session-based versions. Sessions of the session-based
// revisions go through [Command.Dial] as before.
//
// notify is called from the goroutine that called RoundTrip, never after it
// returns. The only error returned is ctx.Err() or one about req itself.
func (c *Command) RoundTrip(ctx context.Context, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	if req == nil || !req.IsCall() {
		return nil, errors.New("stdio: RoundTrip needs a request with an id")
	}
	if notify == nil {
		notify = func(*jsonrpc.Request) {}
	}
	for attempt := 0; ; attempt++ {
		era, err := c.Era(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return unavailable(req.ID, fmt.Sprintf("MCP server unavailable: %v", err)), nil
		}
		if era == EraLegacy {
			return c.legacyAnswer(req), nil
		}
		if resp := notModern(req); resp != nil {
			return resp, nil
		}
		p, err := c.currentPool()
		if err != nil {
			return unavailable(req.ID, fmt.Sprintf("MCP server unavailable: %v", err)), nil
		}
		resp, err := p.roundTrip(ctx, req, notify)
		if errors.Is(err, errPoolStopped) && attempt == 0 {
			continue // replaced after a re-probe; ask again once
		}
		if err != nil && ctx.Err() == nil {
			return unavailable(req.ID, fmt.Sprintf("MCP server unavailable: %v", err)), nil
		}
		return resp, err
	}
}

// Close stops the children that serve modern requests, after answering
// their requests in flight with [bridge.CodeServerUnavailable] errors and
// ending the listens with their result; it waits for them and for any era
// probe. Connections made by [Command.Dial] are their owners' to close. After
// Close, RoundTrip answers every request with an error.
func (c *Command) Close() error {
	m := &c.modern
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.doneChan())
	p := m.pool
	m.pool = nil
	m.mu.Unlock()
	if p != nil {
		p.stop("asyncmcp is shutting down")
	}
	m.bg.Wait()
	return nil
}

func (c *Command) poolSize() int {
	if c.PoolSize > 0 {
		return c.PoolSize
	}
	return DefaultPoolSize
}

func (c *Command) maxInFlight() int {
	if c.MaxInFlight > 0 {
		return c.MaxInFlight
	}
	return DefaultMaxInFlight
}

func (c *Command) currentPool() (*pool, error) {
	m := &c.modern
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errClosed
	}
	if m.pool == nil {
		m.pool = newPool(c)
	}
	return m.pool, nil
}

// ModernStatus is a snapshot of the modern side of a [Command].
type ModernStatus struct {
	// Era is "unknown" (not probed yet), "legacy" or "modern".
	Era string `json:"era"`
	// Children are the pool's live children.
	Children []PoolChild `json:"children,omitempty"`
	// Started counts the pool children started so far (era probes excluded).
	Started int64 `json:"children_started"`
	// Listens is the number of subscriptions/listen streams open.
	Listens int `json:"listens"`
	// Tasks is the number of task ids routed to their child.
	Tasks int `json:"tasks,omitempty"`
	// Cancelled counts the notifications/cancelled sent to children for
	// requests whose caller gave up.
	Cancelled int64 `json:"cancelled"`
	// LateAnswers counts answers from children to requests already
	// cancelled or failed.
	LateAnswers int64 `json:"late_answers"`
}

// PoolChild describes one live child of the pool.
type PoolChild struct {
	PID      int `json:"pid"`
	InFlight int `json:"in_flight"`
	// RSSBytes is left for the caller to fill (this package does not
	// measure memory; asyncmcp's /status does, on Linux).
	RSSBytes int64 `json:"rss_bytes,omitempty"`
	// Tasks counts the tasks this child holds, as far as the pool knows.
	Tasks int `json:"tasks,omitempty"`
}

// ModernStatus reports the era verdict and the pool's state.
func (c *Command) ModernStatus() ModernStatus {
	m := &c.modern
	m.mu.Lock()
	s := ModernStatus{Era: m.era.String()}
	p := m.pool
	m.mu.Unlock()
	if p == nil {
		return s
	}
	s.Started = p.started.Load()
	s.Cancelled = p.cancelled.Load()
	s.LateAnswers = p.late.Load()
	held := p.tasks.perChild()
	s.Tasks = 0
	for _, n := range held {
		s.Tasks += n
	}
	p.mu.Lock()
	for _, ch := range p.children {
		ch.mu.Lock()
		s.Children = append(s.Children, PoolChild{PID: ch.pid, InFlight: len(ch.calls), Tasks: held[ch]})
		ch.mu.Unlock()
	}
	p.mu.Unlock()
	p.hub.mu.Lock()
	s.Listens = len(p.hub.clients)
	p.hub.mu.Unlock()
	return s
}

// notModern answers a request that is not of the stateless revision, which
// must not reach a shared child (a session-based request would set the
// era of the child's connection for everyone); nil for a modern request.
func notModern(req *jsonrpc.Request) *jsonrpc.Response {
	v := rpcmsg.RequestVersion(req.Params)
	if v == "" {
		return invalidParams(req.ID, "Invalid params: _meta must carry "+rpcmsg.MetaProtocolVersion)
	}
	if rpcmsg.IsModernHeader(v) { // as IsModernEnvelope, without parsing params again
		return nil // a version the child may not know gets the child's -32022
	}
	data, _ := json.Marshal(map[string]any{"supported": []string{rpcmsg.ModernVersion}, "requested": v})
	return &jsonrpc.Response{ID: req.ID, Error: &jsonrpc.Error{
		Code:    rpcmsg.CodeUnsupportedProtocolVersion,
		Message: "Unsupported protocol version: requests without a session must be of the stateless revision; session-based versions start with initialize",
		Data:    data,
	}}
}

func unavailable(id jsonrpc.ID, msg string) *jsonrpc.Response {
	return &jsonrpc.Response{ID: id, Error: &jsonrpc.Error{Code: bridge.CodeServerUnavailable, Message: msg}}
}

func intID(n int64) jsonrpc.ID {
	id, _ := jsonrpc.MakeID(float64(n))
	return id
}

var (
	errPoolStopped = errors.New("the pool of MCP server processes stopped")
	errChildGone   = errors.New("the MCP server process exited")
	errChildFull   = errors.New("too many requests in flight")
)

// A pool runs the shared children of a modern server command.
type pool struct {
	c           *Command
	log         *slog.Logger
	size        int
	maxInFlight int
	done        chan struct{} // closed by stop
	wg          sync.WaitGroup

	mu         sync.Mutex
	children   []*child
	changed    chan struct{} // closed and replaced when a child becomes ready
	stopped    bool
	quickFails int   // consecutive children that died young or did not start
	dialErr    error // why the last child could not be started, until one is

	hub    hub
	params toolParams // x-mcp-header bindings of the child's tools
	tasks  taskRoutes // task id -> the child holding the task (taskroute.go)

	started, cancelled, late atomic.Int64
}

func newPool(c *Command) *pool {
	p := &pool{
		c:           c,
		log:         c.logger(),
		size:        c.poolSize(),
		maxInFlight: c.maxInFlight(),
		done:        make(chan struct{}),
		changed:     make(chan struct{}),
	}
	p.hub.init(p)
	for i := 0; i < p.size; i++ {
		p.wg.Add(1)
		go p.supervise(i)
	}
	return p
}

// stop fails every request in flight, ends the listens gracefully, stops
// the children and waits for them.
func (p *pool) stop(reason string) {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		p.wg.Wait()
		return
	}
	p.stopped = true
	close(p.done)
	children := append([]*child(nil), p.children...)
	p.mu.Unlock()
	p.hub.closeAll()
	for _, ch := range children {
		ch.failAll(reason)
		go ch.close()
	}
	p.wg.Wait()
}

// close stops the child. Closing waits for a write in progress, which a
// child that stopped reading its input would hold for ever: past the
// stopping steps' time, the child is killed, which ends the write.
func (ch *child) close() {
	done := make(chan struct{})
	go func() {
		ch.conn.Close()
		close(done)
	}()
	td := ch.p.c.TerminateTimeout
	if td <= 0 {
		td = 5 * time.Second
	}
	t := time.NewTimer(2*td + time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		if proc, err := os.FindProcess(ch.pid); err == nil && ch.pid > 0 {
			ch.log.Warn("MCP server process did not stop; killing it")
			proc.Kill()
		}
		<-done
	}
}

// supervise keeps one slot of the pool filled with a running child.
func (p *pool) supervise(slot int) {
	defer p.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-p.done
		cancel()
	}()
	var delay time.Duration
	for {
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-p.done:
				t.Stop()
				return
			}
		}
		if ctx.Err() != nil {
			return
		}
		conn, err := p.c.dialShared(ctx)
		if err != nil {
			delay = nextDelay(delay)
			p.mu.Lock()
			p.dialErr = err
			p.mu.Unlock()
			p.log.Warn("could not start an MCP server process for the pool", "slot", slot, "err", err, "retry_in", delay)
			continue
		}
		ch := newChild(p, conn)
		p.started.Add(1)
		p.mu.Lock()
		p.dialErr = nil
		p.mu.Unlock()
		if !p.add(ch) {
			conn.Close()
			return
		}
		ch.log.Debug("pool child started", "slot", slot)
		ch.run()
		p.remove(ch)
		p.hub.childDown(ch)
		if n := p.tasks.childDown(ch); n > 0 && ctx.Err() == nil {
			ch.log.Warn("pool child ended holding tasks; they are lost", "tasks", n)
		}
		if ctx.Err() != nil {
			return
		}
		if time.Since(ch.startedAt) < quickDeath {
			delay = nextDelay(delay)
			p.failed(ctx)
		} else {
			delay = 0
			p.mu.Lock()
			p.quickFails = 0
			p.mu.Unlock()
		}
		ch.log.Warn("pool child ended; replacing it", "slot", slot, "retry_in", delay)
	}
}

// dialShared starts a child that serves no one session: a pool child or
// the era probe.
func (c *Command) dialShared(ctx context.Context) (mcp.Connection, error) {
	if c.PoolDialer != nil {
		return c.PoolDialer.Dial(ctx)
	}
	return c.Dial(ctx)
}

func nextDelay(d time.Duration) time.Duration {
	if d <= 0 {
		return 100 * time.Millisecond
	}
	return min(2*d, maxBackoff)
}

// failed counts a child that died young; when that keeps happening, the
// era is probed again (the command may have become a legacy server), with
// the verdict kept meanwhile. A legacy verdict stops the pool.
func (p *pool) failed(ctx context.Context) {
	p.mu.Lock()
	p.quickFails++
	again := p.quickFails >= crashThreshold
	if again {
		p.quickFails = 0
	}
	p.mu.Unlock()
	if !again {
		return
	}
	p.log.Warn("MCP server processes keep failing; probing the server's era again")
	era, answer, err := p.c.probe(ctx)
	if err != nil {
		p.log.Warn("could not probe the server's era again; keeping the modern verdict", "err", err)
		return
	}
	if era != EraLegacy {
		return
	}
	m := &p.c.modern
	m.mu.Lock()
	if m.pool == p {
		m.pool = nil
		m.era = EraLegacy
		m.discover = answer
	}
	m.mu.Unlock()
	p.log.Warn("the MCP server now speaks only the session-based revisions; stopping the pool")
	go p.stop("the MCP server no longer speaks the stateless revision")
}

func (p *pool) add(ch *child) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return false
	}
	p.children = append(p.children, ch)
	close(p.changed)
	p.changed = make(chan struct{})
	p.hub.childUp(ch)
	return true
}

func (p *pool) remove(ch *child) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, c := range p.children {
		if c == ch {
			p.children = append(p.children[:i], p.children[i+1:]...)
			break
		}
	}
}

// pick returns the live child with the fewest requests in flight, waiting
// up to ProbeTimeout for one to be running. A logging request (one that
// sets _meta logLevel) prefers a child with no other logging request, so
// that notifications/message, which name no request, can be attributed.
func (p *pool) pick(ctx context.Context, logging bool) (*child, error) {
	var timeout <-chan time.Time
	for {
		p.mu.Lock()
		if p.stopped {
			p.mu.Unlock()
			return nil, errPoolStopped
		}
		var best *child
		bestLoad, bestLog, full := 0, 0, false
		for _, ch := range p.children {
			ch.mu.Lock()
			load, logs, dead := len(ch.calls), ch.logCalls, ch.dead
			ch.mu.Unlock()
			if dead {
				continue
			}
			if load >= p.maxInFlight {
				full = true
				continue
			}
			if !logging {
				logs = 0
			}
			if best == nil || logs < bestLog || (logs == bestLog && load < bestLoad) {
				best, bestLoad, bestLog = ch, load, logs
			}
		}
		wait := p.changed
		p.mu.Unlock()
		if best != nil {
			return best, nil
		}
		if full {
			return nil, fmt.Errorf("%w: every MCP server process of the pool (%d) already has %d requests in flight", errChildFull, p.size, p.maxInFlight)
		}
		if timeout == nil {
			t := time.NewTimer(p.c.probeTimeout())
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.done:
			return nil, errPoolStopped
		case <-timeout:
			p.mu.Lock()
			derr := p.dialErr
			p.mu.Unlock()
			if derr != nil {
				return nil, fmt.Errorf("no MCP server process running after %s: %w", p.c.probeTimeout(), derr)
			}
			return nil, fmt.Errorf("no MCP server process running after %s (they keep failing; see the log)", p.c.probeTimeout())
		}
	}
}

// roundTrip serves one modern request through the pool.
func (p *pool) roundTrip(ctx context.Context, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	if req.Method == "subscriptions/listen" {
		return p.hub.listen(ctx, req, notify)
	}
	if h := bridge.HeaderFromContext(ctx); h != nil && req.Method == "tools/call" {
		if resp := p.checkParamHeaders(ctx, req, h); resp != nil {
			p.log.Info("refused tools/call: Mcp-Param header does not match the arguments", "err", resp.Error)
			return resp, nil
		}
	}
	cl := &call{
		clientID: req.ID,
		token:    progressTokenOf(req.Params),
		logging:  hasLogLevel(req.Params),
		notes:    newFIFO[*jsonrpc.Request](maxNoteBytes),
		resp:     make(chan *jsonrpc.Response, 1),
	}
	var ch *child
	var up *jsonrpc.Request
	if isTaskMethod(req.Method) {
		// A task lives in the child that created it: forward there.
		held := p.tasks.lookup(taskIDParam(req.Params))
		if held == nil {
			return taskNotFound(req.ID), nil
		}
		var err error
		if up, err = held.register(cl, req); err != nil {
			if errors.Is(err, errChildGone) {
				return taskNotFound(req.ID), nil
			}
			return unavailable(req.ID, "MCP server unavailable: "+err.Error()), nil
		}
		ch = held
	}
	for attempt := 0; up == nil; attempt++ {
		var err error
		ch, err = p.pick(ctx, cl.logging)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(err, errPoolStopped) {
				return nil, err
			}
			return unavailable(req.ID, "MCP server unavailable: "+err.Error()), nil
		}
		up, err = ch.register(cl, req)
		if err == nil {
			break
		}
		if attempt >= 3 || errors.Is(err, errChildFull) {
			return unavailable(req.ID, "MCP server unavailable: "+err.Error()), nil
		}
	}
	if !ch.send(up) {
		ch.forget(cl)
		return unavailable(req.ID, "MCP server unavailable: it is not reading its input; too much is waiting to be written to it"), nil
	}
	for {
		select {
		case <-cl.notes.signal:
			cl.notes.each(notify)
		case r := <-cl.resp:
			cl.notes.each(notify)
			if req.Method == "tools/list" && r.Error == nil {
				p.params.learn(r.Result)
			}
			p.learnTask(req.Method, ch, r)
			return r, nil
		case <-ctx.Done():
			if ch.forget(cl) {
				ch.cancel(cl.upID, "the client cancelled the request")
			}
			return nil, ctx.Err()
		}
	}
}

// A call is one request in flight on a child.
type call struct {
	clientID jsonrpc.ID
	token    json.RawMessage // the caller's progress token, or nil
	logging  bool
	upID     int64
	upToken  string
	notes    *fifo[*jsonrpc.Request]
	resp     chan *jsonrpc.Response // one answer, never blocks the sender
}

func (cl *call) finish(r *jsonrpc.Response) {
	select {
	case cl.resp <- r:
	default:
	}
}

// A child is one running server process of the pool.
type child struct {
	p         *pool
	conn      mcp.Connection
	pid       int
	log       *slog.Logger
	startedAt time.Time
	nextID    atomic.Int64
	out       *fifo[jsonrpc.Message] // messages waiting to be written

	mu       sync.Mutex
	calls    map[int64]*call
	tokens   map[string]*call
	logCalls int
	dead     bool
}

func newChild(p *pool, conn mcp.Connection) *child {
	pid := 0
	if p, ok := conn.(interface{ Pid() int }); ok {
		pid = p.Pid()
	}
	return &child{
		p:         p,
		conn:      conn,
		pid:       pid,
		log:       p.log.With("pid", pid),
		startedAt: time.Now(),
		out:       newFIFO[jsonrpc.Message](p.c.maxLine()),
		calls:     map[int64]*call{},
		tokens:    map[string]*call{},
	}
}

// run pumps the child's output until it ends, then fails the requests in
// flight and closes the child.
func (ch *child) run() {
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for range ch.out.signal {
			msgs, closed := ch.out.drainClosed()
			for _, m := range msgs {
				if err := ch.conn.Write(context.Background(), m); err != nil {
					ch.log.Debug("writing to pool child", "err", err)
					ch.out.close()
					return
				}
			}
			if closed {
				return
			}
		}
	}()
	var err error
	for {
		var msg jsonrpc.Message
		msg, err = ch.conn.Read(context.Background())
		if err != nil {
			break
		}
		ch.handle(msg)
	}
	ch.failAll(fmt.Sprintf("MCP server unavailable: the MCP server process exited (%v)", err))
	ch.out.close()
	<-writerDone
	ch.conn.Close()
}

// failAll answers every request in flight with an error and marks the child
// dead.
func (ch *child) failAll(msg string) {
	ch.mu.Lock()
	ch.dead = true
	calls := ch.calls
	ch.calls = map[int64]*call{}
	ch.tokens = map[string]*call{}
	ch.logCalls = 0
	ch.mu.Unlock()
	for _, cl := range calls {
		cl.finish(unavailable(cl.clientID, msg))
	}
}

// register gives req an id (and a progress token) unique on this child and
// returns the request to send.
func (ch *child) register(cl *call, req *jsonrpc.Request) (*jsonrpc.Request, error) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.dead {
		return nil, errChildGone
	}
	if len(ch.calls) >= ch.p.maxInFlight {
		return nil, fmt.Errorf("%w: the MCP server process already has %d requests in flight", errChildFull, ch.p.maxInFlight)
	}
	cl.upID = ch.nextID.Add(1)
	params := req.Params
	if cl.token != nil {
		cl.upToken = "asyncmcp-" + strconv.FormatInt(cl.upID, 10)
		tok, _ := json.Marshal(cl.upToken)
		var err error
		if params, err = setMeta(params, "progressToken", tok); err != nil {
			return nil, fmt.Errorf("rewriting the progress token: %w", err)
		}
		ch.tokens[cl.upToken] = cl
	}
	ch.calls[cl.upID] = cl
	if cl.logging {
		ch.logCalls++
	}
	return &jsonrpc.Request{ID: intID(cl.upID), Method: req.Method, Params: params}, nil
}

// forget drops a call; it reports whether the call was still in flight.
func (ch *child) forget(cl *call) bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.forgetLocked(cl)
}

func (ch *child) forgetLocked(cl *call) bool {
	if ch.calls[cl.upID] != cl {
		return false
	}
	delete(ch.calls, cl.upID)
	if cl.upToken != "" {
		delete(ch.tokens, cl.upToken)
	}
	if cl.logging {
		ch.logCalls--
	}
	return true
}

// send queues a message for the child; false when the queue is full.
func (ch *child) send(m jsonrpc.Message) bool {
	n := 64
	switch m := m.(type) {
	case *jsonrpc.Request:
		n += len(m.Params)
	case *jsonrpc.Response:
		n += len(m.Result)
	}
	if !ch.out.push(m, n) {
		ch.log.Warn("dropping a message for the MCP server process: it is not reading its input", "queued_bytes_max", ch.out.max)
		return false
	}
	return true
}

// cancel tells the child that a request is cancelled.
func (ch *child) cancel(upID int64, reason string) {
	params, _ := json.Marshal(map[string]any{"requestId": upID, "reason": reason})
	if ch.send(&jsonrpc.Request{Method: "notifications/cancelled", Params: params}) {
		ch.p.cancelled.Add(1)
	}
}

// handle routes one message from the child.
func (ch *child) handle(msg jsonrpc.Message) {
	switch m := msg.(type) {
	case *jsonrpc.Response:
		upID, ok := m.ID.Raw().(int64)
		if !ok {
			ch.log.Warn("MCP server process answered a request id it was never sent", "id", m.ID.Raw())
			return
		}
		ch.mu.Lock()
		cl := ch.calls[upID]
		if cl != nil {
			ch.forgetLocked(cl)
		}
		ch.mu.Unlock()
		if cl != nil {
			m.ID = cl.clientID
			cl.finish(m)
			return
		}
		if ch.p.hub.response(ch, upID, m) {
			return
		}
		ch.p.late.Add(1)
		ch.log.Debug("answer to a request already cancelled or failed", "id", upID)
	case *jsonrpc.Request:
		if m.IsCall() {
			ch.log.Warn("MCP server process sent a request; the stateless revision has none", "method", m.Method)
			ch.send(&jsonrpc.Response{ID: m.ID, Error: &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound,
				Message: "asyncmcp: server-to-client requests are not part of the stateless revision (use input_required)"}})
			return
		}
		switch m.Method {
		case "notifications/progress":
			ch.progress(m)
		case "notifications/message":
			ch.logMessage(m)
		case "notifications/cancelled":
			id, ok := rpcmsg.CancelledID(m.Params)
			if n, isInt := id.Raw().(int64); ok && isInt && ch.p.hub.cancelled(ch, n) {
				return
			}
			ch.log.Debug("MCP server process cancelled something that is not a listen", "params", truncate(m.Params, 200))
		default:
			ch.p.hub.notification(ch, m)
		}
	}
}

func (ch *child) progress(m *jsonrpc.Request) {
	var p struct {
		Token json.RawMessage `json:"progressToken"`
	}
	var tok string
	if json.Unmarshal(m.Params, &p) != nil || json.Unmarshal(p.Token, &tok) != nil {
		ch.log.Debug("progress notification with a token this pool did not issue", "params", truncate(m.Params, 200))
		return
	}
	ch.mu.Lock()
	cl := ch.tokens[tok]
	ch.mu.Unlock()
	if cl == nil {
		ch.log.Debug("progress for a request no longer in flight", "token", tok)
		return
	}
	params, err := setField(m.Params, "progressToken", cl.token)
	if err != nil {
		ch.log.Warn("could not restore a progress token", "err", err)
		return
	}
	ch.note(cl, &jsonrpc.Request{Method: m.Method, Params: params})
}

// logMessage hands notifications/message to the one request in flight on
// this child that asked for logs; with none or several, the message cannot
// be attributed and is dropped.
func (ch *child) logMessage(m *jsonrpc.Request) {
	ch.mu.Lock()
	var target *call
	if ch.logCalls == 1 {
		for _, cl := range ch.calls {
			if cl.logging {
				target = cl
				break
			}
		}
	}
	ch.mu.Unlock()
	if target == nil {
		ch.log.Debug("dropping notifications/message: no single request on this process asked for logs", "params", truncate(m.Params, 200))
		return
	}
	ch.note(target, m)
}

func (ch *child) note(cl *call, m *jsonrpc.Request) {
	if !cl.notes.push(m, len(m.Params)+64) {
		ch.log.Warn("dropping a notification: the client is not taking them", "method", m.Method)
	}
}

// progressTokenOf returns params._meta.progressToken, or nil.
func progressTokenOf(params json.RawMessage) json.RawMessage {
	if !bytes.Contains(params, []byte(`"progressToken"`)) {
		return nil
	}
	var p struct {
		Meta struct {
			Token json.RawMessage `json:"progressToken"`
		} `json:"_meta"`
	}
	if json.Unmarshal(params, &p) != nil || len(p.Meta.Token) == 0 || string(p.Meta.Token) == "null" {
		return nil
	}
	return p.Meta.Token
}

// hasLogLevel reports whether params._meta asks for log messages.
func hasLogLevel(params json.RawMessage) bool {
	if !bytes.Contains(params, []byte(rpcmsg.MetaLogLevel)) {
		return false
	}
	var p struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	if json.Unmarshal(params, &p) != nil {
		return false
	}
	v, ok := p.Meta[rpcmsg.MetaLogLevel]
	return ok && string(v) != "null"
}

// setField sets one top-level member of a JSON object.
func setField(obj json.RawMessage, key string, val json.RawMessage) (json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if len(obj) > 0 && string(obj) != "null" {
		if err := json.Unmarshal(obj, &m); err != nil {
			return nil, err
		}
	}
	m[key] = val
	return json.Marshal(m)
}

// setMeta sets one member of params._meta.
func setMeta(params json.RawMessage, key string, val json.RawMessage) (json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if len(params) > 0 && string(params) != "null" {
		if err := json.Unmarshal(params, &m); err != nil {
			return nil, err
		}
	}
	meta, err := setField(m["_meta"], key, val)
	if err != nil {
		return nil, err
	}
	m["_meta"] = meta
	return json.Marshal(m)
}

// A fifo is a queue bounded in bytes (one item is always accepted) whose
// signal channel has a value whenever items may be waiting.
type fifo[T any] struct {
	mu     sync.Mutex
	items  []T
	bytes  int
	max    int
	closed bool
	signal chan struct{}
}

func newFIFO[T any](max int) *fifo[T] {
	return &fifo[T]{max: max, signal: make(chan struct{}, 1)}
}

func (q *fifo[T]) push(v T, n int) bool {
	q.mu.Lock()
	if q.closed || (len(q.items) > 0 && q.bytes+n > q.max) {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, v)
	q.bytes += n
	q.mu.Unlock()
	q.wake()
	return true
}

func (q *fifo[T]) wake() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *fifo[T]) drain() []T {
	items, _ := q.drainClosed()
	return items
}

// each drains the queue, passing every item to fn in order.
func (q *fifo[T]) each(fn func(T)) {
	for _, v := range q.drain() {
		fn(v)
	}
}

func (q *fifo[T]) drainClosed() ([]T, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items, q.bytes = nil, 0
	return items, q.closed
}

// close refuses further items; what is queued can still be drained.
func (q *fifo[T]) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.wake()
}
