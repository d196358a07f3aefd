// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/asyncmcp/asyncmcp-go/internal/testenv"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestPoolChildrenCounted: the children that a modern server's pool shares
// between callers count like session children: in asyncmcp_children_*,
// in /status (with their pid and memory under back.modern), and against
// --max-children, so that a session-based client is refused once the pool
// holds every slot.
func TestPoolChildrenCounted(t *testing.T) {
	base, p := launchProxy(t, nil, "proxy", "--port", "0", "--pool-size", "2", "--max-children", "2", "--metrics-path", "/metrics", "--", testenv.GoEverythingServer(t))
	c := mcp.NewClient(&mcp.Implementation{Name: "pool-count", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), childHangLimit)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: base + "/mcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if _, err := cs.ListTools(ctx, nil); err != nil {
		t.Fatalf("tools/list through the pool: %v", err)
	}
	def := map[string]string{"server": "default"}
	waitFor(t, "two pool children alive in the metrics", func() bool {
		return metricValue(scrape(t, base+"/metrics"), "asyncmcp_children_alive", def) == 2
	})
	if n := metricValue(scrape(t, base+"/metrics"), "asyncmcp_children_started_total", def); n < 3 {
		t.Errorf("asyncmcp_children_started_total = %v; want the probe and two pool children", n)
	}
	var modern map[string]any
	waitFor(t, "/status to list the two pool children", func() bool {
		_, st := getStatus(t, base+"/status")
		back, _ := st["servers"].(map[string]any)["default"].(map[string]any)["back"].(map[string]any)
		modern, _ = back["modern"].(map[string]any)
		kids, _ := modern["children"].([]any)
		alive, _ := back["children_alive"].(float64)
		listed, _ := back["children"].([]any)
		return len(kids) == 2 && alive == 2 && len(listed) == 2
	})
	if modern["era"] != "modern" {
		t.Errorf("era %v", modern["era"])
	}
	for _, k := range modern["children"].([]any) {
		kid := k.(map[string]any)
		if pid, _ := kid["pid"].(float64); pid <= 0 {
			t.Errorf("pool child without a pid: %v", kid)
		}
		if rss, _ := kid["rss_bytes"].(float64); rss <= 0 {
			t.Errorf("pool child without resident memory: %v", kid)
		}
	}
	if n := len(childPids(p.Cmd.Process.Pid)); n != 2 {
		t.Errorf("%d child processes; want the two of the pool", n)
	}
	// The pool holds both slots of --max-children 2: a session is refused.
	code, _, body := rawInitialize(t, base+"/mcp")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "--max-children") {
		t.Fatalf("session-based initialize with the pool at the cap: %d %s; want 503 naming --max-children", code, body)
	}
}
