// SPDX-License-Identifier: Apache-2.0

// Package stdio carries MCP over standard input and output: [Command] runs an
// MCP server as a child process (a back), and [Listener] serves the one client
// session that reaches this process on its own stdin and stdout (a front).
package stdio

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asyncmcp/asyncmcp-go/bridge"
	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// DefaultMaxLineBytes is the longest newline-delimited message accepted from a
// child or from stdin when no limit is configured.
const DefaultMaxLineBytes = 16 << 20

// A Command is a [bridge.Dialer] that starts a new MCP server process for each
// session and talks to it over the process's stdin and stdout, one JSON-RPC
// message per line.
//
// The child's stderr goes to the Logger, one log line per line of output.
//
// Closing a connection stops its child: stdin is closed (an MCP stdio server
// exits at end of file), then, after TerminateTimeout, the child is asked to
// stop, then, after another TerminateTimeout, it is killed. A write blocked
// on a child that stopped reading its stdin returns an error as soon as Close
// starts. The child's exit is watched directly, not through its pipes: when
// it exits, even while a helper it spawned still holds its stdout, Read
// returns an error wrapping [io.EOF] and the child is reaped.
//
// The child and the helpers it spawns (npx, uvx) are handled as one tree:
//   - On Unix the child leads a new process group. The stop request is
//     SIGTERM to the group, the kill SIGKILL to the group, and when the child
//     exits whatever is left in its group is killed.
//   - On Linux the child also gets SIGKILL when this process dies, even by
//     SIGKILL (a parent-death signal). macOS and the BSDs have none: there a
//     child of a killed proxy sees only its stdin reach end of file.
//   - On Windows the child runs in a job object that ends every process in
//     it when the job is terminated or when this process exits, however it
//     exits. Windows has no stop request a program without a console can
//     receive, so the sequence is: close stdin, wait TerminateTimeout,
//     terminate the job.
//
// If children keep dying soon after they start, before sending anything,
// Dial refuses new sessions for a growing backoff period rather than fork a
// crashing server in a loop. The accounting is per client (the identity a
// front puts in the Dial context with [bridge.WithClient]; "" is one more
// client): a client whose own input keeps crashing the server, say at
// initialize, is refused for a while, and the other clients still get
// children. When crashThreshold distinct clients in a row see such deaths
// with no child sending a message to anyone in between, the server is
// taken to be crashing for everyone and every client is refused.
//
// A Command is also a [bridge.RoundTripper]: requests of the stateless
// revision (2026-07-28) share a small pool of children instead (see
// [Command.RoundTrip]), stopped by [Command.Close].
type Command struct {
	// Path and Args name the program and its arguments (Args excludes the
	// program name).
	Path string
	Args []string
	// Env adds KEY=VALUE entries to the child's environment.
	Env []string
	// PassEnvironment gives the child this process's whole environment (plus
	// Env). When false, the child gets only PATH, HOME and a few locale
	// settings, plus Env.
	PassEnvironment bool
	// Dir is the child's working directory; empty means the current one.
	Dir string
	// TerminateTimeout is how long each stopping step waits; zero means 5s.
	// It also bounds how long the child's output is still read after it
	// exited while something outside its group holds its stdout.
	TerminateTimeout time.Duration
	// MaxLineBytes bounds one message from the child; zero means
	// DefaultMaxLineBytes.
	MaxLineBytes int
	// Logger receives the child's stderr and lifecycle events. If nil,
	// slog.Default() is used.
	Logger *slog.Logger

	// PoolSize is the number of children shared by all callers of
	// RoundTrip when the server speaks the stateless revision (2026-07-28);
	// zero means DefaultPoolSize. See pool.go.
	PoolSize int
	// ProbeTimeout bounds the era probe (and waits for a pool child to
	// start or acknowledge a listen); zero means DefaultProbeTimeout.
	ProbeTimeout time.Duration
	// MaxInFlight bounds the RoundTrip requests outstanding on one pool
	// child; zero means DefaultMaxInFlight.
	MaxInFlight int
	// PoolDialer, if set, starts the pool's children and the era probe's
	// instead of [Command.Dial]. It must start them through this Command's Dial: it is
	// the hook through which a program counts and caps the pool's children
	// with the per-session ones (asyncmcp's --max-children and metrics).
	// When it refuses, the pool retries with a growing delay, and requests
	// finding no child get an error naming the refusal.
	PoolDialer bridge.Dialer

	modern modernState // era verdict and pool of shared children (era.go, pool.go)

	mu         sync.Mutex
	alive      int
	started    int64
	lastExit   string
	lastExitAt time.Time
	// streak counts the quick deaths of children that sent nothing, since
	// the last time any child sent a message; streakClients are the
	// distinct clients that saw them. globalTrips counts the global
	// back-offs of the streak, notBefore ends the current one.
	streak        int
	streakClients map[string]struct{}
	globalTrips   int
	notBefore     time.Time
	clients       map[string]*clientCrashes // per-client back-off (bounded)
	lastContact   atomic.Int64              // unix nanos of the last message either way
}

