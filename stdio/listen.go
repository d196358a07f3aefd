// SPDX-License-Identifier: Apache-2.0

package stdio

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// listenEndGrace is how long the hub waits for a child to end an upstream
// listen it cancelled (by answering it or with notifications/cancelled)
// before it opens the next one. The Go SDK drops all of a connection's
// subscriptions when any listen ends, so the next listen must not start
// before the previous one has ended.
const listenEndGrace = 2 * time.Second

// The hub serves subscriptions/listen for the pool. Servers may keep one
// subscription set per connection (the Go SDK does: a second listen on a
// connection overwrites the first, and the end of any listen drops all), and
// a list change made on one child is seen only by that child, so the hub
// holds one upstream listen per child, with the union of the callers'
// filters, and fans the notifications of every child out to the callers
// whose filters ask for them.
type hub struct {
	p       *pool
	mu      sync.Mutex
	clients map[*clientListen]struct{}
	live    map[*child]*upListen // per live child: its current upstream listen, or nil
	byKey   map[listenKey]*upListen
	meta    json.RawMessage // _meta of upstream listens (from the latest caller's)
	fails   int             // consecutive upstream listens refused
	closed  bool
}

type listenKey struct {
	ch *child
	id int64
}

// Upstream listen states.
const (
	upOpening = iota // sent, not acknowledged
	upOpen           // acknowledged
	upEnding         // cancelled by the hub, end not seen yet
	upClosed         // ended by the child
)

type upListen struct {
	ch       *child
	id       int64
	filter   subFilter
	honored  subFilter
	state    int
	openedAt time.Time
	retryAt  time.Time
	timer    *time.Timer
}

type clientListen struct {
	id      jsonrpc.ID
	idRaw   json.RawMessage
	filter  subFilter
	honored subFilter
	acked   bool
	notes   *fifo[*jsonrpc.Request]
	end     chan *jsonrpc.Response
}

func (h *hub) init(p *pool) {
	h.p = p
	h.clients = map[*clientListen]struct{}{}
	h.live = map[*child]*upListen{}
	h.byKey = map[listenKey]*upListen{}
}

// listen serves one caller's subscriptions/listen.
func (h *hub) listen(ctx context.Context, req *jsonrpc.Request, notify func(*jsonrpc.Request)) (*jsonrpc.Response, error) {
	var params struct {
		Notifications json.RawMessage            `json:"notifications"`
		Meta          map[string]json.RawMessage `json:"_meta"`
	}
	if err := json.Unmarshal(req.Params, &params); err != nil || len(params.Notifications) == 0 || string(params.Notifications) == "null" {
		return invalidParams(req.ID, "subscriptions/listen: params.notifications (an object) is required"), nil
	}
	filter, err := parseFilter(params.Notifications)
	if err != nil {
		return invalidParams(req.ID, "subscriptions/listen: params.notifications: "+err.Error()), nil
	}
	idRaw, _ := json.Marshal(req.ID.Raw())
	cl := &clientListen{id: req.ID, idRaw: idRaw, filter: filter, notes: newFIFO[*jsonrpc.Request](maxNoteBytes), end: make(chan *jsonrpc.Response, 1)}
	delete(params.Meta, "progressToken")
	delete(params.Meta, rpcmsg.MetaLogLevel)
	meta, _ := json.Marshal(params.Meta)

	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, errPoolStopped
	}
	if len(h.clients) >= MaxListens {
		h.mu.Unlock()
		return unavailable(req.ID, fmt.Sprintf("MCP server unavailable: %d subscriptions/listen streams are already open", MaxListens)), nil
	}
	h.clients[cl] = struct{}{}
	h.meta = meta
	h.reconcileLocked()
	h.mu.Unlock()

	ackTimer := time.NewTimer(h.p.c.probeTimeout())
	defer ackTimer.Stop()
	for {
		select {
		case <-cl.notes.signal:
			cl.notes.each(notify)
		case r := <-cl.end:
			cl.notes.each(notify)
			return r, nil
		case <-ctx.Done():
			h.remove(cl)
			return nil, ctx.Err()
		case <-ackTimer.C:
			h.mu.Lock()
			acked := cl.acked
			if !acked {
				h.removeLocked(cl)
			}
			h.mu.Unlock()
			if !acked {
				return unavailable(req.ID, fmt.Sprintf("MCP server unavailable: subscriptions/listen not acknowledged within %s", h.p.c.probeTimeout())), nil
			}
		}
	}
}

func invalidParams(id jsonrpc.ID, msg string) *jsonrpc.Response {
	return &jsonrpc.Response{ID: id, Error: &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: msg}}
}

func (h *hub) remove(cl *clientListen) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(cl)
}

