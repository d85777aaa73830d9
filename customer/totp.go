package customer

// A customer's own second-factor setup: the opt-in to e-mailed codes, the authenticator
// app (TOTP) and its recovery codes.

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/twofactor"
)

// TwoFactorStatus is a customer's second-factor setup.
type TwoFactorStatus struct {
	OptedIn bool
	twofactor.Status
	Last2FA *time.Time
}

// TwoFactor reports a customer's second-factor setup.
func (s *Service) TwoFactor(ctx context.Context, tenant string, id int64) (*TwoFactorStatus, error) {
	a, err := s.store.GetAccount(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	st, err := s.tf.StatusOf(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	return &TwoFactorStatus{OptedIn: a.TwoFactorOptIn || st.TOTP, Status: st, Last2FA: a.Last2FAAt}, nil
}

// SetTwoFactorOptIn records a customer's own choice of a second factor (e-mailed codes
// on devices and regions not yet verified). Turning it off needs the password.
func (s *Service) SetTwoFactorOptIn(ctx context.Context, t *identity.Tenant, id int64, on bool, password string) error {
	if !on {
		if err := s.checkPassword(ctx, t, id, password); err != nil {
			return err
		}
	}
	return s.store.SetTwoFactorOptIn(ctx, t.Name, id, on)
}

// StartTOTP begins an authenticator-app enrollment.
func (s *Service) StartTOTP(ctx context.Context, t *identity.Tenant, id int64) (*twofactor.Enrollment, error) {
	a, err := s.store.GetAccount(ctx, t.Name, id)
	if err != nil {
		return nil, err
	}
	return s.tf.StartTOTP(ctx, t.Name, id, t.Name, a.Email)
}

// ConfirmTOTP confirms the enrollment with a first code and returns the recovery codes.
func (s *Service) ConfirmTOTP(ctx context.Context, t *identity.Tenant, id int64, code string) ([]string, error) {
	if err := s.allow(ctx, "totp:account:"+t.Name+":"+strconv.FormatInt(id, 10), s.limitsOf(t).PerAccount); err != nil {
		return nil, err
	}
	codes, err := s.tf.ConfirmTOTP(ctx, t.Name, id, code)
	if err != nil {
		return nil, err
	}
	s.event(ctx, t.Name, EventTOTPEnrolled, &id, nil)
	return codes, nil
}

// RemoveTOTP removes the authenticator app after checking the password and a code.
func (s *Service) RemoveTOTP(ctx context.Context, t *identity.Tenant, id int64, password, code string) error {
	if err := s.allow(ctx, "totp:account:"+t.Name+":"+strconv.FormatInt(id, 10), s.limitsOf(t).PerAccount); err != nil {
		return err
	}
	if err := s.checkPassword(ctx, t, id, password); err != nil {
		return err
	}
	if err := s.requireTOTP(ctx, t, id, code); err != nil {
		return err
	}
	if err := s.tf.RemoveTOTP(ctx, t.Name, id); err != nil {
		return err
	}
	s.event(ctx, t.Name, EventTOTPRemoved, &id, nil)
	return nil
}

// RegenerateRecoveryCodes replaces the recovery codes after checking a TOTP code.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, t *identity.Tenant, id int64, code string) ([]string, error) {
	if err := s.allow(ctx, "totp:account:"+t.Name+":"+strconv.FormatInt(id, 10), s.limitsOf(t).PerAccount); err != nil {
		return nil, err
	}
	if err := s.requireTOTP(ctx, t, id, code); err != nil {
		return nil, err
	}
	return s.tf.RegenerateRecoveryCodes(ctx, t.Name, id)
}

// requireTOTP checks a current authenticator code of a signed-in customer for a
// sensitive change; a wrong one counts towards the lockout like a wrong password.
func (s *Service) requireTOTP(ctx context.Context, t *identity.Tenant, id int64, code string) error {
	var wrong *twofactor.WrongCodeError
	if err := s.tf.VerifyTOTP(ctx, t.Name, id, code); errors.As(err, &wrong) {
		wrong.CustomerID = id
		return s.wrongCode(ctx, t, wrong)
	} else if err != nil {
		return err
	}
	return nil
}
