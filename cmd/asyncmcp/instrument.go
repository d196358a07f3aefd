// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/metrics"
	"github.com/asyncmcp/asyncmcp-go/stdio"
	"github.com/asyncmcp/asyncmcp-go/tasks"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// defaultMaxChildren is the default of --max-children.
const defaultMaxChildren = 100

// A childLimit caps the child processes running at once across every server
// of this process.
type childLimit struct {
	max int // <= 0: no cap
	n   atomic.Int64
}

func newChildLimit(flag int) *childLimit {
	switch {
	case flag == 0:
		return &childLimit{max: defaultMaxChildren}
	case flag < 0:
		return &childLimit{}
	}
	return &childLimit{max: flag}
}

func (l *childLimit) acquire() bool {
	if l.max <= 0 {
		l.n.Add(1)
		return true
	}
	for {
		n := l.n.Load()
		if n >= int64(l.max) {
			return false
		}
		if l.n.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (l *childLimit) release() { l.n.Add(-1) }

// A backDialer wraps the back of one server: it counts sessions and times
// requests (internal/metrics), and when the back starts a child per session
// it caps children with limit, counts them, and keeps their pids for /status.
type backDialer struct {
	server string // metrics label: the server name, "default" for ""
	inner  bridge.Dialer
	cmd    *stdio.Command // nil unless the back starts children
	limit  *childLimit

	mu   sync.Mutex
	live map[*backConn]struct{}
}

// instrument wraps d for server name; cmd is d itself when d starts a child
// per session. The result implements bridge.RoundTripper when d does.
//
// The children that cmd shares between modern (2026-07-28) callers, its
// pool and era probe, are started through the same wrapper
// (stdio.Command.PoolDialer): they count in the asyncmcp_children_* metrics
// and /status, and against limit. When limit is reached the pool does not
// grow: the slot is retried with a growing delay, and a request finding no
// pool child gets -32000 naming the --max-children limit. No child is
// exempt (a reserved pool child would let the cap be exceeded); size
// --max-children to sessions + --pool-size + 1 (the probe).
func instrument(name string, d bridge.Dialer, cmd *stdio.Command, limit *childLimit) bridge.Dialer {
	if name == "" {
		name = "default"
	}
	bd := &backDialer{server: name, inner: d, cmd: cmd, limit: limit, live: map[*backConn]struct{}{}}
	if cmd != nil && cmd.PoolDialer == nil {
		cmd.PoolDialer = sharedDialer{bd}
	}
	if rt, ok := d.(bridge.RoundTripper); ok {
		if r, ok := d.(tasks.Resumer); ok {
			return &resumingDialer{roundTripDialer{backDialer: bd, rt: rt}, r}
		}
		return &roundTripDialer{backDialer: bd, rt: rt}
	}
	return bd
}

// sharedDialer starts the children that a command shares between modern
// callers (see instrument).
type sharedDialer struct{ d *backDialer }

func (s sharedDialer) Dial(ctx context.Context) (mcp.Connection, error) { return s.d.dial(ctx, true) }

// Dial opens a back connection, refusing when the child cap is reached.
func (d *backDialer) Dial(ctx context.Context) (mcp.Connection, error) { return d.dial(ctx, false) }

// dial opens a back connection; shared marks a child of the modern pool
// (or the era probe), which is no session and whose requests RoundTrip
// already counts.
func (d *backDialer) dial(ctx context.Context, shared bool) (mcp.Connection, error) {
	child := d.cmd != nil
	if child && d.limit != nil {
		if !d.limit.acquire() {
			metrics.ChildrenRefused.Inc()
			return nil, fmt.Errorf("limit of %d child processes reached (--max-children); try again later", d.limit.max)
		}
	}
	c, err := d.inner.Dial(ctx)
	if err != nil {
		if child && d.limit != nil {
			d.limit.release()
		}
		return nil, d.hidePath(err)
	}
	bc := &backConn{Connection: c, d: d, shared: shared}
	if !shared {
		bc.Connection = metrics.ObserveConn(d.server, c)
	}
	if child {
		metrics.ChildrenStarted.WithLabelValues(d.server).Inc()
		metrics.ChildrenAlive.WithLabelValues(d.server).Inc()
		if p, ok := c.(interface{ Pid() int }); ok {
			bc.pid = p.Pid()
		}
	}
	d.mu.Lock()
	d.live[bc] = struct{}{}
	d.mu.Unlock()
	return bc, nil
}

// hidePath replaces the absolute command path in err by its base name, so
// that answers to clients and /status do not disclose the file system.
func (d *backDialer) hidePath(err error) error {
	if d.cmd == nil || !filepath.IsAbs(d.cmd.Path) || !strings.Contains(err.Error(), d.cmd.Path) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), d.cmd.Path, filepath.Base(d.cmd.Path)))
}

// sessions reports the back connections open now for sessions (shared
// children excluded).
func (d *backDialer) sessions() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for c := range d.live {
		if !c.shared {
			n++
		}
	}
	return n
}

// pids lists the process ids of the children running now, in order.
func (d *backDialer) pids() []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []int
	for c := range d.live {
		if c.pid > 0 {
			out = append(out, c.pid)
		}
	}
	sort.Ints(out)
	return out
}

