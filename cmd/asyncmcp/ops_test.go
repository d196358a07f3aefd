// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches url and parses it with the Prometheus text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	return fams
}

// metricValue sums the samples of family name whose labels include want:
// counter and gauge values, or a histogram's sample count.
func metricValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	var sum float64
	for _, m := range f.Metric {
		ok := true
		for k, v := range want {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			ok = ok && found
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// waitFor polls cond until it holds, failing after a minute. (It waits for a
// state; the deadline only bounds a hang.)
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// getStatus returns the HTTP status and decoded JSON of a /status URL.
func getStatus(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("GET %s: body %q is not JSON: %v", url, body, err)
	}
	return resp.StatusCode, out
}

func connectGo(t *testing.T, endpoint string) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "ops-test", Version: "1"}, nil)
	cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: endpoint}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connecting to %s: %v", endpoint, err)
	}
	return cs
}

// TestMetricsThroughProxy: after real calls through `proxy -- echo-server`,
// /metrics (parsed with the Prometheus text parser) counts the requests by
// method and outcome, times them, and counts the children started, crashed
// and alive; /status lists the children with their memory.
func TestMetricsThroughProxy(t *testing.T) {
	echoBin := testenv.EchoServer(t)
	base, _ := launchProxy(t, nil, "proxy", "--port", "0", "--metrics-path", "/metrics", "--", echoBin)
	def := map[string]string{"server": "default"}
	before := scrape(t, base+"/metrics")
	if n := metricValue(before, "asyncmcp_requests_total", nil); n != 0 {
		t.Fatalf("requests counted before any call: %v", n)
	}

	cs := connectGo(t, base+"/mcp")
	for i := range 3 {
		echo(t, cs, fmt.Sprint("hello ", i))
	}
	m := scrape(t, base+"/metrics")
	callsOK := map[string]string{"server": "default", "method": "tools/call", "outcome": "ok"}
	if got := metricValue(m, "asyncmcp_requests_total", callsOK); got != 3 {
		t.Errorf("requests_total{tools/call, ok} = %v, want 3", got)
	}
	if got := metricValue(m, "asyncmcp_requests_total", map[string]string{"method": "initialize", "outcome": "ok"}); got != 1 {
		t.Errorf("requests_total{initialize, ok} = %v, want 1", got)
	}
	if got := metricValue(m, "asyncmcp_request_duration_seconds", map[string]string{"method": "tools/call"}); got != 3 {
		t.Errorf("request_duration_seconds{tools/call} count = %v, want 3", got)
	}
	for name, want := range map[string]float64{"asyncmcp_sessions_open": 1, "asyncmcp_children_alive": 1, "asyncmcp_children_started_total": 1} {
		if got := metricValue(m, name, def); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := metricValue(m, "asyncmcp_children_resident_memory_bytes", def); got <= 0 {
		t.Errorf("children_resident_memory_bytes = %v, want > 0 with a child running", got)
	}
	code, st := getStatus(t, base+"/status")
	back := st["servers"].(map[string]any)["default"].(map[string]any)["back"].(map[string]any)
	kids, _ := back["children"].([]any)
	if code != 200 || len(kids) != 1 || back["command"] != filepath.Base(echoBin) {
		t.Fatalf("/status %d: %v; want 200, one child, command %q", code, st, filepath.Base(echoBin))
	}
	if rss, _ := kids[0].(map[string]any)["rss_bytes"].(float64); rss <= 0 {
		t.Errorf("/status child without rss_bytes: %v", kids[0])
	}

	// A child that dies on its own is counted as crashed; its call is
	// counted as unanswered.
	cs2 := connectGo(t, base+"/mcp")
	if _, err := cs2.CallTool(t.Context(), &mcp.CallToolParams{Name: "crash"}); err == nil {
		t.Error("crash returned no error")
	}
	cs2.Close()
	cs.Close()
	waitFor(t, "children_alive to reach 0", func() bool {
		return metricValue(scrape(t, base+"/metrics"), "asyncmcp_children_alive", def) == 0
	})
	m = scrape(t, base+"/metrics")
	if got := metricValue(m, "asyncmcp_children_crashed_total", def); got != 1 {
		t.Errorf("children_crashed_total = %v, want 1", got)
	}
	if got := metricValue(m, "asyncmcp_children_started_total", def); got != 2 {
		t.Errorf("children_started_total = %v, want 2", got)
	}
	if got := metricValue(m, "asyncmcp_requests_total", map[string]string{"method": "tools/call", "outcome": "unanswered"}); got != 1 {
		t.Errorf("requests_total{tools/call, unanswered} = %v, want 1", got)
	}
	if got := metricValue(m, "asyncmcp_sessions_total", def); got != 2 {
		t.Errorf("sessions_total = %v, want 2", got)
	}
}

// startStatusServe starts `serve --transport sqs` with a --status-addr and
// returns the status base URL.
func startStatusServe(t *testing.T, env []string, queueURL, server string) (string, *testenv.Process) {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	p := launchServe(t, env, "--transport", "sqs", "--queue-url", queueURL, "--wait-time", "1s", "--status-addr", addr, "--", server)
	return "http://" + addr, p
}

// TestMetricsThroughSQSChain: calls through proxy --backend sqs → fauxqs →
// serve --transport sqs move the queue counters on both sides and the
// request counters of the serve side.
func TestMetricsThroughSQSChain(t *testing.T) {
	fq := testenv.StartFauxqs(t)
	reqQ := fq.CreateQueue(t, "metrics-requests", nil)
	respQ := fq.CreateQueue(t, "metrics-responses", nil)
	env := fq.Env()
	serveBase, _ := startStatusServe(t, env, reqQ, testenv.EchoServer(t))
	pxBase, _ := launchProxy(t, env, "proxy", "--port", "0", "--backend", "sqs", "--queue-url", reqQ, "--response-queue-url", respQ, "--wait-time", "1s", "--metrics-path", "/metrics")

	cs := connectGo(t, pxBase+"/mcp")
	echo(t, cs, "one")
	echo(t, cs, "two")
	sm := scrape(t, serveBase+"/metrics")
	pm := scrape(t, pxBase+"/metrics")
	for _, side := range []struct {
		name string
		m    map[string]*dto.MetricFamily
	}{{"serve", sm}, {"proxy", pm}} {
		// initialize, notifications/initialized and two calls reach the
		// server; three answers come back.
		if got := metricValue(side.m, "asyncmcp_queue_sends_total", map[string]string{"service": "sqs", "outcome": "ok"}); got < 3 {
			t.Errorf("%s: queue_sends_total{sqs, ok} = %v, want >= 3", side.name, got)
		}
		if got := metricValue(side.m, "asyncmcp_queue_receives_total", nil); got < 3 {
			t.Errorf("%s: queue_receives_total = %v, want >= 3", side.name, got)
		}
		if got := metricValue(side.m, "asyncmcp_requests_total", map[string]string{"method": "tools/call", "outcome": "ok"}); got != 2 {
			t.Errorf("%s: requests_total{tools/call, ok} = %v, want 2", side.name, got)
		}
	}
	waitFor(t, "serve to delete what it handled", func() bool {
		return metricValue(scrape(t, serveBase+"/metrics"), "asyncmcp_queue_deletes_total", nil) >= 3
	})
	if got := metricValue(sm, "asyncmcp_children_started_total", map[string]string{"server": "default"}); got != 1 {
		t.Errorf("serve: children_started_total = %v, want 1", got)
	}
	code, st := getStatus(t, serveBase+"/status")
	q, _ := st["queue"].(map[string]any)
	if code != 200 || q["reachable"] != true || q["last_receive"] == nil || q["queue"] != reqQ {
		t.Errorf("serve /status %d %v; want 200 with the queue reachable and a last receive", code, st)
	}
	cs.Close()
}

// restartFauxqs starts fauxqs again on the port of fq (which was stopped)
// and creates the queues again: fauxqs keeps its queues in memory.
func restartFauxqs(t *testing.T, fq *testenv.Fauxqs, queues ...string) {
	t.Helper()
	port := fq.Endpoint[strings.LastIndexByte(fq.Endpoint, ':')+1:]
	dir := testenv.NodeDir(t)
	ready := make(chan struct{}, 1)
	var p *testenv.Process
	waitFor(t, "fauxqs to start again on port "+port, func() bool {
		cmd := exec.Command(testenv.Node(t), filepath.Join(dir, "fauxqs-launch.mjs"))
		cmd.Dir = dir
		cmd.Env = append(cmd.Environ(), "FAUXQS_PORT="+port, "FAUXQS_DEFAULT_REGION="+fq.Region)
		p = testenv.StartProcess(t, cmd, func(line string) {
			if strings.HasPrefix(line, "FAUXQS_READY ") {
				select {
				case ready <- struct{}{}:
				default:
				}
			}
		})
		select {
		case <-ready:
			return true
		case <-p.Exited():
			return false // the port may not be free yet
		case <-time.After(30 * time.Second):
			t.Fatalf("fauxqs did not start again:\n%s", p.Log())
		}
		return false
	})
	again := &testenv.Fauxqs{Endpoint: fq.Endpoint, Region: fq.Region, Process: p}
	for _, name := range queues {
		again.CreateQueue(t, name, nil)
	}
}

// TestStatusFollowsQueue: serve's /status and the proxy's /status (with
// --backend sqs) answer 200 while fauxqs runs, 503 naming the error while
// it is stopped, and 200 again once it is back on the same port.
func TestStatusFollowsQueue(t *testing.T) {
	fq := testenv.StartFauxqs(t)
	reqQ := fq.CreateQueue(t, "status-requests", nil)
	respQ := fq.CreateQueue(t, "status-responses", nil)
	env := fq.Env()
	serveBase, _ := startStatusServe(t, env, reqQ, testenv.EchoServer(t))
	pxBase, _ := launchProxy(t, env, "proxy", "--port", "0", "--backend", "sqs", "--queue-url", reqQ, "--response-queue-url", respQ, "--wait-time", "1s")
	urls := []string{serveBase + "/status", pxBase + "/status"}
	for _, u := range urls {
		waitFor(t, u+" to report a successful receive", func() bool {
			code, st := getStatus(t, u)
			return code == 200 && strings.Contains(fmt.Sprint(st), "last_receive")
		})
	}

	fq.Process.Stop()
	for _, u := range urls {
		waitFor(t, u+" to answer 503", func() bool { code, _ := getStatus(t, u); return code == 503 })
		_, st := getStatus(t, u)
		if st["status"] != "unhealthy" || !strings.Contains(fmt.Sprint(st), "last_error") {
			t.Errorf("%s while fauxqs is down: %v; want unhealthy with last_error", u, st)
		}
	}

	restartFauxqs(t, fq, "status-requests", "status-responses")
	for _, u := range urls {
		waitFor(t, u+" to answer 200 again", func() bool { code, _ := getStatus(t, u); return code == 200 })
	}
	// And the chain works again.
	cs := connectGo(t, pxBase+"/mcp")
	echo(t, cs, "after the restart")
	cs.Close()
}

// runToExit runs the asyncmcp binary with env (replacing the environment's
// AWS settings) and returns its exit code and output; a process still
// running after a minute fails the test.
func runToExit(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.BuildAsyncmcp(t), args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("asyncmcp %v still running after a minute:\n%s", args, out)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	return code, string(out)
}

// TestStartupChecks: serve and proxy --backend sqs|sns-sqs exit non-zero,
// naming the queue or topic, when it does not exist, and name the missing
// credentials when there are none, instead of retrying forever.
func TestStartupChecks(t *testing.T) {
	fq := testenv.StartFauxqs(t)
	echoBin := testenv.EchoServer(t)
	missingQ := fq.Endpoint + "/000000000000/no-such-queue"
	missingTopic := "arn:aws:sns:" + fq.Region + ":000000000000:no-such-topic"
	goodQ := fq.CreateQueue(t, "startup-good", nil)
	noCreds := []string{"AWS_ENDPOINT_URL=" + fq.Endpoint, "AWS_REGION=" + fq.Region, "AWS_EC2_METADATA_DISABLED=true",
		"AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_CONFIG_FILE=/nonexistent"}
	cases := []struct {
		env  []string
		args []string
		want string
	}{
		{fq.Env(), []string{"serve", "--transport", "sqs", "--queue-url", missingQ, "--", echoBin}, missingQ},
		{fq.Env(), []string{"serve", "--transport", "sns-sqs", "--queue-url", missingQ, "--", echoBin}, missingQ},
		{fq.Env(), []string{"proxy", "--backend", "sqs", "--queue-url", missingQ}, missingQ},
		{fq.Env(), []string{"proxy", "--backend", "sqs", "--queue-url", goodQ, "--response-queue-url", missingQ}, missingQ},
		{fq.Env(), []string{"proxy", "--backend", "sns-sqs", "--topic-arn", missingTopic}, missingTopic},
		{noCreds, []string{"serve", "--transport", "sqs", "--queue-url", goodQ, "--", echoBin}, "no usable AWS credentials"},
		{noCreds, []string{"proxy", "--backend", "sqs", "--queue-url", goodQ}, "no usable AWS credentials"},
	}
	for _, c := range cases {
		code, out := runToExit(t, c.env, c.args...)
		if code != 1 || !strings.Contains(out, c.want) || strings.Contains(out, "asyncmcp: serving") {
			t.Errorf("asyncmcp %v: exit %d, output %q; want exit 1 naming %q, never serving", c.args, code, out, c.want)
		}
	}
}

// rawSession is a Streamable HTTP session driven by hand, so that the test
// decides what the client holds open.
type rawSession struct {
	endpoint, id string
}

// rawInitialize opens a session at endpoint and sends initialized; it
// returns the HTTP status of the initialize POST and the session.
func rawInitialize(t *testing.T, endpoint string) (int, *rawSession, string) {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"never-ends","version":"1"}}}`
	resp := rawPost(t, endpoint, "", body)
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return resp.StatusCode, nil, string(data)
	}
	s := &rawSession{endpoint: endpoint, id: resp.Header.Get("Mcp-Session-Id")}
	r2 := rawPost(t, endpoint, s.id, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	r2.Body.Close()
	if r2.StatusCode != http.StatusAccepted {
		t.Fatalf("notifications/initialized: %s", r2.Status)
	}
	return 200, s, string(data)
}

func rawPost(t *testing.T, endpoint, session, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, endpoint, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", endpoint, err)
	}
	return resp
}

// openStream opens the session's GET stream and keeps it open until the
// test ends.
func (s *rawSession) openStream(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.endpoint, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", s.id)
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET stream: %v %v", resp, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
}

// childrenAlive reads children_alive of server from a /status URL.
func childrenAlive(t *testing.T, statusURL, server string) int {
	_, st := getStatus(t, statusURL)
	back, _ := st["servers"].(map[string]any)[server].(map[string]any)["back"].(map[string]any)
	n, _ := back["children_alive"].(float64)
	return int(n)
}

// childPids lists the processes whose parent is pid, from /proc.
func childPids(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var kids []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(data, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(data[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			kids = append(kids, n)
		}
	}
	return kids
}

// TestChildCapAndIdleClose: clients that never end their sessions (no
// DELETE, like the MCP Inspector CLI) do not keep children past
// --max-children, counted across named servers, nor past --idle-close; a
// session that keeps its GET stream open is not closed by --idle-close.
func TestChildCapAndIdleClose(t *testing.T) {
	echoBin := testenv.EchoServer(t)
	base, p := launchProxy(t, nil, "proxy", "--port", "0", "--max-children", "2", "--idle-close", "2s", "--session-timeout", "1h",
		"--named-server", "a", echoBin, "--named-server", "b", echoBin)
	status := base + "/status"
	code, streamed, _ := rawInitialize(t, base+"/servers/a/mcp")
	if code != 200 {
		t.Fatalf("first session: %d", code)
	}
	streamed.openStream(t)
	if code, _, _ := rawInitialize(t, base+"/servers/b/mcp"); code != 200 {
		t.Fatalf("second session: %d", code)
	}
	code, _, body := rawInitialize(t, base+"/servers/b/mcp")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "--max-children") {
		t.Fatalf("third session with --max-children 2: %d %s; want 503 naming --max-children", code, body)
	}
	if n := len(childPids(p.Cmd.Process.Pid)); n != 2 {
		t.Fatalf("%d children with a cap of 2", n)
	}
	// The session without a stream or a request in flight is closed, and
	// its child stopped; the one holding its GET stream stays.
	waitFor(t, "the quiet session's child to stop", func() bool { return childrenAlive(t, status, "b") == 0 })
	if n := childrenAlive(t, status, "a"); n != 1 {
		t.Fatalf("server a has %d children; the session holding a stream was closed", n)
	}
	waitFor(t, "one child process left", func() bool { return len(childPids(p.Cmd.Process.Pid)) == 1 })
	// The slot is free again.
	code, s3, _ := rawInitialize(t, base+"/servers/b/mcp")
	if code != 200 {
		t.Fatalf("session after the idle close: %d", code)
	}
	r := rawPost(t, s3.endpoint, s3.id, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"still here"}}}`)
	data, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if !bytes.Contains(data, []byte("still here")) {
		t.Fatalf("echo on the new session: %s", data)
	}
}

