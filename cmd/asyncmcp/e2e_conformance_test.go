// SPDX-License-Identifier: Apache-2.0

package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
)

// e2eListening is the line the proxy prints on stdout once it serves.
const e2eListening = "asyncmcp: listening on "

// e2eProxy is one `asyncmcp proxy` process started by a test.
type e2eProxy struct {
	// Base is the proxy's root URL, http://127.0.0.1:PORT.
	Base string
	p    *testenv.Process
}

// e2eStartProxy starts `asyncmcp proxy --port 0 ARGS...` (ARGS usually end
// with "--", a command and its arguments), waits until it prints its URL and
// accepts connections, and returns it. The process is stopped by a cleanup
// of t (and by [e2eProxy.Stop]).
func e2eStartProxy(t *testing.T, args ...string) *e2eProxy {
	t.Helper()
	bin := testenv.BuildAsyncmcp(t)
	urls := make(chan string, 1)
	cmd := exec.Command(bin, append([]string{"proxy", "--port", "0"}, args...)...)
	p := testenv.StartProcess(t, cmd, func(line string) {
		if rest, ok := strings.CutPrefix(line, e2eListening); ok {
			select {
			case urls <- strings.TrimSpace(rest):
			default:
			}
		}
	})
	select {
	case base := <-urls:
		u, err := url.Parse(base)
		if err != nil || u.Host == "" {
			t.Fatalf("proxy printed an unusable URL %q: %v", base, err)
		}
		if h := u.Hostname(); h != "127.0.0.1" {
			t.Fatalf("proxy listens on %q, want 127.0.0.1", h)
		}
		testenv.WaitTCP(t, u.Host, p)
		return &e2eProxy{Base: base, p: p}
	case <-p.Exited():
		t.Fatalf("%s exited (%v) before printing %q:\n%s", cmd, p.Err(), e2eListening, p.Log())
	case <-time.After(time.Minute):
		t.Fatalf("%s printed no %q line within a minute:\n%s", cmd, e2eListening, p.Log())
	}
	return nil
}

// Stop sends the proxy SIGTERM (after closing its stdin) and fails the test
// unless it exits with status 0: graceful shutdown is part of the contract.
func (x *e2eProxy) Stop(t *testing.T) {
	t.Helper()
	start := time.Now()
	x.p.Stop()
	t.Logf("proxy stopped after SIGTERM in %v (exit: %v)", time.Since(start).Round(time.Millisecond), x.p.Err())
	if err := x.p.Err(); err != nil {
		t.Errorf("proxy did not exit cleanly on SIGTERM: %v\n%s", err, x.p.Log())
	}
}

