package custodian

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestClientAddr: whose forwarding headers are believed and which hop is the client.
func TestClientAddr(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 192.0.2.7 fd00::/8,::ffff:172.16.0.0/108")
	if err != nil {
		t.Fatal(err)
	}
	type hdr = map[string][]string
	cases := []struct {
		name    string
		proxies []string // nil: the trusted list above
		peer    string
		headers hdr
		want    string
	}{
		{name: "no proxies configured: the peer, headers ignored", proxies: []string{}, peer: "10.1.2.3:5555",
			headers: hdr{"X-Forwarded-For": {"203.0.113.9"}}, want: "10.1.2.3"},
		{name: "untrusted peer spoofs X-Forwarded-For", peer: "198.51.100.4:5555",
			headers: hdr{"X-Forwarded-For": {"203.0.113.9"}}, want: "198.51.100.4"},
		{name: "untrusted peer spoofs Forwarded", peer: "198.51.100.4:5555",
			headers: hdr{"Forwarded": {"for=203.0.113.9"}}, want: "198.51.100.4"},
		{name: "trusted peer without headers", peer: "10.0.0.1:1", want: "10.0.0.1"},
		{name: "trusted peer, one hop", peer: "10.0.0.1:1",
			headers: hdr{"X-Forwarded-For": {"203.0.113.9"}}, want: "203.0.113.9"},
		{name: "the shopper's own entry left of the proxy's is not believed", peer: "10.0.0.1:1",
			headers: hdr{"X-Forwarded-For": {"1.1.1.1, 203.0.113.9"}}, want: "203.0.113.9"},
		{name: "several trusted hops", peer: "10.0.0.1:1",
			headers: hdr{"X-Forwarded-For": {"6.6.6.6, 203.0.113.9, 192.0.2.7", "10.9.9.9"}}, want: "203.0.113.9"},
		{name: "a spoofed trusted address left of the client stays left", peer: "10.0.0.1:1",
			headers: hdr{"X-Forwarded-For": {"10.5.5.5, 203.0.113.9"}}, want: "203.0.113.9"},
		{name: "every hop trusted: the left-most", peer: "10.0.0.1:1",
			headers: hdr{"X-Forwarded-For": {"10.3.3.3, 10.2.2.2"}}, want: "10.3.3.3"},
		{name: "garbage right of the client stops at the proxy that wrote it", peer: "10.0.0.1:1",
			headers: hdr{"X-Forwarded-For": {"203.0.113.9, not-an-ip"}}, want: "10.0.0.1"},
		{name: "garbage after a trusted hop: that hop", peer: "10.0.0.1:1",
			headers: hdr{"X-Forwarded-For": {"203.0.113.9, <script>, 10.4.4.4"}}, want: "10.4.4.4"},
		{name: "empty entry", peer: "10.0.0.1:1",
			headers: hdr{"X-Forwarded-For": {"203.0.113.9,"}}, want: "10.0.0.1"},
		{name: "a zone is no address", peer: "10.0.0.1:1",
			headers: hdr{"X-Forwarded-For": {"fe80::1%eth0"}}, want: "10.0.0.1"},
		{name: "address with port in X-Forwarded-For", peer: "10.0.0.1:1",
			headers: hdr{"X-Forwarded-For": {"203.0.113.9:4711"}}, want: "203.0.113.9"},
		{name: "IPv6 client", peer: "10.0.0.1:1",
			headers: hdr{"X-Forwarded-For": {"2001:db8::1"}}, want: "2001:db8::1"},
		{name: "IPv6 trusted peer", peer: "[fd00::5]:443",
			headers: hdr{"X-Forwarded-For": {"2001:db8::2, fd12::1"}}, want: "2001:db8::2"},
		{name: "IPv4-mapped peer is the IPv4 proxy", peer: "[::ffff:10.0.0.1]:443",
			headers: hdr{"X-Forwarded-For": {"::ffff:203.0.113.9"}}, want: "203.0.113.9"},
		{name: "mapped CIDR trusts the IPv4 range", peer: "172.16.3.3:1",
			headers: hdr{"X-Forwarded-For": {"203.0.113.9"}}, want: "203.0.113.9"},
		{name: "Forwarded, one element", peer: "10.0.0.1:1",
			headers: hdr{"Forwarded": {"for=203.0.113.9;proto=https;by=10.0.0.1"}}, want: "203.0.113.9"},
		{name: "Forwarded, quoted IPv6 with port, case-insensitive name", peer: "10.0.0.1:1",
			headers: hdr{"Forwarded": {`For="[2001:db8:cafe::17]:4711"`}}, want: "2001:db8:cafe::17"},
		{name: "Forwarded, chain over two lines with a trusted hop", peer: "10.0.0.1:1",
			headers: hdr{"Forwarded": {"for=6.6.6.6, for=203.0.113.9", `for="10.8.8.8";proto=http`}}, want: "203.0.113.9"},
		{name: "Forwarded, quoted comma does not split", peer: "10.0.0.1:1",
			headers: hdr{"Forwarded": {`for=203.0.113.9;host="a,b"`}}, want: "203.0.113.9"},
		{name: "Forwarded, obfuscated node stops the walk", peer: "10.0.0.1:1",
			headers: hdr{"Forwarded": {"for=203.0.113.9, for=_hidden"}}, want: "10.0.0.1"},
		{name: "Forwarded, unknown stops the walk", peer: "10.0.0.1:1",
			headers: hdr{"Forwarded": {"for=unknown"}}, want: "10.0.0.1"},
		{name: "Forwarded, element without for", peer: "10.0.0.1:1",
			headers: hdr{"Forwarded": {"for=6.6.6.6, proto=https"}}, want: "10.0.0.1"},
		{name: "Forwarded, for given twice", peer: "10.0.0.1:1",
			headers: hdr{"Forwarded": {"for=6.6.6.6;for=203.0.113.9"}}, want: "10.0.0.1"},
		{name: "Forwarded, unterminated quote", peer: "10.0.0.1:1",
			headers: hdr{"Forwarded": {`for="203.0.113.9`}}, want: "10.0.0.1"},
		{name: "Forwarded, bracketless IPv6 with a port is garbage", peer: "10.0.0.1:1",
			headers: hdr{"Forwarded": {`for="2001:db8::1:4711]"`}}, want: "10.0.0.1"},
		{name: "both headers agree", peer: "10.0.0.1:1",
			headers: hdr{"Forwarded": {"for=203.0.113.9"}, "X-Forwarded-For": {"203.0.113.9"}}, want: "203.0.113.9"},
		{name: "both headers disagree: the nearest proxy", peer: "10.0.0.1:1",
			headers: hdr{"Forwarded": {"for=6.6.6.6"}, "X-Forwarded-For": {"203.0.113.9"}}, want: "10.0.0.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ps := proxies(trusted)
			if c.proxies != nil {
				ps = nil
			}
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = c.peer
			for k, v := range c.headers {
				r.Header[k] = v
			}
			if got := ps.clientAddr(r); got != c.want {
				t.Errorf("client %q, want %q", got, c.want)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies(" 10.0.0.0/8,2001:db8::/32  192.0.2.1 ")
	if err != nil || len(got) != 3 || got[2].String() != "192.0.2.1/32" {
		t.Fatalf("%v %v", got, err)
	}
	if got, err := ParseTrustedProxies(""); err != nil || len(got) != 0 {
		t.Errorf("empty: %v %v", got, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.1/8/8", "fe80::1%eth0"} {
		if _, err := ParseTrustedProxies("10.0.0.0/8," + bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
