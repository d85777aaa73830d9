package twofactor

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"image/png"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

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

// Challenge is an open second-factor step, bound to the tenant, customer, client and
// device of the sign-in that opened it. Only the SHA-256 of its id is stored.
type Challenge struct {
	IDHash          string
	Tenant          string
	CustomerID      int64
	ClientID        string
	FingerprintHash string
	Region          string
	UserAgent       string
	Methods         []string
	CodeHash        string
	CodeExpiresAt   *time.Time
	CodeSentAt      *time.Time
	CodesSent       int
	AttemptsLeft    int
	ExpiresAt       time.Time
	UsedAt          *time.Time
	// Payload is what the caller needs to finish the sign-in (a B2B account, token
	// lifetimes, the shopper session), opaque to this package.
	Payload   map[string]string
	CreatedAt time.Time
}

// TOTP is an authenticator-app enrollment. Secret is sealed; LastStep is the last time
// step whose code was accepted (replays in it are refused).
type TOTP struct {
	Tenant      string
	CustomerID  int64
	Secret      []byte
	ConfirmedAt *time.Time
	LastStep    int64
	CreatedAt   time.Time
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

// Info is what a caller shows of an open challenge; its JSON is the twoFactorChallenge
// of both customer APIs (CONTRACT.md §2, §3).
type Info struct {
	ID                string     `json:"challengeId"`
	Methods           []string   `json:"methods"`
	ExpiresAt         time.Time  `json:"expiresAt"` // UTC
	AttemptsRemaining int        `json:"attemptsRemaining"`
	CodeExpiresAt     *time.Time `json:"codeExpiresAt,omitempty"` // the e-mailed code's expiry
}

func info(id string, c *Challenge) *Info {
	return &Info{ID: id, Methods: slices.Clone(c.Methods), ExpiresAt: c.ExpiresAt.UTC(), AttemptsRemaining: c.AttemptsLeft,
		CodeExpiresAt: c.CodeExpiresAt}
}

// Begin is what opening a challenge takes.
type Begin struct {
	Tenant     string
	CustomerID int64
	Email      string // where e-mailed codes go
	ClientID   string
	Attempt    Attempt
	UserAgent  string
	Payload    map[string]string
	// Methods the customer can use (Status.Methods); nil: looked up.
	Methods []string
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

// Begin opens a challenge and, when e-mail is its method, queues the first code, in one
// transaction.
func (s *Service) Begin(ctx context.Context, in Begin) (*Info, error) {
	methods := in.Methods
	if len(methods) == 0 {
		st, err := s.StatusOf(ctx, in.Tenant, in.CustomerID)
		if err != nil {
			return nil, err
		}
		methods = st.Methods()
	}
	id, idHash, err := s.newID()
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	c := &Challenge{IDHash: idHash, Tenant: in.Tenant, CustomerID: in.CustomerID, ClientID: in.ClientID,
		FingerprintHash: in.Attempt.FingerprintHash, Region: in.Attempt.Region, UserAgent: in.UserAgent, Methods: methods,
		AttemptsLeft: MaxAttempts, ExpiresAt: now.Add(ChallengeTTL), Payload: in.Payload, CreatedAt: now}
	var code string
	if methods[0] == MethodEmail {
		if code, err = newEmailCode(s.rand); err != nil {
			return nil, err
		}
		exp := now.Add(CodeTTL)
		c.CodeHash, c.CodeExpiresAt, c.CodeSentAt, c.CodesSent = hashCode(s.codeKey, idHash, code), &exp, &now, 1
	}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateChallenge(ctx, c); err != nil {
			return fmt.Errorf("create challenge: %w", err)
		}
		if code != "" {
			return s.sendCode(ctx, in.Tenant, in.Email, in.CustomerID, code)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return info(id, c), nil
}

func (s *Service) sendCode(ctx context.Context, tenant, to string, customerID int64, code string) error {
	return s.notify(ctx, &notify.Message{Tenant: tenant, Kind: notify.KindTwoFactorCode, To: to,
		Subject: "Your sign-in code: " + code,
		Body: "Your sign-in code is " + code + ". It is valid for 3 minutes.\n\n" +
			"If you did not try to sign in, change your password: someone knows it.",
		Data: map[string]any{"code": code, "customerId": customerID, "expiresInSeconds": int(CodeTTL / time.Second)}})
}

func (s *Service) newID() (id, hash string, err error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", "", fmt.Errorf("challenge id: %w", err)
	}
	id = base64.RawURLEncoding.EncodeToString(b)
	return id, hashID(id), nil
}

func hashID(id string) string {
	sum := sha256.Sum256([]byte("challenge|" + id))
	return hex.EncodeToString(sum[:])
}

// open loads a challenge that the caller (tenant and client) may use.
func (s *Service) open(ctx context.Context, tenant, id, clientID string) (*Challenge, error) {
	if id == "" || len(id) > 128 {
		return nil, ErrChallenge
	}
	c, err := s.store.GetChallenge(ctx, tenant, hashID(id))
	if errors.Is(err, ErrNotFound) {
		return nil, ErrChallenge
	}
	if err != nil {
		return nil, fmt.Errorf("load challenge: %w", err)
	}
	if c.UsedAt != nil || !s.now().Before(c.ExpiresAt) || !hmac.Equal([]byte(c.ClientID), []byte(clientID)) {
		return nil, ErrChallenge
	}
	return c, nil
}

// Verify checks a code against a challenge and, when it is right, uses the challenge
// up. Every check spends one try first (a single conditional update), so concurrent
// guesses cannot exceed MaxAttempts. method "" means the challenge's first method.
func (s *Service) Verify(ctx context.Context, tenant, id, clientID, method, code string) (*Challenge, string, error) {
	c, err := s.open(ctx, tenant, id, clientID)
	if err != nil {
		return nil, "", err
	}
	if method == "" {
		method = c.Methods[0]
	}
	if !slices.Contains(c.Methods, method) {
		return nil, "", ErrMethod
	}
	now := s.now().UTC()
	if method == MethodEmail && (c.CodeExpiresAt == nil || !now.Before(*c.CodeExpiresAt)) {
		return nil, "", ErrCodeExpired
	}
	left, ok, err := s.store.SpendAttempt(ctx, tenant, c.IDHash)
	if err != nil {
		return nil, "", fmt.Errorf("spend attempt: %w", err)
	}
	if !ok {
		return nil, "", ErrNoAttempts
	}
	var right bool
	replayed := false
	switch method {
	case MethodEmail:
		right = c.CodeHash != "" && hmac.Equal([]byte(hashCode(s.codeKey, c.IDHash, code)), []byte(c.CodeHash))
	case MethodTOTP:
		right, replayed, err = s.checkTOTP(ctx, tenant, c.CustomerID, code, now)
	case MethodRecovery:
		right, err = s.store.UseRecoveryCode(ctx, tenant, c.CustomerID, s.recoveryHash(tenant, c.CustomerID, code), now)
	}
	if err != nil {
		return nil, "", err
	}
	if !right {
		return nil, "", &WrongCodeError{CustomerID: c.CustomerID, Remaining: left, Replayed: replayed}
	}
	if err := s.store.ConsumeChallenge(ctx, tenant, c.IDHash, now); errors.Is(err, ErrNotFound) {
		return nil, "", ErrChallenge
	} else if err != nil {
		return nil, "", fmt.Errorf("consume challenge: %w", err)
	}
	return c, method, nil
}

// checkTOTP accepts a code of a confirmed enrollment once: the matched step must be
// later than the last accepted one.
func (s *Service) checkTOTP(ctx context.Context, tenant string, customerID int64, code string, now time.Time) (right, replayed bool, err error) {
	t, err := s.store.GetTOTP(ctx, tenant, customerID)
	if errors.Is(err, ErrNotFound) || (err == nil && t.ConfirmedAt == nil) {
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("load totp: %w", err)
	}
	secret, err := s.openSecret(t)
	if err != nil {
		return false, false, err
	}
	step, err := matchTOTP(secret, code, now)
	if err != nil || step == 0 {
		return false, false, err
	}
	ok, err := s.store.UseTOTPStep(ctx, tenant, customerID, step)
	if err != nil {
		return false, false, fmt.Errorf("use totp step: %w", err)
	}
	return ok, !ok, nil
}

// Resend sends a new e-mailed code for a challenge (to the address emailOf gives for its
// customer), at most once per ResendCooldown and MaxCodes times; the new code gets fresh
// tries and the old one stops working.
func (s *Service) Resend(ctx context.Context, tenant, id, clientID string, emailOf func(ctx context.Context, customerID int64) (string, error)) (*Info, error) {
	c, err := s.open(ctx, tenant, id, clientID)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(c.Methods, MethodEmail) {
		return nil, ErrMethod
	}
	email, err := emailOf(ctx, c.CustomerID)
	if err != nil {
		return nil, err
	}
	code, err := newEmailCode(s.rand)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	exp := now.Add(CodeTTL)
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		ok, err := s.store.ReplaceCode(ctx, tenant, c.IDHash, hashCode(s.codeKey, c.IDHash, code), exp, now, now.Add(-ResendCooldown), MaxAttempts, MaxCodes)
		if err != nil {
			return fmt.Errorf("replace code: %w", err)
		}
		if !ok {
			if c.CodesSent >= MaxCodes {
				return ErrTooManyCodes
			}
			wait := ResendCooldown
			if c.CodeSentAt != nil {
				wait = c.CodeSentAt.Add(ResendCooldown).Sub(now)
			}
			return &CooldownError{RetryAfter: max(wait, time.Second)}
		}
		return s.sendCode(ctx, tenant, email, c.CustomerID, code)
	})
	if err != nil {
		return nil, err
	}
	c.CodeExpiresAt, c.CodeSentAt, c.AttemptsLeft = &exp, &now, MaxAttempts
	return info(id, c), nil
}

