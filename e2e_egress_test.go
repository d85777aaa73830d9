package custodian_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/custodian-id/custodian"
	"github.com/custodian-id/custodian/egress"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/notify"
	"github.com/custodian-id/custodian/notify/notifytest"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// Outgoing calls and what the outbox keeps (issue 10, items 13 and 14).

// outboxRow is one outbox row as the database keeps it.
type outboxRow struct {
	kind, subject, body, data, secret string
	sealed                            []byte
	delivered                         bool
	lastError                         string
}

func outboxRows(t *testing.T, db *sql.DB) []outboxRow {
	t.Helper()
	rows, err := db.Query(`SELECT kind, subject, body, data, webhook_secret, webhook_secret_sealed, delivered_at IS NOT NULL, last_error FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		if err := rows.Scan(&r.kind, &r.subject, &r.body, &r.data, &r.secret, &r.sealed, &r.delivered, &r.lastError); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// TestDeliveredMessagesKeepNoSecret: once delivered, no message of any kind keeps a
// code, token or link: not in the body, not in the data and not in the subject ("Your
// sign-in code: 887454").
func TestDeliveredMessagesKeepNoSecret(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			smtp := notifytest.StartSMTP(t)
			e := newEnv(t, b, withSMTP(smtp))
			e.clock.Advance(0)
			base := "/customer/" + testTenant
			setTenant(t, e, "signup.optin", "true")
			anon := anonymousLogin(t, e)["access_token"].(string)
			const email = "scrub@example.com"
			if r := loginCall(t, e, http.MethodPost, base+"/signup", seedSignup(email), jsonBearer(anon)...); r.status != http.StatusCreated {
				t.Fatalf("signup: %d %s", r.status, r.raw)
			}
			tok := optinToken(t, e, smtp, email) // opt-in link
			if r := loginCall(t, e, http.MethodGet, base+"/signup/optin/"+tok, ""); r.status/100 != 2 {
				t.Fatalf("opt-in: %d %s", r.status, r.raw)
			}
			// Reset token.
			if r := loginCall(t, e, http.MethodPost, base+"/password/reset", `{"email":"`+email+`"}`, jsonBearer(anon)...); r.status != http.StatusNoContent {
				t.Fatalf("reset: %d %s", r.status, r.raw)
			}
			login := func(fp string) loginReply {
				body, _ := json.Marshal(map[string]string{"email": email, "password": "password123", "fingerprint": fp})
				return loginCall(t, e, http.MethodPost, base+"/login", string(body), jsonBearer(anon)...)
			}
			// A new device: the "this was not me" link.
			first := login("home")
			if first.status != http.StatusOK {
				t.Fatalf("login: %d %s", first.status, first.raw)
			}
			if _, err := e.srv.DeliverNotifications(context.Background()); err != nil {
				t.Fatal(err)
			}
			login("elsewhere")
			// An e-mail change token.
			me := first.body["access_token"].(string)
			if r := loginCall(t, e, http.MethodPost, base+"/me/accounts/internal/email/change",
				`{"email":"`+email+`","password":"password123","newEmail":"scrub2@example.com"}`, jsonBearer(me)...); r.status != http.StatusNoContent {
				t.Fatalf("e-mail change: %d %s", r.status, r.raw)
			}
			// A second-factor code, in the subject too.
			setTenant(t, e, "twofactor.triggers", "always")
			if r := login("home"); r.body["requires2FA"] != true {
				t.Fatalf("no challenge: %d %s", r.status, r.raw)
			}
			if _, err := e.srv.DeliverNotifications(context.Background()); err != nil {
				t.Fatal(err)
			}
			if msgs := smtp.Messages(); !strings.Contains(msgs[len(msgs)-1].Subject, "code") {
				t.Fatalf("the code mail has no code in its subject: %+v", msgs[len(msgs)-1])
			}

			db, _ := storagetest.SQL(t, b)
			kinds := map[string]bool{}
			for _, r := range outboxRows(t, db) {
				kinds[r.kind] = true
				if !r.delivered {
					t.Errorf("%s: not delivered (%s)", r.kind, r.lastError)
				}
				if r.subject != "" || r.body != "" || r.data != "{}" || r.secret != "" || r.sealed != nil {
					t.Errorf("%s kept subject %q, body %q, data %s", r.kind, r.subject, r.body, r.data)
				}
			}
			for _, k := range []string{notify.KindSignupOptIn, notify.KindPasswordReset, notify.KindNewDevice, notify.KindEmailChange, notify.KindTwoFactorCode} {
				if !kinds[k] {
					t.Errorf("no %s message was sent (kinds %v)", k, kinds)
				}
			}
		})
	}
}

// webhookReceiver records the posts it gets.
type webhookReceiver struct {
	srv   *httptest.Server
	posts chan *http.Request
	body  chan []byte
}

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	w := &webhookReceiver{posts: make(chan *http.Request, 10), body: make(chan []byte, 10)}
	w.srv = httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.posts <- r
		w.body <- b
	}))
	t.Cleanup(w.srv.Close)
	return w
}

const testServerSecret = "test-secret-0123456789-0123456789-0123456789"

// secondServer opens another node on the same database, as a restart would.
func secondServer(t *testing.T, e *env, allowPrivate bool) *custodian.Server {
	t.Helper()
	srv, err := custodian.New(context.Background(), custodian.Config{DatabaseURL: e.backend.URL, PublicURL: e.url,
		Secret: testServerSecret, Now: e.clock.Now, AllowPrivateURLs: allowPrivate})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// TestWebhookSecretSealed: the webhook secret is sealed in the tenant's settings and in
// queued messages, plaintext left by an earlier release is sealed at start, and the
// receiver still gets signatures made with the secret.
func TestWebhookSecretSealed(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			hook := newWebhookReceiver(t)
			e := newEnv(t, b, allowPrivateURLs)
			e.clock.Advance(0)
			const secret = "hook-secret-0123456789-0123456789-xyz"
			setTenant(t, e, "notify.webhook_url", hook.srv.URL, "notify.webhook_secret", secret, "signup.optin", "true")
			db, rebind := storagetest.SQL(t, b)
			var settings string
			if err := db.QueryRow(rebind(`SELECT settings FROM tenants WHERE name = ?`), testTenant).Scan(&settings); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(settings, secret) || !strings.Contains(settings, `"notify.webhook_secret":{"sealed":`) {
				t.Fatalf("settings keep the webhook secret as %s", settings)
			}
			anon := anonymousLogin(t, e)["access_token"].(string)
			if r := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/signup", seedSignup("hook@example.com"), jsonBearer(anon)...); r.status != http.StatusCreated {
				t.Fatalf("signup: %d %s", r.status, r.raw)
			}
			rows := outboxRows(t, db)
			if len(rows) != 1 || rows[0].secret != "" || rows[0].sealed == nil || strings.Contains(string(rows[0].sealed), secret) {
				t.Fatalf("queued message keeps %+v", rows)
			}
			if _, err := e.srv.DeliverNotifications(context.Background()); err != nil {
				t.Fatal(err)
			}
			r, body := <-hook.posts, <-hook.body
			if r.Header.Get("X-Custodian-Signature") != notify.Sign(secret, e.clock.Now(), body) {
				t.Errorf("signature %q does not verify with the secret", r.Header.Get("X-Custodian-Signature"))
			}

			// As an earlier release left them: the secret in plaintext in the settings and
			// in a queued message.
			legacy := strings.Replace(settings, settings[strings.Index(settings, `"notify.webhook_secret":`):strings.Index(settings, `}`)+1],
				`"notify.webhook_secret":"`+secret+`"`, 1)
			if !strings.Contains(legacy, `"notify.webhook_secret":"`+secret+`"`) || !json.Valid([]byte(legacy)) {
				t.Fatalf("could not write legacy settings: %s", legacy)
			}
			if _, err := db.Exec(rebind(`UPDATE tenants SET settings = ? WHERE name = ?`), legacy, testTenant); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(rebind(`INSERT INTO outbox (tenant, kind, recipient, subject, body, data, webhook, webhook_secret,
				attempts, next_attempt_at, last_error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, '', ?)`),
				testTenant, notify.KindEmailChanged, "old@example.com", "Changed", "body", "{}", hook.srv.URL, secret,
				e.clock.Now().UTC().Truncate(time.Second), e.clock.Now().UTC().Truncate(time.Second)); err != nil {
				t.Fatal(err)
			}
			srv := secondServer(t, e, true) // a restart seals them
			if err := db.QueryRow(rebind(`SELECT settings FROM tenants WHERE name = ?`), testTenant).Scan(&settings); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(settings, secret) {
				t.Errorf("plaintext secret setting survived a restart: %s", settings)
			}
			for _, r := range outboxRows(t, db) {
				if strings.Contains(r.secret, secret) {
					t.Errorf("plaintext secret of a queued message survived a restart: %+v", r)
				}
			}
			if _, err := srv.DeliverNotifications(context.Background()); err != nil {
				t.Fatal(err)
			}
			select {
			case r = <-hook.posts:
				body = <-hook.body
			case <-time.After(5 * time.Second):
				t.Fatalf("the legacy message was not delivered: %+v", outboxRows(t, db))
			}
			if r.Header.Get("X-Custodian-Signature") != notify.Sign(secret, e.clock.Now(), body) || !strings.Contains(string(body), "old@example.com") {
				t.Errorf("the legacy message was not signed with the secret: %s", body)
			}
		})
	}
}

// TestOutgoingCallsStayOutside: connector issuers and webhook URLs on internal
// addresses are refused when configured, unless the operator allows them; and a URL
// that was accepted is checked again at connect time, so a name that resolves to an
// internal address later (here: a node without the permission) reaches nothing.
func TestOutgoingCallsStayOutside(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			hook := newWebhookReceiver(t)
			e := newEnv(t, b)
			ctx := context.Background()
			for _, issuer := range []string{e.url + "/oauth2/up", "https://169.254.169.254/", "https://[::ffff:10.1.2.3]/", "https://100.64.0.9/"} {
				err := e.srv.OAuth.CreateConnector(ctx, &oauth.Connector{Tenant: testTenant, ID: "inner", Issuer: issuer, ClientID: "c", ClientSecret: "s"})
				if !errors.Is(err, identity.ErrInvalid) || !errors.Is(err, egress.ErrForbidden) {
					t.Errorf("connector with issuer %s: %v", issuer, err)
				}
			}
			status, got := adminDo(t, e, http.MethodPatch, "/admin/tenants/"+testTenant+"/settings",
				`{"notify.webhook_url":"`+hook.srv.URL+`","notify.webhook_secret":"`+strings.Repeat("s", 32)+`"}`)
			if msg, _ := got["message"].(string); status != http.StatusBadRequest || !strings.Contains(msg, "CUSTODIAN_ALLOW_PRIVATE_URLS") {
				t.Errorf("webhook on loopback: %d %v", status, got)
			}

			// A node that may call loopback configures both; the node that may not
			// refuses to connect.
			allowed := secondServer(t, e, true)
			if _, err := allowed.OAuth.UpdateTenantSettings(ctx, testTenant, map[string]string{"notify.webhook_url": hook.srv.URL,
				"notify.webhook_secret": strings.Repeat("s", 32), "signup.optin": "true"}); err != nil {
				t.Fatal(err)
			}
			if err := allowed.OAuth.CreateConnector(ctx, &oauth.Connector{Tenant: testTenant, ID: "inner", Issuer: e.url + "/oauth2/" + testTenant,
				ClientID: spaClient, ClientSecret: "s"}); err != nil {
				t.Fatal(err)
			}
			// The first node caches the tenant and hears of the other's change within a
			// second (PostgreSQL: NOTIFY; SQLite: the cache TTL).
			if !storagetest.Eventually(2*time.Second, func() bool {
				tn, err := e.srv.OAuth.GetTenant(ctx, testTenant)
				return err == nil && tn.Settings.WebhookURL == hook.srv.URL
			}) {
				t.Fatal("the first node does not apply the other node's settings within 2s")
			}
			anon := anonymousLogin(t, e)["access_token"].(string)
			if r := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/signup", seedSignup("inner@example.com"), jsonBearer(anon)...); r.status != http.StatusCreated {
				t.Fatalf("signup: %d %s", r.status, r.raw)
			}
			if _, err := e.srv.DeliverNotifications(ctx); err != nil {
				t.Fatal(err)
			}
			db, _ := storagetest.SQL(t, b)
			rows := outboxRows(t, db)
			if len(rows) != 1 || rows[0].delivered || !strings.Contains(rows[0].lastError, "not allowed") {
				t.Errorf("webhook to loopback: %+v", rows)
			}
			c := browser(t)
			resp, err := c.Get(e.issuer() + "/auth?response_type=code&client_id=" + spaClient + "&redirect_uri=" + spaRedirect +
				"&scope=openid&state=state-123456&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGlSstw-cM&code_challenge_method=S256&idp_hint=inner")
			if err != nil {
				t.Fatal(err)
			}
			if readBody(t, resp); resp.StatusCode != http.StatusBadGateway {
				t.Errorf("sign-in through a connector on loopback: %d", resp.StatusCode)
			}
			select {
			case <-hook.posts:
				t.Error("the webhook on loopback was called")
			case <-time.After(100 * time.Millisecond):
			}
		})
	}
}
