package storagetest

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/notify"
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

func testCustomers(t *testing.T, s *storage.Store) {
	mustTenant(t, s, "alpha")
	mustTenant(t, s, "beta")
	a := &customer.Account{Tenant: "alpha", Email: "Jane@Example.com", PasswordHash: "h1", Active: true, FirstName: "Jane", LastName: "Doe", CreatedBy: "test"}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	if a.ID == 0 {
		t.Fatal("no id assigned")
	}
	if err := s.CreateAccount(ctx, &customer.Account{Tenant: "alpha", Email: "jane@example.COM"}); !errors.Is(err, customer.ErrConflict) {
		t.Errorf("duplicate e-mail (other case): %v", err)
	}
	// The same e-mail is a different customer in another tenant.
	if err := s.CreateAccount(ctx, &customer.Account{Tenant: "beta", Email: "jane@example.com", PasswordHash: "h2"}); err != nil {
		t.Errorf("same e-mail in another tenant: %v", err)
	}
	got, err := s.GetAccountByEmail(ctx, "alpha", " JANE@example.com ")
	if err != nil || got.ID != a.ID || got.Email != "Jane@Example.com" || got.PasswordHash != "h1" || !got.Active || got.FirstName != "Jane" {
		t.Fatalf("by e-mail: %+v %v", got, err)
	}
	if _, err := s.GetAccount(ctx, "beta", a.ID); !errors.Is(err, customer.ErrNotFound) {
		t.Errorf("account leaked across tenants: %v", err)
	}
	if err := s.UpdatePasswordHash(ctx, "alpha", a.ID, "h3"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetActive(ctx, "alpha", a.ID, false); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetAccount(ctx, "alpha", a.ID)
	if got.PasswordHash != "h3" || got.Active {
		t.Errorf("updates: %+v", got)
	}
	if err := s.SetActive(ctx, "beta", a.ID, true); !errors.Is(err, customer.ErrNotFound) {
		t.Errorf("update across tenants: %v", err)
	}
}

func testCustomerEmailRace(t *testing.T, s *storage.Store) {
	mustTenant(t, s, "alpha")
	wins, conflicts := race(8, func() error {
		return s.CreateAccount(ctx, &customer.Account{Tenant: "alpha", Email: "race@example.com", PasswordHash: "h"})
	}, customer.ErrConflict)
	if wins != 1 || conflicts != 7 {
		t.Errorf("wins %d, conflicts %d", wins, conflicts)
	}
}

// testOneTimeTokens: a token can be looked at without using it, is used once, and
// neither works when expired, used or of another tenant or kind.
func testOneTimeTokens(t *testing.T, s *storage.Store) {
	mustTenant(t, s, "alpha")
	mustTenant(t, s, "beta")
	id := mustCustomer(t, s, "alpha", "tok@example.com")
	now := time.Now().UTC().Truncate(time.Second)
	if err := s.CreateToken(ctx, &customer.OneTimeToken{Hash: "hash-1", Tenant: "alpha", CustomerID: id, Kind: customer.TokenNotMe,
		Data: map[string]string{"k": "v"}, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		got, err := s.PeekToken(ctx, "alpha", customer.TokenNotMe, "hash-1", now)
		if err != nil || got.CustomerID != id || got.Data["k"] != "v" {
			t.Fatalf("peek %d: %+v %v", i, got, err)
		}
	}
	for _, c := range []struct {
		name, tenant, kind string
		at                 time.Time
	}{
		{"another tenant", "beta", customer.TokenNotMe, now},
		{"another kind", "alpha", customer.TokenPasswordReset, now},
		{"expired", "alpha", customer.TokenNotMe, now.Add(2 * time.Hour)},
	} {
		if _, err := s.PeekToken(ctx, c.tenant, c.kind, "hash-1", c.at); !errors.Is(err, customer.ErrInvalidToken) {
			t.Errorf("peek, %s: %v", c.name, err)
		}
	}
	if got, err := s.UseToken(ctx, "alpha", customer.TokenNotMe, "hash-1", now); err != nil || got.CustomerID != id {
		t.Fatalf("use after peeks: %+v %v", got, err)
	}
	if _, err := s.PeekToken(ctx, "alpha", customer.TokenNotMe, "hash-1", now); !errors.Is(err, customer.ErrInvalidToken) {
		t.Errorf("peek a used token: %v", err)
	}
	if _, err := s.UseToken(ctx, "alpha", customer.TokenNotMe, "hash-1", now); !errors.Is(err, customer.ErrInvalidToken) {
		t.Errorf("use twice: %v", err)
	}
}

func testEvents(t *testing.T, s *storage.Store) {
	id := int64(42)
	for i, kind := range []string{identity.EventLoginFailed, identity.EventLoginSucceeded, identity.EventLogout} {
		e := &identity.SecurityEvent{Tenant: "alpha", Kind: kind, IP: "127.0.0.1", UserAgent: "test", Detail: map[string]any{"n": i},
			CreatedAt: time.Date(2026, 1, 1, 0, i, 0, 0, time.UTC)}
		if i < 2 {
			e.CustomerID = &id
		}
		if err := s.RecordEvent(ctx, e); err != nil || e.ID == 0 {
			t.Fatalf("record: %v", err)
		}
	}
	all, err := s.ListEvents(ctx, "alpha", nil, 0)
	if err != nil || len(all) != 3 || all[0].Kind != identity.EventLogout || all[2].Detail["n"] != float64(0) {
		t.Fatalf("list: %v %v", all, err)
	}
	mine, _ := s.ListEvents(ctx, "alpha", &id, 10)
	if len(mine) != 2 || *mine[0].CustomerID != 42 {
		t.Errorf("by customer: %v", mine)
	}
	if other, _ := s.ListEvents(ctx, "beta", nil, 10); len(other) != 0 {
		t.Errorf("events leaked across tenants")
	}
	if one, _ := s.ListEvents(ctx, "alpha", nil, 1); len(one) != 1 {
		t.Errorf("limit ignored")
	}
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

// tokenRequest builds a fosite request of a tenant's client with an oauth.Session.
func tokenRequest(client *oauth.Client, tenant, subject, sessionID, requestID string, exp time.Time) *fosite.Request {
	sess := oauth.NewSession()
	sess.Tenant = tenant
	sess.Subject = subject
	sess.SessionID = sessionID
	sess.SetExpiresAt(fosite.AccessToken, exp)
	sess.SetExpiresAt(fosite.RefreshToken, exp)
	sess.SetExpiresAt(fosite.AuthorizeCode, exp)
	r := fosite.NewRequest()
	r.ID = requestID
	r.Client = client
	r.Session = sess
	r.RequestedAt = time.Now().UTC().Truncate(time.Second)
	r.GrantedScope = fosite.Arguments{"openid"}
	r.Form = url.Values{"client_secret": {"must-not-be-stored"}, "scope": {"openid"}}
	return r
}

func tokenFixture(t *testing.T, s *storage.Store) (context.Context, context.Context, *oauth.Client) {
	t.Helper()
	alpha := mustTenant(t, s, "alpha")
	beta := mustTenant(t, s, "beta")
	c := &oauth.Client{Tenant: "alpha", ID: "web", Public: true, GrantTypes: []string{"refresh_token"}}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	return identity.WithTenant(ctx, alpha), identity.WithTenant(ctx, beta), c
}

func testTokens(t *testing.T, s *storage.Store) {
	actx, bctx, c := tokenFixture(t, s)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	req := tokenRequest(c, "alpha", "42", "sid-1", "family-1", exp)

	// Authorization codes: single use, and a used code still returns its request.
	if err := s.CreateAuthorizeCodeSession(actx, "code-sig", req); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAuthorizeCodeSession(actx, "code-sig", oauth.NewSession())
	if err != nil || got.GetID() != "family-1" || got.GetSession().GetSubject() != "42" || got.GetClient().GetID() != "web" {
		t.Fatalf("get code: %v %v", got, err)
	}
	if got.GetRequestForm().Get("client_secret") != "" {
		t.Errorf("a secret form field was stored")
	}
	if _, err := s.GetAuthorizeCodeSession(bctx, "code-sig", oauth.NewSession()); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("code visible from another tenant: %v", err)
	}
	if err := s.InvalidateAuthorizeCodeSession(actx, "code-sig"); err != nil {
		t.Fatal(err)
	}
	if err := s.InvalidateAuthorizeCodeSession(actx, "code-sig"); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		t.Errorf("second invalidation: %v", err)
	}
	got, err = s.GetAuthorizeCodeSession(actx, "code-sig", oauth.NewSession())
	if !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) || got == nil || got.GetID() != "family-1" {
		t.Errorf("used code: %v %v", got, err)
	}

	// Access and refresh tokens of one family; revocation by family.
	if err := s.CreateAccessTokenSession(actx, "at-1", req); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRefreshTokenSession(actx, "rt-1", "at-1", req); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAccessTokenSession(actx, "at-1", req); err == nil {
		t.Errorf("duplicate signature accepted")
	}
	// A peek at a live refresh token reads it and records nothing.
	peeked := oauth.NewSession()
	if got, err := s.PeekRefreshTokenSession(actx, "rt-1", peeked); err != nil || got.GetID() != "family-1" || peeked.SessionID != "sid-1" {
		t.Errorf("peek refresh: %v %+v", err, peeked)
	}
	if _, err := s.PeekRefreshTokenSession(bctx, "rt-1", oauth.NewSession()); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("refresh token visible from another tenant: %v", err)
	}
	sess := oauth.NewSession()
	if _, err := s.GetAccessTokenSession(actx, "at-1", sess); err != nil || sess.SessionID != "sid-1" {
		t.Errorf("get access: %v %+v", err, sess)
	}
	if _, err := s.GetAccessTokenSession(bctx, "at-1", oauth.NewSession()); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("access token visible from another tenant: %v", err)
	}
	jti := oauth.JTIFromSignature("at-1")
	if ok, err := s.AccessTokenByJTI(actx, "alpha", jti); err != nil || !ok {
		t.Errorf("jti lookup: %v %v", ok, err)
	}
	if ok, _ := s.AccessTokenByJTI(actx, "beta", jti); ok {
		t.Errorf("jti visible from another tenant")
	}
	if err := s.RevokeAccessToken(actx, "family-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAccessTokenSession(actx, "at-1", oauth.NewSession()); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("revoked access token: %v", err)
	}
	if ok, _ := s.AccessTokenByJTI(actx, "alpha", jti); ok {
		t.Errorf("jti of a revoked token still active")
	}
	if err := s.RevokeRefreshToken(actx, "family-1"); err != nil {
		t.Fatal(err)
	}
	before, _ := s.ListEvents(actx, "alpha", nil, 100)
	if _, err := s.PeekRefreshTokenSession(actx, "rt-1", oauth.NewSession()); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("peek a revoked refresh token: %v", err)
	}
	if after, _ := s.ListEvents(actx, "alpha", nil, 100); len(after) != len(before) {
		t.Errorf("a peek recorded an event: %d events, %d before", len(after), len(before))
	}
	if _, err := s.GetRefreshTokenSession(actx, "rt-1", oauth.NewSession()); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("revoked refresh token: %v", err)
	}

	// Session and subject revocation.
	req2 := tokenRequest(c, "alpha", "43", "sid-2", "family-2", exp)
	_ = s.CreateAccessTokenSession(actx, "at-2", req2)
	_ = s.CreateRefreshTokenSession(actx, "rt-2", "at-2", req2)
	if err := s.RevokeSession(actx, "alpha", "sid-2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAccessTokenSession(actx, "at-2", oauth.NewSession()); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("session revocation missed the access token: %v", err)
	}
	req3 := tokenRequest(c, "alpha", "44", "sid-3", "family-3", exp)
	_ = s.CreateAccessTokenSession(actx, "at-3", req3)
	_ = s.CreateAuthorizeCodeSession(actx, "code-44", tokenRequest(c, "alpha", "44", "sid-3", "family-5", exp))
	_ = s.CreateAuthorizeCodeSession(actx, "code-46", tokenRequest(c, "alpha", "46", "sid-6", "family-6", exp))
	if err := s.RevokeSubject(actx, "alpha", "44"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAccessTokenSession(actx, "at-3", oauth.NewSession()); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("subject revocation missed the access token: %v", err)
	}
	// A code of the subject not yet exchanged is gone (not a reuse); others stay.
	if got, err := s.GetAuthorizeCodeSession(actx, "code-44", oauth.NewSession()); !errors.Is(err, fosite.ErrNotFound) || got != nil {
		t.Errorf("subject revocation missed the code: %v %v", got, err)
	}
	if _, err := s.GetAuthorizeCodeSession(actx, "code-46", oauth.NewSession()); err != nil {
		t.Errorf("subject revocation reached another subject's code: %v", err)
	}

	// PKCE and OpenID Connect state.
	if err := s.CreatePKCERequestSession(actx, "code-2", req); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetPKCERequestSession(actx, "code-2", oauth.NewSession()); err != nil {
		t.Errorf("pkce: %v", err)
	}
	_ = s.DeletePKCERequestSession(actx, "code-2")
	if _, err := s.GetPKCERequestSession(actx, "code-2", oauth.NewSession()); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("deleted pkce: %v", err)
	}
	if err := s.CreateOpenIDConnectSession(actx, "code-3", req); err != nil {
		t.Fatal(err)
	}
	r := fosite.NewRequest()
	r.Session = oauth.NewSession()
	if got, err := s.GetOpenIDConnectSession(actx, "code-3", r); err != nil || got.GetSession().GetSubject() != "42" {
		t.Errorf("oidc: %v", err)
	}
	_ = s.DeleteOpenIDConnectSession(actx, "code-3")

	// Expired rows are collected.
	old := tokenRequest(c, "alpha", "45", "sid-4", "family-4", time.Now().Add(-48*time.Hour))
	_ = s.CreateAccessTokenSession(actx, "at-old", old)
	n, err := s.DeleteExpiredTokens(actx, time.Now().Add(-24*time.Hour))
	if err != nil || n != 1 {
		t.Errorf("expired tokens deleted: %d %v", n, err)
	}
}

