package customer

// The door of every password check: failed passwords counted with one conditional
// update, automatic lockout, the admin's lock and unlock, and the sign-in record the
// admin API shows.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/twofactor"
)

// LoginState is an account's sign-in record, as the admin surface shows it.
type LoginState struct {
	FailedLoginAttemptCount   int        `json:"failedLoginAttemptCount"`
	RemainingLoginAttempts    int        `json:"remainingLoginAttempts"`
	FirstFailedLoginAttemptOn *time.Time `json:"firstFailedLoginAttemptOn"`
	LastLockedOn              *time.Time `json:"lastLockedOn"`
	LockedUntil               *time.Time `json:"lockedUntil"`
	LastLoginOn               *time.Time `json:"lastLoginOn"`
	IsLocked                  bool       `json:"isLocked"`
	// Locks are the locks that hold: "account" (the administrator's), "unfamiliar",
	// "address" or "device:<id>" (smart lockout).
	Locks []Lockout `json:"locks"`
}

// FailureOutcome is what one failed password did to an account.
type FailureOutcome struct {
	// Count is the account's failures in the current window (the admin view).
	Count int
	// Locked are the sides this failure locked (each lock is reported once).
	Locked []Lockout
}

// GuardStore is the store side of the door: failed-login counting and rate limits,
// each a single statement so that nodes and concurrent requests agree.
type GuardStore interface {
	// RecordFailedLogin counts a failed password (or second factor) against each side
	// of the sign-in with one conditional upsert per side: a side locks for lockFor when
	// its count reaches its threshold (threshold 0 counts without locking), and a side
	// whose lock ran out, or whose first counted failure is older than lockFor, starts
	// again at 1. It also counts the failure in the account's record (the admin view).
	RecordFailedLogin(ctx context.Context, tenant string, id int64, now time.Time, sides []LockoutSide, lockFor time.Duration) (FailureOutcome, error)
	// RecordSuccessfulLogin resets the account's record, stamps the login time and
	// forgets the counts of the given sides that are not locked.
	RecordSuccessfulLogin(ctx context.Context, tenant string, id int64, now time.Time, sides []string) error
	// Lockouts lists the sides of an account that are locked at now.
	Lockouts(ctx context.Context, tenant string, id int64, now time.Time) ([]Lockout, error)
	// SetLock locks an account until a time, or unlocks it (nil), resetting the count
	// and, on unlock, every side's lock.
	SetLock(ctx context.Context, tenant string, id int64, until *time.Time, now time.Time) error
	// Hit counts an event in a fixed-window bucket and returns the count in the current
	// window and the window's end.
	Hit(ctx context.Context, bucket string, window time.Duration) (int, time.Time, error)
}

// Login checks an e-mail and password for a tenant, guarding the door: rate limits per
// client IP and per account, failed-password counting with automatic lockout, and the
// audit trail. An unknown e-mail and a wrong password answer ErrInvalidCredentials after
// the same argon2id work, and no sooner than the tenant's failure floor (foreign.go), so
// an imported hash's own cost tells nothing either; a locked or inactive account, and a
// weak imported hash that needs a reset (ErrPasswordResetRequired), are only revealed to
// someone who knows its password. The right password against an imported hash upgrades it.
func (s *Service) Login(ctx context.Context, t *identity.Tenant, email, password string) (*Account, error) {
	a, sides, err := s.checkLogin(ctx, t, email, password, "")
	if err != nil {
		return nil, err
	}
	if err := s.signedIn(ctx, t, a, sides, nil); err != nil {
		return nil, err
	}
	return a, nil
}

// confirmPassword checks a signed-in customer's password before a sensitive change
// (password, e-mail, second factor, erasure) with the same rate limits, failure
// counting and lockout as a sign-in, but it is not a sign-in: the last login stays.
func (s *Service) confirmPassword(ctx context.Context, t *identity.Tenant, email, password string) error {
	_, _, err := s.checkLogin(ctx, t, email, password, "")
	return err
}

