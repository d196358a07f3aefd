// SPDX-License-Identifier: Apache-2.0

package outbox

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

func note(i int) *jsonrpc.Request { return &jsonrpc.Request{Method: fmt.Sprint(i)} }

// With send held on the first notification, the outbox takes its capacity
// more and drops the rest as full; once released, it sends in order, and
// Close returns after the last send. Pushes after Close are dropped as
// closed.
func TestOutboxOrderAndDrops(t *testing.T) {
	const capacity = 3
	started := make(chan struct{})
	release := make(chan struct{})
	var sent []string // written by the outbox goroutine, read after Close
	var mu sync.Mutex
	dropped := map[string][]string{}
	o := New(capacity, func(n *jsonrpc.Request) {
		if len(sent) == 0 {
			close(started)
			<-release
		}
		sent = append(sent, n.Method)
	}, func(n *jsonrpc.Request, why string) {
		mu.Lock()
		dropped[why] = append(dropped[why], n.Method)
		mu.Unlock()
	})
	o.Push(note(0))
	<-started // 0 is being sent: the channel is empty again
	for i := 1; i <= capacity+2; i++ {
		o.Push(note(i))
	}
	close(release)
	o.Close()
	o.Push(note(99))
	if want := []string{"0", "1", "2", "3"}; !slices.Equal(sent, want) {
		t.Errorf("sent %v, want %v", sent, want)
	}
	if want := []string{"4", "5"}; !slices.Equal(dropped[DroppedFull], want) {
		t.Errorf("dropped as full %v, want %v", dropped[DroppedFull], want)
	}
	if want := []string{"99"}; !slices.Equal(dropped[DroppedClosed], want) {
		t.Errorf("dropped as closed %v, want %v", dropped[DroppedClosed], want)
	}
}

// Concurrent pushes are all sent (the capacity suffices), each once.
func TestOutboxConcurrentPush(t *testing.T) {
	var sent []string
	o := New(1000, func(n *jsonrpc.Request) { sent = append(sent, n.Method) }, func(n *jsonrpc.Request, why string) {
		t.Errorf("dropped %s: %s", n.Method, why)
	})
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() { o.Push(note(i)) })
	}
	wg.Wait()
	o.Close()
	slices.Sort(sent)
	if len(slices.Compact(sent)) != 100 {
		t.Errorf("sent %d distinct notifications, want 100", len(sent))
	}
}