// backOf returns the backDialer inside a dialer made by instrument.
func backOf(d bridge.Dialer) *backDialer {
	switch v := d.(type) {
	case *backDialer:
		return v
	case *roundTripDialer:
		return v.backDialer
	case *resumingDialer:
		return v.backDialer
	}
	return nil
}

// A roundTripDialer is a backDialer whose back also serves self-contained
// (stateless) requests.
type roundTripDialer struct {
	*backDialer
	rt bridge.RoundTripper
}

// RoundTrip forwards req to the back's RoundTripper, counting and timing it.
func (d *roundTripDialer) RoundTrip(ctx context.Context, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	done := metrics.ObserveRoundTrip(d.server, req.Method)
	resp, err := d.rt.RoundTrip(ctx, req, notify)
	done(resp, err)
	return resp, err
}

// A resumingDialer is a roundTripDialer whose back can also re-attach to
// calls of an earlier process (tasks.Resumer: the queue backs).
type resumingDialer struct {
	roundTripDialer
	r tasks.Resumer
}

// Resume forwards to the back's Resume, counting and timing it as a
// request.
func (d *resumingDialer) Resume(ctx context.Context, correlation []byte, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	done := metrics.ObserveRoundTrip(d.server, req.Method)
	resp, err := d.r.Resume(ctx, correlation, req, notify)
	done(resp, err)
	return resp, err
}

// A backConn is one instrumented back connection.
type backConn struct {
	mcp.Connection
	d       *backDialer
	pid     int
	shared  bool // a pool child or the era probe, not a session
	closing atomic.Bool
	exited  atomic.Bool // the child ended on its own
	once    sync.Once
}

// Pid reports the child's process id (0 when the back is no child), as
// the stdio connection does; the pool of a command uses it.
func (c *backConn) Pid() int { return c.pid }

func (c *backConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	msg, err := c.Connection.Read(ctx)
	if err != nil && c.d.cmd != nil && !c.closing.Load() && errors.Is(err, io.EOF) {
		c.exited.Store(true)
	}
	return msg, err
}

func (c *backConn) Close() error {
	c.closing.Store(true)
	err := c.Connection.Close()
	c.once.Do(func() {
		c.d.mu.Lock()
		delete(c.d.live, c)
		c.d.mu.Unlock()
		if c.d.cmd == nil {
			return
		}
		metrics.ChildrenAlive.WithLabelValues(c.d.server).Dec()
		if c.exited.Load() {
			metrics.ChildrenCrashed.WithLabelValues(c.d.server).Inc()
		}
		if c.d.limit != nil {
			c.d.limit.release()
		}
	})
	return err
}

// childInfo is one running child in /status.
type childInfo struct {
	PID      int   `json:"pid"`
	RSSBytes int64 `json:"rss_bytes,omitempty"`
}

// childStatus is the /status detail of a server whose back is a command.
type childStatus struct {
	Command string `json:"command"` // base name only
	stdio.CommandStatus
	Sessions int `json:"sessions_open"`
	// Children are every child running now: the sessions' and the
	// modern pool's (also listed, with their load, under Modern).
	Children []childInfo `json:"children"`
	// Modern is the era verdict and the pool of shared children.
	Modern stdio.ModernStatus `json:"modern"`
	// RSSBytes sums the resident memory of every child's process group
	// (Linux only; omitted elsewhere).
	RSSBytes int64 `json:"rss_bytes,omitempty"`
}

// status reports the children of a command back.
func (d *backDialer) status() childStatus {
	st := childStatus{Command: filepath.Base(d.cmd.Path), CommandStatus: d.cmd.Status(), Sessions: d.sessions(), Children: []childInfo{}}
	rssOf := map[int]int64{}
	for _, pid := range d.pids() {
		rss, _ := groupRSS(pid)
		rssOf[pid] = rss
		st.Children = append(st.Children, childInfo{PID: pid, RSSBytes: rss})
		st.RSSBytes += rss
	}
	st.Modern = d.cmd.ModernStatus()
	for i, ch := range st.Modern.Children {
		st.Modern.Children[i].RSSBytes = rssOf[ch.PID]
	}
	return st
}

// A backSet is every instrumented back of the process, for the memory gauge.
type backSet struct {
	mu    sync.Mutex
	backs []*backDialer
}

func (s *backSet) add(d bridge.Dialer) {
	bd := backOf(d)
	if bd == nil {
		return
	}
	s.mu.Lock()
	s.backs = append(s.backs, bd)
	s.mu.Unlock()
}

// refreshMemory sets asyncmcp_children_resident_memory_bytes for every
// command back; it runs before each scrape.
func (s *backSet) refreshMemory() {
	s.mu.Lock()
	backs := append([]*backDialer(nil), s.backs...)
	s.mu.Unlock()
	if !memorySupported {
		return
	}
	for _, d := range backs {
		if d.cmd == nil {
			continue
		}
		var total int64
		for _, pid := range d.pids() {
			rss, _ := groupRSS(pid)
			total += rss
		}
		metrics.ChildrenMemory.WithLabelValues(d.server).Set(float64(total))
	}
}