// checkPassword confirms a signed-in customer's password for a sensitive change; a
// wrong one counts towards the lockout like any other.
func (s *Service) checkPassword(ctx context.Context, t *identity.Tenant, id int64, password string) error {
	a, err := s.store.GetAccount(ctx, t.Name, id)
	if err != nil {
		return err
	}
	return s.confirmPassword(ctx, t, a.Email, password)
}

// checkLogin is the first factor: the rate limits, the password, and the smart lockout
// (smartlockout.go) of the sides the sign-in comes from (a device by the keyed hash of
// its fingerprint, "" for none, and the caller's address). It returns the account and
// those sides; the caller records the success once the sign-in completes.
func (s *Service) checkLogin(ctx context.Context, t *identity.Tenant, email, password, fingerprintHash string) (*Account, []LockoutSide, error) {
	meta := identity.RequestMetaFromContext(ctx)
	key := EmailKey(email)
	if err := errors.Join(
		s.allow(ctx, "login:ip:"+t.Name+":"+meta.IP, s.limitsOf(t).PerIP),
		s.allow(ctx, "login:account:"+t.Name+":"+key, s.limitsOf(t).PerAccount),
	); err != nil {
		var rl *identity.RateLimitError
		if errors.As(err, &rl) {
			return nil, nil, rl
		}
		return nil, nil, err
	}
	if len(password) > 4*MaxPasswordLength {
		password = password[:4*MaxPasswordLength]
	}
	start := time.Now() // real time: the failure floor is about what a caller measures
	a, err := s.store.GetAccountByEmail(ctx, t.Name, email)
	if errors.Is(err, ErrNotFound) {
		if _, err := s.verifyTimed(ctx, t.Name, schemeDummy, s.dummyHash, password); err != nil {
			return nil, nil, err // busy, or the caller left: the same for every address
		}
		s.event(ctx, t.Name, identity.EventLoginFailed, nil, map[string]any{"reason": "unknown_email"})
		s.floor.wait(ctx, t.Name, start)
		return nil, nil, ErrInvalidCredentials
	}
	if err != nil {
		return nil, nil, fmt.Errorf("login: %w", err)
	}
	ok, foreign, err := s.verifyStored(ctx, t, a, password)
	if err != nil {
		return nil, nil, err
	}
	sides, err := s.signInSides(ctx, t, a.ID, fingerprintHash)
	if err != nil {
		return nil, nil, err
	}
	now := s.now().UTC()
	locked, err := s.lockedSide(ctx, t, a.ID, sides, now)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		if err := s.recordFailure(ctx, t, a.ID, sides, identity.EventLoginFailed, map[string]any{"reason": "wrong_password"}); err != nil {
			return nil, nil, err
		}
		s.floor.wait(ctx, t.Name, start)
		// While the side (or the account) is locked, a wrong password answers what the
		// right one would: locked. Otherwise the lock would confirm the password it
		// guards to whoever keeps guessing.
		if a.Locked(now) || locked != nil {
			return nil, nil, ErrLocked
		}
		return nil, nil, ErrInvalidCredentials
	}
	if a.Locked(now) || locked != nil {
		reason := map[string]any{"reason": "locked"}
		if locked != nil {
			reason["side"] = publicSide(locked.Side)
		}
		s.event(ctx, t.Name, identity.EventLoginFailed, &a.ID, reason)
		return nil, nil, ErrLocked
	}
	if !a.Active || a.OnHold {
		s.event(ctx, t.Name, identity.EventLoginFailed, &a.ID, map[string]any{"reason": "inactive"})
		return nil, nil, ErrInactive
	}
	if foreign != nil {
		if err := s.upgradeForeign(ctx, t, a, foreign, password); err != nil {
			return nil, nil, err
		}
	}
	return a, sides, nil
}

