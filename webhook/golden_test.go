// SPDX-License-Identifier: Apache-2.0

package webhook

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"testing"
	"time"
)

type golden struct {
	Signatures []struct {
		Name      string `json:"name"`
		Secret    string `json:"secret"`
		ID        string `json:"webhook_id"`
		Timestamp int64  `json:"webhook_timestamp"`
		Body      string `json:"body"`
		Signature string `json:"webhook_signature"`
	} `json:"signatures"`
	InitializeMeta []struct {
		Name       string `json:"name"`
		Params     string `json:"params"`
		WebhookURL string `json:"webhook_url"`
		Want       string `json:"want"`
	} `json:"initialize_meta"`
}

func loadGolden(t *testing.T) golden {
	t.Helper()
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatalf("testdata/golden.json: %v", err)
	}
	return g
}

// TestGoldenSignatures checks Sign and Verify against vectors computed
// independently (Python hmac), the first being the Standard Webhooks
// specification's own example.
func TestGoldenSignatures(t *testing.T) {
	for _, v := range loadGolden(t).Signatures {
		got, err := Sign(v.Secret, v.ID, v.Timestamp, []byte(v.Body))
		if err != nil || got != v.Signature {
			t.Errorf("%s: Sign = %q, %v; want %q", v.Name, got, err, v.Signature)
		}
		h := http.Header{}
		h.Set(HeaderWebhookID, v.ID)
		h.Set(HeaderWebhookTimestamp, strconv.FormatInt(v.Timestamp, 10))
		h.Set(HeaderWebhookSignature, "v1,bm90IGl0 "+v.Signature) // several signatures: any may match
		if err := Verify(v.Secret, h, []byte(v.Body), time.Minute, time.Unix(v.Timestamp+30, 0)); err != nil {
			t.Errorf("%s: Verify: %v", v.Name, err)
		}
		if err := Verify(v.Secret, h, []byte(v.Body+" "), time.Minute, time.Unix(v.Timestamp, 0)); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: Verify of a changed body = %v, want ErrBadSignature", v.Name, err)
		}
		if err := Verify(v.Secret, h, []byte(v.Body), time.Minute, time.Unix(v.Timestamp+61, 0)); !errors.Is(err, ErrStaleTimestamp) {
			t.Errorf("%s: Verify 61s late = %v, want ErrStaleTimestamp", v.Name, err)
		}
	}
}

func TestGoldenInitializeMeta(t *testing.T) {
	for _, v := range loadGolden(t).InitializeMeta {
		got, err := withWebhookURL(json.RawMessage(v.Params), v.WebhookURL)
		if err != nil {
			t.Errorf("%s: %v", v.Name, err)
			continue
		}
		var a, b any
		json.Unmarshal(got, &a)
		json.Unmarshal([]byte(v.Want), &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: got %s, want %s", v.Name, got, v.Want)
		}
	}
	if _, err := withWebhookURL(json.RawMessage(`[1]`), "http://x"); err == nil {
		t.Errorf("withWebhookURL accepted array params")
	}
}

func TestCheckWebhookURL(t *testing.T) {
	allow := []string{"hooks.example.com", "api.example.org:8443", "*.corp.example"}
	cases := []struct {
		url      string
		loopback bool
		want     int
	}{
		{"https://hooks.example.com/mcp", false, 0},
		{"https://HOOKS.example.com:9999/mcp", false, 0},
		{"https://api.example.org:8443/x", false, 0},
		{"https://api.example.org/x", false, 403},
		{"https://a.b.corp.example/x", false, 0},
		{"https://corp.example/x", false, 403},
		{"https://evilcorp.example/x", false, 403},
		{"http://127.0.0.1:8080/h", false, 403},
		{"http://127.0.0.1:8080/h", true, 0},
		{"http://[::1]:8080/h", true, 0},
		{"http://localhost/h", true, 0},
		{"http://10.0.0.1/h", true, 403},
		{"http://169.254.169.254/latest/meta-data", false, 403},
		{"ftp://hooks.example.com/x", false, 400},
		{"/relative", false, 400},
		{"https://user:pw@hooks.example.com/", false, 400},
		{"http://%zz", false, 400},
	}
	for _, c := range cases {
		got, err := checkWebhookURL(c.url, allow, c.loopback)
		if got != c.want || (got == 0) != (err == nil) {
			t.Errorf("checkWebhookURL(%q, loopback=%v) = %d, %v; want %d", c.url, c.loopback, got, err, c.want)
		}
	}
	if st, _ := checkWebhookURL("https://anything.example/", []string{"*"}, false); st != 0 {
		t.Errorf(`"*" should allow any host`)
	}
}

func TestSeenIDs(t *testing.T) {
	s := seenIDs{window: time.Minute}
	now := time.Unix(1000, 0)
	if !s.add("a", now) || s.add("a", now.Add(time.Second)) {
		t.Fatal("a repeated id within the window must be reported")
	}
	if !s.add("a", now.Add(3*time.Minute)) {
		t.Error("an id is forgotten after twice the window (its timestamp is stale by then)")
	}
}
