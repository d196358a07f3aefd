// SPDX-License-Identifier: Apache-2.0

package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// DefaultMaxMessageBytes bounds one JSON-RPC message read from a remote
// server (a JSON response body or one SSE event) when
// [Streamable.MaxMessageBytes] is zero.
const DefaultMaxMessageBytes = 16 << 20

// maxErrorBody bounds the body of an HTTP error answer that is read.
const maxErrorBody = 64 << 10

var _ bridge.RoundTripper = (*Streamable)(nil)

// RoundTrip serves one self-contained request of the stateless MCP revision
// (2026-07-28 and later) with one POST to s.URL and no session: the POST
// carries the body unchanged and the headers derived from it
// (MCP-Protocol-Version from params._meta, Mcp-Method, and Mcp-Name for
// tools/call, prompts/get, resources/read and tasks/get|update|cancel,
// Base64-wrapped when the value is not plain visible ASCII), the
// Mcp-Param-* headers found in ctx ([bridge.HeaderFromContext], put there by
// an HTTP front), and the headers of s.HTTPClient (authorization and the
// like). It implements [bridge.RoundTripper].
//
// When ctx carries no headers (the client is on stdio or a queue and cannot
// send Mcp-Param-* itself), a tools/call gets the Mcp-Param-* headers that
// the x-mcp-header annotations of the tool's input schema call for, learnt
// from the tools/list results that passed through s; when the server
// rejects a tools/call with -32020 for a tool not seen yet, RoundTrip
// fetches tools/list (with the request's _meta envelope) and retries once.
//
// The answer may be JSON or an SSE stream: notifications on the stream are
// passed to notify in order, and the response to req ends the exchange.
// Cancelling ctx closes the POST, which is how the stateless revision
// cancels a request over HTTP. An HTTP error whose body is a JSON-RPC error
// is returned as that error (with req's id); any other failure (the server
// is unreachable, answers with a bare HTTP error, or ends the stream without
// an answer) is returned as a JSON-RPC error with code
// [bridge.CodeServerUnavailable] naming it. Response bodies and SSE events
// are bounded by s.MaxMessageBytes. OnResponse is not called.
func (s *Streamable) RoundTrip(ctx context.Context, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	resp, err := s.post(ctx, req, notify)
	if err != nil {
		return nil, err
	}
	switch {
	case req.Method == "tools/list" && resp.Error == nil:
		s.params.learn(resp.Result)
	case req.Method == "tools/call" && bridge.HeaderFromContext(ctx) == nil && isHeaderMismatch(resp):
		// The server wants Mcp-Param-* headers for a tool whose schema
		// was never seen here: learn it and try once more.
		tool := toolName(req.Params)
		if _, known := s.params.lookup(tool); !known && s.refreshTools(ctx, req, tool) {
			if b, _ := s.params.lookup(tool); len(b) > 0 {
				s.logger().Info("retrying tools/call with the Mcp-Param headers of the tool's schema", "tool", tool)
				return s.post(ctx, req, notify)
			}
		}
	}
	return resp, nil
}

func isHeaderMismatch(resp *jsonrpc.Response) bool {
	werr, ok := resp.Error.(*jsonrpc.Error)
	return ok && werr != nil && werr.Code == rpcmsg.CodeHeaderMismatch
}

