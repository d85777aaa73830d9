package storage_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/storage"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// TestEmailKeysUpgrade: accounts stored under the old key (strings.ToLower) stay
// findable after the upgrade to the canonical key, and accounts whose addresses are
// now one address collide by a stated rule instead of failing the start.
func TestEmailKeysUpgrade(t *testing.T) {
	ctx := context.Background()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			s := storagetest.Open(t, b, storage.Options{})
			if err := s.CreateTenant(ctx, &identity.Tenant{Name: "shop", Settings: identity.DefaultSettings()}); err != nil {
				t.Fatal(err)
			}
			db, rebind := storagetest.SQL(t, b)
			// legacy creates an account as the earlier release stored it.
			legacy := func(email string, verified bool) int64 {
				t.Helper()
				a := &customer.Account{Tenant: "shop", Email: "placeholder-" + time.Now().Format("150405.000000000") + "@example.com", EmailVerified: verified}
				if err := s.CreateAccount(ctx, a); err != nil {
					t.Fatal(err)
				}
				if _, err := db.Exec(rebind(`UPDATE customers SET email = ?, email_key = ? WHERE id = ?`), email, strings.ToLower(strings.TrimSpace(email)), a.ID); err != nil {
					t.Fatal(err)
				}
				return a.ID
			}
			plain := legacy("Jane@Example.com", false)              // key unchanged
			squat := legacy("bİll@example.com", false)              // old key bill@example.com, now its own
			nfdOld := legacy("zoe\u0308@example.com", false)        // decomposed: now zoë@example.com
			nfcNew := legacy("zoë@example.com", false)              // same address, composed, created later
			wideVerified := legacy("ｍａｘ@example.com", true)         // full width, verified: wins
			asciiOld := legacy("max@example.com", false)            // older, unverified: set aside
			invalid := legacy("in\u200bvisible@example.com", false) // refused today, still findable
			idn := legacy("kim@BÜCHER.example", false)              // Unicode domain
			if _, err := db.Exec(rebind(`DELETE FROM data_upgrades`)); err != nil {
				t.Fatal(err)
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("upgrade: %v", err)
			}
			for email, want := range map[string]int64{
				"jane@example.com":            plain,
				"bİll@example.com":            squat,
				"zoë@example.com":             nfdOld, // the older of two unverified
				"zoe\u0308@example.com":       nfdOld,
				"max@example.com":             wideVerified,
				"in\u200bvisible@example.com": invalid,
				"kim@bücher.example":          idn,
				"kim@xn--bcher-kva.example":   idn,
			} {
				a, err := s.GetAccountByEmail(ctx, "shop", email)
				if err != nil || a.ID != want {
					t.Errorf("GetAccountByEmail(%q) = %v, %v; want customer %d", email, a, err, want)
				}
			}
			if _, err := s.GetAccountByEmail(ctx, "shop", "bill@example.com"); !errors.Is(err, customer.ErrNotFound) {
				t.Errorf("bill@example.com still finds the look-alike: %v", err)
			}
			// The accounts set aside keep their data and are named in the audit trail.
			for _, id := range []int64{nfcNew, asciiOld} {
				if _, err := s.GetAccount(ctx, "shop", id); err != nil {
					t.Errorf("customer %d set aside was lost: %v", id, err)
				}
				evs, err := s.ListEvents(ctx, "shop", &id, 10)
				if err != nil || len(evs) != 1 || evs[0].Kind != storage.EventEmailCollision {
					t.Errorf("collision of customer %d not recorded: %v %v", id, evs, err)
				}
			}
			// A new account with the address of a set-aside one is a duplicate of the winner.
			if err := s.CreateAccount(ctx, &customer.Account{Tenant: "shop", Email: "MAX@example.com"}); !errors.Is(err, customer.ErrConflict) {
				t.Errorf("duplicate of the winner: %v", err)
			}
			// The upgrade runs once.
			if _, err := db.Exec(rebind(`UPDATE customers SET email_key = ? WHERE id = ?`), "bill@example.com", squat); err != nil {
				t.Fatal(err)
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if a, err := s.GetAccountByEmail(ctx, "shop", "bill@example.com"); err != nil || a.ID != squat {
				t.Errorf("the upgrade ran twice: %v %v", a, err)
			}
		})
	}
}
