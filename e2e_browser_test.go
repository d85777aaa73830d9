package custodian_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/notify/notifytest"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage/storagetest"
	"github.com/custodian-id/custodian/templates/browsertest"
)

// The browser suite (issue 14): Custodian's hosted pages in a real, headless Chromium,
// at a phone's and a desktop's width. Each flow below drives a page as a shopper would
// (types into the fields, presses the buttons, follows the redirects back to a
// storefront on loopback, which exchanges the code) and checks every page it passes
// with Session.Check: axe-core's WCAG 2.2 AA rules, one <h1>, lang, no sideways
// scrolling, a visible focus indicator on everything Tab reaches, the card clear of
// the screen's edges, and no CSP violation. Screenshots go to CUSTODIAN_SCREENSHOTS
// (default: custodian-screenshots in the temporary directory) and, with
// -update-screenshots, to docs/screenshots (the README's set).
//
// A new page is one more entry in browserFlows: how to reach it, what to do on it, and
// s.Check("its-name") wherever it shows.

var updateScreenshots = flag.Bool("update-screenshots", false, "write the browser suite's screenshots to docs/screenshots")

// ScreenshotsEnv names the directory that keeps the browser suite's screenshots.
const ScreenshotsEnv = "CUSTODIAN_SCREENSHOTS"

// browserWidths are the viewports every page is checked at: a phone and a desktop.
var browserWidths = []struct{ width, height int }{{390, 844}, {1280, 800}}

// browserFlow is one way through the pages; it calls check for each page it shows.
type browserFlow struct {
	name string
	run  func(t *testing.T, fx *browserFixture, s *pageSession)
}

var browserFlows = []browserFlow{
	{"sign-in", flowSignIn},
	{"form-post-without-js", flowFormPostWithoutJS},
	{"consent", flowConsent},
	{"two-factor", flowTwoFactor},
	{"social", flowSocial},
	{"logout", flowLogout},
	{"not-me", flowNotMe},
	{"errors", flowErrors},
	{"sign-up", flowSignUp},
	{"password-reset", flowPasswordReset},
	{"branded-de", flowBranded},
	{"branded-de-accounts", flowBrandedAccounts},
	{"accept-language", flowAcceptLanguage},
	{"long-texts", flowLongTexts},
}

// TestBrowserPages runs every flow at every width in one Chromium. A machine without
// Chromium or without axe-core (npm ci in browsertest/testdata) fails the test: the
// suite never skips.
func TestBrowserPages(t *testing.T) {
	b, err := browsertest.Start()
	if err != nil {
		t.Fatalf("browser suite: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	dirs := screenshotDirs(t)
	t.Logf("browser: %s; screenshots: %s", b.Version, strings.Join(dirs, ", "))

	// The pages are the same on both databases, and the flows' storage is covered by
	// the other end-to-end tests on both: the browser runs against SQLite.
	fx := newBrowserFixture(t, storagetest.Backends(t)[0])
	for _, f := range browserFlows {
		t.Run(f.name, func(t *testing.T) {
			for _, w := range browserWidths {
				t.Run(strconv.Itoa(w.width), func(t *testing.T) {
					s := &pageSession{Session: b.NewSession(t, w.width, w.height), t: t}
					s.ScreenshotDirs = dirs
					f.run(t, fx, s)
				})
			}
		})
	}
}

func screenshotDirs(t *testing.T) []string {
	dir := os.Getenv(ScreenshotsEnv)
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "custodian-screenshots")
	}
	dirs := []string{dir}
	if *updateScreenshots {
		dirs = append(dirs, filepath.Join("docs", "screenshots"))
	}
	return dirs
}

// pageSession is a browser session with the checks that belong to Custodian's layout.
type pageSession struct {
	*browsertest.Session
	t *testing.T
}

// Check runs the generic page checks and then Custodian's own: the card (<main>) keeps
// clear of the viewport's edges.
func (s *pageSession) Check(name string) {
	s.t.Helper()
	s.Session.Check(name)
	var card struct{ Left, Right, Width float64 }
	s.Eval(`(() => { const r = document.querySelector("main").getBoundingClientRect();
		return {left: r.left, right: r.right, width: document.documentElement.clientWidth}; })()`, &card)
	if card.Left < 12 || card.Width-card.Right < 12 {
		s.t.Errorf("[%s %dpx] the card is %.0f px from the left and %.0f px from the right edge, want ≥ 12", name, s.Width, card.Left, card.Width-card.Right)
	}
}

// attr is the value of an attribute of the first element the selector names ("" when
// absent).
func (s *pageSession) attr(sel, name string) string {
	s.t.Helper()
	var v string
	s.Eval(fmt.Sprintf(`(document.querySelector(%q) || {getAttribute: () => ""}).getAttribute(%q) || ""`, sel, name), &v)
	return v
}

// wantErrorTiedTo checks that the page's error message is announced and tied to the
// field: role=alert, and the field aria-invalid and described by the message.
func (s *pageSession) wantErrorTiedTo(field, wantText string) {
	s.t.Helper()
	msg := s.Text(`[role=alert]`)
	if !strings.Contains(msg, wantText) {
		s.t.Errorf("[%dpx] error message %q, want %q", s.Width, msg, wantText)
	}
	if got := s.attr(field, "aria-invalid"); got != "true" {
		s.t.Errorf("[%dpx] %s aria-invalid=%q", s.Width, field, got)
	}
	var described string
	s.Eval(fmt.Sprintf(`(document.querySelector(%q).getAttribute("aria-describedby") || "").split(" ")
		.map(id => document.getElementById(id)).filter(Boolean).map(e => e.innerText).join(" ")`, field), &described)
	if !strings.Contains(described, wantText) {
		s.t.Errorf("[%dpx] %s is described by %q, want the error %q", s.Width, field, described, wantText)
	}
}

