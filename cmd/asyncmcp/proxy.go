// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/httpfront"
	"github.com/asyncmcp/asyncmcp-go/remote"
	"github.com/asyncmcp/asyncmcp-go/stdio"
)

const proxyUsage = `Usage:
  asyncmcp proxy [options] [--] COMMAND [ARGS...]
      Serve a stdio MCP server over Streamable HTTP (/mcp) and SSE (/sse),
      one child process per client session.
  asyncmcp proxy [options] --named-server NAME 'COMMAND' ...
  asyncmcp proxy [options] --named-server-config FILE
      Serve several stdio servers at /servers/NAME/mcp and /servers/NAME/sse.
  asyncmcp proxy [--transport streamablehttp|sse] [-H KEY VALUE]... URL
      Let a stdio-only MCP client (Claude Desktop, ...) reach a remote server.
  asyncmcp proxy --backend sqs|sns-sqs|webhook|hybrid [--stdio] [options]
      Let standard MCP clients reach a server behind an asynchronous transport.

Examples:
  asyncmcp proxy --port 8080 -- npx -y @modelcontextprotocol/server-everything
  asyncmcp proxy --port 8080 --auth-token s3cret -e DEBUG 1 -- python server.py
  asyncmcp proxy --named-server fetch 'uvx mcp-server-fetch' --named-server time 'uvx mcp-server-time'
  asyncmcp proxy --transport streamablehttp -H X-Team blue https://example.com/mcp
`

var proxyGroups = []string{"HTTP server (serving a command or a backend)", "Child process", "Remote server (URL mode)", "Asynchronous backend", "Logging"}

type proxyOptions struct {
	// HTTP server
	host, port      string
	allowOrigins    []string
	exposeHeaders   []string
	allowedHosts    []string
	stateless       bool
	authToken       string
	maxBody         int
	maxSessions     int
	sessionTimeout  time.Duration
	noHostCheck     bool
	namedServers    [][2]string
	namedConfigFile string
	// child
	env       [][2]string
	cwd       string
	passEnv   bool
	terminate time.Duration
	// remote
	transport string
	headers   [][2]string
	caBundle  string
	noVerify  bool
	// backend
	backend backendOptions
	stdio   bool

	log logOptions
}

