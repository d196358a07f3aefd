// SPDX-License-Identifier: Apache-2.0

package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/httpfront"
	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/remote"
	"github.com/asyncmcp/asyncmcp-go/stdio"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// e2eRequired2026 is the number of server scenarios that conformance
// 0.2.0-alpha.12 requires for 2026-07-28 (`list --server --requirements
// 2026-07-28`); the test reads the list from the CLI and checks its length,
// so a different CLI cannot silently shrink the bar.
const e2eRequired2026 = 37

// e2eAlso2026 are scenarios that the CLI runs with --requirements 2026-07-28
// but does not score (pending); they check the header rules a proxy must
// enforce and pass against the Go SDK server itself, so they must pass
// through the proxy too. The Tasks extension scenarios also run unscored;
// the Go SDK server does not implement Tasks, so they are not asserted.
var e2eAlso2026 = []string{"http-header-validation", "http-custom-header-server-validation", "json-schema-2020-12"}

// e2eStartGoEverythingHTTP starts the Go SDK conformance everything-server
// on stateless Streamable HTTP (its default with -http, which serves
// 2026-07-28 and the session-based versions at the root path) and returns
// its URL. The process is stopped when the test ends.
func e2eStartGoEverythingHTTP(t *testing.T) string {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	p := testenv.StartProcess(t, exec.Command(testenv.GoEverythingServer(t), "-http="+addr), nil)
	testenv.WaitTCP(t, addr, p)
	return "http://" + addr
}

// e2eStartRemoteFront serves upstream (a Streamable HTTP MCP server) at
// BASE/mcp through an in-process httpfront.Server whose back is
// remote.Streamable: the HTTP front and the HTTP back of the proxy, which
// the CLI does not combine on its own. It returns BASE/mcp.
func e2eStartRemoteFront(t *testing.T, upstream string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	front := httpfront.New(ln.Addr().String(), httpfront.Options{Logger: slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	front.Handle("", &remote.Streamable{URL: upstream}, nil)
	srv := &http.Server{Handler: front}
	go srv.Serve(ln)
	t.Cleanup(func() {
		front.Close()
		srv.Close()
	})
	return "http://" + ln.Addr().String() + "/mcp"
}

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// e2eConformanceNext runs the 0.2.0 conformance CLI with args in a fresh
// directory and returns its combined output, the directory, and the error
// (non-nil when it exits non-zero). It runs in its own process group and is
// killed if the test ends first or after 10 minutes.
func e2eConformanceNext(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	node, cli := testenv.Node(t), testenv.ConformanceNextCLI(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{cli}, args...)...)
	cmd.Dir = dir
	testenv.KillGroupOnCancel(cmd)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		err = fmt.Errorf("conformance %s: %w", strings.Join(args, " "), err)
	}
	return string(out), dir, err
}

// e2eRequiredServerScenarios asks the CLI which server scenarios
// 2026-07-28 requires.
func e2eRequiredServerScenarios(t *testing.T) []string {
	t.Helper()
	out, _, err := e2eConformanceNext(t, "list", "--server", "--requirements", "2026-07-28")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var names []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Server scenarios"):
			in = true
		case strings.HasPrefix(line, "Client scenarios"):
			in = false
		case in:
			if name, ok := strings.CutPrefix(strings.TrimSpace(line), "- "); ok {
				names = append(names, name)
			}
		}
	}
	if len(names) != e2eRequired2026 {
		t.Fatalf("the CLI lists %d required server scenarios for 2026-07-28, want %d:\n%s", len(names), e2eRequired2026, out)
	}
	return names
}

// e2eResultDir matches a scenario's results directory: server-NAME-TIMESTAMP.
var e2eResultDir = regexp.MustCompile(`^server-(.+)-\d{4}-\d{2}-\d{2}T[0-9-]+Z$`)

// e2eScenarioResult is what one scenario's checks.json says.
type e2eScenarioResult struct {
	passed, failed, other int
	failures              []string
}

