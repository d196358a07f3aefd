// SPDX-License-Identifier: Apache-2.0

// Package httplimit holds the time and size limits every HTTP listener of
// the project applies, so that a slow or idle client cannot hold a
// connection, a goroutine or a buffer forever.
//
// http.Server's ReadTimeout is not used: it also bounds the background read
// that net/http runs while a handler streams its response, so it would cut
// long-lived SSE streams. Bodies get a deadline of their own instead
// ([ReadBody]), cleared once the body has been read.
package httplimit

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"
)

// Defaults for every listener.
const (
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout = 10 * time.Second
	// IdleTimeout closes a keep-alive connection with no request for this long.
	IdleTimeout = 2 * time.Minute
	// BodyTimeout bounds reading one request body.
	BodyTimeout = 30 * time.Second
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes = 64 << 10
)

// Server returns an http.Server for h with the project's limits:
// ReadHeaderTimeout, IdleTimeout and MaxHeaderBytes, and net/http's own log
// lines (TLS handshake errors, panics) sent to log at warning level.
func Server(h http.Handler, log *slog.Logger) *http.Server {
	if log == nil {
		log = slog.Default()
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// ErrBodyTimeout reports a request body that did not arrive in time.
var ErrBodyTimeout = errors.New("request body not received in time")

// ReadBody reads r's body, at most limit bytes, within timeout (zero means
// BodyTimeout). A body over the limit fails with an *http.MaxBytesError,
// one that is too slow with an error wrapping ErrBodyTimeout. The read
// deadline is cleared afterwards, so a response streamed after it is not
// cut.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64, timeout time.Duration) ([]byte, error) {
	if timeout <= 0 {
		timeout = BodyTimeout
	}
	rc := http.NewResponseController(w)
	// Not every ResponseWriter supports deadlines (httptest recorders do
	// not); the size limit still applies then.
	hasDeadline := rc.SetReadDeadline(time.Now().Add(timeout)) == nil
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		// The deadline stays: the connection is closed after the answer
		// rather than waiting for the rest of the body.
		w.Header().Set("Connection", "close")
		return nil, fmt.Errorf("%w (%s): %w", ErrBodyTimeout, timeout, err)
	}
	if hasDeadline {
		rc.SetReadDeadline(time.Time{})
	}
	return body, err
}
