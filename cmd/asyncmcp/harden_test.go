// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
)

// hardenPost sends one JSON-RPC body to a Streamable HTTP endpoint.
func hardenPost(t *testing.T, url, body string, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestSIGTERMAnswersInFlight: a call still running when the proxy gets
// SIGTERM is answered with a JSON-RPC error before its stream closes.
func TestSIGTERMAnswersInFlight(t *testing.T) {
	base, p := launchProxy(t, nil, "proxy", "--port", "0", "--", testenv.EchoServer(t))
	url := base + "/mcp"
	init := hardenPost(t, url, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	sid := init.Header.Get("Mcp-Session-Id")
	init.Body.Close()
	hardenPost(t, url, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, "Mcp-Session-Id", sid).Body.Close()
	resp := hardenPost(t, url, `{"jsonrpc":"2.0","id":"long","method":"tools/call","params":{"name":"slow","arguments":{"seconds":120}}}`, "Mcp-Session-Id", sid, "Mcp-Protocol-Version", "2025-11-25")
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil { // the stream is open: the call runs
		t.Fatal(err)
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	var last string
	for {
		line, err := br.ReadString('\n')
		if d, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok && d != "" {
			last = d
		}
		if err != nil {
			break
		}
	}
	var m struct {
		ID    string          `json:"id"`
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal([]byte(last), &m) != nil || m.ID != "long" || len(m.Error) == 0 {
		t.Errorf("last event of the in-flight call at SIGTERM: %q; want a JSON-RPC error for id \"long\"", last)
	}
	<-p.Exited()
}

// TestServeWebhookAuthAndHost: `serve --transport webhook` takes the same
// --auth-token and Host checks as the HTTP proxy.
func TestServeWebhookAuthAndHost(t *testing.T) {
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	launchServe(t, nil, "--transport", "webhook", "--listen", listen, "--allow-loopback-webhooks",
		"--auth-token", "tok", "--", testenv.EchoServer(t))
	endpoint := "http://" + listen + "/mcp/request"
	const init = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"},"_meta":{"webhookUrl":"http://127.0.0.1:9/hook"}}}`
	for _, c := range []struct {
		hdr  []string
		host string
		want int
	}{
		{[]string{"X-Client-ID", "a"}, "", http.StatusUnauthorized},
		{[]string{"X-Client-ID", "a", "Authorization", "Bearer tok"}, "evil.example.com", http.StatusForbidden},
		{[]string{"X-Client-ID", "a", "Authorization", "bearer tok"}, "", http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(init))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(c.hdr); i += 2 {
			req.Header.Set(c.hdr[i], c.hdr[i+1])
		}
		if c.host != "" {
			req.Host = c.host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("headers %v host %q: %d, want %d", c.hdr, c.host, resp.StatusCode, c.want)
		}
	}
}
