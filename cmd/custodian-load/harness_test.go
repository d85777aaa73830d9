package main

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/custodian-id/custodian"
	"github.com/custodian-id/custodian/storage"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// testEnv is an in-process Custodian and floor on one backend, set up by the
// harness's own setup code with small pools.
type testEnv struct {
	backend storagetest.Backend
	api     *adminAPI
	fx      *fixture
}

func newTestEnv(t *testing.T, b storagetest.Backend) *testEnv {
	t.Helper()
	ctx := t.Context()
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	admin := randomString(24)
	srv, err := custodian.New(ctx, custodian.Config{DatabaseURL: b.URL, PublicURL: base,
		Secret: custodian.Secret(randomString(48)), AdminToken: custodian.Secret(admin)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	adm := httptest.NewServer(srv.AdminHandler())
	t.Cleanup(adm.Close)

	floorURL := b.URL // PostgreSQL: a table of its own in the same database
	if b.Name == "sqlite" {
		floorURL = "sqlite:" + filepath.Join(t.TempDir(), "floor.db")
	}
	f, err := openFloor(ctx, floorURL, 0, 100, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fs := httptest.NewServer(f.handler())
	t.Cleanup(fs.Close)

	api := &adminAPI{client: newClient(4, 30*time.Second), base: base, adminBase: adm.URL, token: admin}
	env := &testEnv{backend: b, api: api}
	fx, err := setup(ctx, api, fs.URL, setupSize{Tenants: 2, Pool: 4, Chains: 2, CustomerTokens: 2, SignInAccounts: 2, FloorTokens: 2},
		newSpreadClient(4, 30*time.Second, sourceAddrs(8)))
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	env.fx = fx
	return env
}

// TestAgainstCustodian sends a few requests of every scenario, as the load would, to an
// in-process Custodian set up by the harness's setup: each must succeed and pass its
// scenario's check. This keeps the scenarios honest when Custodian changes (a scenario
// whose requests fail would measure error answers). Then it seeds tokens.
func TestAgainstCustodian(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			env := newTestEnv(t, b)
			fx := env.fx
			if len(fx.tenants) != 2 || len(fx.anon) != 4 || len(fx.chains) != 2 || len(fx.customers) != 2 || len(fx.accounts) != 2 {
				t.Fatalf("fixture: %d tenants, %d anonymous, %d chains, %d customers, %d accounts",
					len(fx.tenants), len(fx.anon), len(fx.chains), len(fx.customers), len(fx.accounts))
			}
			// The sign-in limits are raised, still counted: no bucket can fill.
			for _, tn := range fx.tenants {
				var view struct {
					Settings map[string]string `json:"settings"`
				}
				if err := env.api.call(t.Context(), nil, http.MethodGet, env.api.adminBase+"/admin/tenants/"+tn,
					http.Header{"Authorization": {"Bearer " + env.api.token}}, nil, http.StatusOK, &view); err != nil {
					t.Fatal(err)
				}
				for _, k := range []string{"ratelimit.login_per_ip", "ratelimit.login_per_account", "ratelimit.signup_per_ip"} {
					if v := view.Settings[k]; v != "100000" {
						t.Errorf("tenant %s: %s = %q, want 100000", tn, k, v)
					}
				}
				if v := view.Settings["grants.password"]; v != "true" {
					t.Errorf("tenant %s: grants.password = %q", tn, v)
				}
			}
			if len(fx.customerChains) != 2 {
				t.Fatalf("%d customer chains, want 2", len(fx.customerChains))
			}
			keepAlive := newClient(4, 30*time.Second)
			for _, sc := range scenarios() {
				t.Run(sc.Name, func(t *testing.T) {
					p, err := sc.plan(t.Context(), fx)
					if err != nil {
						t.Fatal(err)
					}
					c := p.client
					if c == nil {
						c = keepAlive
					}
					tenants := map[string]bool{}
					for range 4 { // more than the chains: the refresh chains must refill
						r := send(t, c, p.targeter)
						if r.Code < 200 || r.Code > 299 {
							t.Fatalf("%s %s: %d %s", r.Method, r.URL, r.Code, r.Body)
						}
						if p.check != nil {
							if why := p.check(r); why != "" {
								t.Fatalf("%s %s: %s: %s", r.Method, r.URL, why, r.Body)
							}
						}
						if p.observe != nil {
							p.observe(r)
						}
						tenants[tenantOfPath(r.URL)] = true
					}
					if sc.Server == serverCustodian && len(tenants) != 2 {
						t.Errorf("requests went to tenants %v, want both", tenants)
					}
				})
			}
			t.Run("seed", func(t *testing.T) { testSeedTokens(t, b) })
		})
	}
}

// send makes one request of a targeter, the way vegeta does.
func send(t *testing.T, c *http.Client, tr vegeta.Targeter) *vegeta.Result {
	t.Helper()
	var tgt vegeta.Target
	if err := tr(&tgt); err != nil {
		t.Fatalf("targeter: %v", err)
	}
	req, err := tgt.Request()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tgt.URL, "http://127.0.0.1:") {
		t.Fatalf("target %s is not on loopback", tgt.URL)
	}
	resp, err := c.Do(req.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &vegeta.Result{Method: tgt.Method, URL: tgt.URL, Code: uint16(resp.StatusCode), Body: body}
}

