package custodian_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// cacheFill is a read of a row the node caches (storage/cache.go): a tenant, a client or
// a tenant's signing keys.
var cacheFill = regexp.MustCompile(`^SELECT .* FROM (tenants|clients|signing_keys) WHERE`)

// cost is what one request costs the database: statements sent (BEGIN, COMMIT and
// ROLLBACK not counted) and transactions begun.
type cost struct{ statements, transactions int }

// TestStatementsPerOperation runs each hot operation through the real handler with its
// statements counted (storage.WithStatementCount) and asserts the exact count, so a
// path that gains a query fails here (docs/performance.md, "Statements per
// operation", has the table and why each statement is there). Each operation runs
// once to warm what a node keeps (prepared statements, caches) and is counted the
// second time: the steady state every request of a busy node pays (tenants, clients
// and signing keys then come from the node's caches; tokens and customers never do).
func TestStatementsPerOperation(t *testing.T) {
	for _, be := range storagetest.Backends(t) {
		t.Run(be.Name, func(t *testing.T) {
			e := newEnv(t, be)
			h := e.srv.Handler()
			ctx := context.Background()
			setTenant(t, e, "grants.password", "true")
			if _, err := e.srv.OAuth.CreateClient(ctx, &oauth.Client{
				Tenant: testTenant, ID: "app", Public: true, FirstParty: true,
				GrantTypes: []string{identity.GrantPassword},
				Scopes:     []string{"openid", "profile", "email"},
			}, ""); err != nil {
				t.Fatal(err)
			}
			call := func(t *testing.T, ctx context.Context, r *http.Request) (int, map[string]any) {
				t.Helper()
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r.WithContext(ctx))
				var out map[string]any
				_ = json.Unmarshal(rec.Body.Bytes(), &out)
				return rec.Code, out
			}
			form := func(path string, f url.Values, basic ...string) func() *http.Request {
				return func() *http.Request {
					r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(f.Encode()))
					r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					if len(basic) == 2 {
						r.SetBasicAuth(basic[0], basic[1])
					}
					return r
				}
			}
			get := func(path, bearer string) func() *http.Request {
				return func() *http.Request {
					r := httptest.NewRequest(http.MethodGet, path, nil)
					if bearer != "" {
						r.Header.Set("Authorization", "Bearer "+bearer)
					}
					return r
				}
			}
			oauthPath := "/oauth2/" + testTenant
			mustToken := func(t *testing.T, r *http.Request) map[string]any {
				t.Helper()
				code, out := call(t, ctx, r)
				if code != http.StatusOK {
					t.Fatalf("%s: %d %v", r.URL.Path, code, out)
				}
				return out
			}
			// A signed-in customer's tokens: the login API's (opaque, customer scopes) and
			// the password grant's (opaque and JWT, openid).
			anon := mustToken(t, get("/customerlogin/auth/anonymous/login?tenant="+testTenant+"&client_id="+spaClient, "")())["access_token"].(string)
			signin := func() *http.Request {
				r := httptest.NewRequest(http.MethodPost, "/customer/"+testTenant+"/login",
					strings.NewReader(`{"email":"`+shopperEmail+`","password":"`+shopperPass+`"}`))
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("Authorization", "Bearer "+anon)
				return r
			}
			customerToken := mustToken(t, signin())["access_token"].(string)
			// The refresh chain has a sign-in of its own: a rotation ends the access token
			// it was minted with.
			refreshToken := mustToken(t, signin())["refresh_token"].(string)
			pwd := mustToken(t, form(oauthPath+"/token", url.Values{"grant_type": {"password"}, "username": {shopperEmail},
				"password": {shopperPass}, "client_id": {"app"}, "scope": {"openid profile email"}})())
			oidcToken, jwtToken := pwd["access_token"].(string), pwd["jwt_access_token"].(string)

			ops := []struct {
				name string
				req  func() *http.Request
				// after reads the answer (the next refresh token of the chain).
				after func(out map[string]any)
				// want is the same on both databases: the statements on tokens, customers and
				// everything else that is never cached, exactly.
				want cost
				// cached bounds the reads of the rows the node caches (tenants, clients,
				// signing keys): none on a warm node, but an entry whose TTL ran out
				// between the two runs of a loaded machine is read again.
				cached int
			}{
				{name: "client_credentials", req: form(oauthPath+"/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"orders"}}, backendID, backendSec),
					want: cost{1, 0}, cached: 3},
				{name: "anonymous", req: form(oauthPath+"/token", url.Values{"grant_type": {identity.GrantAnonymous}, "client_id": {spaClient}}),
					want: cost{0, 0}, cached: 3},
				// refresh builds each request when it runs: after moves the chain on.
				{name: "refresh", req: func() *http.Request {
					return form(oauthPath+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}, "client_id": {spaClient}})()
				}, after: func(out map[string]any) { refreshToken, _ = out["refresh_token"].(string) },
					want: cost{4, 1}, cached: 4},
				{name: "introspection", req: form(oauthPath+"/introspect", url.Values{"token": {customerToken}}, backendID, backendSec),
					want: cost{1, 0}, cached: 2},
				{name: "validateauthtoken", req: get("/customer/"+testTenant+"/validateauthtoken", customerToken),
					want: cost{3, 0}, cached: 1},
				{name: "me-opaque", req: get("/customer/"+testTenant+"/me", customerToken),
					want: cost{4, 0}, cached: 1},
				{name: "me-jwt", req: get("/customer/"+testTenant+"/me", jwtToken),
					want: cost{4, 0}, cached: 3},
				{name: "userinfo", req: get(oauthPath+"/userinfo", oidcToken),
					want: cost{2, 0}, cached: 1},
				{name: "jwks", req: get(oauthPath+"/jwks.json", ""),
					want: cost{0, 0}, cached: 2},
				{name: "discovery", req: get(oauthPath+"/.well-known/openid-configuration", ""),
					want: cost{0, 0}, cached: 1},
				{name: "signin", req: signin,
					want: cost{10, 2}, cached: 4},
			}
			for _, op := range ops {
				t.Run(op.name, func(t *testing.T) {
					var got cost
					var list []string
					var fills int
					for run := range 2 {
						cctx, count := storage.WithStatementCount(ctx)
						code, out := call(t, cctx, op.req())
						if code != http.StatusOK {
							t.Fatalf("run %d: %d %v", run, code, out)
						}
						if op.name == "introspection" && out["active"] != true {
							t.Fatalf("run %d: token not active: %v", run, out)
						}
						if op.after != nil {
							op.after(out)
						}
						list, fills = count.List(), 0
						for _, q := range list {
							if cacheFill.MatchString(q) {
								fills++
							}
						}
						got = cost{count.Statements() - fills, count.Transactions()}
					}
					if want := op.want; got != want || fills > op.cached {
						t.Errorf("%s on %s: %d statements in %d transactions and %d reads of cached rows, want %d in %d and at most %d; ran:\n  %s",
							op.name, be.Name, got.statements, got.transactions, fills, want.statements, want.transactions, op.cached,
							strings.Join(list, "\n  "))
					}
				})
			}
		})
	}
}