// e2eStatus fetches BASE/status and returns servers.default.
func (x *e2eProxy) e2eStatus(t *testing.T) map[string]any {
	t.Helper()
	resp, err := http.Get(x.Base + "/status")
	if err != nil {
		t.Fatalf("GET /status: %v", err)
	}
	defer resp.Body.Close()
	var st struct {
		Servers map[string]map[string]any `json:"servers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("GET /status: decode: %v", err)
	}
	def, ok := st.Servers["default"]
	if !ok {
		t.Fatalf("GET /status: no servers.default in %v", st.Servers)
	}
	return def
}

// e2eWaitNoChildren polls /status until the default server has no session
// and no live child, failing the test if that does not happen within 30 s.
// (A wait for a state, not a timing assertion: the deadline only bounds a
// hang.)
func (x *e2eProxy) e2eWaitNoChildren(t *testing.T) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(30 * time.Second)
	for {
		def := x.e2eStatus(t)
		sessions, _ := def["sessions"].(float64)
		alive := -1.0
		if back, ok := def["back"].(map[string]any); ok {
			if a, ok := back["children_alive"].(float64); ok {
				alive = a
			}
		}
		if sessions == 0 && alive <= 0 {
			t.Logf("/status showed no session and no live child after %v", time.Since(start).Round(time.Millisecond))
			if alive < 0 {
				t.Logf("/status has no back.children_alive; checked sessions only: %v", def)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/status still shows sessions=%v children_alive=%v after the clients closed: %v", sessions, alive, def)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// e2eNode returns the Node 22 binary and the directory holding the Node test
// dependencies, failing the test clearly if they are not there.
func e2eNode(t *testing.T) (node, dir string) {
	t.Helper()
	dir = testenv.NodeDir(t)
	node = testenv.Node(t)
	if _, err := os.Stat(node); err != nil {
		t.Fatalf("this test needs Node 22 (installed by scripts/install-test-deps.sh into %s): %v", dir, err)
	}
	return node, dir
}

// e2eRunNode runs `node ARGS...` with ASYNCMCP_NODE_DIR=nodeDir, in its own
// process group (killed if the test ends first or after 3 minutes), and
// returns its stdout; stderr is logged. It does not stop the test, so it may
// run on any goroutine.
func e2eRunNode(t *testing.T, node, nodeDir string, args ...string) (stdout []byte, err error) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "ASYNCMCP_NODE_DIR="+nodeDir)
	testenv.KillGroupOnCancel(cmd)
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	stdout, err = cmd.Output()
	t.Logf("node %s: %v, took %v", strings.Join(args, " "), err, time.Since(start).Round(time.Millisecond))
	if stderr.Len() > 0 {
		t.Logf("node stderr:\n%s", stderr.String())
	}
	if err != nil {
		err = fmt.Errorf("node %s: %w", strings.Join(args, " "), err)
	}
	return stdout, err
}

// e2eScenarioLine matches one line of the conformance CLI's SUMMARY.
var e2eScenarioLine = regexp.MustCompile(`^([✓✗]) (\S+): (\d+) passed, (\d+) failed`)

// e2eMinActiveScenarios is the number of active server scenarios for
// 2025-11-25 in the pinned conformance CLI (0.1.16); fewer means the suite
// did not run completely.
const e2eMinActiveScenarios = 30

// e2eConformance runs the conformance CLI (`server --url URL --suite active
// EXTRA...`) and fails t unless every scenario in its SUMMARY passed with at
// least one check (scenarios in zeroChecksOK may have none) and at least
// minScenarios scenarios ran.
func e2eConformance(t *testing.T, url string, minScenarios int, zeroChecksOK []string, extraArgs ...string) {
	t.Helper()
	start := time.Now()
	out, runErr := testenv.RunConformanceServer(t, url, extraArgs...)
	elapsed := time.Since(start)

	var passed, failed []string
	checksPassed, checksFailed := 0, 0
	summary := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "=== SUMMARY ===") {
			summary = true
			continue
		}
		m := e2eScenarioLine.FindStringSubmatch(line)
		if !summary || m == nil {
			continue
		}
		np, _ := strconv.Atoi(m[3])
		nf, _ := strconv.Atoi(m[4])
		checksPassed += np
		checksFailed += nf
		if m[1] == "✓" && nf == 0 && (np > 0 || slices.Contains(zeroChecksOK, m[2])) {
			passed = append(passed, m[2])
		} else {
			failed = append(failed, fmt.Sprintf("%s (%d passed, %d failed)", m[2], np, nf))
		}
	}
	t.Logf("conformance %v against %s: %d scenarios passed, %d failed; %d checks passed, %d failed; took %v",
		extraArgs, url, len(passed), len(failed), checksPassed, checksFailed, elapsed.Round(time.Millisecond))
	if !summary || len(failed) > 0 || runErr != nil || len(passed) < minScenarios {
		t.Logf("conformance output:\n%s", out)
	}
	if !summary {
		t.Fatalf("conformance CLI printed no SUMMARY (err: %v)", runErr)
	}
	if len(failed) > 0 {
		t.Errorf("failed conformance scenarios:\n  %s", strings.Join(failed, "\n  "))
	}
	if len(passed) < minScenarios {
		t.Errorf("only %d scenarios ran and passed, want at least %d", len(passed), minScenarios)
	}
	if runErr != nil && len(failed) == 0 {
		t.Errorf("conformance CLI failed although no scenario failed: %v", runErr)
	}
}

// TestConformanceProxy runs the official MCP conformance suite against
// `asyncmcp proxy -- <Go SDK conformance everything-server>` over Streamable
// HTTP at BASE/mcp: every active server scenario for spec 2025-11-25 must
// pass. The pending scenarios (json-schema-2020-12, server-sse-polling) run
// too and must not fail.
func TestConformanceProxy(t *testing.T) {
	e2eNode(t)
	server := testenv.GoEverythingServer(t)
	px := e2eStartProxy(t, "--", server)
	t.Run("active", func(t *testing.T) {
		e2eConformance(t, px.Base+"/mcp", e2eMinActiveScenarios, nil, "--spec-version", "2025-11-25")
	})
	t.Run("pending", func(t *testing.T) {
		// server-sse-polling records no check when the server does not close
		// the stream early (SEP-1699 is optional), so it may report 0/0.
		e2eConformance(t, px.Base+"/mcp", 2, []string{"server-sse-polling"}, "--suite", "pending")
	})
	px.Stop(t)
}
