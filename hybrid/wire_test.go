// SPDX-License-Identifier: Apache-2.0

package hybrid_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/hybrid"
	"github.com/asyncmcp/asyncmcp-go/webhook"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// post sends one JSON-RPC message to url with the Streamable HTTP headers.
func post(t *testing.T, url, sid, body string, extra http.Header) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
	}
	for k, v := range extra {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", body, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// readSSEData returns the first SSE data line of resp that holds a JSON object.
func readSSEData(t *testing.T, resp *http.Response) string {
	t.Helper()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok && strings.HasPrefix(d, "{") {
			return d
		}
	}
	t.Fatalf("SSE stream ended without a message: %v", sc.Err())
	return ""
}

func initBody(meta string) string {
	return `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}` + meta + `}}`
}

// TestWire checks the wire behaviour with raw HTTP: the per-session secret
// in the initialize response, 202 with no body for a webhook tool, a
// signed delivery carrying the session id, and a normal stream for others.
func TestWire(t *testing.T) {
	for _, tc := range []struct {
		name, secret string
		viaHeader    bool
	}{
		{"per-session secret, _meta", "", false},
		{"configured secret, X-Webhook-Url", "shared-secret", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan delivery, 4)
			hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				// Answer before handing on, so the server's delivery has
				// succeeded before the test ends and closes it.
				w.Write([]byte(`{"status":"success"}`))
				w.(http.Flusher).Flush()
				got <- delivery{header: r.Header.Clone(), body: string(b)}
			}))
			t.Cleanup(hook.Close)
			url := startServer(t, hybrid.ServerOptions{WebhookTools: []string{"slow"}, AllowLoopback: true, Secret: tc.secret}, echoDialer(t))

			meta, hdr := `,"_meta":{"webhookUrl":"`+hook.URL+`/hook"}`, http.Header(nil)
			if tc.viaHeader {
				meta, hdr = "", http.Header{hybrid.HeaderWebhookURL: {hook.URL + "/hook"}}
			}
			resp := post(t, url, "", initBody(meta), hdr)
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("initialize: %s %s", resp.Status, b)
			}
			sid := resp.Header.Get("Mcp-Session-Id")
			secret := resp.Header.Get(hybrid.HeaderWebhookSecret)
			switch {
			case tc.secret == "" && !strings.HasPrefix(secret, "whsec_"):
				t.Fatalf("initialize response %s = %q, want a whsec_ secret", hybrid.HeaderWebhookSecret, secret)
			case tc.secret != "" && secret != "":
				t.Fatalf("a configured secret was sent to the client in %s", hybrid.HeaderWebhookSecret)
			case tc.secret != "":
				secret = tc.secret
			}
			if d := readSSEData(t, resp); !strings.Contains(d, `"protocolVersion"`) {
				t.Fatalf("initialize answer: %s", d)
			}
			if r := post(t, url, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil); r.StatusCode != http.StatusAccepted {
				t.Fatalf("initialized: %s", r.Status)
			}

			r := post(t, url, sid, `{"jsonrpc":"2.0","id":"call-7","method":"tools/call","params":{"name":"slow","arguments":{"seconds":0.2}}}`, nil)
			if r.StatusCode != http.StatusAccepted || r.Header.Get(hybrid.HeaderDelivery) != hybrid.DeliveryDivert {
				t.Fatalf("webhook tool POST: %s, %s=%q; want 202 %s", r.Status, hybrid.HeaderDelivery, r.Header.Get(hybrid.HeaderDelivery), hybrid.DeliveryDivert)
			}
			// The POST ends at once: its body is empty and closed.
			if b, err := io.ReadAll(r.Body); err != nil || len(b) != 0 {
				t.Fatalf("webhook tool POST body = %q, %v; want empty", b, err)
			}

			r = post(t, url, sid, `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"echo","arguments":{"text":"on the stream"}}}`, nil)
			if ct := r.Header.Get("Content-Type"); r.StatusCode != http.StatusOK || ct != "text/event-stream" {
				t.Fatalf("echo POST: %s %s", r.Status, ct)
			}
			if d := readSSEData(t, r); !strings.Contains(d, "on the stream") {
				t.Fatalf("echo answer: %s", d)
			}

			d := <-got
			if err := webhook.Verify(secret, d.header, []byte(d.body), 0, time.Now()); err != nil {
				t.Errorf("delivery signature: %v", err)
			}
			if s := d.header.Get(hybrid.HeaderSessionID); s != sid {
				t.Errorf("delivery %s = %q, want %q", hybrid.HeaderSessionID, s, sid)
			}
			if s := d.header.Get(webhook.HeaderRequestID); s != "call-7" {
				t.Errorf("delivery %s = %q, want call-7", webhook.HeaderRequestID, s)
			}
			var msg struct {
				ID     string          `json:"id"`
				Result json.RawMessage `json:"result"`
			}
			if err := json.Unmarshal([]byte(d.body), &msg); err != nil || msg.ID != "call-7" || !strings.Contains(string(msg.Result), "done after 0.2s") {
				t.Errorf("delivery body = %s (%v)", d.body, err)
			}
		})
	}
}

