// SPDX-License-Identifier: Apache-2.0

package stdio

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Over HTTP, a tools/call of the stateless revision carries Mcp-Param-NAME
// headers for the arguments that the tool's inputSchema marks with
// "x-mcp-header": NAME, and whoever reads the body must check them against
// it (-32020 on a mismatch). A stdio child never sees the headers, so the
// pool checks them, with the schemas of the child's tools/list.

const (
	maxParamTools = 10000 // tools whose bindings are kept
	maxToolsPages = 20    // pages of tools/list fetched on a miss
)

// toolParams caches the x-mcp-header bindings of the child's tools.
type toolParams struct {
	mu        sync.Mutex
	tools     map[string][]rpcmsg.ParamBinding
	fetching  chan struct{} // closed when the fetch under way ends
	fetchedAt time.Time     // of the last fetch, which misses wait out
}

// refetchAfter spaces out the tools/list fetches that calls of unknown
// tools cause.
const refetchAfter = 10 * time.Second

// learn records the bindings of the tools in a tools/list result.
func (tp *toolParams) learn(result json.RawMessage) {
	tools, ok := rpcmsg.ToolsParamBindings(result)
	if !ok {
		return
	}
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if tp.tools == nil {
		tp.tools = map[string][]rpcmsg.ParamBinding{}
	}
	for _, t := range tools {
		if _, known := tp.tools[t.Name]; !known && len(tp.tools) >= maxParamTools {
			continue
		}
		tp.tools[t.Name] = t.Bindings
	}
}

// bindings returns a tool's bindings, fetching tools/list through the pool
// when the tool is not known yet.
func (p *pool) bindings(ctx context.Context, tool string) ([]rpcmsg.ParamBinding, bool) {
	tp := &p.params
	for attempt := 0; ; attempt++ {
		tp.mu.Lock()
		b, ok := tp.tools[tool]
		wait := tp.fetching
		if ok || attempt > 0 || (wait == nil && time.Since(tp.fetchedAt) < refetchAfter) {
			tp.mu.Unlock()
			return b, ok
		}
		if wait == nil {
			wait = make(chan struct{})
			tp.fetchedAt = time.Now()
			tp.fetching = wait
			tp.mu.Unlock()
			p.fetchTools(ctx)
			tp.mu.Lock()
			tp.fetching = nil
			close(wait)
			tp.mu.Unlock()
			continue
		}
		tp.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, false
		}
	}
}

// fetchTools reads every page of tools/list from a child.
func (p *pool) fetchTools(ctx context.Context) {
	var cursor string
	for page := 0; page < maxToolsPages; page++ {
		params := map[string]any{"_meta": modernMeta}
		if cursor != "" {
			params["cursor"] = cursor
		}
		raw, _ := json.Marshal(params)
		id, _ := jsonrpc.MakeID(fmt.Sprintf("asyncmcp-tools-%d", page))
		resp, err := p.roundTrip(ctx, &jsonrpc.Request{ID: id, Method: "tools/list", Params: raw}, func(*jsonrpc.Request) {})
		if err != nil || resp == nil || resp.Error != nil {
			p.log.Warn("could not read tools/list to check Mcp-Param headers", "err", err)
			return
		}
		var r struct {
			NextCursor string `json:"nextCursor"`
		}
		json.Unmarshal(resp.Result, &r)
		if r.NextCursor == "" {
			return
		}
		cursor = r.NextCursor
	}
}

// checkParamHeaders compares the Mcp-Param-* headers an HTTP client sent
// with a tools/call against its arguments; nil when they agree.
func (p *pool) checkParamHeaders(ctx context.Context, req *jsonrpc.Request, h http.Header) *jsonrpc.Response {
	var call struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(req.Params, &call) != nil || call.Name == "" {
		return nil // the child answers a malformed call
	}
	bindings, ok := p.bindings(ctx, call.Name)
	if !ok || len(bindings) == 0 {
		return nil // an unknown tool (the child answers), or one without x-mcp-header
	}
	// Only now decode the arguments: most tools bind no header.
	var params struct {
		Arguments map[string]json.RawMessage `json:"arguments"`
	}
	if json.Unmarshal(req.Params, &params) != nil {
		return nil // the child answers a malformed call
	}
	for _, b := range bindings {
		if msg := checkParam(h, b, params.Arguments); msg != "" {
			return &jsonrpc.Response{ID: req.ID, Error: &jsonrpc.Error{Code: rpcmsg.CodeHeaderMismatch, Message: "header mismatch: " + msg}}
		}
	}
	return nil
}

func checkParam(h http.Header, b rpcmsg.ParamBinding, args map[string]json.RawMessage) string {
	name := rpcmsg.ParamHeaderPrefix + b.Header
	hv := strings.TrimSpace(h.Get(name))
	raw, found := rpcmsg.ArgumentAt(args, b.Path)
	if !found || string(raw) == "null" {
		if hv != "" {
			return fmt.Sprintf("%s is set but argument %q is absent", name, strings.Join(b.Path, "."))
		}
		return ""
	}
	if hv == "" {
		return fmt.Sprintf("missing %s header for argument %q", name, strings.Join(b.Path, "."))
	}
	decoded, ok := rpcmsg.DecodeHeaderValue(hv)
	if !ok {
		return fmt.Sprintf("%s: bad Base64 or control characters", name)
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return fmt.Sprintf("argument %q is not valid JSON", strings.Join(b.Path, "."))
	}
	switch v := v.(type) {
	case string:
		if decoded == v {
			return ""
		}
	case bool:
		if decoded == strconv.FormatBool(v) {
			return ""
		}
	case float64:
		if f, err := strconv.ParseFloat(decoded, 64); err == nil && f == v {
			return ""
		}
	default:
		return fmt.Sprintf("%s is set but argument %q is not a string, number or boolean", name, strings.Join(b.Path, "."))
	}
	return fmt.Sprintf("%s does not match argument %q", name, strings.Join(b.Path, "."))
}