// clientCrashes is the crash record of one client.
type clientCrashes struct {
	crashes   int // consecutive quick deaths of its children that sent nothing
	notBefore time.Time
	last      time.Time
}

// maxCrashClients bounds the per-client crash records of a Command; past
// it, the record touched longest ago goes.
const maxCrashClients = 4096

// CommandStatus is a snapshot of a [Command]'s children.
type CommandStatus struct {
	Alive        int       `json:"children_alive"`
	Started      int64     `json:"children_started"`
	LastExit     string    `json:"last_exit,omitempty"`
	LastExitAt   time.Time `json:"last_exit_at,omitzero"`
	LastActivity time.Time `json:"last_activity,omitzero"`
	// Crashing is true while the last children died on their own soon after
	// starting without sending anything, at least crashThreshold of them
	// since any child last sent a message, whichever clients started them.
	Crashing bool `json:"crashing"`
	// RetryAfter is when the global back-off ends: every client is refused
	// until then (the server crashes for clients of crashThreshold distinct
	// identities).
	RetryAfter time.Time `json:"retry_after,omitzero"`
	// ClientsInBackoff counts the clients being refused because their own
	// children keep crashing.
	ClientsInBackoff int `json:"clients_in_backoff,omitempty"`
}

// Status reports the children's state.
func (c *Command) Status() CommandStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := CommandStatus{
		Alive:      c.alive,
		Started:    c.started,
		LastExit:   c.lastExit,
		LastExitAt: c.lastExitAt,
		Crashing:   c.streak >= crashThreshold,
	}
	now := time.Now()
	if now.Before(c.notBefore) {
		s.RetryAfter = c.notBefore
	}
	for _, r := range c.clients {
		if now.Before(r.notBefore) {
			s.ClientsInBackoff++
		}
	}
	if n := c.lastContact.Load(); n != 0 {
		s.LastActivity = time.Unix(0, n)
	}
	return s
}

const (
	crashThreshold = 3                // consecutive quick deaths before backoff starts
	quickDeath     = 10 * time.Second // a child that dies sooner than this counts as crashing
	maxBackoff     = 30 * time.Second
)

func (c *Command) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

func (c *Command) environ() []string {
	var env []string
	if c.PassEnvironment {
		env = os.Environ()
	} else {
		for _, k := range []string{"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "LC_ALL", "TMPDIR", "TZ", "SYSTEMROOT"} {
			if v, ok := os.LookupEnv(k); ok {
				env = append(env, k+"="+v)
			}
		}
	}
	return append(env, c.Env...)
}

