// SPDX-License-Identifier: Apache-2.0

package httpfront_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/httpfront"
	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/asyncmcp/asyncmcp-go/stdio"
)

// TestOneClientsCrashesDoNotLockOthersOut: a client whose initialize
// crashes the server (badserver crash-at-init) is refused for a while once
// its children keep dying, and meanwhile another client (another bearer
// token) still starts sessions (issue 9: input from one client must never
// lock out the others).
func TestOneClientsCrashesDoNotLockOthersOut(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	front := httpfront.New(srv.Listener.Addr().String(), httpfront.Options{})
	cmd := &stdio.Command{Path: testenv.BuildPackage(t, "./internal/testenv/badserver"), Args: []string{"crash-at-init"}}
	front.Handle("", cmd, func() (bool, any) { st := cmd.Status(); return !st.Crashing, st })
	srv.Config.Handler = front
	srv.Start()
	t.Cleanup(func() { front.Close(); srv.Close() })
	url := srv.URL + "/mcp"
	const crashInit = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"crash","version":"1"}}}`
	attacker := []string{"Authorization", "Bearer attacker"}
	victim := []string{"Authorization", "Bearer victim"}

	// refused reports whether the attacker is in back-off: its initialize
	// gets 503 naming its own sessions, without a child being started.
	refused := func() bool {
		resp := post(t, url, crashInit, attacker...)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), "for this client's sessions")
	}
	deadline := time.Now().Add(60 * time.Second) // a deadlock guard
	for !refused() {
		if time.Now().After(deadline) {
			t.Fatalf("the crashing client was never refused; status %+v", cmd.Status())
		}
	}
	// Between two refusals of the attacker (one back-off period: no child
	// of its can end it), the victim's initialize must succeed.
	for {
		resp := post(t, url, initBody, victim...)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"serverInfo"`) {
			t.Fatalf("another client's initialize while the crashing one is refused: %s %s", resp.Status, body)
		}
		if refused() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("could not observe the back-off around the other client's initialize")
		}
		for !refused() { // the back-off ended meanwhile (slow machine): trip it again
			if time.Now().After(deadline) {
				t.Fatalf("the crashing client was never refused again; status %+v", cmd.Status())
			}
		}
	}
	if st := cmd.Status(); st.ClientsInBackoff != 1 || !st.RetryAfter.IsZero() {
		t.Errorf("status: %+v; want one client in back-off and no global back-off", st)
	}
}
