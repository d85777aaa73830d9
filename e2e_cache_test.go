package custodian_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/custodian-id/custodian"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// near: a token's expires_in is want seconds, give or take the second it took.
func near(expiresIn any, want float64) bool {
	v, _ := expiresIn.(float64)
	return v > want-5 && v <= want
}

func withCacheTTL(d time.Duration) envOption { return func(c *custodian.Config) { c.CacheTTL = d } }

// commandLine opens a second Server on e's database as the command line does: its own,
// without a cache (and so without a LISTEN connection).
func commandLine(t *testing.T, e *env) *custodian.Server {
	t.Helper()
	cli, err := custodian.New(context.Background(), custodian.Config{DatabaseURL: e.backend.URL, PublicURL: e.url,
		Secret: testServerSecret, CacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// TestCacheTwoNodes runs two nodes on one PostgreSQL database, each caching tenants,
// clients and keys for an hour, so only LISTEN/NOTIFY can bring them a change: a
// setting, a key rotation, a rotated client secret and a deleted client made on one
// node (or by a separate writer, as the command line is) take effect on the other
// within a second.
func TestCacheTwoNodes(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		if b.Name != "postgres" {
			continue // SQLite's bound for another process is the TTL: TestCacheCommandLineSQLite
		}
		t.Run(b.Name, func(t *testing.T) {
			a := newEnv(t, b, withCacheTTL(time.Hour))
			nodeB := secondNode(t, a, withCacheTTL(time.Hour))
			issuerB := nodeB.issuer()
			ctx := context.Background()

			cc := func(e *env, id, secret string) (int, map[string]any) {
				return tokenRequest(t, e, url.Values{"grant_type": {"client_credentials"}}, id, secret)
			}
			// backendNow is the backend's secret as the tests rotate it.
			backendNow := backendSec
			active := func(e *env, tok string) bool {
				_, _, out := introspectAs(t, e, tok, "Authorization", basicAuth(backendID, backendNow))
				return out["active"] == true
			}
			// Warm node B's caches: the tenant, the backend client, the keys.
			if status, body := cc(nodeB, backendID, backendSec); status != http.StatusOK {
				t.Fatalf("client_credentials on B: %d %v", status, body)
			}
			_ = jwksKids(t, issuerB)

			t.Run("a changed setting", func(t *testing.T) {
				if status, body := adminDo(t, a, http.MethodPatch, "/admin/tenants/"+testTenant+"/settings", `{"tokens.access_ttl":"7m"}`); status != http.StatusOK {
					t.Fatalf("update settings on A: %d %v", status, body)
				}
				if !storagetest.Eventually(time.Second, func() bool {
					_, body := cc(nodeB, backendID, backendSec)
					return near(body["expires_in"], 420)
				}) {
					_, body := cc(nodeB, backendID, backendSec)
					t.Errorf("B still issues tokens for %v s a second after the setting changed to 7m", body["expires_in"])
				}
			})

			t.Run("a rotated signing key", func(t *testing.T) {
				before := jwksKids(t, issuerB)
				if err := a.srv.OAuth.RotateKeys(ctx, testTenant); err != nil {
					t.Fatal(err)
				}
				want := jwksKids(t, a.issuer())
				if want[0] == before[0] {
					t.Fatalf("A's current key did not change: %v", want)
				}
				if !storagetest.Eventually(time.Second, func() bool { return strings.Join(jwksKids(t, issuerB), ",") == strings.Join(want, ",") }) {
					t.Fatalf("B's JWKS a second after the rotation: %v, want %v", jwksKids(t, issuerB), want)
				}
				_, tokB := cc(nodeB, backendID, backendSec)
				jwtB, _ := tokB["jwt_access_token"].(string)
				if kid := jwtKid(t, jwtB); kid != want[0] {
					t.Errorf("B signs with %q, want the new current key %q", kid, want[0])
				}
				_, tokA := cc(a, backendID, backendSec)
				if !active(nodeB, tokA["jwt_access_token"].(string)) || !active(a, jwtB) {
					t.Errorf("JWTs signed with the new key do not verify on the other node")
				}
			})

			t.Run("a rotated client secret", func(t *testing.T) {
				secret, err := a.srv.OAuth.RotateClientSecret(ctx, testTenant, backendID)
				if err != nil {
					t.Fatal(err)
				}
				if !storagetest.Eventually(time.Second, func() bool {
					old, _ := cc(nodeB, backendID, backendSec)
					fresh, _ := cc(nodeB, backendID, secret)
					return old == http.StatusUnauthorized && fresh == http.StatusOK
				}) {
					old, _ := cc(nodeB, backendID, backendSec)
					fresh, _ := cc(nodeB, backendID, secret)
					t.Errorf("a second after the rotation on A, B answers %d to the old secret and %d to the new", old, fresh)
				}
				backendNow = secret
			})

			t.Run("a deleted client", func(t *testing.T) {
				const doomedSecret = "doomed-secret-0123456789-abcdefghijk"
				if _, err := a.srv.OAuth.CreateClient(ctx, &oauth.Client{Tenant: testTenant, ID: "doomed",
					GrantTypes: []string{"client_credentials"}}, doomedSecret); err != nil {
					t.Fatal(err)
				}
				status, tok := cc(nodeB, "doomed", doomedSecret)
				if status != http.StatusOK {
					t.Fatalf("doomed client on B: %d %v", status, tok)
				}
				opaque := tok["access_token"].(string)
				if err := a.srv.OAuth.DeleteClient(ctx, testTenant, "doomed"); err != nil {
					t.Fatal(err)
				}
				if !storagetest.Eventually(time.Second, func() bool {
					status, _ := cc(nodeB, "doomed", doomedSecret)
					return status == http.StatusUnauthorized && !active(nodeB, opaque)
				}) {
					status, _ := cc(nodeB, "doomed", doomedSecret)
					t.Errorf("a second after deleting the client on A, B answers %d to its credentials; its token active: %v",
						status, active(nodeB, opaque))
				}
			})

			// B served from its cache all along (else nothing above tested invalidation).
			var hits uint64
			for _, st := range nodeB.srv.Store().CacheStats() {
				hits += st.Hits
			}
			if hits == 0 {
				t.Errorf("node B's caches were never hit: %+v", nodeB.srv.Store().CacheStats())
			}

			t.Run("a change by the command line", func(t *testing.T) {
				cli := commandLine(t, a)
				if _, err := cli.OAuth.UpdateTenantSettings(ctx, testTenant, map[string]string{"tokens.access_ttl": "9m"}); err != nil {
					t.Fatal(err)
				}
				for name, node := range map[string]*env{"A": a, "B": nodeB} {
					if !storagetest.Eventually(time.Second, func() bool {
						_, body := cc(node, backendID, backendNow)
						return near(body["expires_in"], 540)
					}) {
						t.Errorf("node %s does not apply the command line's setting within a second", name)
					}
				}
				secret, err := cli.OAuth.RotateClientSecret(ctx, testTenant, backendID)
				if err != nil {
					t.Fatal(err)
				}
				for name, node := range map[string]*env{"A": a, "B": nodeB} {
					if !storagetest.Eventually(time.Second, func() bool {
						old, _ := cc(node, backendID, backendNow)
						fresh, _ := cc(node, backendID, secret)
						return old == http.StatusUnauthorized && fresh == http.StatusOK
					}) {
						t.Errorf("node %s does not apply the command line's secret rotation within a second", name)
					}
				}
			})
		})
	}
}

// TestCacheCommandLineSQLite: on SQLite the command line writes the file from another
// process, which the server hears of only when its cache entries expire: a setting
// changed that way applies within the TTL (300ms here), and the cache's counters are
// at /metrics.
func TestCacheCommandLineSQLite(t *testing.T) {
	b := storagetest.Backends(t)[0]
	e := newEnv(t, b, withCacheTTL(300*time.Millisecond))
	expiresIn := func() any {
		status, body := tokenRequest(t, e, url.Values{"grant_type": {"client_credentials"}}, backendID, backendSec)
		if status != http.StatusOK {
			t.Fatalf("client_credentials: %d %v", status, body)
		}
		return body["expires_in"]
	}
	if got := expiresIn(); near(got, 660) {
		t.Fatalf("expires_in is already 660")
	}
	cli := commandLine(t, e)
	if _, err := cli.OAuth.UpdateTenantSettings(context.Background(), testTenant, map[string]string{"tokens.access_ttl": "11m"}); err != nil {
		t.Fatal(err)
	}
	if !storagetest.Eventually(time.Second, func() bool { return near(expiresIn(), 660) }) {
		t.Errorf("a setting written by another process does not apply within a second with a 300ms TTL: %v", expiresIn())
	}
	resp, err := http.Get(e.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics := readBody(t, resp)
	for _, want := range []string{`custodian_cache_hits_total{cache="tenants"}`, `custodian_cache_misses_total{cache="clients"}`,
		`custodian_cache_invalidations_total{cache="keys"}`, `custodian_cache_entries{cache="tenants"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestCacheSettingsUpdateKeepsOtherWriters: a settings change starts from the database,
// not from the node's cached tenant. The command line changes one setting behind the
// server's back (SQLite, no notification, a one-hour TTL), then the server changes
// another: both must be stored, where writing the cached copy back would undo the first.
func TestCacheSettingsUpdateKeepsOtherWriters(t *testing.T) {
	b := storagetest.Backends(t)[0]
	e := newEnv(t, b, withCacheTTL(time.Hour))
	ctx := context.Background()
	if _, err := e.srv.OAuth.GetTenant(ctx, testTenant); err != nil { // now cached
		t.Fatal(err)
	}
	cli := commandLine(t, e)
	if _, err := cli.OAuth.UpdateTenantSettings(ctx, testTenant, map[string]string{"tokens.access_ttl": "11m"}); err != nil {
		t.Fatal(err)
	}
	got, err := e.srv.OAuth.UpdateTenantSettings(ctx, testTenant, map[string]string{"tokens.id_token_ttl": "7m"})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := cli.OAuth.GetTenant(ctx, testTenant)
	if err != nil {
		t.Fatal(err)
	}
	for what, s := range map[string]identity.Settings{"answered": got.Settings, "stored": stored.Settings} {
		if time.Duration(s.AccessTTL) != 11*time.Minute || time.Duration(s.IDTokenTTL) != 7*time.Minute {
			t.Errorf("%s settings: access %v, id %v; want 11m and 7m", what, time.Duration(s.AccessTTL), time.Duration(s.IDTokenTTL))
		}
	}
}
