// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Interoperability with the Python asyncmcp, as users install it (0.2.1,
// from PyPI) and at its main branch (head). The Python sources live outside
// this repository (../shared/peers/python, see its README); the tests skip
// with a message saying what is missing when they or a suitable python3
// (pydantic 2, boto3) are absent.

// pythonVersions are the asyncmcp variants every interop test runs against.
var pythonVersions = []string{"0.2.1", "head"}

// pyPeers locates the peers folder once.
var pyPeers = sync.OnceValues(func() (string, error) {
	if dir := os.Getenv("ASYNCMCP_PYTHON_PEERS"); dir != "" {
		return dir, nil
	}
	root, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := root; ; dir = filepath.Dir(dir) {
		cand := filepath.Join(dir, "shared", "peers", "python")
		if _, err := os.Stat(filepath.Join(cand, "asyncmcp-head")); err == nil {
			return cand, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no shared/peers/python folder above %s (set ASYNCMCP_PYTHON_PEERS)", root)
		}
	}
})

// pyInterpreter finds a python3 able to run the peers: pydantic 2 and boto3.
var pyInterpreter = sync.OnceValues(func() (string, error) {
	py := os.Getenv("ASYNCMCP_PYTHON")
	if py == "" {
		var err error
		if py, err = exec.LookPath("python3"); err != nil {
			return "", fmt.Errorf("no python3 on PATH (set ASYNCMCP_PYTHON)")
		}
	}
	out, err := exec.Command(py, "-c", "import pydantic, boto3; assert pydantic.VERSION.startswith('2.'), pydantic.VERSION").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s cannot run the Python peers (needs pydantic 2 and boto3): %v: %s", py, err, strings.TrimSpace(string(out)))
	}
	return py, nil
})

// pyDists are the distributions some peers look up with
// importlib.metadata at import time.
var pyDists = map[string]string{
	"mcp": "1.12.2", "starlette": "0.47.2", "anyio": "4.9.0", "httpx": "0.28.1", "httpcore": "1.0.9",
	"h11": "0.16.0", "httpx-sse": "0.4.1", "sse-starlette": "2.4.1", "uvicorn": "0.35.0",
	"python-multipart": "0.0.20", "asyncmcp": "0.2.1",
}

// A pyEnv runs one asyncmcp variant.
type pyEnv struct {
	python  string
	env     []string // PYTHONPATH and friends
	version string
}

