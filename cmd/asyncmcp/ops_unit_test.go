// SPDX-License-Identifier: Apache-2.0

package main

import (
	"strings"
	"testing"
)

func TestExpandVars(t *testing.T) {
	t.Setenv("OPS_SET", "value")
	t.Setenv("OPS_EMPTY", "")
	cases := []struct {
		in, want string
		missing  string
	}{
		{"plain", "plain", ""},
		{"${OPS_SET}", "value", ""},
		{"a-${OPS_SET}-b-${OPS_SET}", "a-value-b-value", ""},
		{"$OPS_SET and $", "$OPS_SET and $", ""},
		{"${OPS_UNSET_X:-fallback}", "fallback", ""},
		{"${OPS_EMPTY:-fallback}", "fallback", ""},
		{"${OPS_EMPTY}", "", ""},
		{"${OPS_UNSET_X}", "", "OPS_UNSET_X"},
		{"${unclosed", "${unclosed", ""},
	}
	for _, c := range cases {
		var missing []string
		got := expandVars(c.in, func(n string) { missing = append(missing, n) })
		if got != c.want || strings.Join(missing, ",") != c.missing {
			t.Errorf("expandVars(%q) = %q, missing %v; want %q, missing %q", c.in, got, missing, c.want, c.missing)
		}
	}
}

func TestRefuseMistakenCommand(t *testing.T) {
	for _, c := range []struct {
		rest     []string
		dashDash bool
		refused  bool
	}{
		{[]string{"false", "https://x/mcp"}, false, true},
		{[]string{"true"}, false, true},
		{[]string{"0"}, false, true},
		{[]string{"8080", "npx"}, false, true},
		{[]string{"no"}, false, true},
		{[]string{"true"}, true, false},
		{[]string{"npx", "-y", "server"}, false, false},
		{[]string{"uvx", "false"}, false, false},
		{nil, false, false},
	} {
		err := refuseMistakenCommand(c.rest, c.dashDash)
		if (err != nil) != c.refused {
			t.Errorf("refuseMistakenCommand(%q, %v) = %v; want refused %v", c.rest, c.dashDash, err, c.refused)
		}
	}
}

func TestVerifySSLParsing(t *testing.T) {
	for _, c := range []struct {
		args     []string
		noVerify bool
		rest     string
	}{
		{[]string{"--verify-ssl", "false", "https://x/mcp"}, true, "https://x/mcp"},
		{[]string{"--verify-ssl", "https://x/mcp"}, false, "https://x/mcp"},
		{[]string{"--verify-ssl=off", "https://x/mcp"}, true, "https://x/mcp"},
		{[]string{"--no-verify-ssl", "--verify-ssl", "true", "https://x/mcp"}, false, "https://x/mcp"},
		{[]string{"--sse-port", "9000", "--sse-host", "0.0.0.0", "--", "cmd"}, false, "cmd"},
	} {
		o := &proxyOptions{}
		rest, err := o.flags().parse(c.args)
		if err != nil || o.noVerify != c.noVerify || len(rest) == 0 || rest[0] != c.rest {
			t.Errorf("parse %q: rest %q, noVerify %v, err %v; want rest[0] %q, noVerify %v", c.args, rest, o.noVerify, err, c.rest, c.noVerify)
		}
	}
}
