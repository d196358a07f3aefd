// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
)

// childHangLimit bounds each wait in the child process tests: they detect
// hangs and leaks, they do not measure speed.
const childHangLimit = 60 * time.Second

func waitPIDFile(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(childHangLimit)
	for {
		if b, err := os.ReadFile(path); err == nil {
			pid, err := strconv.Atoi(string(b))
			if err != nil {
				t.Fatalf("pid file %s: %v", path, err)
			}
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid file %s after %v", path, childHangLimit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitProcessGone(t *testing.T, pid int, what string) {
	t.Helper()
	deadline := time.Now().Add(childHangLimit)
	for testenv.ProcessAlive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) still running after %v", what, pid, childHangLimit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startDeafSession starts `asyncmcp proxy -- badserver deaf` and opens a
// session whose initialize carries padding bytes, in the background. The
// child never reads stdin and ignores SIGTERM. It returns the proxy and the
// child's pid.
func startDeafSession(t *testing.T, padding int) (*testenv.Process, int) {
	t.Helper()
	bad := testenv.BuildPackage(t, "./internal/testenv/badserver")
	pidFile := filepath.Join(t.TempDir(), "pid")
	base, p := launchProxy(t, nil, "proxy", "--port", "0", "--terminate-timeout", "200ms", "--", bad, "deaf", pidFile)
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"},"padding":"` + strings.Repeat("x", padding) + `"}}`
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	child := waitPIDFile(t, pidFile)
	t.Cleanup(func() { testenv.KillPID(child) })
	return p, child
}

// TestSIGTERMWithChildNotReading: a child that stops reading stdin while
// more than a pipe's worth of input is pending does not keep the proxy from
// shutting down: SIGTERM ends the session, the child is killed after the
// stop sequence, and the proxy exits.
func TestSIGTERMWithChildNotReading(t *testing.T) {
	p, child := startDeafSession(t, 256<<10)
	// Let the 256 KiB write to the child's stdin block in the pipe.
	time.Sleep(300 * time.Millisecond)
	testenv.Terminate(p.Cmd.Process)
	select {
	case <-p.Exited():
	case <-time.After(childHangLimit):
		t.Fatalf("proxy still running %v after SIGTERM while a write to its child was blocked", childHangLimit)
	}
	if runtime.GOOS != "windows" {
		if err := p.Err(); err != nil {
			t.Errorf("exit after SIGTERM: %v, want status 0", err)
		}
	}
	waitProcessGone(t, child, "child that does not read stdin")
}

// TestChildDiesWithKilledProxy: when the proxy is killed outright (no chance
// to stop its children), a child that neither reads stdin nor obeys SIGTERM
// dies with it. Linux sets a parent-death signal; Windows ends the job when
// the proxy's handle to it closes.
func TestChildDiesWithKilledProxy(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "windows" {
		t.Skipf("%s has no parent-death signal: a child of a killed proxy only sees its stdin close (documented in the README)", runtime.GOOS)
	}
	p, child := startDeafSession(t, 0)
	p.Cmd.Process.Kill() // the proxy only, not its process group
	<-p.Exited()
	waitProcessGone(t, child, "child of a killed proxy")
}

// TestDeleteEndsChildNotReading: DELETE of a session whose child stopped
// reading stdin while a large call is pending ends the child (it ignores
// SIGTERM, so the whole stop sequence has to run).
func TestDeleteEndsChildNotReading(t *testing.T) {
	bad := testenv.BuildPackage(t, "./internal/testenv/badserver")
	pidFile := filepath.Join(t.TempDir(), "pid")
	base, _ := launchProxy(t, nil, "proxy", "--port", "0", "--terminate-timeout", "200ms", "--", bad, "init-then-deaf", pidFile)
	post := func(ctx context.Context, sid, body string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if sid != "" {
			req.Header.Set("Mcp-Session-Id", sid)
			req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
		}
		return http.DefaultClient.Do(req)
	}
	resp, err := post(t.Context(), "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || sid == "" {
		t.Fatalf("initialize: %s, session %q", resp.Status, sid)
	}
	child := waitPIDFile(t, pidFile)
	t.Cleanup(func() { testenv.KillPID(child) })

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		big := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"` + strings.Repeat("x", 256<<10) + `"}}}`
		if resp, err := post(ctx, sid, big); err == nil {
			resp.Body.Close()
		}
	}()
	time.Sleep(300 * time.Millisecond) // let the write block in the full pipe

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodDelete, base+"/mcp", nil)
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	dctx, dcancel := context.WithTimeout(t.Context(), childHangLimit)
	defer dcancel()
	resp, err = http.DefaultClient.Do(req.WithContext(dctx))
	if err != nil {
		t.Fatalf("DELETE: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		t.Errorf("DELETE: %s", resp.Status)
	}
	waitProcessGone(t, child, "child of a deleted session")
}
