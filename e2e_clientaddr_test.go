package custodian_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"testing"

	"github.com/custodian-id/custodian"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// behindProxy makes the test's loopback peer a trusted proxy.
func behindProxy(c *custodian.Config) {
	c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// loginFrom signs in at the login API with extra headers (name, value pairs).
func loginFrom(t *testing.T, e *env, anonToken, email, password string, headers ...string) loginReply {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	return loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/login", string(body), append(jsonBearer(anonToken), headers...)...)
}

// lastEventIP is the address the newest security event recorded.
func lastEventIP(t *testing.T, e *env) string {
	t.Helper()
	evs, err := e.srv.Store().ListEvents(context.Background(), testTenant, nil, 1)
	if err != nil || len(evs) == 0 {
		t.Fatalf("events: %v %v", evs, err)
	}
	return evs[0].IP
}

// TestTrustedProxies: forwarding headers are believed from trusted proxies only, and
// the address they name is what the audit trail and the rate limits see.
func TestTrustedProxies(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name+"/untrusted peer", func(t *testing.T) {
			e := newEnv(t, b, func(c *custodian.Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} })
			anon := anonymousLogin(t, e)["access_token"].(string)
			loginFrom(t, e, anon, "nobody@example.com", "wrong password!", "X-Forwarded-For", "203.0.113.9", "Forwarded", "for=203.0.113.9")
			if ip := lastEventIP(t, e); ip != "127.0.0.1" {
				t.Errorf("a spoofed header from an untrusted peer was believed: %q", ip)
			}
		})
	}
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b, behindProxy)
			anon := anonymousLogin(t, e)["access_token"].(string)
			for _, c := range []struct{ name, value, want string }{
				{"X-Forwarded-For", "198.51.100.1, 203.0.113.9", "203.0.113.9"},
				{"X-Forwarded-For", "2001:db8::9", "2001:db8::9"},
				{"X-Forwarded-For", "garbage", "127.0.0.1"},
				{"Forwarded", `for="[2001:db8::7]:4711";proto=https`, "2001:db8::7"},
				{"Forwarded", "for=_hidden", "127.0.0.1"},
			} {
				loginFrom(t, e, anon, "nobody@example.com", "wrong password!", c.name, c.value)
				if ip := lastEventIP(t, e); ip != c.want {
					t.Errorf("%s: %s: recorded %q, want %q", c.name, c.value, ip, c.want)
				}
			}
		})
	}
}

// TestAttackerBehindProxyDoesNotSlowOthers is the "done means": behind a trusted
// proxy, an attacker hammering wrong passwords is limited at their own address while
// another shopper, at another address, still signs in. Without the proxy trusted, the
// same flood made the shopper's correct password answer 429.
func TestAttackerBehindProxyDoesNotSlowOthers(t *testing.T) {
	for _, trusted := range []bool{true, false} {
		for _, b := range storagetest.Backends(t) {
			t.Run(fmt.Sprintf("%s/trusted=%v", b.Name, trusted), func(t *testing.T) {
				var opts []envOption
				if trusted {
					opts = append(opts, behindProxy)
				}
				e := newEnv(t, b, opts...)
				e.clock.Advance(0) // pinned: the flood stays in one rate-limit window
				anon := anonymousLogin(t, e)["access_token"].(string)
				var last loginReply
				for i := range 61 { // the per-address limit is 60 a minute
					last = loginFrom(t, e, anon, fmt.Sprintf("victim%d@example.com", i%6), "wrong password!",
						"X-Forwarded-For", "203.0.113.66")
				}
				wantLoginError(t, "the attacker's 61st attempt", last, http.StatusTooManyRequests, "too_many_requests")
				got := loginFrom(t, e, anon, shopperEmail, shopperPass, "X-Forwarded-For", "198.51.100.7")
				switch {
				case trusted && got.status != http.StatusOK:
					t.Errorf("the shopper at another address: %d %s", got.status, got.raw)
				case !trusted && got.status != http.StatusTooManyRequests:
					t.Errorf("without trusted proxies every caller shares the proxy's address: %d %s", got.status, got.raw)
				}
			})
		}
	}
}

