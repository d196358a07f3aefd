// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/httpfront"
	"github.com/asyncmcp/asyncmcp-go/hybrid"
	"github.com/asyncmcp/asyncmcp-go/internal/httplimit"
)

// hybridDialer builds the client side of the StreamableHTTP+webhook
// transport: Streamable HTTP to --server-url, deliveries received on
// --webhook-listen; status reports whether --server-url answers and the
// deliveries received.
func (w *webhookClientFlags) hybridDialer(log *slog.Logger) (bridge.Dialer, func(), httpfront.StatusFunc, error) {
	if err := w.needServerURL("--backend hybrid needs --server-url URL (the server's Streamable HTTP endpoint, e.g. http://127.0.0.1:8000/mcp)"); err != nil {
		return nil, nil, nil, err
	}
	return w.receive("hybrid", http.DefaultTransport, log, func(webhookURL string, hc *http.Client) receivingClient {
		return hybrid.NewClient(&hybrid.ClientOptions{
			ServerURL:  w.serverURL,
			WebhookURL: webhookURL,
			Secret:     w.secret,
			HTTPClient: hc,
			Logger:     log,
		})
	})
}

// webhookToolList parses --webhook-tools a,b.
func (w *webhookServerFlags) webhookToolList() []string {
	var tools []string
	for _, t := range strings.Split(w.webhookTools, ",") {
		if t = strings.TrimSpace(t); t != "" {
			tools = append(tools, t)
		}
	}
	return tools
}

// serveHybrid serves cmd over Streamable HTTP at --listen, delivering the
// results of --webhook-tools by webhook, until ctx is done.
func (o *serveOptions) serveHybrid(ctx context.Context, cmd bridge.Dialer, back *backDialer, stdout io.Writer, log *slog.Logger) error {
	if o.hook.listen == "" {
		o.hook.listen = listenFromEnv()
	}
	if o.hook.listen == "" {
		return usagef("--transport hybrid needs --listen ADDR (or PORT and HOST in the environment)")
	}
	tools := o.hook.webhookToolList()
	if len(tools) == 0 {
		return usagef("--transport hybrid needs --webhook-tools a,b (the tools whose results go by webhook)")
	}
	path := o.hook.path
	if path == "" {
		path = "/mcp"
	}
	if !strings.HasPrefix(path, "/") {
		return usagef("--path must start with /, got %q", path)
	}
	ln, err := net.Listen("tcp", o.hook.listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", o.hook.listen, err)
	}
	srv := hybrid.NewServer(ln.Addr().String(), &hybrid.ServerOptions{
		WebhookTools:        tools,
		Secret:              o.hook.secret,
		AllowedWebhookHosts: o.hook.allowHosts,
		AllowLoopback:       o.hook.allowLoopback,
		AllowPrivate:        o.hook.guard.allowPrivate,
		Retries:             o.hook.retries,
		// Hybrid clients hold no stream between calls; --idle-timeout
		// alone decides when their sessions end.
		HTTP: httpfront.Options{MaxSessions: o.hook.maxSessions, SessionTimeout: o.queue.idleTimeout, IdleCloseTimeout: -1, Logger: log,
			AuthToken: o.hook.guard.token(), AllowedHosts: o.hook.guard.allowedHosts, DisableHostCheck: o.hook.guard.noHostCheck,
			AllowOrigins: o.hook.guard.allowOrigins},
		Logger: log,
	})
	srv.Handle("", cmd, func() (bool, any) { st := back.status(); return !st.Crashing, st })
	var handler http.Handler = srv
	if path != "/mcp" {
		// The front serves /mcp; expose it at the path asked for instead.
		mux := http.NewServeMux()
		mux.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/mcp"
			srv.ServeHTTP(w, r2)
		}))
		mux.Handle("/status", srv)
		handler = mux
	}
	hs := httplimit.Server(handler, log)
	hs.ConnState = countClients
	fmt.Fprintf(stdout, "asyncmcp: serving %s://%s%s (Streamable HTTP; by webhook: %s)\n", scheme(o.tlsConf), ln.Addr(), path, strings.Join(tools, ", "))
	fmt.Fprintf(stdout, "asyncmcp: listening on %s://%s\n", scheme(o.tlsConf), ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- serveMaybeTLS(hs, ln, o.tlsConf) }()
	var result error
	select {
	case err := <-errc:
		result = fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
		log.Info("shutting down")
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	go hs.Shutdown(shutdownCtx) // stop accepting; SSE handlers end when sessions close
	srv.Close()
	hs.Shutdown(shutdownCtx)
	return result
}
