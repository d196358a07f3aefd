// SPDX-License-Identifier: Apache-2.0

package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
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
	"github.com/asyncmcp/asyncmcp-go/internal/httplimit"
	"github.com/asyncmcp/asyncmcp-go/remote"
	"github.com/asyncmcp/asyncmcp-go/stdio"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const proxyUsage = `Usage:
  asyncmcp proxy [options] [--] COMMAND [ARGS...]
      Serve a stdio MCP server over Streamable HTTP (/mcp) and SSE (/sse),
      one child process per client session.
  asyncmcp proxy [options] --named-server NAME 'COMMAND' ...
  asyncmcp proxy [options] --named-server-config FILE
      Serve several stdio servers at /servers/NAME/mcp and /servers/NAME/sse.
  asyncmcp proxy [--transport streamablehttp|sse] [-H KEY VALUE]... URL
      Let a stdio-only MCP client (Claude Desktop, ...) reach a remote server
      (protocol 2026-07-28 requests go as session-less POSTs, concurrently).
  asyncmcp proxy --backend sqs|sns-sqs|webhook|hybrid [--stdio] [options]
      Let standard MCP clients reach a server behind an asynchronous transport.

Examples:
  asyncmcp proxy --port 8080 -- npx -y @modelcontextprotocol/server-everything
  asyncmcp proxy --port 8080 --auth-token s3cret -e DEBUG 1 -- python server.py
  asyncmcp proxy --named-server fetch 'uvx mcp-server-fetch' --named-server time 'uvx mcp-server-time'
  asyncmcp proxy --transport streamablehttp -H X-Team blue https://example.com/mcp
`

var proxyGroups = []string{"HTTP server (serving a command or a backend)", "Child process", "Remote server (URL mode)", "Asynchronous backend", tasksGroup, "Logging"}

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
	idleClose       time.Duration
	maxChildren     int
	metricsPath     string
	tlsCert         string
	tlsKey          string
	// child
	env       [][2]string
	cwd       string
	passEnv   bool
	terminate time.Duration
	poolSize  int
	commands  []*stdio.Command // children started, stopped on exit
	// remote
	transport string
	headers   [][2]string
	caBundle  string
	noVerify  bool
	// backend
	backend backendOptions
	stdio   bool
	// tasks
	tasks taskFlags
	ts    *taskSet // open while serving; nil with --tasks off

	log logOptions

	limit *childLimit // shared by every server's children
	backs backSet     // every instrumented back, for the memory gauge
}

