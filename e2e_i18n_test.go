package custodian_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

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
