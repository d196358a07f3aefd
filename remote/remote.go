// SPDX-License-Identifier: Apache-2.0

// Package remote dials MCP servers over HTTP: [Streamable] speaks Streamable
// HTTP and [SSE] the legacy HTTP+SSE transport. Both are [bridge.Dialer]s
// that forward raw JSON-RPC.
package remote

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// HTTPClient returns an http.Client that adds headers to every request and
// verifies TLS with the system roots, the PEM bundle at caFile (if not
// empty), or not at all (insecure).
func HTTPClient(headers http.Header, caFile string, insecure bool) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	if insecure || caFile != "" {
		cfg := &tls.Config{InsecureSkipVerify: insecure}
		if caFile != "" {
			pem, err := os.ReadFile(caFile)
			if err != nil {
				return nil, fmt.Errorf("reading CA bundle: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("reading CA bundle %s: no PEM certificates found", caFile)
			}
			cfg.RootCAs = pool
		}
		tr.TLSClientConfig = cfg
	}
	var rt http.RoundTripper = tr
	if len(headers) > 0 {
		rt = headerTransport{headers, tr}
	}
	return &http.Client{Transport: rt}, nil
}

type headerTransport struct {
	h    http.Header
	next http.RoundTripper
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !sameOriginAsFirst(r) {
		// A redirect to another host (or from https to http): the
		// credentials and headers given for the server are not for it.
		return t.next.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	for k, vs := range t.h {
		r.Header.Del(k)
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	return t.next.RoundTrip(r)
}

// sameOriginAsFirst reports whether r, if it follows a redirect, goes to
// the scheme and host of the request that started the chain.
func sameOriginAsFirst(r *http.Request) bool {
	first := r
	for first.Response != nil && first.Response.Request != nil {
		first = first.Response.Request
	}
	return first == r || (strings.EqualFold(first.URL.Scheme, r.URL.Scheme) && strings.EqualFold(first.URL.Host, r.URL.Host))
}

// SSE dials a server over the legacy HTTP+SSE transport.
type SSE struct {
	URL        string
	HTTPClient *http.Client
}

// Dial connects to the SSE endpoint.
func (s *SSE) Dial(ctx context.Context) (mcp.Connection, error) {
	conn, err := (&mcp.SSEClientTransport{Endpoint: s.URL, HTTPClient: s.HTTPClient}).Connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting to SSE server %s: %w", s.URL, err)
	}
	return conn, nil
}

// Streamable dials a server over Streamable HTTP. Each Dial is one MCP
// session. The connection opens the standalone GET stream after
// initialization, resumes a broken response stream with Last-Event-ID, and
// when the server answers 404 for an expired session it initializes a new
// session with the client's original initialize request and resends the
// message, so the client never notices.
//
// A request answered 202 Accepted gets no answer through this connection's
// POST: its response is expected on the standalone stream or out of band
// (the StreamableHTTP+webhook transport delivers it by webhook).
type Streamable struct {
	URL        string
	HTTPClient *http.Client
	Logger     *slog.Logger
	// OnResponse, if set, is called with each HTTP response to a POST,
	// before its body is read, and with the message that was posted (for a
	// re-initialization after 404, the replayed initialize request). It
	// lets a transport built on Streamable read headers of its own, such
	// as a signing secret or a note that the answer comes by another route.
	// It must not read or close resp.Body.
	OnResponse func(msg jsonrpc.Message, resp *http.Response)
	// MaxMessageBytes bounds one message read from the server (a JSON
	// body or one SSE event); zero means DefaultMaxMessageBytes. A larger
	// message ends its response stream.
	MaxMessageBytes int

	params paramCache // x-mcp-header bindings of the tools seen by RoundTrip
}

// Dial returns a connection; nothing is sent until the first Write.
func (s *Streamable) Dial(ctx context.Context) (mcp.Connection, error) {
	hc := s.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	cctx, cancel := context.WithCancel(context.Background())
	return &streamConn{
		url:      s.URL,
		hc:       hc,
		log:      log,
		onResp:   s.OnResponse,
		maxMsg:   s.maxMessage(),
		ctx:      cctx,
		cancel:   cancel,
		incoming: make(chan jsonrpc.Message, 64),
	}, nil
}

type streamConn struct {
	url    string
	hc     *http.Client
	log    *slog.Logger
	onResp func(jsonrpc.Message, *http.Response)
	maxMsg int
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	incoming chan jsonrpc.Message

	mu          sync.Mutex
	sessionID   string
	version     string
	initReq     *jsonrpc.Request
	initialized *jsonrpc.Request // the client's notifications/initialized
	getOpen     bool
	reinitN     int
	closeOnce   sync.Once
}

func (c *streamConn) SessionID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessionID
}

