package custodian_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// rowsNow counts the rows of every table.
func rowsNow(t *testing.T, e *env) map[string]int {
	t.Helper()
	counts, err := e.srv.Store().RowCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return counts
}

// grown names the tables that gained rows between two counts.
func grown(before, after map[string]int) map[string]int {
	out := map[string]int{}
	for table, n := range after {
		if n > before[table] {
			out[table] = n - before[table]
		}
	}
	return out
}

// TestAnonymousStateless: anonymous tokens write no rows, at any of their three doors
// (login API, ticket API, token endpoint), nor when refreshed; they still refresh with
// the same session id, validate, introspect, carry their session into a sign-in, and a
// tampered or misused one is refused.
func TestAnonymousStateless(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			app := appToken(t, e, backendID, backendSec)
			before := rowsNow(t, e)
			const n = 40
			var last map[string]any
			for range n {
				last = anonymousLogin(t, e)
				if got := ticketCall(t, e, http.MethodGet, "/api/commerce/customer/authtickets/anonymousshopper", "",
					"x-vol-tenant", testTenant, "Authorization", "Bearer "+app); got.status != http.StatusOK {
					t.Fatalf("anonymous ticket: %d %s", got.status, got.raw)
				}
				anonymousToken(t, e)
			}
			// Refreshing costs nothing either.
			refreshed := loginCall(t, e, http.MethodGet, "/customerlogin/auth/anonymous/refresh?"+url.Values{"tenant": {testTenant},
				"client_id": {spaClient}, "refresh_token": {last["refresh_token"].(string)}}.Encode(), "")
			if refreshed.status != http.StatusOK || refreshed.body["sessionId"] != last["sessionId"] || refreshed.body["access_token"] == last["access_token"] {
				t.Fatalf("anonymous refresh: %d %s (was %v)", refreshed.status, refreshed.raw, last)
			}
			if s, body := refresh(t, e, anonymousToken(t, e)["refresh_token"].(string)); s != http.StatusOK || body["session_id"] == nil {
				t.Fatalf("anonymous refresh at /token: %d %v", s, body)
			}
			if g := grown(before, rowsNow(t, e)); len(g) != 0 {
				t.Errorf("%d anonymous tokens at each door wrote rows: %v", n, g)
			}

			// The refreshed token works where an anonymous token is used, and its session
			// carries into the sign-in (cart continuity).
			anon := refreshed.body["access_token"].(string)
			lg := loginWith(t, e, anon, shopperEmail, shopperPass)
			if lg.status != http.StatusOK || lg.body["session_id"] != last["sessionId"] {
				t.Fatalf("login with a refreshed anonymous token: %d %s, want session %v", lg.status, lg.raw, last["sessionId"])
			}
			if in := introspect(t, e, anon); in["active"] != true || in["anonymous"] != true {
				t.Errorf("introspection of an anonymous token: %v", in)
			}

			// Tampered, swapped and foreign tokens are refused.
			payload, mac, _ := strings.Cut(strings.TrimPrefix(anon, "cat_"), ".")
			flipped := []byte(payload)
			flipped[len(flipped)/2] ^= 1
			rt := refreshed.body["refresh_token"].(string)
			for name, tok := range map[string]string{
				"payload changed":         "cat_" + string(flipped) + "." + mac,
				"signature cut":           "cat_" + payload + "." + mac[:len(mac)-2],
				"refresh token as access": rt,
				"no signature":            "cat_" + payload,
			} {
				if got := loginWith(t, e, tok, shopperEmail, shopperPass); got.status != http.StatusUnauthorized {
					t.Errorf("%s: login answered %d %s", name, got.status, got.raw)
				}
			}
			got := loginCall(t, e, http.MethodGet, "/customerlogin/auth/anonymous/refresh?"+url.Values{"tenant": {testTenant},
				"client_id": {spaClient}, "refresh_token": {anon}}.Encode(), "")
			wantLoginError(t, "access token as refresh token", got, http.StatusUnauthorized, "unauthorized")
			if s, body := refresh(t, e, "cat_"+string(flipped)+"."+mac); s != http.StatusBadRequest || body["error"] != "invalid_grant" {
				t.Errorf("tampered refresh at /token: %d %v", s, body)
			}
		})
	}
}

