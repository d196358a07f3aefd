// SPDX-License-Identifier: Apache-2.0

package queuecore

import (
	"strings"
	"testing"

	"github.com/asyncmcp/asyncmcp-go/internal/wire"
)

func TestSeqTracking(t *testing.T) {
	p := &modernPending{}
	for _, c := range []struct {
		n     int
		fresh bool
		mark  int
	}{
		{2, true, 0}, // overtook 1
		{1, true, 2},
		{1, false, 2}, // duplicate
		{2, false, 2}, // duplicate
		{4, true, 2},
		{4, false, 2},
		{3, true, 4},
	} {
		if got := p.seen(c.n); got != c.fresh || p.mark != c.mark {
			t.Errorf("seen(%d) = %v, mark %d; want %v, mark %d", c.n, got, p.mark, c.fresh, c.mark)
		}
	}
	// A gap that never fills does not grow the set without bound.
	for n := 6; n < 6+2*seqWindow; n++ {
		p.seen(n)
	}
	if len(p.above) > seqWindow {
		t.Errorf("%d sequence numbers held above the mark, bound %d", len(p.above), seqWindow)
	}
}

func TestAnswerCacheBoundedInBytes(t *testing.T) {
	c := newAnswerCache(10_000)
	body := strings.Repeat("x", 1000)
	for i := range 100 {
		env := wire.Envelope{Body: body}
		c.put(string(rune('a'+i%26))+strings.Repeat("k", i), &cachedAnswer{env: &env, dest: "q"})
	}
	if c.size > c.limit {
		t.Errorf("cache holds %d bytes, limit %d", c.size, c.limit)
	}
	if c.order.Len() == 0 || c.order.Len() > 10 {
		t.Errorf("cache holds %d answers of about 1 KB under a 10 KB limit", c.order.Len())
	}
	// The newest is kept, the oldest evicted.
	if _, ok := c.get(string(rune('a'+99%26)) + strings.Repeat("k", 99)); !ok {
		t.Error("newest answer evicted")
	}
	if _, ok := c.get("a"); ok {
		t.Error("oldest answer kept")
	}
	// Replacing an entry does not count it twice.
	size := c.size
	k := string(rune('a'+99%26)) + strings.Repeat("k", 99)
	env := wire.Envelope{Body: body}
	c.put(k, &cachedAnswer{env: &env, dest: "q"})
	if c.size != size {
		t.Errorf("size %d after replacing an entry, was %d", c.size, size)
	}
}