func (h *hub) removeLocked(cl *clientListen) {
	if _, ok := h.clients[cl]; !ok {
		return
	}
	delete(h.clients, cl)
	h.reconcileLocked()
}

// closeAll ends every caller's listen with the graceful listen result.
func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for cl := range h.clients {
		cl.end <- rpcmsg.ListenComplete(cl.id)
		delete(h.clients, cl)
	}
	for _, ul := range h.byKey {
		if ul.timer != nil {
			ul.timer.Stop()
		}
	}
}

func (h *hub) childUp(ch *child) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.live[ch] = nil
	h.reconcileLocked()
}

func (h *hub) childDown(ch *child) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.live, ch)
	for k, ul := range h.byKey {
		if k.ch == ch {
			if ul.timer != nil {
				ul.timer.Stop()
			}
			delete(h.byKey, k)
		}
	}
	h.reconcileLocked()
}

// desiredLocked is the union of the callers' filters.
func (h *hub) desiredLocked() subFilter {
	var d subFilter
	for cl := range h.clients {
		d = d.union(cl.filter)
	}
	return d
}

// reconcileLocked brings every child's upstream listen in line with the
// callers' filters, then acknowledges the callers that can be.
func (h *hub) reconcileLocked() {
	if h.closed {
		return
	}
	desired := h.desiredLocked()
	now := time.Now()
	for ch, ul := range h.live {
		switch {
		case ul == nil:
			if !desired.empty() {
				h.openLocked(ch, desired)
			}
		case ul.state == upOpening || ul.state == upEnding:
			// wait for the child
		case ul.state == upOpen:
			if desired.empty() || !ul.filter.covers(desired) {
				h.endLocked(ul, "asyncmcp: the subscription filter changed")
			}
		case ul.state == upClosed:
			switch {
			case desired.empty():
				h.live[ch] = nil
			case !ul.filter.covers(desired):
				h.openLocked(ch, desired)
			case !ul.honored.empty() && !now.Before(ul.retryAt):
				h.openLocked(ch, desired)
			}
		}
	}
	h.ackLocked()
}

func (h *hub) openLocked(ch *child, filter subFilter) {
	id := ch.nextID.Add(1)
	nf, _ := json.Marshal(filter)
	meta := h.meta
	if len(meta) == 0 || string(meta) == "null" {
		meta = json.RawMessage(`{"` + rpcmsg.MetaProtocolVersion + `":"` + rpcmsg.ModernVersion + `","` + rpcmsg.MetaClientCapabilities + `":{}}`)
	}
	params, _ := json.Marshal(map[string]json.RawMessage{"notifications": nf, "_meta": meta})
	ul := &upListen{ch: ch, id: id, filter: filter, state: upOpening, openedAt: time.Now()}
	h.live[ch] = ul
	h.byKey[listenKey{ch, id}] = ul
	if !ch.send(&jsonrpc.Request{ID: intID(id), Method: "subscriptions/listen", Params: params}) {
		ul.state = upClosed
		ul.retryAt = time.Now().Add(time.Second)
		delete(h.byKey, listenKey{ch, id})
		h.retryLater(time.Second)
		return
	}
	ul.timer = time.AfterFunc(h.p.c.probeTimeout(), func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.byKey[listenKey{ch, id}] == ul && ul.state == upOpening {
			ch.log.Warn("MCP server process did not acknowledge subscriptions/listen; cancelling it")
			h.endLocked(ul, "asyncmcp: not acknowledged")
		}
	})
}

func (h *hub) endLocked(ul *upListen, reason string) {
	ul.state = upEnding
	ul.ch.cancel(ul.id, reason)
	if ul.timer != nil {
		ul.timer.Stop()
	}
	ul.timer = time.AfterFunc(listenEndGrace, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.byKey[listenKey{ul.ch, ul.id}] == ul {
			h.endedLocked(ul)
		}
	})
}

func (h *hub) retryLater(d time.Duration) {
	time.AfterFunc(d, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.reconcileLocked()
	})
}

// endedLocked records that an upstream listen is over.
func (h *hub) endedLocked(ul *upListen) {
	delete(h.byKey, listenKey{ul.ch, ul.id})
	if ul.timer != nil {
		ul.timer.Stop()
	}
	if h.live[ul.ch] != ul {
		h.reconcileLocked()
		return
	}
	if ul.state == upEnding {
		h.live[ul.ch] = nil
	} else {
		// The child ended it on its own: open it again, not at once if it
		// keeps ending young.
		if !ul.honored.empty() {
			ul.ch.log.Info("MCP server process ended the pool's subscriptions/listen; opening it again")
		}
		delay := time.Second
		if time.Since(ul.openedAt) > quickDeath {
			delay = 0
		}
		ul.state = upClosed
		ul.retryAt = time.Now().Add(delay)
		if delay > 0 && !ul.honored.empty() {
			h.retryLater(delay)
		}
	}
	h.reconcileLocked()
}