// testRefreshRotationRace rotates one refresh token from 16 goroutines: one rotation
// and 15 grace forks, no other outcome, on both dialects.
func testRefreshRotationRace(t *testing.T, s *storage.Store) {
	actx, _, c := tokenFixture(t, s)
	req := tokenRequest(c, "alpha", "42", "sid-1", "family-1", time.Now().Add(time.Hour))
	_ = s.CreateAccessTokenSession(actx, "at-1", req)
	if err := s.CreateRefreshTokenSession(actx, "rt-1", "at-1", req); err != nil {
		t.Fatal(err)
	}
	wins, other := race(16, func() error {
		return s.InTx(actx, func(ctx context.Context) error { return s.RotateRefreshToken(ctx, "family-1", "rt-1") })
	}, fosite.ErrInactiveToken)
	if wins != 16 || other != 0 {
		t.Fatalf("rotations: %d ok, %d inactive (want 16 ok within the grace window)", wins, other)
	}
	// The default bound is 20 forks: the race took 15, five more are allowed, then none.
	for i := range 5 {
		if err := s.RotateRefreshToken(actx, "family-1", "rt-1"); err != nil {
			t.Fatalf("fork %d: %v", 16+i, err)
		}
	}
	if err := s.RotateRefreshToken(actx, "family-1", "rt-1"); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("fork beyond the bound: %v", err)
	}
	if _, err := s.GetRefreshTokenSession(actx, "rt-1", oauth.NewSession()); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("exhausted token still served: %v", err)
	}
	// The access token minted with the rotated refresh token was revoked by the rotation.
	if _, err := s.GetAccessTokenSession(actx, "at-1", oauth.NewSession()); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("access token of a rotated refresh token: %v", err)
	}
	// The replay was recorded.
	evs, _ := s.ListEvents(ctx, "alpha", nil, 10)
	if len(evs) == 0 || evs[0].Kind != identity.EventRefreshReuse {
		t.Errorf("no reuse event: %v", evs)
	}
}

