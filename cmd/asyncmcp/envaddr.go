// SPDX-License-Identifier: Apache-2.0

package main

import (
	"net"
	"os"
	"strconv"
)

// Listening address from the environment, for containers. A flag always
// wins; then ASYNCMCP_HOST and ASYNCMCP_PORT; then HOST and PORT (the names
// container platforms set).

// envHost returns the listening host from the environment, or "".
func envHost() string { return firstEnv("ASYNCMCP_HOST", "HOST") }

// envPort returns the listening port from the environment, or "".
func envPort() string { return firstEnv("ASYNCMCP_PORT", "PORT") }

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// listenFromEnv returns HOST:PORT from the environment when a port is set
// there (host 127.0.0.1 if none), for the serve transports that take a
// --listen address; "" when no port is set.
func listenFromEnv() string {
	port := envPort()
	if port == "" {
		return ""
	}
	host := envHost()
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// validPort reports whether s is a port number from 0 to 65535.
func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n <= 65535
}
