// SPDX-License-Identifier: Apache-2.0

package hybrid

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/httpfront"
	"github.com/asyncmcp/asyncmcp-go/webhook"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// ServerOptions configures a [Server]. The zero value serves plain
// Streamable HTTP (no tool is diverted) and refuses every webhook URL that
// is not in the allow-list, which is empty.
type ServerOptions struct {
	// WebhookTools names the tools whose tools/call results are delivered
	// by webhook.
	WebhookTools []string
	// Secret signs every delivery. If empty, each session gets a fresh
	// secret, sent to the client in the Asyncmcp-Webhook-Secret header of
	// the initialize response; if set, it is never sent and the client
	// must be configured with the same value.
	Secret string
	// AllowedWebhookHosts are the hosts the server delivers to: "host",
	// "host:port", "*.example.com" or "*". A session naming any other
	// webhook host is refused at initialize with 403.
	AllowedWebhookHosts []string
	// AllowLoopback also allows loopback webhook hosts (development).
	// Deliveries connect only to public addresses, checked after name
	// resolution, plus loopback ones with AllowLoopback and private and
	// link-local ones with AllowPrivate (see [webhook.AddressPolicy]).
	AllowLoopback bool
	// AllowPrivate lets deliveries connect to private, shared and
	// link-local addresses.
	AllowPrivate bool
	// Retries, Timeout and RetryBackoff configure delivery as in
	// [webhook.Sender]: zero means the webhook package defaults (4
	// retries, 10s per attempt, backoff from 250ms); negative Retries
	// means none.
	Retries      int
	Timeout      time.Duration
	RetryBackoff time.Duration
	// WebhookClient makes the deliveries; nil means a pooled client.
	// Redirects are never followed.
	WebhookClient *http.Client
	// HTTP configures the Streamable HTTP front (sessions, auth, CORS,
	// limits). Its Admit, Divert and Deliver hooks are set by the Server.
	HTTP httpfront.Options
	// Logger receives log lines; nil means slog.Default().
	Logger *slog.Logger
}

// A Server is the server side of the StreamableHTTP+webhook transport: a
// Streamable HTTP front ([httpfront.Server], routes /mcp and
// /servers/NAME/mcp) whose WebhookTools answer by webhook. Create it with
// [NewServer], add MCP servers with [Server.Handle], serve it as an
// [http.Handler], and stop it with [Server.Close].
type Server struct {
	front  *httpfront.Server
	opts   ServerOptions
	tools  map[string]bool
	sender *webhook.Sender
	log    *slog.Logger
}

// session is what the Server keeps about a session with a webhook.
type session struct {
	url    string
	secret string
}

// NewServer returns a Server. listenAddr is the address it will be served
// on; for a loopback address the front applies DNS-rebinding protection.
func NewServer(listenAddr string, opts *ServerOptions) *Server {
	var o ServerOptions
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Server{opts: o, tools: map[string]bool{}, log: o.Logger}
	for _, t := range o.WebhookTools {
		if t = strings.TrimSpace(t); t != "" {
			s.tools[t] = true
		}
	}
	s.sender = &webhook.Sender{
		Retries:      o.Retries,
		Timeout:      o.Timeout,
		RetryBackoff: o.RetryBackoff,
		HTTPClient:   o.WebhookClient,
		Logger:       o.Logger,
		Addresses:    webhook.NewAddressPolicy(o.AllowedWebhookHosts, o.AllowLoopback, o.AllowPrivate),
	}
	fo := o.HTTP
	if fo.Logger == nil {
		fo.Logger = o.Logger
	}
	fo.Admit = s.admit
	fo.Divert = s.divert
	fo.Deliver = s.deliver
	s.front = httpfront.New(listenAddr, fo)
	return s
}

// Handle makes an MCP server reachable at /mcp (name "") or
// /servers/NAME/mcp, with a back connection from d per session; see
// [httpfront.Server.Handle].
func (s *Server) Handle(name string, d bridge.Dialer, status httpfront.StatusFunc) {
	s.front.Handle(name, d, status)
}

// ServeHTTP serves the Streamable HTTP endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.front.ServeHTTP(w, r) }

// Close ends every session and stops their back connections. Deliveries
// still being retried are abandoned.
func (s *Server) Close() error { return s.front.Close() }

// admit checks the webhook URL of a new session and picks its secret. A
// session without a webhook URL is plain Streamable HTTP.
func (s *Server) admit(h http.Header, params json.RawMessage) (httpfront.Admission, error) {
	u := webhook.InitializeWebhookURL(params)
	if u == "" {
		u = strings.TrimSpace(h.Get(HeaderWebhookURL))
	}
	if u == "" {
		return httpfront.Admission{}, nil
	}
	if status, err := webhook.CheckWebhookURL(u, s.opts.AllowedWebhookHosts, s.opts.AllowLoopback); err != nil {
		return httpfront.Admission{}, &httpfront.AdmitError{Status: status, Err: err}
	}
	sess := &session{url: u, secret: s.opts.Secret}
	var hdr http.Header
	if sess.secret == "" {
		sess.secret = webhook.GenerateSecret()
		hdr = http.Header{HeaderWebhookSecret: {sess.secret}}
	}
	return httpfront.Admission{Header: hdr, Data: sess}, nil
}

// divert reports whether the response to req leaves by webhook.
func (s *Server) divert(info httpfront.SessionInfo, req *jsonrpc.Request) bool {
	if _, ok := info.Data.(*session); !ok || req.Method != "tools/call" {
		return false
	}
	return s.tools[toolName(req.Params)]
}

// deliver POSTs a diverted response to the session's webhook.
func (s *Server) deliver(ctx context.Context, info httpfront.SessionInfo, resp *jsonrpc.Response) error {
	sess, ok := info.Data.(*session)
	if !ok {
		return fmt.Errorf("session %s has no webhook", info.ID)
	}
	body, err := jsonrpc.EncodeMessage(resp)
	if err != nil {
		return fmt.Errorf("encoding response %v of session %s: %w", resp.ID.Raw(), info.ID, err)
	}
	h := http.Header{}
	h.Set(HeaderSessionID, info.ID)
	h.Set(webhook.HeaderRequestID, webhook.RequestIDText(resp.ID))
	attempts, err := s.sender.Deliver(ctx, sess.url, sess.secret, h, body)
	if err != nil {
		s.log.Warn("hybrid: webhook delivery failed; falling back to the session stream",
			"session", info.ID, "request_id", webhook.RequestIDText(resp.ID), "url", sess.url, "attempts", attempts, "err", err)
		return fmt.Errorf("delivering response %s of session %s to %s after %d attempts: %w", webhook.RequestIDText(resp.ID), info.ID, sess.url, attempts, err)
	}
	s.log.Debug("hybrid: delivered by webhook", "session", info.ID, "request_id", webhook.RequestIDText(resp.ID), "attempts", attempts)
	return nil
}