// post sends one modern request as one POST and reads its answer.
func (s *Streamable) post(ctx context.Context, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	body, err := jsonrpc.EncodeMessage(req)
	if err != nil {
		return nil, fmt.Errorf("encoding %s request: %w", req.Method, err)
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building POST %s: %w", s.URL, err)
	}
	if fwd := bridge.HeaderFromContext(ctx); fwd != nil {
		// An HTTP front passes on what its client sent.
		for k, vs := range fwd {
			if strings.HasPrefix(http.CanonicalHeaderKey(k), "Mcp-Param-") {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
		}
	} else if req.Method == "tools/call" {
		if b, ok := s.params.lookup(toolName(req.Params)); ok {
			setParamHeaders(r.Header, b, req.Params)
		}
	}
	SetModernHeaders(r.Header, req)
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json, text/event-stream")

	hc := s.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	unavailable := func(format string, a ...any) (*jsonrpc.Response, error) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		msg := fmt.Sprintf(format, a...)
		s.logger().Warn("modern request to remote server failed", "method", req.Method, "err", msg)
		return &jsonrpc.Response{ID: req.ID, Error: &jsonrpc.Error{Code: bridge.CodeServerUnavailable, Message: msg}}, nil
	}
	resp, err := hc.Do(r)
	if err != nil {
		return unavailable("MCP server unavailable: POST %s: %v", s.URL, err)
	}
	defer resp.Body.Close()
	limit := s.maxMessage()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		if m, derr := rpcmsg.Decode(b); derr == nil {
			if er, ok := m.(*jsonrpc.Response); ok && er.Error != nil {
				er.ID = req.ID // servers answer header errors with a null id
				return er, nil
			}
		}
		return unavailable("remote MCP server answered %s: %s", resp.Status, strings.TrimSpace(string(b[:min(len(b), 500)])))
	}
	if resp.StatusCode == http.StatusAccepted {
		return unavailable("remote MCP server answered %s to a request and sent no response", resp.Status)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
		if err != nil {
			return unavailable("reading the answer of the remote MCP server: %v", err)
		}
		if len(b) > limit {
			return unavailable("the answer of the remote MCP server is larger than %d bytes", limit)
		}
		m, err := rpcmsg.Decode(b)
		if err != nil {
			return unavailable("the remote MCP server answered with no JSON-RPC message: %v", err)
		}
		out, ok := m.(*jsonrpc.Response)
		if !ok {
			return unavailable("the remote MCP server answered a request with a request (%s)", m.(*jsonrpc.Request).Method)
		}
		out.ID = req.ID
		return out, nil
	}

	sr := newSSEReader(resp.Body, limit)
	for {
		ev, err := sr.next()
		if err != nil {
			if errors.Is(err, errEventTooLarge) {
				return unavailable("the remote MCP server sent an event larger than %d bytes", limit)
			}
			return unavailable("response stream from the remote MCP server ended before the answer arrived: %v", err)
		}
		if len(bytes.TrimSpace(ev.data)) == 0 || (ev.event != "" && ev.event != "message") {
			continue
		}
		m, err := rpcmsg.Decode(ev.data)
		if err != nil {
			s.logger().Warn("ignoring undecodable event from remote server", "err", err, "data", string(ev.data[:min(len(ev.data), 200)]))
			continue
		}
		switch m := m.(type) {
		case *jsonrpc.Response:
			if m.ID != req.ID {
				s.logger().Warn("ignoring a response for another request on a request's stream", "want", req.ID.Raw(), "got", m.ID.Raw())
				continue
			}
			return m, nil
		case *jsonrpc.Request:
			if m.IsCall() {
				// The stateless revision has no server-to-client requests
				// (they became input_required results).
				s.logger().Warn("dropping a server-to-client request on a 2026-07-28 stream", "method", m.Method)
				continue
			}
			if notify != nil {
				notify(m)
			}
		}
	}
}

// SetModernHeaders sets on h the headers that the Streamable HTTP binding of
// the stateless revision derives from a request's body: MCP-Protocol-Version
// (params._meta protocol version), Mcp-Method, and Mcp-Name where the
// method has one (rpcmsg.ModernName), encoded with rpcmsg.EncodeHeaderValue.
func SetModernHeaders(h http.Header, req *jsonrpc.Request) {
	if v := rpcmsg.RequestVersion(req.Params); v != "" {
		h.Set("Mcp-Protocol-Version", v)
	}
	h.Set("Mcp-Method", req.Method)
	if name, ok := rpcmsg.ModernName(req.Method, req.Params); ok {
		h.Set("Mcp-Name", rpcmsg.EncodeHeaderValue(name))
	}
}

func (s *Streamable) maxMessage() int {
	if s.MaxMessageBytes > 0 {
		return s.MaxMessageBytes
	}
	return DefaultMaxMessageBytes
}

func (s *Streamable) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}