// signedIn records a completed sign-in: the failure count resets, the login time is
// stamped and login.succeeded goes to the audit trail. A password followed by a
// second-factor challenge is not complete until the challenge is answered.
//
// sides are the lockout sides of the sign-in's password: their counts end. A social
// sign-in names none (it proves nothing about the password).
func (s *Service) signedIn(ctx context.Context, t *identity.Tenant, a *Account, sides []LockoutSide, detail map[string]any) error {
	now := s.now().UTC()
	if err := s.guard.RecordSuccessfulLogin(ctx, t.Name, a.ID, now, successKeys(sides)); err != nil {
		return fmt.Errorf("record login: %w", err)
	}
	a.LastLoginAt = &now
	a.FailedLogins = 0
	s.event(ctx, t.Name, identity.EventLoginSucceeded, &a.ID, detail)
	return nil
}

// wrongCode counts a wrong second factor like a wrong password, on the sides of the
// challenge's sign-in (its device and the caller's address).
func (s *Service) wrongCode(ctx context.Context, t *identity.Tenant, wrong *twofactor.WrongCodeError) error {
	if wrong.CustomerID == 0 {
		return wrong
	}
	sides, err := s.signInSides(ctx, t, wrong.CustomerID, wrong.FingerprintHash)
	if err != nil {
		return err
	}
	if err := s.recordFailure(ctx, t, wrong.CustomerID, sides, EventTwoFactorFailed, map[string]any{"replayed": wrong.Replayed}); err != nil {
		return err
	}
	return wrong
}

// LoginStateOf derives the admin view of an account's sign-in state from the account
// and the sides of it that are locked (Lockouts). The account counts as locked while
// the administrator's lock or any side's lock holds; Locks says which.
func LoginStateOf(a *Account, locks []Lockout, threshold int, now time.Time) LoginState {
	st := LoginState{
		FailedLoginAttemptCount:   a.FailedLogins,
		FirstFailedLoginAttemptOn: a.FirstFailedLoginAt,
		LastLockedOn:              a.LastLockedAt,
		LastLoginOn:               a.LastLoginAt,
		IsLocked:                  a.Locked(now),
		Locks:                     []Lockout{},
	}
	if st.IsLocked {
		st.LockedUntil = a.LockedUntil
		st.Locks = append(st.Locks, Lockout{Side: "account", Until: a.LockedUntil})
	}
	for _, l := range locks {
		if l.Until == nil || !now.Before(*l.Until) {
			continue
		}
		st.IsLocked = true
		if st.LockedUntil == nil || l.Until.After(*st.LockedUntil) {
			st.LockedUntil = l.Until
		}
		st.Locks = append(st.Locks, Lockout{Side: publicSide(l.Side), Until: l.Until})
	}
	if threshold > 0 && !st.IsLocked {
		st.RemainingLoginAttempts = max(threshold-a.FailedLogins, 0)
	}
	return st
}

// SetLock locks an account for the tenant's lockout duration, or unlocks it (admin).
func (s *Service) SetLock(ctx context.Context, t *identity.Tenant, id int64, locked bool) error {
	if _, err := s.store.GetAccount(ctx, t.Name, id); err != nil {
		return err
	}
	now := s.now().UTC()
	var until *time.Time
	kind := identity.EventAccountUnlocked
	if locked {
		u := now.Add(time.Duration(t.Settings.LockoutDuration))
		until = &u
		kind = identity.EventAccountLocked
	}
	if err := s.guard.SetLock(ctx, t.Name, id, until, now); err != nil {
		return err
	}
	s.event(ctx, t.Name, kind, &id, map[string]any{"by": "admin"})
	return nil
}

// LoginState returns an account's sign-in state (admin).
func (s *Service) LoginState(ctx context.Context, t *identity.Tenant, id int64) (LoginState, error) {
	a, err := s.store.GetAccount(ctx, t.Name, id)
	if err != nil {
		return LoginState{}, err
	}
	return s.LoginStateOf(ctx, t, a)
}

// LoginStateOf is the sign-in state of an account the caller already read (admin).
func (s *Service) LoginStateOf(ctx context.Context, t *identity.Tenant, a *Account) (LoginState, error) {
	now := s.now().UTC()
	locks, err := s.guard.Lockouts(ctx, t.Name, a.ID, now)
	if err != nil {
		return LoginState{}, fmt.Errorf("login state: %w", err)
	}
	return LoginStateOf(a, locks, t.Settings.LockoutThreshold, now), nil
}