func testOutbox(t *testing.T, s *storage.Store) {
	now := time.Now().UTC().Truncate(time.Second)
	m := &notify.Message{Tenant: "alpha", Kind: notify.KindPasswordReset, To: "a@example.com", Subject: "Reset",
		Body: "secret link", Data: map[string]any{"token": "t"}, NextAttemptAt: now, CreatedAt: now}
	if err := s.EnqueueMessage(ctx, m); err != nil || m.ID == 0 {
		t.Fatalf("enqueue: %v", err)
	}
	// A rolled-back transaction leaves no message behind.
	_ = s.InTx(ctx, func(ctx context.Context) error {
		_ = s.EnqueueMessage(ctx, &notify.Message{Tenant: "alpha", Kind: "x", To: "b@example.com", NextAttemptAt: now, CreatedAt: now})
		return errors.New("abort")
	})
	if got, _ := s.ClaimMessages(ctx, now.Add(-time.Minute), 10, time.Minute); len(got) != 0 {
		t.Errorf("claimed a message before it was due: %v", got)
	}
	// Two nodes claim at once: the message goes to exactly one.
	var mu sync.Mutex
	claimed := 0
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.ClaimMessages(ctx, now, 10, time.Minute)
			if err != nil {
				t.Errorf("claim: %v", err)
			}
			mu.Lock()
			claimed += len(got)
			mu.Unlock()
			for _, g := range got {
				if g.Body != "secret link" || g.Data["token"] != "t" || g.Attempts != 1 {
					t.Errorf("claimed message: %+v", g)
				}
			}
		}()
	}
	wg.Wait()
	if claimed != 1 {
		t.Fatalf("claimed %d times, want 1", claimed)
	}
	// A failed attempt comes back when due.
	next := now.Add(time.Minute)
	if err := s.MarkFailed(ctx, m.ID, &next, "smtp down"); err != nil {
		t.Fatal(err)
	}
	got, _ := s.ClaimMessages(ctx, next, 10, time.Minute)
	if len(got) != 1 || got[0].Attempts != 2 || got[0].LastError != "smtp down" {
		t.Fatalf("retry claim: %+v", got)
	}
	if err := s.MarkDelivered(ctx, m.ID, next); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ClaimMessages(ctx, next.Add(time.Hour), 10, time.Minute); len(got) != 0 {
		t.Errorf("delivered message claimed again")
	}
}

func testRateLimit(t *testing.T, s *storage.Store) {
	var last int
	for i := range 5 {
		n, end, err := s.Hit(ctx, "login:ip:1.2.3.4", time.Hour)
		if err != nil || n != i+1 || !end.After(time.Now()) {
			t.Fatalf("hit %d: %d %v %v", i, n, end, err)
		}
		last = n
	}
	if n, _, _ := s.Hit(ctx, "another", time.Hour); n != 1 {
		t.Errorf("buckets not separate: %d", n)
	}
	// Concurrent hits are all counted.
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, _ = s.Hit(ctx, "login:ip:1.2.3.4", time.Hour)
		}()
	}
	wg.Wait()
	if n, _, _ := s.Hit(ctx, "login:ip:1.2.3.4", time.Hour); n != last+11 {
		t.Errorf("concurrent hits lost: %d, want %d", n, last+11)
	}
}
