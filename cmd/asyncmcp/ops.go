// SPDX-License-Identifier: Apache-2.0

package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/asyncmcp/asyncmcp-go/internal/metrics"
)

// loadTLS loads --tls-cert and --tls-key, or returns nil when neither is set.
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading --tls-cert %s and --tls-key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// serveMaybeTLS serves hs on ln, with TLS when tlsConf is not nil.
func serveMaybeTLS(hs *http.Server, ln net.Listener, tlsConf *tls.Config) error {
	if tlsConf == nil {
		return hs.Serve(ln)
	}
	hs.TLSConfig = tlsConf
	return hs.ServeTLS(ln, "", "")
}

// scheme is "https" when tlsConf is not nil, else "http".
func scheme(tlsConf *tls.Config) string {
	if tlsConf != nil {
		return "https"
	}
	return "http"
}

// countClients keeps asyncmcp_clients_open in step with the listener's
// connections (an http.Server ConnState hook).
func countClients(_ net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		metrics.ClientsOpen.Inc()
	case http.StateClosed, http.StateHijacked:
		metrics.ClientsOpen.Dec()
	}
}

// metricsHandler serves the registry after refreshing the children's memory.
func metricsHandler(backs *backSet, ts *taskSet) http.Handler {
	h := metrics.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		backs.refreshMemory()
		ts.refreshMetrics()
		h.ServeHTTP(w, r)
	})
}

// isVerifyValue reports whether the argument after a bare --verify-ssl is
// its value (mcp-proxy's --verify-ssl takes true, false or a CA bundle):
// a boolean word, or an existing file with a certificate suffix.
func isVerifyValue(s string) bool {
	if _, err := strconv.ParseBool(s); err == nil {
		return true
	}
	switch strings.ToLower(s) {
	case "yes", "no", "on", "off":
		return true
	}
	lower := strings.ToLower(s)
	if strings.HasSuffix(lower, ".pem") || strings.HasSuffix(lower, ".crt") || strings.HasSuffix(lower, ".cer") {
		fi, err := os.Stat(s)
		return err == nil && fi.Mode().IsRegular()
	}
	return false
}

// setVerifySSL applies --verify-ssl [true|false|FILE].
func (o *proxyOptions) setVerifySSL(vals []string) error {
	if len(vals) == 0 {
		o.noVerify = false
		return nil
	}
	v := vals[0]
	switch strings.ToLower(v) {
	case "true", "1", "t", "yes", "on":
		o.noVerify = false
		return nil
	case "false", "0", "f", "no", "off":
		o.noVerify = true
		return nil
	}
	fi, err := os.Stat(v)
	if err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("want true, false or a CA bundle file, got %q", v)
	}
	o.caBundle = v
	return nil
}

// refuseMistakenCommand refuses a command line whose "command" is a word
// that is surely the value of an option given before it (asyncmcp proxy
// --stateless true -- ... would otherwise run the program "true"). After an
// explicit "--" the user meant it, and it runs.
func refuseMistakenCommand(rest []string, sawDashDash bool) error {
	if len(rest) == 0 || sawDashDash {
		return nil
	}
	w := rest[0]
	_, errBool := strconv.ParseBool(w)
	_, errNum := strconv.ParseFloat(w, 64)
	switch strings.ToLower(w) {
	case "yes", "no", "on", "off", "none", "null":
		errBool = nil
	}
	if errBool == nil || errNum == nil {
		return usagef("%q is not an MCP server command: it looks like the value of an option given before it, and that option takes no value (write --verify-ssl=false or --no-verify-ssl, for example); to really run %q, put it after --", w, w)
	}
	return nil
}
