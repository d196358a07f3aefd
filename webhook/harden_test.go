// SPDX-License-Identifier: Apache-2.0

package webhook_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/asyncmcp/asyncmcp-go/webhook"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

func TestAddressPolicy(t *testing.T) {
	for _, c := range []struct {
		ip                     string
		public, loopback, priv bool // allowed by the zero policy, with AllowLoopback, with AllowPrivate
	}{
		{"8.8.8.8", true, true, true},
		{"2606:4700::1111", true, true, true},
		{"127.0.0.1", false, true, false},
		{"::1", false, true, false},
		{"::ffff:127.0.0.1", false, true, false},
		{"0.0.0.0", false, true, false},
		{"169.254.169.254", false, false, true},
		{"fe80::1", false, false, true},
		{"10.1.2.3", false, false, true},
		{"172.16.0.1", false, false, true},
		{"192.168.1.1", false, false, true},
		{"100.64.0.1", false, false, true},
		{"fd00::1", false, false, true},
		{"224.0.0.1", false, false, false},
	} {
		ip := netip.MustParseAddr(c.ip)
		for _, p := range []struct {
			pol  webhook.AddressPolicy
			want bool
		}{
			{webhook.AddressPolicy{}, c.public},
			{webhook.AddressPolicy{AllowLoopback: true}, c.loopback},
			{webhook.AddressPolicy{AllowPrivate: true}, c.priv},
		} {
			if err := p.pol.Check(ip); (err == nil) != p.want {
				t.Errorf("%+v.Check(%s) = %v, want allowed %v", p.pol, c.ip, err, p.want)
			}
		}
	}
}

// TestDeliveryAddressCheckedAtDial: "*" admits any webhook host by name,
// but the delivery is refused when the name leads to a loopback (or
// private, link-local) address, unless that is allowed; the receiver is
// never contacted and the client learns the response was undelivered.
func TestDeliveryAddressCheckedAtDial(t *testing.T) {
	var hits atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(receiver.Close)
	port := receiver.URL[strings.LastIndexByte(receiver.URL, ':'):]
	for _, c := range []struct {
		name      string
		opts      webhook.ServerOptions
		hook      string
		delivered bool
	}{
		{"star, loopback IP", webhook.ServerOptions{AllowedWebhookHosts: []string{"*"}}, "http://127.0.0.1" + port + "/hook", false},
		{"star, localhost", webhook.ServerOptions{AllowedWebhookHosts: []string{"*"}}, "http://localhost" + port + "/hook", false},
		{"loopback named explicitly", webhook.ServerOptions{AllowedWebhookHosts: []string{"localhost"}}, "http://localhost" + port + "/hook", true},
		{"loopback allowed", webhook.ServerOptions{AllowedWebhookHosts: []string{"*"}, AllowLoopback: true}, "http://localhost" + port + "/hook", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := hits.Load()
			c.opts.Logger = quietLogger()
			c.opts.Retries = -1
			s, url := startServer(t, &c.opts)
			hdr := map[string]string{webhook.HeaderClientID: "c1", webhook.HeaderSessionID: "s1"}
			if status, body, _ := rawPost(t, url, hdr, initBody(1, c.hook)); status != http.StatusOK {
				t.Fatalf("initialize: %d %s", status, body)
			}
			conn, err := s.Accept(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			if _, err := conn.Read(context.Background()); err != nil {
				t.Fatal(err)
			}
			id, _ := jsonrpc.MakeID(float64(1))
			if err := conn.Write(context.Background(), &jsonrpc.Response{ID: id, Result: json.RawMessage(`{}`)}); err != nil {
				t.Fatal(err)
			}
			var last string
			waitFor(func() bool {
				_, last, _ = rawDo(t, http.MethodGet, url, hdr, "")
				return strings.Contains(last, `"undelivered":[1]`) || hits.Load() > before
			})
			if c.delivered {
				if hits.Load() == before {
					t.Errorf("not delivered (status %s)", last)
				}
				return
			}
			if !strings.Contains(last, `"undelivered":[1]`) || hits.Load() != before {
				t.Errorf("status %s, receiver hit %d times; want the delivery refused before connecting", last, hits.Load()-before)
			}
		})
	}
}

// TestServerGuard: the webhook server applies the same Host, Origin and
// bearer-token checks as the HTTP front.
func TestServerGuard(t *testing.T) {
	s, url := startServer(t, &webhook.ServerOptions{AllowLoopback: true, Logger: quietLogger(),
		ListenAddr: "127.0.0.1:8000", AuthToken: "tok", AllowOrigins: []string{"https://app.example"}})
	holdSessions(t, s)
	const hook = "http://127.0.0.1:9/hook"
	for _, c := range []struct {
		name   string
		hdr    map[string]string
		host   string
		status int
	}{
		{"no token", map[string]string{}, "", http.StatusUnauthorized},
		{"wrong token", map[string]string{"Authorization": "Bearer nope"}, "", http.StatusUnauthorized},
		{"rebinding Host", map[string]string{"Authorization": "Bearer tok"}, "evil.example.com", http.StatusForbidden},
		{"foreign Origin", map[string]string{"Authorization": "Bearer tok", "Origin": "https://evil.example"}, "", http.StatusForbidden},
		{"allowed Origin, lowercase scheme", map[string]string{"authorization": "bearer tok", "Origin": "https://app.example"}, "", http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(initBody(1, hook)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(webhook.HeaderClientID, "c-"+c.name)
		for k, v := range c.hdr {
			req.Header.Set(k, v)
		}
		if c.host != "" {
			req.Host = c.host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d, want %d", c.name, resp.StatusCode, c.status)
		}
	}
}
