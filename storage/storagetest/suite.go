package storagetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage"
)

// Run is the conformance suite: every store method, its sentinels, tenant isolation,
// rollbacks and races. newStore returns an empty, migrated store.
func Run(t *testing.T, newStore func(t *testing.T) *storage.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s *storage.Store)
	}{
		{"Tenants", testTenants},
		{"Clients", testClients},
		{"Keys", testKeys},
		{"KeyStateRace", testKeyStateRace},
		{"Customers", testCustomers},
		{"CustomerEmailRace", testCustomerEmailRace},
		{"UpgradePassword", testUpgradePassword},
		{"OneTimeTokens", testOneTimeTokens},
		{"Events", testEvents},
		{"BrowserSessions", testBrowserSessions},
		{"Consents", testConsents},
		{"Transactions", testTransactions},
		{"Tokens", testTokens},
		{"RefreshRotationRace", testRefreshRotationRace},
		{"Outbox", testOutbox},
		{"RateLimit", testRateLimit},
		{"Challenges", testChallenges},
		{"TOTP", testTOTP},
		{"Devices", testDevices},
		{"TwoFactorAccount", testTwoFactorAccount},
		{"Social", testSocial},
		{"Profile", testProfile},
		{"Addresses", testAddresses},
		{"Erase", testErase},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

var ctx = context.Background()

func mustTenant(t *testing.T, s *storage.Store, name string) *identity.Tenant {
	t.Helper()
	tn := &identity.Tenant{Name: name, Settings: identity.DefaultSettings()}
	if err := s.CreateTenant(ctx, tn); err != nil {
		t.Fatalf("create tenant %s: %v", name, err)
	}
	return tn
}

func testTenants(t *testing.T, s *storage.Store) {
	tn := mustTenant(t, s, "alpha")
	if err := s.CreateTenant(ctx, &identity.Tenant{Name: "alpha", Settings: identity.DefaultSettings()}); !errors.Is(err, identity.ErrConflict) {
		t.Errorf("duplicate tenant: %v", err)
	}
	got, err := s.GetTenant(ctx, "alpha")
	if err != nil || got.Name != "alpha" || got.Settings.LockoutThreshold != 5 || !got.CreatedAt.Equal(tn.CreatedAt) {
		t.Fatalf("get tenant: %+v, %v", got, err)
	}
	st := got.Settings
	if err := st.Set("tokens.access_ttl", "30m"); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateTenantSettings(ctx, "alpha", st); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetTenant(ctx, "alpha")
	if time.Duration(got.Settings.AccessTTL) != 30*time.Minute {
		t.Errorf("settings not saved: %v", got.Settings.AccessTTL)
	}
	if err := s.UpdateTenantSettings(ctx, "nobody", st); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("update unknown tenant: %v", err)
	}
	if _, err := s.GetTenant(ctx, "nobody"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("unknown tenant: %v", err)
	}
	mustTenant(t, s, "beta")
	all, err := s.ListTenants(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "alpha" || all[1].Name != "beta" {
		t.Errorf("list tenants: %v %v", all, err)
	}
}

func testClients(t *testing.T, s *storage.Store) {
	mustTenant(t, s, "alpha")
	mustTenant(t, s, "beta")
	c := &oauth.Client{Tenant: "alpha", ID: "web", Name: "Web shop", SecretHash: []byte{1, 2, 3}, FirstParty: true,
		RedirectURIs: []string{"https://shop.example/cb"}, PostLogoutRedirectURIs: []string{"https://shop.example/"},
		GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid"}, Audience: []string{"api"},
		Behaviors: []string{oauth.BehaviorConfigureTokenDurations}}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateClient(ctx, &oauth.Client{Tenant: "alpha", ID: "web"}); !errors.Is(err, identity.ErrConflict) {
		t.Errorf("duplicate client: %v", err)
	}
	if err := s.CreateClient(ctx, &oauth.Client{Tenant: "nobody", ID: "x"}); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("client of unknown tenant: %v", err)
	}
	got, err := s.GetTenantClient(ctx, "alpha", "web")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != c.Name || string(got.SecretHash) != string(c.SecretHash) || !got.FirstParty ||
		!slices.Equal(got.RedirectURIs, c.RedirectURIs) || !slices.Equal(got.Behaviors, c.Behaviors) ||
		!slices.Equal(got.Audience, c.Audience) || !slices.Equal(got.PostLogoutRedirectURIs, c.PostLogoutRedirectURIs) {
		t.Errorf("round trip: %+v", got)
	}
	// Tenant isolation: the same id in another tenant does not exist.
	if _, err := s.GetTenantClient(ctx, "beta", "web"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("client leaked across tenants: %v", err)
	}
	beta, _ := s.GetTenant(ctx, "beta")
	if _, err := s.GetClient(identity.WithTenant(ctx, beta), "web"); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("fosite GetClient across tenants: %v", err)
	}
	alpha, _ := s.GetTenant(ctx, "alpha")
	if fc, err := s.GetClient(identity.WithTenant(ctx, alpha), "web"); err != nil || fc.GetID() != "web" {
		t.Errorf("fosite GetClient: %v %v", fc, err)
	}
	if _, err := s.GetClient(ctx, "web"); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("fosite GetClient without tenant: %v", err)
	}
	got.Name = "Renamed"
	got.Scopes = []string{"openid", "email"}
	if err := s.UpdateClient(ctx, got); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.GetTenantClient(ctx, "alpha", "web"); again.Name != "Renamed" || len(again.Scopes) != 2 {
		t.Errorf("update: %+v", again)
	}
	if list, err := s.ListClients(ctx, "alpha"); err != nil || len(list) != 1 {
		t.Errorf("list: %v %v", list, err)
	}
	if err := s.DeleteClient(ctx, "beta", "web"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("delete across tenants: %v", err)
	}
	if err := s.DeleteClient(ctx, "alpha", "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTenantClient(ctx, "alpha", "web"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("deleted client: %v", err)
	}
}