func (o *proxyOptions) flags() *flagSet {
	fs := &flagSet{}
	g := proxyGroups[0]
	fs.stringVar(&o.host, []string{"--host"}, "HOST", g, "address to listen on (or set ASYNCMCP_HOST or HOST; default 127.0.0.1)")
	fs.stringVar(&o.port, []string{"--port"}, "PORT", g, "port to listen on; 0 picks a free port (or set ASYNCMCP_PORT or PORT; default 0)")
	fs.listVar(&o.allowOrigins, []string{"--allow-origin"}, "ORIGIN", g, "allow browser requests from ORIGIN (repeatable; \"*\" for any); CORS is off by default")
	fs.listVar(&o.exposeHeaders, []string{"--expose-header"}, "HEADER", g, "response header browsers may read (repeatable; default Mcp-Session-Id)")
	fs.listVar(&o.allowedHosts, []string{"--allowed-host"}, "HOST", g, "extra Host header value accepted on a loopback listener (repeatable)")
	fs.boolVar(&o.noHostCheck, "--no-host-check", "", g, "turn off DNS-rebinding protection (Host checks) on loopback listeners")
	fs.boolVar(&o.stateless, "--stateless", "--no-stateless", g, "serve Streamable HTTP without sessions (one child per request)")
	fs.stringVar(&o.authToken, []string{"--auth-token"}, "TOKEN", g, "require 'Authorization: Bearer TOKEN' (or set ASYNCMCP_AUTH_TOKEN)")
	fs.intVar(&o.maxBody, []string{"--max-body-bytes"}, "N", g, "largest request body accepted, else 413 (default 10485760)")
	fs.intVar(&o.maxSessions, []string{"--max-sessions"}, "N", g, "most sessions open per server, else 503 (default 1000)")
	fs.durationVar(&o.sessionTimeout, []string{"--session-timeout"}, g, "close sessions idle this long; 0 = 30m, negative = never")
	fs.pairVar(&o.namedServers, []string{"--named-server"}, "NAME 'COMMAND'", g, "serve COMMAND at /servers/NAME/ (repeatable)")
	fs.stringVar(&o.namedConfigFile, []string{"--named-server-config"}, "FILE", g, "JSON file of servers in Claude Desktop's mcpServers format")
	g = proxyGroups[1]
	fs.pairVar(&o.env, []string{"-e", "--env"}, "KEY VALUE", g, "set an environment variable for the child (repeatable)")
	fs.stringVar(&o.cwd, []string{"--cwd"}, "DIR", g, "working directory of the child")
	fs.boolVar(&o.passEnv, "--pass-environment", "--no-pass-environment", g, "give the child this process's whole environment (default off)")
	fs.durationVar(&o.terminate, []string{"--terminate-timeout"}, g, "wait this long after closing stdin, then after SIGTERM, before escalating (default 5s)")
	g = proxyGroups[2]
	fs.stringVar(&o.transport, []string{"--transport"}, "KIND", g, "streamablehttp or sse (default: sse if the URL path ends in /sse, else streamablehttp)")
	fs.pairVar(&o.headers, []string{"-H", "--headers", "--header"}, "KEY VALUE", g, "send a header to the remote server (repeatable); API_ACCESS_TOKEN sets Authorization")
	fs.stringVar(&o.caBundle, []string{"--ca-bundle"}, "FILE", g, "verify the server's TLS certificate with this PEM bundle")
	fs.boolVar(&o.noVerify, "--no-verify-ssl", "--verify-ssl", g, "do not verify the server's TLS certificate (insecure)")
	g = proxyGroups[3]
	o.backend.register(fs, g)
	fs.boolVar(&o.stdio, "--stdio", "", g, "with --backend: serve one client on stdin/stdout instead of HTTP")
	o.log.register(fs, proxyGroups[4])
	return fs
}

func runProxy(ctx context.Context, args []string, stdin io.ReadCloser, stdout io.WriteCloser, stderr io.Writer) error {
	o := &proxyOptions{}
	fs := o.flags()
	rest, err := fs.parseCommand(args, proxyUsage, proxyGroups, stdout)
	if err != nil {
		return err
	}
	log, err := o.log.logger(stderr)
	if err != nil {
		return err
	}
	if o.host == "" {
		o.host = envHost()
	}
	portFrom := "--port"
	if o.port == "" {
		if o.port = envPort(); o.port != "" {
			portFrom = "the environment (ASYNCMCP_PORT or PORT)"
		}
	}
	if o.port != "" && !validPort(o.port) {
		return usagef("%s: want a port number from 0 to 65535, got %q", portFrom, o.port)
	}
	if o.authToken == "" {
		o.authToken = os.Getenv("ASYNCMCP_AUTH_TOKEN")
	}
	o.backend.fromEnv()

	switch {
	case o.backend.kind != "":
		if len(rest) > 0 {
			return usagef("--backend takes no command or URL (got %q)", rest[0])
		}
		d, closeBack, err := o.backend.dialer(ctx, log)
		if err != nil {
			return err
		}
		defer closeBack()
		if o.stdio {
			return serveStdio(ctx, d, stdin, stdout, log)
		}
		return o.serveHTTP(ctx, stdout, log, map[string]namedBack{"": {dialer: d}})
	case len(rest) > 0 && (strings.HasPrefix(rest[0], "http://") || strings.HasPrefix(rest[0], "https://")):
		if len(rest) > 1 {
			return usagef("unexpected arguments after URL: %q", rest[1:])
		}
		d, err := o.remoteDialer(rest[0], log)
		if err != nil {
			return err
		}
		return serveStdio(ctx, d, stdin, stdout, log)
	}

	backs := map[string]namedBack{}
	if len(rest) > 0 {
		path, err := commandPath(rest[0])
		if err != nil {
			return err
		}
		backs[""] = o.childBack(path, rest[1:], o.envList(), o.cwd, log.With("server", ""))
	}
	named, err := o.namedBacks(log)
	if err != nil {
		return err
	}
	for k, v := range named {
		backs[k] = v
	}
	if len(backs) == 0 {
		return usagef("nothing to serve: give a COMMAND, a URL, --named-server, --named-server-config or --backend")
	}
	return o.serveHTTP(ctx, stdout, log, backs)
}

