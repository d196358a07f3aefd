// SPDX-License-Identifier: Apache-2.0

package stdio_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/stdio"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// hangLimit bounds each wait for something that must happen: these tests
// detect hangs, they do not measure speed.
const hangLimit = 60 * time.Second

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// badServer returns the path of the badserver test helper: built here, or
// prebuilt and named by ASYNCMCP_BADSERVER (scripts/wine-tests.sh runs these
// tests as a Windows binary under Wine, where the go command is absent).
func badServer(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ASYNCMCP_BADSERVER"); p != "" {
		return p
	}
	return testenv.BuildPackage(t, "./internal/testenv/badserver")
}

// scratchDir returns a directory removed after the test. Under Wine
// (ASYNCMCP_BADSERVER set, see badServer) it is not t.TempDir, whose
// cleanup fails there on a Windows file API that Wine 8 lacks; its removal
// is then best effort.
func scratchDir(t *testing.T) string {
	t.Helper()
	if os.Getenv("ASYNCMCP_BADSERVER") == "" {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("", "stdio-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// readPID waits for the badserver helper to write its pid file.
func readPID(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(hangLimit)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			pid, err := strconv.Atoi(string(b))
			if err != nil {
				t.Fatalf("pid file %s: %v", path, err)
			}
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid file %s after %v", path, hangLimit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitGone waits until process pid has exited and been reaped.
func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	deadline := time.Now().Add(hangLimit)
	for testenv.ProcessAlive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) still running after %v", what, pid, hangLimit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCloseWhileWriteBlocked: a child that never reads its stdin, with more
// than a pipe's worth of input pending, must not stop Close: the blocked
// Write returns an error, Close runs the whole stop sequence (the child
// ignores SIGTERM) and the child is gone afterwards.
func TestCloseWhileWriteBlocked(t *testing.T) {
	bin := badServer(t)
	pidFile := filepath.Join(scratchDir(t), "pid")
	var logs syncBuffer
	c := &stdio.Command{
		Path:             bin,
		Args:             []string{"deaf", pidFile},
		TerminateTimeout: 100 * time.Millisecond,
		Logger:           slog.New(slog.NewTextHandler(&logs, nil)),
	}
	conn, err := c.Dial(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	pid := readPID(t, pidFile)
	t.Cleanup(func() { testenv.KillPID(pid) })

	// 256 KiB in one message: far more than a pipe holds, so the write
	// blocks until something ends it.
	big := &jsonrpc.Request{Method: "notifications/message", Params: []byte(`{"data":"` + strings.Repeat("x", 256<<10) + `"}`)}
	writeErr := make(chan error, 1)
	go func() { writeErr <- conn.Write(context.Background(), big) }()
	// Give the write time to block in the pipe; if Close happened to come
	// first the test would still pass, but it would prove less.
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-writeErr:
		t.Fatalf("write of 256 KiB to a child that does not read returned early: %v", err)
	default:
	}

	closed := make(chan struct{})
	go func() { conn.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(hangLimit):
		t.Fatalf("Close did not return within %v while a write was blocked (deadlock)", hangLimit)
	}
	select {
	case err := <-writeErr:
		if err == nil {
			t.Error("blocked write returned nil after Close, want an error")
		}
	case <-time.After(hangLimit):
		t.Fatalf("blocked write did not return within %v after Close", hangLimit)
	}
	waitGone(t, pid, "child that ignores SIGTERM")
	if st := c.Status(); st.Alive != 0 {
		t.Errorf("Status().Alive = %d after Close, want 0", st.Alive)
	}
	if runtime.GOOS != "windows" && !strings.Contains(logs.String(), "sent SIGTERM") {
		t.Errorf("stop sequence did not send SIGTERM; logs:\n%s", logs.String())
	}
}

// TestExitWhileHelperHoldsStdout: a child that exits while a process it
// started still holds its stdout is noticed at once: the request in flight
// gets a JSON-RPC error through the bridge, the child is reaped (no zombie),
// and the helper, left in the child's process group, is stopped.
func TestExitWhileHelperHoldsStdout(t *testing.T) {
	bin := badServer(t)
	pidFile := filepath.Join(scratchDir(t), "pid")
	c := &stdio.Command{
		Path: bin,
		Args: []string{"orphan", pidFile},
		// Long, so that only noticing the exit itself can end the call in
		// time; the helper is killed with the child's group.
		TerminateTimeout: hangLimit * 2,
	}
	clientT, serverT := mcp.NewInMemoryTransports()
	front, err := serverT.Connect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	client, err := clientT.Connect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pumped := make(chan error, 1)
	go func() { pumped <- bridge.DialAndPump(ctx, front, c, nil) }()

	id, _ := jsonrpc.MakeID(float64(7))
	if err := client.Write(ctx, &jsonrpc.Request{ID: id, Method: "tools/call", Params: []byte(`{"name":"x"}`)}); err != nil {
		t.Fatal(err)
	}
	helper := readPID(t, pidFile)
	t.Cleanup(func() { testenv.KillPID(helper) })

	got := make(chan jsonrpc.Message, 1)
	go func() {
		m, err := client.Read(ctx)
		if err != nil {
			t.Errorf("reading the answer: %v", err)
		}
		got <- m
	}()
	select {
	case m := <-got:
		resp, ok := m.(*jsonrpc.Response)
		if !ok || resp.ID != id || resp.Error == nil {
			t.Fatalf("answer to the call in flight = %#v, want an error response for id 7", m)
		}
		var we *jsonrpc.Error
		if !errors.As(resp.Error, &we) || we.Code != bridge.CodeServerUnavailable {
			t.Errorf("error = %v, want code %d", resp.Error, bridge.CodeServerUnavailable)
		}
	case <-time.After(hangLimit):
		t.Fatalf("the call in flight got no answer within %v after the server exited", hangLimit)
	}
	if st := c.Status(); st.Alive != 0 || !strings.Contains(st.LastExit, "exit status 3") {
		t.Errorf("Status() = %+v, want no child alive and last exit status 3", st)
	}
	waitGone(t, helper, "helper left in the child's process group")
	select {
	case <-pumped:
	case <-time.After(hangLimit):
		t.Fatalf("pump still running %v after the server exited", hangLimit)
	}
}

// TestReadAfterExit: Read on a connection whose child exited returns an
// error wrapping io.EOF, and Close afterwards returns.
func TestReadAfterExit(t *testing.T) {
	bin := badServer(t)
	pidFile := filepath.Join(scratchDir(t), "pid")
	c := &stdio.Command{Path: bin, Args: []string{"orphan", pidFile}, TerminateTimeout: hangLimit * 2}
	conn, err := c.Dial(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Write(t.Context(), &jsonrpc.Request{Method: "notifications/initialized"}); err != nil {
		t.Fatal(err)
	}
	helper := readPID(t, pidFile)
	t.Cleanup(func() { testenv.KillPID(helper) })
	ctx, cancel := context.WithTimeout(t.Context(), hangLimit)
	defer cancel()
	_, err = conn.Read(ctx)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("Read after the child exited: %v, want an error wrapping io.EOF", err)
	}
}