func (o *proxyOptions) flags() *flagSet {
	fs := &flagSet{}
	g := proxyGroups[0]
	fs.stringVar(&o.host, []string{"--host", "--sse-host"}, "HOST", g, "address to listen on (or set ASYNCMCP_HOST or HOST; default 127.0.0.1)")
	fs.stringVar(&o.port, []string{"--port", "--sse-port"}, "PORT", g, "port to listen on; 0 picks a free port (or set ASYNCMCP_PORT or PORT; default 0)")
	fs.listVar(&o.allowOrigins, []string{"--allow-origin"}, "ORIGIN", g, "allow browser requests from ORIGIN (repeatable; \"*\" for any); CORS is off by default")
	fs.listVar(&o.exposeHeaders, []string{"--expose-header"}, "HEADER", g, "response header browsers may read (repeatable; default Mcp-Session-Id)")
	fs.listVar(&o.allowedHosts, []string{"--allowed-host"}, "HOST", g, "Host header accepted (repeatable): besides loopback names on a loopback listener, the only ones on any other")
	fs.boolVar(&o.noHostCheck, "--no-host-check", "", g, "turn off DNS-rebinding protection (Host checks) on loopback listeners")
	fs.boolVar(&o.stateless, "--stateless", "--no-stateless", g, "serve Streamable HTTP without sessions (one child per request)")
	fs.stringVar(&o.authToken, []string{"--auth-token"}, "TOKEN", g, "require 'Authorization: Bearer TOKEN' (or set ASYNCMCP_AUTH_TOKEN)")
	fs.intVar(&o.maxBody, []string{"--max-body-bytes"}, "N", g, "largest request body accepted, else 413 (default 10485760)")
	fs.intVar(&o.maxSessions, []string{"--max-sessions"}, "N", g, "most sessions open per server, else 503 (default 1000)")
	fs.durationVar(&o.sessionTimeout, []string{"--session-timeout"}, g, "close sessions with no attached stream this long; 0 = 30m, negative = never")
	fs.durationVar(&o.idleClose, []string{"--idle-close"}, g, "close sooner sessions with no attached stream and no request in flight; 0 = 2m, negative = never")
	fs.intVar(&o.maxChildren, []string{"--max-children"}, "N", g, "most child processes at once across all servers (sessions and --pool-size pools), else 503 (default 100; negative: no cap)")
	fs.stringVar(&o.metricsPath, []string{"--metrics-path"}, "PATH", g, "serve Prometheus metrics at PATH on this listener, e.g. /metrics (default off)")
	fs.stringVar(&o.tlsCert, []string{"--tls-cert"}, "FILE", g, "serve HTTPS with this PEM certificate (chain); needs --tls-key")
	fs.stringVar(&o.tlsKey, []string{"--tls-key"}, "FILE", g, "PEM private key of --tls-cert")
	fs.pairVar(&o.namedServers, []string{"--named-server"}, "NAME 'COMMAND'", g, "serve COMMAND at /servers/NAME/ (repeatable)")
	fs.stringVar(&o.namedConfigFile, []string{"--named-server-config"}, "FILE", g, "JSON file of servers in Claude Desktop's mcpServers format")
	g = proxyGroups[1]
	fs.pairVar(&o.env, []string{"-e", "--env"}, "KEY VALUE", g, "set an environment variable for the child (repeatable)")
	fs.stringVar(&o.cwd, []string{"--cwd"}, "DIR", g, "working directory of the child")
	fs.boolVar(&o.passEnv, "--pass-environment", "--no-pass-environment", g, "give the child this process's whole environment (default off)")
	fs.durationVar(&o.terminate, []string{"--terminate-timeout"}, g, "wait this long after closing stdin, then after SIGTERM, before escalating (default 5s)")
	fs.intVar(&o.poolSize, []string{"--pool-size"}, "N", g, poolSizeHelp)
	g = proxyGroups[2]
	fs.stringVar(&o.transport, []string{"--transport"}, "KIND", g, "streamablehttp or sse (default: sse if the URL path ends in /sse, else streamablehttp)")
	fs.pairVar(&o.headers, []string{"-H", "--headers", "--header"}, "KEY VALUE", g, "send a header to the remote server (repeatable); API_ACCESS_TOKEN sets Authorization")
	fs.stringVar(&o.caBundle, []string{"--ca-bundle"}, "FILE", g, "verify the server's TLS certificate with this PEM bundle")
	fs.boolVar(&o.noVerify, "--no-verify-ssl", "", g, "do not verify the server's TLS certificate (insecure)")
	fs.add(&flagSpec{names: []string{"--verify-ssl"}, nargs: 1, optional: isVerifyValue, meta: "[true|false|FILE]", group: g,
		help: "verify the server's TLS certificate (default); false = --no-verify-ssl; FILE = --ca-bundle FILE",
		set:  o.setVerifySSL})
	g = proxyGroups[3]
	o.backend.register(fs, g)
	fs.boolVar(&o.stdio, "--stdio", "", g, "with --backend: serve one client on stdin/stdout instead of HTTP")
	o.tasks.register(fs, proxyGroups[4])
	o.log.register(fs, proxyGroups[5])
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
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	if o.metricsPath != "" && !strings.HasPrefix(o.metricsPath, "/") {
		return usagef("--metrics-path must start with /, got %q", o.metricsPath)
	}
	if err := refuseMistakenCommand(rest, fs.sawDashDash); err != nil {
		return err
	}
	o.limit = newChildLimit(o.maxChildren)
	o.backend.fromEnv()
	if o.poolSize, err = poolSizeFromEnv(o.poolSize); err != nil {
		return err
	}
	defer o.closeCommands()
	if o.backend.kind != "" && len(rest) > 0 {
		return usagef("--backend takes no command or URL (got %q)", rest[0])
	}
	// The task store opens before the backs, so that a back that re-attaches
	// to the calls of an earlier process (a queue back) is handed them as
	// soon as it starts reading its answers.
	if o.ts, err = o.tasks.open(log); err != nil {
		return err
	}
	defer o.ts.close() // before closeCommands (deferred above): tasks first, then the children

	switch {
	case o.backend.kind != "":
		d, closeBack, status, err := o.backend.dialer(ctx, log)
		if err != nil {
			return err
		}
		// Stop the tasks first: their calls then end as interrupted (to be
		// resumed), not with the back's own shutdown as their outcome.
		defer func() { o.ts.close(); closeBack() }()
		d = o.ts.wrap("", instrument("", d, nil, nil))
		if o.stdio {
			return serveStdio(ctx, d, stdin, stdout, log)
		}
		return o.serveHTTP(ctx, stdout, log, map[string]namedBack{"": {dialer: d, status: status}})
	case len(rest) > 0 && (strings.HasPrefix(rest[0], "http://") || strings.HasPrefix(rest[0], "https://")):
		if len(rest) > 1 {
			return usagef("unexpected arguments after URL: %q", rest[1:])
		}
		d, err := o.remoteDialer(rest[0], o.transport, o.remoteHeaders(), log)
		if err != nil {
			return err
		}
		return serveStdio(ctx, o.ts.wrap("", d), stdin, stdout, log)
	}

	backs := map[string]namedBack{}
	if len(rest) > 0 {
		path, err := commandPath(rest[0])
		if err != nil {
			return err
		}
		backs[""] = o.childBack("", path, rest[1:], o.envList(), o.cwd, log.With("server", ""))
	}
	named, err := o.namedBacks(log)
	if err != nil {
		return err
	}
	var firstBroken error
	working := 0
	for _, k := range sortedKeys(named) {
		backs[k] = named[k]
		if named[k].broken == nil {
			working++
		} else if firstBroken == nil {
			firstBroken = named[k].broken
		}
	}
	if firstBroken != nil && working == 0 && len(rest) == 0 {
		return fmt.Errorf("no server in --named-server-config %s can start: %w", o.namedConfigFile, firstBroken)
	}
	if len(backs) == 0 {
		return usagef("nothing to serve: give a COMMAND, a URL, --named-server, --named-server-config or --backend")
	}
	for _, name := range sortedKeys(backs) {
		if b := backs[name]; b.broken == nil {
			b.dialer = o.ts.wrap(name, b.dialer)
			backs[name] = b
		}
	}
	return o.serveHTTP(ctx, stdout, log, backs)
}