// TestAnonymousPerClientLimit: ratelimit.anonymous_per_client bounds new anonymous
// tokens per client and address, with 429 and Retry-After in each API's shape; 0
// switches it off.
func TestAnonymousPerClientLimit(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx := context.Background()
			app := appToken(t, e, backendID, backendSec)
			if _, err := e.srv.OAuth.UpdateTenantSettings(ctx, testTenant, map[string]string{"ratelimit.anonymous_per_client": "3"}); err != nil {
				t.Fatal(err)
			}
			wantRetry := func(what string, h http.Header) {
				t.Helper()
				if s, err := strconv.Atoi(h.Get("Retry-After")); err != nil || s < 1 || s > 60 {
					t.Errorf("%s: Retry-After %q", what, h.Get("Retry-After"))
				}
			}
			anonLogin := func() loginReply {
				return loginCall(t, e, http.MethodGet, "/customerlogin/auth/anonymous/login?tenant="+testTenant+"&client_id="+spaClient, "")
			}
			for i := range 3 {
				if got := anonLogin(); got.status != http.StatusOK {
					t.Fatalf("anonymous token %d: %d %s", i, got.status, got.raw)
				}
			}
			got := anonLogin()
			wantLoginError(t, "fourth anonymous token", got, http.StatusTooManyRequests, "too_many_requests")
			wantRetry("login API", got.header)
			// The token endpoint counts the same client in the same bucket.
			status, body := tokenRequest(t, e, url.Values{"grant_type": {"urn:custodian:grant-type:anonymous"}, "client_id": {spaClient}})
			if status != http.StatusTooManyRequests || body["error"] != "slow_down" {
				t.Errorf("token endpoint past the limit: %d %v", status, body)
			}
			// Another client has its own bucket; the ticket API answers in its shape.
			tk := func() ticketReply {
				return ticketCall(t, e, http.MethodGet, "/api/commerce/customer/authtickets/anonymousshopper", "",
					"x-vol-tenant", testTenant, "Authorization", "Bearer "+app)
			}
			for i := range 3 {
				if got := tk(); got.status != http.StatusOK {
					t.Fatalf("anonymous ticket %d: %d %s", i, got.status, got.raw)
				}
			}
			wantTicketError(t, "fourth anonymous ticket", tk(), http.StatusTooManyRequests, "TOO_MANY_REQUESTS")

			// The window passes.
			e.clock.Advance(61 * time.Second)
			if got := anonLogin(); got.status != http.StatusOK {
				t.Errorf("after a minute: %d %s", got.status, got.raw)
			}
			// 0 switches the limit off.
			if _, err := e.srv.OAuth.UpdateTenantSettings(ctx, testTenant, map[string]string{"ratelimit.anonymous_per_client": "0"}); err != nil {
				t.Fatal(err)
			}
			for i := range 10 {
				if got := anonLogin(); got.status != http.StatusOK {
					t.Fatalf("limit off, token %d: %d %s", i, got.status, got.raw)
				}
			}
		})
	}
}

// BenchmarkAnonymousRows is the measurement of docs/performance.md: rows written per
// 1,000 anonymous tokens (login API), reported as rows/1000tokens.
func BenchmarkAnonymousRows(b *testing.B) {
	e := newEnv(b, storagetest.Backends(b)[0])
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		before, err := e.srv.Store().RowCounts(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for range 1000 {
			resp, err := http.Get(e.url + "/customerlogin/auth/anonymous/login?tenant=" + testTenant + "&client_id=" + spaClient)
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatalf("anonymous login: %v %v", err, resp)
			}
			_ = resp.Body.Close()
		}
		after, err := e.srv.Store().RowCounts(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(storage.TotalRows(after)-storage.TotalRows(before)), "rows/1000tokens")
	}
}

// TestIdpHintNoRows: GET /oauth2/{t}/auth?idp_hint= keeps the upstream sign-in in a
// sealed cookie, not a row: many starts write nothing; the sign-in still completes in
// its browser; a tampered cookie, or one moved to another sign-in's state, is refused.
func TestIdpHintNoRows(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b, allowPrivateURLs)
			up := newScriptedUpstream(t)
			if err := e.srv.OAuth.CreateConnector(context.Background(), &oauth.Connector{Tenant: testTenant, ID: "scripted",
				Issuer: up.srv.URL, ClientID: "scripted-client", ClientSecret: "scripted-secret"}); err != nil {
				t.Fatal(err)
			}
			// The first start reads the upstream's discovery (cached), then counting begins.
			follow(t, browser(t), storefrontAuth(e, oauth2.GenerateVerifier(), "scripted"))
			before := rowsNow(t, e)
			for range 30 {
				resp, _ := follow(t, browser(t), storefrontAuth(e, oauth2.GenerateVerifier(), "scripted"))
				if resp.StatusCode != http.StatusFound {
					t.Fatalf("idp_hint: %d", resp.StatusCode)
				}
			}
			if g := grown(before, rowsNow(t, e)); len(g) != 0 {
				t.Errorf("30 idp_hint starts wrote rows: %v", g)
			}

			// The cookie of one sign-in with the state of another, or altered, is refused.
			start := func(c *http.Client) (callback string, cookie *http.Cookie) {
				resp, _ := follow(t, c, storefrontAuth(e, oauth2.GenerateVerifier(), "scripted"))
				for _, ck := range resp.Cookies() {
					if ck.Name == "custodian_upstream" {
						cookie = ck
					}
				}
				resp, _ = follow(t, c, location(t, resp).String())
				return location(t, resp).String(), cookie
			}
			cbA, _ := start(browser(t))
			_, ckB := start(browser(t))
			_, sealed, _ := strings.Cut(ckB.Value, ".")
			stateA := mustParse(t, cbA).Query().Get("state")
			flipped := []byte(sealed)
			flipped[len(flipped)/2] ^= 1
			for name, value := range map[string]string{
				"another sign-in's sealed state": stateA + "." + sealed,
				"altered":                        strings.SplitN(ckB.Value, ".", 2)[0] + "." + string(flipped),
				"state only":                     stateA,
			} {
				req, _ := http.NewRequest(http.MethodGet, cbA, nil)
				req.AddCookie(&http.Cookie{Name: "custodian_upstream", Value: value})
				resp, err := browser(t).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("%s: %d", name, resp.StatusCode)
				}
			}
			// Its own browser completes the sign-in.
			c := browser(t)
			cb, _ := start(c)
			if resp, body := follow(t, c, cb); resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
				t.Errorf("callback in its browser: %d %s", resp.StatusCode, body)
			}
			// And it expires.
			c = browser(t)
			cb, _ = start(c)
			e.clock.Advance(11 * time.Minute)
			if resp, _ := follow(t, c, cb); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("callback after ten minutes: %d", resp.StatusCode)
			}
		})
	}
}

func mustParse(t *testing.T, u string) *url.URL {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
