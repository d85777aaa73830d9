package custodian_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/custodian-id/custodian/notify/notifytest"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// TestMailLanguageAndBrand: a reset asked for from the hosted page by a German browser
// (Accept-Language) sends a German mail, its duration written for people, signed and
// sent under the tenant's display name; a French tenant default without any language
// of the request gives French.
func TestMailLanguageAndBrand(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			smtp := notifytest.StartSMTP(t)
			e := newEnv(t, b, withSMTP(smtp))
			ctx := context.Background()
			if _, err := e.srv.OAuth.UpdateTenantSettings(ctx, testTenant, map[string]string{"branding.display_name": "Müller Mode"}); err != nil {
				t.Fatal(err)
			}
			ask := func(email, acceptLanguage string) string {
				t.Helper()
				if _, err := e.srv.Customers.CreateAccount(ctx, testTenant, customerNew(email, shopperPass)); err != nil {
					t.Fatal(err)
				}
				c := browser(t)
				_, _, action, csrf := hostedPage(t, c, e.issuer()+"/password/reset")
				req, _ := http.NewRequest(http.MethodPost, action, strings.NewReader(url.Values{"csrf_token": {csrf}, "email": {email}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if acceptLanguage != "" {
					req.Header.Set("Accept-Language", acceptLanguage)
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				page := readBody(t, resp)
				if acceptLanguage != "" && !strings.Contains(page, `<html lang="de">`) {
					t.Errorf("the answer page is not German: %.200s", page)
				}
				if _, err := e.srv.DeliverNotifications(ctx); err != nil {
					t.Fatal(err)
				}
				m := smtp.WaitFor(t, email, 10*time.Second)
				return m.Subject + "\n" + m.Body
			}
			de := ask("mail-de-"+b.Name+"@example.com", "de-DE,de;q=0.9")
			for _, want := range []string{"gültig für 1 Stunde", "Mit freundlichen Grüßen", "Müller Mode"} {
				if !strings.Contains(de, want) {
					t.Errorf("German mail without %q:\n%s", want, de)
				}
			}
			if strings.Contains(de, "1h0m0s") {
				t.Errorf("a duration for machines in the mail:\n%s", de)
			}
			if _, err := e.srv.OAuth.UpdateTenantSettings(ctx, testTenant, map[string]string{"branding.default_locale": "fr"}); err != nil {
				t.Fatal(err)
			}
			fr := ask("mail-fr-"+b.Name+"@example.com", "")
			if !strings.Contains(fr, "valable 1 heure") {
				t.Errorf("the tenant's default (fr) not used:\n%s", fr)
			}
		})
	}
}

// langTransport sends every request with the browser's Accept-Language.
type langTransport struct{ lang string }

func (l langTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Accept-Language", l.lang)
	return http.DefaultTransport.RoundTrip(r)
}

// TestHostedFlowLanguage (issue 14): the language a flow started in (ui_locales=de of
// the authorization request) holds through every hosted flow, though the browser asks
// for Spanish and the tenant's default is French: the login page's links to the reset
// and sign-up pages, their posts, the mails they cause, the mailed links' pages opened
// in another (Spanish) browser, and their posts; and a second-factor code sent again
// is written in the language of the first, whatever the request that asks for it.
func TestHostedFlowLanguage(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			smtp := notifytest.StartSMTP(t)
			e := newEnv(t, b, withSMTP(smtp))
			ctx := context.Background()
			setTenant(t, e, "branding.default_locale", "fr", "signup.optin", "true")
			spanish := func() *http.Client {
				c := browser(t)
				c.Transport = langTransport{"es-ES,es;q=0.9"}
				return c
			}
			conf := &oauth2.Config{ClientID: spaClient, RedirectURL: spaRedirect, Scopes: []string{"openid"},
				Endpoint: oauth2.Endpoint{AuthURL: e.issuer() + "/auth", TokenURL: e.issuer() + "/token"}}
			authURL := func(state string) string {
				return conf.AuthCodeURL(state, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("ui_locales", "de-DE en"))
			}
			wantGerman := func(what string, resp *http.Response, wantStatus int, wantHeading string) string {
				t.Helper()
				body := readBody(t, resp)
				if resp.StatusCode != wantStatus || !strings.Contains(body, `<html lang="de">`) || htmlUnescape(heading(body)) != wantHeading {
					t.Errorf("%s: %d, heading %q, want %d %q in German: %.300s", what, resp.StatusCode, heading(body), wantStatus, wantHeading, body)
				}
				return body
			}
			get := func(c *http.Client, u string) *http.Response {
				t.Helper()
				resp, err := c.Get(u)
				if err != nil {
					t.Fatal(err)
				}
				return resp
			}
			newMail := func(email string, before int) notifytest.Mail {
				t.Helper()
				if _, err := e.srv.DeliverNotifications(ctx); err != nil {
					t.Fatal(err)
				}
				if n := len(smtp.Messages()); n <= before {
					t.Fatalf("no new mail to %s", email)
				}
				return smtp.WaitFor(t, email, 10*time.Second)
			}
			linkRE := regexp.MustCompile(`href="(/oauth2/` + testTenant + `/(?:signup|password/reset)\?[^"]+)"`)
			loginLinks := func(c *http.Client, au string) map[string]string {
				t.Helper()
				body := wantGerman("login page", get(c, au), http.StatusOK, "Anmelden")
				links := map[string]string{}
				for _, m := range linkRE.FindAllStringSubmatch(body, -1) {
					u := htmlUnescape(m[1])
					links[strings.SplitN(strings.TrimPrefix(u, "/oauth2/"+testTenant+"/"), "?", 2)[0]] = e.url + u
				}
				return links
			}

			t.Run("reset: request page, mail, new-password page", func(t *testing.T) {
				email := "lang-reset-" + b.Name + "@example.com"
				if _, err := e.srv.Customers.CreateAccount(ctx, testTenant, customerNew(email, shopperPass)); err != nil {
					t.Fatal(err)
				}
				c := spanish()
				link := loginLinks(c, authURL("state-lang-reset"))["password/reset"]
				if link == "" {
					t.Fatal("no reset link on the login page")
				}
				body := wantGerman("reset page", get(c, link), http.StatusOK, "Passwort zurücksetzen")
				action, csrf := formParts(t, mustParse(t, link), body)
				form := url.Values{"csrf_token": {csrf}, "email": {email}}
				if m := hiddenReturnRE.FindStringSubmatch(body); m != nil {
					form.Set("return", htmlUnescape(m[1]))
				}
				before := len(smtp.Messages())
				wantGerman("reset sent", postForm(t, c, action, form), http.StatusOK, "Sehen Sie in Ihr Postfach")
				m := newMail(email, before)
				if m.Subject != "Passwort zurücksetzen" {
					t.Errorf("reset mail subject %q, want German", m.Subject)
				}
				mailed := hostedResetRE.FindStringSubmatch(m.Body)
				if mailed == nil {
					t.Fatalf("no link in the reset mail: %s", m.Body)
				}
				if got := mustParse(t, mailed[1]).Query().Get("ui_locales"); got != "de" {
					t.Errorf("the mailed link's ui_locales=%q, want de: %s", got, mailed[1])
				}
				other := spanish() // the mail opened in another browser
				body = wantGerman("new-password page", get(other, mailed[1]), http.StatusOK, "Neues Passwort wählen")
				action, csrf = formParts(t, mustParse(t, mailed[1]), body)
				form = url.Values{"csrf_token": {csrf}, "token": {mustParse(t, mailed[1]).Query().Get("token")}, "password": {"a brand new passphrase"}}
				wantGerman("password changed", postForm(t, other, action, form), http.StatusOK, "Passwort geändert")
			})

			t.Run("sign-up with opt-in: page, mail, confirmation page", func(t *testing.T) {
				email := "lang-signup-" + b.Name + "@example.com"
				c := spanish()
				link := loginLinks(c, authURL("state-lang-signup"))["signup"]
				if link == "" {
					t.Fatal("no sign-up link on the login page")
				}
				body := wantGerman("sign-up page", get(c, link), http.StatusOK, "Konto erstellen")
				action, csrf := formParts(t, mustParse(t, link), body)
				form := url.Values{"csrf_token": {csrf}, "email": {email}, "password": {shopperPass}}
				if m := hiddenReturnRE.FindStringSubmatch(body); m != nil {
					form.Set("return", htmlUnescape(m[1]))
				}
				before := len(smtp.Messages())
				wantGerman("sign-up sent", postForm(t, c, action, form), http.StatusOK, "Sehen Sie in Ihr Postfach")
				m := newMail(email, before)
				if m.Subject != "Aktivieren Sie Ihr Konto" {
					t.Errorf("activation mail subject %q, want German", m.Subject)
				}
				mailed := hostedConfirmRE.FindStringSubmatch(m.Body)
				if mailed == nil {
					t.Fatalf("no link in the activation mail: %s", m.Body)
				}
				other := spanish()
				body = wantGerman("confirmation page", get(other, mailed[1]), http.StatusOK, "Aktivieren Sie Ihr Konto")
				action, csrf = formParts(t, mustParse(t, mailed[1]), body)
				form = url.Values{"csrf_token": {csrf}, "token": {mustParse(t, mailed[1]).Query().Get("token")}}
				wantGerman("account active", postForm(t, other, action, form), http.StatusOK, "Ihr Konto ist aktiv")
			})

			t.Run("second factor: a code sent again keeps the first one's language", func(t *testing.T) {
				setTenant(t, e, "twofactor.triggers", "always")
				defer setTenant(t, e, "twofactor.triggers", "off")
				email := "lang-2fa-" + b.Name + "@example.com"
				if _, err := e.srv.Customers.CreateAccount(ctx, testTenant, customerNew(email, shopperPass)); err != nil {
					t.Fatal(err)
				}
				c := spanish()
				au := authURL("state-lang-2fa")
				action, csrf := loginForm(t, c, au)
				before := len(smtp.Messages())
				body := wantGerman("second-factor page", postForm(t, c, action, url.Values{"csrf_token": {csrf}, "step": {"password"},
					"email": {email}, "password": {shopperPass}}), http.StatusOK, "Bestätigen Sie, dass Sie es sind")
				if m := newMail(email, before); !strings.HasPrefix(m.Subject, "Ihr Anmeldecode: ") {
					t.Errorf("first code's subject %q, want German", m.Subject)
				}
				challenge := regexp.MustCompile(`name="challenge_id" value="([^"]+)"`).FindStringSubmatch(body)
				if challenge == nil {
					t.Fatalf("no challenge on the page: %s", body)
				}
				action, csrf = formParts(t, mustParse(t, action), body)
				// The resend posts to the request without its ui_locales: the page answers
				// in the browser's Spanish, the code's mail stays German.
				u := mustParse(t, action)
				q := u.Query()
				q.Del("ui_locales")
				u.RawQuery = q.Encode()
				e.clock.Advance(ResendWait)
				before = len(smtp.Messages())
				resp := postForm(t, c, u.String(), url.Values{"csrf_token": {csrf}, "step": {"2fa_resend"}, "challenge_id": {challenge[1]},
					"methods": {"email"}})
				if body := readBody(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Le estamos enviando un código nuevo.") {
					t.Errorf("resend: %d %.300s", resp.StatusCode, body)
				}
				if m := newMail(email, before); !strings.HasPrefix(m.Subject, "Ihr Anmeldecode: ") {
					t.Errorf("the code sent again has the subject %q, want the first one's German", m.Subject)
				}
			})
		})
	}
}
