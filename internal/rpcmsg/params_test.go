// SPDX-License-Identifier: Apache-2.0

package rpcmsg

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func TestToolsParamBindings(t *testing.T) {
	result := json.RawMessage(`{"tools":[
		{"name":"a","inputSchema":{"type":"object","properties":{
			"region":{"type":"string","x-mcp-header":"Region"},
			"n":{"type":"integer","x-mcp-header":"N"},
			"opts":{"type":"object","x-mcp-header":"Opts","properties":{
				"deep":{"type":"boolean","x-mcp-header":"Deep"},
				"plain":{"type":"string"}}},
			"multi":{"type":["string","null"],"x-mcp-header":"Multi"},
			"empty":{"type":"string","x-mcp-header":""},
			"items":{"type":"array","items":{"properties":{"x":{"type":"string","x-mcp-header":"X"}}}}}}},
		{"name":"b","inputSchema":{"type":"object"}}]}`)
	tools, ok := ToolsParamBindings(result)
	if !ok || len(tools) != 2 || tools[0].Name != "a" || tools[1].Name != "b" {
		t.Fatalf("tools = %+v, %v", tools, ok)
	}
	var got []string
	for _, b := range tools[0].Bindings {
		got = append(got, strings.Join(b.Path, ".")+"="+b.Header+":"+b.Type)
	}
	sort.Strings(got)
	want := []string{"multi=Multi:", "n=N:integer", "opts.deep=Deep:boolean", "opts=Opts:object", "region=Region:string"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("bindings of a = %q, want %q", got, want)
	}
	if len(tools[1].Bindings) != 0 {
		t.Errorf("bindings of b = %+v, want none", tools[1].Bindings)
	}
	if _, ok := ToolsParamBindings(json.RawMessage(`[1]`)); ok {
		t.Error("a non-object result was taken for a tools/list result")
	}
}

func TestArgumentAt(t *testing.T) {
	var args map[string]json.RawMessage
	if err := json.Unmarshal([]byte(`{"a":"x","o":{"p":{"q":7}},"n":null,"s":"str"}`), &args); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path []string
		want string
		ok   bool
	}{
		{[]string{"a"}, `"x"`, true},
		{[]string{"o", "p", "q"}, `7`, true},
		{[]string{"o", "missing"}, ``, false},
		{[]string{"n"}, `null`, true},
		{[]string{"n", "x"}, ``, false},
		{[]string{"s", "x"}, ``, false},
		{[]string{"absent"}, ``, false},
	} {
		got, ok := ArgumentAt(args, c.path)
		if ok != c.ok || string(got) != c.want {
			t.Errorf("ArgumentAt(%v) = %s, %v; want %s, %v", c.path, got, ok, c.want, c.ok)
		}
	}
}
