package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/customer/passwordhash"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/storage"
)

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
	if got.PasswordHash != "h3" || got.Active || got.PasswordFormat != customer.PasswordFormatCustodian {
		t.Errorf("updates: %+v", got)
	}
	// An imported hash keeps its format and salt until a password set here replaces it,
	// and the replacement clears them and the flags of an external password.
	imp := &customer.Account{Tenant: "alpha", Email: "imported@example.com", PasswordHash: "c2FsdA==", PasswordFormat: "firebase-scrypt",
		PasswordSalt: "c2FsdA==", HasExternalPassword: true, MigrationRequired: true}
	if err := s.CreateAccount(ctx, imp); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetAccount(ctx, "alpha", imp.ID)
	if got.PasswordFormat != "firebase-scrypt" || got.PasswordSalt != "c2FsdA==" || !got.ForeignPassword() || !got.HasExternalPassword {
		t.Errorf("imported hash: %+v", got)
	}
	if err := s.UpdatePasswordHash(ctx, "alpha", imp.ID, "$argon2id$new"); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetAccount(ctx, "alpha", imp.ID)
	if got.PasswordFormat != customer.PasswordFormatCustodian || got.PasswordSalt != "" || got.ForeignPassword() ||
		got.HasExternalPassword || got.MigrationRequired || got.PasswordHash != "$argon2id$new" {
		t.Errorf("upgraded hash: %+v", got)
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

// testUpgradePassword: an imported hash is upgraded only while it is stored, of its
// tenant, in a foreign format, and once among racers; the salt and flags go with it.
func testUpgradePassword(t *testing.T, s *storage.Store) {
	mustTenant(t, s, "alpha")
	mustTenant(t, s, "beta")
	a := &customer.Account{Tenant: "alpha", Email: "fb@example.com", Active: true, PasswordHash: "aGFzaA==",
		PasswordFormat: string(passwordhash.FirebaseScrypt), PasswordSalt: "c2FsdA==", HasExternalPassword: true, MigrationRequired: true}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.UpgradePassword(ctx, "alpha", a.ID, "not-the-stored-hash", "$argon2id$x"); ok || err != nil {
		t.Errorf("upgrade of another hash: %v %v", ok, err)
	}
	if ok, err := s.UpgradePassword(ctx, "beta", a.ID, "aGFzaA==", "$argon2id$x"); ok || err != nil {
		t.Errorf("upgrade across tenants: %v %v", ok, err)
	}
	wins, lost := race(6, func() error {
		ok, err := s.UpgradePassword(ctx, "alpha", a.ID, "aGFzaA==", "$argon2id$new")
		if err != nil {
			return err
		}
		if !ok {
			return customer.ErrStale
		}
		return nil
	}, customer.ErrStale)
	if wins != 1 || lost != 5 {
		t.Errorf("%d upgrades won and %d lost, want 1 and 5", wins, lost)
	}
	got, err := s.GetAccount(ctx, "alpha", a.ID)
	if err != nil || got.PasswordFormat != customer.PasswordFormatCustodian || got.PasswordSalt != "" || got.PasswordHash != "$argon2id$new" ||
		got.HasExternalPassword || got.MigrationRequired || got.ForeignPassword() {
		t.Errorf("after the upgrade: %+v %v", got, err)
	}
	// Custodian's own hash never upgrades, even when the hash string matches.
	if ok, err := s.UpgradePassword(ctx, "alpha", a.ID, "$argon2id$new", "$argon2id$other"); ok || err != nil {
		t.Errorf("upgrade of an own hash: %v %v", ok, err)
	}
}
