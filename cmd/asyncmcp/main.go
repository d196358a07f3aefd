// SPDX-License-Identifier: Apache-2.0

// Command asyncmcp bridges Model Context Protocol transports: it exposes a
// stdio MCP server over Streamable HTTP and SSE, connects stdio-only clients
// to remote servers, and carries MCP over queues, topics and webhooks.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const topUsage = `asyncmcp bridges Model Context Protocol (MCP) transports.

Usage:
  asyncmcp proxy [options] -- COMMAND [ARGS...]   serve a stdio MCP server over Streamable HTTP and SSE
  asyncmcp proxy [options] URL                    connect a stdio client to a remote HTTP MCP server
  asyncmcp proxy --backend KIND [options]         let MCP clients reach a server behind SQS, SNS+SQS or webhooks
  asyncmcp serve --transport KIND [options] -- COMMAND [ARGS...]
                                                  put a stdio MCP server behind SQS, SNS+SQS or webhooks

Commands:
  proxy     switch transports between an MCP client and an MCP server
  serve     run MCP servers behind an asynchronous transport

Options:
  -h, --help       show help (also: asyncmcp COMMAND --help)
  --version        print the version

Run 'asyncmcp proxy --help' or 'asyncmcp serve --help' for the options of each command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the command line and returns the process exit code.
func run(args []string, stdin io.ReadCloser, stdout io.WriteCloser, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, topUsage)
		return 0
	case "--version", "version":
		fmt.Fprintf(stdout, "asyncmcp %s\n", versionString())
		return 0
	case "proxy":
		err = runProxy(ctx, args[1:], stdin, stdout, stderr)
	case "serve":
		err = runServe(ctx, args[1:], stdin, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "asyncmcp: unknown command %q\n\n%s", args[0], topUsage)
		return 2
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "asyncmcp %s: %v\nRun 'asyncmcp %s --help' for usage.\n", args[0], ue.err, args[0])
		return 2
	default:
		fmt.Fprintf(stderr, "asyncmcp %s: %v\n", args[0], err)
		return 1
	}
}

// usageError marks a bad command line (exit status 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// logOptions are the logging flags shared by every command.
type logOptions struct {
	level  string
	format string
	debug  bool
}

func (o *logOptions) register(fs *flagSet, group string) {
	fs.stringVar(&o.level, []string{"--log-level"}, "LEVEL", group, "log level: debug, info, warn, error (default info)")
	fs.boolVar(&o.debug, "--debug", "--no-debug", group, "log at debug level (overrides --log-level)")
	fs.stringVar(&o.format, []string{"--log-format"}, "FORMAT", group, "log format: text (logfmt style) or json, one object per line (default text)")
}

// logger builds the process logger; it writes to stderr, since stdout may
// carry the protocol.
func (o *logOptions) logger(stderr io.Writer) (*slog.Logger, error) {
	level := slog.LevelInfo
	switch strings.ToLower(o.level) {
	case "", "info":
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error", "critical":
		level = slog.LevelError
	default:
		return nil, usagef("--log-level: want debug, info, warn or error, got %q", o.level)
	}
	if o.debug {
		level = slog.LevelDebug
	}
	hopts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(o.format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(stderr, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(stderr, hopts)), nil
	default:
		return nil, usagef("--log-format: want text or json, got %q", o.format)
	}
}
