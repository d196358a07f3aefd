// SPDX-License-Identifier: Apache-2.0

package rpcmsg

import (
	"bytes"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

var cases = []string{
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},"task":{"ttl":6000}}}`,
	`{"jsonrpc":"2.0","id":"abc","method":"initialize","params":{"protocolVersion":"2025-11-25"}}`,
	`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
	`{"jsonrpc":"2.0","method":"notifications/progress","params":null}`,
	`{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"x"}],"_meta":{"custom":true}}}`,
	`{"jsonrpc":"2.0","id":"s-1","error":{"code":-32601,"message":"nope","data":{"why":1}}}`,
	`{"jsonrpc":"2.0","id":3,"method":""}`,
	`{"jsonrpc":"2.0","id":1.0,"result":{}}`,
}

var bad = []string{
	`{"jsonrpc":"2.0","id":1`,
	`{"jsonrpc":"1.0","id":1,"method":"x"}`,
	`{"hello":1}`,
	`{"jsonrpc":"2.0","result":{}}`,
	`{"jsonrpc":"2.0","id":{"a":1},"method":"x"}`,
	`{"jsonrpc":"2.0","id":true,"method":"x"}`,
	`[{"jsonrpc":"2.0","id":1,"method":"x"}]`,
}

// TestMatchesSDK checks that Decode agrees with the SDK's decoder: the same
// message encodes to the same bytes, and the same inputs are refused.
func TestMatchesSDK(t *testing.T) {
	for _, c := range cases {
		want, err := jsonrpc.DecodeMessage([]byte(c))
		if err != nil {
			t.Fatalf("SDK refused %s: %v", c, err)
		}
		got, err := Decode([]byte(c))
		if err != nil {
			t.Errorf("Decode(%s): %v", c, err)
			continue
		}
		wb, _ := jsonrpc.EncodeMessage(want)
		gb, _ := jsonrpc.EncodeMessage(got)
		if !bytes.Equal(wb, gb) {
			t.Errorf("Decode(%s) encodes as %s; SDK gives %s", c, gb, wb)
		}
	}
	for _, c := range bad {
		if _, err := jsonrpc.DecodeMessage([]byte(c)); err == nil {
			t.Errorf("SDK accepts %s; adjust the test", c)
		}
		if m, err := Decode([]byte(c)); err == nil {
			t.Errorf("Decode(%s) = %v, want an error", c, m)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	msg := []byte(cases[0])
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			jsonrpc.DecodeMessage(msg)
		}
	})
	b.Run("rpcmsg", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Decode(msg)
		}
	})
}