// namedBack is one server to expose over HTTP.
type namedBack struct {
	dialer bridge.Dialer
	status httpfront.StatusFunc
	broken error // why its configuration could not be used; it answers 503
}

func (o *proxyOptions) envList() []string {
	var env []string
	for _, kv := range o.env {
		env = append(env, kv[0]+"="+kv[1])
	}
	return env
}

func (o *proxyOptions) childBack(name, path string, args, env []string, dir string, log *slog.Logger) namedBack {
	c := &stdio.Command{Path: path, Args: args, Env: env, Dir: dir, PassEnvironment: o.passEnv, TerminateTimeout: o.terminate, PoolSize: o.poolSize, Logger: log}
	o.commands = append(o.commands, c)
	d := instrument(name, c, c, o.limit)
	o.backs.add(d)
	bd := backOf(d)
	return namedBack{dialer: d, status: func() (bool, any) {
		st := bd.status()
		return !st.Crashing, st
	}}
}

// closeCommands stops the shared children of the commands served.
func (o *proxyOptions) closeCommands() {
	for _, c := range o.commands {
		c.Close()
	}
}

// brokenBack stands for a configured server that cannot start: its sessions
// are refused with err, and /status reports it unhealthy.
func brokenBack(err error) namedBack {
	return namedBack{
		broken: err,
		dialer: bridge.DialerFunc(func(context.Context) (mcp.Connection, error) { return nil, err }),
		status: func() (bool, any) { return false, map[string]string{"error": err.Error()} },
	}
}

// serverConfig is one entry of a Claude Desktop style mcpServers file: a
// command to run, or a url of a remote server.
type serverConfig struct {
	Command  string            `json:"command"`
	Args     []string          `json:"args"`
	Env      map[string]string `json:"env"`
	Cwd      string            `json:"cwd"`
	Enabled  *bool             `json:"enabled"`
	Disabled bool              `json:"disabled"`
	// URL, with optional Headers, makes the entry a remote server; Type,
	// Transport or TransportType (the spellings of Claude Code and
	// mcp-proxy) pick sse or streamablehttp.
	URL           string            `json:"url"`
	Headers       map[string]string `json:"headers"`
	Type          string            `json:"type"`
	Transport     string            `json:"transport"`
	TransportType string            `json:"transportType"`
}

