package identity

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/hkdf"
)

// sealPurpose is the DeriveKey purpose of the key that seals private signing keys.
const sealPurpose = "custodian/signing-key-seal/v1"

// MinServerSecretLength is the shortest server secret NewSealer accepts.
const MinServerSecretLength = 32

// DeriveKey derives a 32-byte key for one purpose from the server secret with
// HKDF-SHA256 (no salt, the purpose as info). The same secret and purpose always give
// the same key; different purposes give independent keys, so a leak of one (say the
// CSRF key) tells nothing about another or about the secret. Purposes are versioned
// strings such as "custodian/csrf/v1".
func DeriveKey(serverSecret []byte, purpose string) []byte {
	key := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, serverSecret, nil, []byte(purpose)), key); err != nil {
		// HKDF-SHA256 can produce 255*32 bytes; 32 cannot fail.
		panic("identity: hkdf: " + err.Error())
	}
	return key
}

// Sealer encrypts small secrets (the tenants' private signing keys) for storage with
// AES-256-GCM under a key derived from the server secret. A sealed value is
// nonce (12 bytes) || ciphertext || tag. The additional data binds a sealed value to
// where it is stored, so it cannot be moved to another row.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer derives the sealing key from the server secret, which must be at least
// MinServerSecretLength bytes.
func NewSealer(serverSecret []byte) (*Sealer, error) {
	return NewSealerFor(serverSecret, sealPurpose)
}

// NewSealerFor is NewSealer under the key of another purpose (see DeriveKey), for
// secrets other than signing keys, such as TOTP secrets.
func NewSealerFor(serverSecret []byte, purpose string) (*Sealer, error) {
	if len(serverSecret) < MinServerSecretLength {
		return nil, fmt.Errorf("%w: server secret must be at least %d bytes", ErrInvalid, MinServerSecretLength)
	}
	block, err := aes.NewCipher(DeriveKey(serverSecret, purpose))
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext bound to aad under a fresh random nonce.
func (s *Sealer) Seal(plaintext, aad []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	out := make([]byte, ns, ns+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return s.aead.Seal(out, out, plaintext, aad), nil
}

// errOpen is deliberately vague: a wrong key, wrong aad and tampering look alike.
var errOpen = errors.New("sealed value cannot be opened (tampered, moved, or sealed under another secret)")

// Open decrypts a value made by Seal with the same aad. It fails, wrapping ErrInvalid,
// when the value was tampered with, sealed with other aad, or under another secret.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < ns+s.aead.Overhead() {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, errOpen)
	}
	plain, err := s.aead.Open(nil, sealed[:ns], sealed[ns:], aad)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, errOpen)
	}
	return plain, nil
}

// webhookSecretPurpose is the DeriveKey purpose of the key that seals tenants' webhook
// secrets (notify.webhook_secret).
const webhookSecretPurpose = "custodian/webhook-secret-seal/v1"

// WebhookSecrets seals and opens tenants' webhook signing secrets under their own key:
// the tenant setting and every queued webhook message keep the sealed value, and the
// plaintext exists only while a message is signed.
type WebhookSecrets struct{ s *Sealer }

// NewWebhookSecrets derives the webhook-secret key from the server secret.
func NewWebhookSecrets(serverSecret []byte) (*WebhookSecrets, error) {
	s, err := NewSealerFor(serverSecret, webhookSecretPurpose)
	if err != nil {
		return nil, err
	}
	return &WebhookSecrets{s: s}, nil
}

func webhookAAD(tenant string) []byte { return []byte("webhook-secret|" + tenant) }

// Seal seals a tenant's webhook secret.
func (w *WebhookSecrets) Seal(tenant, plain string) ([]byte, error) {
	return w.s.Seal([]byte(plain), webhookAAD(tenant))
}

// Open opens a tenant's sealed webhook secret.
func (w *WebhookSecrets) Open(tenant string, sealed []byte) (string, error) {
	b, err := w.s.Open(sealed, webhookAAD(tenant))
	if err != nil {
		return "", fmt.Errorf("webhook secret of tenant %q: %w", tenant, err)
	}
	return string(b), nil
}

// SealedOf returns the sealed form of a tenant's secret setting, sealing it now when it
// is still a plaintext (set in memory, or stored by a release before sealing).
func (w *WebhookSecrets) SealedOf(tenant string, s SealedSecret) ([]byte, error) {
	if s.Sealed != nil || s.plain == "" {
		return s.Sealed, nil
	}
	return w.Seal(tenant, s.plain)
}

// SealSetting replaces the plaintext of a secret setting by its sealed form.
func (w *WebhookSecrets) SealSetting(tenant string, s *SealedSecret) error {
	if s.plain == "" {
		return nil
	}
	sealed, err := w.Seal(tenant, s.plain)
	if err != nil {
		return err
	}
	*s = SealedSecret{Sealed: sealed}
	return nil
}

// settingSecretPurpose is the DeriveKey purpose of the key that seals the secret tenant
// settings other than the webhook secret (import.firebase.signer_key).
const settingSecretPurpose = "custodian/setting-secret-seal/v1"

// SettingSecrets seals and opens secret tenant settings (SecretSettings) under their
// own key; a sealed value is bound to its tenant and its setting key, so it cannot be
// moved to another tenant or read as another setting.
type SettingSecrets struct{ s *Sealer }

// NewSettingSecrets derives the setting-secret key from the server secret.
func NewSettingSecrets(serverSecret []byte) (*SettingSecrets, error) {
	s, err := NewSealerFor(serverSecret, settingSecretPurpose)
	if err != nil {
		return nil, err
	}
	return &SettingSecrets{s: s}, nil
}

func settingAAD(tenant, key string) []byte { return []byte("setting|" + key + "|" + tenant) }

// SealSetting replaces the plaintext of a tenant's secret setting by its sealed form.
func (x *SettingSecrets) SealSetting(tenant, key string, s *SealedSecret) error {
	if s.plain == "" {
		return nil
	}
	sealed, err := x.s.Seal([]byte(s.plain), settingAAD(tenant, key))
	if err != nil {
		return fmt.Errorf("seal %s of tenant %q: %w", key, tenant, err)
	}
	*s = SealedSecret{Sealed: sealed}
	return nil
}

// Reveal returns the plaintext of a tenant's secret setting ("" when unset): it opens
// a sealed value, and returns a value not sealed yet as it is.
func (x *SettingSecrets) Reveal(tenant, key string, s SealedSecret) (string, error) {
	if s.Sealed == nil {
		return s.plain, nil
	}
	b, err := x.s.Open(s.Sealed, settingAAD(tenant, key))
	if err != nil {
		return "", fmt.Errorf("%s of tenant %q: %w", key, tenant, err)
	}
	return string(b), nil
}
