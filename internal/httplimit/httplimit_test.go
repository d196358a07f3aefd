// SPDX-License-Identifier: Apache-2.0

package httplimit

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestIdleConnectionClosed: a keep-alive connection that sends nothing
// after its request is closed by the server (IdleTimeout), and one that
// never finishes its headers is too (ReadHeaderTimeout).
func TestIdleConnectionClosed(t *testing.T) {
	srv := Server(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), nil)
	if srv.IdleTimeout != IdleTimeout || srv.ReadHeaderTimeout != ReadHeaderTimeout || srv.MaxHeaderBytes != MaxHeaderBytes {
		t.Fatalf("limits not set: %+v", srv)
	}
	srv.IdleTimeout, srv.ReadHeaderTimeout = 100*time.Millisecond, 100*time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	for _, first := range []string{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\n"} {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(conn, first)
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(conn)
		if strings.HasSuffix(first, "\r\n\r\n") { // a whole request: its answer comes first
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		rest, err := io.ReadAll(br)
		if err != nil {
			t.Errorf("after %q and silence: %v, want the server to close", first, err)
		}
		if len(rest) > 0 {
			t.Errorf("after %q the server sent %q", first, rest)
		}
		conn.Close()
	}
}
