// SPDX-License-Identifier: Apache-2.0

package stdio

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A Listener is a [bridge.Listener] for the single client session that talks
// to this process over a reader and a writer, normally os.Stdin and
// os.Stdout. The first Accept returns that session; later calls block until
// ctx is done or the listener is closed.
type Listener struct {
	// Reader and Writer carry newline-delimited JSON-RPC; nil means os.Stdin
	// and os.Stdout.
	Reader io.ReadCloser
	Writer io.WriteCloser

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
		return (&mcp.IOTransport{Reader: r, Writer: w}).Connect(ctx)
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
