// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/httplimit"
	"github.com/asyncmcp/asyncmcp-go/stdio"
	"github.com/asyncmcp/asyncmcp-go/webhook"
)

const serveUsage = `Usage:
  asyncmcp serve --transport sqs --queue-url URL [options] -- COMMAND [ARGS...]
  asyncmcp serve --transport sns-sqs --queue-url URL [options] -- COMMAND [ARGS...]
  asyncmcp serve --transport webhook --listen ADDR [options] -- COMMAND [ARGS...]
  asyncmcp serve --transport hybrid --listen ADDR --webhook-tools a,b [options] -- COMMAND [ARGS...]

Puts any stdio MCP server behind an asynchronous transport, with no code:
each client session gets its own child process, stopped when the session
ends (explicitly, or after --idle-timeout).

AWS access uses the SDK's default chain: AWS_REGION, AWS_ENDPOINT_URL,
AWS_PROFILE, instance and container roles.

Examples:
  asyncmcp serve --transport sqs --queue-url http://127.0.0.1:4566/000000000000/mcp-requests -- go run ./examples/echo-server
  asyncmcp serve --transport webhook --listen 127.0.0.1:8000 --allow-webhook-host localhost -- uvx mcp-server-fetch
`

var serveGroups = []string{"Transport", "Queues (sqs, sns-sqs)", "Webhooks (webhook, hybrid)", "Child process", "Operations", "Logging"}

type serveOptions struct {
	transport   string
	queue       queueFlags
	hook        webhookServerFlags
	child       childFlags
	statusAddr  string
	maxChildren int
	tlsCert     string
	tlsKey      string
	tlsConf     *tls.Config // from tlsCert and tlsKey
	log         logOptions
}

// childFlags configure the child process started per session.
type childFlags struct {
	env       [][2]string
	cwd       string
	passEnv   bool
	terminate time.Duration
	poolSize  int
}

func (c *childFlags) register(fs *flagSet, g string) {
	fs.pairVar(&c.env, []string{"-e", "--env"}, "KEY VALUE", g, "set an environment variable for the child (repeatable)")
	fs.stringVar(&c.cwd, []string{"--cwd"}, "DIR", g, "working directory of the child")
	fs.boolVar(&c.passEnv, "--pass-environment", "--no-pass-environment", g, "give the child this process's whole environment (default off)")
	fs.durationVar(&c.terminate, []string{"--terminate-timeout"}, g, "wait this long after closing stdin, then after SIGTERM, before escalating (default 5s)")
	fs.intVar(&c.poolSize, []string{"--pool-size"}, "N", g, poolSizeHelp)
}

// poolSizeHelp documents --pool-size for proxy and serve.
const poolSizeHelp = "children shared by all 2026-07-28 (stateless) requests, if the server speaks that revision (or set ASYNCMCP_POOL_SIZE; default 2)"

// poolSizeFromEnv checks --pool-size, falling back to ASYNCMCP_POOL_SIZE
// when the flag is not given.
func poolSizeFromEnv(n int) (int, error) {
	if n == 0 {
		if v := os.Getenv("ASYNCMCP_POOL_SIZE"); v != "" {
			var err error
			if n, err = strconv.Atoi(v); err != nil {
				return 0, usagef("ASYNCMCP_POOL_SIZE: want an integer, got %q", v)
			}
		}
	}
	if n < 0 {
		return 0, usagef("--pool-size: want a positive number, got %d", n)
	}
	return n, nil
}

func (c *childFlags) command(argv []string, log *slog.Logger) (*stdio.Command, error) {
	path, err := commandPath(argv[0])
	if err != nil {
		return nil, err
	}
	poolSize, err := poolSizeFromEnv(c.poolSize)
	if err != nil {
		return nil, err
	}
	var env []string
	for _, kv := range c.env {
		env = append(env, kv[0]+"="+kv[1])
	}
	return &stdio.Command{Path: path, Args: argv[1:], Env: env, Dir: c.cwd, PassEnvironment: c.passEnv, TerminateTimeout: c.terminate, PoolSize: poolSize, Logger: log}, nil
}

// webhookServerFlags configure the server side of the webhook transports.
type webhookServerFlags struct {
	listen        string
	path          string
	secret        string
	allowHosts    []string
	allowLoopback bool
	maxSessions   int
	retries       int
	webhookTools  string
	guard         httpGuardFlags
}

// httpGuardFlags are the checks of a served HTTP endpoint, as in proxy.
type httpGuardFlags struct {
	authToken    string
	allowedHosts []string
	noHostCheck  bool
	allowOrigins []string
	allowPrivate bool
}