// namedBack is one server to expose over HTTP.
type namedBack struct {
	dialer bridge.Dialer
	status httpfront.StatusFunc
}

func (o *proxyOptions) envList() []string {
	var env []string
	for _, kv := range o.env {
		env = append(env, kv[0]+"="+kv[1])
	}
	return env
}

func (o *proxyOptions) childBack(path string, args, env []string, dir string, log *slog.Logger) namedBack {
	c := &stdio.Command{Path: path, Args: args, Env: env, Dir: dir, PassEnvironment: o.passEnv, TerminateTimeout: o.terminate, Logger: log}
	return namedBack{dialer: c, status: func() (bool, any) {
		st := c.Status()
		return !st.Crashing, st
	}}
}

// serverConfig is one entry of a Claude Desktop style mcpServers file.
type serverConfig struct {
	Command  string            `json:"command"`
	Args     []string          `json:"args"`
	Env      map[string]string `json:"env"`
	Cwd      string            `json:"cwd"`
	Enabled  *bool             `json:"enabled"`
	Disabled bool              `json:"disabled"`
}

func (o *proxyOptions) namedBacks(log *slog.Logger) (map[string]namedBack, error) {
	backs := map[string]namedBack{}
	add := func(name string, argv []string, env []string, dir string) error {
		if name == "" || strings.ContainsAny(name, "/?#% ") {
			return usagef("server name %q must be non-empty and contain no '/', '?', '#', '%%' or spaces", name)
		}
		if _, dup := backs[name]; dup {
			return usagef("server name %q given twice", name)
		}
		if len(argv) == 0 {
			return usagef("server %q has no command", name)
		}
		path, err := commandPath(argv[0])
		if err != nil {
			return fmt.Errorf("server %q: %w", name, err)
		}
		backs[name] = o.childBack(path, argv[1:], env, dir, log.With("server", name))
		return nil
	}
	if o.namedConfigFile != "" {
		data, err := os.ReadFile(o.namedConfigFile)
		if err != nil {
			return nil, fmt.Errorf("reading --named-server-config: %w", err)
		}
		var file struct {
			MCPServers map[string]serverConfig `json:"mcpServers"`
		}
		dec := json.NewDecoder(strings.NewReader(string(data)))
		if err := dec.Decode(&file); err != nil {
			return nil, fmt.Errorf("parsing --named-server-config %s: %w", o.namedConfigFile, err)
		}
		if file.MCPServers == nil {
			return nil, fmt.Errorf("parsing --named-server-config %s: no \"mcpServers\" object", o.namedConfigFile)
		}
		for _, name := range sortedKeys(file.MCPServers) {
			sc := file.MCPServers[name]
			if sc.Disabled || (sc.Enabled != nil && !*sc.Enabled) {
				log.Info("skipping disabled server", "server", name)
				continue
			}
			if sc.Command == "" {
				return nil, fmt.Errorf("--named-server-config %s: server %q has no \"command\"", o.namedConfigFile, name)
			}
			var env []string
			for _, k := range sortedKeys(sc.Env) {
				env = append(env, k+"="+sc.Env[k])
			}
			if err := add(name, append([]string{sc.Command}, sc.Args...), env, sc.Cwd); err != nil {
				return nil, err
			}
		}
		if len(o.namedServers) > 0 {
			log.Warn("--named-server is ignored when --named-server-config is given")
		}
		return backs, nil
	}
	for _, ns := range o.namedServers {
		argv, err := splitCommand(ns[1])
		if err != nil {
			return nil, usagef("--named-server %s: %v", ns[0], err)
		}
		if err := add(ns[0], argv, o.envList(), o.cwd); err != nil {
			return nil, err
		}
	}
	return backs, nil
}

