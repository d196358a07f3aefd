package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/tasks"
)

// tasksGroup names the help group of the task options.
const tasksGroup = "Long calls as MCP Tasks (2026-07-28 Tasks extension)"

// taskFlags configure proxy-side MCP Tasks (package tasks). Not wired into a
// command yet: proxyOptions.flags calls register, and the front wraps each
// back's bridge.RoundTripper with wrap, once the fronts hand 2026-07-28
// requests to RoundTrippers.
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

func (f *taskFlags) register(fs *flagSet, g string) {
	fs.stringVar(&f.which, []string{"--tasks"}, "WHICH", g, "answer long tool calls with tasks: all, declared (tools whose tools/list entry declares execution.taskSupport), or NAME,NAME...; off by default")
	fs.stringVar(&f.required, []string{"--tasks-required"}, "NAME,...", g, "tools that run only as tasks: clients that do not declare the Tasks extension get -32021 for them")
	fs.stringVar(&f.stateDir, []string{"--state-dir"}, "DIR", g, "keep tasks in DIR/tasks.db (or set ASYNCMCP_STATE_DIR; default $XDG_STATE_HOME/asyncmcp or ~/.local/state/asyncmcp)")
	fs.durationVar(&f.grace, []string{"--task-grace"}, g, "let a call run this long before answering with a task; a call that ends sooner answers normally (default 0: a task at once)")
	fs.durationVar(&f.ttl, []string{"--task-ttl"}, g, "keep each task this long after its creation, then cancel its call and delete it (default 1h)")
	fs.durationVar(&f.poll, []string{"--task-poll-interval"}, g, "polling interval suggested to clients (default 1s)")
	fs.intVar(&f.maxTasks, []string{"--max-tasks"}, "N", g, "most tasks kept, finished or not; more are refused (default 100000)")
	fs.intVar(&f.perClient, []string{"--max-tasks-per-client"}, "N", g, "most tasks kept for one authorization context (bearer token); default: no per-client limit")
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

// wrap opens the store and puts the task engine in front of next; close
// stops the engine, then closes the store. With --tasks off it returns next
// and a no-op close.
func (f *taskFlags) wrap(next bridge.RoundTripper, log *slog.Logger) (bridge.RoundTripper, func(), error) {
	if !f.enabled() {
		return next, func() {}, nil
	}
	opts, err := f.options(log)
	if err != nil {
		return nil, nil, err
	}
	store, err := f.openStore(log)
	if err != nil {
		return nil, nil, err
	}
	opts.Store = store
	e := tasks.Wrap(next, opts)
	return e, func() {
		e.Close()
		if err := store.Close(); err != nil {
			log.Error("tasks: close store", "err", err)
		}
	}, nil
}