func (c *streamConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case m := <-c.incoming:
		return m, nil
	case <-c.ctx.Done():
		return nil, mcp.ErrConnectionClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *streamConn) push(m jsonrpc.Message) {
	select {
	case c.incoming <- m:
	case <-c.ctx.Done():
	}
}

// Write POSTs one message. A request's answer arrives through Read.
func (c *streamConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	if c.ctx.Err() != nil {
		return mcp.ErrConnectionClosed
	}
	req, _ := msg.(*jsonrpc.Request)
	if req != nil {
		c.mu.Lock()
		switch req.Method {
		case "initialize":
			c.initReq = req
		case "notifications/initialized":
			c.initialized = req
		}
		c.mu.Unlock()
	}
	err := c.post(msg, true)
	if err != nil && req != nil && req.IsCall() {
		// The caller must not wait for an answer that will never come.
		c.log.Warn("request to remote server failed", "method", req.Method, "err", err)
		c.push(&jsonrpc.Response{ID: req.ID, Error: &jsonrpc.Error{Code: -32000, Message: err.Error()}})
		return nil
	}
	if err != nil {
		c.log.Warn("message to remote server failed", "err", err)
	}
	if req != nil && req.Method == "notifications/initialized" {
		c.openGet()
	}
	return nil
}

func (c *streamConn) newRequest(method string, body []byte) (*http.Request, error) {
	r, err := http.NewRequestWithContext(c.ctx, method, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	sid, version := c.sessionID, c.version
	c.mu.Unlock()
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("Accept", "application/json, text/event-stream")
	if sid != "" {
		r.Header.Set("Mcp-Session-Id", sid)
	}
	if version != "" {
		r.Header.Set("Mcp-Protocol-Version", version)
	}
	return r, nil
}

// post sends msg and starts consuming the answer. With retry404, an expired
// session is re-initialized and msg sent once more.
func (c *streamConn) post(msg jsonrpc.Message, retry404 bool) error {
	body, err := jsonrpc.EncodeMessage(msg)
	if err != nil {
		return fmt.Errorf("encoding message: %w", err)
	}
	r, err := c.newRequest(http.MethodPost, body)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(r)
	if err != nil {
		return fmt.Errorf("POST %s: %w", c.url, err)
	}
	req, _ := msg.(*jsonrpc.Request)
	isInit := req != nil && req.Method == "initialize"
	if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" && isInit {
		c.mu.Lock()
		c.sessionID = sid
		c.mu.Unlock()
	}
	if c.onResp != nil {
		c.onResp(msg, resp)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound && retry404 && !isInit && c.SessionID() != "":
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		c.log.Info("remote server forgot the session (404); starting a new one", "session", c.SessionID())
		if err := c.reinitialize(); err != nil {
			return fmt.Errorf("re-initializing after the server dropped the session: %w", err)
		}
		return c.post(msg, false)
	case resp.StatusCode == http.StatusAccepted:
		resp.Body.Close()
		return nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		if m, derr := rpcmsg.Decode(b); derr == nil {
			if er, ok := m.(*jsonrpc.Response); ok && er.Error != nil && req != nil && er.ID == req.ID {
				c.push(er)
				return nil
			}
		}
		return fmt.Errorf("POST %s: %s: %s", c.url, resp.Status, strings.TrimSpace(string(b)))
	}
	var want jsonrpc.ID
	if req != nil && req.IsCall() {
		want = req.ID
	}
	ct := resp.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "text/event-stream") {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.readStream(resp, want, isInit)
		}()
		return nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(c.maxMsg)+1))
	if err != nil {
		return fmt.Errorf("reading response: %w", err)
	}
	if len(b) > c.maxMsg {
		return fmt.Errorf("reading response: larger than %d bytes", c.maxMsg)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	c.handleData(b, isInit)
	return nil
}

