// SPDX-License-Identifier: Apache-2.0

package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// buildTimeout bounds one `go build`.
const buildTimeout = 10 * time.Minute

const sdkModule = "github.com/modelcontextprotocol/go-sdk"

// GoEverythingServer returns the path of the Go MCP SDK's conformance
// everything-server, built once (at the SDK version in go.mod) and cached
// under [CacheDir]. Run with no -http flag it is a stdio MCP server; with
// -http=127.0.0.1:PORT -stateless=false it serves streamable HTTP at the root.
func GoEverythingServer(t testing.TB) string {
	t.Helper()
	return buildSDKTool(t, "everything-server")
}

// GoEverythingClient returns the path of the Go MCP SDK's conformance
// everything-client, built and cached like [GoEverythingServer].
func GoEverythingClient(t testing.TB) string {
	t.Helper()
	return buildSDKTool(t, "everything-client")
}

var sdkTools sync.Map // name -> func() (string, error)

func buildSDKTool(t testing.TB, name string) string {
	t.Helper()
	f, _ := sdkTools.LoadOrStore(name, sync.OnceValues(func() (string, error) { return buildCachedSDKTool(name) }))
	path, err := f.(func() (string, error))()
	if err != nil {
		t.Fatalf("testenv: build %s/conformance/%s: %v", sdkModule, name, err)
	}
	return path
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func buildCachedSDKTool(name string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	cache, err := cacheDir()
	if err != nil {
		return "", err
	}
	out, err := goCmd(root, "list", "-m", "-f", "{{.Version}}|{{with .Replace}}{{.Path}}@{{.Version}}{{end}}", sdkModule).Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", sdkModule, exitDetail(err))
	}
	version, replace, _ := strings.Cut(strings.TrimSpace(string(out)), "|")
	pkg := sdkModule + "/conformance/" + name
	if replace != "" && !strings.Contains(replace, "@v") {
		// A local replacement has no version to key a cache on: build into a
		// per-process directory instead.
		dir, err := processDir(cache)
		if err != nil {
			return "", err
		}
		return goBuild(root, pkg, filepath.Join(dir, name))
	}
	key := unsafeChars.ReplaceAllString(version+"_"+replace, "_")
	bin := filepath.Join(cache, "gobin", name+"-"+key)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	unlock, err := lockFile(filepath.Join(cache, "gobin", ".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin, nil // built by another test binary while we waited
	}
	return goBuild(root, pkg, bin)
}

// BuildAsyncmcp builds ./cmd/asyncmcp of this module, once per test binary,
// and returns the binary's path. The binary lives in a per-process directory
// under [CacheDir]; directories of test binaries that are no longer running
// are removed.
func BuildAsyncmcp(t testing.TB) string {
	t.Helper()
	path, err := buildAsyncmcp()
	if err != nil {
		t.Fatalf("testenv: build ./cmd/asyncmcp: %v", err)
	}
	return path
}

var buildAsyncmcp = sync.OnceValues(func() (string, error) { return buildPackage("./cmd/asyncmcp") })

// BuildPackage builds a main package of this module (for example
// "./examples/echo-server"), once per test binary, and returns the binary's
// path, as [BuildAsyncmcp] does.
func BuildPackage(t testing.TB, pkg string) string {
	t.Helper()
	builtMu.Lock()
	once, ok := built[pkg]
	if !ok {
		once = sync.OnceValues(func() (string, error) { return buildPackage(pkg) })
		built[pkg] = once
	}
	builtMu.Unlock()
	path, err := once()
	if err != nil {
		t.Fatalf("testenv: build %s: %v", pkg, err)
	}
	return path
}

var (
	builtMu sync.Mutex
	built   = map[string]func() (string, error){}
)

func buildPackage(pkg string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	cache, err := cacheDir()
	if err != nil {
		return "", err
	}
	dir, err := processDir(cache)
	if err != nil {
		return "", err
	}
	return goBuild(root, pkg, filepath.Join(dir, filepath.Base(pkg)))
}

// EchoServer builds ./examples/echo-server and returns its path.
func EchoServer(t testing.TB) string { return BuildPackage(t, "./examples/echo-server") }

// goBuild builds pkg (from the module at root) into bin, atomically.
func goBuild(root, pkg, bin string) (string, error) {
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", fmt.Errorf("create directory for %s: %w", bin, err)
	}
	tmp := bin + ".tmp" + strconv.Itoa(os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp, pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("go build -o %s %s: %w\n%s", bin, pkg, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("install %s: %w", bin, err)
	}
	return bin, nil
}

func goCmd(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	return cmd
}

// processDir returns <cache>/proc/<pid>, created on first use, after
// removing sibling directories whose process is gone.
func processDir(cache string) (string, error) {
	base := filepath.Join(cache, "proc")
	procDirOnce.Do(func() {
		entries, _ := os.ReadDir(base)
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			if !ProcessAlive(pid) {
				os.RemoveAll(filepath.Join(base, e.Name()))
			}
		}
	})
	dir := filepath.Join(base, strconv.Itoa(os.Getpid()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	return dir, nil
}

var procDirOnce sync.Once

// lockFile takes an exclusive flock on path (creating it) and returns the
// function that releases it.
func lockFile(path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create directory for lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := lockFD(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		unlockFD(f)
		f.Close()
	}, nil
}