// pythonPeer returns how to run asyncmcp version (a folder asyncmcp-<version>
// in the peers folder), or skips the test saying what is missing.
func pythonPeer(t *testing.T, version string) pyEnv {
	t.Helper()
	peers, err := pyPeers()
	if err != nil {
		t.Skipf("Python asyncmcp peers not found: %v", err)
	}
	if _, err := os.Stat(filepath.Join(peers, "asyncmcp-"+version, "src", "asyncmcp")); err != nil {
		t.Skipf("Python asyncmcp %s not found in %s: %v", version, peers, err)
	}
	py, err := pyInterpreter()
	if err != nil {
		t.Skipf("no suitable Python for the asyncmcp peers: %v", err)
	}
	meta := t.TempDir()
	for name, v := range pyDists {
		dir := filepath.Join(meta, name+"-"+v+".dist-info")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "METADATA"), []byte("Name: "+name+"\nVersion: "+v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := []string{meta, filepath.Join(peers, "asyncmcp-"+version, "src")}
	for _, p := range []string{"python-sdk/src", "anyio/src", "httpx", "httpcore", "h11", "httpx-sse/src", "starlette", "sse-starlette", "uvicorn", "python-multipart"} {
		path = append(path, filepath.Join(peers, p))
	}
	return pyEnv{python: py, version: version, env: []string{
		"PYTHONPATH=" + strings.Join(path, string(os.PathListSeparator)),
		"PYTHONDONTWRITEBYTECODE=1",
		"PYTHONUNBUFFERED=1",
	}}
}

func peerScript(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", "python", "peer.py"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startPyServer starts a Python asyncmcp server of kind (sqs or sns-sqs)
// reading queueURL, and waits until it polls.
func (p pyEnv) startServer(t *testing.T, awsEnv []string, kind, queueURL string) *testenv.Process {
	t.Helper()
	cmd := exec.Command(p.python, peerScript(t), "server", "--transport", kind, "--queue-url", queueURL)
	cmd.Env = append(append(os.Environ(), awsEnv...), p.env...)
	ready := make(chan struct{}, 1)
	proc := testenv.StartProcess(t, cmd, func(line string) {
		if line == "PEER_READY" {
			select {
			case ready <- struct{}{}:
			default:
			}
		}
	})
	select {
	case <-ready:
	case <-proc.Exited():
		t.Fatalf("Python %s server exited early (%v):\n%s", p.version, proc.Err(), proc.Log())
	case <-time.After(60 * time.Second):
		t.Fatalf("Python %s server not ready:\n%s", p.version, proc.Log())
	}
	return proc
}

// A pyClient is a running Python client script.
type pyClient struct {
	proc   *testenv.Process
	signal string
	mu     sync.Mutex
	steps  []string
	wait   chan struct{}
	done   chan struct{}
}

// startClient runs the Python client with args (transport options and
// --steps) and collects its STEP lines.
func (p pyEnv) startClient(t *testing.T, awsEnv []string, args ...string) *pyClient {
	t.Helper()
	c := &pyClient{signal: filepath.Join(t.TempDir(), "go-on"), wait: make(chan struct{}, 8), done: make(chan struct{})}
	cmd := exec.Command(p.python, append([]string{peerScript(t), "client", "--signal-file", c.signal}, args...)...)
	cmd.Env = append(append(os.Environ(), awsEnv...), p.env...)
	var once sync.Once
	c.proc = testenv.StartProcess(t, cmd, func(line string) {
		switch {
		case strings.HasPrefix(line, "STEP "):
			c.mu.Lock()
			c.steps = append(c.steps, strings.TrimPrefix(line, "STEP "))
			c.mu.Unlock()
		case line == "WAITING":
			c.wait <- struct{}{}
		case line == "CLIENT_DONE":
			once.Do(func() { close(c.done) })
		}
	})
	return c
}

// waiting blocks until the client reached a "wait" step.
func (c *pyClient) waiting(t *testing.T) {
	t.Helper()
	select {
	case <-c.wait:
	case <-c.proc.Exited():
		t.Fatalf("Python client exited (%v) before its wait step:\n%s", c.proc.Err(), c.proc.Log())
	case <-time.After(90 * time.Second):
		t.Fatalf("Python client did not reach its wait step:\n%s", c.proc.Log())
	}
}

// resume lets a waiting client go on.
func (c *pyClient) resume(t *testing.T) {
	t.Helper()
	if err := os.WriteFile(c.signal, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// finish waits for the client to end and returns its step lines.
func (c *pyClient) finish(t *testing.T) []string {
	t.Helper()
	select {
	case <-c.done:
	case <-c.proc.Exited():
	case <-time.After(3 * time.Minute):
		t.Fatalf("Python client did not finish:\n%s", c.proc.Log())
	}
	c.proc.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.steps...)
}

// wantSteps checks the client's step lines against want, each a prefix.
func wantSteps(t *testing.T, c *pyClient, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("Python client steps:\n got %q\nwant %q\nlog:\n%s", got, want, c.proc.Log())
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Fatalf("Python client step %d: got %q, want %q...\nlog:\n%s", i, got[i], want[i], c.proc.Log())
		}
	}
}

// noValidationNoise fails if a Python process logged MCP validation errors
// (what an unknown notification such as our session-end used to cause).
func noValidationNoise(t *testing.T, who string, proc *testenv.Process) {
	t.Helper()
	if log := proc.Log(); strings.Contains(log, "Failed to validate") || strings.Contains(log, "validation error") {
		t.Errorf("%s logged validation errors:\n%s", who, log)
	}
}

// TestPythonClientToGoServeSQS: Python asyncmcp client → SQS → asyncmcp
// serve --transport sqs → echo server. 0.2.1 names its response queue at
// the top level of initialize's params, head in params._meta.
func TestPythonClientToGoServeSQS(t *testing.T) {
	for _, v := range pythonVersions {
		t.Run(v, func(t *testing.T) {
			py := pythonPeer(t, v)
			fq := testenv.StartFauxqs(t)
			reqQ := fq.CreateQueue(t, "py-requests", nil)
			respQ := fq.CreateQueue(t, "py-responses", nil)
			launchServe(t, fq.Env(), "--transport", "sqs", "--queue-url", reqQ, "--wait-time", "1s", "--", testenv.EchoServer(t))
			c := py.startClient(t, fq.Env(), "--transport", "sqs", "--queue-url", reqQ, "--response-queue-url", respQ, "--steps", "list,echo:hello")
			wantSteps(t, c, c.finish(t), "initialize OK", "list OK", `echo:hello OK ["hello"]`)
			noValidationNoise(t, "Python client", c.proc)
		})
	}
}

// TestGoProxyToPythonServerSQS: Go SDK client → asyncmcp proxy --backend
// sqs --stdio → SQS → Python asyncmcp server. A 0.2.1 server reads the
// response queue only from params.response_queue_url.
func TestGoProxyToPythonServerSQS(t *testing.T) {
	for _, v := range pythonVersions {
		t.Run(v, func(t *testing.T) {
			py := pythonPeer(t, v)
			fq := testenv.StartFauxqs(t)
			reqQ := fq.CreateQueue(t, "py-requests", nil)
			srv := py.startServer(t, fq.Env(), "sqs", reqQ)
			cs := boundedStdioClient(t, fq.Env(), "proxy", "--backend", "sqs", "--stdio", "--queue-url", reqQ, "--wait-time", "1s")
			pyEcho(t, cs, "from go")
			cs.Close()
			// Closing a session must not make the Python server log
			// validation errors (session-end goes to Go peers only). The
			// server reads its queue in order, so once a second session is
			// answered it has read whatever the first one sent on close.
			cs2 := boundedStdioClient(t, fq.Env(), "proxy", "--backend", "sqs", "--stdio", "--queue-url", reqQ, "--wait-time", "1s")
			pyEcho(t, cs2, "second")
			noValidationNoise(t, "Python server", srv)
		})
	}
}

// pyEcho calls the Python peer's echo tool and checks its answer.
func pyEcho(t *testing.T, cs *mcp.ClientSession, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": text}})
	if err != nil {
		t.Fatalf("echo through the Python server: %v", err)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; got != "py:"+text {
		t.Fatalf("Python echo returned %q, want %q", got, "py:"+text)
	}
}

// boundedStdioClient is stdioClient with a bounded initialize: a server that
// never answers fails the test instead of hanging it.
func boundedStdioClient(t *testing.T, env []string, args ...string) *mcp.ClientSession {
	t.Helper()
	cmd := exec.Command(testenv.BuildAsyncmcp(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = testWriter{t}
	c := mcp.NewClient(&mcp.Implementation{Name: "python-interop", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connecting through asyncmcp %v: %v", args, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// TestPythonClientSessionEndedSQS: when the Go server ends a Python client's
// session (here the MCP server process crashes), the call in flight gets an
// error (from the bridge), the client's next call gets "session not found" (-32001) instead of
// silence, and the Python client logs no validation errors (it is not sent
// the session-end message it cannot parse).
func TestPythonClientSessionEndedSQS(t *testing.T) {
	for _, v := range pythonVersions {
		t.Run(v, func(t *testing.T) {
			py := pythonPeer(t, v)
			fq := testenv.StartFauxqs(t)
			reqQ := fq.CreateQueue(t, "py-requests", nil)
			respQ := fq.CreateQueue(t, "py-responses", nil)
			launchServe(t, fq.Env(), "--transport", "sqs", "--queue-url", reqQ, "--wait-time", "1s", "--", testenv.EchoServer(t))
			c := py.startClient(t, fq.Env(), "--transport", "sqs", "--queue-url", reqQ, "--response-queue-url", respQ, "--steps", "echo:a,call:crash,echo:b")
			wantSteps(t, c, c.finish(t), "initialize OK", `echo:a OK ["a"]`, "call:crash ERR", "echo:b ERR -32001")
			noValidationNoise(t, "Python client", c.proc)
		})
	}
}

// snsLayout is one SNS+SQS topology for the interop tests.
type snsLayout struct {
	name string
	raw  bool // RawMessageDelivery on the subscriptions the test makes
}

var snsLayouts = []snsLayout{{"raw", true}, {"enveloped", false}}

// TestPythonClientToGoServeSNSSQS: Python asyncmcp client → request topic →
// asyncmcp serve --transport sns-sqs → the client's topic → the Python
// client's queue, with raw and enveloped subscriptions.
func TestPythonClientToGoServeSNSSQS(t *testing.T) {
	for _, v := range pythonVersions {
		for _, lay := range snsLayouts {
			t.Run(v+"/"+lay.name, func(t *testing.T) {
				py := pythonPeer(t, v)
				fq := testenv.StartFauxqs(t)
				reqTopic := fq.CreateTopic(t, "py-requests")
				serverQ := fq.CreateQueue(t, "py-server", nil)
				fq.Subscribe(t, reqTopic, serverQ, lay.raw, "")
				respTopic := fq.CreateTopic(t, "py-responses")
				clientQ := fq.CreateQueue(t, "py-client", nil)
				fq.Subscribe(t, respTopic, clientQ, lay.raw, "")
				launchServe(t, fq.Env(), "--transport", "sns-sqs", "--queue-url", serverQ, "--wait-time", "1s", "--", testenv.EchoServer(t))
				c := py.startClient(t, fq.Env(), "--transport", "sns-sqs", "--topic-arn", reqTopic, "--response-topic-arn", respTopic, "--response-queue-url", clientQ, "--steps", "list,echo:hello")
				wantSteps(t, c, c.finish(t), "initialize OK", "list OK", `echo:hello OK ["hello"]`)
				noValidationNoise(t, "Python client", c.proc)
			})
		}
	}
}

// TestGoProxyToPythonServerSNSSQS: Go SDK client → asyncmcp proxy --backend
// sns-sqs → request topic → Python asyncmcp server → response topic → the
// proxy's queue: its own queue (created and subscribed by the proxy, whose
// filter must admit Python answers, which carry no ClientId), and queues
// subscribed beforehand, raw and enveloped.
func TestGoProxyToPythonServerSNSSQS(t *testing.T) {
	for _, v := range pythonVersions {
		for _, lay := range []struct {
			name      string
			own       bool
			raw       bool
			serverRaw bool
		}{{"own-queue", true, false, true}, {"subscribed-raw", false, true, false}, {"subscribed-enveloped", false, false, true}} {
			t.Run(v+"/"+lay.name, func(t *testing.T) {
				py := pythonPeer(t, v)
				fq := testenv.StartFauxqs(t)
				reqTopic := fq.CreateTopic(t, "py-requests")
				serverQ := fq.CreateQueue(t, "py-server", nil)
				fq.Subscribe(t, reqTopic, serverQ, lay.serverRaw, "")
				respTopic := fq.CreateTopic(t, "py-responses")
				srv := py.startServer(t, fq.Env(), "sns-sqs", serverQ)
				args := []string{"proxy", "--backend", "sns-sqs", "--stdio", "--topic-arn", reqTopic, "--response-topic-arn", respTopic, "--wait-time", "1s", "--response-timeout", "60s"}
				if !lay.own {
					clientQ := fq.CreateQueue(t, "go-client", nil)
					fq.Subscribe(t, respTopic, clientQ, lay.raw, "")
					args = append(args, "--response-queue-url", clientQ)
				}
				cs := boundedStdioClient(t, fq.Env(), args...)
				pyEcho(t, cs, "over sns")
				cs.Close()
				cs2 := boundedStdioClient(t, fq.Env(), args...)
				pyEcho(t, cs2, "second")
				noValidationNoise(t, "Python server", srv)
			})
		}
	}
}

// TestPythonClientToGoServeWebhook: Python asyncmcp webhook client →
// asyncmcp serve --transport webhook → echo server; the deliveries are
// signed, which the Python client ignores.
func TestPythonClientToGoServeWebhook(t *testing.T) {
	for _, v := range pythonVersions {
		t.Run(v, func(t *testing.T) {
			py := pythonPeer(t, v)
			listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
			launchServe(t, nil, "--transport", "webhook", "--listen", listen, "--allow-loopback-webhooks", "--", testenv.EchoServer(t))
			c := py.startClient(t, nil, "--transport", "webhook", "--server-url", "http://"+listen+"/mcp/request", "--port", fmt.Sprint(testenv.FreePort(t)), "--steps", "list,echo:hello")
			wantSteps(t, c, c.finish(t), "initialize OK", "list OK", `echo:hello OK ["hello"]`)
			noValidationNoise(t, "Python client", c.proc)
		})
	}
}

// TestGoProxyToPythonServerWebhook: Go SDK client → asyncmcp proxy
// --backend webhook → Python asyncmcp webhook server, whose deliveries are
// unsigned: accepted with --allow-unsigned-webhooks, and only with it.
func TestGoProxyToPythonServerWebhook(t *testing.T) {
	for _, v := range pythonVersions {
		t.Run(v, func(t *testing.T) {
			py := pythonPeer(t, v)
			port := testenv.FreePort(t)
			cmd := exec.Command(py.python, peerScript(t), "server", "--transport", "webhook", "--port", fmt.Sprint(port))
			cmd.Env = append(os.Environ(), py.env...)
			srv := testenv.StartProcess(t, cmd, nil)
			testenv.WaitTCP(t, fmt.Sprintf("127.0.0.1:%d", port), srv)
			url := fmt.Sprintf("http://127.0.0.1:%d/mcp/request", port)
			cs := boundedStdioClient(t, nil, "proxy", "--backend", "webhook", "--stdio", "--server-url", url, "--allow-unsigned-webhooks", "--response-timeout", "60s")
			pyEcho(t, cs, "over webhooks")
			cs.Close()
			// Without the flag, the unsigned initialize answer is refused
			// and the call ends in an error instead of an answer.
			cmd2 := exec.Command(testenv.BuildAsyncmcp(t), "proxy", "--backend", "webhook", "--stdio", "--server-url", url, "--response-timeout", "5s")
			cmd2.Stderr = testWriter{t}
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			_, err := mcp.NewClient(&mcp.Implementation{Name: "strict", Version: "1"}, nil).Connect(ctx, &mcp.CommandTransport{Command: cmd2, TerminateDuration: 5 * time.Second}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
			if err == nil {
				t.Fatal("an unsigned delivery was accepted without --allow-unsigned-webhooks")
			}
			t.Logf("without --allow-unsigned-webhooks: %v", err)
		})
	}
}

// TestPythonProxyToGoServeSQS: HTTP client → the Python asyncmcp proxy
// (its SQS backend) → asyncmcp serve --transport sqs → echo server. The
// Python proxy speaks its own dialect of Streamable HTTP (X-Session-Id,
// JSON answers), so the test drives it with plain HTTP. Its SNS+SQS backend
// names the request topic as the reply topic (a Python bug), so it is not
// tested.
func TestPythonProxyToGoServeSQS(t *testing.T) {
	for _, v := range pythonVersions {
		t.Run(v, func(t *testing.T) {
			py := pythonPeer(t, v)
			fq := testenv.StartFauxqs(t)
			reqQ := fq.CreateQueue(t, "py-requests", nil)
			respQ := fq.CreateQueue(t, "py-responses", nil)
			launchServe(t, fq.Env(), "--transport", "sqs", "--queue-url", reqQ, "--wait-time", "1s", "--", testenv.EchoServer(t))
			port := testenv.FreePort(t)
			cmd := exec.Command(py.python, peerScript(t), "proxy", "--transport", "sqs", "--queue-url", reqQ, "--response-queue-url", respQ, "--port", fmt.Sprint(port))
			cmd.Env = append(append(os.Environ(), fq.Env()...), py.env...)
			proxy := testenv.StartProcess(t, cmd, nil)
			testenv.WaitTCP(t, fmt.Sprintf("127.0.0.1:%d", port), proxy)
			url := fmt.Sprintf("http://127.0.0.1:%d/mcp", port)
			sid := ""
			post := func(body string) (int, string) {
				t.Helper()
				ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				if sid != "" {
					req.Header.Set("X-Session-Id", sid)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatalf("POST %s: %v\nproxy log:\n%s", body, err, proxy.Log())
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
				if s := resp.Header.Get("X-Session-Id"); s != "" {
					sid = s
				}
				return resp.StatusCode, string(b)
			}
			code, body := post(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"http","version":"1"}}}`)
			if code != 200 || !strings.Contains(body, `"asyncmcp-echo"`) {
				t.Fatalf("initialize through the Python proxy: %d %s\nproxy log:\n%s", code, body, proxy.Log())
			}
			if code, body := post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`); code/100 != 2 {
				t.Fatalf("notifications/initialized: %d %s", code, body)
			}
			code, body = post(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"via python proxy"}}}`)
			if code != 200 || !strings.Contains(body, `"text":"via python proxy"`) {
				t.Fatalf("tools/call through the Python proxy: %d %s\nproxy log:\n%s", code, body, proxy.Log())
			}
		})
	}
}

// TestPythonReadsGoldenVectors: every session-format golden vector of
// docs/wire-format.md (internal/wire/testdata) passes Python asyncmcp's own attribute and
// message validation, and its initialize vectors name the reply-to where
// each Python version looks for it.
func TestPythonReadsGoldenVectors(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("..", "..", "internal", "wire", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	all, _ := filepath.Glob(filepath.Join(dir, "[0-9]*.json"))
	var want []string
	for _, f := range all {
		// Stateless (2026-07-28) vectors are not for Python asyncmcp,
		// which has no stateless mode (docs/wire-format.md §8.5).
		if !strings.Contains(filepath.Base(f), "_modern_") {
			want = append(want, f)
		}
	}
	if len(want) == 0 {
		t.Fatalf("no golden vectors in %s", dir)
	}
	for _, v := range pythonVersions {
		t.Run(v, func(t *testing.T) {
			py := pythonPeer(t, v)
			script, _ := filepath.Abs(filepath.Join("testdata", "python", "read_vectors.py"))
			cmd := exec.Command(py.python, script, dir, v)
			cmd.Env = append(os.Environ(), py.env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("read_vectors.py: %v\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != len(want) {
				t.Fatalf("Python read %d vectors, want %d:\n%s", len(lines), len(want), out)
			}
			for _, l := range lines {
				if !strings.HasSuffix(l, " OK") {
					t.Errorf("Python %s: %s", v, l)
				}
			}
		})
	}
}
