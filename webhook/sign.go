// SPDX-License-Identifier: Apache-2.0

package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Standard Webhooks signature headers carried by every delivery.
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
)

// secretPrefix marks a secret whose key bytes are base64-encoded, as in the
// Standard Webhooks specification.
const secretPrefix = "whsec_"

// DefaultReplayTolerance is how far a delivery's webhook-timestamp may be from
// the receiver's clock before the delivery is rejected as a replay.
const DefaultReplayTolerance = 5 * time.Minute

// Errors returned by [Verify]. Each is wrapped with details.
var (
	ErrMissingSignature = errors.New("webhook: missing signature headers")
	ErrBadSignature     = errors.New("webhook: signature does not match")
	ErrStaleTimestamp   = errors.New("webhook: timestamp outside tolerance")
)

// GenerateSecret returns a new random signing secret in the Standard Webhooks
// form "whsec_<base64 of 32 random bytes>".
func GenerateSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("webhook: reading random bytes: %v", err)) // crypto/rand never fails on supported platforms
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// secretKey returns the HMAC key of secret: the base64-decoded tail of a
// "whsec_" secret, or the raw bytes of any other string.
func secretKey(secret string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(secret, secretPrefix); ok {
		key, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, fmt.Errorf("webhook: decoding secret %q...: %w", secretPrefix, err)
		}
		return key, nil
	}
	if secret == "" {
		return nil, errors.New("webhook: empty signing secret")
	}
	return []byte(secret), nil
}

// Sign returns the webhook-signature header value for a delivery:
// "v1," followed by the base64 HMAC-SHA256, keyed by secret, of
// "<msgID>.<timestamp>.<body>". timestamp is in Unix seconds.
func Sign(secret, msgID string, timestamp int64, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, msgID, timestamp, body)), nil
}

func mac(key []byte, msgID string, timestamp int64, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msgID))
	h.Write([]byte{'.'})
	h.Write([]byte(strconv.FormatInt(timestamp, 10)))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks the Standard Webhooks headers of a delivery against secret:
// the timestamp must be within tolerance of now (zero means
// [DefaultReplayTolerance]) and one of the space-separated "v1,<sig>" entries
// must match. It does not check for repeated ids; see [Client].
func Verify(secret string, h http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	if tolerance <= 0 {
		tolerance = DefaultReplayTolerance
	}
	id, ts, sigs := h.Get(HeaderWebhookID), h.Get(HeaderWebhookTimestamp), h.Get(HeaderWebhookSignature)
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: webhook-timestamp %q is not Unix seconds", ErrStaleTimestamp, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: webhook-timestamp %d is %s away from now", ErrStaleTimestamp, sec, d.Round(time.Second))
	}
	key, err := secretKey(secret)
	if err != nil {
		return err
	}
	want := mac(key, id, sec, body)
	for _, s := range strings.Fields(sigs) {
		v, sig, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			continue
		}
		if subtle.ConstantTimeCompare(got, want) == 1 {
			return nil
		}
	}
	return fmt.Errorf("%w: webhook-id %q", ErrBadSignature, id)
}

// seenIDs remembers delivery ids for the replay window so that a delivery
// repeated within it is not handed on twice.
type seenIDs struct {
	mu     sync.Mutex
	window time.Duration
	ids    map[string]time.Time
	last   time.Time // last prune
}

// add records id at now and reports whether it was new.
func (s *seenIDs) add(id string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = make(map[string]time.Time)
	}
	if now.Sub(s.last) > s.window/4 || len(s.ids) > 10000 {
		for k, t := range s.ids {
			// Keep ids for twice the window: a timestamp may be up to
			// window ahead of or behind the receiver's clock.
			if now.Sub(t) > 2*s.window {
				delete(s.ids, k)
			}
		}
		s.last = now
	}
	if _, ok := s.ids[id]; ok {
		return false
	}
	s.ids[id] = now
	return true
}
