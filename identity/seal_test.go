package identity

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

var (
	sealTestSecret  = []byte("0123456789abcdef0123456789abcdef")
	sealOtherSecret = []byte("fedcba9876543210fedcba9876543210")
)

func TestSealerRoundTripAndTampering(t *testing.T) {
	plain := []byte("-----PKCS#8 DER stand-in-----")
	aad := []byte("acme/kid-1")
	tests := []struct {
		name    string
		secret  []byte                     // secret of the opening Sealer
		aad     []byte                     // aad given to Open
		mutate  func(sealed []byte) []byte // applied before Open
		plain   []byte                     // what is sealed
		wantErr bool
	}{
		{name: "round trip", secret: sealTestSecret, aad: aad, plain: plain},
		{name: "empty plaintext round trip", secret: sealTestSecret, aad: aad, plain: []byte{}},
		{name: "tampered ciphertext", secret: sealTestSecret, aad: aad, plain: plain, wantErr: true,
			mutate: func(s []byte) []byte { s[12+3] ^= 0x01; return s }},
		{name: "tampered tag", secret: sealTestSecret, aad: aad, plain: plain, wantErr: true,
			mutate: func(s []byte) []byte { s[len(s)-1] ^= 0x80; return s }},
		{name: "tampered nonce", secret: sealTestSecret, aad: aad, plain: plain, wantErr: true,
			mutate: func(s []byte) []byte { s[0] ^= 0x01; return s }},
		{name: "truncated", secret: sealTestSecret, aad: aad, plain: plain, wantErr: true,
			mutate: func(s []byte) []byte { return s[:20] }},
		{name: "empty", secret: sealTestSecret, aad: aad, plain: plain, wantErr: true,
			mutate: func([]byte) []byte { return nil }},
		{name: "wrong aad (moved to another row)", secret: sealTestSecret, aad: []byte("acme/kid-2"), plain: plain, wantErr: true},
		{name: "wrong aad (moved to another tenant)", secret: sealTestSecret, aad: []byte("beta/kid-1"), plain: plain, wantErr: true},
		{name: "different secret cannot open", secret: sealOtherSecret, aad: aad, plain: plain, wantErr: true},
	}
	sealer, err := NewSealer(sealTestSecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sealed, err := sealer.Seal(tt.plain, aad)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(sealed, tt.plain) && len(tt.plain) > 0 {
				t.Fatal("sealed value contains the plaintext")
			}
			if tt.mutate != nil {
				sealed = tt.mutate(sealed)
			}
			opener, err := NewSealer(tt.secret)
			if err != nil {
				t.Fatal(err)
			}
			got, err := opener.Open(sealed, tt.aad)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Open succeeded with %q, want an error", got)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Open error %v does not wrap ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tt.plain) {
				t.Fatalf("Open = %q, want %q", got, tt.plain)
			}
		})
	}
}

func TestSealerFreshNonce(t *testing.T) {
	sealer, err := NewSealer(sealTestSecret)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := sealer.Seal([]byte("same"), nil)
	b, _ := sealer.Seal([]byte("same"), nil)
	if bytes.Equal(a, b) || bytes.Equal(a[:12], b[:12]) {
		t.Fatal("two seals of the same plaintext share a nonce")
	}
}

func TestNewSealerShortSecret(t *testing.T) {
	tests := []struct {
		name    string
		secret  []byte
		wantErr bool
	}{
		{name: "nil", secret: nil, wantErr: true},
		{name: "31 bytes", secret: bytes.Repeat([]byte("x"), 31), wantErr: true},
		{name: "32 bytes", secret: bytes.Repeat([]byte("x"), 32)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSealer(tt.secret)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewSealer error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestDeriveKey(t *testing.T) {
	base := DeriveKey(sealTestSecret, "custodian/csrf/v1")
	if len(base) != 32 {
		t.Fatalf("len = %d, want 32", len(base))
	}
	tests := []struct {
		name     string
		secret   []byte
		purpose  string
		wantSame bool
	}{
		{name: "same secret and purpose", secret: sealTestSecret, purpose: "custodian/csrf/v1", wantSame: true},
		{name: "other purpose", secret: sealTestSecret, purpose: "custodian/client-secret/v1"},
		{name: "other version", secret: sealTestSecret, purpose: "custodian/csrf/v2"},
		{name: "seal purpose", secret: sealTestSecret, purpose: sealPurpose},
		{name: "other secret", secret: sealOtherSecret, purpose: "custodian/csrf/v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DeriveKey(tt.secret, tt.purpose)
			if same := bytes.Equal(got, base); same != tt.wantSame {
				t.Fatalf("same key = %v, want %v", same, tt.wantSame)
			}
			if bytes.Equal(got, tt.secret[:32]) {
				t.Fatal("derived key equals the secret")
			}
		})
	}
}

// TestSettingSecrets: a secret setting is stored sealed, shown as REDACTED, opens only for
// its tenant and key, and cannot be encoded unsealed.
func TestSettingSecrets(t *testing.T) {
	x, err := NewSettingSecrets([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	s := DefaultSettings()
	if err := s.Set("import.firebase.signer_key", "c2lnbmVy"); err != nil {
		t.Fatal(err)
	}
	if _, err := json.Marshal(s); err == nil {
		t.Fatal("an unsealed secret setting was encoded")
	}
	if v, _ := s.Get("import.firebase.signer_key"); v != "REDACTED" {
		t.Errorf("shown as %q", v)
	}
	for key, v := range s.SecretSettings() {
		if err := x.SealSetting("alpha", key, v); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := json.Marshal(s)
	if err != nil || strings.Contains(string(raw), "c2lnbmVy") {
		t.Fatalf("stored form %s %v", raw, err)
	}
	back, err := DecodeSettings(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := x.Reveal("alpha", "import.firebase.signer_key", back.FirebaseSignerKey); err != nil || got != "c2lnbmVy" {
		t.Errorf("reveal: %q %v", got, err)
	}
	if _, err := x.Reveal("beta", "import.firebase.signer_key", back.FirebaseSignerKey); !errors.Is(err, ErrInvalid) {
		t.Errorf("opened for another tenant: %v", err)
	}
	if _, err := x.Reveal("alpha", "notify.webhook_secret", back.FirebaseSignerKey); !errors.Is(err, ErrInvalid) {
		t.Errorf("opened as another setting: %v", err)
	}
}
