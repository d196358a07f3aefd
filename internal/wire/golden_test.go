// SPDX-License-Identifier: Apache-2.0

package wire

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

var update = flag.Bool("update", false, "rewrite the golden vectors in testdata from the encoder")

// A vector is one golden test vector: a JSON-RPC message and routing header,
// and the exact SQS/SNS message (body and attributes) that encodes them.
type vector struct {
	Description string          `json:"description"`
	Sender      string          `json:"sender"` // "client" or "server"
	Header      vectorHeader    `json:"header"`
	Message     json.RawMessage `json:"message,omitempty"`   // absent for session-end
	EndReason   string          `json:"endReason,omitempty"` // session-end only
	Wake        bool            `json:"wake,omitempty"`      // a wake message
	Body        string          `json:"body"`
	Attributes  Attributes      `json:"attributes"`
}

type vectorHeader struct {
	SessionID  string `json:"sessionId,omitempty"`
	ClientID   string `json:"clientId,omitempty"`
	ReplyTo    string `json:"replyTo,omitempty"`
	SessionKey string `json:"sessionKey,omitempty"`
	Time       string `json:"time"`
}

const (
	q    = "https://sqs.us-east-1.amazonaws.com/123456789012/mcp-responses"
	arn  = "arn:aws:sns:us-east-1:123456789012:mcp-responses"
	sid  = "3f2a9c1e5b7d4e60a1b2c3d4e5f60718"
	cid  = "mcp-client-0a1b2c3d4e5f6071"
	when = "2026-01-01T00:00:00.123Z"
	key  = "9b1c4e7a2d5f40c8b6e3a1f0d7c95e24"
)

var client = vectorHeader{SessionID: sid, ClientID: cid, ReplyTo: q, SessionKey: key, Time: when}
var server = vectorHeader{SessionID: sid, ClientID: cid, Time: when}

