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
}

// FailureOutcome is what one failed password did to an account.
type FailureOutcome struct {
	Count       int
	LockedUntil *time.Time
	JustLocked  bool
}

// GuardStore is the store side of the door: failed-login counting and rate limits,
// each a single statement so that nodes and concurrent requests agree.
type GuardStore interface {
	// RecordFailedLogin counts a failed password with one conditional update and locks
	// the account for lockFor when the count reaches threshold (a lock that has run out
	// restarts the count). threshold 0 counts without locking.
	RecordFailedLogin(ctx context.Context, tenant string, id int64, now time.Time, threshold int, lockFor time.Duration) (FailureOutcome, error)
	// RecordSuccessfulLogin resets the count and stamps the login time.
	RecordSuccessfulLogin(ctx context.Context, tenant string, id int64, now time.Time) error
	// SetLock locks an account until a time, or unlocks it (nil), resetting the count.
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
	return s.checkLogin(ctx, t, email, password, true)
}

// confirmPassword checks a signed-in customer's password before a sensitive change
// (password, e-mail, second factor, erasure) with the same rate limits, failure
// counting and lockout as a sign-in, but it is not a sign-in: the last login stays.
func (s *Service) confirmPassword(ctx context.Context, t *identity.Tenant, email, password string) error {
	_, err := s.checkLogin(ctx, t, email, password, false)
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

func (s *Service) checkLogin(ctx context.Context, t *identity.Tenant, email, password string, signIn bool) (*Account, error) {
	meta := identity.RequestMetaFromContext(ctx)
	key := EmailKey(email)
	if err := errors.Join(
		s.allow(ctx, "login:ip:"+t.Name+":"+meta.IP, s.limits.PerIP),
		s.allow(ctx, "login:account:"+t.Name+":"+key, s.limits.PerAccount),
	); err != nil {
		var rl *identity.RateLimitError
		if errors.As(err, &rl) {
			return nil, rl
		}
		return nil, err
	}
	if len(password) > 4*MaxPasswordLength {
		password = password[:4*MaxPasswordLength]
	}
	start := time.Now() // real time: the failure floor is about what a caller measures
	a, err := s.store.GetAccountByEmail(ctx, t.Name, email)
	if errors.Is(err, ErrNotFound) {
		vs := time.Now()
		_, _ = s.hasher.Verify(s.dummyHash, password)
		s.floor.observe(t.Name, schemeDummy, schemeDummy, time.Since(vs))
		s.event(ctx, t.Name, identity.EventLoginFailed, nil, map[string]any{"reason": "unknown_email"})
		s.floor.wait(ctx, t.Name, start)
		return nil, ErrInvalidCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	ok, foreign, err := s.verifyStored(ctx, t, a, password)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	if !ok {
		out, err := s.guard.RecordFailedLogin(ctx, t.Name, a.ID, now, t.Settings.LockoutThreshold, time.Duration(t.Settings.LockoutDuration))
		if err != nil {
			return nil, fmt.Errorf("record failed login: %w", err)
		}
		s.event(ctx, t.Name, identity.EventLoginFailed, &a.ID, map[string]any{"reason": "wrong_password", "count": out.Count})
		if out.JustLocked {
			s.event(ctx, t.Name, identity.EventAccountLocked, &a.ID, map[string]any{"until": out.LockedUntil})
		}
		s.floor.wait(ctx, t.Name, start)
		return nil, ErrInvalidCredentials
	}
	if a.LockedUntil != nil && now.Before(*a.LockedUntil) {
		s.event(ctx, t.Name, identity.EventLoginFailed, &a.ID, map[string]any{"reason": "locked"})
		return nil, ErrLocked
	}
	if !a.Active || a.OnHold {
		s.event(ctx, t.Name, identity.EventLoginFailed, &a.ID, map[string]any{"reason": "inactive"})
		return nil, ErrInactive
	}
	if foreign != nil {
		if err := s.upgradeForeign(ctx, t, a, foreign, password); err != nil {
			return nil, err
		}
	}
	if !signIn {
		return a, nil
	}
	if err := s.signedIn(ctx, t, a, nil); err != nil {
		return nil, err
	}
	return a, nil
}

// signedIn records a completed sign-in: the failure count resets, the login time is
// stamped and login.succeeded goes to the audit trail. A password followed by a
// second-factor challenge is not complete until the challenge is answered.
func (s *Service) signedIn(ctx context.Context, t *identity.Tenant, a *Account, detail map[string]any) error {
	now := s.now().UTC()
	if err := s.guard.RecordSuccessfulLogin(ctx, t.Name, a.ID, now); err != nil {
		return fmt.Errorf("record login: %w", err)
	}
	a.LastLoginAt = &now
	a.FailedLogins = 0
	s.event(ctx, t.Name, identity.EventLoginSucceeded, &a.ID, detail)
	return nil
}

// wrongCode counts a wrong second factor like a wrong password.
func (s *Service) wrongCode(ctx context.Context, t *identity.Tenant, wrong *twofactor.WrongCodeError) error {
	if wrong.CustomerID == 0 {
		return wrong
	}
	out, err := s.guard.RecordFailedLogin(ctx, t.Name, wrong.CustomerID, s.now().UTC(), t.Settings.LockoutThreshold,
		time.Duration(t.Settings.LockoutDuration))
	if err != nil {
		return fmt.Errorf("record failed second factor: %w", err)
	}
	s.event(ctx, t.Name, EventTwoFactorFailed, &wrong.CustomerID, map[string]any{"count": out.Count, "replayed": wrong.Replayed})
	if out.JustLocked {
		s.event(ctx, t.Name, identity.EventAccountLocked, &wrong.CustomerID, map[string]any{"until": out.LockedUntil})
	}
	return wrong
}

// LoginStateOf derives the admin view of an account's sign-in state.
func LoginStateOf(a *Account, threshold int, now time.Time) LoginState {
	st := LoginState{
		FailedLoginAttemptCount:   a.FailedLogins,
		FirstFailedLoginAttemptOn: a.FirstFailedLoginAt,
		LastLockedOn:              a.LastLockedAt,
		LastLoginOn:               a.LastLoginAt,
		IsLocked:                  a.LockedUntil != nil && now.Before(*a.LockedUntil),
	}
	if st.IsLocked {
		st.LockedUntil = a.LockedUntil
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
	return LoginStateOf(a, t.Settings.LockoutThreshold, s.now()), nil
}
