// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// jsonLogLines parses the log of p: every line that is not one of the
// "asyncmcp: ..." lines printed on stdout must be a JSON object with time,
// level and msg.
func jsonLogLines(t *testing.T, p *testenv.Process) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(p.Log()), "\n") {
		if line == "" || strings.HasPrefix(line, "asyncmcp: ") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("log line is not JSON (%v): %s", err, line)
			continue
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := m[k]; !ok {
				t.Errorf("log line lacks %q: %s", k, line)
			}
		}
		lines = append(lines, m)
	}
	return lines
}

// findLog returns the first line with message msg whose fields include
// want (compared as fmt %v strings), or nil.
func findLog(lines []map[string]any, msg string, want map[string]string) map[string]any {
next:
	for _, l := range lines {
		if l["msg"] != msg {
			continue
		}
		for k, v := range want {
			if fmt.Sprint(l[k]) != v {
				continue next
			}
		}
		return l
	}
	return nil
}

func stopAndWait(t *testing.T, p *testenv.Process) {
	t.Helper()
	testenv.Terminate(p.Cmd.Process)
	select {
	case <-p.Exited():
	case <-time.After(60 * time.Second):
		t.Fatal("asyncmcp still running 60s after SIGTERM")
	}
}

// TestJSONLogs: with --log-format json every log line of proxy and serve is
// a JSON object, with one line per session and child event at info and one
// per finished request at debug, under the same keys in both commands.
func TestJSONLogs(t *testing.T) {
	echo := testenv.EchoServer(t)

	t.Run("proxy", func(t *testing.T) {
		base, p := launchProxy(t, nil, "proxy", "--port", "0", "--log-format", "json", "--debug", "--", echo)
		c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
		cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: base + "/mcp"}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "logged"}}); err != nil {
			t.Fatal(err)
		}
		cs.Close()
		stopAndWait(t, p)
		lines := jsonLogLines(t, p)
		for _, want := range []struct {
			msg    string
			fields map[string]string
		}{
			{"MCP server started", map[string]string{"level": "INFO"}},
			{"session started", map[string]string{"level": "INFO"}},
			{"request finished", map[string]string{"level": "DEBUG", "method": "tools/call", "outcome": "ok"}},
			{"request finished", map[string]string{"level": "DEBUG", "method": "initialize", "outcome": "ok"}},
			{"session ended", map[string]string{"level": "INFO"}},
			{"MCP server stopped", map[string]string{"level": "INFO"}},
		} {
			l := findLog(lines, want.msg, want.fields)
			if l == nil {
				t.Errorf("no log line %q with %v in:\n%s", want.msg, want.fields, p.Log())
				continue
			}
			if strings.HasPrefix(want.msg, "MCP server") && l["pid"] == nil {
				t.Errorf("%q has no pid: %v", want.msg, l)
			}
			if want.msg == "request finished" && (l["session"] == nil || l["id"] == nil) {
				t.Errorf("%q lacks session or id: %v", want.msg, l)
			}
			if want.msg == "request finished" || want.msg == "session ended" {
				// Milliseconds as a JSON number, not nanoseconds.
				if ms, ok := l["duration_ms"].(float64); !ok || ms < 0 || ms > 60_000 || l["duration"] != nil {
					t.Errorf("%q: duration_ms %v (%T), duration %v; want milliseconds as a number and no duration", want.msg, l["duration_ms"], l["duration_ms"], l["duration"])
				}
			}
		}
	})

	t.Run("serve", func(t *testing.T) {
		listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		p := launchServe(t, nil, "--transport", "webhook", "--listen", listen, "--allow-loopback-webhooks", "--log-format", "json", "--debug", "--", echo)
		cs := stdioClient(t, nil, "proxy", "--backend", "webhook", "--stdio", "--server-url", "http://"+listen+"/mcp/request")
		if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "logged"}}); err != nil {
			t.Fatal(err)
		}
		cs.Close()
		stopAndWait(t, p)
		lines := jsonLogLines(t, p)
		for _, want := range []struct {
			msg    string
			fields map[string]string
		}{
			{"MCP server started", map[string]string{"level": "INFO"}},
			{"session started", map[string]string{"level": "INFO"}},
			{"request finished", map[string]string{"level": "DEBUG", "method": "tools/call", "outcome": "ok"}},
		} {
			if findLog(lines, want.msg, want.fields) == nil {
				t.Errorf("no log line %q with %v in:\n%s", want.msg, want.fields, p.Log())
			}
		}
		// Child lines carry the key "server", as in proxy.
		if l := findLog(lines, "MCP server started", map[string]string{"server": "echo-server"}); l == nil || l["child"] != nil {
			t.Errorf("serve's child log line %v: want key server=echo-server and no key child", l)
		}
	})

	t.Run("bad format", func(t *testing.T) {
		err := run([]string{"proxy", "--log-format", "xml", "--", echo}, nil, nopWriteCloser{}, &strings.Builder{})
		if err != 2 {
			t.Errorf("--log-format xml: exit %d, want 2", err)
		}
	})
}

type nopWriteCloser struct{}

func (nopWriteCloser) Write(p []byte) (int, error) { return len(p), nil }
func (nopWriteCloser) Close() error                { return nil }
