package custodian_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/notify/notifytest"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// The hosted sign-up and password-reset pages (issue 14, oauth/pages.go), driven by a
// plain HTTP client with cookies: the login page links to them, each returns to the
// authorization request it came from, posts without the form's CSRF token are
// refused, a page the tenant switched off is a 404, and neither a reset request nor a
// sign-up with opt-in tells whether an address has an account.

var (
	hostedConfirmRE = regexp.MustCompile(`(http://\S+/oauth2/` + testTenant + `/signup/confirm\?\S+)`)
	hostedResetRE   = regexp.MustCompile(`(http://\S+/oauth2/` + testTenant + `/password/new\?\S+)`)
	hiddenReturnRE  = regexp.MustCompile(`name="return" value="([^"]*)"`)
	pageHeadingRE   = regexp.MustCompile(`<h1>([^<]*)</h1>`)
)

// hostedPage GETs a page and returns its status, body, and its form's action and CSRF
// token (empty when it has no form).
func hostedPage(t *testing.T, c *http.Client, target string) (int, string, string, string) {
	t.Helper()
	resp, err := c.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if !csrfField.MatchString(body) || !formAction.MatchString(body) {
		return resp.StatusCode, body, "", ""
	}
	action, csrf := formParts(t, resp.Request.URL, body)
	return resp.StatusCode, body, action, csrf
}

