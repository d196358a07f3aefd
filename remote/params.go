// SPDX-License-Identifier: Apache-2.0

package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"sync"

	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Mcp-Param-* headers for clients that cannot send them (stdio clients,
// queue clients): the HTTP binding wants a tool argument whose input schema
// property carries "x-mcp-header": NAME mirrored into the header
// Mcp-Param-NAME, and a server that knows the schema rejects a tools/call
// without it (-32020). RoundTrip learns the annotations from the tools/list
// results that pass through it, and when a tools/call is rejected with
// -32020 before the tool was seen, it fetches tools/list once and retries.

// maxCachedTools bounds the tools whose header annotations are remembered.
const maxCachedTools = 4096

// paramCache holds the x-mcp-header bindings of each tool seen.
type paramCache struct {
	mu    sync.Mutex
	tools map[string][]rpcmsg.ParamBinding
}

func (c *paramCache) lookup(tool string) ([]rpcmsg.ParamBinding, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.tools[tool]
	return b, ok
}

// learn records the tools of a tools/list result, keeping the bindings of
// primitive (string, integer, boolean) properties.
func (c *paramCache) learn(result json.RawMessage) {
	tools, ok := rpcmsg.ToolsParamBindings(result)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tools == nil || len(c.tools)+len(tools) > maxCachedTools {
		c.tools = map[string][]rpcmsg.ParamBinding{}
	}
	for _, t := range tools {
		var keep []rpcmsg.ParamBinding
		for _, b := range t.Bindings {
			if b.Type == "string" || b.Type == "integer" || b.Type == "boolean" {
				keep = append(keep, b)
			}
		}
		c.tools[t.Name] = keep
	}
}

// setParamHeaders sets the Mcp-Param-* headers of a tools/call request from
// its arguments: a binding whose value is absent or null gets no header.
func setParamHeaders(h http.Header, bindings []rpcmsg.ParamBinding, params json.RawMessage) {
	if len(bindings) == 0 {
		return
	}
	var p struct {
		Arguments map[string]json.RawMessage `json:"arguments"`
	}
	if json.Unmarshal(params, &p) != nil {
		return
	}
	for _, b := range bindings {
		raw, ok := rpcmsg.ArgumentAt(p.Arguments, b.Path)
		if !ok {
			continue
		}
		if v, ok := headerValue(raw); ok {
			h.Set(rpcmsg.ParamHeaderPrefix+b.Header, v)
		}
	}
}

// headerValue renders a primitive JSON value as a header value: strings
// encoded as the binding requires, booleans as true/false, integers within
// the safe range in decimal. Null and anything else give no header.
func headerValue(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	var v any
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return "", false
	}
	switch v := v.(type) {
	case string:
		return rpcmsg.EncodeHeaderValue(v), true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		if v != math.Trunc(v) || math.Abs(v) > 1<<53-1 {
			return "", false
		}
		return strconv.FormatInt(int64(v), 10), true
	}
	return "", false
}

// toolName returns params.name of a tools/call.
func toolName(params json.RawMessage) string {
	name, _ := rpcmsg.ModernName("tools/call", params)
	return name
}

// refreshTools fetches tools/list pages (at most 10) with the envelope of
// req until the tool named is found, teaching the cache. It reports whether
// the tool was found.
func (s *Streamable) refreshTools(ctx context.Context, req *jsonrpc.Request, tool string) bool {
	var p struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	if json.Unmarshal(req.Params, &p) != nil {
		return false
	}
	meta := map[string]json.RawMessage{}
	for _, k := range []string{rpcmsg.MetaProtocolVersion, rpcmsg.MetaClientCapabilities, rpcmsg.MetaClientInfo} {
		if v, ok := p.Meta[k]; ok {
			meta[k] = v
		}
	}
	cursor := ""
	for page := 0; page < 10; page++ {
		params := map[string]any{"_meta": meta}
		if cursor != "" {
			params["cursor"] = cursor
		}
		b, _ := json.Marshal(params)
		id, _ := jsonrpc.MakeID("asyncmcp-tools-" + strconv.Itoa(page))
		resp, err := s.post(ctx, &jsonrpc.Request{ID: id, Method: "tools/list", Params: b}, nil)
		if err != nil || resp.Error != nil {
			return false
		}
		s.params.learn(resp.Result)
		if _, ok := s.params.lookup(tool); ok {
			return true
		}
		var res struct {
			NextCursor string `json:"nextCursor"`
		}
		if json.Unmarshal(resp.Result, &res) != nil || res.NextCursor == "" {
			return false
		}
		cursor = res.NextCursor
	}
	return false
}