// Enrollment is a started TOTP enrollment: what the authenticator app needs.
type Enrollment struct {
	Secret     string
	OTPAuthURI string
	QRCodePNG  []byte
}

func totpAAD(tenant string, customerID int64) []byte {
	return []byte("totp|" + tenant + "|" + strconv.FormatInt(customerID, 10))
}

func (s *Service) openSecret(t *TOTP) (string, error) {
	plain, err := s.sealer.Open(t.Secret, totpAAD(t.Tenant, t.CustomerID))
	if err != nil {
		return "", fmt.Errorf("open totp secret: %w", err)
	}
	return string(plain), nil
}

// StartTOTP begins an authenticator-app enrollment (replacing an unconfirmed one).
// issuer is what the app shows (the shop), account the customer's e-mail.
func (s *Service) StartTOTP(ctx context.Context, tenant string, customerID int64, issuer, account string) (*Enrollment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Period: uint(TOTPPeriod / time.Second),
		SecretSize: 20, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Rand: s.rand})
	if err != nil {
		return nil, fmt.Errorf("generate totp key: %w", err)
	}
	sealed, err := s.sealer.Seal([]byte(key.Secret()), totpAAD(tenant, customerID))
	if err != nil {
		return nil, fmt.Errorf("seal totp secret: %w", err)
	}
	err = s.store.PutPendingTOTP(ctx, &TOTP{Tenant: tenant, CustomerID: customerID, Secret: sealed, CreatedAt: s.now().UTC()})
	if errors.Is(err, ErrConflict) {
		return nil, ErrAlreadyEnrolled
	}
	if err != nil {
		return nil, fmt.Errorf("store totp enrollment: %w", err)
	}
	img, err := key.Image(256, 256)
	if err != nil {
		return nil, fmt.Errorf("totp qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("totp qr code: %w", err)
	}
	return &Enrollment{Secret: key.Secret(), OTPAuthURI: key.URL(), QRCodePNG: buf.Bytes()}, nil
}

