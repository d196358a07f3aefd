// SPDX-License-Identifier: Apache-2.0

package httpfront

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"sort"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// takeSlot takes one of MaxSessions' slots for a request served without a
// session, and reports whether there was one; releaseSlot gives it back.
func (ep *endpoint) takeSlot() bool {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.slots >= ep.opts.maxSessions() {
		return false
	}
	ep.slots++
	return true
}

func (ep *endpoint) releaseSlot() {
	ep.mu.Lock()
	ep.slots--
	ep.mu.Unlock()
}

// CodeShuttingDown is the JSON-RPC error code of the response every
// request still in flight gets when the Server closes.
const CodeShuttingDown = -32000

// account adds delta to the bytes of events the session holds, and to the
// Server's total while the session is open (Close takes the session's
// bytes off the total at once). s.mu must be held.
func (s *session) account(delta int64) {
	s.bytes += delta
	if !s.isClosed() {
		s.ep.srv.eventBytes.Add(delta)
	}
}

// dropFirstLocked drops the oldest event of st.
func (s *session) dropFirstLocked(st *stream) {
	s.account(-int64(len(st.events[0].data)))
	st.events[0] = event{}
	st.events = st.events[1:]
	st.base++
	s.events--
}

// dropStreamLocked forgets a finished stream and its events.
func (s *session) dropStreamLocked(st *stream) {
	for _, e := range st.events {
		s.account(-int64(len(e.data)))
	}
	s.events -= len(st.events)
	st.events = nil
	delete(s.streams, st.id)
}

// trimLocked drops events while over reports true: first those of
// finished streams, then events already written to a client, oldest first;
// then, only if undelivered, events no client has read yet (which a client
// then misses; it is logged). It reports whether over turned false.
func (s *session) trimLocked(over func() bool, undelivered bool) bool {
	warned := false
	for over() {
		// Finished streams with nothing left to resume are of no use; drop
		// them from the front so the searches below stay short.
		for len(s.order) > 0 && s.order[0].done && len(s.order[0].events) == 0 {
			delete(s.streams, s.order[0].id)
			s.order[0] = nil
			s.order = s.order[1:]
		}
		all := append([]*stream{s.standalone}, s.order...)
		var victim *stream
		for _, st := range s.order {
			if st.done && len(st.events) > 0 {
				victim = st
				break
			}
		}
		if victim == nil {
			for _, st := range all {
				if len(st.events) > 0 && st.base < st.delivered {
					victim = st
					break
				}
			}
		}
		if victim == nil && undelivered {
			for _, st := range all {
				if len(st.events) > 0 {
					victim = st
					break
				}
			}
			if victim != nil && !warned {
				warned = true
				s.ep.srv.log.Warn("session holds too many undelivered events; dropping the oldest", "session", s.id,
					"events", s.events, "bytes", s.bytes, "event_limit", s.ep.opts.eventLimit(), "byte_limit", s.ep.opts.eventBytes())
			}
		}
		if victim == nil {
			return false
		}
		s.dropFirstLocked(victim)
	}
	return true
}

// failPending answers every request still awaiting a response on one of
// the session's streams with a JSON-RPC error, and ends those streams.
func (s *session) failPending(code int64, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isClosed() {
		return
	}
	for id, st := range s.byReq {
		data, err := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: id, Error: &jsonrpc.Error{Code: code, Message: msg}})
		if err != nil {
			continue
		}
		delete(s.byReq, id)
		st.pending--
		s.appendLocked(st, data)
		s.finishIfAnsweredLocked(st)
		st.signal()
	}
	// A diverted request's answer would have gone by Options.Deliver; the
	// error goes where a failed delivery goes, the standalone stream.
	for id, tok := range s.diverted {
		data, err := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: id, Error: &jsonrpc.Error{Code: code, Message: msg}})
		if err != nil {
			continue
		}
		delete(s.diverted, id)
		delete(s.byProgress, tok)
		s.appendLocked(s.standalone, data)
		s.standalone.signal()
	}
}

// trackLegacyRequest notes a request of an HTTP+SSE session, whose answer
// goes on the session's one stream, so that failPending can answer it.
func (s *session) trackLegacyRequest(id jsonrpc.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byReq[id] = s.standalone
}

// registered reports whether the session is in its endpoint's table (it is
// not a stateless one-request session).
func (s *session) registered() bool {
	s.ep.mu.Lock()
	defer s.ep.mu.Unlock()
	return s.ep.sessions[s.id] == s
}

// sweepEvents forgets expired streams of every session, then, while the
// events of all sessions together exceed Options.EventBytesTotal, trims
// the sessions holding the most bytes.
func (s *Server) sweepEvents(all []*session) {
	type held struct {
		sess  *session
		bytes int64
	}
	var hs []held
	for _, sess := range all {
		sess.mu.Lock()
		sess.lastSweep = sess.lastSweep.AddDate(-1, 0, 0) // sweep now
		sess.sweepLocked()
		hs = append(hs, held{sess, sess.bytes})
		sess.mu.Unlock()
	}
	limit := s.opts.eventBytesTotal()
	if s.eventBytes.Load() <= limit {
		return
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].bytes > hs[j].bytes })
	over := func() bool { return s.eventBytes.Load() > limit }
	for _, h := range hs {
		if !over() {
			return
		}
		s.log.Warn("event store over its total byte limit; trimming the largest session", "session", h.sess.id, "bytes", h.bytes, "total_limit", limit)
		h.sess.mu.Lock()
		h.sess.trimLocked(over, true)
		h.sess.mu.Unlock()
	}
}

// absPath matches an absolute file path of two or more segments that is
// not part of a URL: "/usr/local/bin/server" in "starting /usr/local/bin/server: ...".
var absPath = regexp.MustCompile(`(^|[\s"'(=,;\[])/(?:[^/\s"'():,;\[\]]+/)+([^/\s"'():,;\[\]]+)`)

// redactPaths replaces absolute file paths in s by their last element, so
// that answers to clients (and /status) do not reveal the layout of the
// host: "starting /opt/tools/server: exit status 1" becomes
// "starting server: exit status 1". Logs keep the full text.
func redactPaths(s string) string {
	return absPath.ReplaceAllStringFunc(s, func(m string) string {
		sub := absPath.FindStringSubmatch(m)
		return sub[1] + filepath.Base(m[len(sub[1]):])
	})
}

// redactDetail returns a back's /status detail with absolute paths in its
// JSON form redacted (see redactPaths).
func redactDetail(detail any) any {
	if detail == nil {
		return nil
	}
	b, err := json.Marshal(detail)
	if err != nil {
		return detail
	}
	red := redactPaths(string(b))
	if red == string(b) {
		return detail
	}
	return json.RawMessage(red)
}

// EventBytes returns the bytes of the events that open sessions hold for
// resumption (see Options.EventBytes and Options.EventBytesTotal).
func (s *Server) EventBytes() int64 { return s.eventBytes.Load() }