func heading(body string) string {
	if m := pageHeadingRE.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

// mailLink flushes the outbox and returns the link re finds in the newest mail to the
// address.
func mailLink(t *testing.T, e *env, smtp *notifytest.SMTPServer, email string, re *regexp.Regexp) string {
	t.Helper()
	if _, err := e.srv.DeliverNotifications(context.Background()); err != nil {
		t.Fatalf("deliver notifications: %v", err)
	}
	m := re.FindStringSubmatch(smtp.WaitFor(t, email, 10*time.Second).Body)
	if m == nil {
		t.Fatalf("no hosted-page link in the newest mail to %s", email)
	}
	return m[1]
}

// wantCodeAt follows the authorization request (with the browser's session) and checks
// that it answers the client with a code for the request's state.
func wantCodeAt(t *testing.T, c *http.Client, target, state string) {
	t.Helper()
	resp, err := c.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound || loc == nil ||
		!strings.HasPrefix(loc.String(), spaRedirect) || loc.Query().Get("code") == "" || loc.Query().Get("state") != state {
		t.Fatalf("authorization request answered %d %q: %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
}

func TestHostedPages(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			smtp := notifytest.StartSMTP(t)
			e := newEnv(t, b, withSMTP(smtp))
			conf := &oauth2.Config{ClientID: spaClient, RedirectURL: spaRedirect, Scopes: []string{"openid"},
				Endpoint: oauth2.Endpoint{AuthURL: e.issuer() + "/auth", TokenURL: e.issuer() + "/token"}}
			authURL := func(state string) string {
				return conf.AuthCodeURL(state, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
			}
			// The path of the authorization request, as the login page carries it.
			requestPath := func(u string) string { p, _ := url.Parse(u); return p.RequestURI() }

			t.Run("the login page links to both pages, carrying the request", func(t *testing.T) {
				au := authURL("state-links-0123")
				_, body, _, _ := hostedPage(t, browser(t), au)
				want := url.Values{"return": {requestPath(au)}}.Encode()
				for _, path := range []string{"/signup?", "/password/reset?"} {
					if !strings.Contains(htmlUnescape(body), "/oauth2/"+testTenant+path+want) {
						t.Errorf("login page without the link %s%s: %s", path, want, body)
					}
				}
				if !strings.Contains(body, "Forgot password?") || !strings.Contains(body, "Create account") {
					t.Errorf("login page without the links' words: %s", body)
				}
			})

			t.Run("switched off: 404, and no links", func(t *testing.T) {
				setTenant(t, e, "pages.signup", "false", "pages.password_reset", "false")
				defer setTenant(t, e, "pages.signup", "true", "pages.password_reset", "true")
				c := browser(t)
				for _, path := range []string{"/signup", "/signup/confirm?token=x", "/password/reset", "/password/new?token=x"} {
					status, body, _, _ := hostedPage(t, c, e.issuer()+path)
					if status != http.StatusNotFound || heading(body) != "Page not found" {
						t.Errorf("GET %s: %d %q", path, status, heading(body))
					}
					resp := postForm(t, c, e.issuer()+path, url.Values{"email": {shopperEmail}})
					readBody(t, resp)
					if resp.StatusCode != http.StatusNotFound {
						t.Errorf("POST %s: %d", path, resp.StatusCode)
					}
					req, _ := http.NewRequest(http.MethodGet, e.issuer()+path, nil)
					req.Header.Set("Accept", "application/json")
					resp, err := c.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					var got map[string]string
					if err := json.Unmarshal([]byte(readBody(t, resp)), &got); err != nil || resp.StatusCode != http.StatusNotFound || got["error"] == "" {
						t.Errorf("GET %s as JSON: %d %v %v", path, resp.StatusCode, got, err)
					}
				}
				_, body, _, _ := hostedPage(t, c, authURL("state-off-0123456"))
				if strings.Contains(body, "Forgot password?") || strings.Contains(body, "Create account") {
					t.Errorf("the login page links to switched-off pages: %s", body)
				}
			})

			t.Run("posts without the form's CSRF token are refused and change nothing", func(t *testing.T) {
				c := browser(t)
				email := "csrf-" + b.Name + "@example.com"
				before := len(smtp.Messages())
				for _, path := range []string{"/signup", "/password/reset", "/password/new", "/signup/confirm"} {
					status, _, action, _ := hostedPage(t, c, e.issuer()+path+"?token=abc")
					if status != http.StatusOK && status != http.StatusBadRequest {
						t.Fatalf("GET %s: %d", path, status)
					}
					if action == "" {
						action = e.issuer() + path
					}
					for _, csrf := range []string{"", "forged-token"} {
						resp := postForm(t, c, action, url.Values{"csrf_token": {csrf}, "email": {email}, "password": {shopperPass}, "token": {"abc"}})
						body := readBody(t, resp)
						if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "This form has expired") {
							t.Errorf("POST %s with csrf %q: %d %s", path, csrf, resp.StatusCode, body)
						}
					}
				}
				if _, err := e.srv.DeliverNotifications(context.Background()); err != nil {
					t.Fatal(err)
				}
				if n := len(smtp.Messages()); n != before {
					t.Errorf("refused posts sent %d mails", n-before)
				}
				// The refused sign-up created nothing: the address is still free.
				_, _, action, csrf := hostedPage(t, c, e.issuer()+"/signup")
				resp := postForm(t, c, action, url.Values{"csrf_token": {csrf}, "email": {email}, "password": {shopperPass}})
				if body := readBody(t, resp); resp.StatusCode != http.StatusOK || heading(body) != "Your account is ready" {
					t.Errorf("sign-up after the refused one: %d %q", resp.StatusCode, heading(body))
				}
			})

			t.Run("sign-up without opt-in signs in and returns to the request", func(t *testing.T) {
				c := browser(t)
				state := "state-signup-0123"
				au := authURL(state)
				_, _, action, csrf := hostedPage(t, c, e.issuer()+"/signup?"+url.Values{"return": {requestPath(au)}}.Encode())
				email := "new-" + b.Name + "@example.com"

				resp := postForm(t, c, action, url.Values{"csrf_token": {csrf}, "email": {email}, "password": {"short"},
					"return": {requestPath(au)}})
				body := readBody(t, resp)
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="password-error"`) ||
					!strings.Contains(body, `aria-invalid="true" aria-describedby="password-error"`) && !strings.Contains(body, `aria-describedby="password-error password-hint" aria-invalid="true"`) {
					t.Fatalf("weak password: %d %s", resp.StatusCode, body)
				}
				resp = postForm(t, c, action, url.Values{"csrf_token": {csrf}, "email": {email}, "password": {shopperPass},
					"first_name": {"Ada"}, "return": {requestPath(au)}})
				readBody(t, resp)
				if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != requestPath(au) {
					t.Fatalf("sign-up: %d to %q, want 303 to the request", resp.StatusCode, resp.Header.Get("Location"))
				}
				wantCodeAt(t, c, e.url+resp.Header.Get("Location"), state)

				// The same address again: as the API's 409, the page says it exists.
				c2 := browser(t)
				_, _, action, csrf = hostedPage(t, c2, e.issuer()+"/signup")
				resp = postForm(t, c2, action, url.Values{"csrf_token": {csrf}, "email": {email}, "password": {shopperPass}})
				if body := readBody(t, resp); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "already exists") ||
					!strings.Contains(body, `href="/oauth2/`+testTenant+`/password/reset"`) {
					t.Errorf("duplicate sign-up: %d %s", resp.StatusCode, body)
				}
			})

			t.Run("sign-up on a tenant that asks a second factor: its page, then the code", func(t *testing.T) {
				setTenant(t, e, "twofactor.triggers", "always")
				defer setTenant(t, e, "twofactor.triggers", "off")
				c := browser(t)
				state := "state-signup2fa-0"
				au := authURL(state)
				email := "new2fa-" + b.Name + "@example.com"
				_, _, action, csrf := hostedPage(t, c, e.issuer()+"/signup?"+url.Values{"return": {requestPath(au)}}.Encode())
				before := len(smtp.Messages())
				resp := postForm(t, c, action, url.Values{"csrf_token": {csrf}, "email": {email}, "password": {shopperPass}, "return": {requestPath(au)}})
				body := readBody(t, resp)
				if resp.StatusCode != http.StatusOK || heading(body) != "Verify it&#39;s you" && heading(body) != "Verify it's you" {
					t.Fatalf("sign-up with a second factor: %d %q", resp.StatusCode, heading(body))
				}
				tfAction, tfCSRF := formParts(t, resp.Request.URL, body)
				if want := e.url + requestPath(au); tfAction != want {
					t.Errorf("the second-factor form posts to %s, want the request %s", tfAction, want)
				}
				challenge := regexp.MustCompile(`name="challenge_id" value="([^"]+)"`).FindStringSubmatch(body)
				if challenge == nil {
					t.Fatalf("no challenge on the page: %s", body)
				}
				code := mailedCode(t, e, smtp, email, before)
				resp = postForm(t, c, tfAction, url.Values{"csrf_token": {tfCSRF}, "step": {"2fa"}, "challenge_id": {challenge[1]},
					"method": {"email"}, "methods": {"email"}, "code": {code}})
				readBody(t, resp)
				if loc, _ := url.Parse(resp.Header.Get("Location")); loc == nil || loc.Query().Get("code") == "" || loc.Query().Get("state") != state {
					t.Errorf("after the second factor: %d %q", resp.StatusCode, resp.Header.Get("Location"))
				}
			})

			t.Run("a return elsewhere is dropped", func(t *testing.T) {
				for _, ret := range []string{"https://evil.example/oauth2/shop/auth?x=1", "//evil.example/oauth2/shop/auth?x=1",
					"/oauth2/other/auth?x=1", "/oauth2/shop/token?x=1", "/oauth2/shop/auth/../../evil?x=1"} {
					_, body, _, _ := hostedPage(t, browser(t), e.issuer()+"/password/reset?"+url.Values{"return": {ret}}.Encode())
					if m := hiddenReturnRE.FindStringSubmatch(body); m != nil || strings.Contains(body, "evil") || strings.Contains(body, "Back to sign in") {
						t.Errorf("return %q kept: %v", ret, m)
					}
				}
			})

			t.Run("sign-up with opt-in: same answer for a taken address, confirmation page, single use", func(t *testing.T) {
				setTenant(t, e, "signup.optin", "true")
				defer setTenant(t, e, "signup.optin", "false")
				c := browser(t)
				state := "state-optin-01234"
				au := authURL(state)
				email := "optin-" + b.Name + "@example.com"
				signup := func(addr string) (int, string) {
					_, _, action, csrf := hostedPage(t, c, e.issuer()+"/signup?"+url.Values{"return": {requestPath(au)}}.Encode())
					resp := postForm(t, c, action, url.Values{"csrf_token": {csrf}, "email": {addr}, "password": {shopperPass},
						"return": {requestPath(au)}})
					return resp.StatusCode, strings.ReplaceAll(readBody(t, resp), addr, "ADDRESS")
				}
				newStatus, newBody := signup(email)
				takenStatus, takenBody := signup(shopperEmail)
				if newStatus != http.StatusOK || heading(newBody) != "Check your inbox" || takenStatus != newStatus || takenBody != newBody {
					t.Errorf("a taken address answers differently: %d %q vs %d %q", newStatus, newBody, takenStatus, takenBody)
				}
				link := mailLink(t, e, smtp, email, hostedConfirmRE)
				if u, _ := url.Parse(link); u == nil || u.Query().Get("return") != requestPath(au) {
					t.Errorf("the activation link does not carry the request: %s", link)
				}
				// Opening the link spends nothing: the button does.
				for range 2 {
					if status, body, _, _ := hostedPage(t, c, link); status != http.StatusOK || heading(body) != "Activate your account" {
						t.Fatalf("confirmation page: %d %q", status, heading(body))
					}
				}
				_, _, action, csrf := hostedPage(t, c, link)
				form := url.Values{"csrf_token": {csrf}, "token": {url.Values(must(url.ParseQuery(must(url.Parse(link)).RawQuery))).Get("token")},
					"return": {requestPath(au)}}
				resp := postForm(t, c, action, form)
				body := readBody(t, resp)
				if resp.StatusCode != http.StatusOK || heading(body) != "Your account is active" || !strings.Contains(htmlUnescape(body), `href="`+requestPath(au)+`"`) {
					t.Fatalf("confirm: %d %s", resp.StatusCode, body)
				}
				resp = postForm(t, c, action, form)
				if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "no longer valid") {
					t.Errorf("second use of the link: %d %s", resp.StatusCode, body)
				}
				// The account signs in on the request's login page.
				action, csrf = loginForm(t, c, e.url+requestPath(au))
				resp = postForm(t, c, action, url.Values{"csrf_token": {csrf}, "step": {"password"}, "email": {email}, "password": {shopperPass}})
				readBody(t, resp)
				if loc, _ := url.Parse(resp.Header.Get("Location")); loc == nil || loc.Query().Get("code") == "" || loc.Query().Get("state") != state {
					t.Errorf("sign in after activation: %d %q", resp.StatusCode, resp.Header.Get("Location"))
				}
			})

			t.Run("password reset: no enumeration, single-use link, back at the request", func(t *testing.T) {
				c := browser(t)
				state := "state-reset-01234"
				au := authURL(state)
				email := "reset-" + b.Name + "@example.com"
				if _, err := e.srv.Customers.CreateAccount(context.Background(), testTenant, customerNew(email, shopperPass)); err != nil {
					t.Fatal(err)
				}
				ask := func(addr string) (int, string) {
					_, _, action, csrf := hostedPage(t, c, e.issuer()+"/password/reset?"+url.Values{"return": {requestPath(au)}}.Encode())
					resp := postForm(t, c, action, url.Values{"csrf_token": {csrf}, "email": {addr}, "return": {requestPath(au)}})
					return resp.StatusCode, strings.ReplaceAll(readBody(t, resp), addr, "ADDRESS")
				}
				knownStatus, knownBody := ask(email)
				unknownStatus, unknownBody := ask("nobody-" + b.Name + "@example.com")
				if knownStatus != http.StatusOK || heading(knownBody) != "Check your inbox" || unknownStatus != knownStatus || unknownBody != knownBody {
					t.Errorf("an unknown address answers differently: %d %q vs %d %q", knownStatus, knownBody, unknownStatus, unknownBody)
				}
				link := mailLink(t, e, smtp, email, hostedResetRE)
				status, body, action, csrf := hostedPage(t, c, link)
				if status != http.StatusOK || heading(body) != "Choose a new password" {
					t.Fatalf("new-password page: %d %s", status, body)
				}
				token := url.Values(must(url.ParseQuery(must(url.Parse(link)).RawQuery))).Get("token")
				newPass := "a brand new passphrase"
				// A password the policy refuses leaves the link usable.
				resp := postForm(t, c, action, url.Values{"csrf_token": {csrf}, "token": {token}, "password": {"short"}, "return": {requestPath(au)}})
				if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="password-error"`) {
					t.Fatalf("weak password: %d %s", resp.StatusCode, body)
				}
				form := url.Values{"csrf_token": {csrf}, "token": {token}, "password": {newPass}, "return": {requestPath(au)}}
				resp = postForm(t, c, action, form)
				body = readBody(t, resp)
				if resp.StatusCode != http.StatusOK || heading(body) != "Password changed" || !strings.Contains(htmlUnescape(body), `href="`+requestPath(au)+`"`) {
					t.Fatalf("set password: %d %s", resp.StatusCode, body)
				}
				resp = postForm(t, c, action, form)
				if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "no longer valid") {
					t.Errorf("second use of the link: %d %s", resp.StatusCode, body)
				}
				action, csrf = loginForm(t, c, e.url+requestPath(au))
				resp = postForm(t, c, action, url.Values{"csrf_token": {csrf}, "step": {"password"}, "email": {email}, "password": {newPass}})
				readBody(t, resp)
				if loc, _ := url.Parse(resp.Header.Get("Location")); loc == nil || loc.Query().Get("code") == "" || loc.Query().Get("state") != state {
					t.Errorf("sign in with the new password: %d %q", resp.StatusCode, resp.Header.Get("Location"))
				}
			})
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestPagesPeopleUnderstand (issue 14, item 4): the consent page says who is signed in
// and "Not you?" signs them out and asks again; error pages carry the request id and a
// way back to the client; every route under /oauth2/ answers a page to a browser and
// JSON to an API caller; the signed-out page offers the way back.
func TestPagesPeopleUnderstand(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			const app, redirect = "partner-app", "https://partner.example/cb"
			if _, err := e.srv.OAuth.CreateClient(context.Background(), &oauth.Client{Tenant: testTenant, ID: app, Name: "Partner App",
				Public: true, RedirectURIs: []string{redirect}, Scopes: []string{"openid", "email", "offline_access", oauth.ScopeProfileView},
				GrantTypes: []string{identity.GrantAuthorizationCode}}, ""); err != nil {
				t.Fatal(err)
			}
			authURL := func(extra url.Values) string {
				q := url.Values{"response_type": {"code"}, "client_id": {app}, "redirect_uri": {redirect},
					"scope": {"openid email " + oauth.ScopeProfileView}, "state": {"state-123456"},
					"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
				for k, v := range extra {
					q[k] = v
				}
				return e.issuer() + "/auth?" + q.Encode()
			}

			t.Run("consent: human scopes, signed in as, not you", func(t *testing.T) {
				c := browser(t)
				action, csrf := loginForm(t, c, authURL(nil))
				resp := postForm(t, c, action, url.Values{"email": {shopperEmail}, "password": {shopperPass}, "csrf_token": {csrf}, "step": {"password"}})
				page := readBody(t, resp)
				for _, want := range []string{"Signed in as", shopperEmail, "Not you?", "See your e-mail address", "See your profile and address book"} {
					if !strings.Contains(page, want) {
						t.Errorf("consent page without %q: %s", want, page)
					}
				}
				if strings.Contains(page, "<li>"+oauth.ScopeProfileView) || strings.Contains(page, "<li>openid") {
					t.Errorf("consent page lists raw scope names: %s", page)
				}
				consentAction, consentCSRF := formParts(t, resp.Request.URL, page)
				// Not you? without the form's token changes nothing.
				resp = postForm(t, c, consentAction, url.Values{"step": {"switch"}})
				readBody(t, resp)
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("switch without CSRF: %d", resp.StatusCode)
				}
				resp = postForm(t, c, consentAction, url.Values{"csrf_token": {consentCSRF}, "step": {"switch"}})
				page = readBody(t, resp)
				if resp.StatusCode != http.StatusOK || heading(page) != "Sign in" || strings.Contains(page, shopperEmail) {
					t.Fatalf("not you: %d %q", resp.StatusCode, heading(page))
				}
				// The session is gone: the request asks to sign in again.
				resp, err := c.Get(authURL(nil))
				if err != nil {
					t.Fatal(err)
				}
				if page := readBody(t, resp); heading(page) != "Sign in" {
					t.Errorf("after not-you the request shows %q", heading(page))
				}
			})

			t.Run("error page: plain words, request id, way back; JSON when asked", func(t *testing.T) {
				bad := authURL(url.Values{"code_challenge_method": {"plain"}, "redirect_uri": {"https://elsewhere.example/cb"}})
				req, _ := http.NewRequest(http.MethodGet, bad, nil)
				req.Header.Set("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
				req.Header.Set("X-Request-Id", "support-ref-12345")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				page := readBody(t, resp)
				if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
					!strings.Contains(page, "support-ref-12345") || !strings.Contains(page, `href="https://partner.example/"`) ||
					!strings.Contains(page, "Back to Partner App") || !strings.Contains(page, "cannot be completed") {
					t.Errorf("error page: %d %s", resp.StatusCode, page)
				}
				req.Header.Set("Accept", "application/json")
				resp, err = http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var got map[string]string
				if err := json.Unmarshal([]byte(readBody(t, resp)), &got); err != nil || resp.StatusCode != http.StatusBadRequest || got["error"] != "invalid_request" {
					t.Errorf("as JSON: %d %v %v", resp.StatusCode, got, err)
				}
			})

			t.Run("every route under /oauth2/ negotiates", func(t *testing.T) {
				for _, c := range []struct {
					method, path string
					status       int
				}{
					{http.MethodGet, "/oauth2/" + testTenant + "/nosuch", http.StatusNotFound},
					{http.MethodGet, "/oauth2/" + testTenant + "/token", http.StatusMethodNotAllowed},
					{http.MethodGet, "/oauth2/nosuch/auth?client_id=x", http.StatusNotFound},
					{http.MethodGet, "/oauth2/" + testTenant + "/logout?post_logout_redirect_uri=https://evil.example/", http.StatusBadRequest},
				} {
					for _, accept := range []string{"text/html", "application/json"} {
						req, _ := http.NewRequest(c.method, e.url+c.path, nil)
						req.Header.Set("Accept", accept)
						resp, err := http.DefaultClient.Do(req)
						if err != nil {
							t.Fatal(err)
						}
						body := readBody(t, resp)
						ct := resp.Header.Get("Content-Type")
						var got map[string]string
						jsonErr := json.Unmarshal([]byte(body), &got)
						switch {
						case resp.StatusCode != c.status:
							t.Errorf("%s %s (%s): %d, want %d", c.method, c.path, accept, resp.StatusCode, c.status)
						case accept == "text/html" && (!strings.HasPrefix(ct, "text/html") || !strings.Contains(body, "<h1>")):
							t.Errorf("%s %s as a browser: %q %s", c.method, c.path, ct, body)
						case accept == "application/json" && (!strings.HasPrefix(ct, "application/json") || jsonErr != nil || got["error"] == ""):
							t.Errorf("%s %s as an API caller: %q %s", c.method, c.path, ct, body)
						}
					}
				}
				// An oversized form posted to a page: a page to a browser, JSON to an API caller.
				for _, accept := range []string{"text/html", "application/json"} {
					big := url.Values{"email": {strings.Repeat("x", 2<<20)}}.Encode()
					req, _ := http.NewRequest(http.MethodPost, e.issuer()+"/password/reset", strings.NewReader(big))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.Header.Set("Accept", accept)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					body := readBody(t, resp)
					if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.HasPrefix(resp.Header.Get("Content-Type"), strings.Split(accept, ";")[0]) {
						t.Errorf("oversized post as %s: %d %q %.200s", accept, resp.StatusCode, resp.Header.Get("Content-Type"), body)
					}
				}
				// The token endpoint answers fosite's RFC 6749 JSON even to a browser.
				req, _ := http.NewRequest(http.MethodPost, e.issuer()+"/token", strings.NewReader("grant_type=nosuch"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Accept", "text/html")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				if body := readBody(t, resp); !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !strings.Contains(body, `"error"`) {
					t.Errorf("token endpoint to a browser: %q %s", resp.Header.Get("Content-Type"), body)
				}
			})

			t.Run("signed out: the way back to the client", func(t *testing.T) {
				c := browser(t)
				status, page, action, csrf := hostedPage(t, c, e.issuer()+"/logout?client_id="+app)
				if status != http.StatusOK || action == "" {
					t.Fatalf("logout page: %d %s", status, page)
				}
				resp := postForm(t, c, action, url.Values{"csrf_token": {csrf}})
				page = readBody(t, resp)
				if resp.StatusCode != http.StatusOK || heading(page) != "Signed out" || !strings.Contains(page, `href="https://partner.example/"`) {
					t.Errorf("signed-out page: %d %s", resp.StatusCode, page)
				}
			})
		})
	}
}
