// SPDX-License-Identifier: Apache-2.0

package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/metrics"
)

// serveStatus is the --status-addr listener of serve: /status and /metrics.
type serveStatus struct {
	transport string
	queueURL  string // sqs, sns-sqs: the request queue read
	webhook   bool   // webhook, hybrid: report the last delivery
	back      *backDialer
}

// serveStatusBody is the JSON of serve's /status.
type serveStatusBody struct {
	Status    string `json:"status"` // "ok" or "unhealthy"
	Transport string `json:"transport"`
	// Queue is the reachability of the request queue (sqs, sns-sqs).
	Queue *metrics.QueueStatus `json:"queue,omitempty"`
	// LastDelivery is the outcome of the last webhook delivery (webhook,
	// hybrid). A failed delivery is the client's endpoint failing, so it
	// does not make the status unhealthy.
	LastDelivery *metrics.WebhookStatus `json:"last_delivery,omitempty"`
	Server       childStatus            `json:"server"`
}

func (s *serveStatus) body() (serveStatusBody, bool) {
	b := serveStatusBody{Status: "ok", Transport: s.transport, Server: s.back.status()}
	healthy := !b.Server.Crashing
	if s.queueURL != "" {
		q := metrics.Queue(s.queueURL)
		b.Queue = &q
		healthy = healthy && q.Reachable
	}
	if s.webhook {
		w := metrics.LastWebhookDelivery()
		b.LastDelivery = &w
	}
	if !healthy {
		b.Status = "unhealthy"
	}
	return b, healthy
}

func (s *serveStatus) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	b, healthy := s.body()
	w.Header().Set("Content-Type", "application/json")
	if !healthy {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(b)
}

// start listens on addr (nothing when addr is empty), with TLS when tlsConf
// is not nil, and returns a stop function.
func (s *serveStatus) start(addr string, tlsConf *tls.Config, stdout io.Writer, log *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on --status-addr %s: %w", addr, err)
	}
	backs := &backSet{}
	backs.add(s.back)
	mux := http.NewServeMux()
	mux.HandleFunc("/status", s.serveHTTP)
	mux.Handle("/metrics", metricsHandler(backs, nil))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go serveMaybeTLS(hs, ln, tlsConf)
	sc := scheme(tlsConf)
	fmt.Fprintf(stdout, "asyncmcp: status at %s://%s/status, metrics at %s://%s/metrics\n", sc, ln.Addr(), sc, ln.Addr())
	return func() { stopHTTP(hs) }, nil
}
