package storagetest

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage"
)

func testProfile(t *testing.T, s *storage.Store) {
	mustTenant(t, s, "alpha")
	id := mustCustomer(t, s, "alpha", "jane@example.com")
	mustCustomer(t, s, "alpha", "john@example.com")
	a, err := s.GetAccount(ctx, "alpha", id)
	if err != nil {
		t.Fatal(err)
	}
	a.FirstName, a.Mixins = "Jane", []byte(`{"loyalty":{"tier":"gold"}}`)
	if err := s.UpdateProfile(ctx, a, a.Version); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetAccount(ctx, "alpha", id)
	if got.FirstName != "Jane" || got.Version != 2 || string(got.Mixins) != `{"loyalty":{"tier":"gold"}}` {
		t.Errorf("after update: %+v", got)
	}
	a.FirstName = "Stale"
	if err := s.UpdateProfile(ctx, a, 1); !errors.Is(err, customer.ErrStale) {
		t.Errorf("stale version: %v", err)
	}
	if got, _ := s.GetAccount(ctx, "alpha", id); got.FirstName != "Jane" {
		t.Errorf("a stale update wrote: %+v", got)
	}
	wins, _ := race(6, func() error {
		return s.UpdateProfile(ctx, &customer.Account{Tenant: "alpha", ID: id, FirstName: "R"}, 2)
	}, customer.ErrStale)
	if wins != 1 {
		t.Errorf("%d concurrent updates of one version won, want 1", wins)
	}

	contact := "jane@new.example"
	if err := s.UpdateEmail(ctx, "alpha", id, "JOHN@example.com", nil); !errors.Is(err, customer.ErrConflict) {
		t.Errorf("switch to a taken e-mail: %v", err)
	}
	if err := s.UpdateEmail(ctx, "alpha", id, "jane@new.example", &contact); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetAccountByEmail(ctx, "alpha", "Jane@New.example"); err != nil || got.ContactEmail != contact {
		t.Errorf("after the e-mail switch: %+v, %v", got, err)
	}
}

func testAddresses(t *testing.T, s *storage.Store) {
	mustTenant(t, s, "alpha")
	id := mustCustomer(t, s, "alpha", "jane@example.com")
	other := mustCustomer(t, s, "alpha", "john@example.com")
	add := func(city string, def bool) string {
		a := &customer.Address{Street: "Main", ZipCode: "1", City: city, Country: "DE", Tags: []string{"BILLING"}, IsDefault: def}
		if err := s.AddAddress(ctx, "alpha", id, a); err != nil {
			t.Fatal(err)
		}
		return a.ID
	}
	first := add("Berlin", true)
	time.Sleep(2 * time.Millisecond) // created_at orders the book
	second := add("Hamburg", false)
	if err := s.AddAddress(ctx, "alpha", id, &customer.Address{Street: "x", IsDefault: true}); err == nil {
		t.Error("two default addresses")
	}
	list, err := s.ListAddresses(ctx, "alpha", id)
	if err != nil || len(list) != 2 || list[0].ID != first || !list[0].IsDefault || list[1].Tags[0] != "BILLING" {
		t.Fatalf("addresses %+v, %v", list, err)
	}
	if _, err := s.GetAddress(ctx, "alpha", other, first); !errors.Is(err, customer.ErrAddressNotFound) {
		t.Errorf("another customer's address: %v", err)
	}
	if err := s.UpdateAddress(ctx, "alpha", other, &customer.Address{ID: first, City: "Paris"}); !errors.Is(err, customer.ErrAddressNotFound) {
		t.Errorf("updated another customer's address: %v", err)
	}
	if err := s.DeleteAddress(ctx, "alpha", other, first); !errors.Is(err, customer.ErrAddressNotFound) {
		t.Errorf("deleted another customer's address: %v", err)
	}
	if err := s.DeleteAddress(ctx, "alpha", id, first); err != nil {
		t.Fatal(err)
	}
	if err := s.PromoteDefaultAddress(ctx, "alpha", id); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.GetAddress(ctx, "alpha", id, second); !a.IsDefault {
		t.Error("the remaining address was not promoted")
	}
	if err := s.ClearDefaultAddress(ctx, "alpha", id); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.GetAddress(ctx, "alpha", id, second); a.IsDefault {
		t.Error("default not cleared")
	}
}

func testErase(t *testing.T, s *storage.Store) {
	actx, _, c := tokenFixture(t, s)
	id := mustCustomer(t, s, "alpha", "jane@example.com")
	keep := mustCustomer(t, s, "alpha", "john@example.com")
	if err := s.AddAddress(ctx, "alpha", id, &customer.Address{Street: "Main", City: "B", ZipCode: "1", Country: "DE"}); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	for sig, sub := range map[string]string{"sig-jane": itoa(id), "sig-john": itoa(keep)} {
		if err := s.CreateAccessTokenSession(actx, sig, tokenRequest(c, "alpha", sub, "sid-"+sig, "fam-"+sig, exp)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordEvent(ctx, &identity.SecurityEvent{Tenant: "alpha", Kind: "login.succeeded", CustomerID: &id, IP: "192.0.2.1",
		UserAgent: "ua", Detail: map[string]any{"x": 1}}); err != nil {
		t.Fatal(err)
	}
	if err := s.EraseAccount(ctx, "alpha", id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAccount(ctx, "alpha", id); !errors.Is(err, customer.ErrNotFound) {
		t.Errorf("account still there: %v", err)
	}
	if list, _ := s.ListAddresses(ctx, "alpha", id); len(list) != 0 {
		t.Errorf("addresses survived: %v", list)
	}
	if _, err := s.GetAccessTokenSession(actx, "sig-jane", oauth.NewSession()); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("token of the erased customer: %v", err)
	}
	if _, err := s.GetAccessTokenSession(actx, "sig-john", oauth.NewSession()); err != nil {
		t.Errorf("another customer's token went: %v", err)
	}
	evs, _ := s.ListEvents(ctx, "alpha", &id, 10)
	if len(evs) != 1 || evs[0].IP != "" || evs[0].UserAgent != "" || len(evs[0].Detail) != 0 || evs[0].Kind != "login.succeeded" {
		t.Errorf("events after erasure: %+v", evs)
	}
	if err := s.EraseAccount(ctx, "alpha", id); !errors.Is(err, customer.ErrNotFound) {
		t.Errorf("erase twice: %v", err)
	}

	// RevokeSubjectExcept keeps one shopper session.
	for _, sid := range []string{"keep", "drop"} {
		if err := s.CreateAccessTokenSession(actx, "s-"+sid, tokenRequest(c, "alpha", itoa(keep), sid, "f-"+sid, exp)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RevokeSubjectExcept(ctx, "alpha", itoa(keep), "keep"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAccessTokenSession(actx, "s-keep", oauth.NewSession()); err != nil {
		t.Errorf("the kept session was revoked: %v", err)
	}
	if _, err := s.GetAccessTokenSession(actx, "s-drop", oauth.NewSession()); err == nil {
		t.Error("another session survived")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
