// SPDX-License-Identifier: Apache-2.0

package proxybench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
)

// The Node proxies compared with asyncmcp when $PROXYBENCH_NODE=1, at the
// versions measured for bench/README.md.
const (
	mcpProxyPkg     = "mcp-proxy@6.7.19"
	supergatewayPkg = "supergateway@4.0.0"
)

// npmInstallTimeout bounds the one-time install of the Node proxies.
const npmInstallTimeout = 3 * time.Minute

// loopbackPreload is loaded with `node --require` into the Node proxies so
// that a server listening on a bare port (supergateway has no host option)
// binds 127.0.0.1 only.
const loopbackPreload = `const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && typeof args[1] !== 'string') args.splice(1, 0, '127.0.0.1');
  return listen.apply(this, args);
};
`

// nodeSides starts the Node proxies mcp-proxy and supergateway in front of
// echoServer when $PROXYBENCH_NODE=1. It installs them once (from the npm
// registry, into the test cache) with the Node 22 of [testenv.Node]. When
// they cannot be installed or started it prints why and returns no sides.
func nodeSides(b *testing.B, echoServer string) []*side {
	b.Helper()
	if os.Getenv("PROXYBENCH_NODE") != "1" {
		return nil
	}
	node := testenv.Node(b)
	dir, err := installNodeProxies(testenv.CacheDir(b), node)
	if err != nil {
		fmt.Printf("proxybench: skipping the Node proxies: %v\n", err)
		return nil
	}
	preload := filepath.Join(b.TempDir(), "loopback.cjs")
	if err := os.WriteFile(preload, []byte(loopbackPreload), 0o644); err != nil {
		b.Fatalf("write %s: %v", preload, err)
	}
	bin := func(name string) string { return filepath.Join(dir, "node_modules", ".bin", name) }

	var sides []*side
	port := testenv.FreePort(b)
	mp := exec.Command(node, "--require", preload, bin("mcp-proxy"),
		"--host", "127.0.0.1", "--port", strconv.Itoa(port), "--server", "stream", "--", echoServer)
	sides = append(sides, startPortServer(b, "mcp-proxy", mp, port))

	port = testenv.FreePort(b)
	sg := exec.Command(node, "--require", preload, bin("supergateway"),
		"--stdio", echoServer, "--outputTransport", "streamableHttp", "--stateful",
		"--port", strconv.Itoa(port), "--logLevel", "none")
	sides = append(sides, startPortServer(b, "supergateway", sg, port))
	return sides
}

// startPortServer starts a server that listens on 127.0.0.1:port and serves
// MCP at /mcp, and connects the sessions of a side to it.
func startPortServer(b *testing.B, name string, cmd *exec.Cmd, port int) *side {
	b.Helper()
	p := testenv.StartProcess(b, cmd, nil)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	testenv.WaitTCP(b, addr, p)
	return connectSide(b, name, "http://"+addr+"/mcp", p.Cmd.Process.Pid)
}

// installNodeProxies installs the Node proxies into a directory of cache
// named after their versions, unless already there, and returns it.
func installNodeProxies(cache, node string) (string, error) {
	dir := filepath.Join(cache, "proxybench-node", mcpProxyPkg+"_"+supergatewayPkg)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".bin", "supergateway")); err == nil {
		return dir, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("npm not found: %w", err)
	}
	tmp := dir + ".tmp" + strconv.Itoa(os.Getpid())
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", tmp, err)
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, "package.json"), []byte(`{"private":true}`+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("write package.json in %s: %w", tmp, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), npmInstallTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", mcpProxyPkg, supergatewayPkg)
	cmd.Dir = tmp
	// npm runs under the Node 22 that the tests use.
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(node)+string(os.PathListSeparator)+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm install %s %s: %w\n%s", mcpProxyPkg, supergatewayPkg, err, out)
	}
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, os.ErrExist) {
		if _, statErr := os.Stat(dir); statErr != nil { // not installed by someone else meanwhile
			return "", fmt.Errorf("install %s: %w", dir, err)
		}
	}
	return dir, nil
}