// TestShopperIPBehavior: X-Shopper-IP names the shopper only for a confidential client
// holding customer-auth:forward-shopper-ip, on the ticket and the login API.
func TestShopperIPBehavior(t *testing.T) {
	const fwdID, fwdSecret = "fwd-backend", "fwd-backend-secret-0123456789-abcdefghij"
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			if _, err := e.srv.OAuth.CreateClient(context.Background(), &oauth.Client{
				Tenant: testTenant, ID: fwdID, GrantTypes: []string{identity.GrantClientCredentials, identity.GrantAnonymous},
				Behaviors: []string{oauth.BehaviorForwardShopperIP},
			}, fwdSecret); err != nil {
				t.Fatal(err)
			}
			tickets := "/api/commerce/customer/authtickets"
			wrong := `{"username":"nobody@example.com","password":"wrong password!"}`
			fwdApp := []string{"x-vol-tenant", testTenant, "Authorization", "Bearer " + appToken(t, e, fwdID, fwdSecret)}
			otherApp := []string{"x-vol-tenant", testTenant, "Authorization", "Bearer " + appToken(t, e, backendID, backendSec)}

			t.Run("ticket API", func(t *testing.T) {
				got := ticketCall(t, e, http.MethodPost, tickets, wrong, append(fwdApp, "X-Shopper-IP", "203.0.113.50")...)
				if got.status != http.StatusUnauthorized || lastEventIP(t, e) != "203.0.113.50" {
					t.Errorf("allowed client: %d %s, recorded %q", got.status, got.raw, lastEventIP(t, e))
				}
				got = ticketCall(t, e, http.MethodPost, tickets, wrong, append(fwdApp, "X-Shopper-IP", "[2001:db8::50]")...)
				if got.status != http.StatusUnauthorized || lastEventIP(t, e) != "2001:db8::50" {
					t.Errorf("allowed client, IPv6: %d %s, recorded %q", got.status, got.raw, lastEventIP(t, e))
				}
				for _, bad := range []string{"203.0.113.50, 198.51.100.1", "not-an-ip", "203.0.113.50:80", "fe80::1%eth0", ""} {
					got = ticketCall(t, e, http.MethodPost, tickets, wrong, append(fwdApp, "X-Shopper-IP", bad)...)
					wantTicketError(t, "malformed X-Shopper-IP "+bad, got, http.StatusBadRequest, "MISSING_OR_INVALID_PARAMETER")
				}
				got = ticketCall(t, e, http.MethodPost, tickets, wrong, append(otherApp, "X-Shopper-IP", "203.0.113.51")...)
				if got.status != http.StatusUnauthorized || lastEventIP(t, e) != "127.0.0.1" {
					t.Errorf("client without the behavior: %d %s, recorded %q", got.status, got.raw, lastEventIP(t, e))
				}
				got = ticketCall(t, e, http.MethodPost, tickets, wrong, append(otherApp, "X-Shopper-IP", "not-an-ip")...)
				wantTicketError(t, "a malformed header of a client without the behavior is ignored", got, http.StatusUnauthorized, "UNAUTHORIZED")
			})

			t.Run("login API", func(t *testing.T) {
				got := ticketCall(t, e, http.MethodGet, tickets+"/anonymousshopper", "", fwdApp...)
				fwdAnon, _ := got.body["accessToken"].(string)
				if fwdAnon == "" {
					t.Fatalf("anonymous ticket: %d %s", got.status, got.raw)
				}
				lg := loginFrom(t, e, fwdAnon, "nobody@example.com", "wrong password!", "X-Shopper-IP", "203.0.113.60")
				if lg.status != http.StatusUnauthorized || lastEventIP(t, e) != "203.0.113.60" {
					t.Errorf("allowed client: %d %s, recorded %q", lg.status, lg.raw, lastEventIP(t, e))
				}
				lg = loginFrom(t, e, fwdAnon, "nobody@example.com", "wrong password!", "X-Shopper-IP", "203.0.113.60.1")
				wantLoginError(t, "malformed X-Shopper-IP", lg, http.StatusBadRequest, "bad_request", "X-Shopper-IP")
				spaAnon := anonymousLogin(t, e)["access_token"].(string)
				lg = loginFrom(t, e, spaAnon, "nobody@example.com", "wrong password!", "X-Shopper-IP", "203.0.113.61")
				if lg.status != http.StatusUnauthorized || lastEventIP(t, e) != "127.0.0.1" {
					t.Errorf("a public storefront's header: %d %s, recorded %q", lg.status, lg.raw, lastEventIP(t, e))
				}
				lg = loginFrom(t, e, spaAnon, "nobody@example.com", "wrong password!", "X-Shopper-IP", "junk")
				wantLoginError(t, "a public storefront's malformed header is ignored", lg, http.StatusUnauthorized, "unauthorized")
			})
		})
	}
}
