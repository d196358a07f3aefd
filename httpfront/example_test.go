// SPDX-License-Identifier: Apache-2.0

package httpfront_test

import (
	"log"
	"net/http"

	"github.com/asyncmcp/asyncmcp-go/httpfront"
	"github.com/asyncmcp/asyncmcp-go/stdio"
)

// Serve a stdio MCP server over Streamable HTTP and SSE, one child process
// per client session, with a bearer token: what `asyncmcp proxy -- CMD`
// does.
func ExampleServer() {
	addr := "127.0.0.1:8080"
	front := httpfront.New(addr, httpfront.Options{AuthToken: "s3cret"})
	defer front.Close()
	cmd := &stdio.Command{Path: "uvx", Args: []string{"mcp-server-fetch"}}
	front.Handle("", cmd, func() (bool, any) {
		st := cmd.Status()
		return !st.Crashing, st
	})
	front.Handle("time", &stdio.Command{Path: "uvx", Args: []string{"mcp-server-time"}}, nil) // at /servers/time/mcp
	log.Fatal(http.ListenAndServe(addr, front))
}
