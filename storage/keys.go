package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
)

var _ oauth.KeyStore = (*Store)(nil)

type keyRow struct {
	KID        string    `db:"kid"`
	Tenant     string    `db:"tenant"`
	Alg        string    `db:"alg"`
	State      string    `db:"state"`
	PrivateKey []byte    `db:"private_key"`
	PublicJWK  string    `db:"public_jwk"`
	CreatedAt  time.Time `db:"created_at"`
	UpdatedAt  time.Time `db:"updated_at"`
}

// InsertKey stores a new signing key. The partial unique index allows one key per live
// state and tenant, so a second node racing to create the same state gets ErrConflict.
func (s *Store) InsertKey(ctx context.Context, k *oauth.SigningKey) error {
	now := s.clock()
	_, err := s.exec(ctx, `INSERT INTO signing_keys (kid, tenant, alg, state, private_key, public_jwk, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, k.KID, k.Tenant, k.Alg, k.State, k.Sealed, string(k.PublicJWK), now, now)
	switch {
	case errors.Is(err, errUnique):
		return fmt.Errorf("key %s (%s): %w", k.KID, k.State, identity.ErrConflict)
	case errors.Is(err, errForeign):
		return fmt.Errorf("tenant %q: %w", k.Tenant, identity.ErrNotFound)
	case err != nil:
		return fmt.Errorf("insert key: %w", err)
	}
	s.invalidate(ctx, invalidation{Table: "signing_keys", Tenant: k.Tenant})
	k.CreatedAt, k.UpdatedAt = now, now
	return nil
}

// ListKeys returns the tenant's keys that are not retired: from the node's cache
// outside a transaction (a rotation reads and moves them inside one).
func (s *Store) ListKeys(ctx context.Context, tenant string) ([]*oauth.SigningKey, error) {
	if !s.cached(ctx) {
		return s.loadKeys(ctx, tenant)
	}
	keys, err := s.caches.keys.get(ctx, tenant, func(ctx context.Context) ([]*oauth.SigningKey, error) { return s.loadKeys(ctx, tenant) })
	if err != nil {
		return nil, err
	}
	out := make([]*oauth.SigningKey, len(keys))
	for i, k := range keys {
		c := *k
		c.Sealed, c.PublicJWK = bytes.Clone(k.Sealed), bytes.Clone(k.PublicJWK)
		out[i] = &c
	}
	return out, nil
}

func (s *Store) loadKeys(ctx context.Context, tenant string) ([]*oauth.SigningKey, error) {
	var rows []keyRow
	if err := s.sel(ctx, &rows, `SELECT kid, tenant, alg, state, private_key, public_jwk, created_at, updated_at
		FROM signing_keys WHERE tenant = ? AND state <> ? ORDER BY created_at, kid`, tenant, oauth.KeyRetired); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	out := make([]*oauth.SigningKey, 0, len(rows))
	for _, r := range rows {
		out = append(out, &oauth.SigningKey{KID: r.KID, Tenant: r.Tenant, Alg: r.Alg, State: r.State, Sealed: r.PrivateKey,
			PublicJWK: []byte(r.PublicJWK), CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()})
	}
	return out, nil
}

// SetKeyState moves a key between states with one conditional update: when the key is
// no longer in the from state (another node rotated first) it fails with ErrConflict.
func (s *Store) SetKeyState(ctx context.Context, kid, from, to string) error {
	n, err := s.exec(ctx, `UPDATE signing_keys SET state = ?, updated_at = ? WHERE kid = ? AND state = ?`, to, s.clock(), kid, from)
	if errors.Is(err, errUnique) {
		return fmt.Errorf("key %s → %s: %w", kid, to, identity.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("set key state: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("key %s is not %s: %w", kid, from, identity.ErrConflict)
	}
	// The kid alone does not name the tenant: every tenant's key set is read again.
	s.invalidate(ctx, invalidation{Table: "signing_keys"})
	return nil
}