// reinitialize starts a new session with the stored initialize request.
func (c *streamConn) reinitialize() error {
	c.mu.Lock()
	init, initialized := c.initReq, c.initialized
	c.sessionID = ""
	c.reinitN++
	n := c.reinitN
	c.mu.Unlock()
	if init == nil {
		return errors.New("no initialize request to replay")
	}
	id, _ := jsonrpc.MakeID(fmt.Sprintf("asyncmcp-reinit-%d", n))
	replay := &jsonrpc.Request{ID: id, Method: "initialize", Params: init.Params}
	body, _ := jsonrpc.EncodeMessage(replay)
	r, err := c.newRequest(http.MethodPost, body)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("initialize answered %s", resp.Status)
	}
	c.mu.Lock()
	c.sessionID = resp.Header.Get("Mcp-Session-Id")
	c.getOpen = false
	c.mu.Unlock()
	if c.onResp != nil {
		c.onResp(replay, resp)
	}
	// Drain the answer: its content was already given to the client once.
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		sr := newSSEReader(resp.Body, c.maxMsg)
		for {
			ev, err := sr.next()
			if err != nil {
				return fmt.Errorf("reading initialize answer: %w", err)
			}
			if m, err := rpcmsg.Decode(ev.data); err == nil {
				if r, ok := m.(*jsonrpc.Response); ok && r.ID == id {
					break
				}
			}
		}
	} else {
		io.Copy(io.Discard, io.LimitReader(resp.Body, int64(c.maxMsg)))
	}
	if initialized != nil {
		if err := c.post(initialized, false); err != nil {
			return err
		}
	}
	c.openGet()
	return nil
}

func (c *streamConn) handleData(b []byte, isInit bool) {
	m, err := rpcmsg.Decode(b)
	if err != nil {
		c.log.Warn("ignoring undecodable message from remote server", "err", err, "data", string(b[:min(len(b), 200)]))
		return
	}
	if r, ok := m.(*jsonrpc.Response); ok && isInit && r.Error == nil {
		var res struct {
			ProtocolVersion string `json:"protocolVersion"`
		}
		if json.Unmarshal(r.Result, &res) == nil && res.ProtocolVersion != "" {
			c.mu.Lock()
			c.version = res.ProtocolVersion
			c.mu.Unlock()
		}
	}
	c.push(m)
}

// readStream consumes an SSE response. If it breaks before the answer to
// want arrived, it resumes with Last-Event-ID (when the server gave ids).
func (c *streamConn) readStream(resp *http.Response, want jsonrpc.ID, isInit bool) {
	lastID := ""
	got := !want.IsValid()
	for attempt := 0; ; attempt++ {
		sr := newSSEReader(resp.Body, c.maxMsg)
		for {
			ev, err := sr.next()
			if errors.Is(err, errEventTooLarge) {
				// Resuming would read the same event again.
				resp.Body.Close()
				c.log.Warn("remote server sent an event over the size limit", "limit", c.maxMsg)
				if want.IsValid() && !got {
					c.push(&jsonrpc.Response{ID: want, Error: &jsonrpc.Error{Code: -32000,
						Message: fmt.Sprintf("message from remote server exceeds %d bytes", c.maxMsg)}})
				}
				return
			}
			if err != nil {
				break
			}
			if ev.id != "" {
				lastID = ev.id
			}
			if len(bytes.TrimSpace(ev.data)) == 0 || (ev.event != "" && ev.event != "message") {
				continue
			}
			if want.IsValid() {
				if m, err := rpcmsg.Decode(ev.data); err == nil {
					if r, ok := m.(*jsonrpc.Response); ok && r.ID == want {
						got = true
					}
				}
			}
			c.handleData(ev.data, isInit)
		}
		resp.Body.Close()
		if got || c.ctx.Err() != nil {
			return
		}
		if lastID == "" || attempt >= 5 {
			if want.IsValid() {
				c.push(&jsonrpc.Response{ID: want, Error: &jsonrpc.Error{Code: -32000, Message: "response stream from remote server ended before the answer arrived"}})
			}
			return
		}
		select {
		case <-time.After(time.Duration(attempt+1) * 250 * time.Millisecond):
		case <-c.ctx.Done():
			return
		}
		r, err := c.newRequest(http.MethodGet, nil)
		if err != nil {
			return
		}
		r.Header.Set("Last-Event-ID", lastID)
		resp, err = c.hc.Do(r)
		if err != nil || resp.StatusCode != http.StatusOK {
			if resp != nil {
				resp.Body.Close()
			}
			resp = &http.Response{Body: io.NopCloser(strings.NewReader(""))}
		}
	}
}

