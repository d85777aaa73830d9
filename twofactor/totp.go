package twofactor

// The authenticator app (TOTP, RFC 6238) and its recovery codes: enrollment,
// verification with replay protection, removal.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"strconv"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

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

// Enrollment is a started TOTP enrollment: what the authenticator app needs.
type Enrollment struct {
	Secret     string
	OTPAuthURI string
	QRCodePNG  []byte
}

func totpAAD(tenant string, customerID int64) []byte {
	return []byte("totp|" + tenant + "|" + strconv.FormatInt(customerID, 10))
}

// CheckSecret opens one stored authenticator-app secret (the newest customer's) with
// the configured server secret: they are all sealed under the same key, so a node
// started with another secret finds out at start, not at its shoppers' next sign-in.
// nil when no customer has enrolled; an *UnopenedSecretError when the secret does not
// open.
func (s *Service) CheckSecret(ctx context.Context) error {
	t, err := s.store.NewestTOTP(ctx)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check totp secrets: %w", err)
	}
	if _, err := s.openSecret(t); err != nil {
		return &UnopenedSecretError{Tenant: t.Tenant, CustomerID: t.CustomerID, Err: err}
	}
	return nil
}

// UnopenedSecretError: a stored authenticator-app secret does not open with the
// configured server secret (CheckSecret). It wraps identity.ErrInvalid.
type UnopenedSecretError struct {
	Tenant     string
	CustomerID int64
	Err        error
}

func (e *UnopenedSecretError) Error() string {
	return fmt.Sprintf("the authenticator-app (TOTP) secret of customer %d of tenant %q: %v", e.CustomerID, e.Tenant, e.Err)
}

func (e *UnopenedSecretError) Unwrap() error { return e.Err }

func (s *Service) openSecret(t *TOTP) (string, error) {
	plain, err := s.sealer.Open(t.Secret, totpAAD(t.Tenant, t.CustomerID))
	if err != nil {
		return "", fmt.Errorf("open totp secret: %w", err)
	}
	return string(plain), nil
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