// expand replaces ${VAR} and ${VAR:-default} in every string of the entry
// with the environment's values. An unset variable without a default is an
// error naming it.
func (sc *serverConfig) expand() error {
	var missing []string
	ex := func(v string) string {
		return expandVars(v, func(name string) { missing = append(missing, name) })
	}
	sc.Command, sc.Cwd, sc.URL = ex(sc.Command), ex(sc.Cwd), ex(sc.URL)
	for i := range sc.Args {
		sc.Args[i] = ex(sc.Args[i])
	}
	for k, v := range sc.Env {
		sc.Env[k] = ex(v)
	}
	for k, v := range sc.Headers {
		sc.Headers[k] = ex(v)
	}
	if len(missing) > 0 {
		return fmt.Errorf("environment variable %s is not set (used as ${%s} in the config file)", missing[0], missing[0])
	}
	return nil
}

// expandVars expands ${NAME} and ${NAME:-default}; a lone $ or $NAME is
// left as it is, since arguments may hold dollar signs.
func expandVars(s string, missing func(name string)) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		expr := s[i+2 : i+j]
		name, def, hasDef := strings.Cut(expr, ":-")
		if v, ok := os.LookupEnv(name); ok && (v != "" || !hasDef) {
			b.WriteString(v)
		} else if hasDef {
			b.WriteString(def)
		} else {
			missing(name)
		}
		s = s[i+j+1:]
	}
}

func validServerName(name string) error {
	if name == "" || strings.ContainsAny(name, "/?#% ") {
		return usagef("server name %q must be non-empty and contain no '/', '?', '#', '%%' or spaces", name)
	}
	return nil
}

func (o *proxyOptions) namedBacks(log *slog.Logger) (map[string]namedBack, error) {
	backs := map[string]namedBack{}
	if o.namedConfigFile != "" {
		if err := o.configBacks(backs, log); err != nil {
			return nil, err
		}
		if len(o.namedServers) > 0 {
			log.Warn("--named-server is ignored when --named-server-config is given")
		}
		return backs, nil
	}
	for _, ns := range o.namedServers {
		name := ns[0]
		if err := validServerName(name); err != nil {
			return nil, err
		}
		if _, dup := backs[name]; dup {
			return nil, usagef("server name %q given twice", name)
		}
		argv, err := splitCommand(ns[1])
		if err != nil {
			return nil, usagef("--named-server %s: %v", name, err)
		}
		if len(argv) == 0 {
			return nil, usagef("server %q has no command", name)
		}
		path, err := commandPath(argv[0])
		if err != nil {
			return nil, fmt.Errorf("server %q: %w", name, err)
		}
		backs[name] = o.childBack(name, path, argv[1:], o.envList(), o.cwd, log.With("server", name))
	}
	return backs, nil
}

