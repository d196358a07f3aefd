// SPDX-License-Identifier: Apache-2.0

package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// TestRedirectDropsCredentials: headers given for the server (-H, and the
// Authorization from API_ACCESS_TOKEN) are not sent to another host a
// redirect leads to, nor after a downgrade; a redirect on the same host
// keeps them.
func TestRedirectDropsCredentials(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]http.Header{}
	record := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen[name] = r.Header.Clone()
			mu.Unlock()
		}
	}
	other := httptest.NewServer(record("other"))
	t.Cleanup(other.Close)
	mux := http.NewServeMux()
	mux.Handle("/away", http.RedirectHandler(other.URL+"/steal", http.StatusTemporaryRedirect))
	mux.Handle("/here", http.RedirectHandler("/same", http.StatusTemporaryRedirect))
	mux.Handle("/same", record("same"))
	origin := httptest.NewServer(mux)
	t.Cleanup(origin.Close)

	hc, err := HTTPClient(http.Header{"Authorization": {"Bearer secret"}, "X-Team": {"blue"}}, "", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/away", "/here"} {
		resp, err := hc.Get(origin.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	if h := seen["other"]; h == nil || h.Get("Authorization") != "" || h.Get("X-Team") != "" {
		t.Errorf("the other host got Authorization %q and X-Team %q (or was not reached: %v)", h.Get("Authorization"), h.Get("X-Team"), h == nil)
	}
	if h := seen["same"]; h == nil || h.Get("Authorization") != "Bearer secret" || h.Get("X-Team") != "blue" {
		t.Errorf("a same-host redirect lost the headers: %v", h)
	}
}

// TestSSELineCap: an event larger than the reader's limit fails with
// errEventTooLarge instead of growing a buffer without end; events within it,
// and any number of keep-alive comments, are read.
func TestSSELineCap(t *testing.T) {
	in := ": keep-alive\n\n" + strings.Repeat(": ping\n", 1000) + "id: 1\ndata: " + strings.Repeat("a", 900) + "\n\n" +
		"data: " + strings.Repeat("b", 2000) + "\n\n"
	sr := newSSEReader(strings.NewReader(in), 1024)
	ev, err := sr.next()
	if err != nil || ev.id != "1" || len(ev.data) != 900 {
		t.Fatalf("first event: %q %d bytes, %v", ev.id, len(ev.data), err)
	}
	if _, err := sr.next(); !errors.Is(err, errEventTooLarge) {
		t.Fatalf("oversized event: %v, want errEventTooLarge", err)
	}
	// Several lines that each fit but together do not.
	sr = newSSEReader(strings.NewReader(strings.Repeat("data: "+strings.Repeat("c", 300)+"\n", 5)+"\n"), 1024)
	if _, err := sr.next(); !errors.Is(err, errEventTooLarge) {
		t.Fatalf("event of many lines over the limit: %v, want errEventTooLarge", err)
	}
}

// TestOversizedJSONBody: a JSON answer larger than the limit ends the
// call with a JSON-RPC error rather than being read whole.
func TestOversizedJSONBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.Copy(w, io.LimitReader(zeros{}, DefaultMaxMessageBytes+10))
	}))
	t.Cleanup(srv.Close)
	conn, err := (&Streamable{URL: srv.URL}).Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	id, _ := jsonrpc.MakeID(float64(1))
	if err := conn.Write(context.Background(), &jsonrpc.Request{ID: id, Method: "tools/list"}); err != nil {
		t.Fatal(err)
	}
	m, err := conn.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r, ok := m.(*jsonrpc.Response)
	if !ok || r.Error == nil || !strings.Contains(r.Error.Error(), fmt.Sprint(DefaultMaxMessageBytes)) {
		t.Errorf("answer to an oversized body: %+v", m)
	}
}

// TestOversizedSSEEvent: an SSE event over the limit ends the call with a
// JSON-RPC error that says so, without trying to resume the same event.
func TestOversizedSSEEvent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "id: s_1\ndata: "+strings.Repeat("x", 4096)+"\n\n")
	}))
	t.Cleanup(srv.Close)
	conn, err := (&Streamable{URL: srv.URL, MaxMessageBytes: 1024}).Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	id, _ := jsonrpc.MakeID("big")
	if err := conn.Write(context.Background(), &jsonrpc.Request{ID: id, Method: "tools/list"}); err != nil {
		t.Fatal(err)
	}
	m, err := conn.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := m.(*jsonrpc.Response); !ok || r.Error == nil || !strings.Contains(r.Error.Error(), "exceeds 1024 bytes") {
		t.Errorf("answer to an oversized event: %+v", m)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// FuzzSSEReader: on any input the reader ends, and no event it returns is
// larger than its limit or than the input.
func FuzzSSEReader(f *testing.F) {
	f.Add([]byte("id: 1\nevent: message\ndata: {\"a\":1}\n\n"))
	f.Add([]byte(": comment\r\n\r\ndata: x\r\ndata: y\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		sr := newSSEReader(bytes.NewReader(in), 256)
		for range len(in) + 1 {
			ev, err := sr.next()
			if err != nil {
				return
			}
			if len(ev.data) > 256 || len(ev.data) > len(in) || len(ev.id) > len(in) {
				t.Fatalf("event of %d bytes (id %d) from %d bytes of input, limit 256", len(ev.data), len(ev.id), len(in))
			}
		}
		t.Fatalf("more events than input bytes")
	})
}