// ackLocked acknowledges each caller whose filter every live child's
// upstream listen covers, with what those children honored of it.
func (h *hub) ackLocked() {
	if len(h.live) == 0 {
		return
	}
	for cl := range h.clients {
		if cl.acked {
			continue
		}
		var honored subFilter
		ok, first := true, true
		if cl.filter.empty() {
			h.ackClientLocked(cl, subFilter{})
			continue
		}
		for _, ul := range h.live {
			if ul == nil || !ul.filter.covers(cl.filter) || !(ul.state == upOpen || (ul.state == upClosed && ul.honored.empty())) {
				ok = false
				break
			}
			if first {
				honored, first = ul.honored, false
			} else {
				honored = honored.intersect(ul.honored)
			}
		}
		if !ok {
			continue
		}
		h.ackClientLocked(cl, honored.intersect(cl.filter))
	}
}

// ackClientLocked sends a caller its acknowledgement. A listen honoring
// nothing then ends at once with its result, as the Go SDK server ends
// one: it would never carry anything.
func (h *hub) ackClientLocked(cl *clientListen, honored subFilter) {
	cl.acked = true
	cl.honored = honored
	nf, _ := json.Marshal(cl.honored)
	params, _ := json.Marshal(map[string]any{
		"notifications": json.RawMessage(nf),
		"_meta":         map[string]json.RawMessage{rpcmsg.MetaSubscriptionID: cl.idRaw},
	})
	cl.notes.push(&jsonrpc.Request{Method: "notifications/subscriptions/acknowledged", Params: params}, len(params))
	if honored.empty() {
		delete(h.clients, cl)
		cl.end <- rpcmsg.ListenComplete(cl.id)
	}
}

// response handles a child's answer to an upstream listen; false if upID is
// not one.
func (h *hub) response(ch *child, upID int64, resp *jsonrpc.Response) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	ul := h.byKey[listenKey{ch, upID}]
	if ul == nil {
		return false
	}
	if resp.Error != nil && ul.state == upOpening {
		h.refusedLocked(ul, resp)
		return true
	}
	h.endedLocked(ul)
	return true
}

// refusedLocked handles an error answer to an upstream listen: the callers
// not yet acknowledged get the error (they asked for what was refused); if
// all had been, all get it, so that a refusal cannot repeat for ever.
func (h *hub) refusedLocked(ul *upListen, resp *jsonrpc.Response) {
	delete(h.byKey, listenKey{ul.ch, ul.id})
	if ul.timer != nil {
		ul.timer.Stop()
	}
	if h.live[ul.ch] == ul {
		h.live[ul.ch] = nil
	}
	h.fails++
	ul.ch.log.Info("MCP server process refused subscriptions/listen", "err", resp.Error)
	var victims []*clientListen
	for cl := range h.clients {
		if !cl.acked {
			victims = append(victims, cl)
		}
	}
	if len(victims) == 0 || h.fails >= crashThreshold {
		victims = victims[:0]
		for cl := range h.clients {
			victims = append(victims, cl)
		}
		h.fails = 0
	}
	for _, cl := range victims {
		delete(h.clients, cl)
		cl.end <- &jsonrpc.Response{ID: cl.id, Error: resp.Error}
	}
	h.reconcileLocked()
}

// cancelled handles notifications/cancelled from a child; false if it does
// not name an upstream listen.
func (h *hub) cancelled(ch *child, upID int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	ul := h.byKey[listenKey{ch, upID}]
	if ul == nil {
		return false
	}
	h.endedLocked(ul)
	return true
}

