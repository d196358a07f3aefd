// SPDX-License-Identifier: Apache-2.0

//go:build unix

package stdio_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/stdio"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// TestExitWhileDetachedHelperHoldsStdout: the helper left the child's
// process group, so killing the group does not close the child's stdout.
// The exit is still noticed: the child is reaped at once, and Read returns
// end of file once the terminate timeout has passed.
func TestExitWhileDetachedHelperHoldsStdout(t *testing.T) {
	bin := badServer(t)
	pidFile := filepath.Join(scratchDir(t), "pid")
	c := &stdio.Command{Path: bin, Args: []string{"orphan-detached", pidFile}, TerminateTimeout: 200 * time.Millisecond}
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
	if _, err := conn.Read(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("Read after the child exited: %v, want an error wrapping io.EOF", err)
	}
	if st := c.Status(); st.Alive != 0 {
		t.Errorf("Status().Alive = %d, want 0", st.Alive)
	}
	if !testenv.ProcessAlive(helper) {
		t.Errorf("detached helper %d is gone; the test no longer covers a pipe held open from outside the group", helper)
	}
}
