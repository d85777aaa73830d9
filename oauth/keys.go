package oauth

import (
	"context"
	"time"
)

// Key states. A tenant has at most one key in each of next, current and previous; the
// JWKS publishes all three so that verifiers learn a key before it signs and keep it
// for a while after it stops.
const (
	KeyNext     = "next"
	KeyCurrent  = "current"
	KeyPrevious = "previous"
	KeyRetired  = "retired"
)

// SigningKey is one asymmetric key of a tenant. The private key is kept only sealed
// (AES-256-GCM under a key derived from the server secret).
type SigningKey struct {
	KID       string
	Tenant    string
	Alg       string // ES256 or RS256
	State     string
	Sealed    []byte // sealed PKCS#8 private key
	PublicJWK []byte // JSON of the public JWK
	CreatedAt time.Time
	UpdatedAt time.Time
}

// KeyStore persists signing keys.
type KeyStore interface {
	// InsertKey stores a new key in the given state.
	InsertKey(ctx context.Context, k *SigningKey) error
	// ListKeys returns the tenant's keys that are not retired.
	ListKeys(ctx context.Context, tenant string) ([]*SigningKey, error)
	// SetKeyState moves a key from one state to another; it fails with ErrConflict when
	// the key is not in the from state (someone else rotated first).
	SetKeyState(ctx context.Context, kid, from, to string) error
	// InTx runs fn in one transaction.
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}
