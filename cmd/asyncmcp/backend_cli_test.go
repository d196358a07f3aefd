// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestWebhookStdioEndToEnd: stdio client → asyncmcp proxy --backend webhook
// --stdio → asyncmcp serve --transport webhook → Go SDK everything-server,
// with progress and a sampling request crossing both ways.
func TestWebhookStdioEndToEnd(t *testing.T) {
	port := testenv.FreePort(t)
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	launchServe(t, nil, "--transport", "webhook", "--listen", listen, "--allow-loopback-webhooks", "--", testenv.GoEverythingServer(t))
	cs := stdioClient(t, nil, "proxy", "--backend", "webhook", "--stdio", "--server-url", "http://"+listen+"/mcp/request")
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "test_simple_text"})
	if err != nil || res.IsError {
		t.Fatalf("test_simple_text over webhooks: %v %+v", err, res)
	}
	p := &mcp.CallToolParams{Name: "test_tool_with_progress"}
	p.SetProgressToken("wh-1")
	if _, err := cs.CallTool(t.Context(), p); err != nil {
		t.Fatalf("test_tool_with_progress over webhooks: %v", err)
	}
}

// TestBackendFromEnvironment: the container style, with the back chosen and
// configured by environment variables instead of flags.
func TestBackendFromEnvironment(t *testing.T) {
	fq := testenv.StartFauxqs(t)
	reqQ := fq.CreateQueue(t, "env-requests", nil)
	env := fq.Env()
	launchServe(t, env, "--transport", "sqs", "--queue-url", reqQ, "--wait-time", "1s", "--", testenv.EchoServer(t))
	cs := stdioClient(t, append(env, "BACKEND_TRANSPORT=sqs", "ASYNCMCP_QUEUE_URL="+reqQ), "proxy", "--stdio", "--wait-time", "1s")
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "configured by env"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; !strings.Contains(got, "configured by env") {
		t.Errorf("echo = %q", got)
	}
}

// TestListenAddressFromEnvironment: with no --host or --port, the proxy
// listens where HOST and PORT say (ASYNCMCP_HOST and ASYNCMCP_PORT first),
// as a container platform sets them, and a bad PORT is a usage error.
func TestListenAddressFromEnvironment(t *testing.T) {
	echo := testenv.EchoServer(t)
	port := strconv.Itoa(testenv.FreePort(t))
	base, _ := launchProxy(t, []string{"HOST=127.0.0.1", "PORT=" + port}, "proxy", "--", echo)
	if want := "http://127.0.0.1:" + port; !strings.HasPrefix(base, want) {
		t.Errorf("listening on %s, want %s (from HOST and PORT)", base, want)
	}
	port2 := strconv.Itoa(testenv.FreePort(t))
	base, _ = launchProxy(t, []string{"PORT=1", "ASYNCMCP_PORT=" + port2}, "proxy", "--", echo)
	if want := "http://127.0.0.1:" + port2; !strings.HasPrefix(base, want) {
		t.Errorf("listening on %s, want %s (ASYNCMCP_PORT before PORT)", base, want)
	}

	cmd := exec.Command(testenv.BuildAsyncmcp(t), "proxy", "--", echo)
	cmd.Env = append(os.Environ(), "PORT=http")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), `"http"`) {
		t.Errorf("PORT=http: %v, output %q; want exit status 2 naming the value", err, out)
	}
}
