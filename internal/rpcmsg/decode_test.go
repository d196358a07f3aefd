// SPDX-License-Identifier: Apache-2.0

package rpcmsg

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// cases are valid messages: Decode and the SDK both accept them.
var cases = []string{
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},"task":{"ttl":6000}}}`,
	`{"jsonrpc":"2.0","id":"abc","method":"initialize","params":{"protocolVersion":"2025-11-25"}}`,
	`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
	`{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"x"}],"_meta":{"custom":true}}}`,
	`{"jsonrpc":"2.0","id":"s-1","error":{"code":-32601,"message":"nope","data":{"why":1}}}`,
	`{"jsonrpc":"2.0","id":9007199254740991,"method":"ping"}`,
	`{"jsonrpc":"2.0","id":-9007199254740991,"result":{}}`,
	`{"jsonrpc":"2.0","id":0,"result":null}`,
	`{"jsonrpc":"2.0","id":"","method":"x","params":[1,2.50,1e3]}`,
	` { "method" : "x\u0041" , "jsonrpc" : "2.0" , "params" : { "a" : "<&>" } } `,
	`{"jsonrpc":"2.0","id":"\u00e9\ud83d\ude00","method":"é"}`,
	`{"jsonrpc":"2.0","id":3,"error":{"message":"m","code":1}}`,
	`{"jsonrpc":"2.0","\u0069d":5,"method":"x"}`, // an escaped name is still "id"
}

// refusals are messages Decode refuses although the SDK's decoder accepts
// them, each because forwarding it would change it (or it is not JSON-RPC).
var refusals = []struct {
	msg  string
	id   string // the id the error reply echoes ("null" if none)
	why  string // a word of the error text
	code int64
}{
	{`{"jsonrpc":"2.0","method":""}`, "null", "empty", jsonrpc.CodeInvalidRequest},
	{`{"jsonrpc":"2.0","id":3,"method":""}`, "3", "empty", jsonrpc.CodeInvalidRequest},
	{`{"jsonrpc":"2.0","id":1.5,"method":"x"}`, "1.5", "invalid id", jsonrpc.CodeInvalidRequest},
	{`{"jsonrpc":"2.0","id":1.0,"result":{}}`, "1.0", "invalid id", jsonrpc.CodeInvalidRequest},
	{`{"jsonrpc":"2.0","id":9007199254740993,"method":"x"}`, "9007199254740993", "invalid id", jsonrpc.CodeInvalidRequest},
	{`{"jsonrpc":"2.0","id":1e20,"method":"x"}`, "1e20", "invalid id", jsonrpc.CodeInvalidRequest},
	{`{"jsonrpc":"2.0","id":-0,"method":"x"}`, "-0", "invalid id", jsonrpc.CodeInvalidRequest},
	{`{"jsonrpc":"2.0","id":null,"method":"x"}`, "null", "null", jsonrpc.CodeInvalidRequest},
	{`{"jsonrpc":"2.0","ID":1,"method":"x"}`, "null", `"ID"`, jsonrpc.CodeInvalidRequest},
	{`{"jsonrpc":"2.0","id":1,"Method":"x"}`, "1", `"Method"`, jsonrpc.CodeInvalidRequest},
	{`{"jsonrpc":"2.0","id":1,"method":"x","Params":{}}`, "1", `"Params"`, jsonrpc.CodeInvalidRequest},
	{`{"JSONRPC":"2.0","jsonrpc":"2.0","id":1,"method":"x"}`, "1", `"JSONRPC"`, jsonrpc.CodeInvalidRequest},
	{`{"jsonrpc":"2.0","id":1,"method":"x","method":"y"}`, "1", "duplicate", jsonrpc.CodeInvalidRequest},
	{`{"jsonrpc":"2.0","id":1,"id":2,"method":"x"}`, "1", "duplicate", jsonrpc.CodeInvalidRequest},
	{`{"jsonrpc":"2.0","method":"notifications/progress","params":null}`, "null", "params", jsonrpc.CodeInvalidRequest},
	{`{"jsonrpc":"2.0","id":1,"method":"x","params":"s"}`, "1", "params", jsonrpc.CodeInvalidRequest},
	{`{"jsonrpc":"2.0","id":1,"method":"x","params":3}`, "1", "params", jsonrpc.CodeInvalidRequest},
	{`{"jsonrpc":"2.0","id":1,"method":"x","result":{}}`, "1", "result", jsonrpc.CodeInvalidRequest},
	{`{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"m"}}`, "1", "both", jsonrpc.CodeInvalidRequest},
	{`{"jsonrpc":"2.0","id":1}`, "1", "result or error", jsonrpc.CodeInvalidRequest},
	{`{"jsonrpc":"2.0","id":1,"result":{},"params":{}}`, "1", "params", jsonrpc.CodeInvalidRequest},
	{`{"jsonrpc":"2.0","id":1,"error":{"code":1.5,"message":"m"}}`, "1", "code", jsonrpc.CodeInvalidRequest},
	{`{"jsonrpc":"2.0","id":1,"error":{"code":1}}`, "1", "message", jsonrpc.CodeInvalidRequest},
	{`{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m","Data":1}}`, "1", "Data", jsonrpc.CodeInvalidRequest},
	{`{"jsonrpc":"2.0","id":1,"method":"x","extra":true}`, "1", "extra", jsonrpc.CodeInvalidRequest},
	{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\xff\"}", "null", "UTF-8", jsonrpc.CodeParseError},
}

