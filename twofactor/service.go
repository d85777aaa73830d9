package twofactor

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/notify"
)

// Methods of a challenge.
const (
	MethodEmail    = "email"
	MethodTOTP     = "totp"
	MethodRecovery = "recovery"
)

// Lifetimes and limits of challenges and codes.
const (
	ChallengeTTL   = 10 * time.Minute
	CodeTTL        = 3 * time.Minute
	MaxAttempts    = 3 // wrong codes per e-mailed code (per challenge for TOTP and recovery codes)
	ResendCooldown = 30 * time.Second
	MaxCodes       = 5 // e-mailed codes per challenge
)

// Errors of the second-factor step. Callers map them to their API's error shape.
var (
	ErrNotFound = fmt.Errorf("twofactor: %w", identity.ErrNotFound)
	ErrConflict = fmt.Errorf("twofactor: %w", identity.ErrConflict)
	// ErrChallenge: the challenge is unknown, expired, used, or not the caller's.
	ErrChallenge = errors.New("the second-factor challenge is unknown, expired or already used")
	// ErrWrongCode: the code does not match (see *WrongCodeError for the tries left).
	ErrWrongCode = errors.New("the code is wrong")
	// ErrCodeExpired: the e-mailed code ran out; ask for a new one.
	ErrCodeExpired = errors.New("the code has expired; ask for a new one")
	// ErrNoAttempts: the tries of this code are used up.
	ErrNoAttempts = errors.New("too many wrong codes; ask for a new code or sign in again")
	// ErrMethod: the challenge does not offer that method.
	ErrMethod = errors.New("the challenge does not offer this method")
	// ErrTooManyCodes: the challenge has sent its last code; sign in again.
	ErrTooManyCodes = errors.New("no more codes for this challenge; sign in again")
	// ErrNotEnrolled: no authenticator app is enrolled (or being enrolled).
	ErrNotEnrolled = errors.New("no authenticator app is enrolled")
	// ErrAlreadyEnrolled: an authenticator app is already confirmed.
	ErrAlreadyEnrolled = errors.New("an authenticator app is already enrolled")
)

// WrongCodeError is ErrWrongCode with the tries left on the code.
type WrongCodeError struct {
	CustomerID int64 // whose code it was
	Remaining  int
	Replayed   bool // a TOTP code already used in its time step
	// FingerprintHash is the device of the challenge's sign-in ("" for none, or for a
	// code asked outside a challenge): the lockout side the failure counts on.
	FingerprintHash string
}

func (e *WrongCodeError) Error() string {
	if e.Replayed {
		return "the code was already used; wait for the next one"
	}
	return fmt.Sprintf("the code is wrong (%d tries left)", e.Remaining)
}

// Is makes errors.Is(err, ErrWrongCode) true.
func (e *WrongCodeError) Is(target error) bool { return target == ErrWrongCode }

// CooldownError is a resend asked for too soon.
type CooldownError struct{ RetryAfter time.Duration }

func (e *CooldownError) Error() string {
	return fmt.Sprintf("a code was sent moments ago; retry after %s", e.RetryAfter.Round(time.Second))
}

