// SPDX-License-Identifier: Apache-2.0

package webhook_test

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asyncmcp/asyncmcp-go/webhook"
)

// FuzzVerify checks the signature check on any headers and body: it never
// panics; it accepts a delivery only if one of its v1 signatures is the one
// Sign computes for the same secret, id, timestamp and body, and only
// within the tolerance; and it accepts what Sign signed, but not the same
// signature over a different body.
func FuzzVerify(f *testing.F) {
	f.Add("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_1", int64(1700000000), []byte(`{"jsonrpc":"2.0","id":1,"result":{}}`), "v1,AAAA", int64(0))
	f.Add("plain-secret", "msg_2", int64(1700000000), []byte(""), "v2,xx v1,", int64(-301))
	f.Add("whsec_!!", "", int64(-1), []byte("x"), "", int64(299))
	f.Fuzz(func(t *testing.T, secret, id string, ts int64, body []byte, sigs string, skew int64) {
		now := time.Unix(ts, 0).Add(time.Duration(skew) * time.Second)
		h := http.Header{}
		h.Set(webhook.HeaderWebhookID, id)
		h.Set(webhook.HeaderWebhookTimestamp, strconv.FormatInt(ts, 10))
		h.Set(webhook.HeaderWebhookSignature, sigs)
		want, signErr := webhook.Sign(secret, id, ts, body)
		if err := webhook.Verify(secret, h, body, time.Minute, now); err == nil {
			if signErr != nil || !slices.Contains(strings.Fields(h.Get(webhook.HeaderWebhookSignature)), want) {
				t.Fatalf("accepted signatures %q; the right one is %q (%v)", sigs, want, signErr)
			}
			if skew > 60 || skew < -60 {
				t.Fatalf("accepted a timestamp %ds away with a 1m tolerance", skew)
			}
		}
		if signErr != nil || id == "" || strings.ContainsAny(id, "\r\n") {
			return
		}
		h.Set(webhook.HeaderWebhookSignature, want)
		if err := webhook.Verify(secret, h, body, time.Minute, time.Unix(ts, 0)); err != nil {
			t.Fatalf("refused its own signature: %v", err)
		}
		if err := webhook.Verify(secret, h, append(body, 'x'), time.Minute, time.Unix(ts, 0)); err == nil {
			t.Fatalf("accepted the signature of %q for another body", body)
		}
	})
}