// openGet opens the standalone stream for server-initiated messages, once.
func (c *streamConn) openGet() {
	c.mu.Lock()
	if c.getOpen || c.sessionID == "" {
		c.mu.Unlock()
		return
	}
	c.getOpen = true
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		lastID := ""
		for attempt := 0; c.ctx.Err() == nil; attempt++ {
			r, err := c.newRequest(http.MethodGet, nil)
			if err != nil {
				return
			}
			r.Header.Set("Accept", "text/event-stream")
			if lastID != "" {
				r.Header.Set("Last-Event-ID", lastID)
			}
			resp, err := c.hc.Do(r)
			if err == nil && resp.StatusCode == http.StatusOK {
				attempt = 0
				sr := newSSEReader(resp.Body, c.maxMsg)
				for {
					ev, err := sr.next()
					if err != nil {
						break
					}
					if ev.id != "" {
						lastID = ev.id
					}
					if len(bytes.TrimSpace(ev.data)) > 0 && (ev.event == "" || ev.event == "message") {
						c.handleData(ev.data, false)
					}
				}
				resp.Body.Close()
			} else if resp != nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusNotFound {
					// The server offers no standalone stream (or the session is
					// gone, which the next POST will notice).
					c.mu.Lock()
					c.getOpen = false
					c.mu.Unlock()
					return
				}
			}
			if attempt >= 10 {
				return
			}
			select {
			case <-time.After(time.Duration(attempt+1) * 500 * time.Millisecond):
			case <-c.ctx.Done():
				return
			}
		}
	}()
}

// Close ends the session with DELETE (bounded to 2s) and stops all streams.
func (c *streamConn) Close() error {
	c.closeOnce.Do(func() {
		sid := c.SessionID()
		if sid != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			r, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.url, nil)
			if err == nil {
				r.Header.Set("Mcp-Session-Id", sid)
				if resp, err := c.hc.Do(r); err == nil {
					resp.Body.Close()
				}
			}
			cancel()
		}
		c.cancel()
		c.wg.Wait()
	})
	return nil
}

type sseEvent struct {
	id, event string
	data      []byte
}

// sseReader reads SSE events, none larger than max bytes.
type sseReader struct {
	br  *bufio.Reader
	max int
}

func newSSEReader(r io.Reader, max int) *sseReader {
	return &sseReader{bufio.NewReaderSize(r, 64<<10), max}
}

// errEventTooLarge ends a stream whose event exceeds the reader's bound.
var errEventTooLarge = errors.New("SSE event too large")

// readLine reads one line of at most s.max bytes.
func (s *sseReader) readLine() ([]byte, error) {
	var line []byte
	for {
		frag, err := s.br.ReadSlice('\n')
		if len(line)+len(frag) > s.max {
			return nil, errEventTooLarge
		}
		line = append(line, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		return line, err
	}
}

// next returns the next event, per the SSE format (comments skipped, data
// lines joined with newlines).
func (s *sseReader) next() (sseEvent, error) {
	var ev sseEvent
	var data [][]byte
	size := 0
	seen := false
	for {
		line, err := s.readLine()
		if err != nil {
			return ev, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if seen {
				ev.data = bytes.Join(data, []byte("\n"))
				return ev, nil
			}
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		seen = true
		switch string(field) {
		case "id":
			ev.id = string(value)
		case "event":
			ev.event = string(value)
		case "data":
			size += len(value) + 1
			if size > s.max {
				return ev, errEventTooLarge
			}
			data = append(data, bytes.Clone(value))
		}
	}
}