// ConfirmTOTP confirms a pending enrollment with a first code and returns the recovery
// codes, shown this once.
func (s *Service) ConfirmTOTP(ctx context.Context, tenant string, customerID int64, code string) ([]string, error) {
	t, err := s.store.GetTOTP(ctx, tenant, customerID)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrNotEnrolled
	}
	if err != nil {
		return nil, fmt.Errorf("load totp: %w", err)
	}
	if t.ConfirmedAt != nil {
		return nil, ErrAlreadyEnrolled
	}
	secret, err := s.openSecret(t)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	step, err := matchTOTP(secret, code, now)
	if err != nil {
		return nil, err
	}
	if step == 0 {
		return nil, &WrongCodeError{}
	}
	var codes []string
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.ConfirmTOTP(ctx, tenant, customerID, step, now); errors.Is(err, ErrNotFound) {
			return ErrAlreadyEnrolled
		} else if err != nil {
			return fmt.Errorf("confirm totp: %w", err)
		}
		codes, err = s.replaceRecovery(ctx, tenant, customerID, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// VerifyTOTP checks a code of a confirmed enrollment outside a sign-in (removing the
// app, new recovery codes), with the same replay protection.
func (s *Service) VerifyTOTP(ctx context.Context, tenant string, customerID int64, code string) error {
	t, err := s.store.GetTOTP(ctx, tenant, customerID)
	if errors.Is(err, ErrNotFound) || (err == nil && t.ConfirmedAt == nil) {
		return ErrNotEnrolled
	}
	if err != nil {
		return fmt.Errorf("load totp: %w", err)
	}
	right, replayed, err := s.checkTOTP(ctx, tenant, customerID, code, s.now().UTC())
	if err != nil {
		return err
	}
	if !right {
		return &WrongCodeError{Replayed: replayed}
	}
	return nil
}

// RemoveTOTP removes the authenticator app and its recovery codes. The caller checks
// the password and the code (VerifyTOTP) first.
func (s *Service) RemoveTOTP(ctx context.Context, tenant string, customerID int64) error {
	return s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.DeleteTOTP(ctx, tenant, customerID); err != nil {
			return fmt.Errorf("delete totp: %w", err)
		}
		return s.store.ReplaceRecoveryCodes(ctx, tenant, customerID, nil, s.now().UTC())
	})
}