// browserFixture is one Custodian with the tenants, clients and storefront the flows
// use, shared by all of them.
type browserFixture struct {
	e          *env
	smtp       *notifytest.SMTPServer
	storefront *storefrontStub
	mu         sync.Mutex
	n          int
	logo       *httptest.Server // the branded tenant's logo (flowBranded)
}

const (
	browserClient  = "storefront"
	partnerClient  = "partner"
	guardedTenant  = "guarded"
	welcomeTenant  = "welcome" // signup.optin: new accounts wait for the mailed link
	browserScopes  = "openid email profile"
	partnerScopes  = "openid email"
	browserTimeout = 10 * time.Second
)

func newBrowserFixture(t *testing.T, b storagetest.Backend) *browserFixture {
	smtp := notifytest.StartSMTP(t)
	e := newEnv(t, b, allowPrivateURLs, withSMTP(smtp))
	fx := &browserFixture{e: e, smtp: smtp, storefront: startStorefront(t)}
	ctx := context.Background()
	for _, tenant := range []string{testTenant, guardedTenant, welcomeTenant} {
		if tenant != testTenant {
			if _, err := e.srv.OAuth.CreateTenant(ctx, tenant); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.srv.OAuth.CreateClient(ctx, &oauth.Client{Tenant: tenant, ID: browserClient, Name: "Example Shop",
			Public: true, FirstParty: true, RedirectURIs: []string{fx.storefront.callback()},
			PostLogoutRedirectURIs: []string{fx.storefront.url + "/"},
			GrantTypes:             []string{identity.GrantAuthorizationCode, identity.GrantRefreshToken},
			Scopes:                 []string{"openid", "profile", "email", "offline_access"}}, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.srv.OAuth.CreateClient(ctx, &oauth.Client{Tenant: testTenant, ID: partnerClient, Name: "Partner App",
		Public: true, RedirectURIs: []string{fx.storefront.callback()}, Scopes: []string{"openid", "email"},
		GrantTypes: []string{identity.GrantAuthorizationCode}}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.OAuth.UpdateTenantSettings(ctx, guardedTenant, map[string]string{"twofactor.triggers": "always"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.OAuth.UpdateTenantSettings(ctx, welcomeTenant, map[string]string{"signup.optin": "true"}); err != nil {
		t.Fatal(err)
	}
	socialSetup(t, e) // tenant "upstream" behind the shop's connector "up", "Upstream ID"
	return fx
}

// shopper creates a customer of the tenant for one flow at one width, so that flows
// never share an account, a mailbox or a lockout counter.
func (fx *browserFixture) shopper(t *testing.T, tenant, flow string, width int) string {
	t.Helper()
	fx.mu.Lock()
	fx.n++
	email := fmt.Sprintf("%s-%d-%d@example.com", flow, width, fx.n)
	fx.mu.Unlock()
	if _, err := fx.e.srv.Customers.CreateAccount(context.Background(), tenant, customerNew(email, shopperPass)); err != nil {
		t.Fatalf("create %s in %s: %v", email, tenant, err)
	}
	return email
}

// authRequest is an authorization request of a storefront with PKCE.
type authRequest struct {
	tenant, client, state, verifier string
	url                             string
}

func (fx *browserFixture) authRequest(tenant, client, scope string, extra url.Values) authRequest {
	fx.mu.Lock()
	fx.n++
	state := fmt.Sprintf("state-%d-0123456789", fx.n)
	fx.mu.Unlock()
	ar := authRequest{tenant: tenant, client: client, state: state, verifier: oauth2.GenerateVerifier()}
	q := url.Values{"response_type": {"code"}, "client_id": {client}, "redirect_uri": {fx.storefront.callback()},
		"scope": {scope}, "state": {state}, "code_challenge": {oauth2.S256ChallengeFromVerifier(ar.verifier)},
		"code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	ar.url = fx.e.url + "/oauth2/" + tenant + "/auth?" + q.Encode()
	return ar
}

// wantCode waits for the browser to arrive at the storefront's callback with the
// request's state, and exchanges the code (with the PKCE verifier) for tokens.
func (fx *browserFixture) wantCode(t *testing.T, s *pageSession, ar authRequest) *oauth2.Token {
	t.Helper()
	s.WaitURL(fx.storefront.url + "/callback")
	got, ok := fx.storefront.wait(ar.state, browserTimeout)
	if !ok {
		t.Fatalf("[%dpx] the storefront got no answer for state %s", s.Width, ar.state)
	}
	if got.Get("error") != "" || got.Get("code") == "" {
		t.Fatalf("[%dpx] the storefront got %v, want a code", s.Width, got)
	}
	issuer := fx.e.url + "/oauth2/" + ar.tenant
	conf := &oauth2.Config{ClientID: ar.client, RedirectURL: fx.storefront.callback(),
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/auth", TokenURL: issuer + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	tok, err := conf.Exchange(context.Background(), got.Get("code"), oauth2.VerifierOption(ar.verifier))
	if err != nil {
		t.Fatalf("[%dpx] exchange the code: %v", s.Width, err)
	}
	if tok.AccessToken == "" || tok.Extra("id_token") == nil {
		t.Fatalf("[%dpx] tokens without an access or ID token: %+v", s.Width, tok)
	}
	return tok
}

// signIn fills the login form and presses its button.
func signIn(s *pageSession, email, password string) int {
	s.t.Helper()
	s.Fill("#email", email)
	s.Fill("#password", password)
	return s.Press(`#sign-in`)
}

// flowSignIn: the login page (with a "Continue with" option), a wrong password, then
// the right one; the code comes back in a form post (response_mode=form_post), the
// page whose one script is allowed by its hash.
func flowSignIn(t *testing.T, fx *browserFixture, s *pageSession) {
	email := fx.shopper(t, testTenant, "signin", s.Width)
	ar := fx.authRequest(testTenant, browserClient, browserScopes, url.Values{"response_mode": {"form_post"}})
	if status := s.Open(ar.url); status != http.StatusOK {
		t.Fatalf("login page: %d", status)
	}
	if got := s.Text("h1"); got != "Sign in" {
		t.Errorf("login page heading %q", got)
	}
	if got := s.Text(".connectors button"); !strings.Contains(got, "Continue with Upstream ID") {
		t.Errorf("login page without the connector's button: %q", got)
	}
	s.Check("sign-in")

	if status := signIn(s, email, "not the password"); status != http.StatusUnauthorized {
		t.Errorf("wrong password: %d", status)
	}
	s.wantErrorTiedTo("#password", "e-mail address or password is wrong")
	s.wantErrorTiedTo("#email", "e-mail address or password is wrong")
	if got := s.attr("#email", "value"); got != email {
		t.Errorf("the e-mail field lost the address: %q", got)
	}
	s.Check("sign-in-error")

	s.Fill("#password", shopperPass)
	s.Click(`#sign-in`) // the form_post page submits itself at once
	fx.wantCode(t, s, ar)
}

// flowFormPostWithoutJS: a browser without JavaScript stays on the form_post page,
// whose Continue button posts the code to the storefront.
func flowFormPostWithoutJS(t *testing.T, fx *browserFixture, s *pageSession) {
	email := fx.shopper(t, testTenant, "formpost", s.Width)
	ar := fx.authRequest(testTenant, browserClient, browserScopes, url.Values{"response_mode": {"form_post"}})
	s.Open(ar.url)
	s.PageScripts(false)
	if status := signIn(s, email, shopperPass); status != http.StatusOK {
		t.Fatalf("sign in: %d", status)
	}
	s.PageScripts(true) // for the checks; the page was loaded without its script
	if got := s.Text("h1"); got != "Continue to Example Shop" {
		t.Fatalf("no form_post page: %q at %s", got, s.Location())
	}
	s.Check("form-post")
	s.Press(`button[type=submit]`)
	fx.wantCode(t, s, ar)
}

// flowConsent: a third-party client asks; the shopper signs in and allows.
func flowConsent(t *testing.T, fx *browserFixture, s *pageSession) {
	email := fx.shopper(t, testTenant, "consent", s.Width)
	ar := fx.authRequest(testTenant, partnerClient, partnerScopes, nil)
	s.Open(ar.url)
	if status := signIn(s, email, shopperPass); status != http.StatusOK {
		t.Fatalf("sign in: %d", status)
	}
	if got := s.Text("h1"); got != "Allow access?" {
		t.Fatalf("no consent page: %q", got)
	}
	if got := s.Text("main"); !strings.Contains(got, "Partner App") {
		t.Errorf("the consent page does not name the client: %q", got)
	}
	if got := s.Text("#signed-in-as"); got != email {
		t.Errorf("the consent page says signed in as %q, want %q", got, email)
	}
	if got := s.Text("ul.scopes"); !strings.Contains(got, "See your e-mail address") || strings.Contains(got, "openid") {
		t.Errorf("the consent page lists %q, want the scopes in words", got)
	}
	s.Check("consent")
	s.Press(`#allow`)
	fx.wantCode(t, s, ar)
}

// flowTwoFactor: a tenant that asks a second factor on every sign-in; a wrong code,
// then the one from the mail.
func flowTwoFactor(t *testing.T, fx *browserFixture, s *pageSession) {
	email := fx.shopper(t, guardedTenant, "twofactor", s.Width)
	ar := fx.authRequest(guardedTenant, browserClient, browserScopes, nil)
	s.Open(ar.url)
	before := len(fx.smtp.Messages())
	if status := signIn(s, email, shopperPass); status != http.StatusOK {
		t.Fatalf("sign in: %d", status)
	}
	if got := s.Text("h1"); got != "Verify it's you" {
		t.Fatalf("no second-factor page: %q", got)
	}
	code := mailedCode(t, fx.e, fx.smtp, email, before)
	s.Fill("#code", otherCode(code))
	if status := s.Press(`#verify`); status != http.StatusUnauthorized {
		t.Errorf("wrong code: %d", status)
	}
	s.wantErrorTiedTo("#code", "The code is wrong")
	s.Check("two-factor-error")
	s.Fill("#code", code)
	s.Press(`#verify`)
	fx.wantCode(t, s, ar)
}

// flowSocial: "Continue with Upstream ID", pressed with the keyboard, goes to the
// upstream provider (another tenant of this Custodian), whose login page the shopper
// signs in on; the code then arrives at the storefront.
func flowSocial(t *testing.T, fx *browserFixture, s *pageSession) {
	email := fmt.Sprintf("social-%d@example.com", s.Width)
	upstreamUser(t, fx.e, email, true)
	ar := fx.authRequest(testTenant, browserClient, browserScopes, nil)
	s.Open(ar.url)
	if status := s.PressKey(".connectors button"); status != http.StatusOK {
		t.Fatalf("continue with the connector: %d", status)
	}
	if loc := s.Location(); !strings.HasPrefix(loc, fx.e.url+"/oauth2/"+upstreamTenant+"/auth?") {
		t.Fatalf("not at the upstream provider: %s", loc)
	}
	s.Check("social-upstream")
	signIn(s, email, shopperPass)
	fx.wantCode(t, s, ar)
}

// flowLogout: signed in, the shopper opens the logout endpoint without a hint, is
// asked, confirms, and sees the signed-out page; the next authorization asks to sign
// in again.
func flowLogout(t *testing.T, fx *browserFixture, s *pageSession) {
	email := fx.shopper(t, testTenant, "logout", s.Width)
	ar := fx.authRequest(testTenant, browserClient, browserScopes, nil)
	s.Open(ar.url)
	signIn(s, email, shopperPass)
	fx.wantCode(t, s, ar)

	if status := s.Open(fx.e.issuer() + "/logout?client_id=" + browserClient); status != http.StatusOK {
		t.Fatalf("logout page: %d", status)
	}
	if got := s.Text("h1"); got != "Sign out?" {
		t.Fatalf("no logout confirmation: %q", got)
	}
	s.Check("logout")
	if status := s.Press(`button[type=submit]`); status != http.StatusOK {
		t.Fatalf("sign out: %d", status)
	}
	if got := s.Text("h1"); got != "Signed out" {
		t.Fatalf("no signed-out page: %q", got)
	}
	if got := s.attr("#back", "href"); got != fx.storefront.url+"/" {
		t.Errorf("the signed-out page's way back is %q, want the shop's home %q", got, fx.storefront.url+"/")
	}
	s.Check("signed-out")

	again := fx.authRequest(testTenant, browserClient, browserScopes, nil)
	s.Open(again.url)
	if got := s.Text("h1"); got != "Sign in" {
		t.Errorf("after signing out the authorization shows %q, want the login page", got)
	}
}

// flowNotMe: a sign-in from a new device mails a "this was not me" link; the page it
// opens asks first, and confirming signs the account out everywhere.
func flowNotMe(t *testing.T, fx *browserFixture, s *pageSession) {
	email := fx.shopper(t, testTenant, "notme", s.Width)
	e := fx.e
	anon := anonymousLogin(t, e)["access_token"].(string)
	var session string
	for _, fp := range []string{"home", "elsewhere"} {
		body, _ := json.Marshal(map[string]string{"email": email, "password": shopperPass, "fingerprint": fp})
		r := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/login", string(body), jsonBearer(anon)...)
		if r.status != http.StatusOK {
			t.Fatalf("login: %d %s", r.status, r.raw)
		}
		if session == "" {
			session = r.body["access_token"].(string)
		}
	}
	if _, err := e.srv.DeliverNotifications(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := notMeRE.FindStringSubmatch(fx.smtp.WaitFor(t, email, browserTimeout).Body)
	if m == nil {
		t.Fatal("no not-me link in the new-device mail")
	}
	if status := s.Open(e.url + "/customer/" + testTenant + "/security/not-me/" + m[1]); status != http.StatusOK {
		t.Fatalf("not-me page: %d", status)
	}
	if got := s.Text("h1"); got != "Was this not you?" {
		t.Fatalf("not-me page heading %q", got)
	}
	s.Check("not-me")
	if status := s.Press(`button[type=submit]`); status != http.StatusOK {
		t.Fatalf("confirm: %d", status)
	}
	if got := s.Text("h1"); got != "Your account is safe again" {
		t.Errorf("after confirming: %q", got)
	}
	s.Check("not-me-done")
	if r := loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/validateauthtoken", "", jsonBearer(session)...); r.status != http.StatusUnauthorized {
		t.Errorf("the account's session still answers %d after not-me", r.status)
	}
}

// flowErrors: the pages of requests Custodian cannot send back to a client.
func flowErrors(t *testing.T, fx *browserFixture, s *pageSession) {
	for _, c := range []struct {
		name   string
		url    string
		status int
		text   string
	}{
		{"error-unknown-client", fx.authRequest(testTenant, "nosuch", browserScopes, nil).url, http.StatusBadRequest, "client"},
		{"error-bad-redirect", fx.authRequest(testTenant, browserClient, browserScopes,
			url.Values{"redirect_uri": {"http://127.0.0.1:1/elsewhere"}}).url, http.StatusBadRequest, "redirect"},
		{"error-unknown-tenant", fx.authRequest("nosuch", browserClient, browserScopes, nil).url, http.StatusNotFound, "does not exist"},
	} {
		if status := s.Open(c.url); status != c.status {
			t.Errorf("%s: status %d, want %d", c.name, status, c.status)
		}
		if got := s.Text("main"); !strings.Contains(strings.ToLower(got), c.text) {
			t.Errorf("%s: the page says %q, want it to mention %q", c.name, got, c.text)
		}
		if got := s.Text("#request-id"); !strings.Contains(got, "quote this reference") || len(strings.TrimSpace(s.Text("#request-id code"))) < 8 {
			t.Errorf("%s: no request id to quote: %q", c.name, got)
		}
		s.Check(c.name)
	}
	// A known client's error page links back to the client's site.
	s.Open(fx.authRequest(testTenant, browserClient, browserScopes, url.Values{"redirect_uri": {"http://127.0.0.1:1/elsewhere"}}).url)
	if got := s.attr("#back", "href"); got != fx.storefront.url+"/" {
		t.Errorf("the error page's way back is %q, want %q", got, fx.storefront.url+"/")
	}
}

var (
	browserConfirmRE = regexp.MustCompile(`(http://\S+/oauth2/` + welcomeTenant + `/signup/confirm\?\S+)`)
	browserResetRE   = regexp.MustCompile(`(http://\S+/oauth2/` + testTenant + `/password/new\?\S+)`)
)

// mailedLink flushes the outbox and returns the link re finds in the newest mail to
// the address.
func (fx *browserFixture) mailedLink(t *testing.T, email string, re *regexp.Regexp) string {
	t.Helper()
	if _, err := fx.e.srv.DeliverNotifications(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := re.FindStringSubmatch(fx.smtp.WaitFor(t, email, browserTimeout).Body)
	if m == nil {
		t.Fatalf("no link in the newest mail to %s", email)
	}
	return m[1]
}

// flowSignUp: "Create account" on the login page of a tenant with opt-in; a password
// the policy refuses, then a good one; the mailed link's page activates the account;
// "Continue to sign in" is the authorization request's login page, and the code
// arrives at the storefront.
func flowSignUp(t *testing.T, fx *browserFixture, s *pageSession) {
	fx.mu.Lock()
	fx.n++
	email := fmt.Sprintf("signup-%d-%d@example.com", s.Width, fx.n)
	fx.mu.Unlock()
	ar := fx.authRequest(welcomeTenant, browserClient, browserScopes, nil)
	s.Open(ar.url)
	if status := s.Press("#create-account"); status != http.StatusOK {
		t.Fatalf("create account: %d", status)
	}
	if got := s.Text("h1"); got != "Create account" {
		t.Fatalf("no sign-up page: %q", got)
	}
	s.Check("sign-up")
	s.Fill("#email", email)
	s.Fill("#password", "short")
	if status := s.Press("#create-account"); status != http.StatusBadRequest {
		t.Errorf("weak password: %d", status)
	}
	s.wantErrorTiedTo("#password", "This password is too short")
	s.Check("sign-up-error")
	s.Fill("#password", shopperPass)
	if status := s.Press("#create-account"); status != http.StatusOK {
		t.Fatalf("sign up: %d", status)
	}
	if got := s.Text("h1"); got != "Check your inbox" {
		t.Fatalf("after signing up: %q", got)
	}
	s.Check("sign-up-sent")

	s.Open(fx.mailedLink(t, email, browserConfirmRE))
	if got := s.Text("h1"); got != "Activate your account" {
		t.Fatalf("no confirmation page: %q", got)
	}
	s.Check("sign-up-confirm")
	if status := s.Press("#activate"); status != http.StatusOK {
		t.Fatalf("activate: %d", status)
	}
	if got := s.Text("h1"); got != "Your account is active" {
		t.Fatalf("after activating: %q", got)
	}
	s.Check("sign-up-active")
	s.Press("#continue")
	if got := s.Text("h1"); got != "Sign in" {
		t.Fatalf("continue leads to %q, want the login page", got)
	}
	signIn(s, email, shopperPass)
	fx.wantCode(t, s, ar)
}

// flowPasswordReset: "Forgot password?", the mail, a new password (one the policy
// refuses first), then back at the authorization request, signing in with it.
func flowPasswordReset(t *testing.T, fx *browserFixture, s *pageSession) {
	email := fx.shopper(t, testTenant, "reset", s.Width)
	ar := fx.authRequest(testTenant, browserClient, browserScopes, nil)
	s.Open(ar.url)
	if status := s.Press("#forgot-password"); status != http.StatusOK {
		t.Fatalf("forgot password: %d", status)
	}
	if got := s.Text("h1"); got != "Reset your password" {
		t.Fatalf("no reset page: %q", got)
	}
	s.Check("password-reset")
	s.Fill("#email", email)
	if status := s.Press("#send-link"); status != http.StatusOK {
		t.Fatalf("send link: %d", status)
	}
	if got := s.Text("h1"); got != "Check your inbox" {
		t.Fatalf("after asking: %q", got)
	}
	s.Check("password-reset-sent")

	s.Open(fx.mailedLink(t, email, browserResetRE))
	if got := s.Text("h1"); got != "Choose a new password" {
		t.Fatalf("no new-password page: %q", got)
	}
	s.Check("password-new")
	s.Fill("#password", "password")
	if status := s.Press("#set-password"); status != http.StatusBadRequest {
		t.Errorf("weak password: %d", status)
	}
	s.wantErrorTiedTo("#password", "most common")
	s.Check("password-new-error")
	newPass := "a brand new passphrase"
	s.Fill("#password", newPass)
	if status := s.Press("#set-password"); status != http.StatusOK {
		t.Fatalf("set password: %d", status)
	}
	if got := s.Text("h1"); got != "Password changed" {
		t.Fatalf("after setting: %q", got)
	}
	s.Check("password-changed")
	s.Press("#continue")
	signIn(s, email, newPass)
	fx.wantCode(t, s, ar)
}

// storefrontStub is a storefront's callback on loopback: it records what each
// authorization answer (query or form post) carried, by state.
type storefrontStub struct {
	url  string
	mu   sync.Mutex
	got  map[string]url.Values
	cond chan struct{}
}

func startStorefront(t *testing.T) *storefrontStub {
	st := &storefrontStub{got: map[string]url.Values{}, cond: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if r.URL.Path == "/callback" {
			st.mu.Lock()
			st.got[r.Form.Get("state")] = r.Form
			close(st.cond)
			st.cond = make(chan struct{})
			st.mu.Unlock()
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html lang="en"><title>Storefront</title><main><h1>Storefront</h1></main></html>`)
	}))
	t.Cleanup(srv.Close)
	st.url = srv.URL
	return st
}

func (st *storefrontStub) callback() string { return st.url + "/callback" }

// wait returns what the callback received for state, waiting up to timeout.
func (st *storefrontStub) wait(state string, timeout time.Duration) (url.Values, bool) {
	deadline := time.After(timeout)
	for {
		st.mu.Lock()
		v, ok := st.got[state]
		ch := st.cond
		st.mu.Unlock()
		if ok {
			return v, true
		}
		select {
		case <-ch:
		case <-deadline:
			return nil, false
		}
	}
}

// brandedTenant is a tenant with every branding setting, French by default, that asks
// a second factor on every sign-in and activates new accounts by a mailed link, with a
// logo served over https from a loopback TLS server. Chromium does not trust the test
// server's certificate, so the image itself does not load (a network error, which the
// suite does not count); what the flows prove is that the page names it, that the CSP
// allows exactly its origin (a wrong img-src would be a CSP violation, which the suite
// fails on), and everything the branding changes in the text. The flows run in German
// (ui_locales), which is neither the tenant's default nor the browser's language: a
// page that loses the flow's language shows French or English.
const brandedTenant = "marke"

func (fx *browserFixture) branded(t *testing.T) (logoOrigin string) {
	t.Helper()
	fx.mu.Lock()
	defer fx.mu.Unlock()
	if fx.logo != nil {
		return fx.logo.URL
	}
	fx.logo = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		_, _ = io.WriteString(w, `<svg xmlns="http://www.w3.org/2000/svg" width="120" height="32"><rect width="120" height="32" fill="#2e8540"/></svg>`)
	}))
	t.Cleanup(fx.logo.Close)
	ctx := context.Background()
	if _, err := fx.e.srv.OAuth.CreateTenant(ctx, brandedTenant); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.e.srv.OAuth.CreateClient(ctx, &oauth.Client{Tenant: brandedTenant, ID: browserClient, Name: "Müller Mode",
		Public: true, FirstParty: true, RedirectURIs: []string{fx.storefront.callback()},
		GrantTypes: []string{identity.GrantAuthorizationCode}, Scopes: []string{"openid", "profile", "email"}}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.e.srv.OAuth.CreateClient(ctx, &oauth.Client{Tenant: brandedTenant, ID: partnerClient, Name: "Partner App",
		Public: true, RedirectURIs: []string{fx.storefront.callback()}, Scopes: []string{"openid", "email"},
		GrantTypes: []string{identity.GrantAuthorizationCode}}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.e.srv.OAuth.UpdateTenantSettings(ctx, brandedTenant, map[string]string{
		"branding.display_name": "Müller Mode", "branding.logo_url": fx.logo.URL + "/logo.svg",
		"branding.primary_color": "#2e8540", "branding.support_url": "https://shop.example.com/hilfe",
		"branding.privacy_url": "https://shop.example.com/datenschutz", "branding.terms_url": "https://shop.example.com/agb",
		"branding.default_locale": "fr", "branding.text.logout_heading.de": "Bei Müller Mode abmelden?",
		"twofactor.triggers": "always", "signup.optin": "true"}); err != nil {
		t.Fatal(err)
	}
	return fx.logo.URL
}

// wantGerman checks that the page is German (lang and heading) under the branded
// tenant's display name.
func (s *pageSession) wantGerman(what, heading string) {
	s.t.Helper()
	if got := s.attr("html", "lang"); got != "de" {
		s.t.Errorf("[%dpx] %s: lang=%q, want de", s.Width, what, got)
	}
	if got := s.Text("h1"); got != heading {
		s.t.Errorf("[%dpx] %s: heading %q, want %q", s.Width, what, got, heading)
	}
	if got := s.attr(".brand img", "alt"); got != "Logo von Müller Mode" {
		s.t.Errorf("[%dpx] %s: logo alt %q, want the display name in German", s.Width, what, got)
	}
}

// germanMail flushes the outbox and returns the newest mail to the address, which must
// be new since before (a count of messages) and have a German subject that starts with
// subject.
func (fx *browserFixture) germanMail(t *testing.T, email string, before int, subject string) notifytest.Mail {
	t.Helper()
	if _, err := fx.e.srv.DeliverNotifications(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(fx.smtp.Messages()); n <= before {
		t.Fatalf("no new mail to %s", email)
	}
	m := fx.smtp.WaitFor(t, email, browserTimeout)
	if !strings.HasPrefix(m.Subject, subject) || !strings.Contains(m.Body, "Müller Mode") {
		t.Errorf("mail %q, want the German %q signed by the display name:\n%s", m.Subject, subject, m.Body)
	}
	return m
}

var germanCodeRE = regexp.MustCompile(`^Ihr Anmeldecode: (\d{6})$`)

// flowBranded: a branded tenant's pages in German (ui_locales=de-DE kept from the
// login page through the wrong password, the second factor, a code asked for again
// and the consent of a third-party client; then the sign-out, the signed-out page and
// an error page), with the display name instead of the tenant's name, the logo's
// origin as the CSP's only img-src, the brand colour, and the tenant's own heading;
// Spanish by Accept-Language and French (the tenant's default) without either.
func flowBranded(t *testing.T, fx *browserFixture, s *pageSession) {
	origin := fx.branded(t)
	email := fx.shopper(t, brandedTenant, "branded", s.Width)
	ar := fx.authRequest(brandedTenant, partnerClient, partnerScopes, url.Values{"ui_locales": {"de-DE en"}})

	// The headers, as any client sees them: the CSP names the logo's origin exactly.
	resp, err := http.Get(ar.url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := resp.Header.Get("Content-Security-Policy"), "img-src "+origin; !strings.HasSuffix(got, "; "+want) || strings.Count(got, "img-src") != 1 {
		t.Errorf("CSP %q, want exactly %q as img-src", got, want)
	}
	// Without ui_locales: Accept-Language (Spanish), else the tenant's default (French).
	for _, c := range []struct{ acceptLanguage, lang, heading string }{
		{"es-MX, es;q=0.9, en;q=0.5", "es", "Iniciar sesión"},
		{"", "fr", "Se connecter"},
	} {
		req, _ := http.NewRequest(http.MethodGet, fx.authRequest(brandedTenant, browserClient, "openid", nil).url, nil)
		req.Header.Set("Accept-Language", c.acceptLanguage)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if page := string(b); !strings.Contains(page, `<html lang="`+c.lang+`">`) || !strings.Contains(page, "<h1>"+c.heading+"</h1>") {
			t.Errorf("Accept-Language %q: the page is not in %s: %.300s", c.acceptLanguage, c.lang, page)
		}
	}

	if status := s.Open(ar.url); status != http.StatusOK {
		t.Fatalf("login page: %d", status)
	}
	s.wantGerman("login page", "Anmelden")
	if got := s.attr(".brand img", "src"); got != origin+"/logo.svg" {
		t.Errorf("logo src %q", got)
	}
	if got := s.Text(".site-links"); !strings.Contains(got, "Hilfe") || !strings.Contains(got, "Datenschutz") || !strings.Contains(got, "AGB") {
		t.Errorf("footer links %q", got)
	}
	var colors struct{ Bg, Fg string }
	s.Eval(`(() => { const b = getComputedStyle(document.querySelector("#sign-in")); return {bg: b.backgroundColor, fg: b.color}; })()`, &colors)
	brand, err := identity.Colors("#2e8540")
	if err != nil {
		t.Fatal(err)
	}
	wantInk := map[string]string{"#ffffff": "rgb(255, 255, 255)", "#1d1d1f": "rgb(29, 29, 31)"}[brand.AccentInk]
	if colors.Bg != "rgb(46, 133, 64)" || colors.Fg != wantInk {
		t.Errorf("button %s on %s, want the brand colour with %s text (the ink that contrasts more)", colors.Fg, colors.Bg, wantInk)
	}
	s.Check("branded-sign-in-de")

	if status := signIn(s, email, "not the password"); status != http.StatusUnauthorized {
		t.Errorf("wrong password: %d", status)
	}
	s.wantErrorTiedTo("#password", "E-Mail-Adresse oder Passwort ist falsch")
	s.wantGerman("after a wrong password", "Anmelden")

	// The second factor: its page, a code asked for again too soon, the mailed code.
	before := len(fx.smtp.Messages())
	if status := signIn(s, email, shopperPass); status != http.StatusOK {
		t.Fatalf("sign in: %d", status)
	}
	s.wantGerman("second-factor page", "Bestätigen Sie, dass Sie es sind")
	if got := s.Text(".sub"); !strings.Contains(got, "3 Minuten") {
		t.Errorf("the code's lifetime for people in German: %q", got)
	}
	s.Check("branded-two-factor-de")
	m := germanCodeRE.FindStringSubmatch(fx.germanMail(t, email, before, "Ihr Anmeldecode: ").Subject)
	if m == nil {
		t.Fatal("no code in the German mail's subject")
	}
	if status := s.Press("#resend"); status != http.StatusTooManyRequests {
		t.Errorf("a new code at once: %d, want 429", status)
	}
	if got := s.Text("[role=alert]"); !strings.HasPrefix(got, "Soeben wurde ein Code gesendet. Warten Sie ") || !strings.Contains(got, " Sekunden, bevor") {
		t.Errorf("the resend's answer: %q", got)
	}
	s.wantGerman("after asking for a new code", "Bestätigen Sie, dass Sie es sind")
	s.Fill("#code", m[1])
	if status := s.Press("#verify"); status != http.StatusOK {
		t.Fatalf("verify: %d", status)
	}

	// The third-party client asks for consent.
	s.wantGerman("consent page", "Zugriff erlauben?")
	if got := s.Text("#signed-in-as"); got != email {
		t.Errorf("the consent page says signed in as %q, want %q", got, email)
	}
	if got := s.Text("ul.scopes"); !strings.Contains(got, "Ihre E-Mail-Adresse sehen") {
		t.Errorf("the consent page lists %q, want the scopes in German words", got)
	}
	if got := s.Text("main"); !strings.Contains(got, "Partner App") || strings.Contains(got, brandedTenant) {
		t.Errorf("the consent page: %q, want the client named and the tenant's slug nowhere", got)
	}
	s.Check("branded-consent-de")
	s.Press("#allow")
	fx.wantCode(t, s, ar)

	// Sign-out: the tenant's own heading, the question under the display name, then the
	// signed-out page's way back to the shop.
	if status := s.Open(fx.e.url + "/oauth2/" + brandedTenant + "/logout?ui_locales=de&client_id=" + browserClient); status != http.StatusOK {
		t.Fatalf("logout page: %d", status)
	}
	s.wantGerman("logout page", "Bei Müller Mode abmelden?")
	if got := s.Text(".sub"); got != "Möchten Sie sich bei Müller Mode abmelden?" || strings.Contains(got, brandedTenant) {
		t.Errorf("logout question %q, want the display name", got)
	}
	s.Check("branded-logout-de")
	if status := s.Press(`button[type=submit]`); status != http.StatusOK {
		t.Fatalf("sign out: %d", status)
	}
	s.wantGerman("signed-out page", "Abgemeldet")
	if got := s.Text("#back"); got != "Zurück zu Müller Mode" || s.attr("#back", "href") != fx.storefront.url+"/" {
		t.Errorf("the signed-out page's way back: %q to %q", got, s.attr("#back", "href"))
	}
	s.Check("branded-signed-out-de")

	// An error page: a redirect URI the client does not have.
	bad := fx.authRequest(brandedTenant, browserClient, "openid", url.Values{"ui_locales": {"de"}, "redirect_uri": {"http://127.0.0.1:1/elsewhere"}})
	if status := s.Open(bad.url); status != http.StatusBadRequest {
		t.Errorf("bad redirect: %d", status)
	}
	s.wantGerman("error page", "Etwas ist schiefgelaufen")
	if got := s.Text("#request-id"); !strings.Contains(got, "nennen Sie diese Referenz") || len(strings.TrimSpace(s.Text("#request-id code"))) < 8 {
		t.Errorf("the error page's request id, in German: %q", got)
	}
	if got := s.Text("#back"); got != "Zurück zu Müller Mode" {
		t.Errorf("the error page's way back: %q", got)
	}
	s.Check("branded-error-de")
}

var (
	brandedConfirmRE = regexp.MustCompile(`(http://\S+/oauth2/` + brandedTenant + `/signup/confirm\?\S+)`)
	brandedResetRE   = regexp.MustCompile(`(http://\S+/oauth2/` + brandedTenant + `/password/new\?\S+)`)
)

// flowBrandedAccounts: the branded tenant's sign-up (with its activation mail and
// page) and password reset (with its mail and new-password page) in German, the
// language of the authorization request, carried through every form, mail and link.
func flowBrandedAccounts(t *testing.T, fx *browserFixture, s *pageSession) {
	fx.branded(t)
	fx.mu.Lock()
	fx.n++
	email := fmt.Sprintf("branded-signup-%d-%d@example.com", s.Width, fx.n)
	fx.mu.Unlock()
	ar := fx.authRequest(brandedTenant, browserClient, "openid email", url.Values{"ui_locales": {"de"}})
	s.Open(ar.url)
	if status := s.Press("#create-account"); status != http.StatusOK {
		t.Fatalf("create account: %d", status)
	}
	s.wantGerman("sign-up page", "Konto erstellen")
	s.Check("branded-sign-up-de")
	s.Fill("#email", email)
	s.Fill("#password", shopperPass)
	before := len(fx.smtp.Messages())
	if status := s.Press("#create-account"); status != http.StatusOK {
		t.Fatalf("sign up: %d", status)
	}
	s.wantGerman("after signing up", "Sehen Sie in Ihr Postfach")
	link := brandedConfirmRE.FindStringSubmatch(fx.germanMail(t, email, before, "Aktivieren Sie Ihr Konto").Body)
	if link == nil {
		t.Fatal("no link in the activation mail")
	}
	s.Open(link[1])
	s.wantGerman("confirmation page", "Aktivieren Sie Ihr Konto")
	s.Check("branded-sign-up-confirm-de")
	if status := s.Press("#activate"); status != http.StatusOK {
		t.Fatalf("activate: %d", status)
	}
	s.wantGerman("after activating", "Ihr Konto ist aktiv")
	s.Press("#continue")
	s.wantGerman("back at the login page", "Anmelden")

	if status := s.Press("#forgot-password"); status != http.StatusOK {
		t.Fatalf("forgot password: %d", status)
	}
	s.wantGerman("reset page", "Passwort zurücksetzen")
	s.Check("branded-password-reset-de")
	s.Fill("#email", email)
	before = len(fx.smtp.Messages())
	if status := s.Press("#send-link"); status != http.StatusOK {
		t.Fatalf("send link: %d", status)
	}
	s.wantGerman("after asking", "Sehen Sie in Ihr Postfach")
	link = brandedResetRE.FindStringSubmatch(fx.germanMail(t, email, before, "Passwort zurücksetzen").Body)
	if link == nil {
		t.Fatal("no link in the reset mail")
	}
	s.Open(link[1])
	s.wantGerman("new-password page", "Neues Passwort wählen")
	s.Check("branded-password-new-de")
	s.Fill("#password", "ein ganz neues Passwort")
	if status := s.Press("#set-password"); status != http.StatusOK {
		t.Fatalf("set password: %d", status)
	}
	s.wantGerman("after setting", "Passwort geändert")
	s.Check("branded-password-changed-de")
	s.Press("#continue")
	s.wantGerman("back at the login page", "Anmelden")
}

// flowAcceptLanguage: a browser set to Swiss German (Accept-Language, no ui_locales)
// on a tenant without a default language gets German pages: the login page, a wrong
// password's message, and, signed in, the code at the storefront.
func flowAcceptLanguage(t *testing.T, fx *browserFixture, s *pageSession) {
	email := fx.shopper(t, testTenant, "acceptlang", s.Width)
	s.AcceptLanguage("de-CH", "de", "en")
	ar := fx.authRequest(testTenant, browserClient, browserScopes, nil)
	if status := s.Open(ar.url); status != http.StatusOK {
		t.Fatalf("login page: %d", status)
	}
	if got := s.attr("html", "lang"); got != "de" {
		t.Errorf("lang=%q, want de", got)
	}
	if got := s.Text("h1"); got != "Anmelden" {
		t.Errorf("login heading %q, want German", got)
	}
	if got := s.Text("#forgot-password"); got != "Passwort vergessen?" {
		t.Errorf("the reset link says %q, want German", got)
	}
	s.Check("accept-language-sign-in-de")
	if status := signIn(s, email, "not the password"); status != http.StatusUnauthorized {
		t.Errorf("wrong password: %d", status)
	}
	s.wantErrorTiedTo("#password", "E-Mail-Adresse oder Passwort ist falsch")
	if got := s.attr("html", "lang"); got != "de" {
		t.Errorf("after the post: lang=%q, want de", got)
	}
	signIn(s, email, shopperPass)
	fx.wantCode(t, s, ar)
}

// flowLongTexts: a tenant whose display name and heading are as long as the settings
// allow and have no space to wrap at, and Arabic (right-to-left) text among them: the
// page still fits a phone's width (Check fails on sideways scrolling and on a card
// that reaches the screen's edges) and shows every character, escaped.
func flowLongTexts(t *testing.T, fx *browserFixture, s *pageSession) {
	const tenant = "lang"
	name := string([]rune(strings.Repeat("Müllermodeundsöhne", 5))[:80])
	heading := "مرحبا " + strings.Repeat("<b>Willkommen</b>", 6)
	fx.mu.Lock()
	if _, err := fx.e.srv.OAuth.GetTenant(context.Background(), tenant); err != nil {
		if _, err := fx.e.srv.OAuth.CreateTenant(context.Background(), tenant); err != nil {
			t.Fatal(err)
		}
		if _, err := fx.e.srv.OAuth.CreateClient(context.Background(), &oauth.Client{Tenant: tenant, ID: browserClient,
			Name: "متجر الأزياء " + strings.Repeat("X", 60), Public: true, FirstParty: true, RedirectURIs: []string{fx.storefront.callback()},
			GrantTypes: []string{identity.GrantAuthorizationCode}, Scopes: []string{"openid"}}, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := fx.e.srv.OAuth.UpdateTenantSettings(context.Background(), tenant, map[string]string{
			"branding.display_name": name, "branding.text.login_heading": heading}); err != nil {
			t.Fatal(err)
		}
	}
	fx.mu.Unlock()
	s.Open(fx.authRequest(tenant, browserClient, "openid", nil).url)
	if got := s.Text(".brand"); got != name {
		t.Errorf("display name %q, want %q", got, name)
	}
	if got := s.Text("h1"); got != heading {
		t.Errorf("heading %q, want the tenant's text as text %q", got, heading)
	}
	s.Check("long-texts")
}