// Dial starts a child process and returns a connection to it. The client
// named by [bridge.ClientFrom](ctx) is refused while it, or every client,
// is in crash back-off (see [Command]).
func (c *Command) Dial(ctx context.Context) (mcp.Connection, error) {
	client := bridge.ClientFrom(ctx)
	c.mu.Lock()
	if wait := time.Until(c.notBefore); wait > 0 {
		c.mu.Unlock()
		return nil, fmt.Errorf("%s keeps exiting right after it starts (last: %s); next start allowed in %s", c.Path, c.lastExit, wait.Round(time.Second))
	}
	if r := c.clients[client]; r != nil {
		if wait := time.Until(r.notBefore); wait > 0 {
			c.mu.Unlock()
			return nil, fmt.Errorf("%s keeps exiting right after it starts for this client's sessions (last: %s); next start allowed in %s", c.Path, c.lastExit, wait.Round(time.Second))
		}
	}
	c.mu.Unlock()

	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env = c.environ()
	cmd.Dir = c.Dir
	p, err := openChildPipes()
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", c.Path, err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = p.childStdin, p.childStdout, p.childStderr
	tree, err := startTree(cmd)
	p.closeChildEnds() // the child has its own copies now
	if err != nil {
		p.closeOurEnds()
		return nil, fmt.Errorf("starting %s: %w", c.Path, err)
	}
	td := c.TerminateTimeout
	if td <= 0 {
		td = 5 * time.Second
	}
	log := c.logger().With("pid", cmd.Process.Pid)
	log.Info("MCP server started", "cmd", c.Path, "args", c.Args)
	c.mu.Lock()
	c.alive++
	c.started++
	c.mu.Unlock()

	conn := &childConn{
		cmd:       cmd,
		tree:      tree,
		stdin:     p.stdin,
		lines:     newLineReader(p.stdout, c.maxLine()),
		log:       log,
		exited:    make(chan struct{}),
		closing:   make(chan struct{}),
		terminate: td,
		touch:     func() { c.lastContact.Store(time.Now().UnixNano()) },
		firstMsg:  c.childAnswered,
		id:        fmt.Sprintf("pid-%d", cmd.Process.Pid),
	}
	startedAt := time.Now()
	stderrDone := make(chan struct{})
	go func() {
		defer close(stderrDone)
		sc := bufio.NewScanner(p.stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			log.Info("server stderr", "line", sc.Text())
		}
	}()
	go func() {
		// Wait for the process itself, not for its pipes: a helper it
		// spawned may hold stdout open after the child is gone, and the
		// exit must be noticed (and the child reaped) all the same.
		err := cmd.Wait()
		conn.exitErr = err
		// Record the exit before anyone waiting on exited can look.
		c.recordExit(client, err, conn.closed.Load(), conn.answered.Load(), startedAt, log)
		close(conn.exited)
		// The session ends with its server: stop whatever the child left
		// running in its group or job, so the pipes they hold reach end of
		// file after the child's last output has been read.
		tree.kill()
		drained := make(chan struct{})
		go func() {
			<-stderrDone
			<-conn.lines.finished
			close(drained)
		}()
		select {
		case <-drained:
		case <-time.After(td):
			// Something outside the group still holds the pipes: stop
			// reading them.
			log.Warn("MCP server exited but its stdout or stderr is still open; closing them", "after", td)
		}
		p.stdout.Close()
		p.stderr.Close()
		tree.release()
	}()
	return conn, nil
}

// childPipes are the three pipes between this process and a child. The
// child's ends are handed to exec.Cmd as files, so Wait returns when the
// process exits rather than when every holder of the pipes has closed them.
type childPipes struct {
	stdin, stdout, stderr                *os.File // our ends
	childStdin, childStdout, childStderr *os.File
}

func openChildPipes() (*childPipes, error) {
	p := &childPipes{}
	var err error
	if p.childStdin, p.stdin, err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	if p.stdout, p.childStdout, err = os.Pipe(); err != nil {
		p.closeChildEnds()
		p.closeOurEnds()
		return nil, fmt.Errorf("stdout pipe: %w", err)
	}
	if p.stderr, p.childStderr, err = os.Pipe(); err != nil {
		p.closeChildEnds()
		p.closeOurEnds()
		return nil, fmt.Errorf("stderr pipe: %w", err)
	}
	return p, nil
}

func (p *childPipes) closeChildEnds() {
	for _, f := range []*os.File{p.childStdin, p.childStdout, p.childStderr} {
		if f != nil {
			f.Close()
		}
	}
}

func (p *childPipes) closeOurEnds() {
	for _, f := range []*os.File{p.stdin, p.stdout, p.stderr} {
		if f != nil {
			f.Close()
		}
	}
}

