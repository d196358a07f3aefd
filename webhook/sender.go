// SPDX-License-Identifier: Apache-2.0

package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/metrics"
)

// A Sender POSTs signed webhook deliveries with retries. It is what a
// [Server] delivers with, exported for other webhook-based transports. The
// zero value uses the defaults of [ServerOptions].
type Sender struct {
	// Retries is how many times a failed attempt is retried (network
	// errors, timeouts, 408, 429, 5xx). Zero means DefaultRetries;
	// negative means none.
	Retries int
	// Timeout bounds one attempt. Zero means DefaultTimeout.
	Timeout time.Duration
	// RetryBackoff is the base of the exponential backoff between attempts
	// (doubling, capped at 30s, each wait uniform in [d/2, d]). Zero means
	// DefaultRetryBackoff.
	RetryBackoff time.Duration
	// HTTPClient makes the requests; nil means a pooled client (which
	// ignores proxy settings). Redirects are never followed.
	HTTPClient *http.Client
	// Addresses says which resolved addresses deliveries may connect to;
	// the zero value allows public addresses only. It is applied when
	// HTTPClient is nil or its Transport is an *http.Transport.
	Addresses AddressPolicy
	// Logger receives a debug line per retry. Nil means slog.Default().
	Logger *slog.Logger

	once   sync.Once
	client *http.Client
}

func (s *Sender) init() {
	s.once.Do(func() {
		s.client = guardClient(s.HTTPClient, s.Addresses)
		if s.Logger == nil {
			s.Logger = slog.Default()
		}
	})
}

// noRedirectClient returns a copy of c (or a pooled default) that never
// follows redirects.
func noRedirectClient(c *http.Client) *http.Client {
	var nc http.Client
	if c != nil {
		nc = *c
	} else {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		nc.Transport = tr
	}
	nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &nc
}

// Deliver POSTs body (a JSON-RPC message) to url with header plus
// Content-Type, User-Agent and the Standard Webhooks headers, signed with
// secret under one webhook-id for all attempts. It retries as configured
// and returns how many attempts it made and, if all failed, the last error.
// A 2xx reply is success; any other status not listed as retryable,
// including a redirect, fails at once.
func (s *Sender) Deliver(ctx context.Context, url, secret string, header http.Header, body []byte) (attempts int, err error) {
	s.init()
	defer func() { metrics.WebhookDelivered(attempts, err) }()
	retries := s.Retries
	if retries == 0 {
		retries = DefaultRetries
	}
	backoff := s.RetryBackoff
	if backoff <= 0 {
		backoff = DefaultRetryBackoff
	}
	msgID := "msg_" + newID()
	for attempts = 1; ; attempts++ {
		retry, err := s.attempt(ctx, url, secret, msgID, header, body)
		if err == nil {
			return attempts, nil
		}
		if !retry || attempts > retries || ctx.Err() != nil {
			return attempts, err
		}
		d := min(backoff<<(attempts-1), maxRetryBackoff)
		d = d/2 + mrand.N(d/2+1)
		s.Logger.Debug("webhook: delivery failed, retrying", "url", url, "webhook_id", msgID, "attempt", attempts, "backoff", d, "error", err)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return attempts, fmt.Errorf("%w (gave up waiting to retry: %v)", err, ctx.Err())
		}
	}
}

// attempt makes one POST and reports whether its failure is worth retrying.
func (s *Sender) attempt(ctx context.Context, url, secret, msgID string, header http.Header, body []byte) (retry bool, err error) {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("building delivery to %q: %w", url, err)
	}
	ts := time.Now().Unix()
	sig, err := Sign(secret, msgID, ts, body)
	if err != nil {
		return false, err
	}
	h := req.Header
	for k, v := range header {
		h[k] = v
	}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", UserAgent)
	h.Set(HeaderWebhookID, msgID)
	h.Set(HeaderWebhookTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderWebhookSignature, sig)
	resp, err := s.client.Do(req)
	if err != nil {
		return true, fmt.Errorf("POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	_, text := replyError(rb)
	c := resp.StatusCode
	return c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500,
		fmt.Errorf("POST %s: HTTP %d: %s", url, c, text)
}
