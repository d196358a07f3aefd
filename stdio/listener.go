// SPDX-License-Identifier: Apache-2.0

package stdio

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A Listener is a [bridge.Listener] for the single client session that talks
// to this process over a reader and a writer, normally os.Stdin and
// os.Stdout. Each line the client sends is checked as every input is
// (rpcmsg): a malformed message, or one that could not be forwarded
// unchanged, is answered with a JSON-RPC error and not handed on. The first Accept returns that session; later calls block until
// ctx is done or the listener is closed.
type Listener struct {
	// Reader and Writer carry newline-delimited JSON-RPC; nil means os.Stdin
	// and os.Stdout.
	Reader io.ReadCloser
	Writer io.WriteCloser
	// Logger receives a line per refused message; nil means slog.Default().
	Logger *slog.Logger
	// MaxLineBytes bounds one message; zero means DefaultMaxFrontLine.
	MaxLineBytes int

	mu       sync.Mutex
	accepted bool
	done     chan struct{}
	once     sync.Once
}

func (l *Listener) init() {
	l.mu.Lock()
	if l.done == nil {
		l.done = make(chan struct{})
	}
	l.mu.Unlock()
}

// Accept returns the stdio session the first time it is called.
func (l *Listener) Accept(ctx context.Context) (mcp.Connection, error) {
	l.init()
	l.mu.Lock()
	first := !l.accepted
	l.accepted = true
	l.mu.Unlock()
	if first {
		r, w := l.Reader, l.Writer
		if r == nil {
			r = os.Stdin
		}
		if w == nil {
			w = os.Stdout
		}
		return newFrontConn(r, w, l.Logger, l.MaxLineBytes), nil
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.done:
		return nil, errors.New("stdio listener closed")
	}
}

// Close makes pending and future Accept calls return.
func (l *Listener) Close() error {
	l.init()
	l.once.Do(func() { close(l.done) })
	return nil
}