func init() {
	// Deeper than the SDK accepts: both refuse it.
	bad = append(bad, `{"jsonrpc":"2.0","id":1,"method":"x","params":`+strings.Repeat("[", 1001)+strings.Repeat("]", 1001)+`}`)
}

// bad are inputs both decoders refuse.
var bad = []string{
	`{"jsonrpc":"2.0","id":1`,
	`{"jsonrpc":"1.0","id":1,"method":"x"}`,
	`{"hello":1}`,
	`{"jsonrpc":"2.0","result":{}}`,
	`{"jsonrpc":"2.0","id":{"a":1},"method":"x"}`,
	`{"jsonrpc":"2.0","id":true,"method":"x"}`,
	`[{"jsonrpc":"2.0","id":1,"method":"x"}]`,
	`{"jsonrpc":"2.0","id":1,"method":5}`,
	`"just a string"`,
	``,
}

// TestMatchesSDK checks that Decode agrees with the SDK's decoder on valid
// messages (the same message encodes to the same bytes) and on inputs the
// SDK refuses.
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

// TestRefusesWhatWouldChange checks the refusals: each is a message the
// SDK's decoder accepts but would forward changed (an id rounded or
// retyped, a case-variant key taken for the real one, an empty method that
// kills the server behind), and Decode refuses it with the right code and
// the id echoed as sent.
func TestRefusesWhatWouldChange(t *testing.T) {
	for _, r := range refusals {
		m, err := Decode([]byte(r.msg))
		if err == nil {
			b, _ := jsonrpc.EncodeMessage(m)
			t.Errorf("Decode(%s) accepted it, forwarding %s", r.msg, b)
			continue
		}
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("Decode(%s): %T %v, want a *DecodeError", r.msg, err, err)
			continue
		}
		if de.Code != r.code || !strings.Contains(de.Error(), r.why) {
			t.Errorf("Decode(%s) = code %d %q; want code %d mentioning %s", r.msg, de.Code, de.Error(), r.code, r.why)
		}
		var reply struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Error   struct {
				Code    int64  `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(de.Response(), &reply); err != nil {
			t.Errorf("Response() of %s = %s: not JSON: %v", r.msg, de.Response(), err)
			continue
		}
		if string(reply.ID) != r.id || reply.Error.Code != r.code || reply.JSONRPC != "2.0" {
			t.Errorf("Response() of %s = %s; want id %s and code %d", r.msg, de.Response(), r.id, r.code)
		}
	}
}

// TestSDKAcceptsRefusals documents why the refusals matter: the SDK's own
// decoder takes most of them, and would forward them changed.
func TestSDKAcceptsRefusals(t *testing.T) {
	accepted := 0
	for _, r := range refusals {
		if _, err := jsonrpc.DecodeMessage([]byte(r.msg)); err == nil {
			accepted++
		}
	}
	if accepted < len(refusals)/2 {
		t.Errorf("the SDK accepts only %d of %d refusals; the differential test's premise changed", accepted, len(refusals))
	}
}

// TestDifferential runs the differential check over every message in this
// file and the fuzz seed corpus.
func TestDifferential(t *testing.T) {
	corpus := append(append([]string{}, cases...), bad...)
	for _, r := range refusals {
		corpus = append(corpus, r.msg)
	}
	corpus = append(corpus, seedCorpus(t, "FuzzDecode")...)
	if len(corpus) < 50 {
		t.Fatalf("corpus holds only %d messages; the seed corpus is missing", len(corpus))
	}
	for _, c := range corpus {
		checkAgainstSDK(t, []byte(c))
	}
}

// FuzzDecode checks, for any input, that Decode never accepts what the
// SDK's decoder refuses, that what it accepts encodes as the SDK's decoding
// does, and that it re-encodes to the same JSON value it was given.
func FuzzDecode(f *testing.F) {
	for _, c := range cases {
		f.Add([]byte(c))
	}
	for _, r := range refusals {
		f.Add([]byte(r.msg))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkAgainstSDK(t, data) })
}

// checkAgainstSDK is the differential property.
func checkAgainstSDK(t *testing.T, data []byte) {
	t.Helper()
	got, err := Decode(data)
	if err != nil {
		var de *DecodeError
		if !errors.As(err, &de) || (de.Code != jsonrpc.CodeParseError && de.Code != jsonrpc.CodeInvalidRequest) {
			t.Fatalf("Decode(%q): %v, want a *DecodeError with -32700 or -32600", data, err)
		}
		if !json.Valid(de.Response()) {
			t.Fatalf("Decode(%q): error reply %s is not JSON", data, de.Response())
		}
		return
	}
	want, err := jsonrpc.DecodeMessage(data)
	if err != nil {
		t.Fatalf("Decode accepts %q, which the SDK refuses: %v", data, err)
	}
	gb, err := jsonrpc.EncodeMessage(got)
	if err != nil {
		t.Fatalf("encoding Decode(%q): %v", data, err)
	}
	wb, _ := jsonrpc.EncodeMessage(want)
	if !bytes.Equal(gb, wb) {
		t.Fatalf("Decode(%q) encodes as %s; the SDK's decoding as %s", data, gb, wb)
	}
	if !sameJSON(t, data, gb) {
		t.Fatalf("Decode(%q) re-encodes as %s: not the same message", data, gb)
	}
}

// sameJSON reports whether a and b hold the same JSON value, numbers
// compared as written.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	decode := func(p []byte) any {
		d := json.NewDecoder(bytes.NewReader(p))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("decoding %q: %v", p, err)
		}
		return v
	}
	return reflect.DeepEqual(decode(a), decode(b))
}

// seedCorpus reads the inputs of testdata/fuzz/NAME.
func seedCorpus(t *testing.T, name string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", name, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, rest, ok := strings.Cut(string(b), "\n")
		rest = strings.TrimSpace(rest)
		if !ok || !strings.HasPrefix(rest, "[]byte(") {
			t.Fatalf("%s: not a go test fuzz v1 file", f)
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(rest, "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, s)
	}
	return out
}

func TestCancelledID(t *testing.T) {
	for params, want := range map[string]any{
		`{"requestId":7}`:                int64(7),
		`{"requestId":"a"}`:              "a",
		`{"requestId":1.5}`:              nil,
		`{"requestId":9007199254740993}`: nil,
		`{"requestId":null}`:             nil,
	} {
		id, ok := CancelledID(json.RawMessage(params))
		if ok != (want != nil) || (ok && id.Raw() != want) {
			t.Errorf("CancelledID(%s) = %v, %v; want %v", params, id.Raw(), ok, want)
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
