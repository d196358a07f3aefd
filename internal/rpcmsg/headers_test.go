// SPDX-License-Identifier: Apache-2.0

package rpcmsg

import (
	"encoding/json"
	"testing"
)

func TestHeaderValueEncoding(t *testing.T) {
	cases := []struct {
		in, want string
	}{
		{"us-west1", "us-west1"},
		{"", ""},
		{"us west 1", "us west 1"},
		{" padded ", "=?base64?IHBhZGRlZCA=?="},
		{"tab\t", "=?base64?dGFiCQ==?="},
		{"Hello, 世界", "=?base64?SGVsbG8sIOS4lueVjA==?="},
		{"line1\nline2", "=?base64?bGluZTEKbGluZTI=?="},
		{"=?base64?abc?=", "=?base64?PT9iYXNlNjQ/YWJjPz0=?="}, // looks wrapped: wrapped again
	}
	for _, c := range cases {
		got := EncodeHeaderValue(c.in)
		if got != c.want {
			t.Errorf("EncodeHeaderValue(%q) = %q, want %q", c.in, got, c.want)
		}
		back, ok := DecodeHeaderValue(got)
		if !ok || back != c.in {
			t.Errorf("DecodeHeaderValue(%q) = %q, %v; want %q", got, back, ok, c.in)
		}
	}
	for _, bad := range []string{"=?base64?not base64!?=", "a\x01b"} {
		if _, ok := DecodeHeaderValue(bad); ok {
			t.Errorf("DecodeHeaderValue(%q) accepted", bad)
		}
	}
	// Case matters in the sentinel: this is a plain value.
	if v, ok := DecodeHeaderValue("=?BASE64?YQ==?="); !ok || v != "=?BASE64?YQ==?=" {
		t.Errorf("upper-case sentinel decoded to %q, %v", v, ok)
	}
}

func TestModernName(t *testing.T) {
	cases := []struct {
		method, params, want string
		ok                   bool
	}{
		{"tools/call", `{"name":"echo","arguments":{}}`, "echo", true},
		{"prompts/get", `{"name":"p"}`, "p", true},
		{"resources/read", `{"uri":"file:///a b"}`, "file:///a b", true},
		{"tasks/get", `{"taskId":"t1"}`, "t1", true},
		{"tasks/update", `{"taskId":"t2","inputResponses":{}}`, "t2", true},
		{"tasks/cancel", `{"taskId":"t3"}`, "t3", true},
		{"tools/call", `{"arguments":{}}`, "", false},
		{"tools/call", `{"name":5}`, "", false},
		{"tools/list", `{}`, "", false},
	}
	for _, c := range cases {
		got, ok := ModernName(c.method, json.RawMessage(c.params))
		if got != c.want || ok != c.ok {
			t.Errorf("ModernName(%s, %s) = %q, %v; want %q, %v", c.method, c.params, got, ok, c.want, c.ok)
		}
	}
}

func TestIsModernEnvelope(t *testing.T) {
	cases := map[string]bool{
		`{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}`: true,
		`{"_meta":{"io.modelcontextprotocol/protocolVersion":"v999.0.0"}}`:   true,
		`{"_meta":{"io.modelcontextprotocol/protocolVersion":"2025-11-25"}}`: false,
		`{"_meta":{"progressToken":1}}`:                                      false,
		`{}`:                                                                 false,
		``:                                                                   false,
	}
	for params, want := range cases {
		if got := IsModernEnvelope(json.RawMessage(params)); got != want {
			t.Errorf("IsModernEnvelope(%s) = %v, want %v", params, got, want)
		}
	}
}