// TestConfigURLAndBrokenEntry: a --named-server-config with a command entry
// (its path given as ${VAR}), a url entry with a header from ${VAR}, and an
// entry whose command is missing serves the good two; /status reports the
// broken one (503) without absolute paths.
func TestConfigURLAndBrokenEntry(t *testing.T) {
	echoBin := testenv.EchoServer(t)
	server := mcp.NewServer(&mcp.Implementation{Name: "remote-echo", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, a struct {
		Text string `json:"text"`
	}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer from-env" {
			http.Error(w, "missing token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	cfg := filepath.Join(t.TempDir(), "servers.json")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`{"mcpServers": {
		"local": {"command": "${OPS_ECHO_BIN}"},
		"remote": {"type": "http", "url": %q, "headers": {"Authorization": "Bearer ${OPS_TOKEN}"}},
		"broken": {"command": "/no/such/dir/uvx", "args": ["mcp-server-fetch"]},
		"unset": {"command": "${OPS_NOT_SET_ANYWHERE}"}
	}}`, ts.URL+"/mcp")), 0o644)
	base, p := launchProxy(t, []string{"OPS_ECHO_BIN=" + echoBin, "OPS_TOKEN=from-env"}, "proxy", "--port", "0", "--named-server-config", cfg)
	for _, name := range []string{"local", "remote"} {
		cs := connectGo(t, base+"/servers/"+name+"/mcp")
		echo(t, cs, "hello "+name)
		cs.Close()
	}
	code, st := getStatus(t, base+"/status")
	servers := st["servers"].(map[string]any)
	broken := servers["broken"].(map[string]any)
	if code != 503 || broken["healthy"] != false || !strings.Contains(fmt.Sprint(broken["back"]), "not found") {
		t.Errorf("/status %d: %v; want 503 with server broken unhealthy and its error", code, st)
	}
	if unset := fmt.Sprint(servers["unset"]); !strings.Contains(unset, "OPS_NOT_SET_ANYWHERE") {
		t.Errorf("/status of the entry with an unset variable: %s", unset)
	}
	if servers["local"].(map[string]any)["healthy"] != true || servers["remote"].(map[string]any)["healthy"] != true {
		t.Errorf("/status: good servers not healthy: %v", st)
	}
	raw, _ := json.Marshal(st)
	if strings.Contains(string(raw), echoBin) {
		t.Errorf("/status shows the absolute command path %s: %s", echoBin, raw)
	}
	if !strings.Contains(p.Log(), "broken") || !strings.Contains(p.Log(), "cannot start") {
		t.Errorf("the log does not report the broken server:\n%s", p.Log())
	}
	// A client of the broken server is refused with 503.
	if code, _, body := rawInitialize(t, base+"/servers/broken/mcp"); code != 503 {
		t.Errorf("initialize on the broken server: %d %s", code, body)
	}
}

// TestOptionSpellings: mcp-proxy's --sse-port and --sse-host work;
// --verify-ssl takes true, false or a CA bundle; a word that is surely an
// option's value is never started as the child.
func TestOptionSpellings(t *testing.T) {
	echoBin := testenv.EchoServer(t)
	base, _ := launchProxy(t, nil, "proxy", "--sse-host", "127.0.0.1", "--sse-port", "0", "--", echoBin)
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Errorf("--sse-host/--sse-port: listening on %s", base)
	}
	cs := connectGo(t, base+"/mcp")
	echo(t, cs, "sse spelling")
	cs.Close()

	// --verify-ssl false against a self-signed server: not verified, and
	// "false" is not taken for a command.
	server := mcp.NewServer(&mcp.Implementation{Name: "tls-echo", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, a struct {
		Text string `json:"text"`
	}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
	})
	ts := httptest.NewTLSServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	t.Cleanup(ts.Close)
	echo(t, stdioClient(t, nil, "proxy", "--verify-ssl", "false", ts.URL), "verify-ssl false")
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o644)
	echo(t, stdioClient(t, nil, "proxy", "--verify-ssl", ca, ts.URL), "verify-ssl with a CA bundle")

	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"proxy", "--stateless", "true", echoBin}, 2, `"true" is not an MCP server command`},
		{[]string{"proxy", "--no-verify-ssl", "false", "https://127.0.0.1:1/mcp"}, 2, `"false" is not an MCP server command`},
		{[]string{"proxy", "--verify-ssl=maybe", "https://127.0.0.1:1/mcp"}, 2, "want true, false or a CA bundle"},
		{[]string{"serve", "--transport", "sqs", "--queue-url", "http://127.0.0.1:1/q", "0"}, 2, `"0" is not an MCP server command`},
		{[]string{"proxy", "--tls-cert", "x.pem", "--", echoBin}, 2, "--tls-cert and --tls-key go together"},
		{[]string{"proxy", "--metrics-path", "metrics", "--", echoBin}, 2, "--metrics-path must start with /"},
	}
	for _, c := range cases {
		code, out := runToExit(t, nil, c.args...)
		if code != c.code || !strings.Contains(out, c.want) || strings.Contains(out, "listening on") {
			t.Errorf("asyncmcp %v: exit %d, output %q; want exit %d mentioning %q", c.args, code, out, c.code, c.want)
		}
	}
}

// writeSelfSigned writes a certificate for 127.0.0.1 and its key, and
// returns their paths and a pool that trusts the certificate.
func writeSelfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "asyncmcp test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLSListener: with --tls-cert and --tls-key the proxy serves HTTPS, and
// an MCP client that trusts the certificate works through it.
func TestTLSListener(t *testing.T) {
	echoBin := testenv.EchoServer(t)
	certFile, keyFile, pool := writeSelfSigned(t)
	base, _ := launchProxy(t, nil, "proxy", "--port", "0", "--tls-cert", certFile, "--tls-key", keyFile, "--", echoBin)
	if !strings.HasPrefix(base, "https://127.0.0.1:") {
		t.Fatalf("listening on %s, want https", base)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	c := mcp.NewClient(&mcp.Implementation{Name: "tls", Version: "1"}, nil)
	cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: base + "/mcp", HTTPClient: hc}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	echo(t, cs, "over TLS")
	cs.Close()
	// Plain HTTP on the TLS port is not served.
	if resp, err := http.Get("http://" + strings.TrimPrefix(base, "https://") + "/status"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered 200 on the TLS listener")
		}
	}
	if code, out := runToExit(t, nil, "proxy", "--tls-cert", keyFile, "--tls-key", certFile, "--", echoBin); code != 1 || !strings.Contains(out, "--tls-cert") {
		t.Errorf("swapped cert and key: exit %d %q; want 1 naming --tls-cert", code, out)
	}
}

// TestCrashingChildHidesPath: when children keep dying, the 503 given to a
// new client and /status name the command by its base name only.
func TestCrashingChildHidesPath(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "dies-at-once")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	base, _ := launchProxy(t, nil, "proxy", "--port", "0", "--", script)
	var body string
	waitFor(t, "the crash back-off to refuse a session", func() bool {
		resp := rawPost(t, base+"/mcp", "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	if strings.Contains(body, dir) || !strings.Contains(body, "dies-at-once") {
		t.Errorf("503 body %q: want the base name only", body)
	}
	code, st := getStatus(t, base+"/status")
	raw, _ := json.Marshal(st)
	if code != 503 || strings.Contains(string(raw), dir) || !strings.Contains(string(raw), `"command":"dies-at-once"`) {
		t.Errorf("/status %d %s: want 503 naming the command by its base name only", code, raw)
	}
}

// TestWebhookMetrics: serve --transport webhook counts its deliveries and
// reports the last one in /status.
func TestWebhookMetrics(t *testing.T) {
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	status := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	launchServe(t, nil, "--transport", "webhook", "--listen", listen, "--allow-loopback-webhooks", "--status-addr", status, "--", testenv.EchoServer(t))
	cs := stdioClient(t, nil, "proxy", "--backend", "webhook", "--stdio", "--server-url", "http://"+listen+"/mcp/request")
	echo(t, cs, "by webhook")
	// The answers to the client's opening request (initialize, or
	// server/discover for a 2026-07-28 client) and to tools/call were
	// delivered. A delivery is counted once the client's receiver has
	// acknowledged it, which can be just after the client read the answer.
	var m map[string]*dto.MetricFamily
	deadline := time.Now().Add(10 * time.Second)
	for {
		m = scrape(t, "http://"+status+"/metrics")
		got := metricValue(m, "asyncmcp_webhook_deliveries_total", map[string]string{"outcome": "ok"})
		if got >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook_deliveries_total{ok} = %v 10s after the call, want >= 2", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := metricValue(m, "asyncmcp_requests_total", map[string]string{"method": "tools/call", "outcome": "ok"}); got != 1 {
		t.Errorf("requests_total{tools/call, ok} = %v, want 1", got)
	}
	code, st := getStatus(t, "http://"+status+"/status")
	last, _ := st["last_delivery"].(map[string]any)
	if code != 200 || last["outcome"] != "ok" {
		t.Errorf("serve /status %d %v; want 200 with last_delivery ok", code, st)
	}
}
