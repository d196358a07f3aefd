// SPDX-License-Identifier: Apache-2.0

package bridge

import (
	"context"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// maxPendingToBack bounds the bytes of client messages read but not yet
// written to the back. A back that accepts nothing while more than this
// arrives has stopped reading its input, and the session fails.
const maxPendingToBack = 16 << 20

// A sendQueue hands client messages from the goroutine that reads the
// front to the one that writes the back, so that the end of the front is
// noticed even while a write to a back that stopped reading is blocked.
// It holds at most maxPendingToBack bytes (and always admits one message).
type sendQueue struct {
	mu     sync.Mutex
	msgs   []jsonrpc.Message
	sizes  []int
	bytes  int
	closed bool
	ready  chan struct{} // signalled when msgs goes from empty to not, or on close
}

func newSendQueue() *sendQueue { return &sendQueue{ready: make(chan struct{}, 1)} }

// push adds msg; it reports false, adding nothing, when the queue is full.
func (q *sendQueue) push(msg jsonrpc.Message) bool {
	n := approxSize(msg)
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.msgs) > 0 && q.bytes+n > maxPendingToBack {
		return false
	}
	q.msgs = append(q.msgs, msg)
	q.sizes = append(q.sizes, n)
	q.bytes += n
	q.signal()
	return true
}

// pending returns the bytes queued.
func (q *sendQueue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

// close makes pop return false once the queue is empty.
func (q *sendQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.signal()
	q.mu.Unlock()
}

func (q *sendQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// pop waits for the next message; false when the queue is closed and empty
// or ctx is done.
func (q *sendQueue) pop(ctx context.Context) (jsonrpc.Message, bool) {
	for {
		q.mu.Lock()
		if len(q.msgs) > 0 {
			msg, n := q.msgs[0], q.sizes[0]
			q.msgs[0] = nil
			q.msgs, q.sizes = q.msgs[1:], q.sizes[1:]
			q.bytes -= n
			q.mu.Unlock()
			return msg, true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return nil, false
		}
		select {
		case <-q.ready:
		case <-ctx.Done():
			return nil, false
		}
	}
}

// approxSize estimates the encoded size of msg from its variable parts.
func approxSize(msg jsonrpc.Message) int {
	const overhead = 64
	switch m := msg.(type) {
	case *jsonrpc.Request:
		return overhead + len(m.Method) + len(m.Params)
	case *jsonrpc.Response:
		return overhead + len(m.Result)
	}
	return overhead
}
