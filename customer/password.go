package customer

// Passwords: the policy a new one must meet and the argon2id hashing of the stored ones.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/custodian-id/custodian/identity"
)

// Password policy bounds. The upper bound keeps argon2 work per request bounded.
const (
	MinPasswordLength = 8
	MaxPasswordLength = 128
)

// ValidatePassword checks a new password against the policy.
func ValidatePassword(password, email string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case n < MinPasswordLength:
		return fmt.Errorf("%w: password must have at least %d characters", ErrInvalid, MinPasswordLength)
	case n > MaxPasswordLength:
		return fmt.Errorf("%w: password must have at most %d characters", ErrInvalid, MaxPasswordLength)
	case strings.EqualFold(password, email):
		return fmt.Errorf("%w: password must not be the e-mail address", ErrInvalid)
	}
	return nil
}

//go:embed common_passwords.txt
var commonPasswordsText []byte

// commonPasswords is the embedded list, lower-cased.
var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(commonPasswordsText))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			m[strings.ToLower(line)] = true
		}
	}
	return m
}()

// CheckPassword applies a tenant's password policy to a new password: at least
// password.min_length characters, at most MaxPasswordLength, not the e-mail address,
// not one of the most common passwords.
func CheckPassword(t *identity.Tenant, password, email string) error {
	if err := ValidatePassword(password, email); err != nil {
		return err
	}
	if minLen := t.Settings.PasswordMinLength; minLen > 0 && utf8.RuneCountInString(password) < minLen {
		return fmt.Errorf("%w: password must have at least %d characters", ErrInvalid, minLen)
	}
	if commonPasswords[strings.ToLower(password)] {
		return fmt.Errorf("%w: password is one of the most common passwords", ErrInvalid)
	}
	return nil
}

// passwordField turns a policy failure into a field error.
func passwordField(v *identity.Validator, field string, err error) {
	if err != nil {
		v.Add(field, "invalid", strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
	}
}

// PasswordHasher hashes customer passwords with argon2id and encodes them in the PHC
// string format ($argon2id$v=19$m=…,t=…,p=…$salt$hash), so parameters can be raised
// later without invalidating stored hashes.
type PasswordHasher struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	Rand    io.Reader
}

// DefaultPasswordHasher follows OWASP's argon2id recommendation (19 MiB, 2 passes, 1 lane).
func DefaultPasswordHasher() *PasswordHasher {
	return &PasswordHasher{Memory: 19 * 1024, Time: 2, Threads: 1}
}

const (
	saltLen = 16
	keyLen  = 32
)

// Hash returns the PHC string of a password.
func (h *PasswordHasher) Hash(password string) (string, error) {
	r := h.Rand
	if r == nil {
		r = rand.Reader
	}
	salt := make([]byte, saltLen)
	if _, err := io.ReadFull(r, salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, h.Time, h.Memory, h.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.Memory, h.Time, h.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

var errBadHash = errors.New("malformed password hash")

// Verify reports whether password matches the PHC string, in constant time.
func (h *PasswordHasher) Verify(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 {
		return false, errBadHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
