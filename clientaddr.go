package custodian

// The client's address behind proxies: the TCP peer, or, when the peer is a trusted
// proxy (Config.TrustedProxies), the right-most address of its forwarding header that
// is not itself a trusted proxy. Everyone else's forwarding headers are ignored, so a
// shopper cannot choose the address that rate limits, lockout, audit events, devices
// and regions see.

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies reads a comma- or space-separated list of CIDRs (10.0.0.0/8,
// fd00::/8) or single addresses (192.0.2.7 is 192.0.2.7/32) as Config.TrustedProxies
// takes them. Every bad entry is reported at once.
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var (
		out []netip.Prefix
		bad []string
	)
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		p, err := parsePrefix(f)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%q", f))
			continue
		}
		out = append(out, p)
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("trusted proxies: want CIDRs such as 10.0.0.0/8 or addresses, got %s", strings.Join(bad, ", "))
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("not an address: %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// proxies is the set of trusted proxies.
type proxies []netip.Prefix

func (ps proxies) trusted(a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the address of the request's client. Without trusted proxies, or from
// a peer that is none, it is the TCP peer. From a trusted proxy it walks the chain of
// the forwarding header from the right: trusted proxies are skipped, the first address
// that is not one is the client. An entry that names no address (garbage, "unknown",
// an obfuscated node of RFC 7239) ends the walk at the proxy that wrote it: whatever
// stands left of it is not believed. Forwarded (RFC 7239) and X-Forwarded-For are both
// read; when both are present and name different clients, neither is believed and the
// nearest trusted proxy is the client, since a proxy that writes one of them may pass
// the other through from anybody.
func (ps proxies) clientAddr(r *http.Request) string {
	peer, ok := peerAddr(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if len(ps) == 0 || !ps.trusted(peer) {
		return peer.String()
	}
	fwd, hasFwd := r.Header["Forwarded"]
	xff, hasXFF := r.Header["X-Forwarded-For"]
	var got netip.Addr
	switch {
	case hasFwd && hasXFF:
		a, b := ps.walk(peer, forwardedFor(fwd)), ps.walk(peer, splitXFF(xff))
		got = a
		if a != b {
			got = peer
		}
	case hasFwd:
		got = ps.walk(peer, forwardedFor(fwd))
	case hasXFF:
		got = ps.walk(peer, splitXFF(xff))
	default:
		got = peer
	}
	return got.String()
}

// walk returns the right-most hop of chain that is not a trusted proxy. chain holds
// the entries as written, left to right; an entry that is not an address stops the
// walk at the trusted hop to its right.
func (ps proxies) walk(peer netip.Addr, chain []string) netip.Addr {
	last := peer
	for i := len(chain) - 1; i >= 0; i-- {
		a, ok := nodeAddr(chain[i])
		if !ok {
			return last
		}
		if !ps.trusted(a) {
			return a
		}
		last = a
	}
	return last
}

// peerAddr reads the TCP peer of RemoteAddr (host:port, or a bare address).
func peerAddr(remote string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// nodeAddr reads one hop: an IPv4 address, an IPv6 address (bare or in brackets), each
// optionally with a port ("192.0.2.1:443", "[2001:db8::1]:4711"). "unknown", obfuscated
// identifiers ("_hidden") and anything else are no address.
func nodeAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return netip.Addr{}, false
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return clean(ap.Addr())
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return clean(a)
}

func clean(a netip.Addr) (netip.Addr, bool) {
	if a.Zone() != "" || !a.IsValid() {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// splitXFF lists the hops of X-Forwarded-For, every header line in order.
func splitXFF(lines []string) []string {
	var out []string
	for _, l := range lines {
		out = append(out, strings.Split(l, ",")...)
	}
	return out
}

// forwardedFor lists the "for" node of each element of Forwarded (RFC 7239 §4), every
// header line in order. An element without a "for" parameter, or one that cannot be
// read, is listed as "" (no address), so the walk stops there.
func forwardedFor(lines []string) []string {
	var out []string
	for _, l := range lines {
		for _, el := range splitQuoted(l, ',') {
			node, ok := "", true
			for _, pair := range splitQuoted(el, ';') {
				pair = strings.TrimSpace(pair)
				if pair == "" {
					continue
				}
				k, v, found := strings.Cut(pair, "=")
				if !found {
					ok = false
					break
				}
				if !strings.EqualFold(strings.TrimSpace(k), "for") {
					continue
				}
				v, good := unquote(strings.TrimSpace(v))
				if !good || node != "" {
					ok = false // unreadable, or "for" twice
					break
				}
				node = v
			}
			if !ok {
				node = ""
			}
			out = append(out, node)
		}
	}
	return out
}

// splitQuoted splits s at sep outside quoted strings (RFC 7230 quoted-string, with
// backslash escapes).
func splitQuoted(s string, sep byte) []string {
	var (
		out    []string
		quoted bool
		start  int
	)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unquote reads a token or a quoted-string value.
func unquote(v string) (string, bool) {
	if !strings.HasPrefix(v, `"`) {
		return v, !strings.ContainsAny(v, `"\`)
	}
	if len(v) < 2 || !strings.HasSuffix(v, `"`) {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(v)-1; i++ {
		c := v[i]
		if c == '\\' {
			i++
			if i >= len(v)-1 {
				return "", false
			}
			c = v[i]
		} else if c == '"' {
			return "", false
		}
		b.WriteByte(c)
	}
	return b.String(), true
}
