package customer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/custodian-id/custodian/identity"
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

// Limit is one rate limit: at most Max events per Window.
type Limit struct {
	Max    int
	Window time.Duration
}

// Limits of the credential endpoints. Per client IP they stop spraying; per account
// they stop guessing one shopper's password from many addresses.
type Limits struct {
	PerIP      Limit
	PerAccount Limit
}

// DefaultLimits are the limits of a Service whose Config names none.
func DefaultLimits() Limits {
	return Limits{PerIP: Limit{Max: 60, Window: time.Minute}, PerAccount: Limit{Max: 10, Window: time.Minute}}
}

// allow counts one attempt against a bucket and fails with a identity.RateLimitError when the
// bucket is over its limit.
func (s *Service) allow(ctx context.Context, bucket string, l Limit) error {
	if s.guard == nil || l.Max <= 0 {
		return nil
	}
	n, end, err := s.guard.Hit(ctx, bucket, l.Window)
	if err != nil {
		return fmt.Errorf("rate limit: %w", err)
	}
	if n > l.Max {
		return &identity.RateLimitError{RetryAfter: max(end.Sub(s.now()), time.Second)}
	}
	return nil
}

// Login checks an e-mail and password for a tenant, guarding the door: rate limits per
// client IP and per account, failed-password counting with automatic lockout, and the
// audit trail. An unknown e-mail and a wrong password answer ErrInvalidCredentials after
// the same argon2id work; a locked or inactive account is only revealed to someone who
// knows its password.
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
	a, err := s.store.GetAccountByEmail(ctx, t.Name, email)
	if errors.Is(err, ErrNotFound) {
		_, _ = s.hasher.Verify(s.dummyHash, password)
		s.event(ctx, t.Name, identity.EventLoginFailed, nil, map[string]any{"reason": "unknown_email"})
		return nil, ErrInvalidCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	var ok bool
	if a.PasswordHash == "" {
		// An account created by a social sign-in has no password until one is set.
		_, _ = s.hasher.Verify(s.dummyHash, password)
	} else if ok, err = s.hasher.Verify(a.PasswordHash, password); err != nil {
		return nil, fmt.Errorf("login customer %d: %w", a.ID, err)
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

// event records a security event; failing to record is logged, never fatal to the
// request.
func (s *Service) event(ctx context.Context, tenant, kind string, customerID *int64, detail map[string]any) {
	if s.events == nil {
		return
	}
	meta := identity.RequestMetaFromContext(ctx)
	e := &identity.SecurityEvent{Tenant: tenant, Kind: kind, CustomerID: customerID, IP: meta.IP, UserAgent: meta.UserAgent,
		Detail: detail, CreatedAt: s.now().UTC()}
	if customerID != nil {
		e.Subject = fmt.Sprint(*customerID)
	}
	if c, ok := ctx.Value(clientKey{}).(string); ok {
		e.ClientID = c
	}
	if err := s.events.RecordEvent(ctx, e); err != nil {
		s.log.ErrorContext(ctx, "record security event", "kind", kind, "err", err)
	}
}

// Events reads a tenant's audit trail, newest first; customerID filters when set.
func (s *Service) Events(ctx context.Context, tenant string, customerID *int64, limit int) ([]*identity.SecurityEvent, error) {
	if s.events == nil {
		return nil, nil
	}
	return s.events.ListEvents(ctx, tenant, customerID, limit)
}

type clientKey struct{}

// WithClient notes the calling client of a request for the audit trail.
func WithClient(ctx context.Context, clientID string) context.Context {
	return context.WithValue(ctx, clientKey{}, clientID)
}