func (w *webhookServerFlags) register(fs *flagSet, g string) {
	fs.stringVar(&w.listen, []string{"--listen"}, "ADDR", g, "address to serve on, e.g. 127.0.0.1:8000 (default from PORT and HOST in the environment)")
	fs.stringVar(&w.path, []string{"--path"}, "PATH", g, "path of the endpoint (default /mcp/request for webhook, /mcp for hybrid)")
	fs.stringVar(&w.secret, []string{"--webhook-secret"}, "SECRET", g, "sign deliveries with this shared secret (default: a fresh secret per session, sent to the client at initialize)")
	fs.listVar(&w.allowHosts, []string{"--allow-webhook-host"}, "HOST", g, "deliver only to webhook URLs on HOST (repeatable; host, host:port, *.example.com or *)")
	fs.boolVar(&w.allowLoopback, "--allow-loopback-webhooks", "", g, "also deliver to localhost and loopback addresses (development)")
	fs.intVar(&w.maxSessions, []string{"--max-sessions"}, "N", g, "any transport: most concurrent sessions, else 503 (queues: error -32014) (default 1000)")
	fs.intVar(&w.retries, []string{"--webhook-retries"}, "N", g, "retries of a failed delivery, with exponential backoff (default 4)")
	fs.stringVar(&w.webhookTools, []string{"--webhook-tools"}, "a,b", g, "hybrid: tools whose results are delivered by webhook")
	fs.boolVar(&w.guard.allowPrivate, "--allow-private-webhooks", "", g, "also deliver to private and link-local addresses (10/8, 192.168/16, 169.254/16, ...); they are refused after name resolution otherwise")
	fs.stringVar(&w.guard.authToken, []string{"--auth-token"}, "TOKEN", g, "require 'Authorization: Bearer TOKEN' from clients (or set ASYNCMCP_AUTH_TOKEN)")
	fs.listVar(&w.guard.allowedHosts, []string{"--allowed-host"}, "HOST", g, "Host header accepted (repeatable): besides loopback names on a loopback --listen, the only ones otherwise")
	fs.boolVar(&w.guard.noHostCheck, "--no-host-check", "", g, "turn off Host checks (DNS-rebinding protection)")
	fs.listVar(&w.guard.allowOrigins, []string{"--allow-origin"}, "ORIGIN", g, "allow browser requests from ORIGIN (repeatable; \"*\" for any)")
}

func (w *webhookServerFlags) options(log *slog.Logger) *webhook.ServerOptions {
	return &webhook.ServerOptions{
		MaxSessions:         w.maxSessions,
		Secret:              w.secret,
		AllowedWebhookHosts: w.allowHosts,
		AllowLoopback:       w.allowLoopback,
		Retries:             w.retries,
		Logger:              log,
		AllowPrivate:        w.guard.allowPrivate,
		AuthToken:           w.guard.token(),
		ListenAddr:          w.listen,
		AllowedHosts:        w.guard.allowedHosts,
		DisableHostCheck:    w.guard.noHostCheck,
		AllowOrigins:        w.guard.allowOrigins,
	}
}

// token returns --auth-token, else $ASYNCMCP_AUTH_TOKEN.
func (g *httpGuardFlags) token() string {
	if g.authToken != "" {
		return g.authToken
	}
	return os.Getenv("ASYNCMCP_AUTH_TOKEN")
}

func (o *serveOptions) flags() *flagSet {
	fs := &flagSet{}
	fs.stringVar(&o.transport, []string{"--transport"}, "KIND", serveGroups[0], "sqs, sns-sqs, webhook or hybrid")
	o.queue.registerServer(fs, serveGroups[1])
	o.hook.register(fs, serveGroups[2])
	o.child.register(fs, serveGroups[3])
	fs.stringVar(&o.statusAddr, []string{"--status-addr"}, "ADDR", serveGroups[4], "serve /status (JSON health, 503 when the back is down) and /metrics (Prometheus) on ADDR, e.g. 127.0.0.1:9090 (or set ASYNCMCP_STATUS_ADDR)")
	fs.stringVar(&o.tlsCert, []string{"--tls-cert"}, "FILE", serveGroups[4], "serve HTTPS with this PEM certificate (chain) on --listen (webhook, hybrid) and --status-addr; needs --tls-key")
	fs.stringVar(&o.tlsKey, []string{"--tls-key"}, "FILE", serveGroups[4], "PEM private key of --tls-cert")
	fs.intVar(&o.maxChildren, []string{"--max-children"}, "N", serveGroups[4], "most child processes at once (sessions and the --pool-size pool), else the session's requests get an error (default 100; negative: no cap)")
	o.log.register(fs, serveGroups[5])
	return fs
}