// notification handles the other notifications from a child: the
// acknowledgement of an upstream listen, and the notifications of listen
// streams, fanned out to the callers who asked for them.
func (h *hub) notification(ch *child, m *jsonrpc.Request) {
	var p struct {
		Meta struct {
			SubID json.RawMessage `json:"io.modelcontextprotocol/subscriptionId"`
		} `json:"_meta"`
		Notifications json.RawMessage `json:"notifications"`
		URI           string          `json:"uri"`
		TaskID        string          `json:"taskId"`
	}
	if err := json.Unmarshal(m.Params, &p); err != nil || len(p.Meta.SubID) == 0 {
		ch.log.Debug("dropping a notification that names no request or subscription", "method", m.Method)
		return
	}
	var upID int64
	if json.Unmarshal(p.Meta.SubID, &upID) != nil {
		ch.log.Debug("dropping a notification for a subscription this pool did not open", "method", m.Method, "subscription", string(p.Meta.SubID))
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	ul := h.byKey[listenKey{ch, upID}]
	if ul == nil {
		ch.log.Debug("dropping a notification for a subscription no longer open", "method", m.Method)
		return
	}
	if m.Method == "notifications/subscriptions/acknowledged" {
		if ul.state != upOpening {
			return
		}
		honored, err := parseFilter(p.Notifications)
		if err != nil {
			ch.log.Warn("bad subscriptions/acknowledged from MCP server process", "err", err)
		}
		ul.honored = honored.intersect(ul.filter)
		ul.state = upOpen
		h.fails = 0
		if ul.timer != nil {
			ul.timer.Stop()
			ul.timer = nil
		}
		h.reconcileLocked()
		return
	}
	for cl := range h.clients {
		if !cl.acked || !cl.honored.wants(m.Method, p.URI, p.TaskID) {
			continue
		}
		params, err := setMeta(m.Params, rpcmsg.MetaSubscriptionID, cl.idRaw)
		if err != nil {
			ch.log.Warn("could not stamp a listen notification", "err", err)
			return
		}
		if !cl.notes.push(&jsonrpc.Request{Method: m.Method, Params: params}, len(params)+64) {
			ch.log.Warn("dropping a listen notification: the client is not taking them", "method", m.Method)
		}
	}
}

// A subFilter is a SubscriptionFilter: boolean members (toolsListChanged,
// promptsListChanged, resourcesListChanged, ...) and string-list members
// (resourceSubscriptions, taskIds, ...). Members of other types are ignored.
type subFilter struct {
	flags map[string]bool
	lists map[string][]string
}

func parseFilter(raw json.RawMessage) (subFilter, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return subFilter{}, fmt.Errorf("want an object: %w", err)
	}
	var f subFilter
	for k, v := range m {
		var b bool
		if json.Unmarshal(v, &b) == nil {
			if b {
				if f.flags == nil {
					f.flags = map[string]bool{}
				}
				f.flags[k] = true
			}
			continue
		}
		var l []string
		if json.Unmarshal(v, &l) == nil {
			if len(l) > 0 {
				if f.lists == nil {
					f.lists = map[string][]string{}
				}
				slices.Sort(l)
				f.lists[k] = slices.Compact(l)
			}
			continue
		}
	}
	return f, nil
}

func (f subFilter) empty() bool { return len(f.flags) == 0 && len(f.lists) == 0 }

func (f subFilter) union(g subFilter) subFilter {
	var u subFilter
	for _, s := range []subFilter{f, g} {
		for k := range s.flags {
			if u.flags == nil {
				u.flags = map[string]bool{}
			}
			u.flags[k] = true
		}
		for k, l := range s.lists {
			if u.lists == nil {
				u.lists = map[string][]string{}
			}
			merged := append(slices.Clone(u.lists[k]), l...)
			slices.Sort(merged)
			u.lists[k] = slices.Compact(merged)
		}
	}
	return u
}

// covers reports whether f asks for everything g asks for.
func (f subFilter) covers(g subFilter) bool {
	for k := range g.flags {
		if !f.flags[k] {
			return false
		}
	}
	for k, l := range g.lists {
		for _, s := range l {
			if !slices.Contains(f.lists[k], s) {
				return false
			}
		}
	}
	return true
}

func (f subFilter) intersect(g subFilter) subFilter {
	var r subFilter
	for k := range f.flags {
		if g.flags[k] {
			if r.flags == nil {
				r.flags = map[string]bool{}
			}
			r.flags[k] = true
		}
	}
	for k, l := range f.lists {
		var both []string
		for _, s := range l {
			if slices.Contains(g.lists[k], s) {
				both = append(both, s)
			}
		}
		if len(both) > 0 {
			if r.lists == nil {
				r.lists = map[string][]string{}
			}
			r.lists[k] = both
		}
	}
	return r
}

func (f subFilter) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	for k := range f.flags {
		m[k] = true
	}
	for k, l := range f.lists {
		m[k] = l
	}
	return json.Marshal(m)
}

// wants reports whether a listen notification is one the filter asks for.
func (f subFilter) wants(method, uri, taskID string) bool {
	switch method {
	case "notifications/tools/list_changed":
		return f.flags["toolsListChanged"]
	case "notifications/prompts/list_changed":
		return f.flags["promptsListChanged"]
	case "notifications/resources/list_changed":
		return f.flags["resourcesListChanged"]
	case "notifications/resources/updated":
		return slices.Contains(f.lists["resourceSubscriptions"], uri)
	case "notifications/tasks":
		return slices.Contains(f.lists["taskIds"], taskID)
	}
	return false
}
