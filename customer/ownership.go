package customer

import (
	"context"

	"github.com/custodian-id/custodian/identity"
)

// proveAddress records the first proof of an account's e-mail address. Until then the
// account may have been made by someone other than the address's owner (pre-account
// takeover: sign up with a victim's address, arm the account, wait for the victim).
// The owner proves the address by signing in through a provider that verified it
// (claim) or by using a password reset token from the mailbox (ResetPassword); from
// then on the account is the owner's, and what anyone set up before to get in is
// removed: the authenticator app and its recovery codes, the opt-in to second factors,
// the trusted devices, and pending e-mail changes (their tokens went to another
// address). The lockout count resets, and every token, browser session and
// authorization code of the account ends. It runs in the caller's transaction; the
// password is the caller's business (a claim removes it, a reset replaces it).
func (s *Service) proveAddress(ctx context.Context, t *identity.Tenant, id int64) error {
	if err := s.store.SetEmailVerified(ctx, t.Name, id, true); err != nil {
		return err
	}
	if err := s.tf.RemoveTOTP(ctx, t.Name, id); err != nil {
		return err
	}
	if err := s.store.SetTwoFactorOptIn(ctx, t.Name, id, false); err != nil {
		return err
	}
	if _, err := s.tf.ForgetAll(ctx, t.Name, id); err != nil {
		return err
	}
	if err := s.store.RetireTokens(ctx, t.Name, id, TokenEmailChange); err != nil {
		return err
	}
	if err := s.guard.SetLock(ctx, t.Name, id, nil, s.now().UTC()); err != nil {
		return err
	}
	return s.revokeAll(ctx, t.Name, id)
}
