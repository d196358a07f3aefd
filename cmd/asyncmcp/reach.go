// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asyncmcp/asyncmcp-go/httpfront"
)

// serverReach records whether the server URL of a webhook or hybrid back
// answers, from the outcome of every HTTP exchange the back makes with it,
// and counts the webhook deliveries the back receives. It feeds /status.
type serverReach struct {
	kind, url string

	mu          sync.Mutex
	contacted   bool      // an exchange has finished either way
	reachable   bool      // the last exchange got an answer
	lastSuccess time.Time // end of the last exchange that got an answer
	lastError   string
	lastErrorAt time.Time

	received atomic.Int64 // deliveries acknowledged with 2xx
	rejected atomic.Int64 // deliveries refused (signature, unknown session...)
	lastRecv atomic.Int64 // unix nanoseconds of the last acknowledged delivery
}

// serverReachStatus is the /status detail of a webhook or hybrid back.
type serverReachStatus struct {
	Transport string `json:"transport"`
	ServerURL string `json:"server_url"`
	// Reachable is false when the last exchange with ServerURL failed to
	// get an answer (connection refused, timeout, or a 502, 503 or 504).
	Reachable   bool      `json:"reachable"`
	Contacted   bool      `json:"contacted"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Deliveries counts the webhook deliveries received and acknowledged,
	// DeliveriesRejected those refused.
	Deliveries         int64     `json:"deliveries_received"`
	DeliveriesRejected int64     `json:"deliveries_rejected"`
	LastDelivery       time.Time `json:"last_delivery_at,omitzero"`
}

func newServerReach(kind, url string) *serverReach {
	return &serverReach{kind: kind, url: redactURL(url)}
}

// record notes the outcome of one exchange at now.
func (r *serverReach) record(err error, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.contacted = true
	if err != nil {
		r.reachable = false
		r.lastError = err.Error()
		r.lastErrorAt = now
		return
	}
	r.reachable = true
	r.lastSuccess = now
}

func (r *serverReach) snapshot() serverReachStatus {
	r.mu.Lock()
	st := serverReachStatus{
		Transport:   r.kind,
		ServerURL:   r.url,
		Reachable:   r.reachable || !r.contacted,
		Contacted:   r.contacted,
		LastSuccess: r.lastSuccess,
		LastError:   r.lastError,
		LastErrorAt: r.lastErrorAt,
	}
	r.mu.Unlock()
	st.Deliveries, st.DeliveriesRejected = r.received.Load(), r.rejected.Load()
	if ns := r.lastRecv.Load(); ns != 0 {
		st.LastDelivery = time.Unix(0, ns)
	}
	return st
}

// status is the back's httpfront.StatusFunc: unhealthy while the last
// exchange with the server failed. Before the first exchange the back
// counts as healthy (nothing has been tried).
func (r *serverReach) status() httpfront.StatusFunc {
	return func() (bool, any) {
		st := r.snapshot()
		return st.Reachable, st
	}
}

// client returns an HTTP client whose exchanges are recorded, sending
// through base.
func (r *serverReach) client(base http.RoundTripper) *http.Client {
	return &http.Client{Transport: &reachTransport{base: base, r: r}}
}

type reachTransport struct {
	base http.RoundTripper
	r    *serverReach
}

func (t *reachTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	switch {
	case err != nil:
		// A request the caller gave up on says nothing about the server.
		if req.Context().Err() == nil {
			t.r.record(fmt.Errorf("%s %s: %w", req.Method, redactURL(req.URL.String()), err), time.Now())
		}
	case resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusGatewayTimeout:
		t.r.record(fmt.Errorf("%s %s: HTTP %d", req.Method, redactURL(req.URL.String()), resp.StatusCode), time.Now())
	default:
		t.r.record(nil, time.Now())
	}
	return resp, err
}

// deliveries wraps the receiver h, counting the deliveries it acknowledges
// and refuses.
func (r *serverReach) deliveries(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, req)
		if req.Method != http.MethodPost {
			return
		}
		if sw.code < 300 {
			r.received.Add(1)
			r.lastRecv.Store(time.Now().UnixNano())
		} else {
			r.rejected.Add(1)
		}
	})
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
