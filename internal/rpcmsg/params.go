// SPDX-License-Identifier: Apache-2.0

package rpcmsg

import "encoding/json"

// Mcp-Param-NAME headers of the 2026-07-28 HTTP binding: a tool argument
// whose inputSchema property carries "x-mcp-header": NAME is mirrored into
// the header Mcp-Param-NAME. The helpers below read those annotations; the
// sides that derive the headers (remote) and check them (stdio) build on
// them.

// ParamHeaderPrefix starts the name of every Mcp-Param-NAME header.
const ParamHeaderPrefix = "Mcp-Param-"

// A ParamBinding mirrors the tool argument at Path into the header
// Mcp-Param-Header.
type ParamBinding struct {
	Path   []string // argument names from the root of arguments
	Header string   // NAME of Mcp-Param-NAME
	Type   string   // the property's "type" when it is one string, else ""
}

// ToolParams are the bindings of one tool of a tools/list result.
type ToolParams struct {
	Name     string
	Bindings []ParamBinding
}

// ToolsParamBindings returns the x-mcp-header bindings of every tool of a
// tools/list result (see [ParamBindings]), in the result's order; ok is
// false when the result is not a tools/list result.
func ToolsParamBindings(result json.RawMessage) (tools []ToolParams, ok bool) {
	var r struct {
		Tools []struct {
			Name        string          `json:"name"`
			InputSchema json.RawMessage `json:"inputSchema"`
		} `json:"tools"`
	}
	if json.Unmarshal(result, &r) != nil {
		return nil, false
	}
	tools = make([]ToolParams, len(r.Tools))
	for i, t := range r.Tools {
		tools[i] = ToolParams{Name: t.Name, Bindings: ParamBindings(t.InputSchema)}
	}
	return tools, true
}

type schemaProperty struct {
	Type       json.RawMessage           `json:"type"`
	Header     json.RawMessage           `json:"x-mcp-header"`
	Properties map[string]schemaProperty `json:"properties"`
}

// ParamBindings collects the x-mcp-header annotations (non-empty strings) of
// an input schema, following "properties" only, whatever the property's
// type: a caller that wants only primitive properties filters on
// ParamBinding.Type. The order is unspecified; nil when there are none or
// the schema is not a JSON object.
func ParamBindings(schema json.RawMessage) []ParamBinding {
	var s struct {
		Properties map[string]schemaProperty `json:"properties"`
	}
	if json.Unmarshal(schema, &s) != nil {
		return nil
	}
	return propertyBindings(s.Properties, nil, nil)
}

func propertyBindings(props map[string]schemaProperty, prefix []string, out []ParamBinding) []ParamBinding {
	for name, p := range props {
		path := append(append([]string(nil), prefix...), name)
		var header string
		if json.Unmarshal(p.Header, &header) == nil && header != "" {
			var typ string
			if json.Unmarshal(p.Type, &typ) != nil {
				typ = ""
			}
			out = append(out, ParamBinding{Path: path, Header: header, Type: typ})
		}
		out = propertyBindings(p.Properties, path, out)
	}
	return out
}

// ArgumentAt returns the value at path in a tools/call's arguments, walking
// nested objects; false when a step is missing or not an object.
func ArgumentAt(args map[string]json.RawMessage, path []string) (json.RawMessage, bool) {
	cur := args
	for i, k := range path {
		raw, ok := cur[k]
		if !ok {
			return nil, false
		}
		if i == len(path)-1 {
			return raw, true
		}
		cur = nil
		if json.Unmarshal(raw, &cur) != nil || cur == nil {
			return nil, false
		}
	}
	return nil, false
}
