package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage"
	"github.com/custodian-id/custodian/twofactor"
)

// testChallenges: second-factor challenges, their codes, attempts and single use.
// It is one long function on purpose: a scenario of the conformance suite is one
// store's story told in order, each step building on the state the last one left.
func testChallenges(t *testing.T, s *storage.Store) {
	mustTenant(t, s, "alpha")
	mustTenant(t, s, "beta")
	id := mustCustomer(t, s, "alpha", "jane@example.com")
	now := time.Now().UTC().Truncate(time.Second)
	codeExp, sent := now.Add(3*time.Minute), now
	c := &twofactor.Challenge{IDHash: "h1", Tenant: "alpha", CustomerID: id, ClientID: "web", FingerprintHash: "fp", Region: "DE",
		Methods: []string{"totp", "recovery"}, CodeHash: "code-1", CodeExpiresAt: &codeExp, CodeSentAt: &sent, CodesSent: 1,
		AttemptsLeft: 3, ExpiresAt: now.Add(10 * time.Minute), Payload: map[string]string{"accountId": "7"}, CreatedAt: now}
	if err := s.CreateChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetChallenge(ctx, "alpha", "h1")
	if err != nil {
		t.Fatal(err)
	}
	if got.CustomerID != id || got.ClientID != "web" || got.Region != "DE" || len(got.Methods) != 2 || got.Methods[1] != "recovery" ||
		got.Payload["accountId"] != "7" || got.CodeExpiresAt == nil || !got.CodeExpiresAt.Equal(codeExp) || got.UsedAt != nil {
		t.Errorf("challenge round trip: %+v", got)
	}
	if _, err := s.GetChallenge(ctx, "beta", "h1"); !errors.Is(err, twofactor.ErrNotFound) {
		t.Errorf("another tenant's challenge: %v, want ErrNotFound", err)
	}

	// Tries are spent one by one; none past zero.
	for want := 2; want >= 0; want-- {
		left, ok, err := s.SpendAttempt(ctx, "alpha", "h1")
		if err != nil || !ok || left != want {
			t.Fatalf("spend = %d, %v, %v; want %d", left, ok, err, want)
		}
	}
	if _, ok, err := s.SpendAttempt(ctx, "alpha", "h1"); ok || err != nil {
		t.Errorf("spent a fourth try: %v, %v", ok, err)
	}

	// A new code needs the cooldown to have passed, restores the tries and counts.
	if ok, err := s.ReplaceCode(ctx, "alpha", "h1", "code-2", now.Add(4*time.Minute), now.Add(10*time.Second), now.Add(-20*time.Second), 3, 5); ok || err != nil {
		t.Errorf("replaced within the cooldown: %v, %v", ok, err)
	}
	if ok, err := s.ReplaceCode(ctx, "alpha", "h1", "code-2", now.Add(4*time.Minute), now.Add(40*time.Second), now.Add(10*time.Second), 3, 5); !ok || err != nil {
		t.Fatalf("replace after the cooldown: %v, %v", ok, err)
	}
	got, _ = s.GetChallenge(ctx, "alpha", "h1")
	if got.CodeHash != "code-2" || got.CodesSent != 2 || got.AttemptsLeft != 3 {
		t.Errorf("after replace: %+v", got)
	}
	if ok, _ := s.ReplaceCode(ctx, "alpha", "h1", "code-3", now.Add(5*time.Minute), now.Add(2*time.Minute), now.Add(2*time.Minute), 3, 2); ok {
		t.Error("replaced past the code cap")
	}

	// Concurrent tries: exactly three win.
	wins, _ := race(12, func() error {
		_, ok, err := s.SpendAttempt(ctx, "alpha", "h1")
		if err == nil && !ok {
			return twofactor.ErrNoAttempts
		}
		return err
	}, twofactor.ErrNoAttempts)
	if wins != 3 {
		t.Errorf("%d concurrent tries won, want 3", wins)
	}

	// Consumed once; an expired one not at all.
	if err := s.ConsumeChallenge(ctx, "alpha", "h1", now); err != nil {
		t.Fatal(err)
	}
	if err := s.ConsumeChallenge(ctx, "alpha", "h1", now); !errors.Is(err, twofactor.ErrNotFound) {
		t.Errorf("consumed twice: %v", err)
	}
	if _, ok, _ := s.SpendAttempt(ctx, "alpha", "h1"); ok {
		t.Error("spent a try on a used challenge")
	}
	old := &twofactor.Challenge{IDHash: "h2", Tenant: "alpha", CustomerID: id, ClientID: "web", Methods: []string{"email"},
		AttemptsLeft: 3, ExpiresAt: now.Add(-time.Second), CreatedAt: now.Add(-time.Hour)}
	if err := s.CreateChallenge(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := s.ConsumeChallenge(ctx, "alpha", "h2", now); !errors.Is(err, twofactor.ErrNotFound) {
		t.Errorf("consumed an expired challenge: %v", err)
	}
	if n, err := s.DeleteExpiredChallenges(ctx, now); err != nil || n != 1 {
		t.Errorf("delete expired = %d, %v; want 1", n, err)
	}
	if err := s.CreateChallenge(ctx, &twofactor.Challenge{IDHash: "h3", Tenant: "alpha", CustomerID: 999999, ClientID: "web",
		Methods: []string{"email"}, AttemptsLeft: 3, ExpiresAt: now, CreatedAt: now}); !errors.Is(err, twofactor.ErrNotFound) {
		t.Errorf("challenge of an unknown customer: %v", err)
	}
}

func testTOTP(t *testing.T, s *storage.Store) {
	mustTenant(t, s, "alpha")
	id := mustCustomer(t, s, "alpha", "jane@example.com")
	now := time.Now().UTC().Truncate(time.Second)
	if _, err := s.GetTOTP(ctx, "alpha", id); !errors.Is(err, twofactor.ErrNotFound) {
		t.Fatalf("no enrollment yet: %v", err)
	}
	if err := s.PutPendingTOTP(ctx, &twofactor.TOTP{Tenant: "alpha", CustomerID: id, Secret: []byte("s1"), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPendingTOTP(ctx, &twofactor.TOTP{Tenant: "alpha", CustomerID: id, Secret: []byte("s2"), CreatedAt: now}); err != nil {
		t.Fatalf("replace a pending enrollment: %v", err)
	}
	if got, _ := s.GetTOTP(ctx, "alpha", id); string(got.Secret) != "s2" || got.ConfirmedAt != nil {
		t.Errorf("pending enrollment: %+v", got)
	}
	if ok, _ := s.UseTOTPStep(ctx, "alpha", id, 100); ok {
		t.Error("a pending enrollment accepted a code")
	}
	if err := s.ConfirmTOTP(ctx, "alpha", id, 100, now); err != nil {
		t.Fatal(err)
	}
	if err := s.ConfirmTOTP(ctx, "alpha", id, 101, now); !errors.Is(err, twofactor.ErrNotFound) {
		t.Errorf("confirmed twice: %v", err)
	}
	if err := s.PutPendingTOTP(ctx, &twofactor.TOTP{Tenant: "alpha", CustomerID: id, Secret: []byte("s3"), CreatedAt: now}); !errors.Is(err, twofactor.ErrConflict) {
		t.Errorf("overwrote a confirmed enrollment: %v", err)
	}
	for _, tc := range []struct {
		step int64
		want bool
	}{{100, false}, {99, false}, {101, true}, {101, false}, {103, true}} {
		if ok, err := s.UseTOTPStep(ctx, "alpha", id, tc.step); ok != tc.want || err != nil {
			t.Errorf("use step %d = %v, %v; want %v", tc.step, ok, err, tc.want)
		}
	}
	wins, _ := race(8, func() error {
		ok, err := s.UseTOTPStep(ctx, "alpha", id, 200)
		if err == nil && !ok {
			return twofactor.ErrWrongCode
		}
		return err
	}, twofactor.ErrWrongCode)
	if wins != 1 {
		t.Errorf("one code used by %d concurrent sign-ins, want 1", wins)
	}

	// Recovery codes: single use, replaced as a set.
	if err := s.ReplaceRecoveryCodes(ctx, "alpha", id, []string{"r1", "r2", "r3"}, now); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.UseRecoveryCode(ctx, "alpha", id, "r2", now); !ok {
		t.Error("a fresh recovery code was refused")
	}
	if ok, _ := s.UseRecoveryCode(ctx, "alpha", id, "r2", now); ok {
		t.Error("a recovery code worked twice")
	}
	if n, _ := s.CountRecoveryCodes(ctx, "alpha", id); n != 2 {
		t.Errorf("%d codes left, want 2", n)
	}
	if err := s.ReplaceRecoveryCodes(ctx, "alpha", id, []string{"r4"}, now); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.UseRecoveryCode(ctx, "alpha", id, "r1", now); ok {
		t.Error("a replaced recovery code still works")
	}
	if err := s.DeleteTOTP(ctx, "alpha", id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTOTP(ctx, "alpha", id); !errors.Is(err, twofactor.ErrNotFound) {
		t.Errorf("deleted enrollment still there: %v", err)
	}
}

// testDevices: devices seen, trusted until a time, forgotten one by one and all.
// It is one long function on purpose: a scenario of the conformance suite is one
// store's story told in order, each step building on the state the last one left.
func testDevices(t *testing.T, s *storage.Store) {
	actx, _, c := tokenFixture(t, s)
	id := mustCustomer(t, s, "alpha", "jane@example.com")
	other := mustCustomer(t, s, "alpha", "john@example.com")
	now := time.Now().UTC().Truncate(time.Second)
	trust := now.Add(30 * 24 * time.Hour)

	d := &twofactor.Device{Tenant: "alpha", CustomerID: id, FingerprintHash: "fp1", Region: "DE", UserAgent: "ua1", CreatedAt: now, LastSeenAt: now}
	created, err := s.TouchDevice(ctx, d, nil)
	if err != nil || !created || d.ID == "" || d.TrustedUntil != nil {
		t.Fatalf("first touch = %v, %v, %+v", created, err, d)
	}
	first := d.ID
	again := &twofactor.Device{Tenant: "alpha", CustomerID: id, FingerprintHash: "fp1", Region: "DE", UserAgent: "ua2",
		CreatedAt: now.Add(time.Minute), LastSeenAt: now.Add(time.Minute)}
	created, err = s.TouchDevice(ctx, again, &trust)
	if err != nil || created || again.ID != first || again.TrustedUntil == nil || !again.TrustedUntil.Equal(trust) ||
		again.UserAgent != "ua2" || !again.CreatedAt.Equal(now) {
		t.Fatalf("second touch = %v, %v, %+v", created, err, again)
	}
	// A later sign-in without rememberDevice keeps the trust.
	third := &twofactor.Device{Tenant: "alpha", CustomerID: id, FingerprintHash: "fp1", Region: "DE", CreatedAt: now, LastSeenAt: now.Add(2 * time.Minute)}
	if _, err := s.TouchDevice(ctx, third, nil); err != nil || third.TrustedUntil == nil {
		t.Errorf("trust lost on a plain sign-in: %+v, %v", third, err)
	}
	// Same fingerprint, other region: another device.
	fr := &twofactor.Device{Tenant: "alpha", CustomerID: id, FingerprintHash: "fp1", Region: "FR", CreatedAt: now, LastSeenAt: now}
	if created, err := s.TouchDevice(ctx, fr, nil); err != nil || !created || fr.ID == first {
		t.Errorf("other region = %v, %v", created, err)
	}
	if _, err := s.TouchDevice(ctx, &twofactor.Device{Tenant: "alpha", CustomerID: other, FingerprintHash: "fp1", Region: "DE",
		CreatedAt: now, LastSeenAt: now}, nil); err != nil {
		t.Fatal(err)
	}
	ds, err := s.ListDevices(ctx, "alpha", id)
	if err != nil || len(ds) != 2 || ds[0].ID != first {
		t.Fatalf("devices = %+v, %v (most recent first)", ds, err)
	}
	if _, err := s.TouchDevice(ctx, &twofactor.Device{Tenant: "alpha", CustomerID: 999999, FingerprintHash: "x", CreatedAt: now, LastSeenAt: now}, nil); !errors.Is(err, twofactor.ErrNotFound) {
		t.Errorf("device of an unknown customer: %v", err)
	}

	// Tokens issued on a device die with it; others live.
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	onDevice := tokenRequest(c, "alpha", "1", "sid-d", "fam-d", exp)
	onDevice.Session.(*oauth.Session).DeviceID = first
	elsewhere := tokenRequest(c, "alpha", "1", "sid-e", "fam-e", exp)
	for sig, req := range map[string]*fosite.Request{"sig-d": onDevice, "sig-e": elsewhere} {
		if err := s.CreateAccessTokenSession(actx, sig, req); err != nil {
			t.Fatal(err)
		}
	}
	for hash, dev := range map[string]string{"bs-d": first, "bs-e": ""} {
		if err := s.CreateBrowserSession(ctx, &oauth.BrowserSession{IDHash: hash, Tenant: "alpha", CustomerID: id, SessionID: "s-" + hash,
			DeviceID: dev, AuthTime: now, ExpiresAt: now.Add(time.Hour), CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if bs, err := s.GetBrowserSession(ctx, "alpha", "bs-d"); err != nil || bs.DeviceID != first {
		t.Fatalf("browser session device = %+v, %v", bs, err)
	}
	if err := s.DeleteDevice(ctx, "alpha", other, first); !errors.Is(err, twofactor.ErrNotFound) {
		t.Errorf("deleted another customer's device: %v", err)
	}
	if err := s.DeleteDevice(ctx, "alpha", id, first); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeDevice(ctx, "alpha", first); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAccessTokenSession(actx, "sig-d", oauth.NewSession()); err == nil {
		t.Error("a token of the forgotten device still works")
	}
	if _, err := s.GetAccessTokenSession(actx, "sig-e", oauth.NewSession()); err != nil {
		t.Errorf("a token of another device was revoked: %v", err)
	}
	if _, err := s.GetBrowserSession(ctx, "alpha", "bs-d"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("a browser session of the forgotten device survived: %v", err)
	}
	if _, err := s.GetBrowserSession(ctx, "alpha", "bs-e"); err != nil {
		t.Errorf("a browser session of another device ended: %v", err)
	}
	ids, err := s.DeleteDevices(ctx, "alpha", id)
	if err != nil || len(ids) != 1 || ids[0] != fr.ID {
		t.Errorf("delete all = %v, %v", ids, err)
	}
	if ds, _ := s.ListDevices(ctx, "alpha", other); len(ds) != 1 {
		t.Errorf("another customer's devices went too: %+v", ds)
	}
}

func testTwoFactorAccount(t *testing.T, s *storage.Store) {
	mustTenant(t, s, "alpha")
	id := mustCustomer(t, s, "alpha", "jane@example.com")
	before, _ := s.GetAccount(ctx, "alpha", id)
	at := time.Date(2026, 11, 29, 8, 30, 0, 123000, time.UTC)
	if err := s.SetLast2FA(ctx, "alpha", id, at); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTwoFactorOptIn(ctx, "alpha", id, true); err != nil {
		t.Fatal(err)
	}
	a, _ := s.GetAccount(ctx, "alpha", id)
	if a.Last2FAAt == nil || !a.Last2FAAt.Equal(at) || !a.TwoFactorOptIn || a.Version != before.Version+1 {
		t.Errorf("account after 2fa = last %v, opt-in %v, version %d (was %d)", a.Last2FAAt, a.TwoFactorOptIn, a.Version, before.Version)
	}
	if err := s.SetLast2FA(ctx, "beta", id, at); err == nil {
		t.Error("stamped another tenant's customer")
	}
}
