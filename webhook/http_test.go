// SPDX-License-Identifier: Apache-2.0

package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/asyncmcp/asyncmcp-go/webhook"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// holdSessions accepts every session of s and keeps it open until cleanup.
func holdSessions(t *testing.T, s *webhook.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var conns []mcp.Connection
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := s.Accept(ctx)
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
}

func initBody(id int, webhookURL string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"},"_meta":{"webhookUrl":%q}}}`, id, webhookURL)
}

// TestHTTPReplies checks the immediate replies to well- and ill-formed
// client requests: status, and a JSON-RPC error body naming the problem.
func TestHTTPReplies(t *testing.T) {
	s, url := startServer(t, &webhook.ServerOptions{AllowLoopback: true, MaxBodyBytes: 1024, Logger: quietLogger()})
	holdSessions(t, s)
	const hook = "http://127.0.0.1:9/hook" // never written to in this test
	h := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cid, sid := webhook.HeaderClientID, webhook.HeaderSessionID

	// A session to address.
	status, body, hdr := rawPost(t, url, h(cid, "c1"), initBody(1, hook))
	if status != http.StatusOK {
		t.Fatalf("initialize: %d %s", status, body)
	}
	var created struct{ Status, SessionID, WebhookSecret string }
	json.Unmarshal([]byte(strings.NewReplacer("session_id", "SessionID", "webhook_secret", "WebhookSecret").Replace(body)), &created)
	if created.Status != "session_created" || created.SessionID == "" || hdr.Get(sid) != created.SessionID || !strings.HasPrefix(created.WebhookSecret, "whsec_") {
		t.Fatalf("initialize reply = %s (X-Session-ID %q), want session_created with id and secret", body, hdr.Get(sid))
	}
	live := created.SessionID

	cases := []struct {
		name       string
		method     string
		hdr        map[string]string
		body       string
		wantStatus int
		wantBody   string
	}{
		{"malformed JSON", "POST", h(cid, "c1", sid, live), `{"jsonrpc":`, 400, `"code":-32700`},
		{"not JSON-RPC", "POST", h(cid, "c1", sid, live), `{"hello":1}`, 400, `"code":-32600`},
		{"empty method", "POST", h(cid, "c1", sid, live), `{"jsonrpc":"2.0","id":12,"method":""}`, 400, `"id":12,"error":{"code":-32600`},
		{"case-variant key", "POST", h(cid, "c1", sid, live), `{"jsonrpc":"2.0","ID":13,"method":"ping"}`, 400, `"code":-32600`},
		{"batch", "POST", h(cid, "c1", sid, live), `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, 400, "batches are not supported"},
		{"too large", "POST", h(cid, "c1", sid, live), `{"jsonrpc":"2.0","method":"x","params":{"p":"` + strings.Repeat("a", 2000) + `"}}`, 413, "exceeds 1024 bytes"},
		{"missing client id", "POST", h(sid, live), `{"jsonrpc":"2.0","id":7,"method":"ping"}`, 400, `"id":7`},
		{"invalid session id", "POST", h(cid, "c1", sid, "bad id"), `{"jsonrpc":"2.0","id":1,"method":"ping"}`, 400, "invalid X-Session-ID"},
		{"unknown session", "POST", h(cid, "c1", sid, "nope"), `{"jsonrpc":"2.0","id":8,"method":"ping"}`, 404, `"code":-32001`},
		{"no session at all", "POST", h(cid, "c-other"), `{"jsonrpc":"2.0","id":1,"method":"ping"}`, 400, "missing X-Session-ID"},
		{"other client's session", "POST", h(cid, "c2", sid, live), `{"jsonrpc":"2.0","id":1,"method":"ping"}`, 403, "another client"},
		{"initialize without webhookUrl", "POST", h(cid, "c1"), `{"jsonrpc":"2.0","id":2,"method":"initialize","params":{}}`, 400, "Missing webhookUrl"},
		{"initialize with non-http webhookUrl", "POST", h(cid, "c1"), initBody(3, "file:///etc/passwd"), 400, "scheme must be http or https"},
		{"initialize with disallowed host", "POST", h(cid, "c1"), initBody(4, "http://169.254.169.254/latest"), 403, "not in the allowed webhook hosts"},
		{"initialize reusing a live session id", "POST", h(cid, "c1", sid, live), initBody(5, hook), 409, "already exists"},
		{"initialized notification", "POST", h(cid, "c1", sid, live), `{"jsonrpc":"2.0","method":"notifications/initialized"}`, 200, `"status":"initialized"`},
		{"request", "POST", h(cid, "c1", sid, live), `{"jsonrpc":"2.0","id":9,"method":"ping"}`, 200, `"status":"received"`},
		{"client routed by X-Client-ID", "POST", h(cid, "c1"), `{"jsonrpc":"2.0","id":10,"method":"ping"}`, 200, `"status":"received"`},
		{"status", "GET", h(cid, "c1", sid, live), "", 200, `"status":"active"`},
		{"status without client id", "GET", h(sid, live), "", 400, "missing X-Client-ID"},
		{"status of another client's session", "GET", h(cid, "c2", sid, live), "", 403, "another client"},
		{"DELETE without client id", "DELETE", h(sid, live), "", 400, "missing X-Client-ID"},
		{"DELETE of another client's session", "DELETE", h(cid, "c2", sid, live), "", 403, "another client"},
		{"PUT", "PUT", h(sid, live), "", 405, "not allowed"},
		{"DELETE without session", "DELETE", h(), "", 400, "X-Session-ID"},
		{"DELETE unknown session", "DELETE", h(sid, "nope"), "", 404, "not found"},
		{"DELETE", "DELETE", h(cid, "c1", sid, live), "", 200, `"status":"terminated"`},
		{"after DELETE", "POST", h(cid, "c1", sid, live), `{"jsonrpc":"2.0","id":11,"method":"ping"}`, 404, "not found"},
	}
	for _, tc := range cases {
		status, body, hdr := rawDo(t, tc.method, url, tc.hdr, tc.body)
		if status != tc.wantStatus || !strings.Contains(body, tc.wantBody) {
			t.Errorf("%s: got %d %s, want %d containing %s", tc.name, status, strings.TrimSpace(body), tc.wantStatus, tc.wantBody)
		}
		if ct := hdr.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", tc.name, ct)
		}
	}
}

// TestSessionLimitDefault opens 1000 sessions (the default limit); the
// 1001st is refused with 503 and a clear body, and ending one frees a slot.
func TestSessionLimitDefault(t *testing.T) {
	s, url := startServer(t, &webhook.ServerOptions{AllowLoopback: true, Logger: quietLogger()})
	holdSessions(t, s)
	const hook = "http://127.0.0.1:9/hook"
	var first string
	for i := range webhook.DefaultMaxSessions {
		status, body, hdr := rawPost(t, url, map[string]string{webhook.HeaderClientID: fmt.Sprintf("c%d", i)}, initBody(1, hook))
		if status != http.StatusOK {
			t.Fatalf("session %d: %d %s", i+1, status, body)
		}
		if i == 0 {
			first = hdr.Get(webhook.HeaderSessionID)
		}
	}
	if n := s.ActiveSessions(); n != 1000 {
		t.Fatalf("ActiveSessions = %d, want 1000", n)
	}
	status, body, hdr := rawPost(t, url, map[string]string{webhook.HeaderClientID: "one-too-many"}, initBody(42, hook))
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "maximum session limit reached (1000 sessions)") || !strings.Contains(body, `"id":42`) {
		t.Fatalf("session 1001: got %d %s, want 503 naming the limit", status, body)
	}
	if hdr.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
	if st, b, _ := rawDo(t, http.MethodDelete, url, map[string]string{webhook.HeaderSessionID: first, webhook.HeaderClientID: "c0"}, ""); st != http.StatusOK {
		t.Fatalf("DELETE %s: %d %s", first, st, b)
	}
	if st, b, _ := rawPost(t, url, map[string]string{webhook.HeaderClientID: "one-too-many"}, initBody(43, hook)); st != http.StatusOK {
		t.Fatalf("initialize after freeing a slot: %d %s", st, b)
	}
}
