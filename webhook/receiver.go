// SPDX-License-Identifier: Apache-2.0

package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/asyncmcp/asyncmcp-go/internal/httplimit"
	"github.com/asyncmcp/asyncmcp-go/internal/rpcmsg"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// A Receiver is the checking part of a client's delivery endpoint, shared
// by [Client] and package hybrid. Its ServeHTTP takes a POSTed delivery,
// finds the session it names, checks its signature and timestamp
// ([Verify]) and its webhook-id (a repeated one is answered
// {"status":"duplicate"} and dropped), decodes the JSON-RPC message and
// hands it to the session. A refused delivery is logged and answered with
// an HTTP error status and {"error": reason}.
type Receiver struct {
	// Name starts every log message, as in "webhook: rejected delivery".
	Name string
	// SessionHeader is the header that names a delivery's session.
	SessionHeader string
	// MaxBodyBytes caps a delivery body; a larger one gets HTTP 413.
	MaxBodyBytes int64
	// ReplayTolerance is how far a delivery's timestamp may be from now,
	// as in [Verify].
	ReplayTolerance time.Duration
	// AllowUnsigned accepts deliveries for a session whose secret is
	// empty. Without it they get HTTP 401.
	AllowUnsigned bool
	// Lookup returns the session sid names: nil for an unknown session
	// (HTTP 404), or a [*DeliveryError] to refuse the delivery.
	Lookup func(sid string) (ReceiverSession, error)
	// Logger receives the log lines. It must not be nil.
	Logger *slog.Logger
}

// A ReceiverSession is one client session as a [Receiver] sees it. A
// method fails with a [*DeliveryError] to refuse the delivery, or with the
// context's error when the request ended (nothing is answered then).
type ReceiverSession interface {
	// Secret returns the key that signs the session's deliveries, empty
	// if none is known. It may wait until the key is known.
	Secret(ctx context.Context) (string, error)
	// FirstSeen records the webhook-id of a verified delivery at now and
	// reports whether it is new; see [ReplayGuard].
	FirstSeen(id string, now time.Time) bool
	// Deliver hands a verified message to the session and returns the
	// "status" of the HTTP 200 answer, such as "success".
	Deliver(ctx context.Context, msg jsonrpc.Message) (string, error)
}

// A DeliveryError refuses a delivery: a [Receiver] answers it with Status
// and {"error": Reason}.
type DeliveryError struct {
	Status int
	Reason string
}

func (e *DeliveryError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Reason) }

// ServeHTTP receives one delivery.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sid := r.Header.Get(rc.SessionHeader)
	fail := func(status int, msg string) {
		rc.Logger.Warn(rc.Name+": rejected delivery", "status", status, "reason", msg,
			"session", sid, "webhook_id", r.Header.Get(HeaderWebhookID), "remote", r.RemoteAddr)
		b, _ := json.Marshal(map[string]string{"error": msg})
		writeJSON(w, status, b)
	}
	refuse := func(err error) {
		if de, ok := errors.AsType[*DeliveryError](err); ok {
			fail(de.Status, de.Reason)
		}
		// Otherwise the request ended: there is no one to answer.
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		fail(http.StatusMethodNotAllowed, "method "+r.Method+" not allowed; use POST")
		return
	}
	body, err := httplimit.ReadBody(w, r, rc.MaxBodyBytes, 0)
	if err != nil {
		if errors.Is(err, httplimit.ErrBodyTimeout) {
			fail(http.StatusRequestTimeout, err.Error())
			return
		}
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("delivery body exceeds %d bytes", rc.MaxBodyBytes))
			return
		}
		fail(http.StatusBadRequest, "reading delivery body: "+err.Error())
		return
	}
	s, err := rc.Lookup(sid)
	if err != nil {
		refuse(err)
		return
	}
	if s == nil {
		fail(http.StatusNotFound, fmt.Sprintf("unknown session %q", sid))
		return
	}
	secret, err := s.Secret(r.Context())
	if err != nil {
		refuse(err)
		return
	}
	now := time.Now()
	switch {
	case secret != "":
		if err := Verify(secret, r.Header, body, rc.ReplayTolerance, now); err != nil {
			fail(http.StatusUnauthorized, err.Error())
			return
		}
	case !rc.AllowUnsigned:
		fail(http.StatusUnauthorized, "no signing secret known for this session and unsigned deliveries are not allowed")
		return
	}
	if id := r.Header.Get(HeaderWebhookID); id != "" && !s.FirstSeen(id, now) {
		rc.Logger.Warn(rc.Name+": dropped repeated delivery", "session", sid, "webhook_id", id)
		writeJSON(w, http.StatusOK, []byte(`{"status":"duplicate"}`))
		return
	}
	msg, err := rpcmsg.Decode(body)
	if err != nil {
		fail(http.StatusBadRequest, "delivery is not a JSON-RPC message: "+err.Error())
		return
	}
	status, err := s.Deliver(r.Context(), msg)
	if err != nil {
		refuse(err)
		return
	}
	b, _ := json.Marshal(map[string]string{"status": status})
	writeJSON(w, http.StatusOK, b)
}

// A ReplayGuard remembers the webhook-ids of accepted deliveries for twice
// the replay tolerance, so that a delivery repeated while its timestamp is
// still valid is not handed on twice. It is safe for concurrent use.
type ReplayGuard struct{ seen seenIDs }

// NewReplayGuard returns a ReplayGuard for deliveries checked with
// tolerance (see [Verify]); zero means [DefaultReplayTolerance].
func NewReplayGuard(tolerance time.Duration) *ReplayGuard {
	if tolerance <= 0 {
		tolerance = DefaultReplayTolerance
	}
	return &ReplayGuard{seenIDs{window: tolerance}}
}

// FirstSeen records id at now and reports whether it is new.
func (g *ReplayGuard) FirstSeen(id string, now time.Time) bool { return g.seen.add(id, now) }

// RequestIDText renders a JSON-RPC id as the X-Request-ID header carries
// it: 7 for the number 7, abc for the string "abc".
func RequestIDText(id jsonrpc.ID) string { return idString(id) }

// InitializeWebhookURL returns params._meta.webhookUrl of an initialize
// request, or "" if it has none.
func InitializeWebhookURL(params json.RawMessage) string { return metaWebhookURL(params) }

// WithWebhookURL returns initialize params with _meta.webhookUrl set to u,
// unless they already name one. Every other member is kept byte for byte.
func WithWebhookURL(params json.RawMessage, u string) (json.RawMessage, error) {
	return withWebhookURL(params, u)
}

// ServeDeliveries serves h on its own listener at addr (for example
// "127.0.0.1:0") and returns the default webhook URL there,
// http://ADDR/webhook, and a stop function that closes the listener and
// every connection at once and waits for the server to return.
func ServeDeliveries(addr string, h http.Handler) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("listening for deliveries on %q: %w", addr, err)
	}
	srv := httplimit.Server(h, nil)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	var once sync.Once
	return "http://" + ln.Addr().String() + "/webhook", func() {
		// Close, not Shutdown: nothing is wanted any more, and Shutdown
		// waits up to 5s for connections dialed but not yet used.
		once.Do(func() { srv.Close(); <-done })
	}, nil
}
