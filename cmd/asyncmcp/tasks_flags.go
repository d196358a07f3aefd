// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/metrics"
	"github.com/asyncmcp/asyncmcp-go/tasks"
)

// tasksGroup names the help group of the task options.
const tasksGroup = "Long calls as MCP Tasks (2026-07-28 Tasks extension)"

// taskFlags configure proxy-side MCP Tasks (package tasks): proxyOptions
// registers them, and runProxy puts an engine in front of each back that is
// a bridge.RoundTripper (see taskSet).
type taskFlags struct {
	which      string // "", "off", "all", "declared", or tool names separated by commas
	required   string // tool names separated by commas
	stateDir   string
	grace      time.Duration
	ttl        time.Duration
	poll       time.Duration
	maxTasks   int
	perClient  int
	maxBytes   int
	instanceID string
}

// defaultTaskGrace is the default of --task-grace: long enough for quick
// calls (and a server's first input_required round) to answer normally.
const defaultTaskGrace = time.Second

// register adds the task flags to fs under group g and sets their defaults.
func (f *taskFlags) register(fs *flagSet, g string) {
	f.grace = defaultTaskGrace
	fs.stringVar(&f.which, []string{"--tasks"}, "WHICH", g, "answer long tool calls with tasks: all, declared (tools whose tools/list entry declares execution.taskSupport), or NAME,NAME...; off by default")
	fs.stringVar(&f.required, []string{"--tasks-required"}, "NAME,...", g, "tools that run only as tasks: clients that do not declare the Tasks extension get -32021 for them")
	fs.stringVar(&f.stateDir, []string{"--state-dir"}, "DIR", g, "keep tasks in DIR/tasks.db (or set ASYNCMCP_STATE_DIR; default $XDG_STATE_HOME/asyncmcp or ~/.local/state/asyncmcp)")
	fs.durationVar(&f.grace, []string{"--task-grace"}, g, "let a call run this long before answering with a task; a call that ends sooner answers normally (default 1s; 0: a task at once)")
	fs.durationVar(&f.ttl, []string{"--task-ttl"}, g, "keep each task this long after its creation, then cancel its call and delete it (default 1h)")
	fs.durationVar(&f.poll, []string{"--task-poll-interval"}, g, "polling interval suggested to clients (default 1s)")
	fs.intVar(&f.maxTasks, []string{"--max-tasks"}, "N", g, "most tasks kept, finished or not; more are refused (default 100000)")
	fs.intVar(&f.perClient, []string{"--max-tasks-per-client"}, "N", g, "most tasks kept for one authorization context (bearer token) on one server; default: no per-client limit")
	fs.intVar(&f.maxBytes, []string{"--max-task-bytes"}, "N", g, "most bytes of task records kept; more are refused (default 268435456)")
	fs.stringVar(&f.instanceID, []string{"--task-instance-id"}, "ID", g, "start task ids with ID- so a load balancer can route tasks/* by the Mcp-Name prefix")
}

// enabled reports whether --tasks selects any tool.
func (f *taskFlags) enabled() bool {
	w := strings.TrimSpace(f.which)
	return (w != "" && w != "off") || strings.TrimSpace(f.required) != ""
}

// options turns the flags into engine options (without the store).
func (f *taskFlags) options(log *slog.Logger) (tasks.Options, error) {
	o := tasks.Options{Grace: f.grace, TTL: f.ttl, PollInterval: f.poll, InstanceID: f.instanceID, Logger: log}
	switch w := strings.TrimSpace(f.which); w {
	case "", "off":
		if len(strings.TrimSpace(f.required)) == 0 {
			return o, usagef("--tasks: want all, declared or tool names, got %q", f.which)
		}
		// Only the required tools: name them as the selection too, since an
		// empty selection means every tool.
		for _, name := range strings.Split(f.required, ",") {
			if name = strings.TrimSpace(name); name != "" {
				o.Tools = append(o.Tools, name)
			}
		}
	case "all":
	case "declared":
		o.Declared = true
	default:
		for _, name := range strings.Split(w, ",") {
			if name = strings.TrimSpace(name); name != "" {
				o.Tools = append(o.Tools, name)
			}
		}
		if len(o.Tools) == 0 {
			return o, usagef("--tasks: want all, declared or tool names, got %q", f.which)
		}
	}
	for _, name := range strings.Split(f.required, ",") {
		if name = strings.TrimSpace(name); name != "" {
			o.Required = append(o.Required, name)
		}
	}
	if f.grace < 0 || f.ttl < 0 || f.poll < 0 {
		return o, usagef("--task-grace, --task-ttl and --task-poll-interval must not be negative")
	}
	if f.ttl > 0 && f.ttl < time.Millisecond {
		return o, usagef("--task-ttl: want at least 1ms, got %v", f.ttl)
	}
	if strings.ContainsAny(f.instanceID, " \t\r\n") {
		return o, usagef("--task-instance-id: no whitespace allowed, got %q", f.instanceID)
	}
	return o, nil
}