func key(tenant, kid, state string) *oauth.SigningKey {
	return &oauth.SigningKey{KID: kid, Tenant: tenant, Alg: "ES256", State: state, Sealed: []byte("sealed-" + kid), PublicJWK: []byte(`{"kid":"` + kid + `"}`)}
}

func testKeys(t *testing.T, s *storage.Store) {
	mustTenant(t, s, "alpha")
	if err := s.InsertKey(ctx, key("alpha", "k1", oauth.KeyCurrent)); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertKey(ctx, key("alpha", "k2", oauth.KeyCurrent)); !errors.Is(err, identity.ErrConflict) {
		t.Errorf("second current key: %v", err)
	}
	if err := s.InsertKey(ctx, key("alpha", "k2", oauth.KeyNext)); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertKey(ctx, key("nobody", "k9", oauth.KeyNext)); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("key of unknown tenant: %v", err)
	}
	if err := s.SetKeyState(ctx, "k1", oauth.KeyNext, oauth.KeyPrevious); !errors.Is(err, identity.ErrConflict) {
		t.Errorf("move from wrong state: %v", err)
	}
	if err := s.SetKeyState(ctx, "k1", oauth.KeyCurrent, oauth.KeyPrevious); err != nil {
		t.Fatal(err)
	}
	if err := s.SetKeyState(ctx, "k2", oauth.KeyNext, oauth.KeyCurrent); err != nil {
		t.Fatal(err)
	}
	keys, err := s.ListKeys(ctx, "alpha")
	if err != nil || len(keys) != 2 {
		t.Fatalf("list keys: %v %v", keys, err)
	}
	for _, k := range keys {
		want := map[string]string{"k1": oauth.KeyPrevious, "k2": oauth.KeyCurrent}[k.KID]
		if k.State != want || string(k.Sealed) != "sealed-"+k.KID {
			t.Errorf("key %s: %+v", k.KID, k)
		}
	}
	if err := s.SetKeyState(ctx, "k1", oauth.KeyPrevious, oauth.KeyRetired); err != nil {
		t.Fatal(err)
	}
	if keys, _ := s.ListKeys(ctx, "alpha"); len(keys) != 1 {
		t.Errorf("retired key listed: %v", keys)
	}
}

func testKeyStateRace(t *testing.T, s *storage.Store) {
	mustTenant(t, s, "alpha")
	if err := s.InsertKey(ctx, key("alpha", "k1", oauth.KeyNext)); err != nil {
		t.Fatal(err)
	}
	wins, conflicts := race(8, func() error { return s.SetKeyState(ctx, "k1", oauth.KeyNext, oauth.KeyCurrent) }, identity.ErrConflict)
	if wins != 1 || conflicts != 7 {
		t.Errorf("wins %d, conflicts %d", wins, conflicts)
	}
}

// race runs fn n times at once and counts successes and errors that match want; any
// other error fails the count (returned as -1 conflicts).
func race(n int, fn func() error, want error) (wins, matches int) {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs <- fn()
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, want):
			matches++
		default:
			return wins, -1
		}
	}
	return wins, matches
}

