// SPDX-License-Identifier: Apache-2.0

// Package outbox hands the notifications of one stateless (2026-07-28)
// request to a sender in order, from a goroutine of its own, so that the
// bridge.RoundTripper's notify callback never waits for the network. The
// queue transports' servers and the webhook server both send a request's
// reply stream through one.
package outbox

import (
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Why a notification was not sent.
const (
	DroppedFull   = "full"   // the outbox held its capacity already
	DroppedClosed = "closed" // Push came after Close
)

// An Outbox holds at most a fixed number of notifications waiting to be
// sent; Push drops more (and every Push after Close), telling its drop
// function why.
type Outbox struct {
	ch   chan *jsonrpc.Request
	done chan struct{}
	drop func(n *jsonrpc.Request, why string)

	mu   sync.Mutex
	shut bool
}

// New starts an Outbox of capacity notifications that calls send for each,
// one at a time in the order pushed, until Close. drop, if not nil, is
// called (with the Outbox's lock held, so it must not call Push) for each
// notification dropped.
func New(capacity int, send func(*jsonrpc.Request), drop func(n *jsonrpc.Request, why string)) *Outbox {
	o := &Outbox{ch: make(chan *jsonrpc.Request, capacity), done: make(chan struct{}), drop: drop}
	go func() {
		defer close(o.done)
		for n := range o.ch {
			send(n)
		}
	}()
	return o
}

// Push queues n without waiting; it is safe for concurrent use.
func (o *Outbox) Push(n *jsonrpc.Request) {
	o.mu.Lock()
	defer o.mu.Unlock()
	why := DroppedClosed
	if !o.shut {
		select {
		case o.ch <- n:
			return
		default:
			why = DroppedFull
		}
	}
	if o.drop != nil {
		o.drop(n, why)
	}
}

// Close refuses further notifications and returns once every queued one
// was sent (send returned). It must be called once.
func (o *Outbox) Close() {
	o.mu.Lock()
	o.shut = true
	close(o.ch)
	o.mu.Unlock()
	<-o.done
}
