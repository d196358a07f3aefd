// SPDX-License-Identifier: Apache-2.0

package wire

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// FuzzDecode checks the queue door on any body, raw or inside an SNS
// envelope: Decode never panics; it either refuses the body with -32700 or
// -32600, or yields a message that re-encodes to the same JSON value as the
// body it came from (nothing is forwarded changed), and that decodes again
// to the same message from its own envelope.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"_meta":{"responseQueueUrl":"http://q"}}}`,
		`{"jsonrpc":"2.0","id":"a","result":{"content":[]}}`,
		`{"jsonrpc":"2.0","method":""}`,
		`{"jsonrpc":"2.0","id":1.5,"method":"x"}`,
		`[{"jsonrpc":"2.0","id":1,"method":"x"}]`,
		`{"Type":"Notification","Message":"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}","MessageAttributes":{"SessionId":{"Type":"String","Value":"s"}}}`,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, body string, sns bool) {
		raw := body
		if sns {
			msg, _ := json.Marshal(body)
			raw = `{"Type":"Notification","MessageId":"m","Message":` + string(msg) + `,"MessageAttributes":{"SessionId":{"Type":"String","Value":"s1"}}}`
		}
		d := Decode(raw, Attributes{AttrClientID: {TypeString, "c1"}})
		// (json.Marshal replaces invalid UTF-8, so only valid text must come
		// back unchanged.)
		if sns && utf8.ValidString(body) && d.Body != body && !bytes.Contains([]byte(body), []byte(`"Message"`)) {
			t.Fatalf("SNS envelope of %q decoded to body %q", body, d.Body)
		}
		if d.Err != nil {
			if d.Msg != nil || (d.Err.Code != jsonrpc.CodeParseError && d.Err.Code != jsonrpc.CodeInvalidRequest) {
				t.Fatalf("Decode(%q): message %v with error %v", raw, d.Msg, d.Err)
			}
			return
		}
		if d.Msg == nil {
			t.Fatalf("Decode(%q): no message and no error", raw)
		}
		env, err := Encode(d.Msg, Header{SessionID: d.SessionID, ClientID: d.ClientID})
		if err != nil {
			t.Fatalf("re-encoding Decode(%q): %v", raw, err)
		}
		if !sameJSON(t, []byte(d.Body), []byte(env.Body)) {
			t.Fatalf("body %q is forwarded as %q", d.Body, env.Body)
		}
		again := Decode(env.Body, env.Attrs)
		if again.Err != nil || again.ClientID != "c1" {
			t.Fatalf("own envelope of %q refused: %v (client %q)", env.Body, again.Err, again.ClientID)
		}
		b1, _ := jsonrpc.EncodeMessage(d.Msg)
		b2, _ := jsonrpc.EncodeMessage(again.Msg)
		if !bytes.Equal(b1, b2) {
			t.Fatalf("round trip changed %s into %s", b1, b2)
		}
	})
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	decode := func(p []byte) any {
		d := json.NewDecoder(bytes.NewReader(bytes.TrimSpace(p)))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("decoding %q: %v", p, err)
		}
		return v
	}
	return reflect.DeepEqual(decode(a), decode(b))
}
