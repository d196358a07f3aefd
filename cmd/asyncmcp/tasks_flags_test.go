// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/remote"
	"github.com/asyncmcp/asyncmcp-go/tasks"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func parseTaskFlags(t *testing.T, args ...string) *taskFlags {
	t.Helper()
	f := &taskFlags{}
	fs := &flagSet{}
	f.register(fs, tasksGroup)
	if rest, err := fs.parse(args); err != nil || len(rest) != 0 {
		t.Fatalf("parse %q: %v %q", args, err, rest)
	}
	return f
}

func TestTaskFlags(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := parseTaskFlags(t, "--tasks", "slow, build", "--task-grace", "2s", "--task-ttl", "10m", "--task-poll-interval", "500ms", "--task-instance-id", "east1")
	o, err := f.options(log)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.Tools, []string{"slow", "build"}) || o.Declared || o.Grace != 2*time.Second || o.TTL != 10*time.Minute || o.PollInterval != 500*time.Millisecond || o.InstanceID != "east1" {
		t.Errorf("options %+v", o)
	}
	if o, err := parseTaskFlags(t, "--tasks", "declared").options(log); err != nil || !o.Declared || o.Tools != nil {
		t.Errorf("declared: %+v %v", o, err)
	}
	if o, err := parseTaskFlags(t, "--tasks", "all").options(log); err != nil || o.Declared || o.Tools != nil {
		t.Errorf("all: %+v %v", o, err)
	}
	for _, bad := range [][]string{{"--tasks", ","}, {"--tasks", "all", "--task-grace", "-1s"}, {"--tasks", "all", "--task-instance-id", "a b"}} {
		if _, err := parseTaskFlags(t, bad...).options(log); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if parseTaskFlags(t).enabled() || parseTaskFlags(t, "--tasks", "off").enabled() {
		t.Error("tasks enabled by default or with off")
	}
}

func TestTaskFlagsOpenStore(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := filepath.Join(t.TempDir(), "state")
	f := parseTaskFlags(t, "--tasks", "all", "--state-dir", dir, "--max-tasks", "7")
	ts, err := f.open(log)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, tasks.StoreFile)); err != nil {
		t.Errorf("store file: %v", err)
	} else if di, err := os.Stat(dir); err != nil || di.Mode().Perm() != 0o700 || fi.Mode().Perm() != 0o600 {
		t.Errorf("state dir mode %v, store mode %v (%v), want 0700 and 0600", di.Mode().Perm(), fi.Mode().Perm(), err)
	}
	// A back that speaks only the session-based protocol gets an engine for
	// its sessions, and stays no RoundTripper; a RoundTripper gets an
	// engine for both.
	plain := bridge.DialerFunc(func(context.Context) (mcp.Connection, error) { return nil, errors.New("unused") })
	if d := ts.wrap("a", plain); d == nil {
		t.Error("no dialer")
	} else if _, ok := d.(bridge.RoundTripper); ok || len(ts.engines) != 1 {
		t.Errorf("session-only back: got %T, %d engines", d, len(ts.engines))
	}
	if d := ts.wrap("b", &remote.Streamable{URL: "http://127.0.0.1:1/mcp"}); d == nil {
		t.Error("no dialer")
	} else if _, ok := d.(bridge.RoundTripper); !ok || len(ts.engines) != 2 {
		t.Errorf("RoundTripper back: got %T, %d engines", d, len(ts.engines))
	}
	ts.close()
	ts.close() // idempotent
	if off, err := parseTaskFlags(t).open(log); off != nil || err != nil {
		t.Errorf("--tasks off opened %v %v", off, err)
	}
	t.Setenv("ASYNCMCP_STATE_DIR", filepath.Join(t.TempDir(), "env"))
	s, err := parseTaskFlags(t, "--tasks", "all").openStore(log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if filepath.Dir(s.Path()) != os.Getenv("ASYNCMCP_STATE_DIR") {
		t.Errorf("store at %s, want under ASYNCMCP_STATE_DIR", s.Path())
	}
}

func TestTaskFlagsRequired(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := parseTaskFlags(t, "--tasks-required", "a,b")
	o, err := f.options(log)
	if err != nil || !f.enabled() || !slices.Equal(o.Required, []string{"a", "b"}) || !slices.Equal(o.Tools, []string{"a", "b"}) {
		t.Errorf("required only: %+v %v", o, err)
	}
	o, err = parseTaskFlags(t, "--tasks", "all", "--tasks-required", "c").options(log)
	if err != nil || o.Tools != nil || !slices.Equal(o.Required, []string{"c"}) {
		t.Errorf("all plus required: %+v %v", o, err)
	}
}
