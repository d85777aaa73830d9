package custodian_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/notify/notifytest"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage/storagetest"
	"github.com/custodian-id/custodian/twofactor"
)

// Pre-account takeover (issue 10, item 2), end to end with a second Custodian tenant
// as the real upstream provider. An attacker signs up with the victim's address (the
// account is active and unverified: signup.optin is off), arms it, and waits; the
// victim then signs in through a provider that verified the address. The verified
// owner wins: the account is the victim's, and nothing the attacker set up still
// opens it.

// preAccount is what an attacker holds on an account made with someone else's address.
type preAccount struct {
	id          int64
	access      string // login API tokens
	refresh     string
	browser     *http.Client // signed in at the login pages
	pendingCode string       // an authorization code not yet exchanged
	verifier    string
	changeToken string // an e-mail change to the attacker's own address, unconfirmed
	devices     []string
}

// preHijack signs up with email as an attacker would and arms the account: a browser
// session, an unexchanged code, login API tokens, a device, an authenticator app and a
// pending change of the address to one the attacker reads.
func preHijack(t *testing.T, e *env, smtp *notifytest.SMTPServer, conf *oauth2.Config, email string) preAccount {
	t.Helper()
	anon := anonymousLogin(t, e)["access_token"].(string)
	if got := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/signup", seedSignup(email), jsonBearer(anon)...); got.status != http.StatusCreated {
		t.Fatalf("attacker signup: %d %s", got.status, got.raw)
	}
	acc, err := e.srv.Store().GetAccountByEmail(context.Background(), testTenant, email)
	if err != nil || acc.EmailVerified || !acc.Active {
		t.Fatalf("the attacker's account: %+v %v", acc, err)
	}
	p := preAccount{id: acc.ID, browser: browser(t), verifier: oauth2.GenerateVerifier()}
	p.pendingCode = authorize(t, p.browser, conf, p.verifier, "state-attacker", "nonce-attacker", email, "password123")

	body, _ := json.Marshal(map[string]string{"email": email, "password": "password123", "fingerprint": "attacker-laptop"})
	got := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/login", string(body), jsonBearer(anon)...)
	if got.status != http.StatusOK {
		t.Fatalf("attacker login: %d %s", got.status, got.raw)
	}
	p.access, p.refresh = got.body["access_token"].(string), got.body["refresh_token"].(string)
	devs, _ := e.srv.Store().ListDevices(context.Background(), testTenant, p.id)
	for _, d := range devs {
		p.devices = append(p.devices, d.ID)
	}
	if len(p.devices) == 0 {
		t.Fatal("the attacker's sign-in recorded no device")
	}

	enr := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/me/2fa/totp", "", jsonBearer(p.access)...)
	if enr.status != http.StatusOK {
		t.Fatalf("attacker enrolls TOTP: %d %s", enr.status, enr.raw)
	}
	key, err := otp.NewKeyFromURL(enr.body["otpauthUri"].(string))
	if err != nil {
		t.Fatal(err)
	}
	code, err := totp.GenerateCodeCustom(key.Secret(), e.clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	if r := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/me/2fa/totp/confirm", `{"code":"`+code+`"}`, jsonBearer(p.access)...); r.status != http.StatusOK {
		t.Fatalf("attacker confirms TOTP: %d %s", r.status, r.raw)
	}

	attackerMail := "attacker+" + strings.Split(email, "@")[0] + "@evil.example"
	sent := len(smtp.Messages())
	if r := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/me/accounts/internal/email/change",
		`{"email":"`+email+`","password":"password123","newEmail":"`+attackerMail+`"}`, jsonBearer(p.access)...); r.status != http.StatusNoContent {
		t.Fatalf("attacker asks to change the address: %d %s", r.status, r.raw)
	}
	p.changeToken = mailedToken(t, e, smtp, attackerMail, sent)
	return p
}