// inputs are the messages the golden vectors encode, by file name.
var inputs = map[string]vector{
	"01_initialize_request_sqs": {Description: "client initialize over SQS: params._meta.responseQueueUrl (Python asyncmcp main) and params.response_queue_url (Python asyncmcp 0.2.1) name the response queue; the client chose the session id and its secret SessionKey", Sender: "client", Header: client,
		Message: json.RawMessage(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"_meta":{"responseQueueUrl":"` + q + `"},"capabilities":{},"clientInfo":{"name":"example","version":"1.0"},"protocolVersion":"2025-11-25","response_queue_url":"` + q + `"}}`)},
	"02_initialize_request_snssqs": {Description: "client initialize over SNS+SQS: params._meta.clientTopicArn (Python asyncmcp main) and params.client_topic_arn (0.2.1) name the topic for the session's messages", Sender: "client", Header: vectorHeader{SessionID: sid, ClientID: cid, ReplyTo: arn, SessionKey: key, Time: when},
		Message: json.RawMessage(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"_meta":{"clientTopicArn":"` + arn + `"},"capabilities":{},"clientInfo":{"name":"example","version":"1.0"},"client_topic_arn":"` + arn + `","protocolVersion":"2025-11-25"}}`)},
	"03_initialize_response": {Description: "server answer to initialize: carries SessionId, ClientId and RequestId", Sender: "server", Header: server,
		Message: json.RawMessage(`{"jsonrpc":"2.0","id":1,"result":{"capabilities":{"tools":{}},"protocolVersion":"2025-11-25","serverInfo":{"name":"example-server","version":"1.0"}}}`)},
	"04_initialized_notification": {Description: "client notification: Method but no RequestId", Sender: "client", Header: client,
		Message: json.RawMessage(`{"jsonrpc":"2.0","method":"notifications/initialized","params":{}}`)},
	"05_tools_call_request_string_id": {Description: "client request with a string id: RequestId is the id's JSON text, quotes included", Sender: "client", Header: client,
		Message: json.RawMessage(`{"jsonrpc":"2.0","id":"call-7","method":"tools/call","params":{"_meta":{"progressToken":"p-7"},"arguments":{"text":"hi"},"name":"echo"}}`)},
	"06_progress_notification": {Description: "server notification during a call", Sender: "server", Header: server,
		Message: json.RawMessage(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":50,"progressToken":"p-7","total":100}}`)},
	"07_tools_call_response": {Description: "server answer to a call", Sender: "server", Header: server,
		Message: json.RawMessage(`{"jsonrpc":"2.0","id":"call-7","result":{"content":[{"type":"text","text":"hi"}]}}`)},
	"08_server_request_sampling": {Description: "server-initiated request (sampling) to the client", Sender: "server", Header: server,
		Message: json.RawMessage(`{"jsonrpc":"2.0","id":0,"method":"sampling/createMessage","params":{"maxTokens":100,"messages":[{"content":{"type":"text","text":"hi"},"role":"user"}]}}`)},
	"09_client_response_sampling": {Description: "client answer to the server's request", Sender: "client", Header: client,
		Message: json.RawMessage(`{"jsonrpc":"2.0","id":0,"result":{"content":{"type":"text","text":"hello"},"model":"m","role":"assistant"}}`)},
	"10_error_session_not_found": {Description: "server error for a request in a session it does not know, sent to the request's ReplyTo with the request's id", Sender: "server", Header: server,
		Message: json.RawMessage(`{"jsonrpc":"2.0","id":"call-8","error":{"code":-32001,"message":"session \"` + sid + `\" not found"}}`)},
	"11_session_end_by_client": {Description: "client ends the session", Sender: "client", Header: client, EndReason: "client closed the session"},
	"12_session_end_by_server": {Description: "server ends the session (idle timeout, server process exited); sent only to clients that sent ReplyTo", Sender: "server", Header: server, EndReason: "session idle for 1h0m0s"},
	"13_non_bmp_escaped": {Description: "characters outside the Basic Multilingual Plane (emoji) are sent as JSON \\u escapes of their UTF-16 surrogate pairs; characters of the BMP are sent as UTF-8", Sender: "server", Header: server,
		Message: json.RawMessage(`{"jsonrpc":"2.0","id":2,"result":{"serverInfo":{"name":"everything 🚀","version":"1"},"text":"café 𝒜"}}`)},
	"15_wake": {Description: "a client stopping wakes its own long polls on its response queue; any reader deletes it", Sender: "client", Header: vectorHeader{ClientID: cid, Time: when}, Wake: true},
	"14_error_session_refused": {Description: "server error for a message that names a live session without its SessionKey: the same as for an unknown session, sent to the message's own ReplyTo (never to the session's)", Sender: "server", Header: vectorHeader{SessionID: sid, ClientID: "mcp-client-stranger", Time: when},
		Message: json.RawMessage(`{"jsonrpc":"2.0","id":"x","error":{"code":-32001,"message":"session \"` + sid + `\" not found"}}`)},
}

func (v vector) encode(t *testing.T) Envelope {
	tm, err := time.Parse(time.RFC3339Nano, v.Header.Time)
	if err != nil {
		t.Fatal(err)
	}
	h := Header{SessionID: v.Header.SessionID, ClientID: v.Header.ClientID, ReplyTo: v.Header.ReplyTo, SessionKey: v.Header.SessionKey, Time: tm}
	if v.EndReason != "" {
		return EncodeSessionEnd(h, v.EndReason)
	}
	if v.Wake {
		env := EncodeWake(v.Header.ClientID)
		env.Attrs[AttrTimestamp] = h.attrs("")[AttrTimestamp]
		return env
	}
	msg, err := jsonrpc.DecodeMessage(v.Message)
	if err != nil {
		t.Fatalf("%s: decoding input message: %v", v.Description, err)
	}
	env, err := Encode(msg, h)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// TestGoldenVectors checks the encoder against testdata/*.json, and the
// decoder against the same files (run with -update to regenerate them after
// a deliberate format change).
func TestGoldenVectors(t *testing.T) {
	for name, in := range inputs {
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
			var want vector
			if err := json.Unmarshal(data, &want); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if env.Body != want.Body {
				t.Errorf("body:\n got %s\nwant %s", env.Body, want.Body)
			}
			if !reflect.DeepEqual(env.Attrs, want.Attributes) {
				t.Errorf("attributes:\n got %v\nwant %v", env.Attrs, want.Attributes)
			}
			if len(want.Attributes) > 10 {
				t.Errorf("%d attributes; SQS allows 10", len(want.Attributes))
			}
			d := Decode(want.Body, want.Attributes)
			if d.Err != nil {
				t.Fatalf("decoding golden body: %v", d.Err)
			}
			if d.SessionID != want.Header.SessionID || d.ClientID != want.Header.ClientID || d.ReplyTo != want.Header.ReplyTo {
				t.Errorf("decoded routing %q %q %q, want %+v", d.SessionID, d.ClientID, d.ReplyTo, want.Header)
			}
			if d.Attrs.Get(AttrSessionKey) != want.Header.SessionKey {
				t.Errorf("decoded SessionKey %q, want %q", d.Attrs.Get(AttrSessionKey), want.Header.SessionKey)
			}
			if want.EndReason != "" && d.Type != TypeSessionEnd {
				t.Errorf("decoded type %q, want %q", d.Type, TypeSessionEnd)
			}
		})
	}
}

