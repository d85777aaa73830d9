package customer

// Imported password hashes: a customer imported from another platform keeps the hash the
// old platform made (Account.PasswordFormat, PasswordHash, PasswordSalt) until the first
// sign-in with the right password replaces it by Custodian's argon2id (upgradeForeign),
// or, for a weak hash under import.weak_hash_action reset, sends a reset mail instead.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/custodian-id/custodian/customer/passwordhash"
	"github.com/custodian-id/custodian/identity"
)

// Events of imported passwords.
const (
	// EventPasswordUpgraded: an imported hash was replaced by argon2id at a sign-in;
	// the detail names the old format and scheme.
	EventPasswordUpgraded = "password.upgraded"
	// EventPasswordResetRequired: the right password against a weak imported hash under
	// import.weak_hash_action reset; a reset mail went out instead of a sign-in.
	EventPasswordResetRequired = "password.reset_required"
)

// schemeDummy is the failure floor's name of the dummy hash's verification.
const schemeDummy = "dummy"

// firebaseSignerKey is the setting key of the sealed Firebase signer key.
const firebaseSignerKey = "import.firebase.signer_key"

// HashParser is the parser of a tenant's imported hashes: the tenant's Firebase project
// parameters (import.firebase.*), Custodian's own verifier for the custodian format, and
// the default cost limits. Legacy digests are refused unless allowLegacy: an import
// accepts them only when the operator names the risk; a sign-in accepts what the import
// stored.
func (s *Service) HashParser(t *identity.Tenant, allowLegacy bool) (*passwordhash.Parser, error) {
	p := &passwordhash.Parser{Custodian: s.hasher, AllowCrackableLegacyHashes: allowLegacy}
	st := t.Settings
	if !st.FirebaseSignerKey.IsSet() {
		return p, nil
	}
	if s.settingSecrets == nil {
		return nil, fmt.Errorf("tenant %q: no sealer of secret settings configured", t.Name)
	}
	key, err := s.settingSecrets.Reveal(t.Name, firebaseSignerKey, st.FirebaseSignerKey)
	if err != nil {
		return nil, err
	}
	if p.Firebase, err = passwordhash.NewFirebaseParams(key, st.FirebaseSaltSeparator, st.FirebaseRounds, st.FirebaseMemCost); err != nil {
		return nil, fmt.Errorf("tenant %q: the import.firebase settings: %w", t.Name, err)
	}
	return p, nil
}

// verifyStored checks a password against an account's stored hash: Custodian's own, an
// imported one as it is (returned parsed, for the upgrade), or none (the dummy hash's
// work, so that an account without a password answers like a wrong one). An imported
// hash the tenant's settings cannot verify any more (a Firebase hash without the
// project's parameters, say) is logged for the operator and fails like a wrong password
// after the same work: the shopper's way back is a reset.
func (s *Service) verifyStored(ctx context.Context, t *identity.Tenant, a *Account, password string) (bool, *passwordhash.Hash, error) {
	switch {
	case a.PasswordHash == "":
		// An account created by a social sign-in has no password until one is set.
		_, err := s.verifyTimed(ctx, t.Name, schemeDummy, s.dummyHash, password)
		return false, nil, err
	case !a.ForeignPassword():
		ok, err := s.verifyTimed(ctx, t.Name, PasswordFormatCustodian, a.PasswordHash, password)
		if err != nil {
			return false, nil, fmt.Errorf("login customer %d: %w", a.ID, err)
		}
		return ok, nil, nil
	}
	p, err := s.HashParser(t, true)
	var h *passwordhash.Hash
	if err == nil {
		h, err = p.Parse(passwordhash.Stored{Format: passwordhash.Format(a.PasswordFormat), Hash: a.PasswordHash, Salt: a.PasswordSalt})
	}
	if err != nil {
		s.log.ErrorContext(ctx, "an imported password hash cannot be verified; the customer can only reset the password",
			"tenant", t.Name, "customer", a.ID, "format", a.PasswordFormat, "err", err)
		_, err := s.verifyTimed(ctx, t.Name, schemeDummy, s.dummyHash, password)
		return false, nil, err
	}
	var ok bool
	// An imported hash runs in a slot of the hashing limiter like argon2id (hashlimit.go).
	if lerr := s.hashing.Do(ctx, func() {
		start := time.Now()
		ok, err = h.Verify(password)
		s.floor.observe(t.Name, string(h.Format())+" "+h.Scheme(), string(h.Format()), time.Since(start))
	}); lerr != nil {
		return false, nil, lerr
	}
	if err != nil {
		return false, nil, fmt.Errorf("login customer %d: %w", a.ID, err)
	}
	return ok, h, nil
}

// verifyTimed is verify (Custodian's own hash, in a slot of the limiter) timed for the
// failure floor under scheme.
func (s *Service) verifyTimed(ctx context.Context, tenant, scheme, encoded, password string) (bool, error) {
	var (
		ok  bool
		err error
	)
	if lerr := s.hashing.Do(ctx, func() {
		start := time.Now()
		ok, err = s.hasher.Verify(encoded, password)
		s.floor.observe(tenant, scheme, scheme, time.Since(start))
	}); lerr != nil {
		return false, lerr
	}
	return ok, err
}