func runServe(ctx context.Context, args []string, stdin io.ReadCloser, stdout io.WriteCloser, stderr io.Writer) error {
	o := &serveOptions{}
	fs := o.flags()
	rest, err := fs.parseCommand(args, serveUsage, serveGroups, stdout)
	if err != nil {
		return err
	}
	log, err := o.log.logger(stderr)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usagef("give the MCP server command after the options, e.g. -- go run ./examples/echo-server")
	}
	if err := refuseMistakenCommand(rest, fs.sawDashDash); err != nil {
		return err
	}
	if o.statusAddr == "" {
		o.statusAddr = os.Getenv("ASYNCMCP_STATUS_ADDR")
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	if o.tlsConf, err = loadTLS(o.tlsCert, o.tlsKey); err != nil {
		return err
	}
	child, err := o.child.command(rest, log.With("server", filepath.Base(rest[0])))
	if err != nil {
		return err
	}
	cmd := instrument("", child, child, newChildLimit(o.maxChildren))
	st := &serveStatus{transport: strings.ToLower(o.transport), back: backOf(cmd)}
	defer child.Close()
	switch strings.ToLower(o.transport) {
	case "sqs", "sns-sqs", "sns_sqs", "snssqs":
		o.queue.maxSessions = o.hook.maxSessions
		// Stateless (2026-07-28) requests are served by the child command
		// when it can serve them (a pool of shared modern children), by
		// whichever serve process reads them.
		o.queue.roundTripper, _ = any(cmd).(bridge.RoundTripper)
		l, err := o.queue.listener(ctx, strings.ToLower(o.transport), log)
		if err != nil {
			return err
		}
		st.queueURL = o.queue.queueURL
		stopStatus, err := st.start(o.statusAddr, o.tlsConf, stdout, log)
		if err != nil {
			l.Close()
			return err
		}
		defer stopStatus()
		fmt.Fprintf(stdout, "asyncmcp: serving %s on %s\n", o.transport, o.queue.queueURL)
		return bridge.Serve(ctx, l, cmd, &bridge.Options{Logger: log})
	case "webhook":
		if o.hook.listen == "" {
			o.hook.listen = listenFromEnv()
		}
		if o.hook.listen == "" {
			return usagef("--transport webhook needs --listen ADDR (or PORT and HOST in the environment)")
		}
		opts := o.hook.options(log)
		opts.IdleTimeout = o.queue.idleTimeout
		opts.RoundTripper, _ = any(cmd).(bridge.RoundTripper)
		opts.ListenTimeout = o.queue.listenTimeout
		srv := webhook.NewServer(opts)
		path := o.hook.path
		if path == "" {
			path = webhook.DefaultPath
		}
		mux := http.NewServeMux()
		mux.Handle(path, srv)
		st.webhook = true
		stopStatus, err := st.start(o.statusAddr, o.tlsConf, stdout, log)
		if err != nil {
			srv.Close()
			return err
		}
		defer stopStatus()
		return serveListener(ctx, o.hook.listen, o.tlsConf, path, mux, srv, cmd, stdout, log)
	case "hybrid":
		st.webhook = true
		stopStatus, err := st.start(o.statusAddr, o.tlsConf, stdout, log)
		if err != nil {
			return err
		}
		defer stopStatus()
		return o.serveHybrid(ctx, cmd, backOf(cmd), stdout, log)
	case "":
		return usagef("--transport is required: sqs, sns-sqs, webhook or hybrid")
	}
	return usagef("--transport: want sqs, sns-sqs, webhook or hybrid, got %q", o.transport)
}

// serveListener serves handler on addr (HTTPS when tlsConf is not nil) and
// bridges the sessions of l to children of cmd until ctx is done.
func serveListener(ctx context.Context, addr string, tlsConf *tls.Config, path string, handler http.Handler, l bridge.Listener, d bridge.Dialer, stdout io.Writer, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	hs := httplimit.Server(handler, log)
	hs.ConnState = countClients
	errc := make(chan error, 1)
	go func() { errc <- serveMaybeTLS(hs, ln, tlsConf) }()
	fmt.Fprintf(stdout, "asyncmcp: serving %s://%s%s\n", scheme(tlsConf), ln.Addr(), path)
	fmt.Fprintf(stdout, "asyncmcp: listening on %s://%s\n", scheme(tlsConf), ln.Addr())
	serveCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- bridge.Serve(serveCtx, l, d, &bridge.Options{Logger: log}) }()
	var result error
	select {
	case err := <-errc:
		result = fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
		log.Info("shutting down")
	}
	cancel()
	<-done
	stopHTTP(hs)
	return result
}
