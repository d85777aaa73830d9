package customer_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// from is a request context from an address.
func from(ip string) context.Context {
	return identity.WithRequestMeta(context.Background(), identity.RequestMeta{IP: ip, UserAgent: "test"})
}

// TestSmartLockout: an attack from unfamiliar addresses and devices locks the
// unfamiliar side (per address at lockout.threshold, as a whole at twice that, however
// the attacker rotates), while the owner on a device that signed in before goes on
// signing in; a familiar device has its own, larger budget; social sign-in and password
// reset are not blocked, and a reset clears every side.
func TestSmartLockout(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b, noLimits())
			const email, pass = "jane@example.com", "correct horse battery"
			a := f.account(t, email, pass)
			signIn := func(ip, fingerprint, password string) error {
				_, err := f.svc.SignIn(from(ip), f.tenant, customer.SignIn{Email: email, Password: password, ClientID: "web",
					Fingerprint: fingerprint})
				return err
			}
			// The owner signs in once on the laptop: the device becomes familiar.
			if err := signIn("192.0.2.10", "owner-laptop", pass); err != nil {
				t.Fatalf("owner's first sign-in: %v", err)
			}

			// One attacking address: five failures lock that address only.
			for i := range 5 {
				if err := signIn("203.0.113.7", "", "guess "+fmt.Sprint(i)); !errors.Is(err, customer.ErrInvalidCredentials) {
					t.Fatalf("guess %d: %v", i, err)
				}
			}
			if err := signIn("203.0.113.7", "bot", pass); !errors.Is(err, customer.ErrLocked) {
				t.Errorf("the attacking address with the right password: %v, want locked", err)
			}
			// Another unfamiliar address is still open, and its success forgets only its own count.
			if err := signIn("198.51.100.1", "", pass); err != nil {
				t.Errorf("another unfamiliar address: %v", err)
			}
			// The attacker rotates addresses and fingerprints: the unfamiliar side as a
			// whole locks at 2 × threshold failures, whatever the address.
			for i := range 5 {
				ip := fmt.Sprintf("198.18.0.%d", i+1)
				if err := signIn(ip, fmt.Sprint("bot-", i), "guess"); !errors.Is(err, customer.ErrInvalidCredentials) {
					t.Fatalf("rotated guess %d: %v", i, err)
				}
			}
			if err := signIn("198.18.9.9", "fresh-bot", pass); !errors.Is(err, customer.ErrLocked) {
				t.Errorf("a fresh unfamiliar address after the attack: %v, want locked", err)
			}
			// The owner on the known device, from a new address, signs in during the attack.
			if err := signIn("192.0.2.99", "owner-laptop", pass); err != nil {
				t.Fatalf("owner on the known device during the attack: %v", err)
			}
			st, err := f.svc.LoginState(context.Background(), f.tenant, a.ID)
			if err != nil || !st.IsLocked || len(st.Locks) != 2 {
				t.Errorf("admin view during the attack: %v %+v", err, st)
			}

			// A familiar device's own budget: 2 × threshold - 1 failures leave it open...
			for range 9 {
				_ = signIn("192.0.2.10", "owner-laptop", "typo typo")
			}
			if err := signIn("192.0.2.10", "owner-laptop", pass); err != nil {
				t.Fatalf("owner after nine typos on the laptop: %v", err)
			}
			// ... and once it locks, it locks only itself.
			if err := signIn("192.0.2.10", "owner-phone", pass); !errors.Is(err, customer.ErrLocked) {
				t.Fatalf("an unknown phone while the unfamiliar side is locked: %v", err)
			}
			for range 10 {
				_ = signIn("192.0.2.10", "owner-laptop", "typo typo")
			}
			if err := signIn("192.0.2.10", "owner-laptop", pass); !errors.Is(err, customer.ErrLocked) {
				t.Errorf("the laptop after ten failures: %v, want locked", err)
			}

			// Social sign-in is not blocked by a password lockout.
			ctx := identity.WithTenant(from("203.0.113.7"), f.tenant)
			if err := f.store.SetEmailVerified(ctx, "shop", a.ID, true); err != nil {
				t.Fatal(err)
			}
			pr, err := f.svc.SocialSignIn(ctx, "shop", customer.SocialIdentity{ConnectorID: "google", Issuer: "https://accounts.example",
				Subject: "jane", Email: email, EmailVerified: true, ClientID: "web", Fingerprint: "bot"})
			if err != nil || pr.CustomerID != a.ID {
				t.Fatalf("social sign-in during a password lockout: %v %+v", err, pr)
			}

			// Neither is a password reset: the request goes through, and the reset
			// clears every side.
			if err := f.svc.RequestPasswordReset(from("203.0.113.7"), f.tenant, email, ""); err != nil {
				t.Fatalf("reset request during a lockout: %v", err)
			}
			if err := f.store.CreateToken(context.Background(), &customer.OneTimeToken{Hash: customer.HashToken("reset-token"),
				Tenant: "shop", CustomerID: a.ID, Kind: customer.TokenPasswordReset, ExpiresAt: f.clock.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			if err := f.svc.ResetPassword(from("203.0.113.7"), f.tenant, "reset-token", "a new long passphrase"); err != nil {
				t.Fatalf("reset during a lockout: %v", err)
			}
			if err := signIn("198.18.9.9", "fresh-bot", "a new long passphrase"); err != nil {
				t.Errorf("an unfamiliar address after the reset: %v", err)
			}
			if st, _ := f.svc.LoginState(context.Background(), f.tenant, a.ID); st.IsLocked || len(st.Locks) != 0 {
				t.Errorf("after the reset: %+v", st)
			}
		})
	}
}

