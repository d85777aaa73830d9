package custodian_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/custodian-id/custodian"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// secondNode starts another server on a's database, with a's public URL, clock and
// secret, as a second node behind the same load balancer.
func secondNode(t *testing.T, a *env, opts ...envOption) *env {
	t.Helper()
	cfg := custodian.Config{DatabaseURL: a.backend.URL, PublicURL: a.url, Secret: "test-secret-0123456789-0123456789-0123456789",
		AdminToken: adminToken, Now: a.clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := custodian.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	pub := httptest.NewServer(srv.Handler())
	adm := httptest.NewServer(srv.AdminHandler())
	t.Cleanup(func() {
		pub.Close()
		adm.Close()
		srv.Close()
	})
	return &env{t: t, srv: srv, url: pub.URL, admin: adm.URL, clock: a.clock, backend: a.backend}
}

// setTenantOn changes settings through the first node and waits until every node
// applies them: a node caches the tenant, and hears of a change made elsewhere within
// a second (PostgreSQL: NOTIFY; two servers on one SQLite file: the cache TTL).
func setTenantOn(t *testing.T, nodes []*env, kv ...string) {
	t.Helper()
	setTenant(t, nodes[0], kv...)
	for i, e := range nodes {
		if !storagetest.Eventually(2*time.Second, func() bool {
			tn, err := e.srv.OAuth.GetTenant(context.Background(), testTenant)
			if err != nil {
				return false
			}
			for j := 0; j+1 < len(kv); j += 2 {
				if v, _ := tn.Settings.Get(kv[j]); v != kv[j+1] {
					return false
				}
			}
			return true
		}) {
			t.Fatalf("node %d does not apply %v within 2s", i, kv)
		}
	}
}

// TestTwoNodesLimits: sign-in failures split across two nodes (behind a trusted proxy
// that names the client in X-Forwarded-For) count once: the per-account limit and the
// per-address limit answer 429 at the same attempt as on one node, and the address
// limit is the address's, not the proxy's or a global one. (The smart lockout split
// across two nodes, and the outbox sending each mail once, are TestTwoNodes'.)
func TestTwoNodesLimits(t *testing.T) {
	for _, be := range storagetest.Backends(t) {
		t.Run(be.Name, func(t *testing.T) {
			a := newEnv(t, be, behindProxy)
			b := secondNode(t, a, behindProxy)
			a.clock.Advance(0) // pinned: each step stays in its rate-limit window
			nextWindow := func() { a.clock.Advance(time.Minute) }
			nodes := []*env{a, b}
			anon := anonymousLogin(t, a)["access_token"].(string)
			from := func(ip string) []string { return []string{"X-Forwarded-For", ip} }

			t.Run("login_per_account", func(t *testing.T) {
				nextWindow()
				setTenantOn(t, nodes, "ratelimit.login_per_account", "3", "ratelimit.login_per_ip", "0")
				for i := range 3 { // A, B, A: each from its own address
					wantLoginError(t, fmt.Sprintf("attempt %d", i+1), loginFrom(t, nodes[i%2], anon, "split@example.com", "wrong password!",
						from(fmt.Sprintf("203.0.113.%d", 10+i))...), http.StatusUnauthorized, "unauthorized")
				}
				for i, e := range nodes {
					got := loginFrom(t, e, anon, "split@example.com", "wrong password!", from("203.0.113.99")...)
					wantLoginError(t, fmt.Sprintf("attempt 4 on node %d", i), got, http.StatusTooManyRequests, "too_many_requests")
				}
				// Another account is not limited.
				wantLoginError(t, "another account", loginFrom(t, b, anon, "other@example.com", "wrong password!", from("203.0.113.99")...),
					http.StatusUnauthorized, "unauthorized")
			})

			t.Run("login_per_ip behind trusted proxies", func(t *testing.T) {
				nextWindow()
				setTenantOn(t, nodes, "ratelimit.login_per_ip", "3", "ratelimit.login_per_account", "100")
				for i := range 3 { // B, A, B: each on its own account, all from one shopper's address
					wantLoginError(t, fmt.Sprintf("attempt %d", i+1), loginFrom(t, nodes[(i+1)%2], anon, fmt.Sprintf("ip%d@example.com", i),
						"wrong password!", from("198.51.100.7")...), http.StatusUnauthorized, "unauthorized")
				}
				for i, e := range nodes {
					got := loginFrom(t, e, anon, shopperEmail, shopperPass, from("198.51.100.7")...)
					wantLoginError(t, fmt.Sprintf("attempt 4 on node %d, the right password", i), got, http.StatusTooManyRequests, "too_many_requests")
				}
				// Another shopper behind the same proxy signs in on either node.
				for i, e := range nodes {
					if got := loginFrom(t, e, anon, shopperEmail, shopperPass, from(fmt.Sprintf("198.51.100.%d", 20+i))...); got.status != http.StatusOK {
						t.Errorf("another address on node %d: %d %s", i, got.status, got.raw)
					}
				}
			})
		})
	}
}
