// SPDX-License-Identifier: Apache-2.0

package queuecore

import (
	"context"
	"io"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// A mailbox is the bounded, non-blocking inbox of one session. The poller
// puts messages in without ever waiting, so a session that does not read
// cannot stall the others; Read takes them out in order.
type mailbox struct {
	mu     sync.Mutex
	msgs   []jsonrpc.Message
	limit  int
	kick   chan struct{} // capacity 1: "msgs may be non-empty or closed"
	closed bool
	err    error
}

func newMailbox(limit int) *mailbox {
	return &mailbox{limit: limit, kick: make(chan struct{}, 1)}
}

// put appends m; it reports false if the mailbox is full or closed.
func (b *mailbox) put(m jsonrpc.Message) bool {
	b.mu.Lock()
	if b.closed || len(b.msgs) >= b.limit {
		b.mu.Unlock()
		return false
	}
	b.msgs = append(b.msgs, m)
	b.mu.Unlock()
	b.signal()
	return true
}

func (b *mailbox) signal() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// close makes Read return err (io.EOF if nil) once the mailbox is drained.
func (b *mailbox) close(err error) {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		if err == nil {
			err = io.EOF
		}
		b.err = err
	}
	b.mu.Unlock()
	b.signal()
}

// closeNow discards queued messages and closes the mailbox.
func (b *mailbox) closeNow(err error) {
	b.mu.Lock()
	b.msgs = nil
	b.mu.Unlock()
	b.close(err)
}

func (b *mailbox) read(ctx context.Context) (jsonrpc.Message, error) {
	for {
		b.mu.Lock()
		if len(b.msgs) > 0 {
			m := b.msgs[0]
			b.msgs[0] = nil
			b.msgs = b.msgs[1:]
			more := len(b.msgs) > 0 || b.closed
			b.mu.Unlock()
			if more {
				b.signal()
			}
			return m, nil
		}
		if b.closed {
			err := b.err
			b.mu.Unlock()
			b.signal()
			return nil, err
		}
		b.mu.Unlock()
		select {
		case <-b.kick:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
