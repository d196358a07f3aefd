// SPDX-License-Identifier: Apache-2.0

package hybrid_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/hybrid"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/stdio"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// testLogger logs warnings and errors through t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startServer serves a hybrid.Server with d behind it on a loopback HTTP
// server and returns its /mcp URL. Both are stopped at cleanup.
func startServer(t testing.TB, opts hybrid.ServerOptions, d bridge.Dialer) string {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	s := hybrid.NewServer("127.0.0.1:0", &opts)
	s.Handle("", d, nil)
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		hs.Close()
	})
	return hs.URL + "/mcp"
}

// echoDialer starts one examples/echo-server child per session.
func echoDialer(t testing.TB) bridge.Dialer {
	return &stdio.Command{Path: testenv.EchoServer(t), Logger: quietLogger()}
}

// everythingDialer starts one Go SDK conformance everything-server per session.
func everythingDialer(t testing.TB) bridge.Dialer {
	return &stdio.Command{Path: testenv.GoEverythingServer(t), Logger: quietLogger()}
}

// delivery is one POST seen by a receiver.
type delivery struct {
	header http.Header
	body   string
	status int
}

// recorder wraps a delivery receiver, records each POST and its answer,
// and can refuse the first failFirst deliveries with 503 (or all, if
// failFirst is negative) without passing them on.
type recorder struct {
	failFirst int

	mu    sync.Mutex
	next  http.Handler
	seen  []delivery
	count int
}

func (rec *recorder) setNext(h http.Handler) {
	rec.mu.Lock()
	rec.next = h
	rec.mu.Unlock()
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	rec.mu.Lock()
	rec.count++
	fail := rec.failFirst < 0 || rec.count <= rec.failFirst
	next := rec.next
	// Record before handing on: the client may act on the delivery before
	// this handler returns.
	i := len(rec.seen)
	rec.seen = append(rec.seen, delivery{header: r.Header.Clone(), body: string(body)})
	rec.mu.Unlock()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	if fail {
		http.Error(sw, `{"error":"receiver down for the test"}`, http.StatusServiceUnavailable)
	} else {
		next.ServeHTTP(sw, r)
	}
	rec.mu.Lock()
	rec.seen[i].status = sw.status
	rec.mu.Unlock()
}

// deliveries returns the deliveries seen, once every one has been answered
// (waiting up to 10 seconds).
func (rec *recorder) deliveries() []delivery {
	for range 1000 {
		rec.mu.Lock()
		answered := true
		for _, d := range rec.seen {
			answered = answered && d.status != 0
		}
		out := append([]delivery(nil), rec.seen...)
		rec.mu.Unlock()
		if answered {
			return out
		}
		time.Sleep(10 * time.Millisecond)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]delivery(nil), rec.seen...)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// exchange is one POST to the MCP server seen by the client.
type exchange struct {
	body     string
	status   int
	delivery string // Asyncmcp-Delivery header of the answer
}

// postRecorder is an http.RoundTripper recording every POST and its status.
type postRecorder struct {
	mu  sync.Mutex
	log []exchange
}

func (p *postRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	var body string
	if r.Method == http.MethodPost && r.GetBody != nil {
		if rc, err := r.GetBody(); err == nil {
			b, _ := io.ReadAll(rc)
			body = string(b)
		}
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && r.Method == http.MethodPost {
		p.mu.Lock()
		p.log = append(p.log, exchange{body: body, status: resp.StatusCode, delivery: resp.Header.Get(hybrid.HeaderDelivery)})
		p.mu.Unlock()
	}
	return resp, err
}

// find returns the exchanges whose body contains s.
func (p *postRecorder) find(s string) []exchange {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []exchange
	for _, e := range p.log {
		if strings.Contains(e.body, s) {
			out = append(out, e)
		}
	}
	return out
}

// startReceiver serves rec on a loopback HTTP server at /hook and returns
// the webhook URL; call rec.setNext with the Client afterwards.
func startReceiver(t testing.TB, rec *recorder) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/hook", rec)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return hs.URL + "/hook"
}

// newClient makes a hybrid.Client for serverURL whose receiver is behind
// rec, and whose POSTs are recorded by the returned postRecorder.
func newClient(t testing.TB, serverURL string, rec *recorder, opts hybrid.ClientOptions) (*hybrid.Client, *postRecorder) {
	t.Helper()
	pr := &postRecorder{}
	opts.ServerURL = serverURL
	opts.WebhookURL = startReceiver(t, rec)
	opts.HTTPClient = &http.Client{Transport: pr}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	c := hybrid.NewClient(&opts)
	rec.setNext(c)
	t.Cleanup(func() { c.Close() })
	return c, pr
}

// connect opens an MCP client session over tr, closed at cleanup.
func connect(t testing.TB, tr mcp.Transport, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "hybrid-test", Version: "1"}, opts)
	cs, err := c.Connect(context.Background(), tr, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connecting MCP client over hybrid: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func text(r *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range r.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}
