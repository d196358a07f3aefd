// SPDX-License-Identifier: Apache-2.0

package main

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
)

// TestServeTLS: with --tls-cert and --tls-key, serve's webhook and hybrid
// listeners and its --status-addr speak HTTPS; a proxy that trusts the
// certificate (SSL_CERT_FILE) works through them, and plain HTTP is not
// served.
func TestServeTLS(t *testing.T) {
	echoBin := testenv.EchoServer(t)
	certFile, keyFile, pool := writeSelfSigned(t)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for _, c := range []struct {
		kind, path string
		extra      []string
	}{
		{"webhook", "/mcp/request", nil},
		{"hybrid", "/mcp", []string{"--webhook-tools", "echo"}},
	} {
		t.Run(c.kind, func(t *testing.T) {
			listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
			status := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
			args := append([]string{"--transport", c.kind, "--listen", listen, "--status-addr", status, "--allow-loopback-webhooks",
				"--tls-cert", certFile, "--tls-key", keyFile}, c.extra...)
			p := launchServe(t, nil, append(args, "--", echoBin)...)
			if !strings.Contains(p.Log(), "serving https://"+listen+c.path) || !strings.Contains(p.Log(), "status at https://"+status+"/status") {
				t.Errorf("serve output does not announce https:\n%s", p.Log())
			}
			cs := stdioClient(t, []string{"SSL_CERT_FILE=" + certFile}, "proxy", "--backend", c.kind, "--stdio", "--server-url", "https://"+listen+c.path)
			echo(t, cs, "over TLS to serve")

			resp, err := hc.Get("https://" + status + "/status")
			if err != nil {
				t.Fatalf("GET status over TLS: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("GET https status: %d, want 200", resp.StatusCode)
			}
			for _, u := range []string{"http://" + status + "/status", "http://" + listen + c.path} {
				if resp, err := http.Get(u); err == nil {
					resp.Body.Close()
					if resp.StatusCode < 400 {
						t.Errorf("plain HTTP %s answered %d on a TLS listener", u, resp.StatusCode)
					}
				}
			}
		})
	}
	if code, out := runToExit(t, nil, "serve", "--transport", "webhook", "--listen", "127.0.0.1:0", "--tls-cert", certFile, "--", echoBin); code != 2 || !strings.Contains(out, "--tls-key") {
		t.Errorf("--tls-cert alone: exit %d %q; want a usage error naming --tls-key", code, out)
	}
	if code, out := runToExit(t, nil, "serve", "--transport", "webhook", "--listen", "127.0.0.1:0", "--tls-cert", keyFile, "--tls-key", certFile, "--", echoBin); code != 1 || !strings.Contains(out, "--tls-cert") {
		t.Errorf("swapped cert and key: exit %d %q; want 1 naming --tls-cert", code, out)
	}
}
