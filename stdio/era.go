// SPDX-License-Identifier: Apache-2.0

package stdio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// An Era is what a server command speaks, as found by the probe that
// [Command.Era] runs.
type Era int

const (
	// EraUnknown: not probed yet, or the probe reached no verdict.
	EraUnknown Era = iota
	// EraLegacy: the session-based revisions only (initialize first).
	EraLegacy
	// EraModern: the stateless revision, 2026-07-28 or later.
	EraModern
)

func (e Era) String() string {
	switch e {
	case EraLegacy:
		return "legacy"
	case EraModern:
		return "modern"
	}
	return "unknown"
}

// Defaults for the modern (2026-07-28) side of a [Command].
const (
	// DefaultProbeTimeout bounds the era probe: a server that has not
	// answered server/discover by then is taken for a legacy one.
	DefaultProbeTimeout = 10 * time.Second
	// DefaultPoolSize is the number of shared children serving modern
	// requests.
	DefaultPoolSize = 2
	// DefaultMaxInFlight bounds the modern requests outstanding on one
	// shared child.
	DefaultMaxInFlight = 1024
	// MaxListens bounds the subscriptions/listen streams open at once
	// through one Command.
	MaxListens = 1024
)

// modernState is the era verdict of a Command and, once the verdict is
// modern, its pool of shared children. The zero value is ready to use.
type modernState struct {
	mu       sync.Mutex
	era      Era
	discover *jsonrpc.Response // a legacy child's answer to the probe (id to be replaced)
	probing  chan struct{}     // closed when the probe under way ends
	probeErr error             // why the last probe reached no verdict
	pool     *pool
	closed   bool
	done     chan struct{} // closed by Close
	bg       sync.WaitGroup
}

func (m *modernState) doneChan() chan struct{} {
	if m.done == nil {
		m.done = make(chan struct{})
	}
	return m.done
}

func (c *Command) probeTimeout() time.Duration {
	if c.ProbeTimeout > 0 {
		return c.ProbeTimeout
	}
	return DefaultProbeTimeout
}

// Era reports whether the server command speaks the stateless revision
// (2026-07-28). The first call probes it: a disposable child gets one
// server/discover request with a modern _meta envelope and is then stopped.
// A DiscoverResult listing a modern version, or a modern error (-32022 whose
// data.supported lists a modern version, -32020, -32021), means
// [EraModern]; any other answer, silence for ProbeTimeout, or the child
// exiting means [EraLegacy]. The verdict is kept; when the shared children
// keep dying young, the pool probes again (keeping the verdict meanwhile)
// and stops if the server has become a legacy one. Concurrent callers share one
// probe. Era returns an error, and no verdict, when ctx ends first, when the
// child cannot be started, or after [Command.Close].
func (c *Command) Era(ctx context.Context) (Era, error) {
	m := &c.modern
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return EraUnknown, errClosed
		}
		if m.era != EraUnknown {
			e := m.era
			m.mu.Unlock()
			return e, nil
		}
		wait := m.probing
		if wait == nil {
			wait = make(chan struct{})
			m.probing = wait
			done := m.doneChan()
			m.bg.Add(1)
			go c.runProbe(wait, done)
		}
		m.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return EraUnknown, ctx.Err()
		}
		m.mu.Lock()
		e, err := m.era, m.probeErr
		m.mu.Unlock()
		if e != EraUnknown {
			return e, nil
		}
		if err != nil {
			return EraUnknown, err
		}
	}
}

var errClosed = errors.New("stdio: command closed")

// runProbe probes the era and records the verdict, then closes wait.
func (c *Command) runProbe(wait chan struct{}, done <-chan struct{}) {
	defer c.modern.bg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-done:
			cancel()
		case <-ctx.Done():
		}
	}()
	era, answer, err := c.probe(ctx)
	m := &c.modern
	m.mu.Lock()
	m.probing = nil
	m.probeErr = err
	if err == nil {
		m.era = era
		m.discover = answer
	}
	m.mu.Unlock()
	close(wait)
	log := c.logger()
	switch {
	case err != nil:
		log.Warn("could not find out which MCP revision the server speaks", "cmd", c.Path, "err", err)
	case era == EraModern:
		log.Info("MCP server speaks the stateless revision; modern requests share a pool of children", "cmd", c.Path, "pool_size", c.poolSize())
	default:
		log.Info("MCP server speaks only the session-based revisions", "cmd", c.Path)
	}
}

// probeRequestID is the id of the probe's server/discover request.
const probeRequestID = "asyncmcp-era-probe"

// modernEnvelope is the params of a request with nothing but the _meta
// envelope of the stateless revision.
var modernEnvelope = json.RawMessage(`{"_meta":` + string(modernMeta) + `}`)

// modernMeta is the _meta of asyncmcp's own requests to a child.
var modernMeta = json.RawMessage(`{"` + rpcmsg.MetaProtocolVersion + `":"` + rpcmsg.ModernVersion +
	`","` + rpcmsg.MetaClientCapabilities + `":{},"` + rpcmsg.MetaClientInfo + `":{"name":"asyncmcp","version":"0"}}`)

