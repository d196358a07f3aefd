// SPDX-License-Identifier: Apache-2.0

// Package tasks provides the MCP Tasks extension (io.modelcontextprotocol/tasks,
// protocol 2026-07-28) in a proxy, for MCP servers that know nothing about
// tasks.
//
// [Wrap] puts a [Tasks] engine in front of a back's [bridge.RoundTripper]:
//
//	store, err := tasks.OpenStore(tasks.StoreOptions{Dir: dir})
//	engine := tasks.Wrap(back, tasks.Options{Store: store, Grace: 2 * time.Second})
//	defer store.Close()
//	defer engine.Close()
//	resp, err := engine.RoundTrip(tasks.WithOwner(ctx, tokenHash), req, notify)
//
// # What the engine does
//
// A modern tools/call whose params._meta clientCapabilities declare the
// extension, for a selected tool ([Options.Tools], [Options.Declared]),
// becomes a task: the engine stores it, sends the call to the back in the
// background with a context detached from the client (it ends when the
// task's TTL passes or the task is cancelled), and answers the client with a
// CreateTaskResult (resultType "task", the Task fields flat). With a grace
// period, the client waits up to that long first: a call that ends within
// it is answered normally (an input_required answer included, so that MRTR
// exchanges finish before a task exists) and leaves no task. The back sees
// the client's request with a new id, and without the extension in its
// client capabilities.
//
// A client that does not declare the extension gets the normal,
// synchronous call, except for tools named in [Options.Required], which it
// gets -32021 for. A front that holds a [bridge.Dialer] and type-asserts it
// to a RoundTripper (httpfront) takes [Tasks.Dialer].
//
// tasks/get answers the task's state with the result, the JSON-RPC error or
// the outstanding inputRequests inlined. When the back answers the call with
// resultType "input_required", the task moves to input_required; tasks/update
// gathers the inputResponses and, once every outstanding key is answered,
// re-issues the call to the back with them and the back's requestState, under
// a new id, as MRTR prescribes. Input keys are never reused in a task's
// lifetime (a key the back repeats is renamed). tasks/cancel acknowledges,
// marks the task cancelled and cancels the back call (the back then sends its
// cancel: notifications/cancelled to a child, a cancel message on a queue);
// a cancelled task never reports a later result. tasks/result and tasks/list
// answer -32601, as the 2026-07-28 extension removed them. Without the
// extension in the request's capabilities, tasks/* answer -32021.
//
// server/discover results passing through advertise the extension in
// capabilities.extensions. A back whose own server/discover declares the
// extension provides tasks itself: then the engine creates none and passes
// every tasks/* request through untouched. The engine learns this from
// discover results passing through, or probes server/discover once before
// the first task. The 2026-07-28 extension has no per-tool declaration in
// tools/list, so tools/list results pass through unchanged (in Declared mode
// the engine reads execution.taskSupport from them).
//
// # Sessions of 2025-11-25
//
// [Tasks.Dialer] (and [Tasks.SessionDialer], for backs that serve sessions
// only) also wraps each session's back connection with the experimental
// tasks of protocol 2025-11-25: a client that declared capabilities.tasks
// at initialize may send tools/call with params.task for a selected tool;
// the engine answers with a CreateTaskResult at once, runs the call on the
// session's back connection, and serves tasks/get, tasks/result (which
// waits for the end), tasks/list and tasks/cancel. It advertises the tasks
// capability in the initialize result and execution.taskSupport in
// tools/list results, unless the server declares capabilities.tasks itself,
// in which case the session passes everything through. Such a call ends
// with its session; the task then fails, saying so.
//
// # Ownership
//
// Each task belongs to the owner set on the creating request's context by
// [WithOwner]. A task of another owner, an unknown id and an expired task
// all answer tasks/get, tasks/update and tasks/cancel with -32602, the first
// two with the same message, so a caller cannot learn that another caller's
// task exists. Task ids are 128 random bits. Engines sharing a store (one
// per named server of a proxy) each have their own [Options.Scope]; a task
// is visible only through the engine of its scope.
//
// # Durability, limits, restarts
//
// The [Store] is a bbolt database file (tasks.db) in a state directory
// ([DefaultStateDir] by default). Creation is durable before the
// CreateTaskResult is sent. The store bounds the number of tasks and their
// total encoded size; a tools/call that would pass a limit is answered with
// JSON-RPC error -32603 saying the store is full. A task is deleted once its
// TTL has passed (a sweeper runs every [StoreOptions.SweepInterval]; an
// expired task is invisible at once).
//
// When a process stops, [Tasks.Close] cancels the running back calls with
// cause [ErrClosing] and leaves their tasks working in the store. The next
// [Wrap] over the same store resumes them: a back implementing [Resumer]
// re-attaches to the call it reported with [SetCorrelation]; for any other
// back the task is marked failed with a message saying why. Tasks waiting
// for input survive a restart as they are.
//
// # Several proxy instances
//
// The store is a local file that one process holds open, so a task lives on
// the instance that created it. Clients send tasks/get, tasks/update and
// tasks/cancel over Streamable HTTP with the Mcp-Name header set to the task
// id (the extension requires it); a load balancer in front of several
// instances must route those requests by Mcp-Name to the instance that
// created the task (for example by a table, or by making task creation
// sticky to a client and hashing on it), and tools/call freely.
package tasks
