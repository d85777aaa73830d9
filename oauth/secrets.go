package oauth

import (
	"context"
	"errors"
	"fmt"

	"github.com/custodian-id/custodian/identity"
)

// ErrWrongSecret: a stored secret (a signing key, a connector's client secret, a
// webhook secret) does not open with the configured server secret. A node in that
// state would start and fail every token request, so it refuses to start.
var ErrWrongSecret = errors.New("the configured server secret (CUSTODIAN_SECRET) does not open the stored secrets")

// WrongSecretError names the first stored secret that did not open.
type WrongSecretError struct {
	What string // e.g. `the signing key "kid" of tenant "acme"`
	Err  error
}

func (e *WrongSecretError) Error() string {
	return fmt.Sprintf("%s: %s cannot be opened; start with the secret it was sealed with "+
		"(a changed or mistyped CUSTODIAN_SECRET or secret file?)", ErrWrongSecret, e.What)
}

func (e *WrongSecretError) Is(target error) bool { return target == ErrWrongSecret }

func (e *WrongSecretError) Unwrap() error { return e.Err }

// CheckSecrets opens every stored secret this node needs with the configured server
// secret: the live signing keys, the connectors' client secrets, the webhook secrets
// and the other secret settings (import.firebase.signer_key) of every tenant. The first one that does not open fails it with a
// *WrongSecretError (errors.Is ErrWrongSecret); a storage failure is returned as it
// is. New calls it at every start.
func (p *Provider) CheckSecrets(ctx context.Context) error {
	ts, err := p.store.ListTenants(ctx)
	if err != nil {
		return fmt.Errorf("check stored secrets: %w", err)
	}
	for _, t := range ts {
		if err := p.checkTenantKeys(ctx, t.Name); err != nil {
			return err
		}
		cs, err := p.store.ListConnectors(ctx, t.Name)
		if err != nil {
			return fmt.Errorf("check stored secrets of tenant %q: %w", t.Name, err)
		}
		for _, c := range cs {
			if _, err := p.socialSealer.Open(c.SealedSecret, []byte("connector|"+c.Tenant+"|"+c.ID)); err != nil {
				return &WrongSecretError{What: fmt.Sprintf("the client secret of connector %q of tenant %q", c.ID, t.Name), Err: err}
			}
		}
		if sealed := t.Settings.WebhookSecret.Sealed; sealed != nil {
			if _, err := p.webhookSecrets.Open(t.Name, sealed); err != nil {
				return &WrongSecretError{What: fmt.Sprintf("the webhook secret of tenant %q", t.Name), Err: err}
			}
		}
		for key, v := range t.Settings.SecretSettings() {
			if v.Sealed == nil {
				continue
			}
			if _, err := p.settingSecrets.Reveal(t.Name, key, *v); err != nil {
				return &WrongSecretError{What: fmt.Sprintf("the setting %s of tenant %q", key, t.Name), Err: err}
			}
		}
	}
	return nil
}

// checkTenantKeys unseals the tenant's live signing keys.
func (p *Provider) checkTenantKeys(ctx context.Context, tenant string) error {
	live, err := p.keys.live(ctx, tenant)
	if err != nil {
		return fmt.Errorf("check signing keys of tenant %q: %w", tenant, err)
	}
	for _, state := range []string{KeyCurrent, KeyNext, KeyPrevious} {
		row := live[state]
		if row == nil {
			continue
		}
		if _, err := p.keys.privateJWK(row); err != nil {
			if errors.Is(err, identity.ErrInvalid) {
				return &WrongSecretError{What: fmt.Sprintf("the %s signing key %q of tenant %q", state, row.KID, tenant), Err: err}
			}
			return fmt.Errorf("check signing keys of tenant %q: %w", tenant, err)
		}
	}
	return nil
}

// CanSign reports whether this node can sign: every tenant's current signing key opens
// with the configured secret. A key opens once per node (the parsed key is cached by
// its kid, which is its thumbprint), so a check costs the queries that list the
// tenants and their keys; a key another node created under another secret fails it.
func (p *Provider) CanSign(ctx context.Context) error {
	ts, err := p.store.ListTenants(ctx)
	if err != nil {
		return fmt.Errorf("signing check: %w", err)
	}
	for _, t := range ts {
		if _, err := p.keys.SigningKey(ctx, t.Name); err != nil && !errors.Is(err, identity.ErrNotFound) {
			if errors.Is(err, identity.ErrInvalid) {
				return &WrongSecretError{What: fmt.Sprintf("the current signing key of tenant %q", t.Name), Err: err}
			}
			return fmt.Errorf("signing check: %w", err)
		}
	}
	return nil
}