// probe runs one disposable child, asks it server/discover and classifies
// the answer. The child is stopped in the background (Close waits for it).
// The returned response is the child's answer when the verdict is legacy.
func (c *Command) probe(ctx context.Context) (Era, *jsonrpc.Response, error) {
	conn, err := c.dialShared(ctx)
	if err != nil {
		return EraUnknown, nil, fmt.Errorf("starting the era probe: %w", err)
	}
	c.modern.bg.Add(1)
	defer func() {
		go func() {
			defer c.modern.bg.Done()
			conn.Close()
		}()
	}()
	id, _ := jsonrpc.MakeID(probeRequestID)
	if err := conn.Write(ctx, &jsonrpc.Request{ID: id, Method: "server/discover", Params: modernEnvelope}); err != nil {
		c.logger().Info("era probe: the MCP server did not take server/discover; taking it for a legacy server", "err", err)
		return EraLegacy, nil, nil
	}
	// Read on a goroutine of its own: a child that closed its stdout but
	// lives on makes Read wait for its exit, which closing it brings.
	type readResult struct {
		msg jsonrpc.Message
		err error
	}
	reads := make(chan readResult, 1)
	stop := make(chan struct{})
	defer close(stop)
	c.modern.bg.Add(1)
	go func() {
		defer c.modern.bg.Done()
		for {
			msg, err := conn.Read(context.Background())
			select {
			case reads <- readResult{msg, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	timer := time.NewTimer(c.probeTimeout())
	defer timer.Stop()
	for {
		var r readResult
		select {
		case r = <-reads:
		case <-ctx.Done():
			return EraUnknown, nil, fmt.Errorf("era probe: %w", ctx.Err())
		case <-timer.C:
			c.logger().Info("era probe: no answer to server/discover; taking the MCP server for a legacy server", "timeout", c.probeTimeout())
			return EraLegacy, nil, nil
		}
		if r.err != nil {
			c.logger().Info("era probe: the MCP server ended after server/discover; taking it for a legacy server", "err", r.err)
			return EraLegacy, nil, nil
		}
		resp, ok := r.msg.(*jsonrpc.Response)
		if !ok || resp.ID != id {
			continue // notifications (logs) and stray messages say nothing about the era
		}
		if era := classifyDiscover(resp); era == EraLegacy {
			return EraLegacy, resp, nil
		}
		return EraModern, nil, nil
	}
}

// classifyDiscover reads a server/discover answer the way the stdio
// transport of 2026-07-28 prescribes: a DiscoverResult offering a modern
// version, or a recognised modern error, means modern; anything else legacy.
func classifyDiscover(resp *jsonrpc.Response) Era {
	if resp.Error != nil {
		var we *jsonrpc.Error
		if !errors.As(resp.Error, &we) {
			return EraLegacy
		}
		switch we.Code {
		case rpcmsg.CodeHeaderMismatch, rpcmsg.CodeMissingClientCapability:
			return EraModern
		case rpcmsg.CodeUnsupportedProtocolVersion:
			var d struct {
				Supported []string `json:"supported"`
			}
			if json.Unmarshal(we.Data, &d) == nil && anyModern(d.Supported) {
				return EraModern
			}
		}
		return EraLegacy
	}
	var r struct {
		SupportedVersions []string `json:"supportedVersions"`
	}
	if json.Unmarshal(resp.Result, &r) == nil && anyModern(r.SupportedVersions) {
		return EraModern
	}
	return EraLegacy
}

func anyModern(vs []string) bool {
	for _, v := range vs {
		if rpcmsg.IsModernVersion(v) {
			return true
		}
	}
	return false
}

// legacyAnswer answers a modern request for a legacy server: server/discover
// as the child answered the probe (so that a probing client falls back as it
// would facing the child itself), anything else -32022 listing the legacy
// versions.
func (c *Command) legacyAnswer(req *jsonrpc.Request) *jsonrpc.Response {
	if req.Method == "server/discover" {
		c.modern.mu.Lock()
		probe := c.modern.discover
		c.modern.mu.Unlock()
		if probe != nil && probe.Error != nil {
			return &jsonrpc.Response{ID: req.ID, Error: probe.Error}
		}
		return &jsonrpc.Response{ID: req.ID, Error: &jsonrpc.Error{
			Code:    jsonrpc.CodeMethodNotFound,
			Message: "Method not found: the MCP server speaks only the session-based revisions (initialize first)",
		}}
	}
	data, _ := json.Marshal(map[string]any{"supported": rpcmsg.LegacyVersions, "requested": rpcmsg.RequestVersion(req.Params)})
	return &jsonrpc.Response{ID: req.ID, Error: &jsonrpc.Error{
		Code:    rpcmsg.CodeUnsupportedProtocolVersion,
		Message: "Unsupported protocol version: the MCP server speaks only the session-based revisions (initialize first)",
		Data:    data,
	}}
}
