// SPDX-License-Identifier: Apache-2.0

package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ErrAddressRefused reports a delivery whose host resolved to an address
// the server may not connect to.
var ErrAddressRefused = errors.New("webhook: address refused")

// An AddressPolicy says which network addresses deliveries may connect to.
// It is applied to the address actually dialed, after name resolution, so
// a host allowed by name (or by "*") cannot lead a delivery to a loopback,
// link-local (such as the cloud metadata service at 169.254.169.254) or
// private address unless that is allowed here. The zero value allows only
// public unicast addresses.
type AddressPolicy struct {
	// AllowLoopback allows loopback addresses (127.0.0.0/8, ::1) and the
	// unspecified address.
	AllowLoopback bool
	// AllowPrivate allows private (10/8, 172.16/12, 192.168/16, fc00::/7),
	// shared (100.64/10) and link-local (169.254/16, fe80::/10) addresses.
	AllowPrivate bool
}

var sharedSpace = netip.MustParsePrefix("100.64.0.0/10")

// Check reports whether a delivery may connect to ip.
func (p AddressPolicy) Check(ip netip.Addr) error {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return fmt.Errorf("%w: no valid IP address", ErrAddressRefused)
	case ip.IsLoopback() || ip.IsUnspecified():
		if p.AllowLoopback {
			return nil
		}
		return fmt.Errorf("%w: %s is a loopback address (allow loopback webhooks to deliver there)", ErrAddressRefused, ip)
	case ip.IsPrivate() || ip.IsLinkLocalUnicast() || sharedSpace.Contains(ip):
		if p.AllowPrivate {
			return nil
		}
		return fmt.Errorf("%w: %s is a private or link-local address (allow private webhooks to deliver there)", ErrAddressRefused, ip)
	case ip.IsMulticast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast():
		return fmt.Errorf("%w: %s is a multicast address", ErrAddressRefused, ip)
	}
	return nil
}

// checkAddr checks a "host:port" address as a dialer sees it.
func (p AddressPolicy) checkAddr(address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse dialed address %q: %v", ErrAddressRefused, address, err)
	}
	return p.Check(ap.Addr())
}

// guardClient returns a copy of c (nil means a pooled client without
// proxy) whose connections are checked against p, and that never follows
// redirects. A client whose Transport is not an *http.Transport cannot be
// checked; it is returned as it is, and the policy is not applied.
func guardClient(c *http.Client, p AddressPolicy) *http.Client {
	nc := noRedirectClient(c)
	if c == nil {
		tr := nc.Transport.(*http.Transport)
		// A proxy would make the checked address the proxy's.
		tr.Proxy = nil
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second,
			Control: func(_, address string, _ syscall.RawConn) error { return p.checkAddr(address) }}
		tr.DialContext = d.DialContext
		return nc
	}
	base := nc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	tr, ok := base.(*http.Transport)
	if !ok {
		return nc
	}
	tr = tr.Clone()
	dial := tr.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if err := p.checkAddr(conn.RemoteAddr().String()); err != nil {
			conn.Close()
			return nil, err
		}
		return conn, nil
	}
	nc.Transport = tr
	return nc
}

// NewAddressPolicy returns the policy for a server that delivers to
// allowedHosts (as in [ServerOptions.AllowedWebhookHosts]): loopback
// addresses are allowed with allowLoopback or when an entry names a
// loopback host literally ("localhost", "127.0.0.1:8080"); private and
// link-local ones with allowPrivate or when an entry is such an IP
// literal. Wildcards ("*", "*.example.com") never allow them.
func NewAddressPolicy(allowedHosts []string, allowLoopback, allowPrivate bool) AddressPolicy {
	p := AddressPolicy{AllowLoopback: allowLoopback, AllowPrivate: allowPrivate}
	for _, a := range allowedHosts {
		host := strings.ToLower(strings.TrimSpace(a))
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.Trim(host, "[]")
		if strings.HasPrefix(host, "*") {
			continue
		}
		if isLoopback(host) {
			p.AllowLoopback = true
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			ip = ip.Unmap()
			if ip.IsPrivate() || ip.IsLinkLocalUnicast() || sharedSpace.Contains(ip) {
				p.AllowPrivate = true
			}
		}
	}
	return p
}
