package customer

// What a customer may ask of their data: an export of everything Custodian holds, and
// erasure.

import (
	"context"
	"strconv"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/twofactor"
)

// Export is everything Custodian holds about a customer.
type Export struct {
	Account   *Account
	Addresses []Address
	Devices   []twofactor.Device
	TwoFactor *TwoFactorStatus
	Events    []*identity.SecurityEvent
}

// Export gathers everything Custodian holds about a customer.
func (s *Service) Export(ctx context.Context, tenant string, id int64) (*Export, error) {
	a, err := s.Account(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	x := &Export{Account: a}
	if x.Addresses, err = s.store.ListAddresses(ctx, tenant, id); err != nil {
		return nil, err
	}
	if x.Devices, err = s.tf.Devices(ctx, tenant, id); err != nil {
		return nil, err
	}
	if x.TwoFactor, err = s.TwoFactor(ctx, tenant, id); err != nil {
		return nil, err
	}
	if x.Events, err = s.Events(ctx, tenant, &id, 1000); err != nil {
		return nil, err
	}
	return x, nil
}

// Erase deletes a customer's account after checking the password (and an authenticator
// code when one is enrolled): every token and session ends, personal data goes, and the
// audit trail keeps only the pseudonymous id, kinds and times.
func (s *Service) Erase(ctx context.Context, t *identity.Tenant, id int64, password, code string) error {
	a, err := s.store.GetAccount(ctx, t.Name, id)
	if err != nil {
		return err
	}
	if err := s.confirmPassword(ctx, t, a.Email, password); err != nil {
		return err
	}
	st, err := s.tf.StatusOf(ctx, t.Name, id)
	if err != nil {
		return err
	}
	if st.TOTP {
		if code == "" {
			return &identity.ValidationError{Fields: []identity.FieldError{{Field: "code", Type: "missing", Message: "an authenticator code is required"}}}
		}
		if err := s.requireTOTP(ctx, t, id, code); err != nil {
			return err
		}
	}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.revokeAll(ctx, t.Name, id); err != nil {
			return err
		}
		return s.store.EraseAccount(ctx, t.Name, id)
	})
	if err != nil {
		return err
	}
	// Recorded without the request's address and agent: they are personal data too.
	if s.events != nil {
		_ = s.events.RecordEvent(ctx, &identity.SecurityEvent{Tenant: t.Name, Kind: "customer.erased", CustomerID: &id,
			Subject: strconv.FormatInt(id, 10), CreatedAt: s.now().UTC()})
	}
	return nil
}
