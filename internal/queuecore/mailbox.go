// SPDX-License-Identifier: Apache-2.0

package queuecore

import (
	"context"
	"io"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// DefaultSessionBufferBytes is the default byte budget of a session's inbox.
const DefaultSessionBufferBytes = 16 << 20

// minEntryBytes is what an inbox entry counts at least (locally made
// messages have no wire size).
const minEntryBytes = 64

// A mailbox is the bounded, non-blocking inbox of one session. The poller
// puts messages in without ever waiting, so a session that does not read
// cannot stall the others; Read takes them out in order. It holds at most
// limit messages and maxBytes bytes of their encodings, but always admits a
// message when empty, so one message larger than the budget still passes.
type mailbox struct {
	mu       sync.Mutex
	msgs     []entry
	limit    int
	bytes    int
	maxBytes int
	kick     chan struct{} // capacity 1: "msgs may be non-empty or closed"
	closed   bool
	err      error
}

type entry struct {
	m    jsonrpc.Message
	size int
}

func newMailbox(limit, maxBytes int) *mailbox {
	return &mailbox{limit: limit, maxBytes: maxBytes, kick: make(chan struct{}, 1)}
}

// put appends m, whose encoding is size bytes; it reports false if the
// mailbox is full or closed.
func (b *mailbox) put(m jsonrpc.Message, size int) bool {
	size = max(size, minEntryBytes)
	b.mu.Lock()
	if b.closed || len(b.msgs) >= b.limit || (len(b.msgs) > 0 && b.bytes+size > b.maxBytes) {
		b.mu.Unlock()
		return false
	}
	b.msgs = append(b.msgs, entry{m, size})
	b.bytes += size
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
	b.bytes = 0
	b.mu.Unlock()
	b.close(err)
}

func (b *mailbox) read(ctx context.Context) (jsonrpc.Message, error) {
	for {
		b.mu.Lock()
		if len(b.msgs) > 0 {
			e := b.msgs[0]
			b.msgs[0] = entry{}
			b.msgs = b.msgs[1:]
			b.bytes -= e.size
			more := len(b.msgs) > 0 || b.closed
			b.mu.Unlock()
			if more {
				b.signal()
			}
			return e.m, nil
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
