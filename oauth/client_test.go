package oauth

import (
	"context"
	"errors"
	"testing"

	"github.com/custodian-id/custodian/identity"
)

func TestClientCheckSecret(t *testing.T) {
	ctx := context.Background()
	h := SecretHasher{Key: []byte("0123456789abcdef0123456789abcdef")}
	const secret = "a-confidential-client-secret-of-32+chars"
	hash, err := h.Hash(ctx, []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	public, confidential := &Client{ID: "spa", Public: true}, &Client{ID: "backend", SecretHash: hash}
	for _, tc := range []struct {
		name    string
		client  *Client
		secret  string
		wantErr error
	}{
		{"public, no secret", public, "", nil},
		{"public presenting a secret", public, "anything", ErrPublicClientSecret},
		{"confidential, its secret", confidential, secret, nil},
		{"confidential, wrong secret", confidential, secret + "x", identity.ErrInvalidCredentials},
		{"confidential, no secret", confidential, "", identity.ErrInvalidCredentials},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.client.checkSecret(ctx, h, tc.secret)
			if (tc.wantErr == nil) != (err == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Errorf("checkSecret: %v, want %v", err, tc.wantErr)
			}
		})
	}
}