// RegenerateRecoveryCodes replaces the recovery codes (the caller checked a TOTP code).
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, tenant string, customerID int64) ([]string, error) {
	return s.replaceRecovery(ctx, tenant, customerID, s.now().UTC())
}

func (s *Service) replaceRecovery(ctx context.Context, tenant string, customerID int64, now time.Time) ([]string, error) {
	codes := make([]string, RecoveryCodes)
	hashes := make([]string, RecoveryCodes)
	for i := range codes {
		c, err := newRecoveryCode(s.rand)
		if err != nil {
			return nil, err
		}
		codes[i], hashes[i] = c, s.recoveryHash(tenant, customerID, c)
	}
	if err := s.store.ReplaceRecoveryCodes(ctx, tenant, customerID, hashes, now); err != nil {
		return nil, fmt.Errorf("store recovery codes: %w", err)
	}
	return codes, nil
}

func (s *Service) recoveryHash(tenant string, customerID int64, code string) string {
	return hashCode(s.codeKey, "recovery|"+tenant+"|"+strconv.FormatInt(customerID, 10), code)
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

// Seen is a sign-in from a device.
type Seen struct {
	Tenant     string
	CustomerID int64
	Attempt    Attempt
	UserAgent  string
	// TrustFor, when positive, trusts the device for this long (rememberDevice).
	TrustFor time.Duration
}

// Touch records a sign-in from a device and returns it (nil without a fingerprint) and
// whether it is new to the account.
func (s *Service) Touch(ctx context.Context, in Seen) (*Device, bool, error) {
	if in.Attempt.FingerprintHash == "" {
		return nil, false, nil
	}
	now := s.now().UTC()
	d := &Device{Tenant: in.Tenant, CustomerID: in.CustomerID, FingerprintHash: in.Attempt.FingerprintHash,
		Region: in.Attempt.Region, UserAgent: truncate(in.UserAgent, 256), CreatedAt: now, LastSeenAt: now}
	var trust *time.Time
	if in.TrustFor > 0 {
		until := now.Add(in.TrustFor)
		trust, d.TrustedUntil = &until, &until
	}
	created, err := s.store.TouchDevice(ctx, d, trust)
	if err != nil {
		return nil, false, fmt.Errorf("record device: %w", err)
	}
	return d, created, nil
}

// Devices lists a customer's devices, most recently used first.
func (s *Service) Devices(ctx context.Context, tenant string, customerID int64) ([]Device, error) {
	return s.store.ListDevices(ctx, tenant, customerID)
}

// Forget removes a device.
func (s *Service) Forget(ctx context.Context, tenant string, customerID int64, id string) error {
	return s.store.DeleteDevice(ctx, tenant, customerID, id)
}

// ForgetAll removes every device of a customer and returns their ids.
func (s *Service) ForgetAll(ctx context.Context, tenant string, customerID int64) ([]string, error) {
	return s.store.DeleteDevices(ctx, tenant, customerID)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
