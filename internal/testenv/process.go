// SPDX-License-Identifier: Apache-2.0

package testenv

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// stopGrace is how long a stopped process gets between SIGTERM and SIGKILL.
const stopGrace = 5 * time.Second

// A Process is a child process started by [StartProcess]. It runs in its own
// process group; its stdout and stderr go to a log file that is dumped with
// t.Log when the test fails.
type Process struct {
	// Cmd is the started command. Do not call Wait on it; use [Process.Stop].
	Cmd *exec.Cmd
	// LogPath is the file receiving the process's stdout and stderr.
	LogPath string

	stdin    io.WriteCloser // held open so the child can notice our death
	exited   chan struct{}  // closed once Cmd.Wait returned
	waitErr  error          // result of Cmd.Wait, valid after exited is closed
	readDone chan struct{}  // closed once the stdout reader finished
	stopOnce sync.Once
}

// StartProcess starts cmd in its own process group with stdout and stderr
// appended to a log file in t.TempDir, and registers a t.Cleanup that stops
// the whole group (SIGTERM, then SIGKILL after a grace period) and logs the
// output if the test failed. cmd.Stdin, cmd.Stdout and cmd.Stderr must be
// nil: stdin is a pipe kept open until the process is stopped.
//
// If onLine is non-nil it is called, from a goroutine owned by the Process,
// with every stdout line (without the newline) until stdout closes.
func StartProcess(t testing.TB, cmd *exec.Cmd, onLine func(line string)) *Process {
	t.Helper()
	p, err := startProcess(t.TempDir(), cmd, onLine)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			p.dumpLog(t)
		}
	})
	return p
}

func startProcess(dir string, cmd *exec.Cmd, onLine func(string)) (*Process, error) {
	if cmd.Stdin != nil || cmd.Stdout != nil || cmd.Stderr != nil {
		return nil, fmt.Errorf("start %s: Stdin, Stdout and Stderr must be nil", cmd.Path)
	}
	logf, err := os.CreateTemp(dir, filepath.Base(cmd.Path)+"-*.log")
	if err != nil {
		return nil, fmt.Errorf("create log file for %s: %w", cmd.Path, err)
	}
	logPath := logf.Name()
	logf.Close()
	// Both the child's stderr and our copy of its stdout append to the log.
	errf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("open log file %s: %w", logPath, err)
	}
	defer errf.Close() // the child holds its own descriptor
	out, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("open log file %s: %w", logPath, err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		out.Close()
		return nil, fmt.Errorf("stdout pipe for %s: %w", cmd.Path, err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		out.Close()
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("stdin pipe for %s: %w", cmd.Path, err)
	}
	cmd.Stdout = pw
	cmd.Stderr = errf
	setGroup(cmd)
	if err := cmd.Start(); err != nil {
		out.Close()
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("start %s: %w", cmd.String(), err)
	}
	pw.Close()
	p := &Process{
		Cmd:      cmd,
		LogPath:  logPath,
		stdin:    stdin,
		exited:   make(chan struct{}),
		readDone: make(chan struct{}),
	}
	go func() {
		defer close(p.readDone)
		defer pr.Close()
		defer out.Close()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 16<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(out, line)
			if onLine != nil {
				onLine(line)
			}
		}
		// Keep draining so a chatty child never blocks on a full pipe.
		io.Copy(io.Discard, pr)
	}()
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Exited returns a channel closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Stop terminates the process group: it closes stdin, sends SIGTERM, and
// sends SIGKILL if the process has not exited after a grace period. It waits
// for the process and its stdout reader to finish and is safe to call more
// than once.
func (p *Process) Stop() {
	p.stopOnce.Do(func() {
		p.stdin.Close()
		pgid := p.Cmd.Process.Pid
		select {
		case <-p.exited:
		default:
			terminateGroup(pgid)
			select {
			case <-p.exited:
			case <-time.After(stopGrace):
			}
		}
		// Kill whatever is left of the group, including the leader if it
		// ignored SIGTERM and any grandchildren.
		KillGroup(pgid)
		<-p.exited
		select {
		case <-p.readDone:
		case <-time.After(stopGrace):
		}
	})
}

// Err returns the process's exit error after it exited, or nil while it is
// still running.
func (p *Process) Err() error {
	select {
	case <-p.exited:
		return p.waitErr
	default:
		return nil
	}
}

// Log returns the output captured so far.
func (p *Process) Log() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.LogPath, err)
	}
	return string(b)
}

func (p *Process) dumpLog(t testing.TB) {
	t.Helper()
	const max = 64 << 10
	out := p.Log()
	if len(out) > max {
		out = "...\n" + out[len(out)-max:]
	}
	t.Logf("output of %s (%s):\n%s", p.Cmd.String(), p.LogPath, out)
}

// WaitTCP waits until something accepts TCP connections on addr, failing the
// test if p (which may be nil) exits first or nothing listens within a
// minute.
func WaitTCP(t testing.TB, addr string, p *Process) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if p != nil {
			select {
			case <-p.Exited():
				t.Fatalf("testenv: %s exited (%v) before listening on %s:\n%s", p.Cmd.String(), p.Err(), addr, p.Log())
			default:
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: nothing listening on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