// e2eReadResults reads every scenario's checks.json under dir.
func e2eReadResults(t *testing.T, dir string) map[string]*e2eScenarioResult {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("reading conformance results: %v", err)
	}
	out := map[string]*e2eScenarioResult{}
	for _, e := range entries {
		m := e2eResultDir.FindStringSubmatch(e.Name())
		if m == nil || !e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name(), "checks.json"))
		if err != nil {
			t.Errorf("scenario %s: %v", m[1], err)
			continue
		}
		var checks []struct {
			ID           string `json:"id"`
			Status       string `json:"status"`
			ErrorMessage string `json:"errorMessage"`
		}
		if err := json.Unmarshal(data, &checks); err != nil {
			t.Errorf("scenario %s: checks.json: %v", m[1], err)
			continue
		}
		r := &e2eScenarioResult{}
		for _, c := range checks {
			switch c.Status {
			case "SUCCESS":
				r.passed++
			case "FAILURE":
				r.failed++
				r.failures = append(r.failures, c.ID+": "+c.ErrorMessage)
			default: // WARNING, INFO, SKIPPED: neither pass nor fail
				r.other++
			}
		}
		out[m[1]] = r
	}
	return out
}

// e2eConformance2026 runs `server --url URL --requirements 2026-07-28` and
// fails t unless each required scenario, and each of e2eAlso2026, has a
// checks.json with at least one passed check and none failed.
func e2eConformance2026(t *testing.T, url string) {
	t.Helper()
	required := e2eRequiredServerScenarios(t)
	start := time.Now()
	out, dir, runErr := e2eConformanceNext(t, "server", "--url", url, "--requirements", "2026-07-28", "-o", "results")
	results := e2eReadResults(t, filepath.Join(dir, "results"))
	var passed, failed []string
	checks := 0
	for _, name := range append(slices.Clone(required), e2eAlso2026...) {
		r, ok := results[name]
		switch {
		case !ok:
			failed = append(failed, name+" (no results: did not run)")
		case r.failed > 0 || r.passed == 0:
			failed = append(failed, fmt.Sprintf("%s (%d passed, %d failed: %s)", name, r.passed, r.failed, strings.Join(r.failures, "; ")))
		default:
			passed = append(passed, name)
			checks += r.passed
		}
	}
	nreq := 0
	for _, name := range required {
		if slices.Contains(passed, name) {
			nreq++
		}
	}
	t.Logf("conformance 2026-07-28 against %s: %d/%d required scenarios passed, %d/%d unscored header/schema scenarios passed, %d checks passed; took %v",
		url, nreq, len(required), len(passed)-nreq, len(e2eAlso2026), checks, time.Since(start).Round(time.Millisecond))
	if len(failed) > 0 {
		t.Logf("conformance output:\n%s", out)
		t.Errorf("failed conformance scenarios:\n  %s", strings.Join(failed, "\n  "))
	}
	if runErr != nil && nreq != len(required) {
		t.Errorf("conformance CLI: %v", runErr)
	}
}

// e2eModernTarget is one way of putting the proxy in front of the Go SDK
// everything-server; start returns the URL to test.
type e2eModernTarget struct {
	name  string
	start func(t *testing.T) string
}

// e2eModernTargets are the proxy set-ups that must serve 2026-07-28 like
// the server itself. Add a case per new set-up (the SQS chain, ...).
var e2eModernTargets = []e2eModernTarget{
	{"http front, remote back", func(t *testing.T) string {
		return e2eStartRemoteFront(t, e2eStartGoEverythingHTTP(t))
	}},
	{"proxy -- stdio child", func(t *testing.T) string {
		// Until stdio.Command serves 2026-07-28 requests itself, the
		// proxy answers them with -32022 and this set-up cannot pass: it
		// is skipped, and says so, rather than counted.
		if _, ok := any(&stdio.Command{}).(bridge.RoundTripper); !ok {
			t.Skip("stdio.Command is not a bridge.RoundTripper yet: `proxy -- CMD` does not serve 2026-07-28 requests")
		}
		return e2eStartProxy(t, "--", testenv.GoEverythingServer(t)).Base + "/mcp"
	}},
}

