// SPDX-License-Identifier: Apache-2.0

package httpfront

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// writeSSEHeaders starts an SSE response.
func writeSSEHeaders(w http.ResponseWriter, sessionID string) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	if sessionID != "" {
		h.Set("Mcp-Session-Id", sessionID)
	}
	w.WriteHeader(http.StatusOK)
}

// serveStream writes the events of st from index from onwards to w, then
// waits for more, until the stream is finished and flushed, the session
// closes, the client goes away, or another request takes the stream over.
func (s *session) serveStream(w http.ResponseWriter, r *http.Request, st *stream, from int, prime bool) {
	// The ResponseWriter buffers already; a second buffer per stream would
	// cost memory for every idle session.
	flusher, _ := w.(http.Flusher)
	bw := &errWriter{w: w}
	flush := func() bool {
		if bw.err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}

	s.mu.Lock()
	if st.owner != nil {
		close(st.owner) // a reconnecting client takes the stream over
	}
	mine := make(chan struct{})
	st.owner = mine
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if st.owner == mine {
			st.owner = nil
		}
		s.lastActive = time.Now()
		s.mu.Unlock()
	}()

	if prime && !s.legacy {
		// A priming event gives the client an id to resume from before any
		// message has been sent.
		bw.WriteString("id: " + st.id + "_" + strconv.Itoa(from) + "\ndata: \n\n")
	}
	// Headers and the priming event are held back for a moment: a fast
	// answer then leaves in the same write, together with the end of the
	// response, which halves the system calls of a quick request. Anything
	// slower is flushed at once when the moment has passed.
	// One timer serves both: first the hold, then the keep-alive interval.
	unflushed := true
	keepAlive := s.ep.opts.keepAlive()
	timer := time.NewTimer(firstFlushDelay)
	defer timer.Stop()
	cursor := from
	var batch [][]byte
	for {
		s.mu.Lock()
		if cursor < st.base {
			cursor = st.base // those events were evicted
		}
		batch = batch[:0]
		for i := cursor; i < st.next; i++ {
			batch = append(batch, st.events[i-st.base].data)
		}
		first := cursor
		cursor = st.next
		if cursor > st.delivered {
			st.delivered = cursor
		}
		finished := st.done && !st.standalone
		closed := s.isClosed()
		s.mu.Unlock()

		for i, data := range batch {
			if s.legacy {
				bw.WriteString("event: message\ndata: ")
			} else {
				bw.WriteString("id: " + st.eventID(first+i) + "\nevent: message\ndata: ")
			}
			bw.Write(data)
			bw.WriteString("\n\n")
		}
		if finished || closed {
			return // the server flushes what is left when the handler returns
		}
		if len(batch) > 0 {
			if !flush() {
				return
			}
			if unflushed {
				unflushed = false
				timer.Reset(keepAlive)
			}
		}
		select {
		case <-timer.C:
			if !unflushed {
				bw.WriteString(": keep-alive\n\n")
			}
			if !flush() {
				return
			}
			unflushed = false
			timer.Reset(keepAlive)
		case <-st.wake:
		case <-s.closed:
		case <-mine:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// firstFlushDelay is how long a new stream's headers may wait for the first
// message before they are sent on their own.
const firstFlushDelay = 5 * time.Millisecond

// errWriter remembers the first write error, so a run of writes can be
// checked once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) WriteString(s string) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := io.WriteString(e.w, s)
	e.err = err
	return n, err
}

// parseLastEventID splits "<stream>_<position>".
func parseLastEventID(v string) (streamID string, pos int, ok bool) {
	i := strings.LastIndexByte(v, '_')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(v[i+1:])
	if err != nil || n < 0 {
		return "", 0, false
	}
	return v[:i], n, true
}