func mustCustomer(t *testing.T, s *storage.Store, tenant, email string) int64 {
	t.Helper()
	a := &customer.Account{Tenant: tenant, Email: email, PasswordHash: "h", Active: true}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	return a.ID
}

func testBrowserSessions(t *testing.T, s *storage.Store) {
	mustTenant(t, s, "alpha")
	mustTenant(t, s, "beta")
	id := mustCustomer(t, s, "alpha", "a@example.com")
	now := time.Now().UTC().Truncate(time.Second)
	live := &oauth.BrowserSession{IDHash: "h-live", Tenant: "alpha", CustomerID: id, SessionID: "sid-1", AMR: []string{"pwd"},
		AuthTime: now, ExpiresAt: now.Add(time.Hour), CreatedAt: now}
	dead := &oauth.BrowserSession{IDHash: "h-dead", Tenant: "alpha", CustomerID: id, SessionID: "sid-2",
		AuthTime: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour), CreatedAt: now.Add(-2 * time.Hour)}
	for _, b := range []*oauth.BrowserSession{live, dead} {
		if err := s.CreateBrowserSession(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetBrowserSession(ctx, "alpha", "h-live")
	if err != nil || got.SessionID != "sid-1" || !slices.Equal(got.AMR, []string{"pwd"}) || !got.AuthTime.Equal(now) {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := s.GetBrowserSession(ctx, "alpha", "h-dead"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("expired session returned: %v", err)
	}
	if _, err := s.GetBrowserSession(ctx, "beta", "h-live"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("session leaked across tenants: %v", err)
	}
	if err := s.DeleteBrowserSession(ctx, "alpha", "h-live"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetBrowserSession(ctx, "alpha", "h-live"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("deleted session returned: %v", err)
	}
	live.IDHash = "h-live-2"
	_ = s.CreateBrowserSession(ctx, live)
	if err := s.DeleteCustomerBrowserSessions(ctx, "alpha", id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetBrowserSession(ctx, "alpha", "h-live-2"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("customer sessions not deleted: %v", err)
	}
}

func testConsents(t *testing.T, s *storage.Store) {
	mustTenant(t, s, "alpha")
	id := mustCustomer(t, s, "alpha", "a@example.com")
	if _, err := s.GetConsent(ctx, "alpha", id, "app"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("missing consent: %v", err)
	}
	for _, scopes := range [][]string{{"openid"}, {"openid", "email"}} {
		if err := s.SaveConsent(ctx, &oauth.Consent{Tenant: "alpha", CustomerID: id, ClientID: "app", Scopes: scopes, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := s.GetConsent(ctx, "alpha", id, "app")
	if err != nil || !slices.Equal(c.Scopes, []string{"openid", "email"}) {
		t.Errorf("consent: %+v %v", c, err)
	}
}

func testTransactions(t *testing.T, s *storage.Store) {
	boom := errors.New("boom")
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.CreateTenant(ctx, &identity.Tenant{Name: "rolled", Settings: identity.DefaultSettings()}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx error: %v", err)
	}
	if _, err := s.GetTenant(ctx, "rolled"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("InTx did not roll back: %v", err)
	}

	txctx, err := s.BeginTX(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.BeginTX(txctx); !errors.Is(err, storage.ErrTxInProgress) {
		t.Errorf("nested BeginTX: %v", err)
	}
	if err := s.CreateTenant(txctx, &identity.Tenant{Name: "manual", Settings: identity.DefaultSettings()}); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollback(txctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTenant(ctx, "manual"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("Rollback kept the row: %v", err)
	}
	if err := s.Commit(ctx); !errors.Is(err, storage.ErrNoTx) {
		t.Errorf("Commit without tx: %v", err)
	}

	txctx, _ = s.BeginTX(ctx)
	if err := s.CreateTenant(txctx, &identity.Tenant{Name: "kept", Settings: identity.DefaultSettings()}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(txctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTenant(ctx, "kept"); err != nil {
		t.Errorf("committed tenant missing: %v", err)
	}
	// InTx inside a transaction joins it: the outer rollback undoes the inner work.
	txctx, _ = s.BeginTX(ctx)
	_ = s.InTx(txctx, func(ctx context.Context) error {
		return s.CreateTenant(ctx, &identity.Tenant{Name: "joined", Settings: identity.DefaultSettings()})
	})
	_ = s.Rollback(txctx)
	if _, err := s.GetTenant(ctx, "joined"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("inner InTx escaped the outer transaction: %v", err)
	}
}
