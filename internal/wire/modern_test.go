// SPDX-License-Identifier: Apache-2.0

package wire

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// A modernVector is one golden vector of a stateless (2026-07-28) message.
type modernVector struct {
	Description string          `json:"description"`
	Sender      string          `json:"sender"`
	Header      modernVecHeader `json:"header"`
	Message     json.RawMessage `json:"message"`
	Body        string          `json:"body"`
	Attributes  Attributes      `json:"attributes"`
}

type modernVecHeader struct {
	ClientID   string `json:"clientId"`
	ReplyTo    string `json:"replyTo,omitempty"`
	RequestKey string `json:"requestKey"`
	RequestID  any    `json:"requestId,omitempty"` // the request a server notification belongs to
	Seq        int    `json:"seq,omitempty"`
}

const rkey = "9c4e1f2a7b3d4c5e8f60718293a4b5c6"

const envelope = `"_meta":{"io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"example","version":"1.0"},"io.modelcontextprotocol/protocolVersion":"2026-07-28","progressToken":"p-7"}`

var modernInputs = map[string]modernVector{
	"20_modern_tools_call_request": {Description: "stateless client request: no SessionId, no Timestamp; RequestKey chosen by the client; ProtocolVersion and McpName mirror the body", Sender: "client",
		Header:  modernVecHeader{ClientID: cid, ReplyTo: q, RequestKey: rkey},
		Message: json.RawMessage(`{"jsonrpc":"2.0","id":"call-7","method":"tools/call","params":{` + envelope + `,"arguments":{"text":"hi"},"name":"echo"}}`)},
	"21_modern_progress_notification": {Description: "server notification of a stateless request: RequestId names the request it belongs to, Seq its place in the reply stream", Sender: "server",
		Header:  modernVecHeader{ClientID: cid, RequestKey: rkey, RequestID: "call-7", Seq: 1},
		Message: json.RawMessage(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":50,"progressToken":"p-7","total":100}}`)},
	"22_modern_tools_call_response": {Description: "server answer to a stateless request: its RequestKey and the next Seq", Sender: "server",
		Header:  modernVecHeader{ClientID: cid, RequestKey: rkey, Seq: 2},
		Message: json.RawMessage(`{"jsonrpc":"2.0","id":"call-7","result":{"content":[{"type":"text","text":"hi"}],"resultType":"complete"}}`)},
	"23_modern_cancel": {Description: "client cancels a stateless request: the RequestKey of the request authorizes the cancel; RequestId is params.requestId", Sender: "client",
		Header:  modernVecHeader{ClientID: cid, RequestKey: rkey},
		Message: json.RawMessage(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"reason":"client went away","requestId":"call-7"}}`)},
	"24_modern_listen_request": {Description: "subscriptions/listen: no McpName", Sender: "client",
		Header:  modernVecHeader{ClientID: cid, ReplyTo: arn, RequestKey: rkey},
		Message: json.RawMessage(`{"jsonrpc":"2.0","id":5,"method":"subscriptions/listen","params":{"_meta":{"io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/protocolVersion":"2026-07-28"},"notifications":{"toolsListChanged":true}}}`)},
	"25_modern_listen_notification": {Description: "a notification of a listen stream, tagged with the listen's RequestId", Sender: "server",
		Header:  modernVecHeader{ClientID: cid, RequestKey: rkey, RequestID: 5, Seq: 2},
		Message: json.RawMessage(`{"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":5}}}`)},
	"26_modern_listen_result": {Description: "the server ends a listen gracefully (listen timeout): the listen result", Sender: "server",
		Header:  modernVecHeader{ClientID: cid, RequestKey: rkey, Seq: 3},
		Message: json.RawMessage(`{"jsonrpc":"2.0","id":5,"result":{"_meta":{"io.modelcontextprotocol/subscriptionId":5},"resultType":"complete"}}`)},
	"27_modern_resources_read_encoded_name": {Description: "McpName that is not plain ASCII is sent in the HTTP Mcp-Name encoding", Sender: "client",
		Header:  modernVecHeader{ClientID: cid, ReplyTo: q, RequestKey: rkey},
		Message: json.RawMessage(`{"jsonrpc":"2.0","id":9,"method":"resources/read","params":{"_meta":{"io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/protocolVersion":"2026-07-28"},"uri":"file:///tmp/café.txt"}}`)},
	"28_modern_error_header_mismatch": {Description: "server rejects a request whose attributes disagree with its body", Sender: "server",
		Header:  modernVecHeader{ClientID: cid, RequestKey: rkey, Seq: 1},
		Message: json.RawMessage(`{"jsonrpc":"2.0","id":"call-7","error":{"code":-32020,"message":"McpName attribute \"other\" does not match the body's \"echo\""}}`)},
}

func (v modernVector) encode(t *testing.T) Envelope {
	msg, err := jsonrpc.DecodeMessage(v.Message)
	if err != nil {
		t.Fatalf("%s: decoding input message: %v", v.Description, err)
	}
	h := ModernHeader{ClientID: v.Header.ClientID, ReplyTo: v.Header.ReplyTo, RequestKey: v.Header.RequestKey, Seq: v.Header.Seq}
	if v.Header.RequestID != nil {
		raw := v.Header.RequestID
		if n, ok := raw.(int); ok {
			raw = float64(n) // jsonrpc.MakeID takes JSON numbers as float64
		}
		if h.RequestID, err = jsonrpc.MakeID(raw); err != nil {
			t.Fatal(err)
		}
	}
	env, err := EncodeModern(msg, h)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// TestModernGoldenVectors checks EncodeModern against testdata/2*.json, and
// decoding and attribute checking against the same files.
func TestModernGoldenVectors(t *testing.T) {
	for name, in := range modernInputs {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name+".json")
			env := in.encode(t)
			if *update {
				in.Body, in.Attributes = env.Body, env.Attrs
				b, _ := json.MarshalIndent(in, "", "  ")
				if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("reading golden vector: %v (run go test -update)", err)
			}
			var want modernVector
			if err := json.Unmarshal(data, &want); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if env.Body != want.Body {
				t.Errorf("body:\n got %s\nwant %s", env.Body, want.Body)
			}
			if !reflect.DeepEqual(env.Attrs, want.Attributes) {
				t.Errorf("attributes:\n got %v\nwant %v", env.Attrs, want.Attributes)
			}
			if len(want.Attributes) > 8 {
				t.Errorf("%d attributes; stateless messages use at most 8 of SQS's 10", len(want.Attributes))
			}
			if _, ok := want.Attributes[AttrSessionID]; ok {
				t.Error("stateless message carries SessionId")
			}
			d := Decode(want.Body, want.Attributes)
			if d.Err != nil {
				t.Fatalf("decoding golden body: %v", d.Err)
			}
			if d.ClientID != cid || d.Attrs.Get(AttrRequestKey) != rkey || d.ReplyTo != want.Header.ReplyTo {
				t.Errorf("decoded routing %q %q %q", d.ClientID, d.Attrs.Get(AttrRequestKey), d.ReplyTo)
			}
			if req, ok := d.Msg.(*jsonrpc.Request); ok && req.IsCall() {
				if err := CheckModernRequest(d.Attrs, req); err != nil {
					t.Errorf("CheckModernRequest on the encoder's own output: %v", err)
				}
			}
		})
	}
}

func TestCheckModernRequest(t *testing.T) {
	body := `{"jsonrpc":"2.0","id":"call-7","method":"tools/call","params":{` + envelope + `,"name":"echo"}}`
	msg, _ := jsonrpc.DecodeMessage([]byte(body))
	req := msg.(*jsonrpc.Request)
	good, err := EncodeModern(req, ModernHeader{ClientID: cid, ReplyTo: q, RequestKey: rkey})
	if err != nil {
		t.Fatal(err)
	}
	with := func(k, v string) Attributes {
		a := Attributes{}
		for n, x := range good.Attrs {
			a[n] = x
		}
		if v == "" {
			delete(a, k)
		} else {
			a[k] = Attr{TypeString, v}
		}
		return a
	}
	for _, c := range []struct {
		name  string
		attrs Attributes
		code  int64 // 0: accepted
	}{
		{"as encoded", good.Attrs, 0},
		{"McpName base64 form", with(AttrMcpName, "=?base64?ZWNobw==?="), 0},
		{"RequestId absent", with(AttrRequestID, ""), 0},
		{"McpName differs", with(AttrMcpName, "other"), rpcmsg.CodeHeaderMismatch},
		{"McpName missing", with(AttrMcpName, ""), rpcmsg.CodeHeaderMismatch},
		{"McpName malformed base64", with(AttrMcpName, "=?base64?!!!?="), rpcmsg.CodeHeaderMismatch},
		{"ProtocolVersion missing", with(AttrProtocolVersion, ""), rpcmsg.CodeHeaderMismatch},
		{"ProtocolVersion differs", with(AttrProtocolVersion, "2025-11-25"), rpcmsg.CodeHeaderMismatch},
		{"Method differs", with(AttrMethod, "tools/list"), rpcmsg.CodeHeaderMismatch},
		{"RequestId differs", with(AttrRequestID, `"call-8"`), rpcmsg.CodeHeaderMismatch},
		{"RequestKey missing", with(AttrRequestKey, ""), jsonrpc.CodeInvalidRequest},
		{"RequestKey short", with(AttrRequestKey, "abc"), jsonrpc.CodeInvalidRequest},
		{"RequestKey bad characters", with(AttrRequestKey, rkey[:31]+"!"), jsonrpc.CodeInvalidRequest},
	} {
		err := CheckModernRequest(c.attrs, req)
		switch {
		case c.code == 0 && err != nil:
			t.Errorf("%s: rejected: %v", c.name, err)
		case c.code != 0 && (err == nil || err.Code != c.code):
			t.Errorf("%s: got %v, want code %d", c.name, err, c.code)
		}
	}
}

func TestMcpNameEncoding(t *testing.T) {
	for in, want := range map[string]string{
		"echo":            "echo",
		"a b":             "a b",
		" lead":           "=?base64?IGxlYWQ=?=",
		"café":            "=?base64?Y2Fmw6k=?=",
		"=?base64?eA==?=": "=?base64?PT9iYXNlNjQ/ZUE9PT89?=",
		"tab\there":       "=?base64?dGFiCWhlcmU=?=",
	} {
		got := EncodeMcpName(in)
		if got != want {
			t.Errorf("EncodeMcpName(%q) = %q, want %q", in, got, want)
		}
		if back, ok := DecodeMcpName(got); !ok || back != in {
			t.Errorf("DecodeMcpName(%q) = %q, %v", got, back, ok)
		}
	}
}
