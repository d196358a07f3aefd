// SPDX-License-Identifier: Apache-2.0

package queuecore

import (
	"container/list"
	"crypto/sha256"
	"crypto/subtle"
	"sync"
	"time"
)

// A binding ties a server session to its creator, so that a stranger who
// learns the session id (from a shared response queue, say) can neither
// inject messages into it nor end it nor claim it after it ended.
//
// A Go client sends a random SessionKey on every message of a session; the
// server keeps its SHA-256 from initialize and compares each message's key
// to it. A client that sends no key (Python asyncmcp) is bound to the SQS
// SenderId of its initialize, when the service reports one; failing both,
// the session is unbound and admits anyone (ServerConfig.RequireSessionKey
// refuses such sessions instead).
type binding struct {
	keyHash  []byte // SHA-256 of the SessionKey; nil if none
	senderID string // SenderId of the initialize, for keyless sessions
}

func newBinding(key, senderID string) binding {
	if key != "" {
		h := sha256.Sum256([]byte(key))
		return binding{keyHash: h[:]}
	}
	return binding{senderID: senderID}
}

// admits reports whether a message with this key and sender belongs to the
// bound session.
func (b binding) admits(key, senderID string) bool {
	switch {
	case b.keyHash != nil:
		h := sha256.Sum256([]byte(key))
		return key != "" && subtle.ConstantTimeCompare(h[:], b.keyHash) == 1
	case b.senderID != "":
		return senderID == b.senderID
	}
	return true
}

// kind names what the session is bound to, for logs.
func (b binding) kind() string {
	switch {
	case b.keyHash != nil:
		return "session key"
	case b.senderID != "":
		return "sender id"
	}
	return "nothing (no key, no sender id)"
}

// An endedSession is what the server remembers of a session that ended.
type endedSession struct {
	id      string
	replyTo string
	bind    binding
	at      time.Time
}

// endedSessions remembers the most recent ended sessions, at most max and
// for at most ttl each, oldest evicted first.
type endedSessions struct {
	max int
	ttl time.Duration

	mu    sync.Mutex
	byID  map[string]*list.Element
	order list.List // of *endedSession, oldest first
}

func (e *endedSessions) add(t *endedSession, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.byID == nil {
		e.byID = map[string]*list.Element{}
	}
	if el, ok := e.byID[t.id]; ok {
		e.order.Remove(el)
	}
	t.at = now
	e.byID[t.id] = e.order.PushBack(t)
	e.evict(now)
}

// evict drops expired entries and those over max; e.mu is held.
func (e *endedSessions) evict(now time.Time) {
	for e.order.Len() > 0 {
		front := e.order.Front()
		t := front.Value.(*endedSession)
		if e.order.Len() <= e.max && now.Sub(t.at) < e.ttl {
			return
		}
		e.order.Remove(front)
		delete(e.byID, t.id)
	}
}

// get returns the ended session id, or nil if none is remembered.
func (e *endedSessions) get(id string, now time.Time) *endedSession {
	if id == "" {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evict(now)
	if el, ok := e.byID[id]; ok {
		return el.Value.(*endedSession)
	}
	return nil
}

func (e *endedSessions) remove(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if el, ok := e.byID[id]; ok {
		e.order.Remove(el)
		delete(e.byID, id)
	}
}