// TestSmartLockoutIPv6: an IPv6 attacker who rotates within one /64 is one address.
func TestSmartLockoutIPv6(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b, noLimits())
			f.account(t, "jane@example.com", "correct horse battery")
			for i := range 5 {
				_, err := f.svc.Login(from(fmt.Sprintf("2001:db8:1:2::%x", i+1)), f.tenant, "jane@example.com", "guess")
				if !errors.Is(err, customer.ErrInvalidCredentials) {
					t.Fatalf("guess %d: %v", i, err)
				}
			}
			if _, err := f.svc.Login(from("2001:db8:1:2:ffff::1"), f.tenant, "jane@example.com", "correct horse battery"); !errors.Is(err, customer.ErrLocked) {
				t.Errorf("same /64: %v, want locked", err)
			}
			if _, err := f.svc.Login(from("2001:db8:1:3::1"), f.tenant, "jane@example.com", "correct horse battery"); err != nil {
				t.Errorf("another /64: %v", err)
			}
		})
	}
}

// TestSmartLockoutConcurrentSides: parallel failures from many unfamiliar addresses on
// several nodes' worth of goroutines lock the unfamiliar side exactly once.
func TestSmartLockoutConcurrentSides(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b, noLimits())
			a := f.account(t, "jane@example.com", "correct horse battery")
			done := make(chan error, 30)
			for i := range 30 {
				go func() {
					_, err := f.svc.Login(from(fmt.Sprintf("198.18.%d.1", i)), f.tenant, "jane@example.com", "guess")
					done <- err
				}()
			}
			for range 30 {
				if err := <-done; !errors.Is(err, customer.ErrInvalidCredentials) && !errors.Is(err, customer.ErrLocked) {
					t.Fatalf("guess: %v", err)
				}
			}
			evs, _ := f.store.ListEvents(context.Background(), "shop", &a.ID, 200)
			n := 0
			for _, e := range evs {
				if e.Kind == identity.EventAccountLocked && e.Detail["side"] == "unfamiliar" {
					n++
				}
			}
			if n != 1 {
				t.Errorf("the unfamiliar side locked %d times, want once", n)
			}
		})
	}
}
