package custodian_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// TestThirdPartyConsent: a client that is not first-party gets the consent page after
// the login; "allow" is remembered for the same scopes, "deny" is access_denied.
func TestThirdPartyConsent(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			const app, redirect = "partner-app", "http://127.0.0.1:9/partner"
			if _, err := e.srv.OAuth.CreateClient(context.Background(), &oauth.Client{Tenant: testTenant, ID: app, Name: "Partner App",
				Public: true, RedirectURIs: []string{redirect}, Scopes: []string{"openid", "email"},
				GrantTypes: []string{identity.GrantAuthorizationCode}}, ""); err != nil {
				t.Fatal(err)
			}
			authURL := e.issuer() + "/auth?" + url.Values{"response_type": {"code"}, "client_id": {app}, "redirect_uri": {redirect},
				"scope": {"openid email"}, "state": {"state-123456"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
				"code_challenge_method": {"S256"}}.Encode()
			c := browser(t)
			action, csrf := loginForm(t, c, authURL)
			resp := postForm(t, c, action, url.Values{"email": {shopperEmail}, "password": {shopperPass}, "csrf_token": {csrf}, "step": {"password"}})
			page := readBody(t, resp)
			if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Allow access?") || !strings.Contains(page, "Partner App") {
				t.Fatalf("no consent page after login: %d %s", resp.StatusCode, page)
			}
			consentAction, consentCSRF := formParts(t, resp.Request.URL, page)
			resp = postForm(t, c, consentAction, url.Values{"csrf_token": {consentCSRF}, "step": {"consent"}, "consent": {"allow"}})
			readBody(t, resp)
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Query().Get("code") == "" {
				t.Fatalf("allow: %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			// The consent is remembered: the same request now redirects at once.
			resp, err := c.Get(authURL)
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			if resp.StatusCode != http.StatusSeeOther {
				t.Errorf("remembered consent: %d", resp.StatusCode)
			}
			// prompt=consent asks again; deny answers access_denied to the client.
			resp, err = c.Get(authURL + "&prompt=consent")
			if err != nil {
				t.Fatal(err)
			}
			page = readBody(t, resp)
			consentAction, consentCSRF = formParts(t, resp.Request.URL, page)
			resp = postForm(t, c, consentAction, url.Values{"csrf_token": {consentCSRF}, "step": {"consent"}, "consent": {"deny"}})
			readBody(t, resp)
			loc, _ = url.Parse(resp.Header.Get("Location"))
			if loc == nil || loc.Query().Get("error") != "access_denied" {
				t.Errorf("deny: %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			// A consent post without the CSRF token is refused.
			resp = postForm(t, c, consentAction, url.Values{"step": {"consent"}, "consent": {"allow"}})
			readBody(t, resp)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("consent without CSRF: %d", resp.StatusCode)
			}
		})
	}
}