// wantDisarmed checks that nothing the attacker set up opens the account any more, and
// that the account's address now counts as verified; claimed: a provider's sign-in
// proved it (the password is gone), otherwise a password reset did.
func wantDisarmed(t *testing.T, e *env, conf *oauth2.Config, p preAccount, email string, claimed bool) {
	t.Helper()
	ctx := context.Background()
	anon := anonymousLogin(t, e)["access_token"].(string)
	if r := loginWith(t, e, anon, email, "password123"); r.status != http.StatusUnauthorized {
		t.Errorf("the attacker's password still works: %d %s", r.status, r.raw)
	}
	if r := loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/validateauthtoken", "", jsonBearer(p.access)...); r.status != http.StatusUnauthorized {
		t.Errorf("the attacker's access token still works: %d", r.status)
	}
	if status, body := refresh(t, e, p.refresh); status == http.StatusOK {
		t.Errorf("the attacker's refresh token still works: %v", body)
	}
	if _, err := conf.Exchange(ctx, p.pendingCode, oauth2.VerifierOption(p.verifier)); err == nil {
		t.Error("the attacker's pending authorization code still works")
	}
	// The attacker's browser session is gone: the login page asks again.
	resp, body := follow(t, p.browser, conf.AuthCodeURL("state-again", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oidc.Nonce("nonce-again")))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="password"`) {
		t.Errorf("the attacker's browser session still signs in: %d", resp.StatusCode)
	}
	if r := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/me/accounts/internal/email/change/confirm",
		`{"token":"`+p.changeToken+`"}`, jsonBearer(anon)...); r.status != http.StatusBadRequest {
		t.Errorf("the attacker's e-mail change still works: %d %s", r.status, r.raw)
	}
	acc, err := e.srv.Store().GetAccount(ctx, testTenant, p.id)
	if err != nil || !acc.EmailVerified || (acc.PasswordHash == "") != claimed || acc.Email != email {
		t.Errorf("the account after the owner proved the address: %+v %v", acc, err)
	}
	if _, err := e.srv.Store().GetTOTP(ctx, testTenant, p.id); !errors.Is(err, twofactor.ErrNotFound) {
		t.Errorf("the attacker's authenticator app survived: %v", err)
	}
	devs, _ := e.srv.Store().ListDevices(ctx, testTenant, p.id)
	for _, d := range devs {
		if slices.Contains(p.devices, d.ID) {
			t.Errorf("the attacker's device survived: %+v", d)
		}
	}
	events, _ := e.srv.Store().ListEvents(ctx, testTenant, &p.id, 100)
	recorded := false
	for _, ev := range events {
		recorded = recorded || ev.Kind == customer.EventSocialClaimed
	}
	if recorded != claimed {
		t.Errorf("social.claimed security event: %v, want %v", recorded, claimed)
	}
}

func TestPreAccountTakeover(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			smtp := notifytest.StartSMTP(t)
			e := newEnv(t, b, withSMTP(smtp), allowPrivateURLs)
			e.clock.Advance(0)
			ctx := context.Background()
			socialSetup(t, e)
			provider, err := oidc.NewProvider(ctx, e.issuer())
			if err != nil {
				t.Fatal(err)
			}
			conf := spaConfig(e, provider)

			// social.autolink on (the default): the victim's first social sign-in.
			const victim = "victim@example.com"
			upstreamUser(t, e, victim, true)
			p := preHijack(t, e, smtp, conf, victim)
			sent := len(smtp.Messages())
			verifier := oauth2.GenerateVerifier()
			code, resp, body := socialCode(t, e, browser(t), verifier, victim)
			if code == "" {
				t.Fatalf("the victim's social sign-in: %d %s", resp.StatusCode, body)
			}
			got := socialLogin(t, e, anonymousLogin(t, e)["access_token"].(string), code, spaRedirect, verifier)
			if got.status != http.StatusOK || jwtClaims(t, got.body["saas_token"].(string))["sub"] != itoa(p.id) {
				t.Fatalf("the victim's socialLogin: %d %s", got.status, got.raw)
			}
			wantDisarmed(t, e, conf, p, victim, true)
			if r := loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/validateauthtoken", "", jsonBearer(got.body["access_token"].(string))...); r.status != http.StatusOK {
				t.Errorf("the victim's tokens: %d %s", r.status, r.raw)
			}
			if _, err := e.srv.DeliverNotifications(ctx); err != nil {
				t.Fatal(err)
			}
			if n := len(smtp.Messages()); n <= sent {
				t.Error("the address was not told")
			} else if m := smtp.WaitFor(t, victim, 10*time.Second); !strings.Contains(m.Body, "password") {
				t.Errorf("notice to the owner: %s", m.Body)
			}
			// The victim signs in again with the provider: the link holds.
			verifier = oauth2.GenerateVerifier()
			if code, _, body := socialCode(t, e, browser(t), verifier, victim); code == "" {
				t.Errorf("second social sign-in: %s", body)
			}

			// social.autolink and social.autoprovision off: no password form is offered
			// for an unverified account (its password proves nothing about the address);
			// the verified owner claims it the same way.
			setTenant(t, e, "social.autolink", "false", "social.autoprovision", "false")
			const victim2 = "victim2@example.com"
			upstreamUser(t, e, victim2, true)
			p2 := preHijack(t, e, smtp, conf, victim2)
			verifier = oauth2.GenerateVerifier()
			code, resp, body = socialCode(t, e, browser(t), verifier, victim2)
			if code == "" || strings.Contains(body, "link_token") {
				t.Fatalf("autolink off, unverified account: code %q, %d %s", code, resp.StatusCode, body)
			}
			if got := socialLogin(t, e, anonymousLogin(t, e)["access_token"].(string), code, spaRedirect, verifier); got.status != http.StatusOK ||
				jwtClaims(t, got.body["saas_token"].(string))["sub"] != itoa(p2.id) {
				t.Fatalf("autolink off: %d %s", got.status, got.raw)
			}
			wantDisarmed(t, e, conf, p2, victim2, true)
			setTenant(t, e, "social.autolink", "true", "social.autoprovision", "true")

			// An identity linked before this rule (an older auto-link did link the
			// victim to the attacker's account): the next sign-in claims it.
			const victim3 = "victim3@example.com"
			upstreamUser(t, e, victim3, true)
			p3 := preHijack(t, e, smtp, conf, victim3)
			up3, err := e.srv.Store().GetAccountByEmail(ctx, upstreamTenant, victim3)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.srv.Store().LinkIdentity(ctx, &customer.Identity{Tenant: testTenant, Issuer: e.url + "/oauth2/" + upstreamTenant,
				Subject: itoa(up3.ID), ConnectorID: "up", CustomerID: p3.id, Email: victim3, CreatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
			verifier = oauth2.GenerateVerifier()
			if code, resp, body := socialCode(t, e, browser(t), verifier, victim3); code == "" {
				t.Fatalf("legacy link: %d %s", resp.StatusCode, body)
			}
			wantDisarmed(t, e, conf, p3, victim3, true)

			// Token exchange (RFC 8693) with an ID token the real upstream issued.
			const victim4 = "victim4@example.com"
			upstreamUser(t, e, victim4, true)
			p4 := preHijack(t, e, smtp, conf, victim4)
			if _, err := e.srv.OAuth.CreateClient(ctx, &oauth.Client{Tenant: testTenant, ID: "mobile", Public: true, FirstParty: true,
				GrantTypes: []string{identity.GrantAnonymous, identity.GrantRefreshToken, identity.GrantTokenExchange}, Scopes: []string{"openid"}}, ""); err != nil {
				t.Fatal(err)
			}
			status, tok := tokenRequest(t, e, url.Values{"grant_type": {identity.GrantTokenExchange}, "client_id": {"mobile"},
				"subject_token": {upstreamIDToken(t, e, victim4)}, "subject_token_type": {oauth.TokenTypeIDToken}})
			if status != http.StatusOK || jwtClaims(t, tok["jwt_access_token"].(string))["sub"] != itoa(p4.id) {
				t.Fatalf("token exchange: %d %v", status, tok)
			}
			wantDisarmed(t, e, conf, p4, victim4, true)
		})
	}
}

// upstreamIDToken runs a code flow at the upstream tenant as Custodian's connector
// client and returns the ID token, as a native app's "Sign in with …" SDK would hold it.
func upstreamIDToken(t *testing.T, e *env, email string) string {
	t.Helper()
	ctx := context.Background()
	up, err := oidc.NewProvider(ctx, e.url+"/oauth2/"+upstreamTenant)
	if err != nil {
		t.Fatal(err)
	}
	conf := &oauth2.Config{ClientID: upstreamClient, ClientSecret: upstreamSecret, Endpoint: up.Endpoint(),
		RedirectURL: e.issuer() + "/connectors/up/callback", Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}
	c := browser(t)
	verifier := oauth2.GenerateVerifier()
	action, csrf := loginForm(t, c, conf.AuthCodeURL("state-native", oauth2.S256ChallengeOption(verifier), oidc.Nonce("nonce-native")))
	resp := postForm(t, c, action, url.Values{"email": {email}, "password": {shopperPass}, "csrf_token": {csrf}, "step": {"password"}})
	readBody(t, resp)
	tok, err := conf.Exchange(ctx, location(t, resp).Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	return raw
}

// TestPasswordResetProvesTheAddress: the other way an owner proves the address is a
// password reset from the mailbox. On a never-verified account it disarms what the
// attacker set up just as a claim does (the password is replaced, not removed); on a
// verified account a reset leaves the second factors alone.
func TestPasswordResetProvesTheAddress(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			smtp := notifytest.StartSMTP(t)
			e := newEnv(t, b, withSMTP(smtp), allowPrivateURLs)
			e.clock.Advance(0)
			ctx := context.Background()
			socialSetup(t, e)
			provider, err := oidc.NewProvider(ctx, e.issuer())
			if err != nil {
				t.Fatal(err)
			}
			conf := spaConfig(e, provider)
			const victim = "victim5@example.com"
			upstreamUser(t, e, victim, true)
			p := preHijack(t, e, smtp, conf, victim)
			anon := anonymousLogin(t, e)["access_token"].(string)
			reset := func(password string) {
				t.Helper()
				sent := len(smtp.Messages())
				if r := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/password/reset", `{"email":"`+victim+`"}`, jsonBearer(anon)...); r.status != http.StatusNoContent {
					t.Fatalf("reset request: %d %s", r.status, r.raw)
				}
				tok := mailedToken(t, e, smtp, victim, sent)
				if r := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/password/reset/update",
					`{"token":"`+tok+`","password":"`+password+`"}`, jsonBearer(anon)...); r.status != http.StatusNoContent {
					t.Fatalf("reset: %d %s", r.status, r.raw)
				}
			}
			reset("the victim's own secret")
			wantDisarmed(t, e, conf, p, victim, false)
			// The attacker's authenticator app is gone: the owner's password alone signs in.
			got := loginWith(t, e, anon, victim, "the victim's own secret")
			if got.status != http.StatusOK || got.body["access_token"] == nil {
				t.Fatalf("the owner after the reset: %d %s", got.status, got.raw)
			}
			// Verified now, the account links to the provider as it stands.
			verifier := oauth2.GenerateVerifier()
			if code, resp, body := socialCode(t, e, browser(t), verifier, victim); code == "" {
				t.Fatalf("social sign-in after the reset: %d %s", resp.StatusCode, body)
			}
			if r := loginWith(t, e, anon, victim, "the victim's own secret"); r.status != http.StatusOK {
				t.Errorf("linking a verified account removed its password: %d %s", r.status, r.raw)
			}

			// On a verified account, a reset keeps the owner's authenticator app.
			me := loginWith(t, e, anon, victim, "the victim's own secret").body["access_token"].(string)
			enr := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/me/2fa/totp", "", jsonBearer(me)...)
			key, err := otp.NewKeyFromURL(enr.body["otpauthUri"].(string))
			if err != nil {
				t.Fatalf("enroll: %d %s", enr.status, enr.raw)
			}
			code, _ := totp.GenerateCodeCustom(key.Secret(), e.clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
			if r := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/me/2fa/totp/confirm", `{"code":"`+code+`"}`, jsonBearer(me)...); r.status != http.StatusOK {
				t.Fatalf("confirm: %d %s", r.status, r.raw)
			}
			reset("another secret of hers")
			body, _ := json.Marshal(map[string]string{"email": victim, "password": "another secret of hers", "fingerprint": "new-phone"})
			if r := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/login", string(body), jsonBearer(anon)...); r.body["requires2FA"] != true {
				t.Errorf("a reset of a verified account dropped its second factor: %d %s", r.status, r.raw)
			}
		})
	}
}