// recordExit updates the children's bookkeeping when one exits. Only a
// child that died before sending any message counts towards the crash
// back-off: one that answered had started fine, and its death concerns the
// session that was using it (a client's input, such as a tool that exits,
// must not lock every other client out). Such deaths count against the
// client that started the child; against every client only when
// crashThreshold distinct clients see them in a row (see [Command]).
func (c *Command) recordExit(client string, err error, deliberate, answered bool, startedAt time.Time, log *slog.Logger) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.alive--
	now := time.Now()
	c.lastExitAt = now
	c.lastExit = "exit status 0"
	if err != nil {
		c.lastExit = err.Error()
	}
	if deliberate {
		delete(c.clients, client)
		log.Info("MCP server stopped", "status", c.lastExit)
		return
	}
	log.Warn("MCP server exited on its own", "status", c.lastExit)
	if answered {
		delete(c.clients, client)
		return
	}
	r := c.clientRecord(client, now)
	r.last = now
	if now.Sub(startedAt) >= quickDeath {
		r.crashes = 1
		return
	}
	r.crashes++
	if r.crashes >= crashThreshold {
		r.notBefore = now.Add(backoffFor(r.crashes - crashThreshold))
		log.Warn("MCP server keeps dying before it answers this client's sessions; refusing them for a while", "crashes", r.crashes, "retry_after", r.notBefore)
	}
	c.streak++
	if c.streakClients == nil {
		c.streakClients = map[string]struct{}{}
	}
	if len(c.streakClients) < crashThreshold {
		c.streakClients[client] = struct{}{}
	}
	if len(c.streakClients) >= crashThreshold {
		c.notBefore = now.Add(backoffFor(c.globalTrips))
		c.globalTrips++
		log.Warn("MCP server keeps dying before it answers, for several clients; refusing every session for a while", "retry_after", c.notBefore)
	}
}

// backoffFor is the refusal period after n back-offs in a row.
func backoffFor(n int) time.Duration {
	return min(time.Second<<min(n, 5), maxBackoff)
}

// clientRecord returns client's crash record, making room if needed.
func (c *Command) clientRecord(client string, now time.Time) *clientCrashes {
	if r := c.clients[client]; r != nil {
		return r
	}
	if c.clients == nil {
		c.clients = map[string]*clientCrashes{}
	}
	if len(c.clients) >= maxCrashClients {
		var oldest string
		var at time.Time
		for k, r := range c.clients {
			if now.After(r.notBefore) && now.Sub(r.last) > quickDeath {
				delete(c.clients, k)
				continue
			}
			if oldest == "" || r.last.Before(at) {
				oldest, at = k, r.last
			}
		}
		if len(c.clients) >= maxCrashClients {
			delete(c.clients, oldest)
		}
	}
	r := &clientCrashes{}
	c.clients[client] = r
	return r
}

// childAnswered ends a crash streak: a child sent a message, so the server
// does start for someone.
func (c *Command) childAnswered() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.streak = 0
	c.globalTrips = 0
	clear(c.streakClients)
}

func (c *Command) maxLine() int {
	if c.MaxLineBytes > 0 {
		return c.MaxLineBytes
	}
	return DefaultMaxLineBytes
}

type childConn struct {
	id        string
	cmd       *exec.Cmd
	tree      *procTree
	stdin     *os.File
	lines     *lineReader
	log       *slog.Logger
	touch     func()
	firstMsg  func() // called once, at the child's first message
	terminate time.Duration

	wmu       sync.Mutex
	exited    chan struct{}
	exitErr   error
	closing   chan struct{}
	closeOnce sync.Once
	closed    atomic.Bool
	answered  atomic.Bool // the child has sent a message
}

func (c *childConn) SessionID() string { return "" }

// Pid reports the child's process id (on Unix the id of its process group too).
func (c *childConn) Pid() int { return c.cmd.Process.Pid }

func (c *childConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	for {
		line, err := c.lines.next(ctx, c.closing, c.log)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, mcp.ErrConnectionClosed) {
				return nil, err
			}
			// End of file, or the pipe was closed after the child exited
			// while something else still held it: either way the server is
			// gone or going. Report how it ended.
			select {
			case <-c.exited:
			case <-c.closing:
				return nil, mcp.ErrConnectionClosed
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if c.exitErr != nil {
				return nil, fmt.Errorf("MCP server exited: %v: %w", c.exitErr, io.EOF)
			}
			return nil, fmt.Errorf("MCP server exited: %w", io.EOF)
		}
		msg, err := rpcmsg.Decode(line)
		if err != nil {
			// Servers sometimes print banners or debug text on stdout; that
			// is their bug, not a reason to drop the session.
			c.log.Warn("ignoring non-JSON-RPC line from MCP server stdout", "line", truncate(line, 200), "err", err)
			continue
		}
		c.touch()
		if !c.answered.Swap(true) && c.firstMsg != nil {
			c.firstMsg()
		}
		return msg, nil
	}
}

