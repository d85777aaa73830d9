// Package egress is Custodian's one rule for the HTTP calls it makes to addresses that
// a tenant's administrator configures (upstream providers' discovery documents, keys
// and token endpoints; notification webhooks): they must not reach the server's own
// networks. A URL is checked when it is configured, and every connection is checked
// again when it is made, against the address it actually dials, so a name that
// resolves to an internal address later (or a redirect to one) is refused too.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrForbidden: the address is loopback, link-local, private or otherwise internal.
var ErrForbidden = errors.New("outgoing calls to loopback, link-local, private and other internal addresses are not allowed (the operator can allow them with CUSTODIAN_ALLOW_PRIVATE_URLS=true)")

// Policy says where outgoing calls may go. The zero value refuses internal addresses.
type Policy struct {
	// AllowPrivate lets calls reach internal addresses: local development, and tests
	// that run an upstream provider or a webhook receiver on loopback.
	AllowPrivate bool
	// Resolver resolves host names when a URL is checked (default: net.DefaultResolver).
	Resolver *net.Resolver
}

// internalPrefixes are the ranges netip's predicates do not name: shared address
// space (CGNAT), "this network", IETF protocol assignments, benchmarking, reserved and
// broadcast, the discard prefix, and the deprecated IPv6 site-local range.
var internalPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("100::/64"),
	netip.MustParsePrefix("fec0::/10"),
}

// embedsIPv4 are IPv6 prefixes whose low 32 bits are an IPv4 address a gateway
// forwards to: NAT64 (64:ff9b::/96) and the deprecated IPv4-compatible form (::/96).
var embedsIPv4 = []netip.Prefix{
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("::/96"),
}

// Internal reports whether an address is one outgoing calls must not reach without
// the operator's permission: unspecified (0.0.0.0, ::), loopback, private (RFC 1918,
// IPv6 unique-local fc00::/7), link-local (169.254/16, fe80::/10), multicast, CGNAT
// (100.64/10) and the other special-purpose ranges above. IPv4-mapped IPv6 addresses
// (::ffff:127.0.0.1) are judged as the IPv4 address they map.
func Internal(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsMulticast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() {
		return true
	}
	if ip.Is4() && ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return true
	}
	for _, p := range internalPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	if ip.Is6() {
		for _, p := range embedsIPv4 {
			if p.Contains(ip) {
				b := ip.As16()
				return Internal(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
			}
		}
	}
	return false
}

// CheckURL checks a URL when it is configured: an IP literal must not be internal, a
// local name (localhost, *.localhost) is refused, and a name that resolves now must
// not resolve to an internal address. A name that does not resolve yet is accepted:
// every connection is checked when it is made.
func (p Policy) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return fmt.Errorf("URL %q has no host", raw)
	}
	if p.AllowPrivate {
		return nil
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		if Internal(ip) {
			return fmt.Errorf("%w: %s", ErrForbidden, host)
		}
		return nil
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return fmt.Errorf("%w: %s", ErrForbidden, host)
	}
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if Internal(a) {
			return fmt.Errorf("%w: %s resolves to %s", ErrForbidden, host, a.Unmap())
		}
	}
	return nil
}

// control is the dialer's hook: it sees the address a connection is about to be made
// to, after name resolution, and refuses internal ones.
func (p Policy) control(_, address string, _ syscall.RawConn) error {
	if p.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot tell what %q is", ErrForbidden, address)
	}
	if Internal(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrForbidden, ap.Addr().Unmap())
	}
	return nil
}

// Client returns an HTTP client whose every connection, redirects included, is
// checked against the policy. It connects directly: proxies from the environment are
// not used, since the address a proxy dials cannot be checked.
func (p Policy) Client(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: p.control}
	t := &http.Transport{
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{Timeout: timeout, Transport: t}
}