// TestConformance2026 runs the official conformance suite's 2026-07-28
// requirements (0.2.0-alpha.12) through the proxy: all 37 required server
// scenarios must pass, as they do against the server alone.
func TestConformance2026(t *testing.T) {
	e2eNode(t)
	for _, target := range e2eModernTargets {
		t.Run(target.name, func(t *testing.T) {
			e2eConformance2026(t, target.start(t))
		})
	}
}

// TestModernGoClientThroughProxy: a Go SDK v1.8.0 client with default
// options negotiates 2026-07-28 with no fallback and no warning, through
// the HTTP front with a remote back, and through client mode (`asyncmcp
// proxy URL` on stdio), and gets its tool results and progress.
func TestModernGoClientThroughProxy(t *testing.T) {
	upstream := e2eStartGoEverythingHTTP(t)
	transports := map[string]func(t *testing.T) mcp.Transport{
		"http front": func(t *testing.T) mcp.Transport {
			return &mcp.StreamableClientTransport{Endpoint: e2eStartRemoteFront(t, upstream)}
		},
		"client mode": func(t *testing.T) mcp.Transport {
			cmd := exec.Command(testenv.BuildAsyncmcp(t), "proxy", upstream)
			cmd.Stderr = testLogWriter{t}
			return &mcp.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second}
		},
	}
	for _, name := range []string{"http front", "client mode"} {
		t.Run(name, func(t *testing.T) {
			logs := &e2eWarnings{}
			progress := make(chan float64, 16)
			c := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, &mcp.ClientOptions{
				Logger: slog.New(logs),
				ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
					progress <- r.Params.Progress
				},
			})
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			cs, err := c.Connect(ctx, transports[name](t), nil)
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer cs.Close()
			if v := cs.InitializeResult().ProtocolVersion; v != rpcmsg.ModernVersion {
				t.Fatalf("negotiated %q, want %q", v, rpcmsg.ModernVersion)
			}
			if name == "client mode" {
				// The server wants Mcp-Param-Region, which a stdio client
				// cannot send: the proxy derives it from the tool's schema,
				// fetching tools/list itself since the client has not.
				e2eCallXMcpHeader(t, ctx, cs)
			}
			tools, err := cs.ListTools(ctx, nil)
			if err != nil || len(tools.Tools) == 0 {
				t.Fatalf("tools/list: %v (%d tools)", err, len(tools.Tools))
			}
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_simple_text", Arguments: map[string]any{}})
			if err != nil || res.IsError || len(res.Content) == 0 {
				t.Fatalf("test_simple_text: %+v, %v", res, err)
			}
			res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_tool_with_progress", Arguments: map[string]any{}, Meta: mcp.Meta{"progressToken": "e2e"}})
			if err != nil || res.IsError {
				t.Fatalf("test_tool_with_progress: %+v, %v", res, err)
			}
			select {
			case <-progress:
			case <-ctx.Done():
				t.Fatal("no progress notification reached the client")
			}
			if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "test://static-text"}); err != nil {
				t.Errorf("resources/read: %v", err)
			}
			if _, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "test_simple_prompt"}); err != nil {
				t.Errorf("prompts/get: %v", err)
			}
			// After tools/list, the Go SDK client over HTTP sends the header
			// itself (forwarded), and client mode uses the schema it saw.
			e2eCallXMcpHeader(t, ctx, cs)
			if w := logs.all(); len(w) > 0 {
				t.Errorf("client logged: %q", w)
			}
		})
	}
}

// e2eCallXMcpHeader calls the everything-server's test_x_mcp_header tool,
// whose "region" argument the server requires mirrored in Mcp-Param-Region.
func e2eCallXMcpHeader(t *testing.T, ctx context.Context, cs *mcp.ClientSession) {
	t.Helper()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_x_mcp_header", Arguments: map[string]any{"region": "eu-west 1", "level": 3}})
	if err != nil || res.IsError {
		t.Fatalf("test_x_mcp_header: %+v, %v", res, err)
	}
}