// TestAllowList: a webhook URL outside the allow-list refuses the session
// at initialize, with the right status and a JSON-RPC error.
func TestAllowList(t *testing.T) {
	url := startServer(t, hybrid.ServerOptions{WebhookTools: []string{"slow"}, AllowedWebhookHosts: []string{"hooks.example.com"}, Logger: quietLogger()}, echoDialer(t))
	for _, tc := range []struct {
		name, meta string
		header     http.Header
		status     int
	}{
		{"host not allowed", `,"_meta":{"webhookUrl":"http://evil.example.net/hook"}`, nil, http.StatusForbidden},
		{"loopback not allowed", `,"_meta":{"webhookUrl":"http://127.0.0.1:9/hook"}`, nil, http.StatusForbidden},
		{"header, host not allowed", "", http.Header{hybrid.HeaderWebhookURL: {"https://evil.example.net/hook"}}, http.StatusForbidden},
		{"not http", `,"_meta":{"webhookUrl":"ftp://hooks.example.com/hook"}`, nil, http.StatusBadRequest},
		{"user info", `,"_meta":{"webhookUrl":"https://u:p@hooks.example.com/hook"}`, nil, http.StatusBadRequest},
		{"allowed", `,"_meta":{"webhookUrl":"https://hooks.example.com/hook"}`, nil, http.StatusOK},
		{"no webhook: plain Streamable HTTP", "", nil, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := post(t, url, "", initBody(tc.meta), tc.header)
			if r.StatusCode != tc.status {
				b, _ := io.ReadAll(r.Body)
				t.Fatalf("initialize: %s %s; want %d", r.Status, b, tc.status)
			}
			if tc.status == http.StatusOK {
				return
			}
			var e struct {
				ID    int `json:"id"`
				Error struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.NewDecoder(r.Body).Decode(&e); err != nil || e.ID != 1 || e.Error.Code != -32602 || e.Error.Message == "" {
				t.Errorf("refusal body = %+v (%v); want a JSON-RPC error for id 1, code -32602", e, err)
			}
			if r.Header.Get("Mcp-Session-Id") != "" {
				t.Errorf("a refused initialize got a session id")
			}
		})
	}

	// The Go client gets the refusal as a connect error.
	c := hybrid.NewClient(&hybrid.ClientOptions{ServerURL: url, Logger: quietLogger()})
	if _, err := c.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil)
	if cs, err := cl.Connect(t.Context(), c.Transport(), &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"}); err == nil {
		cs.Close()
		t.Fatal("connect with a loopback webhook to a server that does not allow it succeeded")
	} else if !strings.Contains(err.Error(), "not in the allowed webhook hosts") {
		t.Errorf("connect error = %v, want it to say the host is not allowed", err)
	}
}

// TestReceiverRejects: the client's receiver refuses forged, stale and
// malformed deliveries and unknown sessions, and hands a repeated
// webhook-id on only once.
func TestReceiverRejects(t *testing.T) {
	const secret = "s3cret"
	url := startServer(t, hybrid.ServerOptions{WebhookTools: []string{"slow"}, AllowLoopback: true, Secret: secret}, echoDialer(t))
	rec := &recorder{}
	c, _ := newClient(t, url, rec, hybrid.ClientOptions{Secret: secret, Logger: quietLogger()})
	cs := connect(t, c.Transport(), nil)
	sid := cs.ID()
	h := httptest.NewServer(c)
	t.Cleanup(h.Close)

	send := func(method, session, body, key, msgID string, ts time.Time) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, h.URL, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if session != "" {
			req.Header.Set(hybrid.HeaderSessionID, session)
		}
		if key != "" {
			sig, err := webhook.Sign(key, msgID, ts.Unix(), []byte(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set(webhook.HeaderWebhookID, msgID)
			req.Header.Set(webhook.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
			req.Header.Set(webhook.HeaderWebhookSignature, sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	resp := `{"jsonrpc":"2.0","id":999,"result":{"content":[]}}`
	now := time.Now()
	for _, tc := range []struct {
		name, method, session, body, key, id string
		ts                                   time.Time
		status                               int
		want                                 string
	}{
		{"unsigned", "POST", sid, resp, "", "", now, 401, "missing signature"},
		{"forged signature", "POST", sid, resp, "not-the-secret", "msg_1", now, 401, "does not match"},
		{"stale timestamp (replay)", "POST", sid, resp, secret, "msg_2", now.Add(-10 * time.Minute), 401, "outside tolerance"},
		{"future timestamp", "POST", sid, resp, secret, "msg_3", now.Add(10 * time.Minute), 401, "outside tolerance"},
		{"unknown session", "POST", "no-such-session", resp, secret, "msg_4", now, 404, "unknown session"},
		{"no session header", "POST", "", resp, secret, "msg_5", now, 400, "Mcp-Session-Id"},
		{"GET", "GET", sid, "", "", "", now, 405, "use POST"},
		{"not JSON-RPC", "POST", sid, `{"hello":`, secret, "msg_6", now, 400, "not a JSON-RPC message"},
		{"a request, not a response", "POST", sid, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, secret, "msg_7", now, 400, "not a JSON-RPC response"},
		{"valid, not in flight", "POST", sid, resp, secret, "msg_8", now, 200, "ignored"},
		{"same webhook-id again", "POST", sid, resp, secret, "msg_8", now, 200, "duplicate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := send(tc.method, tc.session, tc.body, tc.key, tc.id, tc.ts)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Errorf("got %d %s; want %d mentioning %q", status, body, tc.status, tc.want)
			}
		})
	}
	// The session is unharmed.
	r, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{"seconds": 0.1}})
	if err != nil || text(r) != "done after 0.1s" {
		t.Fatalf("slow after the forged deliveries: %v %v", err, r)
	}
}