// TestRefreshChainsUseEachTokenOnce: the refresh targeter never hands out a token
// twice, and a failed refresh ends its chain.
func TestRefreshChainsUseEachTokenOnce(t *testing.T) {
	fx := &fixture{custodian: "http://127.0.0.1:1", chains: []grant{{Tenant: "load-0000", Refresh: "r1"}, {Tenant: "load-0001", Refresh: "r2"}}}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	p, err := refreshPlan("refresh", func(f *fixture) []grant { return f.chains })(ctx, fx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	next := func() vegeta.Target {
		var tgt vegeta.Target
		if err := p.targeter(&tgt); err != nil {
			t.Fatal(err)
		}
		tok := string(tgt.Body)
		if seen[tok] {
			t.Fatalf("token used twice: %s", tok)
		}
		seen[tok] = true
		return tgt
	}
	a, b := next(), next()
	if !strings.Contains(string(a.Body), "refresh_token=r1") || !strings.Contains(b.URL, "/oauth2/load-0001/token") {
		t.Fatalf("targets %s %s, %s %s", a.URL, a.Body, b.URL, b.Body)
	}
	// a's answer continues its chain in its tenant; b failed, its chain ends.
	p.observe(&vegeta.Result{Code: 200, URL: a.URL, Body: []byte(`{"access_token":"x","refresh_token":"r3"}`)})
	p.observe(&vegeta.Result{Code: 400, URL: b.URL, Body: []byte(`{"error":"invalid_grant"}`)})
	c := next()
	if !strings.Contains(string(c.Body), "refresh_token=r3") || !strings.Contains(c.URL, "/oauth2/load-0000/token") {
		t.Fatalf("the chain did not continue: %s %s", c.URL, c.Body)
	}
	cancel() // with no token left, the targeter ends with the context
	var tgt vegeta.Target
	if err := p.targeter(&tgt); err == nil {
		t.Fatal("a dry pool handed out a target")
	}
}

// testSeedTokens copies a real token family (issued by Custodian through the anonymous
// grant during setup) the requested number of times.
func testSeedTokens(t *testing.T, b storagetest.Backend) {
	ctx := t.Context()
	dialect, dsn, err := storage.ParseURL(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open(string(dialect), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(where string) int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM oauth2_tokens WHERE "+where).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count("1 = 1")
	now := time.Now()
	// 2,001 rows make 1,000 families: an odd row is not a family.
	n, err := seedTokens(ctx, db, dialect, seedOptions{Rows: 2001, ExpiredShare: 0.25, Tag: "t1", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if n != 2000 {
		t.Fatalf("seeded %d rows, want 2000", n)
	}
	if got := count("1 = 1"); got != before+2000 {
		t.Fatalf("%d rows, want %d", got, before+2000)
	}
	seeded := "request_id LIKE 'seed-req-t1-%'"
	if a, r := count(seeded+" AND kind = 'access'"), count(seeded+" AND kind = 'refresh'"); a != 1000 || r != 1000 {
		t.Fatalf("%d access and %d refresh rows, want 1000 each", a, r)
	}
	for _, col := range []string{"signature", "request_id", "session_id", "subject"} {
		var distinct int
		q := "SELECT COUNT(DISTINCT " + col + ") FROM oauth2_tokens WHERE " + seeded + " AND kind = 'access'"
		if err := db.QueryRowContext(ctx, q).Scan(&distinct); err != nil {
			t.Fatal(err)
		}
		if distinct != 1000 {
			t.Errorf("%d distinct %s, want 1000", distinct, col)
		}
	}
	// Every seeded refresh row points at its family's access row.
	var linked int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM oauth2_tokens r JOIN oauth2_tokens a
				ON a.kind = 'access' AND a.signature = r.access_signature AND a.request_id = r.request_id
				WHERE r.kind = 'refresh' AND r.request_id LIKE 'seed-req-t1-%'`).Scan(&linked); err != nil {
		t.Fatal(err)
	}
	if linked != 1000 {
		t.Errorf("%d refresh rows linked to their access row, want 1000", linked)
	}
	var expired int
	if err := db.QueryRowContext(ctx, rebind(dialect, "SELECT COUNT(*) FROM oauth2_tokens WHERE "+seeded+" AND expires_at < ?"),
		now).Scan(&expired); err != nil {
		t.Fatal(err)
	}
	if expired != 500 {
		t.Errorf("%d expired rows, want 500 (a quarter of the families)", expired)
	}
}

func TestSeedTokensNeedsAFamily(t *testing.T) {
	b := storagetest.Backends(t)[0]
	storagetest.Open(t, b, storage.Options{}) // migrated, empty
	dialect, dsn, _ := storage.ParseURL(b.URL)
	db, err := sql.Open(string(dialect), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := seedTokens(t.Context(), db, dialect, seedOptions{Rows: 10, Tag: "x", Now: time.Now()}); err == nil ||
		!strings.Contains(err.Error(), "no token family") {
		t.Fatalf("err = %v, want no token family to copy", err)
	}
}