// Write sends one message to the child's stdin. It blocks while the child
// does not read and the pipe is full; [childConn.Close] or the child's exit
// makes it return with an error.
func (c *childConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	data, err := jsonrpc.EncodeMessage(msg)
	if err != nil {
		return fmt.Errorf("encoding message: %w", err)
	}
	data = append(data, '\n')
	// wmu keeps messages whole when writers race; Close never takes it, so a
	// write blocked on a child that stopped reading cannot hold Close up.
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed.Load() {
		return mcp.ErrConnectionClosed
	}
	select {
	case <-c.exited:
		return fmt.Errorf("MCP server exited: %v", c.exitErr)
	default:
	}
	if _, err := c.stdin.Write(data); err != nil {
		if c.closed.Load() {
			return mcp.ErrConnectionClosed
		}
		return fmt.Errorf("writing to MCP server stdin: %w", err)
	}
	c.touch()
	return nil
}

// Close stops the child: it closes stdin (which also ends a write blocked on
// a child that stopped reading), waits up to the terminate timeout for the
// child to exit, then asks the process group to stop with SIGTERM and waits
// again (Unix only), then kills the whole group or job. It returns once the
// child has exited.
func (c *childConn) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		close(c.closing)
		c.lines.close()
		// Not under wmu: a blocked Write holds it. Closing the file wakes
		// that Write with an error.
		c.stdin.Close()
		select {
		case <-c.exited:
		case <-time.After(c.terminate):
			if err := c.tree.interrupt(); err == nil {
				c.log.Warn("MCP server did not exit after stdin closed; sent " + interruptName)
				select {
				case <-c.exited:
				case <-time.After(c.terminate):
					c.log.Warn("MCP server did not exit after " + interruptName + "; killing it")
				}
			} else {
				c.log.Warn("MCP server did not exit after stdin closed; killing it")
			}
		}
		// Stop the child if it is still there and any helper processes it
		// left behind in its group or job.
		c.tree.kill()
		<-c.exited
	})
	return nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// errLineTooLong marks a line that exceeded the limit; the line is skipped.
var errLineTooLong = errors.New("message too long")

// lineReader reads newline-delimited messages on its own goroutine so that
// Read can be unblocked by ctx or Close.
type lineReader struct {
	ch       chan lineResult
	finished chan struct{} // closed when the reader has returned
	stop     chan struct{}
	once     sync.Once
	max      int
}

type lineResult struct {
	line []byte
	err  error
}

func newLineReader(r io.Reader, max int) *lineReader {
	lr := &lineReader{ch: make(chan lineResult, 16), finished: make(chan struct{}), stop: make(chan struct{}), max: max}
	go lr.run(bufio.NewReaderSize(r, 64<<10))
	return lr
}

// close stops the reading goroutine once its reader returns.
func (lr *lineReader) close() { lr.once.Do(func() { close(lr.stop) }) }

func (lr *lineReader) send(r lineResult) bool {
	select {
	case lr.ch <- r:
		return true
	case <-lr.stop:
		return false
	}
}

func (lr *lineReader) run(br *bufio.Reader) {
	defer close(lr.finished)
	defer close(lr.ch)
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > lr.max {
			// Skip the rest of the oversized line and report it.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			buf = buf[:0]
			if !lr.send(lineResult{err: fmt.Errorf("%w: longer than %d bytes", errLineTooLong, lr.max)}) {
				return
			}
			if err != nil {
				lr.send(lineResult{err: err})
				return
			}
			continue
		}
		buf = append(buf, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if line := bytes.TrimSpace(buf); len(line) > 0 {
			if !lr.send(lineResult{line: bytes.Clone(line)}) {
				return
			}
		}
		buf = buf[:0]
		if err != nil {
			lr.send(lineResult{err: err})
			return
		}
	}
}

// next returns the next line. Oversized lines are logged and skipped.
func (lr *lineReader) next(ctx context.Context, closing <-chan struct{}, log *slog.Logger) ([]byte, error) {
	for {
		select {
		case r, ok := <-lr.ch:
			if !ok {
				return nil, io.EOF
			}
			if errors.Is(r.err, errLineTooLong) {
				log.Error("dropping oversized message", "err", r.err)
				continue
			}
			if r.err != nil {
				return nil, r.err
			}
			return r.line, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-closing:
			return nil, mcp.ErrConnectionClosed
		}
	}
}
