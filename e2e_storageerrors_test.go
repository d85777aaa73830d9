package custodian_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/custodian-id/custodian"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// TestStorageErrorsAreUnavailable injects SQL errors that are not connection failures
// on a scratch database (a trigger that raises a plain exception on every write of a
// token, then a table renamed away: SQLSTATE P0001 and 42P01 on PostgreSQL, a trigger
// abort and "no such table" on SQLite). Every API answers 503 in its own shape, never
// a 500 and never a verdict (no invalid_client, no {"active":false}, no 401, no 200
// from /revoke), and once the fault is gone the same tokens work.
func TestStorageErrorsAreUnavailable(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			var logs lockedBuffer
			e := newEnv(t, b, func(c *custodian.Config) {
				c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelError}))
				// No per-node cache: a client or tenant read must reach the database
				// the fault is injected into (a node answering from its cache while a
				// table is gone is correct, and TestCaches covers it).
				c.CacheTTL = -1
			})
			db, _ := storagetest.SQL(t, b)
			pg := b.Name == "postgres"
			exec := func(stmts ...string) {
				t.Helper()
				for _, s := range stmts {
					if _, err := db.Exec(s); err != nil {
						t.Fatalf("%s: %v", s, err)
					}
				}
			}
			cust := customerLogin(t, e)
			at, rt := cust["access_token"].(string), cust["refresh_token"].(string)
			tokenURL, introspectURL, revokeURL := e.issuer()+"/token", e.issuer()+"/introspect", e.issuer()+"/revoke"
			refreshAuthURL := func() string {
				return e.url + "/customer/" + testTenant + "/refreshauthtoken?" + url.Values{"refreshToken": {rt}, "client_id": {spaClient}}.Encode()
			}
			type check struct {
				call  func() (int, map[string]any, time.Duration)
				shape func(map[string]any) bool
			}
			checks := map[string]check{
				"token (client lookup)": {call: func() (int, map[string]any, time.Duration) {
					return faultCall(t, http.MethodPost, tokenURL, url.Values{"grant_type": {"client_credentials"}}, "basic", "")
				}, shape: oauthUnavailable},
				"token (customer refresh)": {call: func() (int, map[string]any, time.Duration) {
					return faultCall(t, http.MethodPost, tokenURL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {spaClient}})
				}, shape: oauthUnavailable},
				"introspect": {call: func() (int, map[string]any, time.Duration) {
					return faultCall(t, http.MethodPost, introspectURL, url.Values{"token": {at}}, "basic", "")
				}, shape: oauthUnavailable},
				"revoke": {call: func() (int, map[string]any, time.Duration) {
					return faultCall(t, http.MethodPost, revokeURL, url.Values{"token": {at}, "client_id": {spaClient}})
				}, shape: oauthUnavailable},
				"login API validateauthtoken": {call: func() (int, map[string]any, time.Duration) {
					return faultCall(t, http.MethodGet, e.url+"/customer/"+testTenant+"/validateauthtoken", nil, "Authorization", "Bearer "+at)
				}, shape: loginUnavailable},
				"login API refreshauthtoken": {call: func() (int, map[string]any, time.Duration) {
					return faultCall(t, http.MethodGet, refreshAuthURL(), nil)
				}, shape: loginUnavailable},
				"login API /me": {call: func() (int, map[string]any, time.Duration) {
					return faultCall(t, http.MethodGet, e.url+"/customer/"+testTenant+"/me", nil, "Authorization", "Bearer "+at)
				}, shape: loginUnavailable},
				"ticket API anonymous shopper": {call: func() (int, map[string]any, time.Duration) {
					return faultCall(t, http.MethodGet, e.url+"/api/commerce/customer/authtickets/anonymousshopper", nil, "x-vol-tenant", testTenant, "basic", "")
				}, shape: ticketsUnavailable},
			}
			expect503 := func(fault string, names ...string) {
				t.Helper()
				for _, name := range names {
					c := checks[name]
					if c.call == nil {
						t.Fatalf("no check %q", name)
					}
					if status, body, _ := c.call(); status != http.StatusServiceUnavailable || !c.shape(body) {
						t.Errorf("%s, %s: %d %v, want 503 in the API's shape", fault, name, status, body)
					}
				}
			}
			afterwards := func(fault string) {
				t.Helper()
				if _, in, _ := faultCall(t, http.MethodPost, introspectURL, url.Values{"token": {at}}, "basic", ""); in["active"] != true {
					t.Errorf("after %s: the access token is no longer active: %v", fault, in)
				}
				status, body, _ := faultCall(t, http.MethodGet, refreshAuthURL(), nil)
				if status != http.StatusOK {
					t.Fatalf("after %s: refreshauthtoken: %d %v", fault, status, body)
				}
				at, rt = body["access_token"].(string), body["refresh_token"].(string)
			}

			// 1. Every write of a token fails with a plain exception of a trigger.
			if pg {
				exec(`CREATE FUNCTION fail_token_write() RETURNS trigger LANGUAGE plpgsql AS $$
					BEGIN RAISE EXCEPTION 'injected: token writes fail'; END $$`,
					`CREATE TRIGGER fail_token_write BEFORE INSERT OR UPDATE OR DELETE ON oauth2_tokens FOR EACH ROW EXECUTE FUNCTION fail_token_write()`)
			} else {
				for _, op := range []string{"INSERT", "UPDATE", "DELETE"} {
					exec(`CREATE TRIGGER fail_token_` + op + ` BEFORE ` + op + ` ON oauth2_tokens BEGIN SELECT RAISE(ABORT, 'injected: token writes fail'); END`)
				}
			}
			expect503("token writes failing", "token (customer refresh)", "revoke", "login API refreshauthtoken")
			// The operator sees the cause: the SQLSTATE (raise_exception) or SQLite's code
			// (a trigger's constraint, 1811).
			logged := map[bool]string{true: "sqlstate=P0001", false: "sqlite_code=1811"}[pg]
			if out := logs.String(); !strings.Contains(out, "level=ERROR msg=\"database error\" "+logged) {
				t.Errorf("no error-level log line with %s:\n%s", logged, out)
			}
			if pg {
				exec(`DROP TRIGGER fail_token_write ON oauth2_tokens`)
			} else {
				for _, op := range []string{"INSERT", "UPDATE", "DELETE"} {
					exec(`DROP TRIGGER fail_token_` + op)
				}
			}
			afterwards("token writes failing")

			// 2. The token table is gone (renamed): every read of a token fails.
			exec(`ALTER TABLE oauth2_tokens RENAME TO oauth2_tokens_away`)
			expect503("token table missing", "token (customer refresh)", "introspect", "revoke", "login API validateauthtoken",
				"login API refreshauthtoken", "login API /me")
			if logged := map[bool]string{true: "sqlstate=42P01 ", false: "sqlite_code=1 "}[pg]; !strings.Contains(logs.String(), logged) {
				t.Errorf("no log line with %s (undefined table)", logged)
			}
			exec(`ALTER TABLE oauth2_tokens_away RENAME TO oauth2_tokens`)
			afterwards("token table missing")

			// 3. The client and customer tables are gone.
			exec(`ALTER TABLE clients RENAME TO clients_away`)
			expect503("client table missing", "token (client lookup)", "introspect", "ticket API anonymous shopper")
			exec(`ALTER TABLE clients_away RENAME TO clients`)
			exec(`ALTER TABLE customers RENAME TO customers_away`)
			expect503("customer table missing", "login API /me")
			exec(`ALTER TABLE customers_away RENAME TO customers`)
			afterwards("tables missing")
		})
	}
}