// configBacks adds the servers of --named-server-config to backs. A file
// that cannot be read or parsed is an error; an entry that cannot be used
// (its command is missing, a variable is unset) is logged and served as a
// broken back, so that the other entries still serve.
func (o *proxyOptions) configBacks(backs map[string]namedBack, log *slog.Logger) error {
	data, err := os.ReadFile(o.namedConfigFile)
	if err != nil {
		return fmt.Errorf("reading --named-server-config: %w", err)
	}
	var file struct {
		MCPServers map[string]serverConfig `json:"mcpServers"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		return fmt.Errorf("parsing --named-server-config %s: %w", o.namedConfigFile, err)
	}
	if file.MCPServers == nil {
		return fmt.Errorf("parsing --named-server-config %s: no \"mcpServers\" object", o.namedConfigFile)
	}
	for _, name := range sortedKeys(file.MCPServers) {
		sc := file.MCPServers[name]
		if sc.Disabled || (sc.Enabled != nil && !*sc.Enabled) {
			log.Info("skipping disabled server", "server", name)
			continue
		}
		if err := validServerName(name); err != nil {
			return fmt.Errorf("--named-server-config %s: %w", o.namedConfigFile, err)
		}
		b, err := o.configBack(name, &sc, log.With("server", name))
		if err != nil {
			log.Error("server from --named-server-config cannot start; serving the others", "server", name, "err", err)
			b = brokenBack(fmt.Errorf("server %q: %w", name, err))
		}
		backs[name] = b
	}
	return nil
}

// configBack builds the back of one config entry.
func (o *proxyOptions) configBack(name string, sc *serverConfig, log *slog.Logger) (namedBack, error) {
	if err := sc.expand(); err != nil {
		return namedBack{}, err
	}
	switch {
	case sc.URL != "" && sc.Command != "":
		return namedBack{}, errors.New(`give either "command" or "url", not both`)
	case sc.URL != "":
		h := http.Header{}
		for _, k := range sortedKeys(sc.Headers) {
			h.Set(k, sc.Headers[k])
		}
		kind := cmp.Or(sc.Transport, sc.TransportType, sc.Type)
		if strings.EqualFold(kind, "stdio") {
			return namedBack{}, fmt.Errorf("type %q needs a \"command\", not a \"url\"", kind)
		}
		d, err := o.remoteDialer(sc.URL, kind, h, log)
		if err != nil {
			return namedBack{}, err
		}
		d = instrument(name, d, nil, nil)
		return namedBack{dialer: d, status: func() (bool, any) { return true, map[string]string{"url": redactURL(sc.URL)} }}, nil
	case sc.Command == "":
		return namedBack{}, errors.New(`no "command" and no "url"`)
	}
	path, err := commandPath(sc.Command)
	if err != nil {
		return namedBack{}, err
	}
	var env []string
	for _, k := range sortedKeys(sc.Env) {
		env = append(env, k+"="+sc.Env[k])
	}
	return o.childBack(name, path, sc.Args, env, sc.Cwd, log), nil
}

// redactURL drops the user information and query of a URL for /status.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// remoteHeaders are the headers of URL mode: -H options and
// API_ACCESS_TOKEN.
func (o *proxyOptions) remoteHeaders() http.Header {
	h := http.Header{}
	for _, kv := range o.headers {
		h.Add(kv[0], kv[1])
	}
	if tok := os.Getenv("API_ACCESS_TOKEN"); tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	return h
}

// remoteDialer builds a back for a remote server at rawURL; kind is
// streamablehttp or sse, or empty to guess from the path.
func (o *proxyOptions) remoteDialer(rawURL, kind string, h http.Header, log *slog.Logger) (bridge.Dialer, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, usagef("invalid URL %q", rawURL)
	}
	hc, err := remote.HTTPClient(h, o.caBundle, o.noVerify)
	if err != nil {
		return nil, err
	}
	if kind == "" {
		kind = "streamablehttp"
		if strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/sse") {
			kind = "sse"
		}
	}
	switch strings.ToLower(kind) {
	case "streamablehttp", "streamable-http", "streamable_http", "http":
		return &remote.Streamable{URL: rawURL, HTTPClient: hc, Logger: log}, nil
	case "sse":
		return &remote.SSE{URL: rawURL, HTTPClient: hc}, nil
	}
	return nil, usagef("--transport (\"type\" in a config file): want streamablehttp or sse, got %q", kind)
}

// serveStdio bridges this process's stdin/stdout to one back session. When
// the back can serve 2026-07-28 requests on their own (it is a
// bridge.RoundTripper), each such request goes to it as it comes, and only
// session-based traffic opens a back session.
func serveStdio(ctx context.Context, d bridge.Dialer, stdin io.ReadCloser, stdout io.WriteCloser, log *slog.Logger) error {
	l := &stdio.Listener{Reader: stdin, Writer: stdout, Logger: log}
	front, err := l.Accept(ctx)
	if err != nil {
		return err
	}
	rt, _ := d.(bridge.RoundTripper)
	err = bridge.ServeConn(ctx, front, rt, d, &bridge.Options{Logger: log})
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
	tlsConf, err := loadTLS(o.tlsCert, o.tlsKey)
	if err != nil {
		return err
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
		IdleCloseTimeout: o.idleClose,
		Logger:           log,
	})
	for _, name := range sortedKeys(backs) {
		front.Handle(name, backs[name].dialer, backs[name].status)
	}
	var handler http.Handler = front
	if o.metricsPath != "" {
		mux := http.NewServeMux()
		mux.Handle(o.metricsPath, metricsHandler(&o.backs, o.ts))
		mux.Handle("/", front)
		handler = mux
	}
	srv := httplimit.Server(handler, log)
	srv.ConnState = countClients
	base := scheme(tlsConf) + "://" + ln.Addr().String()
	for _, name := range sortedKeys(backs) {
		prefix := ""
		if name != "" {
			prefix = "/servers/" + name
		}
		fmt.Fprintf(out, "asyncmcp: serving %s%s/mcp (Streamable HTTP) and %s%s/sse (SSE)\n", base, prefix, base, prefix)
	}
	if o.metricsPath != "" {
		fmt.Fprintf(out, "asyncmcp: metrics at %s%s\n", base, o.metricsPath)
	}
	fmt.Fprintf(out, "asyncmcp: listening on %s\n", base)

	errc := make(chan error, 1)
	go func() { errc <- serveMaybeTLS(srv, ln, tlsConf) }()
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