// Store persists challenges, enrollments, recovery codes and devices. Every
// check-and-change is a single conditional statement, so nodes and concurrent requests
// agree.
type Store interface {
	CreateChallenge(ctx context.Context, c *Challenge) error
	// GetChallenge returns a challenge; ErrNotFound when there is none.
	GetChallenge(ctx context.Context, tenant, idHash string) (*Challenge, error)
	// SpendAttempt takes one try from an unused challenge whose code has tries left and
	// returns how many are left; ok is false when none was left.
	SpendAttempt(ctx context.Context, tenant, idHash string) (left int, ok bool, err error)
	// ConsumeChallenge marks an unused, unexpired challenge used; ErrNotFound otherwise.
	ConsumeChallenge(ctx context.Context, tenant, idHash string, now time.Time) error
	// ReplaceCode gives an unused, unexpired challenge a new code with fresh tries,
	// unless the last code was sent after sentBefore or maxCodes were sent; ok reports
	// whether it did.
	ReplaceCode(ctx context.Context, tenant, idHash, codeHash string, expires, now, sentBefore time.Time, tries, maxCodes int) (ok bool, err error)

	GetTOTP(ctx context.Context, tenant string, customerID int64) (*TOTP, error)
	// PutPendingTOTP stores an unconfirmed enrollment, replacing an unconfirmed one;
	// ErrConflict when a confirmed one exists.
	PutPendingTOTP(ctx context.Context, t *TOTP) error
	// ConfirmTOTP confirms a pending enrollment at step; ErrNotFound when none is pending.
	ConfirmTOTP(ctx context.Context, tenant string, customerID, step int64, now time.Time) error
	// UseTOTPStep records step as used when it is later than the last used one.
	UseTOTPStep(ctx context.Context, tenant string, customerID, step int64) (bool, error)
	DeleteTOTP(ctx context.Context, tenant string, customerID int64) error
	// NewestTOTP returns the enrollment (of any tenant) of the highest customer id;
	// ErrNotFound when there is none.
	NewestTOTP(ctx context.Context) (*TOTP, error)

	// ReplaceRecoveryCodes replaces a customer's recovery codes (nil: deletes them).
	ReplaceRecoveryCodes(ctx context.Context, tenant string, customerID int64, hashes []string, now time.Time) error
	// UseRecoveryCode marks an unused code used; false when there is none.
	UseRecoveryCode(ctx context.Context, tenant string, customerID int64, hash string, now time.Time) (bool, error)
	CountRecoveryCodes(ctx context.Context, tenant string, customerID int64) (int, error)

	// TouchDevice records a sign-in from a device: it creates the device or updates its
	// last use, user agent and, when trustedUntil is set, its trust. It fills in d.ID and
	// reports whether the device is new.
	TouchDevice(ctx context.Context, d *Device, trustedUntil *time.Time) (created bool, err error)
	ListDevices(ctx context.Context, tenant string, customerID int64) ([]Device, error)
	// DeleteDevice removes one device; ErrNotFound when the customer has none by that id.
	DeleteDevice(ctx context.Context, tenant string, customerID int64, id string) error
	// DeleteDevices removes every device of a customer and returns their ids.
	DeleteDevices(ctx context.Context, tenant string, customerID int64) ([]string, error)

	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// Sealer encrypts TOTP secrets at rest (identity.Sealer does).
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Config configures a Service.
type Config struct {
	Store  Store
	Sealer Sealer
	// CodeKey keys the HMAC under which codes are stored; DeviceKey the one under which
	// fingerprints are. Both derive from the server secret.
	CodeKey   []byte
	DeviceKey []byte
	// Notify queues a message in the caller's transaction (the customer package routes
	// it to the tenant's webhook or e-mail).
	Notify func(ctx context.Context, m *notify.Message) error
	Now    func() time.Time
	Rand   io.Reader
}

// Service runs challenges, enrollments and devices.
type Service struct {
	store     Store
	sealer    Sealer
	codeKey   []byte
	deviceKey []byte
	notify    func(ctx context.Context, m *notify.Message) error
	now       func() time.Time
	rand      io.Reader
}

// NewService builds a Service.
func NewService(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Sealer == nil || len(cfg.CodeKey) < 32 || len(cfg.DeviceKey) < 32 || cfg.Notify == nil {
		return nil, errors.New("twofactor: store, sealer, 32-byte code and device keys and a notifier are required")
	}
	s := &Service{store: cfg.Store, sealer: cfg.Sealer, codeKey: cfg.CodeKey, deviceKey: cfg.DeviceKey, notify: cfg.Notify,
		now: cfg.Now, rand: cfg.Rand}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	return s, nil
}

// DeviceHash hashes a storefront fingerprint under the service's device key.
func (s *Service) DeviceHash(tenant, fingerprint string) string {
	return DeviceHash(s.deviceKey, tenant, fingerprint)
}

// Decide loads the account's devices and applies the policy.
func (s *Service) Decide(ctx context.Context, p Policy, tenant string, customerID int64, sub Subject, a Attempt) (Decision, error) {
	if p.Mode == ModeOff && !sub.OptedIn && !(p.B2BRequired && sub.B2B) {
		return Decision{}, nil
	}
	devices, err := s.store.ListDevices(ctx, tenant, customerID)
	if err != nil {
		return Decision{}, fmt.Errorf("list devices: %w", err)
	}
	return Decide(p, sub, devices, a, s.now().UTC()), nil
}

// Methods lists what a customer can use: an authenticator app (and its recovery codes)
// once enrolled, otherwise an e-mailed code. With an app enrolled, e-mail is not
// offered: a second factor only as strong as the mailbox would undo the app.
func (st Status) Methods() []string {
	if !st.TOTP {
		return []string{MethodEmail}
	}
	if st.RecoveryRemaining > 0 {
		return []string{MethodTOTP, MethodRecovery}
	}
	return []string{MethodTOTP}
}

// Status is a customer's second-factor setup.
type Status struct {
	TOTP              bool // an authenticator app is confirmed
	TOTPPending       bool // an enrollment awaits its first code
	RecoveryRemaining int
}

// StatusOf reports a customer's second-factor setup.
func (s *Service) StatusOf(ctx context.Context, tenant string, customerID int64) (Status, error) {
	var st Status
	t, err := s.store.GetTOTP(ctx, tenant, customerID)
	switch {
	case errors.Is(err, ErrNotFound):
		return st, nil
	case err != nil:
		return st, fmt.Errorf("load totp: %w", err)
	}
	st.TOTP, st.TOTPPending = t.ConfirmedAt != nil, t.ConfirmedAt == nil
	if st.RecoveryRemaining, err = s.store.CountRecoveryCodes(ctx, tenant, customerID); err != nil {
		return st, fmt.Errorf("count recovery codes: %w", err)
	}
	return st, nil
}