// openStore opens the task store in the chosen state directory.
func (f *taskFlags) openStore(log *slog.Logger) (*tasks.Store, error) {
	dir := f.stateDir
	if dir == "" {
		dir = os.Getenv("ASYNCMCP_STATE_DIR")
	}
	if dir == "" {
		d, err := tasks.DefaultStateDir()
		if err != nil {
			return nil, fmt.Errorf("--state-dir not given and no default: %w", err)
		}
		dir = d
	}
	if f.maxTasks < 0 || f.maxBytes < 0 || f.perClient < 0 {
		return nil, usagef("--max-tasks, --max-tasks-per-client and --max-task-bytes must not be negative")
	}
	s, err := tasks.OpenStore(tasks.StoreOptions{Dir: dir, MaxTasks: f.maxTasks, MaxTasksPerOwner: f.perClient, MaxBytes: int64(f.maxBytes), Logger: log})
	if err != nil {
		return nil, err
	}
	log.Info("tasks: store open", "path", s.Path())
	return s, nil
}

// A taskSet is the task store of a proxy and the engines in front of its
// backs, one per served server, all sharing the store, each in its own
// scope (the server name) so that one server's tasks are never served by
// another's endpoint.
type taskSet struct {
	once    sync.Once
	opts    tasks.Options
	store   *tasks.Store
	log     *slog.Logger
	engines []*tasks.Tasks
}

// open opens the store and returns the set that wraps backs; nil (and no
// error) when --tasks is off.
func (f *taskFlags) open(log *slog.Logger) (*taskSet, error) {
	if !f.enabled() {
		return nil, nil
	}
	opts, err := f.options(log)
	if err != nil {
		return nil, err
	}
	store, err := f.openStore(log)
	if err != nil {
		return nil, err
	}
	opts.Store = store
	return &taskSet{opts: opts, store: store, log: log}, nil
}

// wrap puts an engine in front of the back d of server name ("" for the
// unnamed one): for its sessions (the 2025-11-25 experimental tasks), and,
// when d serves 2026-07-28 requests (it is a bridge.RoundTripper), for
// those (the Tasks extension). A nil set returns d.
func (s *taskSet) wrap(name string, d bridge.Dialer) bridge.Dialer {
	if s == nil {
		return d
	}
	rt, ok := d.(bridge.RoundTripper)
	if !ok {
		s.log.Info("tasks: this server's back speaks the session-based protocol only: its calls become tasks for 2025-11-25 clients only", "server", serverLabel(name))
	}
	opts := s.opts
	opts.Scope = name
	opts.Logger = s.log.With("server", serverLabel(name))
	label := serverLabel(name)
	opts.Observe = func(st tasks.Status) { metrics.TaskTransitions.WithLabelValues(label, string(st)).Inc() }
	e := tasks.Wrap(rt, opts)
	s.engines = append(s.engines, e)
	if !ok {
		return e.SessionDialer(d)
	}
	return e.Dialer(d)
}

// close stops every engine (their running calls are cancelled with cause
// tasks.ErrClosing and stay working in the store, for the next process),
// then closes the store. Call it before closing the backs, so that no task
// records the back's own shutdown as its outcome.
func (s *taskSet) close() {
	if s == nil {
		return
	}
	s.once.Do(func() {
		for _, e := range s.engines {
			e.Close()
		}
		if err := s.store.Close(); err != nil {
			s.log.Error("tasks: close store", "err", err)
		}
	})
}

// refreshMetrics sets the store gauges; it runs before each scrape.
func (s *taskSet) refreshMetrics() {
	if s == nil {
		return
	}
	n, size, err := s.store.Stats()
	if err != nil {
		s.log.Warn("tasks: reading the store's size for metrics", "err", err)
		return
	}
	metrics.TasksStored.Set(float64(n))
	metrics.TaskStoreBytes.Set(float64(size))
}

// serverLabel is the metrics and log name of server name.
func serverLabel(name string) string {
	if name == "" {
		return "default"
	}
	return name
}
