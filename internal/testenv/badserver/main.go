// SPDX-License-Identifier: Apache-2.0

// Command badserver is a misbehaving stdio MCP server for tests of the child
// process handling. It does one thing, chosen by its first argument:
//
//	badserver deaf PIDFILE
//	    write its pid to PIDFILE, then never read stdin and ignore SIGTERM
//	    and SIGINT: only a kill ends it (or its 10-minute limit).
//	badserver init-then-deaf PIDFILE
//	    answer the initialize request on its first line, write its pid to
//	    PIDFILE, then behave as deaf.
//	badserver orphan PIDFILE
//	    read one line from stdin, start "badserver hold" sharing its stdout
//	    and stderr, write the helper's pid to PIDFILE, and exit with status 3
//	    while the helper keeps the pipes open.
//	badserver orphan-detached PIDFILE
//	    the same, but the helper leaves the process group (Unix only), so
//	    killing the group does not reach it.
//	badserver crash-at-init
//	    read the initialize request on its first line and exit with status
//	    3 without answering when its params.clientInfo.name is "crash";
//	    otherwise answer it, then answer every other request with -32601
//	    until end of input.
//	badserver hold
//	    sleep for up to 10 minutes, holding whatever it inherited.
//
// Every mode ends by itself within 10 minutes, so a test that fails to stop
// it leaks nothing for long.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

const lifetime = 10 * time.Minute

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: badserver deaf|init-then-deaf|orphan|orphan-detached PIDFILE | crash-at-init | hold")
		os.Exit(2)
	}
	switch mode := os.Args[1]; mode {
	case "deaf":
		signal.Ignore(syscall.SIGTERM, os.Interrupt)
		writePID(os.Getpid())
		time.Sleep(lifetime)
	case "init-then-deaf":
		signal.Ignore(syscall.SIGTERM, os.Interrupt)
		line, err := bufio.NewReader(os.Stdin).ReadBytes('\n')
		if err != nil {
			fail(fmt.Errorf("reading initialize: %w", err))
		}
		var req struct {
			ID json.RawMessage `json:"id"`
		}
		if err := json.Unmarshal(line, &req); err != nil || len(req.ID) == 0 {
			fail(fmt.Errorf("first line is not a request: %q", line))
		}
		fmt.Printf(`{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"badserver","version":"1"}}}`+"\n", req.ID)
		writePID(os.Getpid())
		time.Sleep(lifetime)
	case "orphan", "orphan-detached":
		// Wait for a request, so the caller has one in flight when we go.
		bufio.NewReader(os.Stdin).ReadString('\n')
		self, err := os.Executable()
		if err != nil {
			fail(err)
		}
		cmd := exec.Command(self, "hold")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if mode == "orphan-detached" {
			detach(cmd)
		}
		if err := cmd.Start(); err != nil {
			fail(err)
		}
		writePID(cmd.Process.Pid)
		fmt.Fprintln(os.Stderr, "badserver: exiting, helper", cmd.Process.Pid, "holds stdout")
		os.Exit(3)
	case "crash-at-init":
		crashAtInit()
	case "hold":
		time.Sleep(lifetime)
	default:
		fmt.Fprintf(os.Stderr, "badserver: unknown mode %q\n", mode)
		os.Exit(2)
	}
}

// writePID writes pid to the file named by the second argument, atomically.
func writePID(pid int) {
	if len(os.Args) < 3 {
		fail(fmt.Errorf("%s needs a PIDFILE argument", os.Args[1]))
	}
	path := os.Args[2]
	if err := os.WriteFile(path+".tmp", []byte(strconv.Itoa(pid)), 0o644); err != nil {
		fail(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "badserver:", err)
	os.Exit(1)
}

// crashAtInit is the crash-at-init mode: a server that one client's input
// (its clientInfo.name) crashes before it answers anything.
func crashAtInit() {
	go func() {
		time.Sleep(lifetime)
		os.Exit(0)
	}()
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64<<10), 1<<20)
	first := true
	for in.Scan() {
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params struct {
				ProtocolVersion string `json:"protocolVersion"`
				ClientInfo      struct {
					Name string `json:"name"`
				} `json:"clientInfo"`
			} `json:"params"`
		}
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			fail(fmt.Errorf("bad line %q: %w", in.Bytes(), err))
		}
		if first && req.Method == "initialize" && req.Params.ClientInfo.Name == "crash" {
			fmt.Fprintln(os.Stderr, "badserver: crashing at initialize, as asked")
			os.Exit(3)
		}
		first = false
		switch {
		case len(req.ID) == 0:
		case req.Method == "initialize":
			v, _ := json.Marshal(req.Params.ProtocolVersion)
			fmt.Printf(`{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":%s,"capabilities":{},"serverInfo":{"name":"badserver","version":"1"}}}`+"\n", req.ID, v)
		default:
			fmt.Printf(`{"jsonrpc":"2.0","id":%s,"error":{"code":-32601,"message":"Method not found"}}`+"\n", req.ID)
		}
	}
}