// TestDecodeSNSEnvelope checks that an SNS notification envelope (delivery
// without RawMessageDelivery) is unwrapped and its attributes used.
func TestDecodeSNSEnvelope(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "sns_envelope.json"))
	if err != nil {
		t.Fatal(err)
	}
	d := Decode(string(data), nil)
	if d.Err != nil {
		t.Fatalf("decode: %v", d.Err)
	}
	req, ok := d.Msg.(*jsonrpc.Request)
	if !ok || req.Method != "tools/list" || d.SessionID != sid || d.ClientID != cid || d.ReplyTo != arn {
		t.Errorf("got %+v / session %q client %q reply-to %q", d.Msg, d.SessionID, d.ClientID, d.ReplyTo)
	}
	// SQS attributes win over the envelope's.
	d = Decode(string(data), Attributes{AttrSessionID: {TypeString, "from-sqs"}})
	if d.SessionID != "from-sqs" {
		t.Errorf("SQS attribute did not win: %q", d.SessionID)
	}
}

func TestDecodeBadInput(t *testing.T) {
	for _, c := range []struct {
		body   string
		attrs  Attributes
		code   int64
		wantID any
	}{
		{`{"jsonrpc":"2.0","id":5,"method":"x"`, nil, jsonrpc.CodeParseError, nil},
		{`not json`, Attributes{AttrRequestID: {TypeString, "5"}}, jsonrpc.CodeParseError, int64(5)},
		{`not json`, Attributes{AttrRequestID: {TypeString, "abc"}}, jsonrpc.CodeParseError, "abc"}, // Python: unquoted
		{`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, Attributes{AttrRequestID: {TypeString, `"b"`}}, jsonrpc.CodeInvalidRequest, "b"},
		{`{"jsonrpc":"2.0","id":"k","method":5}`, nil, jsonrpc.CodeInvalidRequest, "k"},
		{`"just a string"`, nil, jsonrpc.CodeInvalidRequest, nil},
	} {
		d := Decode(c.body, c.attrs)
		if d.Err == nil || d.Err.Code != c.code || d.ID.Raw() != c.wantID {
			t.Errorf("Decode(%q): err %v id %v, want code %d id %v", c.body, d.Err, d.ID.Raw(), c.code, c.wantID)
		}
	}
}

func TestSetMetaKeepsEverything(t *testing.T) {
	in := `{"protocolVersion":"2025-11-25","capabilities":{"tasks":{"list":{}}},"_meta":{"com.example/x":[1,{"y":null}]},"future":true}`
	out, err := SetMeta(json.RawMessage(in), MetaResponseQueueURL, q)
	if err != nil {
		t.Fatal(err)
	}
	var got, want map[string]any
	json.Unmarshal(out, &got)
	json.Unmarshal([]byte(in), &want)
	want["_meta"].(map[string]any)[MetaResponseQueueURL] = q
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SetMeta:\n got %s\nwant %v", out, want)
	}
	if GetMeta(out, MetaResponseQueueURL) != q {
		t.Error("GetMeta did not find the value")
	}
	if _, err := SetMeta(json.RawMessage(`[1]`), "k", "v"); err == nil {
		t.Error("SetMeta on an array succeeded")
	}
	if out, err := SetMeta(nil, "k", "v"); err != nil || string(out) != `{"_meta":{"k":"v"}}` {
		t.Errorf("SetMeta(nil) = %s, %v", out, err)
	}
}

func TestValidSessionID(t *testing.T) {
	for s, want := range map[string]bool{sid: true, "a": true, "": false, "has space": false, "tab\t": false, "é": false, string(make([]byte, 129)): false} {
		if ValidSessionID(s) != want {
			t.Errorf("ValidSessionID(%q) = %v", s, !want)
		}
	}
}

// TestEscapeNonBMP checks that escaping is lossless and leaves other
// bytes alone.
func TestEscapeNonBMP(t *testing.T) {
	for _, in := range []string{`{"a":"plain"}`, `{"a":"é ü ☃"}`, "{\"a\":\"\U0001F680x\U0001D49C\"}", `{"\ud83d":1}`} {
		out := EscapeNonBMP([]byte(in))
		for _, r := range string(out) {
			if r >= 0x10000 {
				t.Errorf("EscapeNonBMP(%q) = %q keeps %U", in, out, r)
			}
		}
		var a, b any
		if err := json.Unmarshal([]byte(in), &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(out, &b); err != nil || !reflect.DeepEqual(a, b) {
			t.Errorf("EscapeNonBMP(%q) = %q: decodes to %v, want %v (%v)", in, out, b, a, err)
		}
	}
	if got := string(EscapeNonBMP([]byte("\U0001F680"))); got != `\ud83d\ude80` {
		t.Errorf("rocket escaped as %s", got)
	}
}