func (o *proxyOptions) remoteDialer(rawURL string, log *slog.Logger) (bridge.Dialer, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, usagef("invalid URL %q", rawURL)
	}
	h := http.Header{}
	for _, kv := range o.headers {
		h.Add(kv[0], kv[1])
	}
	if tok := os.Getenv("API_ACCESS_TOKEN"); tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	hc, err := remote.HTTPClient(h, o.caBundle, o.noVerify)
	if err != nil {
		return nil, err
	}
	kind := o.transport
	if kind == "" {
		kind = "streamablehttp"
		if strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/sse") {
			kind = "sse"
		}
	}
	switch strings.ToLower(kind) {
	case "streamablehttp", "streamable-http", "http":
		return &remote.Streamable{URL: rawURL, HTTPClient: hc, Logger: log}, nil
	case "sse":
		return &remote.SSE{URL: rawURL, HTTPClient: hc}, nil
	}
	return nil, usagef("--transport: want streamablehttp or sse, got %q", o.transport)
}

// serveStdio bridges this process's stdin/stdout to one back session.
func serveStdio(ctx context.Context, d bridge.Dialer, stdin io.ReadCloser, stdout io.WriteCloser, log *slog.Logger) error {
	l := &stdio.Listener{Reader: stdin, Writer: stdout}
	front, err := l.Accept(ctx)
	if err != nil {
		return err
	}
	err = bridge.DialAndPump(ctx, front, d, &bridge.Options{Logger: log})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// serveHTTP serves the given backs until ctx is done, then shuts down:
// stop accepting, end sessions, stop children.
func (o *proxyOptions) serveHTTP(ctx context.Context, out io.Writer, log *slog.Logger, backs map[string]namedBack) error {
	host := o.host
	if host == "" {
		host = "127.0.0.1"
	}
	port := o.port
	if port == "" {
		port = "0"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return fmt.Errorf("listening on %s: %w", net.JoinHostPort(host, port), err)
	}
	front := httpfront.New(ln.Addr().String(), httpfront.Options{
		AuthToken:        o.authToken,
		AllowOrigins:     o.allowOrigins,
		ExposeHeaders:    o.exposeHeaders,
		AllowedHosts:     o.allowedHosts,
		DisableHostCheck: o.noHostCheck,
		Stateless:        o.stateless,
		MaxBodyBytes:     int64(o.maxBody),
		MaxSessions:      o.maxSessions,
		SessionTimeout:   o.sessionTimeout,
		Logger:           log,
	})
	for _, name := range sortedKeys(backs) {
		front.Handle(name, backs[name].dialer, backs[name].status)
	}
	srv := &http.Server{Handler: front, ReadHeaderTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	base := "http://" + ln.Addr().String()
	for _, name := range sortedKeys(backs) {
		prefix := ""
		if name != "" {
			prefix = "/servers/" + name
		}
		fmt.Fprintf(out, "asyncmcp: serving %s%s/mcp (Streamable HTTP) and %s%s/sse (SSE)\n", base, prefix, base, prefix)
	}
	fmt.Fprintf(out, "asyncmcp: listening on %s\n", base)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		front.Close()
		return fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	ln.Close() // stop accepting new connections at once
	front.Close()
	stopHTTP(srv)
	return nil
}

// stopHTTP waits briefly for requests in progress to finish, then closes
// every connection. (A connection that never sent a request would otherwise
// hold Shutdown for 5s.)
func stopHTTP(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if srv.Shutdown(ctx) != nil {
		srv.Close()
	}
}

// commandPath resolves a child command early, so a typo fails at start-up
// with a clear message rather than at the first session.
func commandPath(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("command %q not found: %w", name, err)
	}
	return p, nil
}