// e2eWarnings is a slog handler that keeps warnings and errors.
type e2eWarnings struct {
	mu    sync.Mutex
	lines []string
}

func (w *e2eWarnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *e2eWarnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(w.lines, r.Message)
	return nil
}
func (w *e2eWarnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *e2eWarnings) WithGroup(string) slog.Handler      { return w }
func (w *e2eWarnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.lines)
}

// e2eTS2Summary is what testdata/ts2-client.mjs prints.
type e2eTS2Summary struct {
	ProtocolVersion string    `json:"protocolVersion"`
	Tools           []string  `json:"tools"`
	SimpleText      string    `json:"simpleText"`
	Progress        []float64 `json:"progress"`
	Error           string    `json:"error"`
}

// TestTS2ClientThroughProxy drives the TypeScript SDK v2 client
// (@modelcontextprotocol/client 2.4.0) through the HTTP front with a remote
// back and through client mode, in its default negotiation (a legacy
// initialize, which must keep working) and in auto mode (probe
// server/discover, which must find 2026-07-28).
func TestTS2ClientThroughProxy(t *testing.T) {
	node, nodeDir := e2eNode(t)
	upstream := e2eStartGoEverythingHTTP(t)
	front := e2eStartRemoteFront(t, upstream)
	bin := testenv.BuildAsyncmcp(t)
	script, err := filepath.Abs(filepath.Join("testdata", "ts2-client.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"default": rpcmsg.LatestLegacyVersion, "auto": rpcmsg.ModernVersion}
	for _, negotiation := range []string{"default", "auto"} {
		for _, via := range [][]string{{"http", front}, {"stdio", bin, "proxy", upstream}} {
			t.Run(negotiation+" "+via[0], func(t *testing.T) {
				out, err := e2eRunNode(t, node, nodeDir, append([]string{script, negotiation}, via...)...)
				if err != nil {
					t.Fatalf("%v\n%s", err, out)
				}
				var s e2eTS2Summary
				if err := json.Unmarshal(out, &s); err != nil {
					t.Fatalf("cannot decode the summary: %v\n%s", err, out)
				}
				t.Logf("summary: %s", strings.TrimSpace(string(out)))
				if s.Error != "" {
					t.Fatalf("TS client failed: %s", s.Error)
				}
				if s.ProtocolVersion != want[negotiation] {
					t.Errorf("negotiated %q, want %q", s.ProtocolVersion, want[negotiation])
				}
				if !slices.Contains(s.Tools, "test_simple_text") || s.SimpleText == "" {
					t.Errorf("tools %v, test_simple_text answered %q", s.Tools, s.SimpleText)
				}
				if len(s.Progress) == 0 {
					t.Errorf("no progress notification reached the client")
				}
			})
		}
	}
}

// TestModernClientFallsBackToLegacyChild: a Go SDK client with default
// options (it probes server/discover first) in front of `asyncmcp proxy --
// <server-everything>`, a session-based-only server, falls back to
// initialize and works: the probe is answered as a modern error listing the
// session-based versions (or as the child answers it), never with a 400
// about sessions.
func TestModernClientFallsBackToLegacyChild(t *testing.T) {
	node, _ := e2eNode(t)
	px := e2eStartProxy(t, "--terminate-timeout", "1s", "--", node, testenv.ServerEverything(t), "stdio")
	c := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: px.Base + "/mcp"}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer cs.Close()
	if v := cs.InitializeResult().ProtocolVersion; rpcmsg.IsModernVersion(v) || v == "" {
		t.Fatalf("negotiated %q with a session-based server", v)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "fell back"}})
	if err != nil || res.IsError || len(res.Content) == 0 || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "fell back") {
		t.Fatalf("echo after the fallback: %+v, %v", res, err)
	}
	if strings.Contains(px.p.Log(), "no Mcp-Session-Id and not initialize") {
		t.Errorf("the probe was refused as a request without a session:\n%s", px.p.Log())
	}
	cs.Close()
	px.Stop(t)
}