// upgradeForeign follows a right password against an imported hash h. A weak hash under
// import.weak_hash_action reset signs nobody in: the reset mail goes out through the
// reset flow (its rate limits spare the mailbox; a mail already sent still works) and
// ErrPasswordResetRequired answers. Otherwise the password is hashed with argon2id and
// replaces the imported hash with one conditional update in a transaction that also
// records password.upgraded: of concurrent first sign-ins one upgrades, the others
// find it done. a is left as stored afterwards.
func (s *Service) upgradeForeign(ctx context.Context, t *identity.Tenant, a *Account, h *passwordhash.Hash, password string) error {
	v := h.Verdict()
	if v.Weak && t.Settings.WeakHashResets() {
		s.event(ctx, t.Name, EventPasswordResetRequired, &a.ID, map[string]any{"format": a.PasswordFormat, "scheme": h.Scheme(), "reason": v.Reason})
		if err := s.RequestPasswordReset(ctx, t, a.Email, ""); err != nil && !errors.Is(err, ErrRateLimited) {
			return fmt.Errorf("reset of a weak imported password: %w", err)
		}
		return ErrPasswordResetRequired
	}
	hash, err := s.hash(ctx, password)
	if err != nil {
		return err
	}
	var upgraded bool
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if upgraded, err = s.store.UpgradePassword(ctx, t.Name, a.ID, a.PasswordHash, hash); err != nil || !upgraded {
			return err
		}
		detail := map[string]any{"from": a.PasswordFormat, "scheme": h.Scheme()}
		if v.Weak {
			detail["weak"] = v.Reason
		}
		s.event(ctx, t.Name, EventPasswordUpgraded, &a.ID, detail)
		return nil
	})
	if err != nil {
		return fmt.Errorf("upgrade the password of customer %d: %w", a.ID, err)
	}
	if !upgraded { // another sign-in (or a reset) came first: read what it left
		cur, err := s.store.GetAccount(ctx, t.Name, a.ID)
		if err != nil {
			return err
		}
		a.PasswordHash, a.PasswordFormat, a.PasswordSalt = cur.PasswordHash, cur.PasswordFormat, cur.PasswordSalt
		a.HasExternalPassword, a.MigrationRequired = cur.HasExternalPassword, cur.MigrationRequired
		return nil
	}
	a.PasswordHash, a.PasswordFormat, a.PasswordSalt = hash, PasswordFormatCustodian, ""
	a.HasExternalPassword, a.MigrationRequired = false, false
	return nil
}

// failureFloor equalises the time of failed password checks. Verifying an imported hash
// costs what its format and parameters cost (a legacy digest microseconds, bcrypt cost 12
// a quarter second), unlike the argon2id of Custodian's own hashes and of the dummy hash
// an unknown e-mail is checked against; so the time of "wrong password" would tell an
// imported account from a native one and from an unknown address. Every verification is
// timed, per tenant and per scheme (algorithm and parameters, or the dummy), as a moving
// average; every failed check (unknown e-mail, no password, wrong password against either
// kind of hash) answers no sooner than the dearest scheme's average, or the configured
// minimum. An average, not a maximum, so that one slow moment of a busy machine does not
// slow every failure down; a scheme not seen for an hour (its accounts all upgraded)
// stops counting.
type failureFloor struct {
	min   time.Duration // Config.FailedPasswordFloor
	mu    sync.Mutex
	byTen map[string]map[string]*schemeCost
}

type schemeCost struct {
	avg  time.Duration
	seen time.Time
}

const (
	// maxObserved caps one observation: the default passwordhash.Limits keep the dearest
	// accepted hash under about two seconds here.
	maxObserved = 2 * time.Second
	// maxSchemes bounds the schemes kept per tenant; beyond it a scheme counts under its
	// format's name.
	maxSchemes  = 32
	schemeStale = time.Hour
)

// observe records one verification of a scheme. fallback is the coarser key used once a
// tenant has maxSchemes schemes.
func (f *failureFloor) observe(tenant, scheme, fallback string, d time.Duration) {
	d = min(d, maxObserved)
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byTen == nil {
		f.byTen = map[string]map[string]*schemeCost{}
	}
	m := f.byTen[tenant]
	if m == nil {
		m = map[string]*schemeCost{}
		f.byTen[tenant] = m
	}
	c := m[scheme]
	if c == nil && len(m) >= maxSchemes {
		scheme = fallback
		c = m[scheme]
	}
	if c == nil {
		m[scheme] = &schemeCost{avg: d, seen: now}
		return
	}
	c.avg += (d - c.avg) / 8 // an exponentially weighted moving average, weight 1/8
	c.seen = now
}

// of is the floor of a tenant's failed checks now.
func (f *failureFloor) of(tenant string) time.Duration {
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	floor := f.min
	for k, c := range f.byTen[tenant] {
		if now.Sub(c.seen) > schemeStale {
			delete(f.byTen[tenant], k)
			continue
		}
		floor = max(floor, c.avg)
	}
	return floor
}

// wait holds a failed check begun at start until the tenant's floor has passed (or the
// request is gone).
func (f *failureFloor) wait(ctx context.Context, tenant string, start time.Time) {
	d := f.of(tenant) - time.Since(start)
	if d <= 0 {
		return
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
	}
}
