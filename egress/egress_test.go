package egress_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/custodian-id/custodian/egress"
)

func TestInternal(t *testing.T) {
	for _, tc := range []struct {
		addr     string
		internal bool
	}{
		{"127.0.0.1", true},
		{"127.8.9.10", true},
		{"0.0.0.0", true},
		{"0.1.2.3", true},
		{"10.1.2.3", true},
		{"172.16.0.1", true},
		{"172.31.255.255", true},
		{"192.168.1.1", true},
		{"169.254.169.254", true},
		{"100.64.0.1", true},
		{"100.127.255.254", true},
		{"224.0.0.1", true},
		{"255.255.255.255", true},
		{"::", true},
		{"::1", true},
		{"fe80::1", true},
		{"fc00::1", true},
		{"fd12:3456::1", true},
		{"ff02::1", true},
		{"::ffff:127.0.0.1", true},
		{"::ffff:10.0.0.1", true},
		{"::ffff:169.254.169.254", true},
		{"64:ff9b::a9fe:a9fe", true}, // NAT64 of 169.254.169.254
		{"8.8.8.8", false},
		{"93.184.216.34", false},
		{"100.128.0.1", false},
		{"172.32.0.1", false},
		{"2001:4860:4860::8888", false},
		{"::ffff:8.8.8.8", false},
		{"64:ff9b::808:808", false},
	} {
		if got := egress.Internal(netip.MustParseAddr(tc.addr)); got != tc.internal {
			t.Errorf("Internal(%s) = %v, want %v", tc.addr, got, tc.internal)
		}
	}
}

func TestCheckURL(t *testing.T) {
	ctx := context.Background()
	refused := []string{"http://127.0.0.1:8080/hook", "https://[::1]/x", "https://localhost/x", "https://api.localhost/x",
		"https://10.0.0.5/x", "https://[::ffff:192.168.0.1]/x", "https://0.0.0.0/x", "https://100.64.1.1/x", "https://[fd00::1]/x"}
	for _, u := range refused {
		if err := (egress.Policy{}).CheckURL(ctx, u); !errors.Is(err, egress.ErrForbidden) {
			t.Errorf("CheckURL(%s) = %v, want ErrForbidden", u, err)
		}
		if err := (egress.Policy{AllowPrivate: true}).CheckURL(ctx, u); err != nil {
			t.Errorf("allowed: CheckURL(%s) = %v", u, err)
		}
	}
	if err := (egress.Policy{}).CheckURL(ctx, "https://8.8.8.8/hook"); err != nil {
		t.Errorf("public address refused: %v", err)
	}
}

// TestClientChecksAtConnectTime: the name passed the configuration check, but the
// address it resolves to when the call is made is loopback: the dial is refused.
func TestClientChecksAtConnectTime(t *testing.T) {
	hit := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit = true }))
	defer srv.Close()
	byName := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	for _, u := range []string{srv.URL, byName} {
		_, err := egress.Policy{}.Client(5 * time.Second).Get(u)
		if !errors.Is(err, egress.ErrForbidden) {
			t.Errorf("GET %s: %v, want ErrForbidden", u, err)
		}
	}
	if hit {
		t.Fatal("the internal server was reached")
	}
	resp, err := egress.Policy{AllowPrivate: true}.Client(5 * time.Second).Get(byName)
	if err != nil {
		t.Fatalf("allowed: %v", err)
	}
	resp.Body.Close()
	if !hit {
		t.Error("allowed call did not arrive")
	}
}

// TestClientChecksRedirects: a public-looking first hop cannot bounce the call inward.
func TestClientChecksRedirects(t *testing.T) {
	inner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer inner.Close()
	c := egress.Policy{}.Client(5 * time.Second)
	c.Transport = redirectingTransport{to: inner.URL, next: c.Transport}
	_, err := c.Get("https://example.invalid/start")
	if !errors.Is(err, egress.ErrForbidden) {
		t.Fatalf("redirect to loopback: %v", err)
	}
}

// redirectingTransport answers the first request itself with a redirect to an
// internal server and hands every other request to the guarded transport.
type redirectingTransport struct {
	to   string
	next http.RoundTripper
}

func (rt redirectingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == "example.invalid" {
		h := http.Header{}
		h.Set("Location", rt.to)
		return &http.Response{StatusCode: http.StatusFound, Header: h, Body: http.NoBody, Request: r}, nil
	}
	return rt.next.RoundTrip(r)
}
