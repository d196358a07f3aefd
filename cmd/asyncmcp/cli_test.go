// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// launchProxy starts the asyncmcp binary with args and returns the base URL
// it prints once it listens.
func launchProxy(t *testing.T, env []string, args ...string) (string, *testenv.Process) {
	t.Helper()
	cmd := exec.Command(testenv.BuildAsyncmcp(t), args...)
	cmd.Env = append(os.Environ(), env...)
	urls := make(chan string, 1)
	p := testenv.StartProcess(t, cmd, func(line string) {
		if u, ok := strings.CutPrefix(line, "asyncmcp: listening on "); ok {
			urls <- u
		}
	})
	select {
	case u := <-urls:
		return u, p
	case <-p.Exited():
		t.Fatalf("asyncmcp exited early (%v):\n%s", p.Err(), p.Log())
	case <-time.After(60 * time.Second):
		t.Fatalf("asyncmcp did not print its URL:\n%s", p.Log())
	}
	return "", nil
}

// stdioClient runs asyncmcp as a stdio MCP server (as Claude Desktop would)
// and connects a Go SDK client to it.
func stdioClient(t *testing.T, env []string, args ...string) *mcp.ClientSession {
	t.Helper()
	cmd := exec.Command(testenv.BuildAsyncmcp(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = testWriter{t}
	c := mcp.NewClient(&mcp.Implementation{Name: "stdio-test", Version: "1"}, nil)
	cs, err := c.Connect(t.Context(), &mcp.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connecting through asyncmcp %v: %v", args, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("asyncmcp stderr: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func echo(t *testing.T, cs *mcp.ClientSession, text string) {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": text}})
	if err != nil {
		t.Fatalf("echo %q: %v", text, err)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; got != text {
		t.Fatalf("echo %q returned %q", text, got)
	}
}

func TestHelpAndVersion(t *testing.T) {
	bin := testenv.BuildAsyncmcp(t)
	for _, args := range [][]string{{"--help"}, {"proxy", "--help"}, {"serve", "--help"}, {"--version"}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Errorf("asyncmcp %v: %v\n%s", args, err, out)
		}
		if len(out) == 0 {
			t.Errorf("asyncmcp %v printed nothing", args)
		}
	}
	out, _ := exec.Command(bin, "proxy", "--help").CombinedOutput()
	for _, flag := range []string{"--env", "--cwd", "--pass-environment", "--allow-origin", "--stateless", "--named-server", "--named-server-config", "--auth-token", "--transport", "--headers", "--log-level", "--debug", "--pool-size"} {
		if !strings.Contains(string(out), flag) {
			t.Errorf("proxy --help does not mention %s", flag)
		}
	}
	if out, _ := exec.Command(bin, "serve", "--help").CombinedOutput(); !strings.Contains(string(out), "--pool-size") {
		t.Errorf("serve --help does not mention --pool-size")
	}
}

func TestBadCommandLines(t *testing.T) {
	bin := testenv.BuildAsyncmcp(t)
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"mcpServers": {"x": {"args": []}}}`), 0o644)
	notJSON := filepath.Join(t.TempDir(), "not.json")
	os.WriteFile(notJSON, []byte(`{mcpServers`), 0o644)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"proxy", "--bogus"}, 2, "unknown option --bogus"},
		{[]string{"proxy", "--port", "http"}, 2, "--port"},
		{[]string{"proxy", "-e", "ONLYKEY"}, 2, "needs 2 value"},
		{[]string{"proxy"}, 2, "nothing to serve"},
		{[]string{"proxy", "--", "/no/such/command"}, 1, "not found"},
		{[]string{"proxy", "--named-server-config", bad}, 1, "no \"command\""},
		{[]string{"proxy", "--named-server-config", notJSON}, 1, "parsing --named-server-config"},
		{[]string{"proxy", "--transport", "carrier-pigeon", "http://127.0.0.1:1/mcp"}, 2, "--transport"},
		{[]string{"proxy", "--log-level", "loud", "--", "true"}, 2, "--log-level"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"proxy", "--pool-size", "-1", "--", "true"}, 2, "--pool-size"},
		{[]string{"serve", "--transport", "sqs", "--pool-size", "many", "--", "true"}, 2, "--pool-size"},
	}
	for _, c := range cases {
		cmd := exec.Command(bin, c.args...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != c.code || !strings.Contains(string(out), c.want) {
			t.Errorf("asyncmcp %v: exit %d, output %q; want exit %d mentioning %q", c.args, code, out, c.code, c.want)
		}
	}
}

// TestGracefulShutdown: SIGTERM stops the children and exits 0.
func TestGracefulShutdown(t *testing.T) {
	echoBin := testenv.EchoServer(t)
	base, p := launchProxy(t, nil, "proxy", "--port", "0", "--", echoBin)
	c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: base + "/mcp"}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "whoami"})
	if err != nil {
		t.Fatal(err)
	}
	var childPID int
	fmt.Sscan(res.Content[0].(*mcp.TextContent).Text, &childPID)
	testenv.Terminate(p.Cmd.Process)
	select {
	case <-p.Exited():
	case <-time.After(20 * time.Second):
		t.Fatal("proxy still running 20s after SIGTERM")
	}
	if err := p.Err(); err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0", err)
	}
	if testenv.ProcessAlive(childPID) {
		t.Errorf("child %d still running after the proxy exited", childPID)
	}
}

// TestClientMode: a stdio client reaches a remote server through
// `asyncmcp proxy URL`, over Streamable HTTP and over SSE, with a bearer
// token from API_ACCESS_TOKEN.
func TestClientMode(t *testing.T) {
	echoBin := testenv.EchoServer(t)
	base, _ := launchProxy(t, nil, "proxy", "--port", "0", "--auth-token", "tok", "--", echoBin)
	for _, args := range [][]string{
		{"proxy", base + "/mcp"},
		{"proxy", "--transport", "sse", base + "/sse"},
		{"proxy", base + "/sse"},
	} {
		t.Run(strings.Join(args[1:], " "), func(t *testing.T) {
			cs := stdioClient(t, []string{"API_ACCESS_TOKEN=tok"}, args...)
			echo(t, cs, "through "+args[len(args)-1])
		})
	}
}

// TestClientModeReinitializes: when the remote server restarts and forgets
// the session (404), the stdio client does not notice.
func TestClientModeReinitializes(t *testing.T) {
	echoBin := testenv.EchoServer(t)
	port := fmt.Sprint(testenv.FreePort(t))
	base, p := launchProxy(t, nil, "proxy", "--port", port, "--", echoBin)
	cs := stdioClient(t, nil, "proxy", base+"/mcp")
	echo(t, cs, "before restart")
	p.Stop()
	var p2 *testenv.Process
	deadline := time.Now().Add(20 * time.Second)
	for {
		// The port may linger for a moment; retry until it binds.
		cmd := exec.Command(testenv.BuildAsyncmcp(t), "proxy", "--port", port, "--", echoBin)
		ready := make(chan struct{}, 1)
		p2 = testenv.StartProcess(t, cmd, func(line string) {
			if strings.HasPrefix(line, "asyncmcp: listening on") {
				ready <- struct{}{}
			}
		})
		select {
		case <-ready:
		case <-p2.Exited():
			if time.Now().After(deadline) {
				t.Fatalf("restarted proxy failed: %s", p2.Log())
			}
			time.Sleep(200 * time.Millisecond)
			continue
		}
		break
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "after restart"}})
	if err != nil {
		t.Fatalf("call after remote restart: %v", err)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; got != "after restart" {
		t.Fatalf("got %q", got)
	}
}

func TestNamedServerConfig(t *testing.T) {
	echoBin := testenv.EchoServer(t)
	cfg := filepath.Join(t.TempDir(), "servers.json")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`{"mcpServers": {
		"alpha": {"command": %q, "args": [], "env": {"X": "1"}},
		"beta": {"command": %q},
		"off": {"command": "/no/such", "enabled": false}
	}}`, echoBin, echoBin)), 0o644)
	base, _ := launchProxy(t, nil, "proxy", "--port", "0", "--named-server-config", cfg)
	for _, name := range []string{"alpha", "beta"} {
		c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
		cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: base + "/servers/" + name + "/mcp"}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		echo(t, cs, "hello "+name)
		cs.Close()
	}
	base2, _ := launchProxy(t, nil, "proxy", "--port", "0", "--named-server", "gamma", echoBin+" --unused-flag-is-passed", "--", echoBin)
	for _, ep := range []string{base2 + "/mcp", base2 + "/servers/gamma/mcp"} {
		c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
		cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: ep}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		if err != nil {
			t.Fatalf("%s: %v", ep, err)
		}
		echo(t, cs, "hello")
		cs.Close()
	}
}

// TestClientModeTLS: the remote server's certificate is verified against the
// system roots by default, against --ca-bundle when given, and not at all
// with --no-verify-ssl.
func TestClientModeTLS(t *testing.T) {
	server := mcp.NewServer(&mcp.Implementation{Name: "tls-echo", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, a struct {
		Text string `json:"text"`
	}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
	})
	ts := httptest.NewTLSServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	t.Cleanup(ts.Close) // after the clients' cleanups, which end their sessions
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	echo(t, stdioClient(t, nil, "proxy", "--ca-bundle", ca, ts.URL), "verified with a CA bundle")
	echo(t, stdioClient(t, nil, "proxy", "--no-verify-ssl", ts.URL), "not verified")

	// Default: the self-signed certificate is refused, and the client is told.
	cmd := exec.Command(testenv.BuildAsyncmcp(t), "proxy", ts.URL)
	c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.CommandTransport{Command: cmd}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err == nil {
		cs.Close()
		t.Fatal("connected to a server with an untrusted certificate")
	}
	if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("error does not mention the certificate: %v", err)
	}
}

// TestChildEnvironment: -e adds variables, --cwd sets the directory, and
// the proxy's own environment reaches the child only with
// --pass-environment.
func TestChildEnvironment(t *testing.T) {
	echoBin := testenv.EchoServer(t)
	dir := t.TempDir()
	script := `printf '%s|%s|%s\n' "$(pwd)" "$GIVEN" "$INHERITED" > "$OUT"; exec "$ECHO_BIN"`
	for _, c := range []struct {
		pass bool
		want string
	}{
		{false, dir + "|given|"},
		{true, dir + "|given|from-proxy"},
	} {
		out := filepath.Join(t.TempDir(), "env.txt")
		args := []string{"proxy", "--port", "0", "--cwd", dir, "-e", "GIVEN", "given", "-e", "OUT", out, "-e", "ECHO_BIN", echoBin}
		if c.pass {
			args = append(args, "--pass-environment")
		}
		args = append(args, "--", "sh", "-c", script)
		base, _ := launchProxy(t, []string{"INHERITED=from-proxy"}, args...)
		cl := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
		cs, err := cl.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: base + "/mcp"}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		if err != nil {
			t.Fatal(err)
		}
		echo(t, cs, "env")
		cs.Close()
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(got)) != c.want {
			t.Errorf("pass-environment=%v: child saw %q, want %q", c.pass, strings.TrimSpace(string(got)), c.want)
		}
	}
}
